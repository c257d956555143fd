//! A `kvas layout --format json` file read back, for `kvas check --from FILE`.
//!
//! The file is read into typed structs that refuse unknown fields, so a
//! misspelt or mistyped field is an error naming it (`options.kernel_size:
//! invalid type: string "0x200000", expected u64`), never a value silently
//! read as 0. What the file may say:
//!
//! - `arch`, `mode` and `regions` are required; each region needs `name` (one
//!   the planner gives that target with those options: a misspelt name is
//!   refused, not checked as a stranger), `start` and `end` (`0x` hex strings,
//!   `end` inclusive); `size` and `description` may be left out.
//! - `profile` and `options` (`kasan`, `kernel_size`, `kaslr_offset`, `ram`,
//!   `vmalloc`, `kaslr`, `split`) plan the layout the regions are checked against; missing ones
//!   take their defaults.
//! - Values derived from those (`va_bits`, `page_offset`, a region's `size`)
//!   may be left out; when present they must agree, or the file is refused
//!   with both numbers.
//! - `facts` are recomputed from the regions: they are checked for type only.

use std::path::Path;

use kvas::layout::{plan_unchecked, Kasan, Layout, Options, Profile, Region, RegionList};
use kvas::sizes::SZ_16M;
use kvas::{VirtAddr, VirtRange};
use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::args::target;

/// A `0x`-prefixed hex string, as the JSON contract writes addresses.
#[derive(Clone, Copy, Debug)]
struct Hex(u64);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let digits = s
            .strip_prefix("0x")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not a 0x hex string")))?;
        u64::from_str_radix(digits, 16)
            .map(Hex)
            .map_err(|e| de::Error::custom(format!("{s:?} is not a 64-bit hex number: {e}")))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutFile {
    arch: String,
    mode: String,
    va_bits: Option<u32>,
    page_offset: Option<Hex>,
    regions: Vec<RegionFile>,
    profile: Option<String>,
    options: Option<OptionsFile>,
    #[allow(dead_code)] // Read for its types only: facts are recomputed.
    facts: Option<FactsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFile {
    name: String,
    start: Hex,
    end: Hex,
    size: Option<u64>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsFile {
    kasan: Option<String>,
    kernel_size: Option<u64>,
    kaslr_offset: Option<u64>,
    ram: Option<u64>,
    vmalloc: Option<u64>,
    kaslr: Option<bool>,
    split: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Read for its types only.
struct FactsFile {
    user_bytes: u64,
    lowmem: Option<SpanFile>,
    highmem_bytes: u64,
    vmalloc_bytes: u64,
    kernel_image: Option<SpanFile>,
    modules_window: Option<SpanFile>,
    kaslr_modules_windows: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Read for its types only.
struct SpanFile {
    start: Hex,
    end: Hex,
    size: u64,
}

/// Reads the layout in `text` (the contents of a `kvas layout --format json`
/// file, edited say): the planned layout for its arch, mode and options, with
/// the file's regions in place of the planned ones. Errors name the field
/// (`regions[3].end`, `options.ram`) and the values involved.
pub fn read(text: &str) -> Result<Layout, String> {
    if text.trim_start().starts_with('[') {
        return Err("holds a list: --from reads one layout (`kvas layout --format json` of one mode)".into());
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let file: LayoutFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            format!("{inner}")
        } else {
            format!("{path}: {inner}")
        }
    })?;
    let t = target(&file.arch, &file.mode)?;
    let options = options(&file)?;
    let planned = plan_unchecked(t, &options).map_err(|e| format!("{t}: {e}"))?;
    if let Some(bits) = file.va_bits.filter(|&b| b != planned.va_bits()) {
        return Err(format!("va_bits: the file says {bits}, but {t} has {}", planned.va_bits()));
    }
    if let Some(Hex(po)) = file.page_offset.filter(|&Hex(po)| po != planned.page_offset()) {
        return Err(format!(
            "page_offset: the file says {po:#018x}, but {t} with these options has {:#018x}",
            planned.page_offset()
        ));
    }
    let mut parts = *planned.parts();
    parts.regions = regions(&file.regions, &planned)?;
    Ok(Layout::from_parts(parts))
}

/// The largest layout file read: a layout is a few KiB; a file past this (or
/// a device such as `/dev/zero`) is refused before it can take the memory.
pub const MAX_FILE_BYTES: u64 = SZ_16M;

/// Reads the layout file at `path`; errors start with the path.
pub fn read_path(path: &Path) -> Result<Layout, String> {
    let bytes = crate::input::read_bounded(path, MAX_FILE_BYTES, "a layout file")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| format!("{}: not UTF-8 text (byte {})", path.display(), e.valid_up_to()))?;
    read(text).map_err(|e| format!("{}: {e}", path.display()))
}

fn options(file: &LayoutFile) -> Result<Options, String> {
    let mut options = Options::default();
    let o = file.options.as_ref();
    options.kernel_size = o.and_then(|o| o.kernel_size).unwrap_or(0);
    options.kaslr_offset = o.and_then(|o| o.kaslr_offset).unwrap_or(0);
    options.ram = o.and_then(|o| o.ram);
    options.vmalloc = o.and_then(|o| o.vmalloc);
    options.kaslr = o.and_then(|o| o.kaslr);
    if let Some(s) = o.and_then(|o| o.split.as_ref()) {
        options.split = Some(crate::args::parse_split(s).map_err(|e| format!("options.split: {e}"))?);
    }
    if let Some(k) = o.and_then(|o| o.kasan.as_ref()) {
        options.kasan = Kasan::from_name(k)
            .ok_or_else(|| format!("options.kasan: unknown value {k:?} (expected none, generic, sw-tags)"))?;
    }
    if let Some(p) = &file.profile {
        options.profile = Profile::from_name(p)
            .ok_or_else(|| format!("profile: unknown value {p:?} (expected linux, linux-doc)"))?;
    }
    Ok(options)
}

/// The file's regions. Names and descriptions are leaked to `'static`: the
/// process reads one file and exits.
fn regions(list: &[RegionFile], template: &Layout) -> Result<RegionList, String> {
    let mut out = RegionList::new();
    for (i, r) in list.iter().enumerate() {
        let at = format!("regions[{i}] ({})", r.name);
        let (Hex(start), Hex(end)) = (r.start, r.end);
        if end < start {
            return Err(format!("{at}: end {end:#018x} is below start {start:#018x}"));
        }
        let span = VirtRange::from_last(VirtAddr::new(start), VirtAddr::new(end)).map_err(|_| {
            format!("{at}: [{start:#018x}, {end:#018x}] is the whole 64-bit space, which no region can be")
        })?;
        if let Some(size) = r.size.filter(|&s| s != span.size()) {
            return Err(format!(
                "{at}: size {size:#x} does not match start {start:#018x} and end {end:#018x} ({:#x} bytes): correct or drop it",
                span.size()
            ));
        }
        if template.region(&r.name).is_none() {
            let mut known: Vec<&str> = Vec::new();
            for name in template.regions().iter().map(Region::name) {
                if !known.contains(&name) {
                    known.push(name);
                }
            }
            return Err(format!(
                "regions[{i}]: {:?} is not a region of {} with these options (expected one of {})",
                r.name,
                template.target(),
                known.join(", ")
            ));
        }
        let name: &'static str = Box::leak(r.name.clone().into_boxed_str());
        let desc: &'static str = Box::leak(r.description.clone().unwrap_or_default().into_boxed_str());
        // The alignment is the planner's for the region of that name, else none.
        // Names such as x86's `unused` repeat: the k-th of a name in the file
        // takes the k-th of that name in the plan.
        let k = list[..i].iter().filter(|p| p.name == r.name).count();
        let align = template.regions().iter().filter(|p| p.name() == name).nth(k).map_or(1, Region::align);
        out.push(Region::new(name, span, align, desc)).map_err(|e| format!("{at}: {e}"))?;
    }
    Ok(out)
}

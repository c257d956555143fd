//! `kvas map`: the page tables a kernel builds for a memory map, built in
//! simulated RAM by the same function the kvas kernel calls
//! ([`kvas::kspace::build`]) and counted (table pages, leaves by size).
//!
//! The memory map comes from `--mem BASE:SIZE,...` or a device tree (`--dtb`),
//! with `--reserve BASE:SIZE[:KIND],...` on top (kind `no-map` by default).
//! Frames come from the map's free RAM inside the linear window, as at boot. By
//! default it builds the kernel's final tables ([`KernelSpec::new`]): the image
//! at `--load-addr` (`--kernel-size`; the first `--text-size` bytes RX, the next
//! `--rodata-size` R, the rest RW), the fixmap (window slot, `--finisher`'s
//! page, the DTB window for `--dtb-addr`), the linear map (text and rodata
//! aliases read-only) and the pinned tables for vmalloc and the modules window;
//! `--only linear` builds the linear map alone. `--rules linux` builds what
//! Linux builds instead (image in whole 2 MiB steps, Linux's linear map, a
//! KFENCE pool). `--format built` prints the kernel's `kvas: built ...` lines.
//!
//! A linear map whose tables would not fit the simulator ([`SIM_MAX_TABLES`],
//! [`SIM_MAX_LEAVES`]) is counted instead of built ([`kvas::kspace::count_linear`]),
//! with a note on stderr: no input takes memory proportional to its leaves.

use std::process::ExitCode;

use clap::ValueEnum;
use kvas::arch::riscv::Mode;
use kvas::kspace::{self, ImageSections, KernelImage, KernelSpec, Kfence, Plan, Rules as SpecRules};
use kvas::linear::{BaseChoice, LinearConfig};
use kvas::phys::{DeviceTree, MemoryMap, PhysRange};
use kvas::sim::Ram;
use kvas::{Error, PhysAddr};

use crate::args::{fail, parse_size, Arch};
use crate::map_report;

/// The most linear-map table pages `kvas map` builds in simulated RAM (64 MiB);
/// beyond, it counts them.
pub const SIM_MAX_TABLES: u64 = 1 << 14;
/// The most linear-map leaves `kvas map` builds in simulated RAM; beyond, it counts them.
pub const SIM_MAX_LEAVES: u64 = 1 << 22;

/// Output format of `kvas map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns: bytes, leaves and tables per region, then table pages.
    Table,
    /// One JSON object (the contract in DESIGN.md).
    Json,
    /// The kernel's serial lines, `kvas: built REGION leaves 4K=a ... tables N`.
    Built,
}

/// Which regions to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Only {
    /// The linear map of all RAM alone.
    Linear,
}

/// Whose rules place the linear map and the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Rules {
    /// kvas: base rounded to the largest leaf, every leaf size the mode has; the image W^X by section.
    Kvas,
    /// Linux: base rounded to 2 MiB, best_map_size's largest leaf (2M/1G/512G);
    /// the image in whole 2 MiB steps; a KFENCE pool in 4 KiB pages.
    Linux,
}

/// `kvas map` arguments.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("memory").required(true).args(["mem", "dtb"])))]
pub struct Args {
    /// Architecture: riscv64, riscv32 (the kvas riscv32 kernel, --mode sv32 --split S), x86_64 or
    /// arm64 (the last two: the direct map only).
    #[arg(long, value_enum, default_value = "riscv64")]
    pub arch: Arch,
    /// Paging mode: sv39, sv48 or sv57.
    #[arg(long)]
    pub mode: String,
    /// RAM banks: BASE:SIZE[,BASE:SIZE...] (0x hex, or decimal with a K/M/G/T/P/E unit).
    #[arg(long, value_name = "BASE:SIZE,...")]
    pub mem: Option<String>,
    /// A flattened device tree to take RAM and reservations from.
    #[arg(long, value_name = "FILE")]
    pub dtb: Option<std::path::PathBuf>,
    /// Where the --dtb blob lay in physical memory: its pages are reserved and
    /// the fixmap's DTB window maps it, as the kernel does.
    #[arg(long, value_name = "ADDR", value_parser = parse_size, requires = "dtb", allow_hyphen_values = true)]
    pub dtb_addr: Option<u64>,
    /// The test finisher's physical address: the fixmap's device page maps it
    /// (refused with --only).
    #[arg(long, value_name = "ADDR", value_parser = parse_size, allow_hyphen_values = true)]
    pub finisher: Option<u64>,
    /// Reserved ranges: BASE:SIZE[:no-map|reserved|reusable],... (no-map by default).
    #[arg(long, value_name = "BASE:SIZE,...")]
    pub reserve: Option<String>,
    /// Kernel text (BASE:SIZE): its linear alias is mapped read-only (default: the image's).
    #[arg(long, value_name = "BASE:SIZE")]
    pub kernel_text: Option<String>,
    /// Build only these regions.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// Where the kernel image is loaded [default: 0x80200000] (refused with --only).
    #[arg(long, value_name = "ADDR", value_parser = parse_size, allow_hyphen_values = true)]
    pub load_addr: Option<u64>,
    /// The kernel image's size in bytes [default: 2M] (refused with --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    pub kernel_size: Option<u64>,
    /// Bytes of text at the start of the image, mapped RX [default: 1M] (refused with --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    pub text_size: Option<u64>,
    /// Bytes of rodata right after the text, mapped R, its linear alias R too;
    /// the rest of the image is data and bss, RW [default: 0] (refused with --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    pub rodata_size: Option<u64>,
    /// Where rodata starts in the image (default: right after the text). Linux
    /// keeps its init data between the two (`__init_data_begin` to `__start_rodata`),
    /// mapped RW; the kvas kernel has no gap.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    pub rodata_start: Option<u64>,
    /// The KFENCE pool's physical address, or `off` (default: off with kvas
    /// rules; with linux rules where Linux's top-down memblock allocation puts it).
    #[arg(long, value_name = "ADDR|off")]
    pub kfence: Option<String>,
    /// The image's KASLR offset above KERNEL_LINK_ADDR (a multiple of 2 MiB)
    /// [default: 0] (refused with --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    pub kaslr_offset: Option<u64>,
    /// Whose rules place the linear map (base and largest leaf) and the image.
    #[arg(long, value_enum, default_value = "kvas")]
    pub rules: Rules,
    /// riscv32 only: the kernel's vmsplit= (3g, 2g, 1g, 4g4g) [default: 3g].
    #[arg(long, value_name = "SPLIT", value_parser = crate::args::parse_split)]
    pub split: Option<kvas::layout::Vmsplit>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Builds and prints; 0 ok, 1 the tables could not be built, 2 bad arguments.
pub fn run(a: &Args) -> ExitCode {
    if a.arch != Arch::Riscv64 {
        return crate::map_other::run(a);
    }
    let (mode, mut map, blob_size) = match inputs(a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    print_notices(&map);
    let spec =
        match spec(a, mode, blob_size, &map).and_then(|s| s.prepare(&mut map).map_err(|e| e.to_string())) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
    let (built, base_choice) = match build(&spec, &map) {
        Ok(b) => b,
        Err(e @ (Error::InvalidOption { .. } | Error::Misaligned { .. })) => return fail(e),
        Err(e) => {
            eprintln!("kvas: error: building the tables failed: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(l) = built.linear {
        if let Some(c) = l.capped {
            eprintln!(
                "kvas: warning: physical memory overflows the linear map: {:#x} bytes of RAM in {c} not mapped",
                l.capped_bytes
            );
        }
    }
    match a.format {
        Format::Table => out!("{}", map_report::to_table(&built, base_choice.as_ref())),
        Format::Json => outln!("{}", map_report::to_json(&built, base_choice.as_ref())),
        Format::Built => out!("{}", map_report::to_built_lines(&built)),
    }
    ExitCode::SUCCESS
}

/// Builds `spec` in simulated RAM; counts the linear map instead when its tables
/// would exceed the simulator's bounds. Returns how the linear map's base was chosen too.
fn build(spec: &KernelSpec, map: &MemoryMap) -> Result<(kspace::Built, Option<BaseChoice>), Error> {
    let plan = Plan::new(spec, map)?;
    let mut frames = plan.frames();
    if frames.remaining() == 0 {
        return Err(Error::NoUsableRam { limit: plan.frame_limit() });
    }
    let ram = Ram::new();
    let too_big = match plan.linear() {
        Some((cfg, base)) => {
            let c = kspace::count_linear(map, &cfg, base, spec.mode.geometry())?;
            let leaves: u64 = c.leaves.iter().sum();
            // Counted, not built: the frames the tables would take must still exist.
            if c.tables > frames.remaining() {
                return Err(Error::OutOfFrames {
                    va: cfg.page_offset,
                    needed: c.tables,
                    got: frames.remaining(),
                });
            }
            (c.tables > SIM_MAX_TABLES || leaves > SIM_MAX_LEAVES).then_some((c.tables, leaves))
        }
        None => None,
    };
    let (_, built) = match too_big {
        None => plan.build(&ram, &mut frames)?,
        Some((tables, leaves)) => {
            eprintln!(
                "kvas: note: the linear map needs {tables} table pages and {leaves} leaves: counted, not built in simulated RAM"
            );
            plan.build_counting_linear(&ram, &mut frames)?
        }
    };
    Ok((built, plan.base_choice()))
}

/// The image and fixmap options given, each with its value (`--kernel-size
/// 0xc0000000`): what only a riscv64 build without `--only` uses, refused
/// elsewhere rather than ignored.
pub fn image_options(a: &Args) -> Vec<String> {
    let options = [
        ("--load-addr", a.load_addr),
        ("--kernel-size", a.kernel_size),
        ("--text-size", a.text_size),
        ("--rodata-size", a.rodata_size),
        ("--rodata-start", a.rodata_start),
        ("--kaslr-offset", a.kaslr_offset),
        ("--finisher", a.finisher),
    ];
    options.iter().filter_map(|(name, v)| v.map(|v| format!("{name} {v:#x}"))).collect()
}

/// The `--dtb` blob, read up to Linux's `MAX_FDT_SIZE` (2 MiB): a path may
/// name `/dev/zero`.
pub fn read_dtb(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let what = "a device tree (Linux's MAX_FDT_SIZE)";
    crate::input::read_bounded(path, kspace::MAX_FDT_SIZE, what).map_err(|e| format!("--dtb {e}"))
}

/// Refuses a `--kernel-text` outside RAM: it has no linear alias to protect.
pub fn check_kernel_text(map: &MemoryMap, r: PhysRange) -> Result<(), String> {
    if map.banks().iter().any(|b| b.start_u64() <= r.start_u64() && r.end() <= b.end()) {
        return Ok(());
    }
    Err(format!(
        "--kernel-text {:#x}:{:#x} does not lie inside one RAM bank: it has no linear alias to map read-only",
        r.start_u64(),
        r.size()
    ))
}

/// The mode, the memory map and the device tree blob's size the arguments describe.
pub fn inputs(a: &Args) -> Result<(Mode, MemoryMap, Option<u64>), String> {
    let mode = Mode::from_name(&a.mode)
        .ok_or_else(|| format!("unknown mode '{}' for riscv64 (expected sv39, sv48, sv57)", a.mode))?;
    let (map, blob_size) = memory_map(a)?;
    Ok((mode, map, blob_size))
}

/// The memory map `--mem` or `--dtb` (with `--reserve`) describe, for every
/// architecture, and the device tree blob's size.
pub fn memory_map(a: &Args) -> Result<(MemoryMap, Option<u64>), String> {
    // (clap's `requires` does not hold it: said here, not ignored.)
    if let (Some(pa), None) = (a.dtb_addr, &a.dtb) {
        return Err(format!("--dtb-addr {pa:#x} says where the --dtb blob lay: it needs --dtb"));
    }
    let (mut map, blob_size) = match (&a.mem, &a.dtb) {
        (Some(text), None) => (MemoryMap::from_text(text).map_err(|e| format!("--mem: {e}"))?, None),
        (None, Some(path)) => {
            let blob = read_dtb(path)?;
            let dt =
                DeviceTree::parse(&blob, a.dtb_addr).map_err(|e| format!("--dtb {}: {e}", path.display()))?;
            (dt.map, Some(dt.total_size as u64))
        }
        _ => return Err("give exactly one of --mem and --dtb".into()),
    };
    if let Some(text) = &a.reserve {
        map.reserve_text(text).map_err(|e| format!("--reserve: {e}"))?;
    }
    Ok((map, blob_size))
}

/// Prints the memory map's adjustments (merged, trimmed, dropped banks), before
/// anything can fail.
pub fn print_notices(map: &MemoryMap) {
    for n in map.notices() {
        eprintln!("kvas: warning: {n}");
    }
    if map.dropped_notices() > 0 {
        eprintln!("kvas: warning: {} more memory-map notices not kept", map.dropped_notices());
    }
}

/// `--kernel-text BASE:SIZE`, checked to lie inside one RAM bank of `map`.
pub fn kernel_text(a: &Args, map: &MemoryMap) -> Result<Option<PhysRange>, String> {
    let Some(text) = &a.kernel_text else { return Ok(None) };
    let mut text_range = None;
    kvas::phys::text::parse_list(text, |entry, e| {
        if entry > 1 || e.kind.is_some() {
            return Err(Error::BadMemSpec { entry, reason: "expected one BASE:SIZE" });
        }
        text_range = Some(PhysRange::new(e.base, e.size)?);
        Ok(())
    })
    .map_err(|e| format!("--kernel-text: {e}"))?;
    if let Some(r) = text_range {
        check_kernel_text(map, r)?;
    }
    Ok(text_range)
}

/// The address space the arguments describe.
fn spec(a: &Args, mode: Mode, blob_size: Option<u64>, map: &MemoryMap) -> Result<KernelSpec, String> {
    let rules = match a.rules {
        Rules::Kvas => SpecRules::Kvas,
        Rules::Linux => SpecRules::Linux,
    };
    let mut spec = match a.only {
        Some(Only::Linear) => {
            let given = image_options(a);
            if !given.is_empty() {
                return Err(format!(
                    "--only linear builds no image or fixmap, so it takes no {}",
                    given.join(", ")
                ));
            }
            let cfg = match rules {
                SpecRules::Kvas => LinearConfig::riscv(mode),
                SpecRules::Linux => LinearConfig::riscv_linux(mode),
            };
            KernelSpec::linear_only(mode, rules, cfg).map_err(|e| e.to_string())?
        }
        None => {
            let load_addr = a.load_addr.unwrap_or(0x8020_0000);
            let kernel_size = a.kernel_size.unwrap_or(2 << 20);
            let text_size = a.text_size.unwrap_or(1 << 20);
            let rodata_size = a.rodata_size.unwrap_or(0);
            let kaslr_offset = a.kaslr_offset.unwrap_or(0);
            let load = PhysAddr::new(load_addr).map_err(|e| format!("--load-addr: {e}"))?;
            let rodata_start = a.rodata_start.unwrap_or(text_size);
            if rodata_start < text_size {
                return Err(format!(
                    "--rodata-start {rodata_start:#x} lies inside the text (--text-size {text_size:#x})"
                ));
            }
            let end = rodata_start.checked_add(rodata_size).filter(|&e| e <= kernel_size);
            let Some(rodata_end) = end else {
                return Err(format!(
                    "--text-size {text_size:#x} (or --rodata-start {rodata_start:#x}) plus --rodata-size {rodata_size:#x} exceed --kernel-size {kernel_size:#x}"
                ));
            };
            let sections = ImageSections {
                rodata_start,
                rodata_end,
                data_start: rodata_end,
                ..ImageSections::contiguous(text_size, 0, kernel_size)
            };
            let image = KernelImage { load, sections };
            let spec = KernelSpec::new(mode, rules, image)
                .map_err(|e| format!("--kernel-size {kernel_size:#x} (--load-addr {load_addr:#x}): {e}"))?;
            let mut spec = spec.with_kaslr_offset(kaslr_offset).map_err(|e| {
                format!("--kaslr-offset {kaslr_offset:#x} with --kernel-size {kernel_size:#x}: {e}")
            })?;
            if let Some(f) = a.finisher {
                spec.fixmap.device = Some(PhysAddr::new(f).map_err(|e| format!("--finisher: {e}"))?);
            }
            if let (Some(pa), Some(size)) = (a.dtb_addr, blob_size) {
                let dtb = PhysRange::new(pa, size).map_err(|e| format!("--dtb-addr: {e}"))?;
                // The blob and the image cannot share memory: one was loaded over the other.
                let image = image.footprint(SpecRules::Kvas).map_err(|e| e.to_string())?;
                if dtb.overlaps(image) {
                    return Err(format!(
                        "--dtb-addr {pa:#x}: the device tree [{pa:#x}, {:#x}) overlaps the kernel image [{:#x}, {:#x}) (--load-addr, --kernel-size)",
                        dtb.end(),
                        image.start_u64(),
                        image.end()
                    ));
                }
                spec.fixmap.dtb = Some(dtb);
            }
            spec
        }
    };
    if let Some(text) = &a.kfence {
        spec.kfence = if text == "off" {
            Kfence::Off
        } else {
            let pa = parse_size(text).map_err(|e| format!("--kfence: {e}"))?;
            Kfence::At(PhysRange::new(pa, kspace::KFENCE_POOL_SIZE).map_err(|e| format!("--kfence: {e}"))?)
        };
    }
    if let Some(text_range) = kernel_text(a, map)? {
        if let Some(cfg) = spec.linear.as_mut() {
            cfg.kernel_text = Some(text_range);
        }
    }
    Ok(spec)
}

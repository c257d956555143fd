//! The JSON contract: `{arch, mode, va_bits, page_offset, regions: [...]}` plus
//! `profile`, `options` and `facts`; and reading regions back for `kvas check --from`.

use kvas::layout::{Layout, Region, RegionList, Span};
use serde_json::{json, Map, Value};

fn hex(a: u64) -> String {
    format!("0x{a:016x}")
}

fn span(s: Option<Span>) -> Value {
    match s {
        Some(s) => json!({ "start": hex(s.start()), "end": hex(s.last()), "size": s.size() }),
        None => Value::Null,
    }
}

/// The layout as the contract's JSON object.
pub fn to_json(l: &Layout) -> Value {
    let regions: Vec<Value> = l
        .regions()
        .iter()
        .map(|r| {
            json!({
                "name": r.name(),
                "start": hex(r.start()),
                "end": hex(r.last()),
                "size": r.size(),
                "description": r.description(),
            })
        })
        .collect();
    let o = l.options();
    json!({
        "arch": l.target().arch_name(),
        "mode": l.target().mode_name(),
        "va_bits": l.va_bits(),
        "page_offset": hex(l.page_offset()),
        "regions": regions,
        "profile": o.profile.name(),
        "options": {
            "kasan": o.kasan.name(),
            "kernel_size": o.kernel_size,
            "kaslr_offset": o.kaslr_offset,
            "ram": o.ram,
            "vmalloc": o.vmalloc,
            "kaslr": l.parts().kaslr,
            "split": o.split.map(|s| s.name()),
        },
        "facts": {
            "user_bytes": l.user_bytes(),
            "lowmem": span(l.lowmem()),
            "highmem_bytes": l.highmem(),
            "vmalloc_bytes": l.vmalloc_bytes(),
            "kernel_image": span(l.image()),
            "modules_window": span(l.modules_window()),
            "kaslr_modules_windows": kvas::layout::kaslr::modules_windows(l).map(|w| json!({
                "max_offset": w.max_offset,
                "lowest": span(Some(w.lowest)),
                "highest": span(Some(w.highest)),
            })),
        },
    })
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a Value, String> {
    obj.get(key).ok_or_else(|| format!("{at}: missing \"{key}\""))
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, String> {
    field(obj, key, at)?.as_str().ok_or_else(|| format!("{at}: \"{key}\" is not a string"))
}

fn hex_field(obj: &Map<String, Value>, key: &str, at: &str) -> Result<u64, String> {
    let s = str_field(obj, key, at)?;
    let digits =
        s.strip_prefix("0x").ok_or_else(|| format!("{at}: \"{key}\" {s:?} does not start with 0x"))?;
    u64::from_str_radix(digits, 16).map_err(|e| format!("{at}: \"{key}\" {s:?}: {e}"))
}

/// The regions of a contract JSON object, for `kvas check --from`. Names and
/// descriptions are leaked to `'static`: the process reads one file and exits.
pub fn regions_from(value: &Value, template: &Layout) -> Result<RegionList, String> {
    let list = value.get("regions").and_then(Value::as_array).ok_or("missing \"regions\" array")?;
    let mut out = RegionList::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("regions[{i}]");
        let obj = item.as_object().ok_or_else(|| format!("{at}: not an object"))?;
        let name: &'static str = Box::leak(str_field(obj, "name", &at)?.to_owned().into_boxed_str());
        let desc = obj.get("description").and_then(Value::as_str).unwrap_or("");
        let desc: &'static str = Box::leak(desc.to_owned().into_boxed_str());
        let (start, end) = (hex_field(obj, "start", &at)?, hex_field(obj, "end", &at)?);
        if end < start {
            return Err(format!("{at} ({name}): \"end\" {end:#x} lies below \"start\" {start:#x}"));
        }
        if (start, end) == (0, u64::MAX) {
            return Err(format!("{at} ({name}): a region cannot span the whole 64-bit space"));
        }
        let s = Span::new(start, end).map_err(|e| format!("{at} ({name}): {e}"))?;
        // The alignment is the planner's for a region of that name, else none.
        let align = template.region(name).map_or(1, Region::align);
        out.push(Region::new(name, s, align, desc)).map_err(|e| format!("{at}: {e}"))?;
    }
    Ok(out)
}

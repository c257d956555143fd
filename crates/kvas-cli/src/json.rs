//! The JSON contract: `{arch, mode, va_bits, page_offset, regions: [...]}` plus
//! `profile`, `options` and `facts` (read back by [`crate::layout_file`]).

use kvas::layout::Layout;
use kvas::VirtRange;
use serde_json::{json, Value};

fn hex(a: u64) -> String {
    format!("0x{a:016x}")
}

fn span(s: Option<VirtRange>) -> Value {
    match s {
        Some(s) => {
            json!({ "start": hex(s.start().as_u64()), "end": hex(s.last().as_u64()), "size": s.size() })
        }
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

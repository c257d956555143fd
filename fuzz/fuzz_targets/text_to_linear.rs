//! Arbitrary text → `BASE:SIZE,...` memory map (+ reservations) → linear map.
//! Any answer is fine; a panic is a bug.
#![no_main]

use kvas::arch::riscv::Mode;
use kvas::kspace::{self, KernelSpec, Plan, Rules};
use kvas::linear::LinearConfig;
use kvas::phys::MemoryMap;
use kvas::sim::Ram;
use libfuzzer_sys::fuzz_target;

/// Builds the linear map alone in simulated RAM, as `kvas map --only linear` does,
/// and counts it without building (which must never be slow).
fn build(mode: Mode, map: &kvas::phys::MemoryMap, cfg: LinearConfig) -> Option<kspace::Built> {
    let spec = KernelSpec::linear_only(mode, Rules::Kvas, cfg).ok()?;
    if let Ok(plan) = Plan::new(&spec, map) {
        if let Some((cfg, base)) = plan.linear() {
            let _ = kspace::count_linear(map, &cfg, base, mode.geometry());
        }
    }
    let ram = Ram::new();
    let built = kspace::build(&spec, map, &ram).ok()?.built;
    Some(built)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else { return };
    let (mem, reserve) = text.split_once(';').unwrap_or((text, ""));
    let Ok(mut map) = MemoryMap::from_text(mem) else { return };
    if !reserve.is_empty() && map.reserve_text(reserve).is_err() {
        return;
    }
    // Bounded as in dtb_to_linear: huge maps are slow, not wrong.
    if map.ram_bytes() > 1 << 50 {
        return;
    }
    for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
        let _ = build(mode, &map, LinearConfig::riscv(mode));
    }
});

//! Arbitrary text → `BASE:SIZE,...` memory map (+ reservations) → linear map.
//! Any answer is fine; a panic is a bug.
#![no_main]

use kvas::arch::riscv::Mode;
use kvas::linear::report::MapReport;
use kvas::linear::LinearConfig;
use kvas::phys::MemoryMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else { return };
    let (mem, reserve) = text.split_once(';').unwrap_or((text, ""));
    let Ok(mut map) = MemoryMap::from_text(mem) else { return };
    if !reserve.is_empty() && map.reserve_text(reserve).is_err() {
        return;
    }
    for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
        let _ = MapReport::build(mode, &map, &LinearConfig::riscv(mode));
    }
});

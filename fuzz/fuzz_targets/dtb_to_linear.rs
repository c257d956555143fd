//! Arbitrary bytes → device tree → memory map → linear map in every mode.
//! Any answer is fine (most inputs are refused with an error); a panic is a bug.
//!
//! Linux's rules are only tried on up to 256 GiB of RAM: with a 2 MiB base they
//! legitimately need one 2 MiB leaf per 2 MiB (32 Mi leaves for the 64 TiB Sv48
//! window), which is slow, not wrong. kvas's rules bound the leaves by the
//! number of banks and reservations, so they run on everything.
#![no_main]

use kvas::arch::riscv::Mode;
use kvas::linear::report::MapReport;
use kvas::linear::LinearConfig;
use kvas::phys::DeviceTree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dt) = DeviceTree::parse(data, Some(0x8220_0000)) else { return };
    for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
        let linux_ok = dt.map.ram_bytes() <= 256 << 30;
        let configs = [Some(LinearConfig::riscv(mode)), linux_ok.then(|| LinearConfig::riscv_linux(mode))];
        for cfg in configs.into_iter().flatten() {
            if let Ok(report) = MapReport::build(mode, &dt.map, &cfg) {
                let _ = report.to_json();
            }
        }
    }
});

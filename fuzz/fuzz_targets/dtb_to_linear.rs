//! Arbitrary bytes → device tree → memory map → linear map in every mode.
//! Any answer is fine (most inputs are refused with an error); a panic is a bug.
#![no_main]

use kvas::arch::riscv::Mode;
use kvas::linear::report::MapReport;
use kvas::linear::LinearConfig;
use kvas::phys::DeviceTree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dt) = DeviceTree::parse(data, Some(0x8220_0000)) else { return };
    for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
        for cfg in [LinearConfig::riscv(mode), LinearConfig::riscv_linux(mode)] {
            if let Ok(report) = MapReport::build(mode, &dt.map, &cfg) {
                let _ = report.to_json();
            }
        }
    }
});

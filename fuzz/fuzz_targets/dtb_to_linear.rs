//! Arbitrary bytes → device tree → memory map → linear map in every mode.
//! Any answer is fine (most inputs are refused with an error); a panic is a bug.
//!
//! Building is bounded to keep the fuzzer fast, not to hide anything: Linux's
//! rules run on up to 256 GiB of RAM (with a 2 MiB base they need one leaf per
//! 2 MiB: 32 Mi leaves for the 64 TiB Sv48 window), kvas's on up to 1 PiB (a
//! 32 PiB Sv57 map can need 32 Mi gigapages when a larger base alignment would
//! cap more RAM than those tables cost). Both are slow inputs, not wrong ones;
//! parsing always runs on everything.
#![no_main]

use kvas::arch::riscv::Mode;
use kvas::kspace::{self, KernelSpec, Plan, Rules};
use kvas::linear::LinearConfig;
use kvas::phys::DeviceTree;
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
    let Ok(dt) = DeviceTree::parse(data, Some(0x8220_0000)) else { return };
    for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
        let ram = dt.map.ram_bytes();
        let configs = [
            (ram <= 1 << 50).then(|| LinearConfig::riscv(mode)),
            (ram <= 256 << 30).then(|| LinearConfig::riscv_linux(mode)),
        ];
        for cfg in configs.into_iter().flatten() {
            if let Some(built) = build(mode, &dt.map, cfg) {
                let _ = built.lines().map(|l| l.to_string()).count();
            }
        }
    }
});

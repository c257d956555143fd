//! What hot paths cost, in instructions retired (`instret`, exact under QEMU's `-icount`):
//! one line each, `kvas: cost NAME N instructions`, printed before the self-tests. `xtask
//! reloc-cost` compares them between the relocatable kernel and the static one
//! (docs/KERNEL.md, "The price of relocation").

use crate::csr::read_instret;
use crate::kprintln;
use crate::mm::KernelSpace;
use crate::module::loader::{load, unload, Placement, HELLO};

/// Runs `f` and returns what it returned and the instructions it retired.
fn measure<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = read_instret();
    let r = f();
    (r, read_instret().wrapping_sub(before))
}

/// Measures and prints each hot path (the best of three runs, so that the first run's
/// table allocations do not count).
pub fn print(space: &mut KernelSpace) {
    let mut best = [u64::MAX; 4];
    for _ in 0..3 {
        let (area, alloc) = measure(|| space.vmalloc(4 * 4096));
        let Ok(area) = area else {
            kprintln!("kvas: cost: vmalloc failed");
            return;
        };
        let (freed, free) = measure(|| space.vfree(area));
        let (loaded, ld) = measure(|| load(space, &HELLO.0, Placement::ModulesWindow, 5));
        let Ok((m, _)) = loaded else {
            kprintln!("kvas: cost: module load failed");
            return;
        };
        let (unloaded, unld) = measure(|| unload(space, m));
        if freed.is_err() || unloaded.is_err() {
            kprintln!("kvas: cost: vfree or module unload failed");
            return;
        }
        for (b, v) in best.iter_mut().zip([alloc, free, ld, unld]) {
            *b = (*b).min(v);
        }
    }
    for (name, n) in ["vmalloc-16k", "vfree-16k", "module-load", "module-unload"].iter().zip(best) {
        kprintln!("kvas: cost {name} {n} instructions");
    }
}

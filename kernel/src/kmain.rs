//! The virtual kernel: runs at the link address with the early tables on, reports per the
//! serial contract (shared/DESIGN.md), runs the self-tests and powers off (or holds).

use crate::early::{self, FINISHER_VA};
use crate::{kprintln, power, selftest};

/// Entered from `kvas_enter_virtual` on the boot stack's virtual address.
pub extern "C" fn kmain() -> ! {
    crate::trap::init();
    let e = early::get();
    power::set_finisher(e.info.finisher.map_or(0, |pa| FINISHER_VA + (pa & 0xfff)));
    kprintln!(
        "kvas: image {:#x} loaded at {:#x} size {:#x}",
        crate::boot::KERNEL_LINK_ADDR,
        e.load_pa,
        e.sections.end
    );
    for (mode, back) in e.probe.rejected.iter().flatten() {
        kprintln!("kvas: probe: {mode} rejected (satp read back {back:#x})");
    }
    kprintln!("kvas: paging mode {}", e.mode());
    for bank in e.info.banks() {
        kprintln!("kvas: ram {:#x} size {:#x}", bank.base, bank.size);
    }
    for (r, kind) in e.info.reserved() {
        kprintln!("kvas: reserved {:#x} size {:#x} {}", r.base, r.size, kind.name());
    }
    // The layout dump goes here; the boot cost is counted up to it.
    let instructions = crate::csr::read_instret().wrapping_sub(e.instret_at_entry);
    kprintln!("kvas: boot instructions {instructions} (instret from entry to this report)");
    let (passed, failed) = selftest::run_all(e);
    kprintln!("{passed} passed, {failed} failed");
    if e.info.cmdline.hold {
        kprintln!("kvas: holding");
        power::halt();
    }
    power::shutdown(failed == 0)
}

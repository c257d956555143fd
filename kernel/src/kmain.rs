//! The virtual kernel: runs at the link address with the early tables on, reports per the
//! serial contract (shared/DESIGN.md), runs the self-tests and powers off (or holds).

use kvas::layout::{plan, Options, Target, VmLayoutDump};

use crate::early::{self, Early};
use crate::{kprint, kprintln, power, selftest};

/// Linux's `high_memory - PAGE_OFFSET`: from the first bank's 2 MiB boundary
/// (`phys_ram_base`) to the end of the last, capped to the linear map as Linux trims it.
pub fn lowmem_bytes(e: &Early) -> u64 {
    let banks = e.info.banks();
    let base = banks.iter().map(|b| b.base).min().unwrap_or(0) & !((2 << 20) - 1);
    let end = banks.iter().map(|b| b.base + b.size).max().unwrap_or(base);
    ((end - base) & !0xfff).min(e.layout.linear().size())
}

/// Entered from `kvas_enter_virtual` on the boot stack's virtual address.
pub extern "C" fn kmain() -> ! {
    crate::trap::init();
    // SAFETY: the only mutable use of the hand-off, before anything else reads it.
    if let Err(err) = unsafe { early::get_mut() }.drop_trampoline() {
        power::fatal(format_args!("removing the boot trampoline: {err}"));
    }
    let e = early::get();
    power::set_finisher(e.finisher_va().unwrap_or(0));
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
    // The boot cost is counted up to the layout dump.
    let instructions = crate::csr::read_instret().wrapping_sub(e.instret_at_entry);
    let options = Options { kernel_size: e.sections.end, ram: Some(lowmem_bytes(e)), ..Options::default() };
    match plan(Target::Riscv64(e.mode()), &options) {
        Ok(layout) => kprint!("{}", VmLayoutDump(&layout)),
        Err(err) => kprintln!("kvas: no layout: {err}"),
    }
    kprintln!("kvas: boot instructions {instructions} (instret from entry to the layout dump)");
    let (passed, failed) = selftest::run_all(e);
    kprintln!("{passed} passed, {failed} failed");
    if e.info.cmdline.hold {
        kprintln!("kvas: holding");
        power::halt();
    }
    power::shutdown(failed == 0)
}

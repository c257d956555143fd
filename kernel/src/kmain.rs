//! The virtual kernel: runs at the link address with the early tables on, builds and
//! switches to the final tables (meminit.rs), reports per the serial contract
//! (shared/DESIGN.md), runs the self-tests and powers off (or holds).

use kvas::layout::{plan, Options, Target, VmLayoutDump};

use crate::early;
use crate::{kprint, kprintln, power, selftest};

/// Entered from `kvas_enter_virtual` on the boot stack's virtual address.
pub extern "C" fn kmain() -> ! {
    crate::trap::init();
    // SAFETY: the only mutable use of the hand-off, before anything else reads it.
    let e = unsafe { early::get_mut() };
    if let Err(err) = crate::meminit::init(e) {
        power::fatal(format_args!("{err}"));
    }
    let e = early::get();
    let pinned = match crate::vmalloc::init(e) {
        Ok(n) => n,
        Err(err) => power::fatal(format_args!("vmalloc windows: {err}")),
    };
    let mem = crate::meminit::memory();
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
    for bank in mem.map.banks() {
        kprintln!("kvas: ram {:#x} size {:#x}", bank.start_u64(), bank.size());
    }
    for r in mem.map.reservations() {
        kprintln!("kvas: reserved {:#x} size {:#x} {}", r.range.start_u64(), r.range.size(), r.kind.name());
    }
    // The boot cost is counted up to the layout dump.
    let instructions = crate::csr::read_instret().wrapping_sub(e.instret_at_entry);
    let options =
        Options { kernel_size: e.sections.end, ram: Some(mem.lowmem_bytes()), ..Options::default() };
    match plan(Target::Riscv64(e.mode()), &options) {
        Ok(layout) => kprint!("{}", VmLayoutDump(&layout)),
        Err(err) => kprintln!("kvas: no layout: {err}"),
    }
    kprintln!("kvas: boot instructions {instructions} (instret from entry to the layout dump)");
    kprintln!("kvas: vmalloc and modules: {pinned} tables below the root preallocated, pinned");
    let (passed, failed) = selftest::run_all(e);
    kprintln!("{passed} passed, {failed} failed");
    if e.info.cmdline.hold {
        kprintln!("kvas: holding");
        power::halt();
    }
    power::shutdown(failed == 0)
}

//! The user tests of separate address spaces (4G/4G's mechanism, `kvas.separate`, every
//! riscv32 `vmsplit=4g4g`) and of the split costs: which root the kernel runs on after a
//! trap, that its plain loads never reach a process's page, that 4G/4G's linear map is not
//! global, and `ut split-cost`.

use core::fmt::Write;

use kvas::VirtAddr;

use super::super::arch::{self, KernelSpace};
use super::super::entry;
use super::super::process::{Exit, User};
use super::super::space::AddressSpace;
use super::{ended, spawn_ut, Reason};
use crate::trap::probe_load;

/// `ut split-cost` with a `ut yielder` to switch to (docs/PERFORMANCE.md, `xtask split-cost`):
/// both must exit 0.
pub fn split_cost(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let other = spawn_ut(u, "yielder")?;
    let pid = spawn_ut(u, "split-cost")?;
    u.run_all();
    for (pid, test) in [(other, "yielder"), (pid, "split-cost")] {
        match ended(u, pid) {
            Some(Exit::Status(0)) => {}
            Some(Exit::Status(s)) => fail!("ut {test} exited with status {s}"),
            Some(Exit::Killed(cause, addr)) => fail!("ut {test} was killed: {cause} at {addr:#x}"),
            None => fail!("ut {test} did not end"),
        }
    }
    Ok(())
}

/// Whether a plain kernel load (no SUM) at user address `addr` reads the process's page:
/// two different bytes are copied there in turn (`copy_to_user`, pinned when separate) and
/// read back with a probing load after each. A fault, or anything else read, is no.
pub fn kernel_load_reaches_user(space: &AddressSpace, addr: u64) -> bool {
    [0x5au8, 0xa5]
        .iter()
        .all(|&mark| space.copy_to_user(addr, &[mark]).is_ok() && probe_load(addr).is_ok_and(|b| b == mark))
}

/// Which root the kernel runs on after a trap from U-mode: the process's (shared spaces), or
/// its own (`kvas.separate`: the trampoline switched to the kernel's satp on the way in, and
/// then the process's pages are not mapped for the kernel at all).
pub fn trap_satp(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let pid = spawn_ut(u, "none")?;
    let separate = u.separate;
    let kernel_satp = u.kernel_satp;
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    p.space.activate(&mut u.asids);
    (p.regs.satp_user, p.regs.satp_kernel) = p.space.trampoline_satps();
    p.regs.satp_flush = u64::from(p.space.trampoline_flush());
    let flushes_each_switch = p.regs.satp_flush != 0;
    // SAFETY: the space was just activated (satp, or the trampoline's pair) and sepc is the
    // program's entry point.
    unsafe { entry::run(&mut p.regs) };
    let after = arch::read_satp();
    let scause = p.regs.scause;
    let stack = kernel_load_reaches_user(&p.space, p.space.areas.layout.stack_top - 16);
    let own = p.space.trampoline_satps().0;
    // The process's root through the linear map: the kernel's view of RAM.
    let linear_va = p.space.table().root().as_u64().wrapping_add(u.offset);
    let linear_in_user = p.space.table().translate(VirtAddr::new(linear_va)).is_ok();
    p.exit = Some(Exit::Status(0));
    u.back_to_kernel();
    if scause != 8 {
        fail!("the first trap was scause {scause:#x}, not a system call");
    }
    match (separate, after == kernel_satp) {
        (true, false) => fail!("satp {after:#x} after the trap, not the kernel's {kernel_satp:#x}"),
        (false, true) => fail!("satp is the kernel's after a trap, not the process's"),
        _ => {}
    }
    // Without ASIDs the kernel and the process share ASID 0: each satp write must flush (QEMU
    // flushes anyway, so only the flag can be checked here).
    if flushes_each_switch != (separate && u.asids.bits() == 0) {
        fail!("satp_flush {flushes_each_switch} with separate {separate}, {} asid bits", u.asids.bits());
    }
    if separate && (own == 0 || own == kernel_satp) {
        fail!("the process's satp {own:#x} is not its own");
    }
    if separate && stack {
        fail!("the kernel's plain load reaches the process's stack");
    }
    if separate == linear_in_user {
        fail!("the process's root maps the linear map at {linear_va:#x}: {linear_in_user}");
    }
    Ok(())
}

/// A real process's root (made by `AddressSpace::new`) holds the kernel root's entries for
/// the shared top 256 MiB (`SHARED_ROOT_ENTRIES`: image, vmalloc, pkmap, fixmap) and, in
/// shared spaces, for the whole kernel half from TASK_SIZE ([`trap_satp`] checks that a
/// separate one maps nothing of the linear map).
#[cfg(target_arch = "riscv32")]
pub fn shared_top(u: &mut User, space: &mut KernelSpace) -> Result<(), Reason> {
    use kvas::kspace::sv32::SHARED_ROOT_ENTRIES;
    let pid = spawn_ut(u, "none")?;
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    p.exit = Some(Exit::Status(0));
    let lin = space.linear();
    let roots = (lin.va_of(space.root()), lin.va_of(p.space.table().root()));
    let (Some(kernel), Some(user)) = roots else { fail!("a root outside the linear map: {roots:?}") };
    let entry = |root: VirtAddr, i: usize| {
        // SAFETY: both roots are lowmem frames of 1024 entries read through the linear map;
        // the process is not running and its root's kernel entries change only when made.
        unsafe { ((root.as_u64() as usize as *const u32).add(i)).read_volatile() }
    };
    let shared = match u.separate {
        true => SHARED_ROOT_ENTRIES,
        false => (u.task_size >> 22) as usize..1024,
    };
    if shared.start > SHARED_ROOT_ENTRIES.start {
        fail!("TASK_SIZE {:#x} is inside the shared top", u.task_size);
    }
    if let Some(i) = shared.clone().find(|&i| entry(kernel, i) != entry(user, i)) {
        fail!("root entry {i}: kernel {:#x}, process {:#x}", entry(kernel, i), entry(user, i));
    }
    if !shared.clone().any(|i| entry(kernel, i) & 1 != 0) {
        fail!("the kernel's root has no valid entry in {shared:?}");
    }
    Ok(())
}

/// Under `vmsplit=4g4g` (and with `kvas.separate` under any split) no leaf of the kernel's
/// linear map is global: it overlaps the user half, or the process roots leave it out
/// (kvas::kspace::sv32 builds it so, `Sv32KernelSpec::linear_global`); under the shared
/// splits without `kvas.separate` there is nothing to check.
#[cfg(target_arch = "riscv32")]
pub fn linear_not_global(u: &mut User, space: &mut KernelSpace) -> Result<(), Reason> {
    use kvas::paging::Attrs;
    if space.split() != kvas::layout::Vmsplit::G4G4 && !u.separate {
        return Ok(());
    }
    let lin = space.linear();
    let (start, end) = (lin.page_offset.as_u64(), lin.page_offset.as_u64() + lin.size);
    let (mut va, mut leaves) = (start, 0u64);
    while va < end {
        match space.tables().translate(VirtAddr::new(va)) {
            Ok(t) if t.attrs.contains(Attrs::GLOBAL) => fail!("linear leaf at {va:#x} is global"),
            Ok(t) => {
                leaves += 1;
                va = (va & !(t.size.bytes() - 1)) + t.size.bytes();
            }
            Err(_) => va += kvas::sizes::PAGE_SIZE,
        }
    }
    if leaves == 0 {
        fail!("no linear-map leaf at all in {start:#x}-{end:#x}");
    }
    Ok(())
}

//! Reaching user memory from the kernel: [`copy_from_user`] and [`copy_to_user`] check the
//! range against TASK_SIZE (so the kernel never touches its own half on a user's behalf), set
//! `sstatus.SUM` for the copy only, and turn a fault into an error through an exception-fixup
//! table ([`EXTABLE`]): the trap handler (trap.rs) asks [`fixup`] for the faulting
//! instruction and resumes at its fixup, which clears SUM and returns the fault. The caller
//! (the system calls) may then map the page on demand and copy again, or return `-EFAULT`.

use core::arch::global_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

global_asm!(
    r#"
    .section .text
    .balign 4
    .globl kvas_copy_user
    # kvas_copy_user(dst: a0, src: a1, len: a2) -> 0, or 1 if an access faulted.
kvas_copy_user:
    li      t1, (1 << 18)
    csrs    sstatus, t1
    beqz    a2, 2f
1:
    .globl kvas_copy_user_load
kvas_copy_user_load:
    lbu     t0, 0(a1)
    .globl kvas_copy_user_store
kvas_copy_user_store:
    sb      t0, 0(a0)
    addi    a0, a0, 1
    addi    a1, a1, 1
    addi    a2, a2, -1
    bnez    a2, 1b
2:
    csrc    sstatus, t1
    li      a0, 0
    ret
    .globl kvas_copy_user_fixup
kvas_copy_user_fixup:
    li      t1, (1 << 18)
    csrc    sstatus, t1
    li      a0, 1
    ret
    "#
);

extern "C" {
    fn kvas_copy_user(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn kvas_copy_user_load();
    fn kvas_copy_user_store();
    fn kvas_copy_user_fixup();
}

/// The exception-fixup table: the instructions that may fault on a user address, and where
/// the trap handler resumes each.
static EXTABLE: [(unsafe extern "C" fn(), unsafe extern "C" fn()); 2] =
    [(kvas_copy_user_load, kvas_copy_user_fixup), (kvas_copy_user_store, kvas_copy_user_fixup)];

/// The last fault a copy took: `scause`, `stval`.
static LAST: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];

/// Called by the trap handler for a kernel-mode trap at `sepc`: the fixup to resume at, if
/// `sepc` is in the table (and then the fault is recorded for the copy's caller).
pub fn fixup(sepc: usize, scause: usize, stval: usize) -> Option<usize> {
    let addr = |f: unsafe extern "C" fn()| f as usize;
    let (_, fix) = EXTABLE.iter().find(|(insn, _)| addr(*insn) == sepc)?;
    LAST[0].store(scause, Ordering::Relaxed);
    LAST[1].store(stval, Ordering::Relaxed);
    Some(addr(*fix))
}

/// A copy that faulted: the address and whether it was the store (the user side of a
/// `copy_to_user`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyFault {
    /// `stval`.
    pub addr: u64,
    /// `scause` (13 load, 15 store page fault).
    pub scause: u64,
}

/// Whether `[addr, addr + len)` lies in `[0, task_size)`.
pub fn in_user_half(addr: u64, len: usize, task_size: u64) -> bool {
    addr.checked_add(len as u64).is_some_and(|end| end <= task_size)
}

/// Copies `dst.len()` bytes from user address `src` (already range-checked).
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), CopyFault> {
    // SAFETY: `dst` is valid for its length; `src` lies in the user half (the caller checked
    // it), so a bad pointer faults into the fixup rather than reaching kernel memory.
    copied(unsafe { kvas_copy_user(dst.as_mut_ptr(), src as usize as *const u8, dst.len()) })
}

/// Copies `src` to user address `dst` (already range-checked).
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), CopyFault> {
    // SAFETY: as above, with the roles swapped.
    copied(unsafe { kvas_copy_user(dst as usize as *mut u8, src.as_ptr(), src.len()) })
}

fn copied(r: usize) -> Result<(), CopyFault> {
    if r == 0 {
        return Ok(());
    }
    Err(CopyFault {
        scause: LAST[0].load(Ordering::Relaxed) as u64,
        addr: LAST[1].load(Ordering::Relaxed) as u64,
    })
}

/// Whether `sstatus.SUM` is set now (it must never be outside a copy).
pub fn sum_is_set() -> bool {
    let s: usize;
    // SAFETY: reading sstatus has no side effect.
    unsafe { core::arch::asm!("csrr {}, sstatus", out(reg) s) };
    s & (1 << 18) != 0
}

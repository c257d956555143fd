//! The few supervisor CSRs and TLB operations the kernel uses.

use core::arch::asm;

/// Reads `satp`.
pub fn read_satp() -> u64 {
    let v: u64;
    // SAFETY: reading satp has no side effect.
    unsafe { asm!("csrr {}, satp", out(reg) v) };
    v
}

/// Writes `satp` between two full TLB flushes.
///
/// # Safety
///
/// The new tables must map the code that runs next (this function's caller included) and
/// everything it touches.
pub unsafe fn write_satp(v: u64) {
    // SAFETY: the caller vouches for the new address space.
    unsafe { asm!("sfence.vma", "csrw satp, {}", "sfence.vma", in(reg) v) };
}

/// Sets the trap vector (direct mode).
///
/// # Safety
///
/// `addr` must be a trap entry reachable in the current address space.
pub unsafe fn write_stvec(addr: u64) {
    // SAFETY: the caller vouches for the entry.
    unsafe { asm!("csrw stvec, {}", in(reg) addr) };
}

/// Instructions retired (exact under QEMU's `-icount`).
pub fn read_instret() -> u64 {
    let v: u64;
    // SAFETY: reading instret has no side effect; OpenSBI lets S-mode read it.
    unsafe { asm!("rdinstret {}", out(reg) v) };
    v
}

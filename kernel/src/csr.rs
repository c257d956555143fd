//! The few supervisor CSRs the kernel uses besides `satp` (mm/mmu.rs owns that one).

use core::arch::asm;

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

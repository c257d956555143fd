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

/// Lets U-mode read `cycle`, `time` and `instret` (`scounteren` CY, TM, IR), so user programs
/// can count their own instructions (docs/PERFORMANCE.md). OpenSBI already lets S-mode.
pub fn allow_user_counters() {
    // SAFETY: scounteren only gates U-mode reads of the counters; reading them has no side
    // effect.
    unsafe { asm!("csrw scounteren, {}", in(reg) 0b111u64) };
}

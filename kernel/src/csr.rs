//! The few supervisor CSRs the kernel uses besides `satp` (mm/mmu.rs owns that one).

use core::arch::asm;

/// Sets the trap vector (direct mode).
///
/// # Safety
///
/// `addr` must be a trap entry reachable in the current address space.
pub unsafe fn write_stvec(addr: u64) {
    // SAFETY: the caller vouches for the entry (an address of this XLEN: no bits are lost).
    unsafe { asm!("csrw stvec, {}", in(reg) addr as usize) };
}

/// Instructions retired (exact under QEMU's `-icount`).
#[cfg(target_arch = "riscv64")]
pub fn read_instret() -> u64 {
    let v: u64;
    // SAFETY: reading instret has no side effect; OpenSBI lets S-mode read it.
    unsafe { asm!("rdinstret {}", out(reg) v) };
    v
}

/// Instructions retired (exact under QEMU's `-icount`): RV32 reads the 64-bit counter in
/// two halves, again when the high half moved in between. (For user space's and the
/// overhead measurements on riscv32, which come with user space.)
#[cfg(target_arch = "riscv32")]
#[allow(dead_code)]
pub fn read_instret() -> u64 {
    loop {
        let (hi, lo, hi2): (u32, u32, u32);
        // SAFETY: reading instret has no side effect; OpenSBI lets S-mode read it.
        unsafe {
            asm!("rdinstreth {}", "rdinstret {}", "rdinstreth {}", out(reg) hi, out(reg) lo, out(reg) hi2)
        };
        if hi == hi2 {
            return u64::from(hi) << 32 | u64::from(lo);
        }
    }
}

#[cfg(target_arch = "riscv64")]
/// Lets U-mode read `cycle`, `time` and `instret` (`scounteren` CY, TM, IR), so user programs
/// can count their own instructions (docs/PERFORMANCE.md). OpenSBI already lets S-mode.
pub fn allow_user_counters() {
    // SAFETY: scounteren only gates U-mode reads of the counters; reading them has no side
    // effect.
    unsafe { asm!("csrw scounteren, {}", in(reg) 0b111usize) };
}

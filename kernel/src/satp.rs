//! The `satp` write and read and this hart's `sfence.vma`, one source for both widths (a
//! `satp` value is a [`Reg`]: 64 bits on riscv64, 32 on riscv32). mm/mmu.rs (riscv64) and
//! sv32/mmu.rs (riscv32) re-export them next to what only their width has.

use core::arch::asm;

use crate::trap::Reg;

/// Writes `satp` between two full TLB flushes.
///
/// # Safety
///
/// The new tables must map the code that runs next (the caller included), its stack and
/// everything it touches, at the addresses they have now.
pub unsafe fn activate(satp: Reg) {
    // SAFETY: the caller vouches for the new address space.
    unsafe { asm!("sfence.vma", "csrw satp, {}", "sfence.vma", in(reg) satp) };
}

/// Reads `satp`.
pub fn read_satp() -> Reg {
    let v: Reg;
    // SAFETY: reading satp has no side effect.
    unsafe { asm!("csrr {}, satp", out(reg) v) };
    v
}

/// Drops this hart's cached translations of the page at `va`.
pub fn flush_page(va: kvas::VirtAddr) {
    // SAFETY: `sfence.vma` only drops cached translations.
    unsafe { asm!("sfence.vma {}, zero", in(reg) va.as_u64() as usize) };
}

/// Drops all of this hart's cached translations.
pub fn flush_all() {
    // SAFETY: `sfence.vma` only drops cached translations.
    unsafe { asm!("sfence.vma") };
}

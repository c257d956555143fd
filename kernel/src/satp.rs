//! The `satp` write and read, the ASID width probe and this hart's `sfence.vma`, one source
//! for both widths (a `satp` value is a [`Reg`]: 64 bits on riscv64, 32 on riscv32). mm/mmu.rs (riscv64) and
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

/// Where `satp.ASID` lies: its shift and its widest mask (Sv39+: bits 44..60; Sv32: 22..31).
#[cfg(target_arch = "riscv64")]
const ASID_FIELD: (u32, Reg) = (44, 0xffff);
#[cfg(target_arch = "riscv32")]
const ASID_FIELD: (u32, Reg) = (22, 0x1ff);

/// The ASID width the hart implements: writes all ones to `satp.ASID` (same mode, same root)
/// and counts the bits that stick, then restores `satp` (the privileged spec's probe).
pub fn probe_asid_bits() -> u32 {
    let (shift, mask) = ASID_FIELD;
    let back: Reg;
    // SAFETY: only the ASID changes, and only for the two instructions before the old value
    // is written back; they touch no memory, and their fetches come from the image, whose
    // mappings are global in every address space of both kernels (only riscv32's linear map
    // is ever non-global), so they translate the same under any ASID.
    unsafe {
        asm!(
            "csrr {old}, satp",
            "or {new}, {old}, {ones}",
            "csrw satp, {new}",
            "csrr {back}, satp",
            "csrw satp, {old}",
            old = out(reg) _,
            new = out(reg) _,
            back = out(reg) back,
            ones = in(reg) mask << shift,
        )
    };
    ((back >> shift) & mask).count_ones()
}

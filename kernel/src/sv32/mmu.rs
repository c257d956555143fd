//! Every `satp` write and `sfence.vma` of the riscv32 kernel (after `_start`'s).

use core::arch::asm;

pub use crate::satp::{activate, flush_all, flush_page, read_satp};

/// The ASID width the hart implements: writes all ones to `satp.ASID` (same root) and
/// counts the bits that stick, then restores `satp`.
pub fn probe_asid_bits() -> u32 {
    let back: u32;
    // SAFETY: only the ASID changes, and only for the two instructions before the old value
    // is written back; they touch no memory, and their fetches come from the image, whose
    // mappings are global in every split (under 4G/4G only the linear map is made
    // non-global), so they translate the same under any ASID.
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
            ones = in(reg) 0x1ffu32 << 22,
        )
    };
    ((back >> 22) & 0x1ff).count_ones()
}

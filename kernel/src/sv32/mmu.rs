//! Every `satp` write and `sfence.vma` of the riscv32 kernel (after `_start`'s).

use core::arch::asm;

/// Writes `satp` between two full TLB flushes.
///
/// # Safety
///
/// The new tables must map the code that runs next (the caller included), its stack and
/// everything it touches, at the addresses they have now.
pub unsafe fn activate(satp: u32) {
    // SAFETY: the caller vouches for the new address space.
    unsafe { asm!("sfence.vma", "csrw satp, {}", "sfence.vma", in(reg) satp) };
}

/// Reads `satp`.
pub fn read_satp() -> u32 {
    let v: u32;
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

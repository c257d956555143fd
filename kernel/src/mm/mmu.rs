//! Every `satp` write and every `sfence.vma` of the kernel, in one place (as
//! google/aarch64-paging keeps TTBR writes and TLB maintenance in `Mapping::activate`):
//!
//! - [`try_mode`]: the depth probe's trial write (boot, MMU off);
//! - [`enter_virtual`]: the switch to the early tables (boot, MMU off → on);
//! - [`activate`]: the switch to the final tables ([`super::KernelSpace::activate`]);
//! - [`flush_page`], [`flush_all`]: TLB maintenance after the live tables change.
//!
//! Nothing else in the kernel writes `satp` or flushes the TLB.

use core::arch::{asm, global_asm};

use crate::boot::KERNEL_LINK_ADDR;

global_asm!(
    r#"
    .section .text.entry, "ax"
    .balign 4
    .globl kvas_enter_virtual
    # kvas_enter_virtual(image: a0, delta: a1, satp: a2, entry: a3, sp: a4) -> !
    # Moves the image's pointers back to the link address (boot/reloc.rs), turns paging on,
    # and jumps to `entry` on stack `sp`. Runs from the identity-mapped text.
kvas_enter_virtual:
    mv      s0, a2
    mv      s1, a3
    mv      s2, a4
    call    kvas_relocate
    sfence.vma
    csrw    satp, s0
    sfence.vma
    mv      sp, s2
    jr      s1
    "#
);

extern "C" {
    fn kvas_enter_virtual(image: u64, delta: u64, satp: u64, entry: u64, sp: u64) -> !;
}

/// Turns paging on with the early tables `satp` and jumps to `entry` (a link address) on the
/// stack `sp` (a link address), after moving the image's pointers back to the link address.
///
/// # Safety
///
/// The MMU is off, the image runs at `load_pa`, and the tables of `satp` map the image at
/// its link address and its text at `load_pa` (the trampoline), so the instructions after
/// the write, `entry` and `sp` all translate. No Rust value made before this call may be used
/// afterwards through a pointer (the hand-off is plain numbers, boot/handoff.rs).
pub unsafe fn enter_virtual(load_pa: u64, satp: u64, entry: u64, sp: u64) -> ! {
    let delta = KERNEL_LINK_ADDR.wrapping_sub(load_pa);
    // SAFETY: the caller's contract above is this routine's.
    unsafe { kvas_enter_virtual(load_pa, delta, satp, entry, sp) }
}

/// Writes `satp`, reads it back and writes Bare, with no memory access in between: what the
/// hart keeps of a mode it does not implement is the probe's answer.
///
/// # Safety
///
/// The MMU is off, and the table in `value` identity-maps the code of this function.
pub unsafe fn try_mode(value: u64) -> u64 {
    let back: u64;
    // SAFETY: the caller's table maps this code, so the fetches between the two writes
    // translate; nothing else is touched while the mode is on.
    unsafe {
        asm!(
            "sfence.vma",
            "csrw satp, {v}",
            "csrr {b}, satp",
            "csrw satp, zero",
            "sfence.vma",
            v = in(reg) value,
            b = out(reg) back,
        )
    };
    back
}

/// Writes `satp` between two full TLB flushes.
///
/// # Safety
///
/// The new tables must map the code that runs next (the caller included), its stack and
/// everything it touches, at the addresses they have now.
pub unsafe fn activate(satp: u64) {
    // SAFETY: the caller vouches for the new address space.
    unsafe { asm!("sfence.vma", "csrw satp, {}", "sfence.vma", in(reg) satp) };
}

/// Reads `satp`.
pub fn read_satp() -> u64 {
    let v: u64;
    // SAFETY: reading satp has no side effect.
    unsafe { asm!("csrr {}, satp", out(reg) v) };
    v
}

/// Drops this hart's cached translations of the page at `va`.
pub fn flush_page(va: kvas::VirtAddr) {
    // SAFETY: `sfence.vma` only drops cached translations.
    unsafe { asm!("sfence.vma {}, zero", in(reg) va.as_u64()) };
}

/// Drops all of this hart's cached translations.
pub fn flush_all() {
    // SAFETY: as above.
    unsafe { asm!("sfence.vma") };
}

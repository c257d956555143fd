//! Every `satp` write and every `sfence.vma` of the kernel, in one place (as
//! google/aarch64-paging keeps TTBR writes and TLB maintenance in `Mapping::activate`):
//!
//! - [`try_mode`]: the depth probe's trial write (boot, MMU off);
//! - [`enter_virtual`]: the switch to the early tables (boot, MMU off → on);
//! - [`activate`]: the switch to the final tables ([`super::KernelSpace::activate`]);
//! - [`flush_page`], [`flush_all`]: TLB maintenance after the live tables change;
//! - [`switch_user`], [`flush_asid`], [`flush_page_asid`], [`probe_asid_bits`]: a process's
//!   address space with its ASID (user/space.rs), the ASID width probe.
//!
//! Nothing else in the kernel writes `satp` or flushes the TLB.

use core::arch::{asm, global_asm};

global_asm!(
    r#"
    .section .text.entry, "ax"
    .balign 4
    .globl kvas_enter_virtual
    # kvas_enter_virtual(image: a0, delta: a1, satp: a2, entry: a3, sp: a4) -> !
    # Moves the image's pointers to its virtual base (boot/reloc.rs), turns paging on,
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

/// Turns paging on with the early tables `satp` and jumps to `entry` (a virtual address) on
/// the stack `sp` (a virtual address), after moving the image's pointers from `load_pa` to
/// its virtual base `virt` (the link address plus the KASLR offset).
///
/// # Safety
///
/// The MMU is off, the image runs at `load_pa`, and the tables of `satp` map the image at
/// `virt` and its text at `load_pa` (the trampoline), so the instructions after the write,
/// `entry` and `sp` all translate. No Rust value made before this call may be used
/// afterwards through a pointer (the hand-off is plain numbers, boot/handoff.rs).
pub unsafe fn enter_virtual(load_pa: u64, virt: u64, satp: u64, entry: u64, sp: u64) -> ! {
    let delta = virt.wrapping_sub(load_pa);
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

/// Switches to a user address space: writes `satp` (the process's root and ASID). With
/// `flush_all` it flushes every translation after the write (an ASID rollover, or a hart
/// without ASIDs), as Linux's `set_mm_asid`/`set_mm_noasid` do. The kernel half is global,
/// so the kernel's own translations stay valid across the write.
///
/// # Safety
///
/// The root of `satp` must map the kernel half exactly as the running kernel's root does.
pub unsafe fn switch_user(satp: u64, flush_all: bool) {
    // SAFETY: the caller vouches that the kernel half (this code, its stack) is unchanged.
    unsafe { asm!("csrw satp, {}", in(reg) satp) };
    if flush_all {
        // SAFETY: only drops cached translations.
        unsafe { asm!("sfence.vma") };
    }
}

/// Drops this hart's cached non-global translations of `asid` (`sfence.vma x0, asid`).
pub fn flush_asid(asid: u16) {
    // SAFETY: `sfence.vma` only drops cached translations.
    unsafe { asm!("sfence.vma zero, {}", in(reg) asid as u64) };
}

/// Drops this hart's cached translation of the page at `va` for `asid`.
pub fn flush_page_asid(va: kvas::VirtAddr, asid: u16) {
    // SAFETY: as above.
    unsafe { asm!("sfence.vma {}, {}", in(reg) va.as_u64(), in(reg) asid as u64) };
}

/// The ASID width the hart implements: writes all ones to `satp.ASID` (same mode, same root)
/// and counts the bits that stick, then restores `satp` (the privileged spec's probe).
pub fn probe_asid_bits() -> u32 {
    let back: u64;
    // SAFETY: only the ASID changes, and every kernel mapping is global, so every
    // translation the kernel uses stays valid; the old value is written back at once.
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
            ones = in(reg) 0xffffu64 << 44,
        )
    };
    ((back >> 44) & 0xffff).count_ones()
}

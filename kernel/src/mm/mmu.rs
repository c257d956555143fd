//! Every `satp` write and every `sfence.vma` of the kernel, in one place (as
//! google/aarch64-paging keeps TTBR writes and TLB maintenance in `Mapping::activate`):
//!
//! - [`try_mode`]: the depth probe's trial write (boot, MMU off);
//! - [`enter_virtual`]: the switch to the early tables (boot, MMU off → on);
//! - [`activate`]: the switch to the final tables ([`super::KernelSpace::activate`]);
//! - [`flush_page`], [`flush_all`]: this hart's TLB maintenance after the live tables change
//!   ([`activate`], [`read_satp`] and these two are crate::satp's, shared with riscv32);
//! - [`switch_user`], [`flush_asid`], [`flush_page_asid`], [`probe_asid_bits`]: a process's
//!   address space with its ASID (user/space.rs), the ASID width probe;
//! - `kvas_secondary_start`: the secondary harts' switch to the kernel's tables (smp.rs starts
//!   harts there through SBI HSM; it runs before any Rust);
//! - mm/shootdown.rs: the other harts' TLBs, through SBI RFENCE, after this hart's.
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

// The secondary harts' entry (smp.rs starts them here through SBI HSM): Linux's
// `relocate_enable_mmu` — stvec at the virtual address of the instruction after the satp
// write, so the fetch at the old physical PC faults into it; no identity mapping needed.
core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .balign 4
    .globl kvas_secondary_start
    # SBI HSM starts a hart here, S-mode, MMU off: a0 = hart id, a1 = its start block
    # (physical): satp, entry, stack top, virtual base - load, answer.
kvas_secondary_start:
    csrw    sie, zero
    csrci   sstatus, 2
    mv      tp, a0
    mv      s0, a1
    ld      t0, 0(s0)
    ld      s1, 8(s0)
    ld      sp, 16(s0)
    ld      t2, 24(s0)
    lla     t3, 1f
    add     t3, t3, t2
    csrw    stvec, t3
    sfence.vma
    csrw    satp, t0
    # Paging on: the next fetch (at the physical PC) faults into 1: at its virtual address.
    # A hart that refused the mode keeps Bare and falls through, still physical.
    .balign 4
1:  sfence.vma
    csrr    t1, satp
    bne     t1, t0, 2f
    mv      a0, tp
    jr      s1
2:  sd      t1, 32(s0)
3:  wfi
    j       3b
    "#
);

extern "C" {
    fn kvas_secondary_start();
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

/// The physical address of the secondary harts' entry, for SBI `hart_start` (the image
/// runs at `virt_base`, loaded at `load_pa`).
pub fn secondary_start_pa(virt_base: u64, load_pa: u64) -> u64 {
    (kvas_secondary_start as unsafe extern "C" fn() as usize as u64)
        .wrapping_sub(virt_base)
        .wrapping_add(load_pa)
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

pub use crate::satp::{activate, flush_all, flush_page, probe_asid_bits, read_satp};

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

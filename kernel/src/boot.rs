//! From firmware to the virtual kernel.
//!
//! 1. `_start` (MMU off): finds the physical load address PC-relatively, zeroes bss, sets
//!    up the boot stack, moves the image's pointers to the load address
//!    ([`crate::reloc`]) and calls [`boot_main`].
//! 2. [`boot_main`] (MMU off, at the physical address): reads the device tree, checks the
//!    load address, chooses the depth ([`crate::probe`]), builds the early tables with the
//!    kvas engine through the identity view ([`crate::early`]).
//! 3. `kvas_enter_virtual`: moves the pointers back to the link address, writes `satp`
//!    (the identity-mapped text keeps the next fetches valid) and jumps to
//!    [`crate::kmain::kmain`] at its link address, on the boot stack's virtual address.

use crate::devicetree;
use crate::early::{self, Early};
use crate::frames::EarlyFrames;
use crate::power::fatal;

/// The virtual address the image is linked at (Linux's `KERNEL_LINK_ADDR`).
pub const KERNEL_LINK_ADDR: u64 = 0xffff_ffff_8000_0000;

/// The image must start on a 2 MiB boundary (it is mapped with 2 MiB alignment, as Linux's
/// `setup_vm` requires of `phys_addr`).
pub const LOAD_ALIGN: u64 = 2 << 20;

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .balign 4
    .globl _start
    # OpenSBI enters here in S-mode, MMU off: a0 = hart id, a1 = physical address of the DTB.
_start:
    # s3 = instructions retired so far: boot cost is measured from here (exact under
    # QEMU's -icount; OpenSBI lets S-mode read instret).
    rdinstret s3
    csrw    sie, zero
    csrci   sstatus, 2
    mv      s0, a0
    mv      s1, a1
    # Zero .bss (8-byte aligned by the linker script), boot stack included.
    lla     t0, __bss_start
    lla     t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  lla     sp, __boot_stack_top
    # s2 = physical load address; move the image's pointers to it: delta = load - link.
    lla     s2, __kernel_start
    li      t0, {link}
    mv      a0, s2
    sub     a1, s2, t0
    call    kvas_relocate
    mv      a0, s0
    mv      a1, s1
    mv      a2, s2
    mv      a3, s3
    call    {boot_main}
3:  wfi
    j       3b

    .globl kvas_enter_virtual
    # kvas_enter_virtual(image: a0, delta: a1, satp: a2, entry: a3, sp: a4) -> !
    # Moves the pointers back to the link address, turns paging on, jumps to entry.
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
    "#,
    link = const KERNEL_LINK_ADDR,
    boot_main = sym boot_main,
);

extern "C" {
    fn kvas_enter_virtual(image: u64, delta: u64, satp: u64, entry: u64, sp: u64) -> !;
}

/// First Rust code, MMU off, running at the physical load address `load_pa`.
extern "C" fn boot_main(_hartid: u64, dtb_pa: u64, load_pa: u64, instret_at_entry: u64) -> ! {
    if !crate::reloc::table_is_sealed() {
        // Only literal strings: without the table, data pointers are link addresses.
        crate::console::puts("kvas: fatal: image not sealed (build it with `make kernel`)\n");
        crate::power::shutdown(false);
    }
    crate::console::init();
    crate::trap::init();
    // SAFETY (both calls): with the MMU off all of RAM is readable at its physical address,
    // and OpenSBI passes the DTB's physical address in a1.
    if let Some(f) = unsafe { devicetree::finisher(dtb_pa) } {
        crate::power::set_finisher(f);
    }
    let mut info = unsafe { devicetree::parse(dtb_pa) }.unwrap_or_else(|e| fatal(format_args!("{e}")));
    if let Some(alt) = info.cmdline.dtb_at {
        // SAFETY: with the MMU off all of RAM is readable at its physical address; the
        // command line names where a test put the blob (cmdline.rs, `kvas.dtb=`). The
        // finisher stays the firmware DTB's, so a blob that does not parse still ends in
        // a failing exit status.
        info = unsafe { devicetree::parse(alt) }.unwrap_or_else(|e| fatal(format_args!("{e}")));
    }
    if load_pa % LOAD_ALIGN != 0 {
        fatal(format_args!("kernel loaded at {load_pa:#x}, which is not 2 MiB aligned"));
    }
    let mut frames = EarlyFrames::new(0);
    let early = early::build(&info, load_pa, &mut frames).unwrap_or_else(|e| fatal(format_args!("{e}")));
    let sections = crate::image::sections();
    let delta = KERNEL_LINK_ADDR.wrapping_sub(load_pa);
    let entry = crate::kmain::kmain as extern "C" fn() -> ! as usize as u64;
    let satp = early.satp;
    early::publish(Early { instret_at_entry, ..early });
    // SAFETY: the early tables map the image at its link address (W^X) and its text at its
    // physical address, so the code after the satp write, kmain and the boot stack are all
    // reachable; the pointers are moved back to the link address first.
    unsafe {
        kvas_enter_virtual(
            load_pa,
            delta,
            satp,
            entry.wrapping_add(delta),
            KERNEL_LINK_ADDR + sections.stack_top,
        )
    }
}

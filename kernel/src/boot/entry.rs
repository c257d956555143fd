//! The entry point and the MMU-off boot (see the module doc of [`crate::boot`]).

use kvas::phys::{MemoryMap, ReserveKind};
use kvas_kernel_core::bootinfo::{self, BootError};
use kvas_kernel_core::cmdline::FailAt;
use kvas_kernel_core::BootInfo;

use super::handoff::{self, HandOff};
use super::{dtb, early, kaslr, probe, KERNEL_LINK_ADDR, LOAD_ALIGN};
use crate::mm::frames::EarlyFrames;
use crate::power::{self, fatal};

// s3 = instructions retired so far: boot cost is measured from `_start`'s first
// instruction (exact under QEMU's -icount; OpenSBI lets S-mode read instret). tp = the
// hart id (smp.rs).
core::arch::global_asm!(
    start_prologue!("rdinstret s3", "sd", "8"),
    r#"
2:  lla     sp, __boot_stack_top
    # s2 = physical load address; move the image's pointers to it: delta = load - link.
    lla     s2, __kernel_start
    li      t0, {link}
    mv      a0, s2
    sub     a1, s2, t0
    # s4 = instructions the relocation pass retires (the price of moving the pointers).
    rdinstret s4
    call    kvas_relocate
    rdinstret t0
    sub     s4, t0, s4
    mv      a0, s0
    mv      a1, s1
    mv      a2, s2
    mv      a3, s3
    mv      a4, s4
    call    {boot_main}
3:  wfi
    j       3b
    "#,
    link = const KERNEL_LINK_ADDR,
    boot_main = sym boot_main,
);

/// The blob at physical `pa`, read with the MMU off (the firmware's, or `kvas.dtb=`'s).
fn physical_blob<'a>(pa: u64) -> Result<&'a [u8], BootError> {
    // SAFETY: with the MMU off all of RAM is readable at its physical address, and nothing
    // writes the blob during boot; OpenSBI passes the DTB's physical address in a1, and
    // `kvas.dtb=` names where a test put a blob (QEMU's loader).
    unsafe { dtb::blob(pa, pa) }
}

/// The device tree boot uses: the firmware's at `dtb_pa`, or the blob `kvas.dtb=` names.
fn read_device_tree(dtb_pa: u64) -> (BootInfo, u64) {
    let read = |pa| physical_blob(pa).and_then(|blob| bootinfo::read(blob, pa));
    let info = read(dtb_pa).unwrap_or_else(|e| fatal(format_args!("{e}")));
    match info.cmdline.dtb_at {
        Some(alt) => (read(alt).unwrap_or_else(|e| fatal(format_args!("{e}"))), alt),
        None => (info, dtb_pa),
    }
}

/// The kernel image must lie in mappable RAM: not in a hole, not under a no-map
/// reservation (the rule `kvas map` applies to the same tree).
fn check_image_placement(map: &MemoryMap, load_pa: u64, size: u64) {
    let end = load_pa + size;
    if let Some(r) = map
        .reservations()
        .iter()
        .find(|r| r.kind == ReserveKind::NoMap && r.range.start_u64() < end && load_pa < r.range.end())
    {
        fatal(format_args!(
            "the kernel image [{load_pa:#x}, {end:#x}) overlaps the no-map reservation {} ({}): \
             it must lie in mappable RAM",
            r.range,
            r.by.name()
        ));
    }
    if !map.mappable().any(|r| r.start_u64() <= load_pa && end <= r.end()) {
        fatal(format_args!("the kernel image [{load_pa:#x}, {end:#x}) does not lie in one RAM bank"));
    }
}

/// First Rust code, MMU off, running at the physical load address `load_pa`.
extern "C" fn boot_main(
    _hartid: u64,
    dtb_pa: u64,
    load_pa: u64,
    instret_at_entry: u64,
    reloc_pass: u64,
) -> ! {
    if !super::reloc::table_is_sealed() {
        // Only literal strings: without the table, data pointers are link addresses.
        crate::console::puts("kvas: fatal: image not sealed (build it with `make kernel`)\n");
        power::shutdown(false);
    }
    crate::console::init();
    crate::trap::init();
    // The finisher first, so that any failure below ends with a failing exit status.
    let finisher = physical_blob(dtb_pa).ok().and_then(bootinfo::finisher);
    power::set_finisher(finisher.unwrap_or(0));
    let (info, dtb_pa) = read_device_tree(dtb_pa);
    if info.cmdline.fail == Some(FailAt::Boot) {
        fatal(format_args!("kvas.fail=boot: failing on purpose with the MMU off"));
    }
    if !load_pa.is_multiple_of(LOAD_ALIGN) {
        fatal(format_args!("kernel loaded at {load_pa:#x}, which is not 2 MiB aligned"));
    }
    let sections = crate::image::sections();
    check_image_placement(&info.map, load_pa, sections.end);
    let mut frames = EarlyFrames::new(0);
    let max = info.depth_cap();
    let probe = match probe::probe(max, (load_pa, sections.text_end), &mut frames) {
        Ok(Some(p)) => p,
        Ok(None) => fatal(format_args!("the hart accepts no paging mode up to {max}")),
        Err(e) => fatal(format_args!("probing the paging mode: {e}")),
    };
    // SAFETY: the MMU is off and `info.dtb` is the tree just read, in RAM; nothing else
    // touches it now.
    let kaslr = unsafe { kaslr::choose(&info, sections.end) };
    let tables = early::build(probe.mode, load_pa, kaslr.offset, &sections, finisher, info.dtb, &mut frames)
        .unwrap_or_else(|e| fatal(format_args!("early page tables: {e}")));
    let mut rejected = [(0, 0); 2];
    for (slot, r) in rejected.iter_mut().zip(probe.rejected.iter().flatten()) {
        *slot = (r.0.levels() as u64, r.1);
    }
    handoff::publish(HandOff {
        dtb_pa,
        load_pa,
        instret_at_entry,
        early_root: tables.root.as_u64(),
        levels: probe.mode.levels() as u64,
        rejected,
        finisher_pa: finisher.unwrap_or(0),
        kaslr_offset: kaslr.offset,
        seed_source: handoff::source_code(kaslr.source),
        reloc_pass,
    });
    let entry = crate::kmain::kmain as extern "C" fn() -> ! as usize as u64;
    let virt = kaslr.virt_base();
    let delta = virt.wrapping_sub(load_pa);
    // SAFETY: the MMU is off and the image runs at load_pa; the early tables map the image
    // at its virtual base `virt` (W^X) and its text at load_pa, so the code after the satp
    // write, kmain (entry + delta) and the boot stack's virtual address all translate;
    // nothing made here is used after the switch but the hand-off, which is plain numbers.
    unsafe {
        crate::mm::mmu::enter_virtual(
            load_pa,
            virt,
            tables.satp,
            entry.wrapping_add(delta),
            virt + sections.stack_top,
        )
    }
}

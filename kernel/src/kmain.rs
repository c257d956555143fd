//! The virtual kernel: runs at the link address on the early tables, builds the kernel's
//! address space (mm/build.rs) and switches to it, reports per the serial contract
//! (shared/DESIGN.md), runs the self-tests and powers off (or holds).

use kvas::arch::riscv::Riscv;
use kvas::kspace::RegionKind;
use kvas::layout::{plan, Options, Target, VmLayoutDump};
use kvas::paging::{OffsetMemory, PageTable};
use kvas::phys::MemoryMap;
use kvas::PhysAddr;
use kvas_kernel_core::cmdline::{FailAt, VmsplitArg};
use kvas_kernel_core::BootInfo;

use crate::boot::handoff::{self, HandOff};
use crate::boot::{dtb, early};
use crate::image::Sections;
use crate::mm::{build, fixmap, KernelSpace, KernelVm};
use crate::power::{self, or_fatal, Faulting};
use crate::{kprint, kprintln, selftest, user};

/// What boot found out, for the report and the self-tests (the space holds the rest).
pub struct Boot {
    /// The MMU-off hand-off.
    pub handoff: HandOff,
    /// The image's sections.
    pub sections: Sections,
    /// The device tree, read again through its fixmap window.
    pub info: BootInfo,
}

impl Boot {
    /// Physical load address of the image.
    pub fn load_pa(&self) -> u64 {
        self.handoff.load_pa
    }

    /// The image's virtual base: `KERNEL_LINK_ADDR` + the KASLR offset.
    pub fn image_va(&self) -> u64 {
        self.handoff.virt_base()
    }
}

/// Entered from `mm::mmu::enter_virtual` on the boot stack's virtual address.
pub extern "C" fn kmain() -> ! {
    crate::trap::init();
    let handoff = handoff::take();
    let mode = handoff.mode();
    let sections = crate::image::sections();
    let layout = or_fatal(early::layout(mode, &sections, handoff.kaslr_offset), "layout: ");
    // First of all: the finisher at its fixmap address, so that every failure from here on
    // ends with a failing exit status.
    if handoff.finisher_pa != 0 {
        power::set_finisher(fixmap::finisher_va(&layout, handoff.finisher_pa));
    }
    // The early tables, adopted once from the hand-off's numbers; reached through the image
    // mapping (their frames are in .bss).
    let early_root = or_fatal(PhysAddr::new(handoff.early_root), "early root: ");
    // SAFETY: boot built these tables from the .bss pool and switched to them; every frame
    // of the pool is mapped read-write at its physical address + (virtual base - load), and nothing
    // else holds them.
    let mut early_tables = unsafe {
        PageTable::from_root(
            Riscv::new(mode),
            OffsetMemory::new(handoff.virt_base().wrapping_sub(handoff.load_pa)),
            early_root,
        )
    };
    // SAFETY: the early tables map the DTB's 2 MiB-aligned 4 MiB window read-only around
    // dtb_va, and the blob (at most 2 MiB, checked with the MMU off) lies inside it.
    let blob = unsafe { dtb::blob(fixmap::dtb_va(&layout, handoff.dtb_pa), handoff.dtb_pa) };
    let info = or_fatal(
        blob.and_then(|b| kvas_kernel_core::bootinfo::read(b, handoff.dtb_pa)),
        "memory init: the device tree (through the fixmap): ",
    );
    match info.cmdline.fail {
        Some(FailAt::Kmain) => power::fatal(format_args!("kvas.fail=kmain: failing on purpose after paging")),
        Some(FailAt::Nested) => power::fatal(format_args!("kvas.fail=nested: {}", Faulting)),
        _ => {}
    }
    let mut map: MemoryMap = info.map.clone();
    let params = build::Params {
        load_pa: handoff.load_pa,
        kaslr_offset: handoff.kaslr_offset,
        sections: &sections,
        finisher: (handoff.finisher_pa != 0).then_some(handoff.finisher_pa),
        dtb: info.dtb,
        mode,
    };
    let spec = or_fatal(build::spec(&mut map, &params), "");
    if spec.layout != layout {
        // The fixmap the early tables used (finisher, DTB window, window slot) must be the
        // final tables' too.
        power::fatal(format_args!("the kernel space's layout is not the one the early tables used"));
    }
    let inactive = or_fatal(build::build(&mut early_tables, &map, &spec), "");
    let vm = or_fatal(KernelVm::new(&spec.layout), "vmalloc windows: ");
    let mut space = inactive.activate(vm);
    if info.cmdline.fail == Some(FailAt::Trap) {
        crate::trap::fault_on_purpose();
    }
    let boot = Boot { handoff, sections, info };
    report(&space, &boot);
    let (hw_bits, bits) = user::asid_bits(boot.info.cmdline.asid_bits);
    if bits != hw_bits {
        kprintln!("kvas: asid bits capped from {hw_bits} to {bits} (kvas.asidbits)");
    }
    user::report(&space, bits);
    user::report_separate(boot.info.cmdline.separate);
    // Every other hart, into these tables: each reports `kvas: hart N up`.
    let deeper = boot.info.cmdline.fail == Some(FailAt::HartMode);
    crate::smp::start_secondaries(&mut space, boot.image_va(), boot.load_pa(), deeper);
    let (mut passed, mut failed) = selftest::run_all(&mut space, &boot);
    match user::init(&mut space, bits, boot.info.cmdline.separate) {
        Some(mut u) => {
            let (p, f) = user::tests::run_all(&mut u, &mut space);
            (passed, failed) = (passed + p, failed + f);
            if let Some(range) = boot.info.initrd {
                let va = range.start_u64().wrapping_add(space.linear().va_pa_offset());
                // SAFETY: the initrd lies in RAM the linear map covers, reserved in the memory
                // map (no allocator hands it out) and written by nothing.
                let blob = unsafe { core::slice::from_raw_parts(va as *const u8, range.size() as usize) };
                // An /init that is killed or cannot start fails the boot (exit status
                // non-zero), as a failed self-test does.
                if !user::run_initrd(&mut u, &mut space, blob) {
                    failed += 1;
                }
            }
        }
        None => {
            failed += 1;
            kprintln!("usertest setup ... FAILED: no 2 MiB-aligned run of 4 MiB of frames for the user pool");
        }
    }
    kprintln!("{passed} passed, {failed} failed");
    if boot.info.cmdline.hold {
        kprintln!("kvas: holding");
        power::halt();
    }
    power::shutdown(failed == 0)
}

/// The report of the serial contract, up to the layout dump.
fn report(space: &KernelSpace, boot: &Boot) {
    let h = &boot.handoff;
    kprintln!("kvas: image {:#x} loaded at {:#x} size {:#x}", h.virt_base(), h.load_pa, boot.sections.end);
    kprintln!("kvas: dtb {:#x} size {:#x}", boot.info.dtb.base, boot.info.dtb.size);
    for (mode, back) in h.rejected() {
        kprintln!("kvas: probe: {mode} rejected (satp read back {back:#x})");
    }
    kprintln!("kvas: paging mode {}", space.mode());
    let map = space.map();
    for bank in map.banks() {
        kprintln!("kvas: ram {:#x} size {:#x}", bank.start_u64(), bank.size());
    }
    for r in map.reservations() {
        kprintln!("kvas: reserved {:#x} size {:#x} {}", r.range.start_u64(), r.range.size(), r.kind.name());
    }
    for n in boot.info.map.notices() {
        kprintln!("kvas: warning: {n}");
    }
    // riscv32's word: riscv64 has no split to choose, and ignores it as any word it does
    // not honour (shared/DESIGN.md), but says so rather than silently.
    if let Some(arg) = boot.info.cmdline.vmsplit {
        match arg {
            VmsplitArg::Split(s) => kprintln!("kvas: warning: vmsplit={} is riscv32's: ignored", s.name()),
            VmsplitArg::Bad(w) => kprintln!("kvas: warning: vmsplit={w} is riscv32's: ignored"),
        }
    }
    if boot.info.map.dropped_notices() > 0 {
        kprintln!("kvas: warning: {} more memory-map notices not kept", boot.info.map.dropped_notices());
    }
    let lm = space.linear();
    if let Some(c) = lm.capped {
        kprintln!(
            "kvas: warning: physical memory overflows the linear map: {:#x} bytes of RAM in {c} not mapped",
            lm.capped_bytes
        );
    }
    // The boot cost is counted up to the layout dump.
    let instructions = crate::csr::read_instret().wrapping_sub(h.instret_at_entry);
    kprintln!("kvas: kaslr offset {:#x} (seed from {})", h.kaslr_offset, h.seed_source().name());
    kprintln!(
        "kvas: relocation {} pointer slots, {} instructions per pass (two passes)",
        crate::boot::reloc::RELOC_CAPACITY,
        h.reloc_pass
    );
    let options = Options {
        kernel_size: boot.sections.end,
        kaslr_offset: h.kaslr_offset,
        ram: Some(space.lowmem_bytes()),
        ..Options::default()
    };
    match plan(Target::Riscv64(space.mode()), &options) {
        Ok(layout) => kprint!("{}", VmLayoutDump(&layout)),
        Err(err) => kprintln!("kvas: no layout: {err}"),
    }
    // What kvas::kspace built, region by region: what `kvas map --format built` predicts.
    for line in space.built().lines() {
        kprintln!("{line}");
    }
    kprintln!("kvas: boot instructions {instructions} (instret from entry to the layout dump)");
    let pinned: u64 = [RegionKind::Vmalloc, RegionKind::Modules]
        .into_iter()
        .filter_map(|k| space.built().region(k).map(|r| r.tables))
        .sum();
    kprintln!("kvas: vmalloc and modules: {pinned} tables below the root preallocated, pinned");
}

//! The riscv32 kernel's sequence, entered from `_start` at the link address on the boot
//! tables: the device tree through the boot fixmap, the split from `vmsplit=`, the kernel
//! space built with kvas::kspace::sv32 and turned on, the serial report, the self-tests,
//! the power-off.

use kvas::kspace::sv32::{build_sv32, Sv32KernelSpec, FIX_DEVICE, FIX_FDT, FIX_FDT_PAGES};
use kvas::layout::riscv32_split::KERNEL_LINK_ADDR;
use kvas::layout::{plan, Options, Target, VmLayoutDump};
use kvas::paging::Attrs;
use kvas::phys::{MemoryMap, PhysRange};
use kvas::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use kvas_kernel_core::bootinfo;
use kvas_kernel_core::cmdline::FailAt;

use super::fixmap::{boot_set, BootWindow};
use super::space::KernelSpace32;
use crate::image::Sections;
use crate::power::{self, or_fatal, Faulting};
use crate::{kprint, kprintln};

/// The device tree at physical `dtb_pa`, mapped read-only in the boot fixmap's DTB window.
fn map_dtb<'a>(dtb_pa: u64) -> Result<&'a [u8], bootinfo::BootError> {
    let first = dtb_pa & !(PAGE_SIZE - 1);
    for i in 0..FIX_FDT_PAGES {
        boot_set(FIX_FDT + i * PAGE_SIZE, first + i * PAGE_SIZE, Attrs::KERNEL_RO);
    }
    let va = (FIX_FDT + (dtb_pa & (PAGE_SIZE - 1))) as usize;
    // SAFETY: the window maps 2 MiB + 4 KiB from the DTB's page, read-only, and nothing
    // writes the blob; its first 8 bytes give its size, checked against MAX_FDT_SIZE.
    let header = unsafe { core::ptr::read_unaligned(va as *const [u8; 8]) };
    let size = bootinfo::total_size(header, dtb_pa)?;
    // SAFETY: `size` is at most MAX_FDT_SIZE (2 MiB), all inside the window.
    Ok(unsafe { core::slice::from_raw_parts(va as *const u8, size) })
}

/// Entered from `_start` (super::entry) at its link address, on the boot stack.
pub extern "C" fn kmain(_hartid: usize, dtb_pa: usize, load_pa: usize) -> ! {
    crate::trap::init();
    crate::console::init();
    let (dtb_pa, load_pa) = (dtb_pa as u64, load_pa as u64);
    let blob = or_fatal(map_dtb(dtb_pa), "");
    // The finisher first, so every failure from here on ends with a failing status.
    let finisher = bootinfo::finisher(blob);
    if let Some(pa) = finisher {
        boot_set(FIX_DEVICE, pa & !(PAGE_SIZE - 1), Attrs::KERNEL_RW);
        power::set_finisher(FIX_DEVICE + (pa & (PAGE_SIZE - 1)));
    }
    let mut info = or_fatal(bootinfo::read(blob, dtb_pa), "");
    // Sv32 encodes 34-bit physical addresses: RAM from 16 GiB up is dropped, with a warning
    // (the report prints the map's notices), and none below it is fatal.
    or_fatal(
        info.map.clip(1 << kvas::arch::riscv32::PA_BITS),
        "memory init: RAM within Sv32's 34-bit physical addresses: ",
    );
    match info.cmdline.fail {
        Some(FailAt::Kmain) => power::fatal(format_args!("kvas.fail=kmain: failing on purpose after paging")),
        Some(FailAt::Nested) => power::fatal(format_args!("kvas.fail=nested: {}", Faulting)),
        _ => {}
    }
    let split = or_fatal(info.cmdline.split(), "");
    let sections = crate::image::sections();
    let image = or_fatal(sections.image(load_pa), "the kernel image: ");
    let mut spec = or_fatal(Sv32KernelSpec::new(split, image), "the kernel space: ");
    spec.device = or_fatal(finisher.map(PhysAddr::new).transpose(), "the finisher: ");
    spec.dtb = Some(or_fatal(PhysRange::new(info.dtb.base, info.dtb.size), "the dtb: "));
    // Separate process roots leave the linear map out: it is built non-global then.
    spec.separate = info.cmdline.separate;
    let mut map: MemoryMap = info.map.clone();
    or_fatal(spec.prepare(&mut map), "memory init: reserving the kernel image: ");
    // SAFETY: the boot tables are live (kmain runs on them) and the window slot is used by
    // nothing else until the switch.
    let window = unsafe { BootWindow::new() };
    let t = or_fatal(build_sv32(&spec, &map, window), "memory init: building the kernel space: ");
    let (root, frames, built) = (t.table.root(), t.frames, t.built);
    // SAFETY: build_sv32 built these tables for `spec` and `map` from lowmem frames; they
    // map the image W^X at the link address it runs at (stack and statics included) and
    // the fixmap's finisher page where the boot tables had it.
    let mut space =
        or_fatal(unsafe { KernelSpace32::activate(root, frames, &map, spec, built) }, "activating: ");
    // The boot stack's guard page goes (the build mapped the whole image; `kvas: built`
    // counts that), so an overflow faults instead of overwriting statics.
    let guard = VirtAddr::new(KERNEL_LINK_ADDR + crate::image::stack_guard());
    let (tables, frames) = space.tables_mut();
    match tables.unmap(guard, PageSize::Size4K, frames) {
        Ok(flush) => flush.apply(super::mmu::flush_page, super::mmu::flush_all),
        Err(e) => power::fatal(format_args!("the boot stack's guard page {guard}: {e}")),
    }
    if info.cmdline.fail == Some(FailAt::Trap) {
        crate::trap::fault_on_purpose();
    }
    report(&space, &sections, load_pa, &info);
    let (mut passed, mut failed) = super::selftest::run_all(&mut space, &sections, load_pa);
    // User space (kernel/src/user, shared with riscv64): the user tests in every split.
    let (_, bits) = crate::user::asid_bits(info.cmdline.asid_bits);
    // Processes get the FPU (sstatus.FS on, saved per process) only if every hart has D.
    crate::user::fpu::set_available(info.fpu);
    crate::user::report_separate(info.cmdline.separate || space.split() == kvas::layout::Vmsplit::G4G4);
    match crate::user::init(&mut space, bits, info.cmdline.separate) {
        Some(mut u) => {
            // What user space really uses (the boot test checks it against `kvas layout`).
            kprintln!(
                "kvas: user space 0x00000000-{:#010x} (TASK_SIZE {:#x}) asid bits {}",
                u.task_size - 1,
                u.task_size,
                u.asids.bits()
            );
            let (p, f) = crate::user::tests::run_all(&mut u, &mut space);
            (passed, failed) = (passed + p, failed + f);
            // The initrd's /init, as on riscv64: through the linear map (QEMU puts it in
            // lowmem, 128 MiB into RAM); one in highmem is refused.
            if let Some(range) = info.initrd {
                let lowmem = |pa: u64| PhysAddr::new(pa).ok().and_then(|p| space.linear().va_of(p));
                match (lowmem(range.start_u64()), lowmem(range.end() - 1)) {
                    (Some(va), Some(_)) => {
                        // SAFETY: the initrd lies in lowmem (both ends are in the linear map,
                        // which is contiguous), reserved in the memory map and written by nothing.
                        let blob = unsafe {
                            core::slice::from_raw_parts(
                                va.as_u64() as usize as *const u8,
                                range.size() as usize,
                            )
                        };
                        if !crate::user::run_initrd(&mut u, blob) {
                            failed += 1;
                        }
                    }
                    _ => {
                        kprintln!(
                            "kvas: initrd: {:#x} size {:#x} is not in lowmem",
                            range.start_u64(),
                            range.size()
                        );
                        failed += 1;
                    }
                }
            }
        }
        None => {
            kprintln!("kvas: no user space: no 4 MiB of aligned lowmem for the user frame pool");
            failed += 1;
        }
    }
    kprintln!("{passed} passed, {failed} failed");
    if info.cmdline.hold {
        kprintln!("kvas: holding");
        power::halt();
    }
    power::shutdown(failed == 0)
}

/// The serial contract's report (shared/DESIGN.md), riscv32's way.
fn report(space: &KernelSpace32, sections: &Sections, load_pa: u64, info: &kvas_kernel_core::BootInfo) {
    kprintln!("kvas: image {KERNEL_LINK_ADDR:#x} loaded at {load_pa:#x} size {:#x}", sections.end);
    kprintln!("kvas: dtb {:#x} size {:#x}", info.dtb.base, info.dtb.size);
    kprintln!("kvas: paging mode sv32");
    kprintln!("kvas: vmsplit {}", space.split().name());
    let map = space.map();
    for bank in map.banks() {
        kprintln!("kvas: ram {:#x} size {:#x}", bank.start_u64(), bank.size());
    }
    for r in map.reservations() {
        kprintln!("kvas: reserved {:#x} size {:#x} {}", r.range.start_u64(), r.range.size(), r.kind.name());
    }
    for n in info.map.notices() {
        kprintln!("kvas: warning: {n}");
    }
    let lm = space.linear();
    match lm.capped {
        Some(high) => kprintln!(
            "kvas: highmem {:#x} size {:#x} ({:#x} bytes free), reached through the pkmap and kmap_local",
            high.start_u64(),
            high.size(),
            space.highmem_bytes()
        ),
        None => kprintln!("kvas: highmem none (lowmem {:#x} bytes)", space.lowmem_bytes()),
    }
    let ram = map.mappable().last().map_or(0, |r| r.end()).saturating_sub(lm.base.as_u64());
    let options = Options {
        kernel_size: sections.end,
        ram: Some(ram & !(PAGE_SIZE - 1)),
        split: Some(space.split()),
        ..Options::default()
    };
    let layout = plan(Target::Riscv32, &options);
    match &layout {
        Ok(layout) => kprint!("{}", VmLayoutDump(layout)),
        Err(err) => kprintln!("kvas: no layout: {err}"),
    }
    for line in space.built().lines() {
        kprintln!("{line}");
    }
}

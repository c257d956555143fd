//! x86-64 with 4-level and 5-level paging, per `Documentation/arch/x86/x86_64/mm.rst`.
//!
//! The top of the address space (from `0xfffffc0000000000`) is the same in both
//! modes; below it, regions are PGD slots: the guard hole is the first 16 slots of
//! the kernel half, the LDT remap the 17th, the direct map 128 slots from slot 273
//! (`__PAGE_OFFSET_BASE_L4/L5`). vmalloc and vmemmap sit at Linux's fixed bases
//! (`__VMALLOC_BASE_L4/L5`, `__VMEMMAP_BASE_L4/L5`), and the KASAN shadow is the
//! shadow of the kernel half, ending at `KASAN_SHADOW_OFFSET + 2^61`, its start
//! rounded down to a PGD slot as `kasan_init()` clears it.
//!
//! The kernel text mapping is `KERNEL_IMAGE_SIZE` from `__START_KERNEL_map`:
//! 512 MiB without KASLR (mm.rst's table), 1 GiB with `CONFIG_RANDOMIZE_BASE`
//! (what distribution kernels build, and kvas's default), and the modules area
//! takes the rest up to `MODULES_END`.

use crate::addr::VirtAddr;
use crate::layout::plan::{check_image, check_ram, place_image, region, LayoutParts, Reach};
use crate::layout::region::RegionList;
use crate::layout::target::{Kasan, Options, Target, X86Mode};
use crate::range::VirtRange;
use crate::sizes::{PAGE_SIZE, SZ_1T, SZ_2M};
use crate::Error;

/// `__START_KERNEL_map`: the kernel text mapping, mapped to physical address 0.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// `KERNEL_IMAGE_SIZE` without KASLR (`asm/page_64_types.h`: "If KASLR is
/// disabled we can shrink it to 0.5 GiB and increase the size of the modules
/// area to 1.5 GiB").
pub const KERNEL_IMAGE_SIZE: u64 = 512 << 20;
/// `KERNEL_IMAGE_SIZE` with `CONFIG_RANDOMIZE_BASE` ("On KASLR use 1 GiB by
/// default, leaving 1 GiB for modules"): the modules area starts at
/// `0xffffffffc0000000` and is 1008 MiB.
pub const KERNEL_IMAGE_SIZE_KASLR: u64 = 1 << 30;
/// `CONFIG_PHYSICAL_ALIGN` (x86-64 default): the KASLR step.
pub const PHYSICAL_ALIGN: u64 = 2 << 20;

/// `KERNEL_IMAGE_SIZE` with or without KASLR.
pub const fn kernel_image_size(kaslr: bool) -> u64 {
    if kaslr {
        KERNEL_IMAGE_SIZE_KASLR
    } else {
        KERNEL_IMAGE_SIZE
    }
}

/// The largest KASLR offset (above `LOAD_PHYSICAL_ADDR`) that
/// `find_random_virt_addr()` draws for an image of `size` bytes: `slots = 1 +
/// (KERNEL_IMAGE_SIZE - minimum - image_size) / CONFIG_PHYSICAL_ALIGN`, minimum
/// being `LOAD_PHYSICAL_ADDR`.
pub const fn kaslr_max(size: u64) -> u64 {
    (KERNEL_IMAGE_SIZE_KASLR - LOAD_PHYSICAL_ADDR).saturating_sub(size) / PHYSICAL_ALIGN * PHYSICAL_ALIGN
}
/// `LOAD_PHYSICAL_ADDR`: where `_text` sits in the text mapping (default 16 MiB).
pub const LOAD_PHYSICAL_ADDR: u64 = 16 << 20;
/// `MODULES_END`.
pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;
/// `VSYSCALL_ADDR`: the legacy vsyscall page.
pub const VSYSCALL_ADDR: u64 = 0xffff_ffff_ff60_0000;
/// The fixmap's size: variable in Linux (it depends on `NR_CPUS` and the config);
/// kvas assumes 512 KiB, which mm.rst rounds to "~0.5 MB".
pub const FIXADDR_SIZE: u64 = 512 << 10;
/// `KASAN_SHADOW_OFFSET` (Kconfig default).
pub const KASAN_SHADOW_OFFSET: u64 = 0xdfff_fc00_0000_0000;
/// `CPU_ENTRY_AREA_BASE`.
pub const CPU_ENTRY_AREA_BASE: u64 = 0xffff_fe00_0000_0000;
/// `ESPFIX_BASE_ADDR` (PGD entry -2 of the 4-level table).
pub const ESPFIX_BASE_ADDR: u64 = 0xffff_ff00_0000_0000;
/// `EFI_VA_END`: the bottom of the 64 GiB EFI window, which ends at `-4 GiB`.
pub const EFI_VA_END: u64 = 0xffff_ffef_0000_0000;

/// x86-64 reach: `call rel32` and RIP-relative addressing span ±2 GiB.
pub const REACH: Reach =
    Reach { direct_insn: "call rel32", direct: 2 << 30, far_insn: "call rel32", far: 2 << 30 };

struct ModeConsts {
    pgdir_shift: u32,
    va_bits: u32,
    vmalloc_base: u64,
    vmalloc_size: u64,
    vmemmap_base: u64,
}

const fn consts(mode: X86Mode) -> ModeConsts {
    match mode {
        X86Mode::Level4 => ModeConsts {
            pgdir_shift: 39,
            va_bits: 48,
            vmalloc_base: 0xffff_c900_0000_0000,
            vmalloc_size: 32 * SZ_1T,
            vmemmap_base: 0xffff_ea00_0000_0000,
        },
        X86Mode::Level5 => ModeConsts {
            pgdir_shift: 48,
            va_bits: 57,
            vmalloc_base: 0xffa0_0000_0000_0000,
            vmalloc_size: 12800 * SZ_1T,
            vmemmap_base: 0xffd4_0000_0000_0000,
        },
    }
}

pub(crate) fn parts(mode: X86Mode, options: &Options, validate: bool) -> Result<LayoutParts, Error> {
    if options.vmalloc.is_some() {
        return Err(Error::UnsupportedOption {
            option: "--vmalloc",
            reason: "only arm32 sizes vmalloc at boot; this mode fixes it",
        });
    }
    if options.kasan == Kasan::SwTags {
        return Err(Error::UnsupportedOption {
            option: "--kasan sw-tags",
            reason: "x86_64 has no software tag-based KASAN",
        });
    }
    let c = consts(mode);
    let slot = 1u64 << c.pgdir_shift;
    let half = (1u64 << (c.va_bits - 1)).wrapping_neg();
    let ldt = half + 16 * slot;
    let page_offset = ldt + slot;
    let linear_end = page_offset + 128 * slot;
    check_ram(options.ram, PAGE_SIZE)?;
    if let Some(ram) = options.ram {
        if validate && ram > linear_end - page_offset {
            return Err(Error::RamTooLarge { ram, max: linear_end - page_offset, window: "direct map" });
        }
    }
    let kaslr = options.kaslr_for(Target::X86_64(mode))?;
    let image_size = kernel_image_size(kaslr);
    let image_max = image_size - LOAD_PHYSICAL_ADDR;
    let (size, off) = (options.kernel_size, options.kaslr_offset);
    let max_off = if kaslr { kaslr_max(size) } else { 0 };
    let what = if kaslr { "x86_64 kernel text mapping (KASLR)" } else { "x86_64 kernel text mapping" };
    check_image(validate, size, image_max, what, off, max_off)?;
    let vmalloc_end = c.vmalloc_base + c.vmalloc_size;
    let vmemmap_end = c.vmemmap_base + 2 * slot;
    let kasan_end = KASAN_SHADOW_OFFSET.wrapping_add(1 << 61);

    let mut r = RegionList::new();
    r.push(region("user", 0, 1 << (c.va_bits - 1), slot, "user-space virtual memory, different per mm")?)?;
    r.push(region("hole", 1 << (c.va_bits - 1), half, slot, "non-canonical hole up to the kernel half")?)?;
    r.push(region("guard", half, ldt, slot, "guard hole, also reserved for hypervisor")?)?;
    r.push(region("ldt-remap", ldt, page_offset, slot, "LDT remap for PTI")?)?;
    r.push(region("linear", page_offset, linear_end, slot, "direct mapping of all physical memory")?)?;
    r.push(region("unused", linear_end, c.vmalloc_base, slot, "unused hole")?)?;
    r.push(region("vmalloc", c.vmalloc_base, vmalloc_end, slot, "vmalloc/ioremap space")?)?;
    r.push(region("unused", vmalloc_end, c.vmemmap_base, slot, "unused hole")?)?;
    r.push(region("vmemmap", c.vmemmap_base, vmemmap_end, slot, "virtual memory map")?)?;
    let tail = match options.kasan.scale_shift() {
        Some(scale) => {
            let start = (kasan_end - (1 << (c.va_bits - 1 - scale))) & !(slot - 1);
            r.push(region("unused", vmemmap_end, start, slot, "unused hole")?)?;
            r.push(region("kasan", start, kasan_end, 1 << 30, "KASAN shadow memory")?)?;
            kasan_end
        }
        None => vmemmap_end,
    };
    r.push(region("unused", tail, CPU_ENTRY_AREA_BASE, PAGE_SIZE, "unused hole (vaddr_end for KASLR)")?)?;
    let cea_end = CPU_ENTRY_AREA_BASE + (1 << 39);
    r.push(region("cpu-entry-area", CPU_ENTRY_AREA_BASE, cea_end, PAGE_SIZE, "cpu_entry_area mapping")?)?;
    r.push(region("unused", cea_end, ESPFIX_BASE_ADDR, PAGE_SIZE, "unused hole")?)?;
    let esp_end = ESPFIX_BASE_ADDR + (1 << 39);
    r.push(region("esp-fixup", ESPFIX_BASE_ADDR, esp_end, PAGE_SIZE, "%esp fixup stacks")?)?;
    r.push(region("unused", esp_end, EFI_VA_END, PAGE_SIZE, "unused hole")?)?;
    let efi_start = EFI_VA_END + (64 << 30);
    r.push(region("efi", EFI_VA_END, efi_start, PAGE_SIZE, "EFI region mapping space")?)?;
    r.push(region("unused", efi_start, START_KERNEL_MAP, PAGE_SIZE, "unused hole")?)?;
    let modules = START_KERNEL_MAP + image_size;
    r.push(region(
        "kernel",
        START_KERNEL_MAP,
        modules,
        SZ_2M,
        "kernel text mapping, mapped to physical address 0",
    )?)?;
    r.push(region("modules", modules, MODULES_END, PAGE_SIZE, "module mapping space")?)?;
    let fixaddr_start = VSYSCALL_ADDR - FIXADDR_SIZE;
    r.push(region("fixmap", fixaddr_start, VSYSCALL_ADDR, PAGE_SIZE, "kernel-internal fixmap range")?)?;
    r.push(region("vsyscall", VSYSCALL_ADDR, VSYSCALL_ADDR + PAGE_SIZE, PAGE_SIZE, "legacy vsyscall ABI")?)?;
    r.push(region("unused", 0u64.wrapping_sub(SZ_2M), 0, PAGE_SIZE, "unused hole")?)?;

    let kernel = VirtRange::from_end(VirtAddr::new(START_KERNEL_MAP), VirtAddr::new(modules))?;
    let text_start =
        place_image(START_KERNEL_MAP + LOAD_PHYSICAL_ADDR, "__START_KERNEL", off, size, 1 << 64)?;
    let image = match size {
        0 => None,
        _ => Some(VirtRange::new(VirtAddr::new(text_start), size)?),
    };
    let lowmem = match options.ram {
        // RAM beyond the window is the checker's to report; lowmem is what is mapped.
        Some(ram) => Some(VirtRange::new(VirtAddr::new(page_offset), ram.min(linear_end - page_offset))?),
        None => None,
    };
    Ok(LayoutParts {
        target: Target::X86_64(mode),
        options: *options,
        va_bits: c.va_bits,
        page_offset,
        kernel_half: VirtRange::from_end(VirtAddr::new(half), VirtAddr::new(0))?,
        user_half: VirtRange::new(VirtAddr::new(0), 1 << (c.va_bits - 1))?,
        regions: r,
        text: image.unwrap_or(kernel),
        image,
        image_start: text_start,
        image_region: "kernel",
        image_window: VirtRange::from_end(
            VirtAddr::new(START_KERNEL_MAP + LOAD_PHYSICAL_ADDR),
            VirtAddr::new(START_KERNEL_MAP + image_size),
        )?,
        image_align: SZ_2M,
        kaslr,
        kaslr_max: max_off,
        linear_region: "linear",
        ram_limit: linear_end - page_offset,
        highmem_capable: false,
        lowmem,
        highmem: 0,
        user_bytes: 1 << (c.va_bits - 1),
        modules_regions: &["modules"],
        reach: REACH,
    })
}

//! arm64: every granule and `VA_BITS` Linux builds (4K: 39, 48, 52; 16K: 36, 47,
//! 48, 52; 64K: 42, 48, 52), from `asm/memory.h` and `asm/fixmap.h`.
//!
//! Two profiles. [`Profile::Linux`] follows the 6.17 macros: vmemmap ends at
//! `-1 GiB`, PCI I/O sits 8 MiB above it and the fixmap tops out at `-8 MiB`,
//! its size counted from the fixmap enum ([`fixmap_pages`]).
//! [`Profile::LinuxDoc`] follows the formulas behind `Documentation/arch/arm64/memory.rst`
//! (before the 6.9 rework): `VMEMMAP_START = -(1 << (VA_BITS - VMEMMAP_SHIFT))`,
//! PCI I/O and the fixmap below it, separated by 8 MiB guards. Both share the
//! bottom of the kernel half: the linear map from `PAGE_OFFSET = -(1 << VA_BITS)`
//! up to `PAGE_END`, the KASAN shadow ending at `_PAGE_END(VA_BITS_MIN)`, then
//! 2 GiB of modules and vmalloc from `MODULES_END`, where the image is mapped.

use crate::addr::VirtAddr;
use crate::layout::plan::{check_image, check_ram, place_image, region, LayoutParts, Reach};
use crate::layout::region::RegionList;
use crate::layout::target::{Arm64Mode, Options, Profile, Target};
use crate::range::VirtRange;
use crate::sizes::{SZ_16M, SZ_1G, SZ_256M, SZ_2G, SZ_2M, SZ_32M, SZ_8M};
use crate::Error;

/// `sizeof(struct page)`, as a shift (`STRUCT_PAGE_MAX_SHIFT`).
const STRUCT_PAGE_SHIFT: u32 = 6;
/// `MAX_FDT_SIZE` (`asm/boot.h`).
pub const MAX_FDT_SIZE: u64 = SZ_2M;
/// `NR_CPUS` (`arch/arm64/Kconfig` default).
pub const NR_CPUS: u64 = 512;

/// The fixmap's pages, counted from `enum fixed_addresses` in 6.17's
/// `asm/fixmap.h` for a kernel built from `arch/arm64/configs/defconfig` (`KVM`
/// with `NR_CPUS` = 512 VNCR slots, `ACPI_APEI_GHES` without `ARM_SDE_INTERFACE`,
/// `UNMAP_KERNEL_AT_EL0` (default y) with `RELOCATABLE` (from `RANDOMIZE_BASE`)):
/// `(__end_of_permanent_fixed_addresses,
/// __end_of_fixed_addresses)`, whose pages make `FIXADDR_SIZE` and `FIXADDR_TOT_SIZE`.
pub const fn fixmap_pages(page_shift: u32) -> (u64, u64) {
    let page = 1u64 << page_shift;
    // FIX_HOLE = 0, FIX_FDT_END = 1, FIX_FDT = FIX_FDT_END + DIV_ROUND_UP(MAX_FDT_SIZE, PAGE_SIZE) + 1.
    let fix_fdt = 1 + MAX_FDT_SIZE.div_ceil(page) + 1;
    // FIX_EARLYCON_MEM_BASE, FIX_TEXT_POKE0, FIX_VNCR_END, FIX_VNCR = FIX_VNCR_END + NR_CPUS,
    // FIX_APEI_GHES_IRQ and _SEA (the two SDEI slots need ARM_SDE_INTERFACE, not in
    // defconfig), FIX_ENTRY_TRAMP_TEXT4..1: the next value ends the permanent ones.
    let permanent = fix_fdt + 2 + 1 + NR_CPUS + 2 + 4 + 1;
    // FIX_BTMAP_BEGIN = FIX_BTMAP_END + TOTAL_FIX_BTMAPS - 1 (7 slots of SZ_256K / PAGE_SIZE),
    // then FIX_PTE, FIX_PMD, FIX_PUD, FIX_P4D, FIX_PGD.
    let btmaps = 7 * ((256 << 10) / page);
    (permanent, permanent + btmaps - 1 + 5 + 1)
}

/// arm64 reach: `BL` spans ±128 MiB; module PLT veneers (`ADRP`+`ADD`+`BR`) ±4 GiB.
pub const REACH: Reach =
    Reach { direct_insn: "BL", direct: 128 << 20, far_insn: "ADRP veneer", far: 4 << 30 };

const fn page_end(va: u32) -> u64 {
    (1u64 << (va - 1)).wrapping_neg()
}

pub(crate) fn parts(mode: Arm64Mode, options: &Options, validate: bool) -> Result<LayoutParts, Error> {
    if options.vmalloc.is_some() {
        return Err(Error::UnsupportedOption {
            option: "--vmalloc",
            reason: "only arm32 sizes vmalloc at boot; this mode fixes it",
        });
    }
    let (page_shift, va_bits) = mode.geometry();
    let page = 1u64 << page_shift;
    // VA_BITS_MIN (asm/memory.h): 48 above 48 bits, 47 with 16K pages; VA_BITS otherwise.
    let va_min = match (va_bits > 48, page_shift) {
        (true, 14) => 47,
        (true, _) => 48,
        (false, _) => va_bits,
    };
    if options.profile == Profile::LinuxDoc && matches!(mode, Arm64Mode::K4Va52 | Arm64Mode::K16Va52) {
        return Err(Error::UnsupportedOption {
            option: "--profile linux-doc",
            reason: "memory.rst has no 4K/52-bit or 16K/52-bit (LPA2) table, LPA2 came in 6.9; use --profile linux",
        });
    }
    let kaslr = options.kaslr_for(Target::Arm64(mode))?;
    check_ram(options.ram, page)?;
    let page_offset = (1u64 << va_bits).wrapping_neg();
    let modules = page_end(va_min);
    let kimage = modules + SZ_2G;
    let (kasan, linear_end) = match options.kasan.scale_shift() {
        Some(scale) => {
            let start = modules - (1 << (va_bits - scale));
            (Some(start), start)
        }
        None => (None, modules),
    };
    if let Some(ram) = options.ram {
        if validate && ram > linear_end - page_offset {
            return Err(Error::RamTooLarge { ram, max: linear_end - page_offset, window: "linear map" });
        }
    }
    let (size, off) = (options.kernel_size, options.kaslr_offset);
    // kvas models KASLR only where the fixed modules window stays within ADRP reach.
    // An image of unknown size (0) still starts inside the window: at most 2 GiB - 2 MiB.
    let max_off = if kaslr { SZ_2G.saturating_sub(size.max(1)) & !(SZ_2M - 1) } else { 0 };
    check_image(validate, size, SZ_2G, "arm64 kernel image window", off, max_off)?;

    let mut r = RegionList::new();
    r.push(region("user", 0, 1 << va_bits, page, "user")?)?;
    r.push(region(
        "hole",
        1 << va_bits,
        page_offset,
        page,
        "non-canonical hole (TTBR selection by bit 55)",
    )?)?;
    r.push(region("linear", page_offset, linear_end, page, "kernel logical memory map")?)?;
    if let Some(start) = kasan {
        r.push(region("kasan", start, modules, page, "kasan shadow region")?)?;
    }
    r.push(region("modules", modules, kimage, page, "modules")?)?;
    // The image's 2 MiB-rounded end must stay below 2^64.
    let text_start = place_image(kimage, "KIMAGE_VADDR", off, size, (1 << 64) - u128::from(SZ_2M))?;
    let image = match size {
        0 => None,
        _ => Some(VirtRange::new(VirtAddr::new(text_start), size)?),
    };
    let vmalloc_start = if size == 0 && off == 0 {
        kimage
    } else {
        let end = (text_start + size).next_multiple_of(SZ_2M);
        r.push(region("kernel", kimage, end, SZ_2M, "kernel image (KIMAGE_VADDR + KASLR offset)")?)?;
        end
    };
    // An image (checked or not) must leave vmalloc some room below its end.
    let vmalloc_end = match options.profile {
        Profile::Linux => {
            SZ_1G.wrapping_neg() - (((modules - page_offset) >> page_shift) << STRUCT_PAGE_SHIFT)
        }
        Profile::LinuxDoc => (1u64 << (va_bits - (page_shift - STRUCT_PAGE_SHIFT))).wrapping_neg(),
    } - SZ_256M;
    if vmalloc_start >= vmalloc_end {
        return Err(Error::KernelTooLarge {
            size,
            max: vmalloc_end.saturating_sub(text_start).saturating_sub(SZ_2M),
            window:
                "arm64 space from KIMAGE_VADDR + KASLR offset up to vmalloc's end (vmalloc would be empty)",
        });
    }
    match options.profile {
        Profile::Linux => {
            let vmemmap_end = SZ_1G.wrapping_neg();
            let vmemmap_size = ((modules - page_offset) >> page_shift) << STRUCT_PAGE_SHIFT;
            let vmemmap_start = vmemmap_end - vmemmap_size;
            let pci_start = vmemmap_end + SZ_8M;
            let fixaddr_top = SZ_8M.wrapping_neg();
            r.push(region("vmalloc", vmalloc_start, vmemmap_start - SZ_256M, page, "vmalloc")?)?;
            r.push(region("vmemmap", vmemmap_start, vmemmap_end, page, "vmemmap")?)?;
            r.push(region("pci-io", pci_start, pci_start + SZ_16M, page, "PCI I/O space")?)?;
            // [FIXADDR_TOT_START, FIXADDR_TOP): every slot of the enum, boot-time ones included.
            let fix = fixaddr_top - (fixmap_pages(page_shift).1 << page_shift);
            r.push(region("fixmap", fix, fixaddr_top, page, "fixed mappings (top down)")?)?;
        }
        Profile::LinuxDoc => {
            let vmemmap_shift = page_shift - STRUCT_PAGE_SHIFT;
            let vmemmap_start = (1u64 << (va_bits - vmemmap_shift)).wrapping_neg();
            let vmemmap_end = vmemmap_start + ((modules - page_offset) >> vmemmap_shift);
            let pci_end = vmemmap_start - SZ_8M;
            let pci_start = pci_end - SZ_16M;
            let fixaddr_top = vmemmap_start - SZ_32M;
            let vmalloc_end = vmemmap_start - SZ_256M;
            r.push(region("vmalloc", vmalloc_start, vmalloc_end, page, "vmalloc")?)?;
            r.push(region("fixmap", vmalloc_end, fixaddr_top, page, "fixed mappings (top down)")?)?;
            r.push(region("guard", fixaddr_top, pci_start, page, "guard region")?)?;
            r.push(region("pci-io", pci_start, pci_end, page, "PCI I/O space")?)?;
            r.push(region("guard", pci_end, vmemmap_start, page, "guard region")?)?;
            r.push(region("vmemmap", vmemmap_start, vmemmap_end, page, "vmemmap")?)?;
            r.push(region("guard", vmemmap_end, 0, page, "guard region")?)?;
        }
    }
    let lowmem = match options.ram {
        // RAM beyond the window is the checker's to report; lowmem is what is mapped.
        Some(ram) => Some(VirtRange::new(VirtAddr::new(page_offset), ram.min(linear_end - page_offset))?),
        None => None,
    };
    Ok(LayoutParts {
        target: Target::Arm64(mode),
        options: *options,
        va_bits,
        page_offset,
        kernel_half: VirtRange::from_end(VirtAddr::new(page_offset), VirtAddr::new(0))?,
        user_half: VirtRange::new(VirtAddr::new(0), 1 << va_bits)?,
        regions: r,
        text: image.unwrap_or(VirtRange::new(VirtAddr::new(text_start), 1)?),
        image,
        image_start: text_start,
        image_region: "kernel",
        image_window: VirtRange::new(VirtAddr::new(kimage), SZ_2G)?,
        image_align: SZ_2M,
        kaslr,
        kaslr_max: max_off,
        linear_region: "linear",
        ram_limit: linear_end - page_offset,
        highmem_capable: false,
        lowmem,
        highmem: 0,
        user_bytes: 1 << va_bits,
        modules_regions: &["modules"],
        reach: REACH,
    })
}

//! arm64: 4K/48-bit, 64K/52-bit and 4K/52-bit (LPA2), from `asm/memory.h`.
//!
//! Two profiles. [`Profile::Linux`] follows the 6.17 macros: vmemmap ends at
//! `-1 GiB`, PCI I/O sits 8 MiB above it and the fixmap tops out at `-8 MiB`.
//! [`Profile::LinuxDoc`] follows the formulas behind `Documentation/arch/arm64/memory.rst`
//! (before the 6.9 rework): `VMEMMAP_START = -(1 << (VA_BITS - VMEMMAP_SHIFT))`,
//! PCI I/O and the fixmap below it, separated by 8 MiB guards. Both share the
//! bottom of the kernel half: the linear map from `PAGE_OFFSET = -(1 << VA_BITS)`
//! up to `PAGE_END`, the KASAN shadow ending at `_PAGE_END(VA_BITS_MIN)`, then
//! 2 GiB of modules and vmalloc from `MODULES_END`, where the image is mapped.

use crate::layout::plan::{check_image, check_ram, region, LayoutParts, Reach};
use crate::layout::region::{RegionList, Span};
use crate::layout::target::{Arm64Mode, Options, Profile, Target};
use crate::Error;

const SZ_2M: u64 = 2 << 20;
const SZ_8M: u64 = 8 << 20;
const SZ_16M: u64 = 16 << 20;
const SZ_32M: u64 = 32 << 20;
const SZ_256M: u64 = 256 << 20;
const SZ_1G: u64 = 1 << 30;
const SZ_2G: u64 = 2 << 30;
/// `sizeof(struct page)`, as a shift (`STRUCT_PAGE_MAX_SHIFT`).
const STRUCT_PAGE_SHIFT: u32 = 6;
/// The fixmap's size in the 6.17 layout: config-dependent in Linux (FDT slot,
/// early-ioremap slots, per-CPU entries); kvas assumes 6 MiB.
pub const FIXADDR_SIZE: u64 = 6 << 20;

/// arm64 reach: `BL` spans ±128 MiB; module PLT veneers (`ADRP`+`ADD`+`BR`) ±4 GiB.
pub const REACH: Reach =
    Reach { direct_insn: "BL", direct: 128 << 20, far_insn: "ADRP veneer", far: 4 << 30 };

const fn geometry(mode: Arm64Mode) -> (u32, u32) {
    match mode {
        Arm64Mode::K4Va48 => (12, 48),
        Arm64Mode::K64Va52 => (16, 52),
        Arm64Mode::K4Va52 => (12, 52),
    }
}

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
    let (page_shift, va_bits) = geometry(mode);
    let page = 1u64 << page_shift;
    let va_min = if va_bits > 48 { 48 } else { va_bits };
    if options.profile == Profile::LinuxDoc && mode == Arm64Mode::K4Va52 {
        return Err(Error::UnsupportedOption {
            option: "--profile linux-doc",
            reason: "memory.rst has no 4K/52-bit (LPA2) table; use --profile linux",
        });
    }
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
    let max_off = SZ_2G.saturating_sub(size) & !(SZ_2M - 1);
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
    let wraps = Error::RangeWraps { start: kimage, len: off.saturating_add(size) };
    let text_start = kimage.checked_add(off).ok_or(wraps)?;
    let image = match size {
        0 => None,
        _ => Some(Span::from_size(text_start, size)?),
    };
    let vmalloc_start = if size == 0 && off == 0 {
        kimage
    } else {
        let end = text_start.checked_add(size + SZ_2M - 1).ok_or(wraps)? & !(SZ_2M - 1);
        r.push(region("kernel", kimage, end, SZ_2M, "kernel image (KIMAGE_VADDR + KASLR offset)")?)?;
        end
    };
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
            let fix = fixaddr_top - FIXADDR_SIZE;
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
        Some(ram) => Some(Span::from_size(page_offset, ram)?),
        None => None,
    };
    Ok(LayoutParts {
        target: Target::Arm64(mode),
        options: *options,
        va_bits,
        page_offset,
        kernel_half: Span::from_end(page_offset, 0)?,
        user_half: Span::from_size(0, 1 << va_bits)?,
        regions: r,
        text: image.unwrap_or(Span::from_size(text_start, 1)?),
        image,
        image_start: text_start,
        image_region: "kernel",
        image_window: Span::from_size(kimage, SZ_2G)?,
        image_align: SZ_2M,
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

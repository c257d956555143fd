//! arm32 (classic MMU): `CONFIG_VMSPLIT_*` splits, lowmem, highmem and the vmalloc budget.
//!
//! Below `PAGE_OFFSET`: modules from `PAGE_OFFSET - 16 MiB` and the pkmap in the
//! last 2 MiB (`PKMAP_BASE = PAGE_OFFSET - PMD_SIZE`, with HIGHMEM). Above it,
//! lowmem runs up to a ceiling that leaves the default 240 MiB of vmalloc plus the
//! 8 MiB `VMALLOC_OFFSET` guard below `VMALLOC_END = 0xff800000`; RAM above the
//! ceiling is highmem. With 3G/1G that is `0xf0000000`: 768 MiB of lowmem.
//!
//! 4G/4G is kvas's model of a split that is not in mainline, in seed 001's shape
//! ("3840MB for either user or linear map plus 256MB for vmalloc, including the
//! kernel"): the top of the space, from the lowmem ceiling (`0xf0000000` with the
//! default vmalloc) up, is shared; user space has everything below it in an
//! address space of its own, and the kernel's own address space puts
//! `PAGE_OFFSET` at [`G4G4_PAGE_OFFSET`] (16 MiB), the modules and the pkmap below
//! it as in every split (the first 2 MiB stay unmapped: a NULL trap), and lowmem
//! from there to the ceiling: 3824 MiB, no highmem below that.

use crate::addr::VirtAddr;
use crate::layout::plan::{check_ram, region, LayoutParts, Reach};
use crate::layout::region::RegionList;
use crate::layout::target::{Arm32Split, Kasan, Options, Target};
use crate::range::VirtRange;
use crate::sizes::{PAGE_SIZE, SZ_1M};
use crate::Error;

const PMD_SIZE: u64 = 2 * SZ_1M;
/// `VMALLOC_END`.
pub const VMALLOC_END: u64 = 0xff80_0000;
/// `VMALLOC_OFFSET`: the guard between lowmem and vmalloc.
pub const VMALLOC_OFFSET: u64 = 8 * SZ_1M;
/// The default vmalloc size (`vmalloc=`, kvas's `--vmalloc`, changes it).
pub const VMALLOC_DEFAULT: u64 = 240 * SZ_1M;
/// `TEXT_OFFSET`: the kernel's `_text` above `PAGE_OFFSET`.
pub const TEXT_OFFSET: u64 = 0x8000;

/// arm32 reach: `BL` spans ±32 MiB; module PLTs (`CONFIG_ARM_MODULE_PLTS`) reach anywhere.
pub const REACH: Reach = Reach { direct_insn: "BL", direct: 32 << 20, far_insn: "module PLT", far: 4 << 30 };

/// `PAGE_OFFSET` of the 4G/4G model: 16 MiB, room for the modules and the pkmap below.
pub const G4G4_PAGE_OFFSET: u64 = 16 * SZ_1M;

/// `CONFIG_PAGE_OFFSET` and `CONFIG_KASAN_SHADOW_OFFSET` of a split (4G/4G has
/// no KASAN: its offset is Kconfig's "otherwise" value).
pub const fn split_consts(split: Arm32Split) -> (u64, u64) {
    match split {
        Arm32Split::G4G4 => (G4G4_PAGE_OFFSET, 0xffff_ffff),
        Arm32Split::G3 => (0xc000_0000, 0x9f00_0000),
        Arm32Split::G3Opt => (0xb000_0000, 0x8f00_0000),
        Arm32Split::G2 => (0x8000_0000, 0x5f00_0000),
        Arm32Split::G1 => (0x4000_0000, 0x1f00_0000),
    }
}

pub(crate) fn parts(split: Arm32Split, options: &Options, validate: bool) -> Result<LayoutParts, Error> {
    if options.kasan == Kasan::SwTags {
        return Err(Error::UnsupportedOption {
            option: "--kasan sw-tags",
            reason: "arm32 has only generic KASAN",
        });
    }
    if options.kaslr_offset != 0 {
        return Err(Error::UnsupportedOption { option: "--kaslr-offset", reason: "arm32 has no KASLR" });
    }
    if split == Arm32Split::G4G4 && options.kasan != Kasan::None {
        return Err(Error::UnsupportedOption {
            option: "--kasan",
            reason: "kvas's arm32 4G/4G model leaves no room below the modules for the KASAN shadow",
        });
    }
    let kaslr = options.kaslr_for(Target::Arm32(split))?;
    check_ram(options.ram, PAGE_SIZE)?;
    let (po, kasan_offset) = split_consts(split);
    let modules = po - 16 * SZ_1M;
    let pkmap = po - PMD_SIZE;
    // vmalloc= is clamped by Linux to [16 MiB, VMALLOC_END - (PAGE_OFFSET + 32 MiB + VMALLOC_OFFSET)];
    // kvas refuses a value outside instead of clamping it silently.
    let vmalloc = options.vmalloc.unwrap_or(VMALLOC_DEFAULT);
    let vmalloc_max = VMALLOC_END - (po + 32 * SZ_1M + VMALLOC_OFFSET);
    if vmalloc < 16 * SZ_1M || vmalloc > vmalloc_max {
        return Err(Error::InvalidOption {
            option: "--vmalloc",
            value: vmalloc,
            reason: "must lie in [16 MiB, VMALLOC_END - (PAGE_OFFSET + 32 MiB + VMALLOC_OFFSET)]",
        });
    }
    if vmalloc % PMD_SIZE != 0 {
        return Err(Error::Misaligned { what: "--vmalloc", value: vmalloc, align: PMD_SIZE });
    }
    let ceiling = VMALLOC_END - vmalloc - VMALLOC_OFFSET;
    let lowmem_max = ceiling - po;
    let (lowmem_size, highmem) = match options.ram {
        Some(ram) if ram > 1 << 32 && validate => {
            return Err(Error::RamTooLarge { ram, max: 1 << 32, window: "arm32 physical address space" })
        }
        Some(ram) if ram > lowmem_max => (lowmem_max, ram - lowmem_max),
        Some(ram) => (ram, 0),
        None => (lowmem_max, 0),
    };
    // The image starts TEXT_OFFSET into lowmem: lowmem must hold that and at
    // least one page of it, whatever the options (plan_unchecked too).
    let lowmem_min = TEXT_OFFSET + PAGE_SIZE;
    if lowmem_size < lowmem_min {
        return Err(Error::RamTooSmall {
            ram: lowmem_size,
            min: lowmem_min,
            what: "arm32 lowmem (the kernel's _text lies TEXT_OFFSET 0x8000 into it)",
        });
    }
    if validate && options.kernel_size.saturating_add(TEXT_OFFSET) > lowmem_size {
        return Err(Error::KernelTooLarge {
            size: options.kernel_size,
            max: lowmem_size - TEXT_OFFSET,
            window: "lowmem",
        });
    }
    let high_memory = po + lowmem_size;
    let vmalloc_start = (high_memory + VMALLOC_OFFSET) & !(VMALLOC_OFFSET - 1);

    let mut r = RegionList::new();
    let user_end = match options.kasan {
        Kasan::None => modules,
        _ => {
            let end = kasan_offset + (1 << 29);
            let start = (end >> 3) + kasan_offset;
            r.push(region("kasan", start, end, PAGE_SIZE, "KASAN shadow")?)?;
            start
        }
    };
    // 4G/4G: user space owns everything below the shared top in its own space.
    let (user_bytes, modules) = if split == Arm32Split::G4G4 {
        r.push(region(
            "null-trap",
            0,
            PMD_SIZE,
            PMD_SIZE,
            "not mapped in the kernel's address space: a NULL trap",
        )?)?;
        (ceiling, PMD_SIZE)
    } else {
        r.push(region("user", 0, user_end, PAGE_SIZE, "user")?)?;
        (user_end, modules)
    };
    r.push(region("modules", modules, pkmap, PMD_SIZE, "modules")?)?;
    r.push(region("pkmap", pkmap, po, PMD_SIZE, "pkmap (highmem kmap)")?)?;
    r.push(region("lowmem", po, high_memory, PAGE_SIZE, "lowmem: linear map of RAM and the kernel")?)?;
    r.push(region(
        "vmalloc",
        vmalloc_start,
        VMALLOC_END,
        PAGE_SIZE,
        "vmalloc/ioremap (PCI I/O at fee00000)",
    )?)?;
    r.push(region("fdt", 0xff80_0000, 0xffc0_0000, PAGE_SIZE, "permanent DT blob mapping")?)?;
    r.push(region("guard", 0xffc0_0000, 0xffc8_0000, PAGE_SIZE, "guard")?)?;
    r.push(region("fixmap", 0xffc8_0000, 0xfff0_0000, PAGE_SIZE, "fixmap")?)?;
    // Documentation/arch/arm/memory.rst, top of the space. Its overlapping rows
    // (the XScale cache flush area over both TCMs, ARMv6 cache aliasing over the
    // last two rows) are named in the descriptions, so regions stay disjoint.
    r.push(region(
        "itcm",
        0xfffe_0000,
        0xfffe_8000,
        PAGE_SIZE,
        "ITCM (XScale: cache flush area fffe0000-fffeffff)",
    )?)?;
    r.push(region(
        "dtcm",
        0xfffe_8000,
        0xffff_0000,
        PAGE_SIZE,
        "DTCM (XScale: cache flush area fffe0000-fffeffff)",
    )?)?;
    r.push(region("vectors", 0xffff_0000, 0xffff_1000, PAGE_SIZE, "vector page")?)?;
    r.push(region(
        "reserved",
        0xffff_1000,
        0xffff_8000,
        PAGE_SIZE,
        "reserved (ARMv6+: cache aliasing from ffff4000)",
    )?)?;
    r.push(region(
        "copy-user",
        0xffff_8000,
        1 << 32,
        PAGE_SIZE,
        "copy_user_page / clear_user_page use (ARMv6+: cache aliasing)",
    )?)?;
    let image = match options.kernel_size {
        0 => None,
        size if size > (1 << 32) - (po + TEXT_OFFSET) => {
            return Err(Error::InvalidOption {
                option: "--kernel-size",
                value: size,
                reason: "the image would run past the end of the 32-bit address space",
            })
        }
        size => Some(VirtRange::new(VirtAddr::new(po + TEXT_OFFSET), size)?),
    };
    let (half_start, user_half_end) =
        if split == Arm32Split::G4G4 { (0, ceiling) } else { (user_end, user_end) };
    Ok(LayoutParts {
        target: Target::Arm32(split),
        options: *options,
        va_bits: 32,
        page_offset: po,
        kernel_half: VirtRange::from_end(VirtAddr::new(half_start), VirtAddr::new(1 << 32))?,
        user_half: VirtRange::from_end(VirtAddr::new(0), VirtAddr::new(user_half_end))?,
        regions: r,
        text: image.unwrap_or(VirtRange::new(VirtAddr::new(po + TEXT_OFFSET), 1)?),
        image,
        image_start: po + TEXT_OFFSET,
        image_region: "lowmem",
        image_window: VirtRange::from_end(VirtAddr::new(po + TEXT_OFFSET), VirtAddr::new(high_memory))?,
        image_align: PAGE_SIZE,
        kaslr,
        kaslr_max: 0,
        linear_region: "lowmem",
        ram_limit: 1 << 32,
        highmem_capable: true,
        lowmem: Some(VirtRange::new(VirtAddr::new(po), lowmem_size)?),
        highmem,
        user_bytes,
        modules_regions: &["modules"],
        reach: REACH,
    })
}

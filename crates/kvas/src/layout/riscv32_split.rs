//! The kvas riscv32 kernel's layout, one per `vmsplit=`: seed 001's shape.
//!
//! Seed 001 proposes "3840MB for either user or linear map plus 256MB for vmalloc,
//! including the kernel". So the top 256 MiB ([`SHARED_START`] up) is the same in
//! every split and, under 4G/4G, in both address spaces: the kernel image linked at
//! [`KERNEL_LINK_ADDR`] (outside the linear map, so one image serves every split),
//! vmalloc (modules and BPF too: `auipc+jalr` reaches all 4 GiB), the pkmap and the
//! fixmap. Below it the split decides:
//!
//! ```text
//!  split  user space (TASK_SIZE)     kernel's linear map (lowmem)
//!  3g     0x00000000-0xbfffffff      0xc0000000-0xefffffff   768 MiB
//!  2g     0x00000000-0x7fffffff      0x80000000-0xefffffff  1792 MiB
//!  1g     0x00000000-0x3fffffff      0x40000000-0xefffffff  2816 MiB
//!  4g4g   0x00000000-0xefffffff      0x00400000-0xefffffff  3836 MiB  (own address space,
//!         (own address space)        first 4 MiB unmapped: a NULL trap)
//!
//!  f0000000 +---------------------------+ KERNEL_LINK_ADDR = SHARED_START
//!           | kernel image              |  _end rounded up to 4 MiB (PGDIR_SIZE)
//!           +---------------------------+ VMALLOC_START
//!           | vmalloc / ioremap,        |  244 MiB minus the image
//!           | modules, BPF              |
//!  ff400000 +---------------------------+ PKMAP_BASE
//!           | pkmap (kmap of highmem)   |  4 MiB: LAST_PKMAP = 1024 pages, one table
//!  ff800000 +---------------------------+ FIXADDR_START
//!           | fixmap (kmap_local, FDT)  |  8 MiB - 4 KiB
//!  fffff000 +---------------------------+ FIXADDR_TOP: the last page is never
//!           : (ERR_PTR values)          :  mapped
//! ```
//!
//! RAM beyond lowmem is highmem, reached through the pkmap and the fixmap's kmap
//! slots, up to Sv32's 34-bit physical addresses. The image's share of the address
//! space and of the top 256 MiB is [`image_share`] (seed 001: 0.1% and 1.5%).

use crate::addr::VirtAddr;
use crate::layout::plan::{check_ram, region, LayoutParts};
use crate::layout::region::RegionList;
use crate::layout::riscv32::{PHYS_LIMIT, REACH};
use crate::layout::target::{Options, Target, Vmsplit};
use crate::range::VirtRange;
use crate::sizes::{PAGE_SIZE, SZ_4M};
use crate::Error;

/// `PGDIR_SIZE`: what one Sv32 root entry maps (a 4 MiB megapage).
pub const PGDIR_SIZE: u64 = SZ_4M;
/// The start of the top 256 MiB that every split and every address space share.
pub const SHARED_START: u64 = 0xf000_0000;
/// The size of that shared top: seed 001's "256MB for vmalloc, including the kernel".
pub const SHARED_SIZE: u64 = (1 << 32) - SHARED_START;
/// Where the kvas riscv32 kernel is linked: the bottom of the shared top.
pub const KERNEL_LINK_ADDR: u64 = SHARED_START;
/// `PKMAP_BASE`: 1024 kmap slots, one second-level table.
pub const PKMAP_BASE: u64 = 0xff40_0000;
/// `FIXADDR_START`.
pub const FIXADDR_START: u64 = 0xff80_0000;
/// `FIXADDR_TOP`: the page above is never mapped (ERR_PTR values point there).
pub const FIXADDR_TOP: u64 = 0xffff_f000;

/// The bytes of the shared top an image of `size` bytes takes: `_end` rounded up
/// to a 4 MiB megapage (one megapage when the size is not known).
pub const fn image_footprint(size: u64) -> u64 {
    let size = if size == 0 { 1 } else { size };
    size.div_ceil(PGDIR_SIZE) * PGDIR_SIZE
}

/// Seed 001's figures for an image of `size` bytes, in millionths: the share of the
/// 4 GiB address space and of the shared top 256 MiB ("vmalloc, including the
/// kernel") its footprint takes. A 4 MiB image: (976, 15625), 0.1% and 1.56%.
pub const fn image_share(size: u64) -> (u64, u64) {
    let fp = image_footprint(size);
    (fp * 1_000_000 / (1 << 32), fp * 1_000_000 / SHARED_SIZE)
}

/// The kvas riscv32 layout of `split`; `riscv32::parts` has refused what riscv32
/// lacks (KASAN, KASLR, `--vmalloc`).
pub(crate) fn parts(split: Vmsplit, options: &Options, validate: bool) -> Result<LayoutParts, Error> {
    check_ram(options.ram, PAGE_SIZE)?;
    let po = split.page_offset();
    let window = SHARED_START - po;
    let lowmem_size = match options.ram {
        Some(ram) if ram > PHYS_LIMIT && validate => {
            return Err(Error::RamTooLarge { ram, max: PHYS_LIMIT, window: "Sv32 physical address space" })
        }
        Some(ram) => ram.min(window),
        None => window,
    };
    let highmem = options.ram.map_or(0, |ram| ram - lowmem_size);
    let size = options.kernel_size;
    // The image leaves at least one megapage of vmalloc below the pkmap.
    let image_max = PKMAP_BASE - PGDIR_SIZE - KERNEL_LINK_ADDR;
    if size > (1 << 32) - KERNEL_LINK_ADDR {
        return Err(Error::InvalidOption {
            option: "--kernel-size",
            value: size,
            reason: "the image would run past the end of the 32-bit address space",
        });
    }
    if validate && size > image_max {
        return Err(Error::KernelTooLarge {
            size,
            max: image_max,
            window: "shared top 256 MiB (the image, and at least 4 MiB of vmalloc)",
        });
    }
    let kernel_end = KERNEL_LINK_ADDR + image_footprint(size);
    let lowmem = VirtRange::new(VirtAddr::new(po), lowmem_size)?;
    let mut r = RegionList::new();
    let (user_end, half_start) = match split {
        Vmsplit::G4G4 => {
            r.push(region(
                "null-trap",
                0,
                po,
                PGDIR_SIZE,
                "not mapped in the kernel's address space: a NULL trap",
            )?)?;
            (SHARED_START, 0)
        }
        _ => {
            r.push(region("user", 0, po, PGDIR_SIZE, "user-space virtual memory, different per mm")?)?;
            (po, po)
        }
    };
    let lowmem_desc = match split {
        Vmsplit::G4G4 => "lowmem: linear map of RAM, in the kernel's own address space",
        _ => "lowmem: linear map of RAM",
    };
    r.push(region("lowmem", po, lowmem.end().as_u64(), PAGE_SIZE, lowmem_desc)?)?;
    r.push(region(
        "kernel",
        KERNEL_LINK_ADDR,
        kernel_end,
        PGDIR_SIZE,
        "kernel image, the same in every split (4G/4G: and its trampoline)",
    )?)?;
    if kernel_end < PKMAP_BASE {
        r.push(region(
            "vmalloc",
            kernel_end,
            PKMAP_BASE,
            PGDIR_SIZE,
            "vmalloc/ioremap space, modules, BPF",
        )?)?;
    }
    r.push(region("pkmap", PKMAP_BASE, FIXADDR_START, PGDIR_SIZE, "pkmap: kmap() of highmem pages")?)?;
    r.push(region(
        "fixmap",
        FIXADDR_START,
        FIXADDR_TOP,
        PAGE_SIZE,
        "fixmap: kmap_local slots, FDT, early windows",
    )?)?;
    let image = match size {
        0 => None,
        size => Some(VirtRange::new(VirtAddr::new(KERNEL_LINK_ADDR), size)?),
    };
    Ok(LayoutParts {
        target: Target::Riscv32,
        options: *options,
        va_bits: 32,
        page_offset: po,
        kernel_half: VirtRange::from_end(VirtAddr::new(half_start), VirtAddr::new(1 << 32))?,
        user_half: VirtRange::from_end(VirtAddr::new(0), VirtAddr::new(user_end))?,
        regions: r,
        text: image.unwrap_or(VirtRange::new(VirtAddr::new(KERNEL_LINK_ADDR), 1)?),
        image,
        image_start: KERNEL_LINK_ADDR,
        image_region: "kernel",
        image_window: VirtRange::from_end(
            VirtAddr::new(KERNEL_LINK_ADDR),
            VirtAddr::new(PKMAP_BASE - PGDIR_SIZE),
        )?,
        image_align: PGDIR_SIZE,
        kaslr: false,
        kaslr_max: 0,
        linear_region: "lowmem",
        ram_limit: PHYS_LIMIT,
        highmem_capable: true,
        lowmem: Some(lowmem),
        highmem,
        user_bytes: user_end,
        modules_regions: &["vmalloc"],
        reach: REACH,
    })
}

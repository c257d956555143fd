//! What every kvas address space maps besides the linear map: the image at its link address
//! with W^X (text RX, rodata R, data and bss RW), the fixmap (device page, window slot, DTB
//! window, mm/fixmap.rs), and, for the early tables only, the identity trampoline. The early
//! and the final tables both come from here, each through its own view of physical memory.

use core::fmt;

use kvas::arch::riscv::Riscv;
use kvas::layout::Riscv64Layout;
use kvas::paging::{Attrs, FrameAllocator, PageTable, PhysMemory};
use kvas::{Error, PageSize, PhysAddr, VirtAddr};
use kvas_kernel_core::bootinfo::MAX_FDT_SIZE;
use kvas_kernel_core::DtbPlace;

use super::fixmap::{FIX_FDT_OFFSET, FIX_FDT_SIZE, SLOT_OFFSET};
use crate::boot::KERNEL_LINK_ADDR;
use crate::image::Sections;

/// What [`map_kernel`] maps.
pub struct KernelMaps<'a> {
    /// Physical load address of the image.
    pub load_pa: u64,
    /// The image's sections.
    pub sections: &'a Sections,
    /// The layout (for the fixmap).
    pub layout: &'a Riscv64Layout,
    /// The finisher's physical address, if any.
    pub finisher: Option<u64>,
    /// The device tree.
    pub dtb: DtbPlace,
    /// Whether to identity-map the text (the early tables' trampoline).
    pub trampoline: bool,
}

/// Why the image could not be mapped.
pub enum MapError {
    /// The engine refused.
    Paging(Error),
    /// The DTB is larger than the fixmap window.
    DtbTooLarge(u64),
}

impl From<Error> for MapError {
    fn from(e: Error) -> Self {
        MapError::Paging(e)
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Paging(e) => write!(f, "{e}"),
            MapError::DtbTooLarge(size) => {
                write!(f, "the DTB is {size:#x} bytes, larger than the fixmap window's {MAX_FDT_SIZE:#x}")
            }
        }
    }
}

/// Maps the image, the fixmap and (if asked) the trampoline into `t` (see the module doc).
pub fn map_kernel<M: PhysMemory>(
    t: &mut PageTable<Riscv, M>,
    k: &KernelMaps,
    frames: &mut impl FrameAllocator,
) -> Result<(), MapError> {
    let s = k.sections;
    let mut map = |va: u64, pa: u64, len: u64, attrs: Attrs| -> Result<(), Error> {
        t.map_range(VirtAddr::new(va), PhysAddr::new(pa)?, len, attrs, PageSize::Size2M, frames)
            .map(|f| f.ignore())
    };
    let image = |off: u64| (KERNEL_LINK_ADDR + off, k.load_pa + off);
    let (va, pa) = image(0);
    map(va, pa, s.text_end, Attrs::KERNEL_RX)?;
    let (va, pa) = image(s.rodata_start);
    map(va, pa, s.rodata_end - s.rodata_start, Attrs::KERNEL_RO)?;
    let (va, pa) = image(s.data_start);
    map(va, pa, s.end - s.data_start, Attrs::KERNEL_RW)?;
    if k.trampoline {
        map(k.load_pa, k.load_pa, s.text_end, Attrs::KERNEL_RX)?;
    }
    let fixmap = k.layout.fixmap().start();
    if let Some(fin) = k.finisher {
        map(fixmap, fin & !0xfff, 0x1000, Attrs::KERNEL_RW)?;
    }
    if k.dtb.size > MAX_FDT_SIZE {
        return Err(MapError::DtbTooLarge(k.dtb.size));
    }
    // The window slot (fixmap.rs), first aliasing a page of .data until its first use.
    let (_, data_pa) = image(s.data_start);
    map(fixmap + SLOT_OFFSET, data_pa, 0x1000, Attrs::KERNEL_RW)?;
    let dtb_base = k.dtb.base & !(MAX_FDT_SIZE - 1);
    map(fixmap + FIX_FDT_OFFSET, dtb_base, FIX_FDT_SIZE, Attrs::KERNEL_RO)?;
    Ok(())
}

//! The early page tables, built with the MMU off by the kvas engine through the identity
//! view, from the frame pool in .bss (mm/frames.rs): the image at its link address with W^X,
//! its text identity-mapped (the trampoline for the `satp` write), and the fixmap (the
//! finisher's page, the window slot, the DTB window): mm/image_map.rs, shared with the final
//! tables.

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::layout::{Kasan, Riscv64Layout};
use kvas::paging::{OffsetMemory, PageTable};
use kvas::PhysAddr;
use kvas_kernel_core::DtbPlace;

use super::probe::Probe;
use super::KERNEL_LINK_ADDR;
use crate::image::Sections;
use crate::mm::frames::EarlyFrames;
use crate::mm::image_map::{map_kernel, KernelMaps, MapError};

/// The early tables, ready for the switch.
pub struct EarlyTables {
    /// Their root (physical).
    pub root: PhysAddr,
    /// The `satp` value that turns them on.
    pub satp: u64,
}

/// kvas::layout's plan for the image in `mode` (its fixmap and windows).
pub fn layout(mode: Mode, sections: &Sections) -> Result<Riscv64Layout, kvas::Error> {
    Riscv64Layout::from_image(mode, Kasan::None, KERNEL_LINK_ADDR, KERNEL_LINK_ADDR + sections.end, None)
}

/// Builds the early tables for `probe`'s mode (MMU off).
pub fn build(
    probe: &Probe,
    load_pa: u64,
    sections: &Sections,
    finisher: Option<u64>,
    dtb: DtbPlace,
    frames: &mut EarlyFrames,
) -> Result<EarlyTables, MapError> {
    // SAFETY: the MMU is off: every frame is at its physical address.
    let identity = unsafe { OffsetMemory::new(0) };
    let mut t = PageTable::new(Riscv::new(probe.mode), identity, frames)?;
    let layout = layout(probe.mode, sections)?;
    let k = KernelMaps { load_pa, sections, layout: &layout, finisher, dtb, trampoline: true };
    map_kernel(&mut t, &k, frames)?;
    let root = t.root();
    let satp = Satp { mode: Some(probe.mode), asid: 0, root }.encode()?;
    Ok(EarlyTables { root, satp })
}

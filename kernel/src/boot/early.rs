//! The early page tables, built with the MMU off through the identity view, from the frame
//! pool in .bss (mm/frames.rs), by kvas::kspace's one builder (`KernelSpec::early`,
//! `kspace::build_early`): the image at its link address plus the KASLR offset with W^X, its
//! text identity-mapped (the trampoline for the `satp` write), and the fixmap (the finisher's
//! page, the window slot, the DTB window).

use kvas::arch::riscv::{Mode, Satp};
use kvas::kspace::{self, FixmapSpec, KernelSpec};
use kvas::layout::{Kasan, Riscv64Layout};
use kvas::paging::OffsetMemory;
use kvas::phys::PhysRange;
use kvas::{Error, PhysAddr};
use kvas_kernel_core::DtbPlace;

use super::KERNEL_LINK_ADDR;
use crate::image::Sections;
use crate::mm::frames::EarlyFrames;

/// The early tables, ready for the switch.
pub struct EarlyTables {
    /// Their root (physical).
    pub root: PhysAddr,
    /// The `satp` value that turns them on.
    pub satp: u64,
}

/// kvas::layout's plan for the image in `mode` at `KERNEL_LINK_ADDR + kaslr_offset` (its
/// fixmap and windows): the layout `KernelSpec::new(..).with_kaslr_offset(..)` plans.
pub fn layout(mode: Mode, sections: &Sections, kaslr_offset: u64) -> Result<Riscv64Layout, Error> {
    let start = KERNEL_LINK_ADDR + kaslr_offset;
    Riscv64Layout::from_image(mode, Kasan::None, start, start + sections.end, None)
}

/// What the fixmap maps: the finisher's page, the window slot, the DTB window. The same in
/// the early and the final tables.
pub fn fixmap(finisher: Option<u64>, dtb: DtbPlace) -> Result<FixmapSpec, Error> {
    Ok(FixmapSpec {
        device: finisher.map(PhysAddr::new).transpose()?,
        window_slot: true,
        dtb: Some(PhysRange::new(dtb.base, dtb.size)?),
    })
}

/// Builds the early tables for `mode` (MMU off), the image `kaslr_offset` above its link
/// address.
pub fn build(
    mode: Mode,
    load_pa: u64,
    kaslr_offset: u64,
    sections: &Sections,
    finisher: Option<u64>,
    dtb: DtbPlace,
    frames: &mut EarlyFrames,
) -> Result<EarlyTables, Error> {
    let spec = KernelSpec::early(mode, sections.image(load_pa)?, fixmap(finisher, dtb)?)?
        .with_kaslr_offset(kaslr_offset)?;
    // SAFETY: the MMU is off: every frame is at its physical address.
    let identity = unsafe { OffsetMemory::new(0) };
    let (t, _built) = kspace::build_early(&spec, identity, frames)?;
    let root = t.root();
    let satp = Satp { mode: Some(mode), asid: 0, root }.encode()?;
    Ok(EarlyTables { root, satp })
}

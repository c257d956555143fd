//! Where the kernel's address space is built: the final page tables, with the early tables
//! live, by kvas::kspace's one builder (`KernelSpec::new`, the same function `kvas map`
//! calls), for the memory map kvas::phys read from the device tree:
//!
//! - the image with W^X, at its link address plus the KASLR offset;
//! - the fixmap (the finisher's page, the window slot, the DTB window), as in the early
//!   tables, without the trampoline;
//! - the linear map of all RAM, with the linear aliases of the image's text *and* rodata
//!   read-only (as Linux's `mark_rodata_ro` makes `lm_alias(rodata)` read-only);
//! - the pinned tables right below the root over vmalloc and the modules window (Linux's
//!   `pgtable_cache_init`): the root's kernel half never changes after boot.
//!
//! Their frames come from kvas::phys's early allocator (free RAM inside the linear window);
//! not yet mapped, they are reached through the fixmap window (mm/fixmap.rs). The result is
//! an [`Inactive`] space; [`Inactive::activate`] turns it on.

use core::fmt;

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::kspace::{self, KernelSpec, KernelTables, Rules};
use kvas::paging::{OffsetMemory, PageTable};
use kvas::phys::MemoryMap;
use kvas::Error;
use kvas_kernel_core::DtbPlace;

use super::fixmap::{slot_va, FixmapWindow};
use super::kspace::Inactive;
use crate::boot::early;
use crate::image::Sections;

/// A failed step of building the kernel space.
pub struct MemError {
    step: &'static str,
    err: Error,
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memory init: {}: {}", self.step, self.err)
    }
}

fn step(step: &'static str) -> impl Fn(Error) -> MemError {
    move |err| MemError { step, err }
}

/// What the space maps besides RAM.
pub struct Params<'a> {
    /// Physical load address of the image.
    pub load_pa: u64,
    /// KASLR's offset of the image from `KERNEL_LINK_ADDR`.
    pub kaslr_offset: u64,
    /// The image's sections.
    pub sections: &'a Sections,
    /// The finisher's physical address, if any.
    pub finisher: Option<u64>,
    /// The device tree.
    pub dtb: DtbPlace,
    /// The paging mode.
    pub mode: Mode,
}

/// The kernel's address space for `map` (the image not yet reserved in it): the spec, and
/// `map` with the image reserved (by the spec's rule: the image must lie in mappable RAM).
pub fn spec(map: &mut MemoryMap, p: &Params) -> Result<KernelSpec, MemError> {
    let image = p.sections.image(p.load_pa).map_err(step("the kernel image"))?;
    let mut spec = KernelSpec::new(p.mode, Rules::Kvas, image)
        .and_then(|s| s.with_kaslr_offset(p.kaslr_offset))
        .map_err(step("the kernel space"))?;
    spec.fixmap = early::fixmap(p.finisher, p.dtb).map_err(step("the fixmap"))?;
    spec.prepare(map).map_err(step("reserving the kernel image"))
}

/// Builds the final tables of `spec` through the fixmap window of the live `early` tables
/// (see the module doc).
pub fn build<'m>(
    early: &mut PageTable<Riscv, OffsetMemory>,
    map: &'m MemoryMap,
    spec: &KernelSpec,
) -> Result<Inactive<'m>, MemError> {
    let slot = slot_va(&spec.layout);
    // SAFETY: the early tables are live (kmain runs on them), the slot is mapped in them
    // (kvas::kspace's fixmap) and used by nothing else, and the window borrows them, so
    // nothing else edits them until the switch.
    let window = unsafe { FixmapWindow::new(early, slot) };
    let KernelTables { table, frames, built } =
        kspace::build(spec, map, window).map_err(step("building the kernel space"))?;
    let root = table.root();
    let linear = built.linear.ok_or(MemError { step: "the linear map", err: Error::NoRam })?;
    let satp = Satp { mode: Some(spec.mode), asid: 0, root }.encode().map_err(step("satp"))?;
    Ok(Inactive { root, satp, mode: spec.mode, frames, map, layout: spec.layout, linear, built })
}

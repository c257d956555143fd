//! Where the kernel's address space is built: the final page tables, with the early tables
//! live, from the memory map kvas::phys read from the device tree (the image reserved):
//!
//! - the image with W^X and the fixmap (mm/image_map.rs, as in the early tables, without
//!   the trampoline);
//! - the linear map of all RAM (kvas::linear), with the linear aliases of the image's text
//!   *and* rodata read-only (as Linux's `mark_rodata_ro` makes `lm_alias(rodata)` read-only).
//!
//! Their frames come from kvas::phys's early allocator (free RAM inside the linear window);
//! not yet mapped, they are reached through the fixmap window (mm/fixmap.rs). The result is
//! an [`Inactive`] space; [`Inactive::activate`] turns it on.

use core::fmt;

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::layout::Riscv64Layout;
use kvas::linear::{self, choose_base, LinearConfig};
use kvas::paging::{OffsetMemory, PageTable, TableFormat};
use kvas::phys::{EarlyFrameAllocator, MemoryMap, PhysRange};
use kvas::{Error, VirtAddr};
use kvas_kernel_core::DtbPlace;

use super::fixmap::{slot_va, FixmapWindow};
use super::image_map::{map_kernel, KernelMaps, MapError};
use super::kspace::Inactive;
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
    /// The image's sections.
    pub sections: &'a Sections,
    /// The finisher's physical address, if any.
    pub finisher: Option<u64>,
    /// The device tree.
    pub dtb: DtbPlace,
    /// kvas::layout's plan for the image in this mode.
    pub layout: Riscv64Layout,
    /// The paging mode.
    pub mode: Mode,
}

/// Builds the final tables through the fixmap window of the live `early` tables (see the
/// module doc).
pub fn build<'m>(
    early: &mut PageTable<Riscv, OffsetMemory>,
    map: &'m MemoryMap,
    p: &Params,
) -> Result<Inactive<'m>, MemError> {
    let mode = p.mode;
    let format = Riscv::new(mode);
    let s = p.sections;
    let read_only = PhysRange::new(p.load_pa, s.rodata_end).map_err(step("the kernel text and rodata"))?;
    let cfg = LinearConfig {
        page_offset: VirtAddr::new(p.layout.page_offset()),
        size: p.layout.linear().size(),
        kernel_text: Some(read_only),
        ..LinearConfig::riscv(mode)
    };
    // Table frames must lie in the linear window, so the running kernel reaches them.
    let max_level = cfg.max_leaf.level().min(format.geometry().max_leaf_level());
    let base = choose_base(cfg.base_rule, map, cfg.page_offset, cfg.size, max_level)
        .map_err(step("choosing the linear map's base"))?;
    let mut alloc = EarlyFrameAllocator::with_limit(map, base.saturating_add(cfg.size));

    let slot = slot_va(&p.layout);
    // SAFETY: the early tables are live (kmain runs on them), the slot is mapped in them
    // (mm/image_map.rs) and used by nothing else, and the window borrows them, so nothing
    // else edits them until the switch.
    let window = unsafe { FixmapWindow::new(early, slot) };
    let mut t = PageTable::new(format, window, &mut alloc).map_err(step("the final root table"))?;
    let k = KernelMaps {
        load_pa: p.load_pa,
        sections: s,
        layout: &p.layout,
        finisher: p.finisher,
        dtb: p.dtb,
        trampoline: false,
    };
    map_kernel(&mut t, &k, &mut alloc).map_err(|err| match err {
        MapError::Paging(err) => MemError { step: "mapping the kernel in the final tables", err },
        MapError::DtbTooLarge(size) => MemError {
            step: "the DTB window",
            err: Error::InvalidOption {
                option: "dtb size",
                value: size,
                reason: "larger than the fixmap window",
            },
        },
    })?;
    let (lm, flush) = linear::build(&mut t, map, &cfg, &mut alloc).map_err(step("the linear map"))?;
    flush.ignore(); // the tables are not live yet
    let root = t.root();
    let satp = Satp { mode: Some(mode), asid: 0, root }.encode().map_err(step("satp"))?;
    Ok(Inactive { root, satp, mode, frames: alloc, map, layout: p.layout, linear: lm })
}

//! Memory init, with the early tables live: read the DTB through its fixmap window into
//! kvas::phys's memory map, reserve the image, build the final tables — the image with W^X,
//! the fixmap, and the linear map of all RAM (kvas::linear) — through the fixmap window
//! ([`crate::fixmap::FixmapWindow`]) with frames from kvas::phys's early allocator, then
//! switch `satp` to them. From then on every table frame is reached through the linear map.

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;

use kvas::arch::riscv::{Riscv, Satp};
use kvas::linear::{self, choose_base, LinearConfig, LinearMap};
use kvas::paging::{PageTable, TableFormat};
use kvas::phys::{DeviceTree, EarlyFrameAllocator, MemoryMap, PhysRange, ReserveKind, ReservedBy};
use kvas::{Error, VirtAddr};

use crate::early::{map_kernel, Early, EarlyError, KernelMaps};
use crate::fixmap::{FixmapWindow, SLOT_OFFSET};

/// What memory init built.
pub struct Memory {
    /// RAM and reservations, from the device tree (and the image).
    pub map: &'static MemoryMap,
    /// The linear map.
    pub linear: LinearMap,
    /// The allocator of table frames (free RAM inside the linear window).
    pub frames: EarlyFrameAllocator<'static>,
}

impl Memory {
    /// Linux's `high_memory - PAGE_OFFSET`: from the linear map's base to the end of the
    /// last mappable RAM, capped to the window.
    pub fn lowmem_bytes(&self) -> u64 {
        let base = self.linear.base.as_u64();
        let end = self.map.mappable().last().map_or(base, |r| r.end());
        (end.saturating_sub(base) & !0xfff).min(self.linear.size)
    }
}

/// A failed step of memory init.
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

struct MapSlot(UnsafeCell<MaybeUninit<MemoryMap>>);

// SAFETY: one hart; written once by `init`, read-only afterwards.
unsafe impl Sync for MapSlot {}

static MAP: MapSlot = MapSlot(UnsafeCell::new(MaybeUninit::uninit()));

struct MemorySlot(UnsafeCell<MaybeUninit<Memory>>);

// SAFETY: one hart; written once by `init`.
unsafe impl Sync for MemorySlot {}

static MEMORY: MemorySlot = MemorySlot(UnsafeCell::new(MaybeUninit::uninit()));

/// What [`init`] built (after it ran).
pub fn memory() -> &'static Memory {
    // SAFETY: kmain calls `init` (or powers off) before anything calls this.
    unsafe { (*MEMORY.0.get()).assume_init_ref() }
}

/// What [`init`] built, mutable (for allocating frames).
///
/// # Safety
///
/// No reference from [`memory`] may be live while the returned one is used.
pub unsafe fn memory_mut() -> &'static mut Memory {
    // SAFETY: as for `memory`; the caller guarantees exclusivity.
    unsafe { (*MEMORY.0.get()).assume_init_mut() }
}

/// Builds the final tables and switches to them (see the module doc). Updates `e`'s root,
/// satp and table offset to the final tables.
pub fn init(e: &mut Early) -> Result<(), MemError> {
    // SAFETY: the early tables map the DTB's 2 MiB-aligned 4 MiB window read-only at
    // dtb_va, and the blob (at most 2 MiB, checked before the switch) lies inside it.
    let blob = unsafe { core::slice::from_raw_parts(e.dtb_va() as *const u8, e.info.dtb.size as usize) };
    let dt = DeviceTree::parse(blob, Some(e.info.dtb.base))
        .map_err(step("the device tree (through the fixmap)"))?;
    // SAFETY: the only write of the slot, before anything reads it.
    let map: &'static mut MemoryMap = unsafe { (*MAP.0.get()).write(dt.map) };
    map.reserve(e.load_pa, e.sections.end, ReserveKind::Reserved, ReservedBy::Kernel)
        .map_err(step("reserving the kernel image"))?;
    let map: &'static MemoryMap = map;

    let mode = e.mode();
    let format = Riscv::new(mode);
    let text = PhysRange::new(e.load_pa, e.sections.text_end).map_err(step("the kernel text"))?;
    let cfg = LinearConfig {
        page_offset: VirtAddr::new(e.layout.page_offset()),
        size: e.layout.linear().size(),
        kernel_text: Some(text),
        ..LinearConfig::riscv(mode)
    };
    // Table frames must lie in the linear window, so the running kernel reaches them.
    let max_level = cfg.max_leaf.level().min(format.geometry().max_leaf_level());
    let base = choose_base(cfg.base_rule, map, cfg.page_offset, cfg.size, max_level)
        .map_err(step("choosing the linear map's base"))?;
    let mut alloc = EarlyFrameAllocator::with_limit(map, base.saturating_add(cfg.size));

    // SAFETY: the early tables are live, the slot is mapped in them (early.rs) and used by
    // nothing else, and nothing else edits them until the switch below.
    let window = unsafe { FixmapWindow::new(e.tables(), e.layout.fixmap().start() + SLOT_OFFSET) };
    let mut t = PageTable::new(format, window, &mut alloc).map_err(step("the final root table"))?;
    let k = KernelMaps {
        info: &e.info,
        load_pa: e.load_pa,
        sections: &e.sections,
        layout: &e.layout,
        trampoline: false,
    };
    map_kernel(&mut t, &k, &mut alloc).map_err(|err| match err {
        EarlyError::Paging(err) => MemError { step: "mapping the kernel in the final tables", err },
        _ => unreachable_step(),
    })?;
    let (lm, flush) = linear::build(&mut t, map, &cfg, &mut alloc).map_err(step("the linear map"))?;
    flush.ignore(); // the tables are not live yet
    let root = t.root();
    let satp = Satp { mode: Some(mode), asid: 0, root }.encode().map_err(step("satp"))?;
    // SAFETY: the final tables map the image at the same addresses (so the code, stack and
    // statics in use stay put), the fixmap and all RAM; the switch flushes the TLB.
    unsafe { crate::csr::write_satp(satp) };
    e.root = root;
    e.satp = satp;
    e.table_offset = lm.va_pa_offset();
    // SAFETY: the only write of the slot, before anything reads it.
    unsafe { (*MEMORY.0.get()).write(Memory { map, linear: lm, frames: alloc }) };
    Ok(())
}

/// `map_kernel` only fails with `DtbTooLarge` when the early tables were built, which
/// already checked the size.
fn unreachable_step() -> MemError {
    MemError { step: "the DTB window (size checked before the switch)", err: Error::NoRam }
}

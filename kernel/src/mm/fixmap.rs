//! A [`PhysMemory`] for the running kernel that reaches any frame through one fixmap page:
//! a [`PhysMemory::frame_ptr`] call for a frame other than the last one rewrites the slot's
//! PTE in the live tables to point at it and flushes that one TLB entry. This is how a kernel edits
//! tables in frames it has not mapped yet (Linux's `FIX_PTE`/`FIX_PMD` slots), and it is
//! the third world of the engine's memory trait (identity, offset, window).
//!
//! The fixmap, `[FIXADDR_START, FIXADDR_START + 6 MiB)` (kvas::layout's window for the mode;
//! kvas::kspace maps it, and its offsets are kspace's):
//!
//! ```text
//!  FIXADDR_START          device page (the test finisher)
//!  FIXADDR_START + 4 KiB  the window slot through which [`FixmapWindow`] reaches any frame
//!  FIXADDR_START + 2 MiB  DTB window: two 2 MiB leaves from the DTB's 2 MiB boundary, so a
//!                         DTB of up to 2 MiB (Linux's MAX_FDT_SIZE) is covered wherever it is
//!  FIXADDR_TOP
//! ```

use core::cell::Cell;
use core::marker::PhantomData;

use kvas::arch::riscv::Riscv;
use kvas::kspace::{FIX_FDT_OFFSET, FIX_WINDOW_OFFSET, MAX_FDT_SIZE};
use kvas::layout::Riscv64Layout;
use kvas::paging::{Attrs, OffsetMemory, PageTable, PhysMemory, TableFormat};
use kvas::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};

/// Where the finisher's register at physical `pa` is mapped.
pub fn finisher_va(layout: &Riscv64Layout, pa: u64) -> u64 {
    layout.fixmap().start().as_u64() + (pa & 0xfff)
}

/// Where the DTB at physical `pa` is mapped.
pub fn dtb_va(layout: &Riscv64Layout, pa: u64) -> u64 {
    layout.fixmap().start().as_u64() + FIX_FDT_OFFSET + (pa & (MAX_FDT_SIZE - 1))
}

/// The window slot's address.
pub fn slot_va(layout: &Riscv64Layout) -> u64 {
    layout.fixmap().start().as_u64() + FIX_WINDOW_OFFSET
}

/// Frames reached through the fixmap slot at `slot`, in the live tables `tables` (borrowed
/// for as long as the window lives, so nothing else edits them meanwhile).
///
/// A remap rewrites the slot's one leaf entry in place and flushes that page (Linux's
/// `__set_fixmap`): the entry is found once, when the window is made. The frame the slot
/// maps is remembered, so the engine's many accesses to the same frame cost a compare.
pub struct FixmapWindow<'t> {
    slot: u64,
    format: Riscv,
    /// The slot's leaf entry in `tables`, reached through their own view.
    entry: *mut u64,
    /// The frame the slot maps now (none: not known yet).
    current: Cell<Option<PhysAddr>>,
    tables: PhantomData<&'t mut PageTable<Riscv, OffsetMemory>>,
}

impl<'t> FixmapWindow<'t> {
    /// A window at `slot` (a page of the fixmap already mapped in `tables`).
    ///
    /// # Safety
    ///
    /// `tables` are the tables `satp` points at and stay so while the window lives, and
    /// `slot` is mapped in them and used by nothing else.
    pub unsafe fn new(tables: &'t mut PageTable<Riscv, OffsetMemory>, slot: u64) -> Self {
        let Some(entry) = leaf_entry(tables, slot) else {
            crate::power::fatal(format_args!("fixmap window: no 4 KiB leaf at the slot {slot:#x}"));
        };
        FixmapWindow { slot, format: tables.format(), entry, current: Cell::new(None), tables: PhantomData }
    }

    /// Points the slot at `pa` and flushes its one TLB entry.
    #[inline(never)]
    fn remap(&self, pa: PhysAddr) {
        if let Err(e) = self.format.check_leaf(pa, PAGE_SIZE, Attrs::KERNEL_RW) {
            crate::power::fatal(format_args!("fixmap window: cannot map {:#x}: {e}", pa.as_u64()));
        }
        let raw = self.format.encode_leaf(pa, Attrs::KERNEL_RW, 0);
        // SAFETY: `entry` is the slot's leaf entry in the live tables, which the window
        // borrows exclusively (no other code reads or writes them meanwhile); it stays a
        // valid 4 KiB leaf, and RISC-V needs no break-before-make between two leaves.
        unsafe { self.entry.write_volatile(raw) };
        super::mmu::flush_page(VirtAddr::new(self.slot));
        self.current.set(Some(pa));
    }
}

/// A pointer to the entry of the 4 KiB leaf that maps `va` in `tables`, through their own
/// view; the engine's walk says where that entry lives.
fn leaf_entry(tables: &PageTable<Riscv, OffsetMemory>, va: u64) -> Option<*mut u64> {
    let leaf = tables.leaf_entry_at(VirtAddr::new(va)).ok()?;
    if leaf.size != PageSize::Size4K {
        return None;
    }
    // `leaf.table` is a table frame of `tables` (PageTable::from_root's contract), which
    // their view reaches, and the index is < 512: the pointer stays inside that frame.
    Some(tables.memory().frame_ptr(leaf.table).wrapping_add(leaf.index))
}

// SAFETY: (1) the returned pointer is the slot page, which after `remap` maps exactly the
// frame at `pa` read-write, 4 KiB aligned, until the next call remaps it (only this window
// remaps the slot, so `current` is what the slot maps); (2) the slot is used by nothing else
// (constructor contract), so no reference aliases it.
unsafe impl PhysMemory for FixmapWindow<'_> {
    #[inline]
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64 {
        if self.current.get() != Some(pa) {
            self.remap(pa);
        }
        self.slot as *mut u64
    }
}

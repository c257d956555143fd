//! A [`PhysMemory`] for the running kernel that reaches any frame through one fixmap page:
//! each [`PhysMemory::frame_ptr`] call points the slot's PTE at the frame (with the kvas
//! engine on the live tables) and flushes that one TLB entry. This is how a kernel edits
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

use core::cell::UnsafeCell;

use kvas::arch::riscv::Riscv;
use kvas::kspace::{FIX_FDT_OFFSET, FIX_WINDOW_OFFSET, MAX_FDT_SIZE};
use kvas::layout::Riscv64Layout;
use kvas::paging::{Attrs, FrameAllocator, OffsetMemory, PageTable, PhysMemory};
use kvas::{PageSize, PhysAddr, VirtAddr};

/// Where the finisher's register at physical `pa` is mapped.
pub fn finisher_va(layout: &Riscv64Layout, pa: u64) -> u64 {
    layout.fixmap().start() + (pa & 0xfff)
}

/// Where the DTB at physical `pa` is mapped.
pub fn dtb_va(layout: &Riscv64Layout, pa: u64) -> u64 {
    layout.fixmap().start() + FIX_FDT_OFFSET + (pa & (MAX_FDT_SIZE - 1))
}

/// The window slot's address.
pub fn slot_va(layout: &Riscv64Layout) -> u64 {
    layout.fixmap().start() + FIX_WINDOW_OFFSET
}

/// Holds the few table frames an unmap of the slot gives back, so that remapping it takes
/// the same frames again and never needs a new one.
struct Stash {
    frames: [Option<PhysAddr>; 5],
}

impl FrameAllocator for Stash {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        self.frames.iter_mut().rev().find_map(Option::take)
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        if let Some(slot) = self.frames.iter_mut().find(|f| f.is_none()) {
            *slot = Some(frame);
        }
    }
}

/// Frames reached through the fixmap slot at `slot`, in the live tables `tables` (borrowed
/// for as long as the window lives, so nothing else edits them meanwhile).
pub struct FixmapWindow<'t> {
    slot: u64,
    tables: UnsafeCell<&'t mut PageTable<Riscv, OffsetMemory>>,
    stash: UnsafeCell<Stash>,
}

impl<'t> FixmapWindow<'t> {
    /// A window at `slot` (a page of the fixmap already mapped in `tables`).
    ///
    /// # Safety
    ///
    /// `tables` are the tables `satp` points at and stay so while the window lives, and
    /// `slot` is mapped in them and used by nothing else.
    pub unsafe fn new(tables: &'t mut PageTable<Riscv, OffsetMemory>, slot: u64) -> Self {
        FixmapWindow {
            slot,
            tables: UnsafeCell::new(tables),
            stash: UnsafeCell::new(Stash { frames: [None; 5] }),
        }
    }
}

// SAFETY: (1) the returned pointer is the slot page, which after the remap below maps
// exactly the frame at `pa` read-write, 4 KiB aligned, until the next call remaps it;
// (2) the slot is used by nothing else (constructor contract), so no reference aliases it.
unsafe impl PhysMemory for FixmapWindow<'_> {
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64 {
        // SAFETY: one hart, and the engine never holds a frame pointer across calls, so no
        // other borrow of these cells is live.
        let (tables, stash) = unsafe { (&mut **self.tables.get(), &mut *self.stash.get()) };
        let va = VirtAddr::new(self.slot);
        let current = tables.translate(va).map(|t| t.pa);
        if current != Ok(pa) {
            let remapped = tables
                .unmap(va, PageSize::Size4K, stash)
                .and_then(|f| {
                    f.ignore(); // flushed below
                    tables.map(va, pa, PageSize::Size4K, Attrs::KERNEL_RW, stash)
                })
                .map(|f| f.ignore());
            if let Err(e) = remapped {
                crate::power::fatal(format_args!("fixmap window: cannot map {:#x}: {e}", pa.as_u64()));
            }
            super::mmu::flush_page(va);
        }
        self.slot as *mut u64
    }
}

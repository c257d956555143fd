//! A [`PhysMemory`] for the running kernel that reaches any frame through one fixmap page:
//! each [`PhysMemory::frame_ptr`] call points the slot's PTE at the frame (with the kvas
//! engine on the live tables) and flushes that one TLB entry. This is how a kernel edits
//! tables in frames it has not mapped yet (Linux's `FIX_PTE`/`FIX_PMD` slots), and it is
//! the third world of the engine's memory trait (identity, offset, window).

use core::cell::UnsafeCell;

use kvas::arch::riscv::Riscv;
use kvas::paging::{Attrs, FrameAllocator, OffsetMemory, PageTable, PhysMemory};
use kvas::{PageSize, PhysAddr, VirtAddr};

/// Offset of the window slot in the fixmap (the page after the device page).
pub const SLOT_OFFSET: u64 = 0x1000;

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

/// Frames reached through the fixmap slot at `slot`, in the live tables `tables`.
pub struct FixmapWindow {
    slot: u64,
    tables: UnsafeCell<PageTable<Riscv, OffsetMemory>>,
    stash: UnsafeCell<Stash>,
}

impl FixmapWindow {
    /// A window at `slot` (a page of the fixmap already mapped in `tables`, which must be
    /// the live tables and must stay so while the window is used).
    ///
    /// # Safety
    ///
    /// `tables` are the tables `satp` points at, `slot` is mapped in them and nothing else
    /// uses that page; no other code edits `tables` while the window lives.
    pub unsafe fn new(tables: PageTable<Riscv, OffsetMemory>, slot: u64) -> Self {
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
unsafe impl PhysMemory for FixmapWindow {
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64 {
        // SAFETY: one hart, and the engine never holds a frame pointer across calls, so no
        // other borrow of these cells is live.
        let (tables, stash) = unsafe { (&mut *self.tables.get(), &mut *self.stash.get()) };
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
            // SAFETY: flushing one TLB entry has no other effect.
            unsafe { core::arch::asm!("sfence.vma {}, zero", in(reg) self.slot) };
        }
        self.slot as *mut u64
    }
}

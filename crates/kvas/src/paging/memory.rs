//! How the engine reaches table frames in physical memory.
//!
//! The same engine runs in three worlds: the host simulator, early boot with the
//! MMU off (identity), and a running kernel (through the linear map, or a fixmap
//! window for frames not yet mapped). [`PhysMemory`] is the one small trait that
//! separates them.

use crate::addr::{PhysAddr, VirtAddr};

/// Gives the engine a pointer to a physical table frame.
///
/// The engine asks for a frame's pointer right before each access and never
/// keeps one across another call to [`PhysMemory::frame_ptr`], so an
/// implementation may map every frame through one and the same window.
///
/// # Safety
///
/// An implementation promises, for every `pa` of a table frame the engine is
/// handed (a root given to [`crate::paging::PageTable::from_root`] or a frame
/// from the engine's [`crate::paging::FrameAllocator`]):
/// 1. `frame_ptr(pa)` is non-null, 8-byte aligned and valid for reads and writes
///    of the whole 4 KiB frame until the next call to `frame_ptr`;
/// 2. no Rust reference to that memory is live while the engine uses the pointer.
pub unsafe trait PhysMemory {
    /// A pointer to the first entry of the 4 KiB frame at `pa`.
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64;

    /// A pointer to entry `idx` (below 512) of the frame at `pa`: by default
    /// `frame_ptr(pa)` plus `idx` entries. A view may compute the same address
    /// in another order, for example so that `pa`, the value a walk has just
    /// loaded, enters it last.
    #[inline(always)]
    fn entry_ptr(&self, pa: PhysAddr, idx: usize) -> *mut u64 {
        self.frame_ptr(pa).wrapping_add(idx)
    }

    /// The middle step of break-before-make (see
    /// [`crate::paging::TableFormat::needs_break`]): the entry at `level` whose
    /// range starts at `va` has just been made invalid, and before the engine writes its
    /// replacement every CPU must forget the old translation. A live table on
    /// arm64 issues `DSB ISHST; TLBI VAAE1IS, va; DSB ISH` here. The default
    /// does nothing, which is right for a table no CPU uses yet.
    #[inline(always)]
    fn invalidate(&self, va: VirtAddr, level: u8) {
        let _ = (va, level);
    }
}

/// Physical memory visible at a fixed offset: `virt = phys + offset`.
///
/// With offset 0 this is the identity view that early boot has with the MMU
/// off; with the linear map's `va_pa_offset` it is a running kernel's view.
#[derive(Clone, Copy, Debug)]
pub struct OffsetMemory {
    offset: u64,
}

impl OffsetMemory {
    /// A view in which the frame at `pa` is at address `pa + offset` (wrapping).
    ///
    /// # Safety
    ///
    /// Every table frame the engine will touch must be readable and writable at
    /// `pa + offset` in the current address space, and not referenced elsewhere
    /// while the engine uses it.
    pub const unsafe fn new(offset: u64) -> Self {
        Self { offset }
    }

    /// The offset added to a physical address.
    pub const fn offset(&self) -> u64 {
        self.offset
    }
}

// SAFETY: `OffsetMemory::new` requires its caller to vouch that every table frame
// is mapped, writable and unaliased at `pa + offset`; frames are 4 KiB aligned,
// so the pointer is non-null for any real table and 8-byte aligned.
unsafe impl PhysMemory for OffsetMemory {
    #[inline(always)]
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64 {
        pa.as_u64().wrapping_add(self.offset) as usize as *mut u64
    }

    /// `offset + 8 * idx`, which does not depend on the walk, is summed
    /// first: the table's address then reaches the load through one addressing
    /// mode, with no addition of its own on the walk's dependency chain.
    #[inline(always)]
    fn entry_ptr(&self, pa: PhysAddr, idx: usize) -> *mut u64 {
        let off = self.offset.wrapping_add(idx as u64 * 8);
        pa.as_u64().wrapping_add(off) as usize as *mut u64
    }
}

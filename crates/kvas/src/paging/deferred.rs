//! Frames that must outlive a TLB shootdown: Linux's `tlb_remove_table`.
//!
//! When an unmap empties a table, the engine unlinks it and hands its frame to the
//! [`FrameAllocator`]. On a table that other harts use, that is too early: until the flush
//! of the unmapped range has reached every hart, another hart's walker may still be
//! reading the table (or hold a cached pointer to it in a paging-structure cache), and a
//! frame reused for anything else would be walked as a table. [`DeferredFree`] is the
//! allocator to pass instead: it hands out frames from the real one, but keeps every frame
//! given back in a list until the caller, having completed the shootdown, calls
//! [`DeferredFree::release`]. The caller may also [`DeferredFree::defer`] frames of its own
//! (the data pages behind the unmapped leaves), which have the same rule.

use super::frame::FrameAllocator;
use super::geometry::Geometry;
use crate::addr::PhysAddr;

/// A [`FrameAllocator`] that passes allocations through to `A` and holds frees back until
/// [`DeferredFree::release`] (see the module doc). Holds up to `N` frames; a caller runs
/// one engine call at a time and checks [`DeferredFree::has_room`] before each.
pub struct DeferredFree<A, const N: usize> {
    inner: A,
    held: [PhysAddr; N],
    len: usize,
    /// Frames that found the list full: never freed (leaked), never freed early.
    leaked: usize,
}

impl<A: FrameAllocator, const N: usize> DeferredFree<A, N> {
    /// Room for what one unmap can give back: the tables below the root on one path,
    /// plus the caller's own frame.
    pub const ONE_UNMAP: usize = Geometry::MAX_LEVELS;

    /// Defers the frees to `inner`.
    pub const fn new(inner: A) -> Self {
        DeferredFree { inner, held: [PhysAddr::ZERO; N], len: 0, leaked: 0 }
    }

    /// Holds `frame` back until [`DeferredFree::release`]; if the list is full the frame
    /// is leaked (counted by [`DeferredFree::leaked`]), never freed early.
    pub fn defer(&mut self, frame: PhysAddr) {
        match self.held.get_mut(self.len) {
            Some(slot) => {
                *slot = frame;
                self.len += 1;
            }
            None => self.leaked += 1,
        }
    }

    /// Whether one more engine unmap (and one frame of the caller's) fits.
    pub const fn has_room(&self) -> bool {
        N - self.len >= Self::ONE_UNMAP
    }

    /// Frames held back.
    pub const fn held(&self) -> usize {
        self.len
    }

    /// Frames that found the list full and were leaked instead of freed early.
    pub const fn leaked(&self) -> usize {
        self.leaked
    }

    /// Frees every held frame to the real allocator. Call it only once the flush of
    /// everything unmapped since the last release has completed on every hart.
    pub fn release(&mut self) {
        for &frame in &self.held[..self.len] {
            self.inner.free_frame(frame);
        }
        self.len = 0;
    }

    /// The real allocator.
    pub fn inner(&mut self) -> &mut A {
        &mut self.inner
    }
}

impl<A: FrameAllocator, const N: usize> FrameAllocator for DeferredFree<A, N> {
    #[inline]
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        self.inner.allocate_frame()
    }

    #[inline]
    fn free_frame(&mut self, frame: PhysAddr) {
        self.defer(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::riscv::{Mode, Riscv};
    use crate::paging::{Attrs, PageTable};
    use crate::sim::{Ram, TrackingAllocator};
    use crate::{PageSize, VirtAddr};

    /// An unmap that empties tables gives their frames to the list, not the allocator,
    /// and `release` frees exactly those, in every depth.
    #[test]
    fn emptied_tables_wait_for_release() {
        for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
            let ram = Ram::new();
            let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 20).unwrap();
            let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut frames).unwrap();
            let va = VirtAddr::new(0xffff_ffff_c000_0000);
            let data = frames.allocate_frame().unwrap();
            pt.map(va, data, PageSize::Size4K, Attrs::KERNEL_RW, &mut frames).unwrap().ignore();
            let out = frames.live();
            let mut deferred = DeferredFree::<_, 8>::new(&mut frames);
            assert!(deferred.has_room());
            pt.unmap(va, PageSize::Size4K, &mut deferred).unwrap().ignore();
            deferred.defer(data);
            let tables = usize::from(mode.levels() - 1);
            assert_eq!(deferred.held(), tables + 1, "{mode}: every emptied table below the root is held");
            assert_eq!(deferred.inner().live(), out, "{mode}: nothing freed before the release");
            deferred.release();
            assert_eq!(deferred.held(), 0);
            assert_eq!(frames.live(), out - tables - 1, "{mode}: the tables and the page came back");
            assert!(frames.misuse().is_empty());
        }
    }

    /// A full list leaks rather than frees early.
    #[test]
    fn a_full_list_never_frees_early() {
        let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 20).unwrap();
        let a = frames.allocate_frame().unwrap();
        let b = frames.allocate_frame().unwrap();
        let mut deferred = DeferredFree::<_, 1>::new(&mut frames);
        assert!(!deferred.has_room());
        deferred.free_frame(a);
        deferred.free_frame(b);
        assert_eq!((deferred.held(), deferred.leaked()), (1, 1));
        assert_eq!(deferred.inner().live(), 2);
        deferred.release();
        assert_eq!(frames.live(), 1);
    }
}

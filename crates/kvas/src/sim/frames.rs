//! A frame allocator for tests that keeps books on the engine.
//!
//! [`TrackingAllocator`] hands out 4 KiB frames from one physical range, knows
//! which are live, can be made to run dry after a set number of frames, and
//! records — without panicking — every free of a frame that is not live, so a
//! test can assert that the engine never leaks, double-frees or frees a frame it
//! did not get.

use std::collections::BTreeSet;
use std::vec::Vec;

use crate::addr::{PhysAddr, PAGE_SIZE};
use crate::paging::FrameAllocator;
use crate::Error;

/// A free that [`TrackingAllocator`] refused, in the order they happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// A frame this allocator handed out, freed again while already free.
    DoubleFree(PhysAddr),
    /// An address this allocator never handed out: outside its range, not
    /// frame-aligned, or not yet allocated.
    NeverAllocated(PhysAddr),
}

/// Hands out 4 KiB frames from `[start, start + len)` and tracks them.
///
/// Freed frames are reused first, most recently freed first, with their old
/// contents left in place (the engine must clear a frame before it becomes a
/// table; reuse exposes an engine that does not).
///
/// ```
/// use kvas::paging::FrameAllocator;
/// use kvas::sim::{Misuse, TrackingAllocator};
/// use kvas::PhysAddr;
///
/// let base = PhysAddr::new(0x8000_0000).unwrap();
/// let mut frames = TrackingAllocator::new(base, 1 << 20).unwrap().with_limit(2);
/// let a = frames.allocate_frame().unwrap();
/// let _b = frames.allocate_frame().unwrap();
/// assert_eq!(frames.allocate_frame(), None); // the limit: dry after 2 frames
/// frames.free_frame(a);
/// frames.free_frame(a);
/// assert_eq!(frames.live(), 1);
/// assert_eq!(frames.misuse(), &[Misuse::DoubleFree(a)]);
/// ```
#[derive(Clone, Debug)]
pub struct TrackingAllocator {
    start: u64,
    end: u64,
    /// The lowest frame never handed out; every aligned frame in
    /// `[start, next)` has been allocated at least once.
    next: u64,
    free: Vec<u64>,
    live: BTreeSet<u64>,
    limit: Option<u64>,
    allocations: u64,
    frees: u64,
    refused: u64,
    misuse: Vec<Misuse>,
}

impl TrackingAllocator {
    /// An allocator over `len` bytes of physical memory from `start`.
    ///
    /// `start` and `len` must be multiples of 4 KiB, and the range must end
    /// within the 56-bit physical space.
    pub fn new(start: PhysAddr, len: u64) -> Result<Self, Error> {
        if !start.is_aligned(PAGE_SIZE) {
            return Err(Error::Misaligned {
                what: "frame range start",
                value: start.as_u64(),
                align: PAGE_SIZE,
            });
        }
        if len & (PAGE_SIZE - 1) != 0 {
            return Err(Error::Misaligned { what: "frame range length", value: len, align: PAGE_SIZE });
        }
        let refused = |reason| Error::BadPhysRange { start: start.as_u64(), size: len, reason };
        let end = match start.as_u64().checked_add(len) {
            Some(end) if end <= 1 << PhysAddr::MAX_BITS => end,
            Some(_) => return Err(refused("it ends above the 56-bit physical address space")),
            None => return Err(refused("it wraps past 2^64")),
        };
        Ok(Self {
            start: start.as_u64(),
            end,
            next: start.as_u64(),
            free: Vec::new(),
            live: BTreeSet::new(),
            limit: None,
            allocations: 0,
            frees: 0,
            refused: 0,
            misuse: Vec::new(),
        })
    }

    /// The same allocator, made to return `None` once it has handed out `n`
    /// frames in total (counting from its creation, reused frames included).
    pub fn with_limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Sets or lifts the limit of [`Self::with_limit`]. To allow `k` more
    /// frames from now on: `set_limit(Some(alloc.allocations() + k))`.
    pub fn set_limit(&mut self, limit: Option<u64>) {
        self.limit = limit;
    }

    /// How many frames are allocated and not yet freed.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Whether `frame` is allocated and not yet freed.
    pub fn is_live(&self, frame: PhysAddr) -> bool {
        self.live.contains(&frame.as_u64())
    }

    /// The live frames, lowest first.
    pub fn live_frames(&self) -> impl Iterator<Item = PhysAddr> + '_ {
        self.live.iter().map(|&raw| PhysAddr::new_truncate(raw))
    }

    /// How many frames have been handed out in total.
    pub fn allocations(&self) -> u64 {
        self.allocations
    }

    /// How many frees were accepted (misuses not counted).
    pub fn frees(&self) -> u64 {
        self.frees
    }

    /// How many allocation requests returned `None` (limit reached or range
    /// exhausted).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Every refused free, in order. Empty if the engine behaved.
    pub fn misuse(&self) -> &[Misuse] {
        &self.misuse
    }
}

impl FrameAllocator for TrackingAllocator {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        if self.limit.is_some_and(|limit| self.allocations >= limit) {
            self.refused += 1;
            return None;
        }
        let frame = match self.free.pop() {
            Some(frame) => frame,
            None if self.next < self.end => {
                self.next += PAGE_SIZE;
                self.next - PAGE_SIZE
            }
            None => {
                self.refused += 1;
                return None;
            }
        };
        self.live.insert(frame);
        self.allocations += 1;
        Some(PhysAddr::new_truncate(frame))
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        let raw = frame.as_u64();
        if self.live.remove(&raw) {
            self.free.push(raw);
            self.frees += 1;
        } else if frame.is_aligned(PAGE_SIZE) && (self.start..self.next).contains(&raw) {
            self.misuse.push(Misuse::DoubleFree(frame));
        } else {
            self.misuse.push(Misuse::NeverAllocated(frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x8000_0000;

    fn pa(raw: u64) -> PhysAddr {
        PhysAddr::new(raw).unwrap()
    }

    #[test]
    fn hands_out_distinct_aligned_frames_from_the_range_until_it_runs_out() {
        let mut frames = TrackingAllocator::new(pa(BASE), 3 * PAGE_SIZE).unwrap();
        let got: Vec<_> = (0..3).map(|_| frames.allocate_frame().unwrap().as_u64()).collect();
        assert_eq!(got, [BASE, BASE + 0x1000, BASE + 0x2000]);
        assert_eq!(frames.allocate_frame(), None);
        assert_eq!(frames.refused(), 1);
        assert_eq!(frames.live(), 3);
        assert_eq!(frames.live_frames().map(PhysAddr::as_u64).collect::<Vec<_>>(), got);
    }

    #[test]
    fn the_limit_runs_dry_and_can_be_moved() {
        let mut frames = TrackingAllocator::new(pa(BASE), 1 << 20).unwrap().with_limit(2);
        assert!(frames.allocate_frame().is_some());
        let second = frames.allocate_frame().unwrap();
        assert_eq!(frames.allocate_frame(), None);
        // Freeing does not raise the limit: it counts frames handed out.
        frames.free_frame(second);
        assert_eq!(frames.allocate_frame(), None);
        frames.set_limit(Some(frames.allocations() + 1));
        assert_eq!(frames.allocate_frame(), Some(second));
        assert_eq!(frames.allocate_frame(), None);
        frames.set_limit(None);
        assert!(frames.allocate_frame().is_some());
        assert_eq!((frames.allocations(), frames.refused(), frames.live()), (4, 3, 3));
    }

    #[test]
    fn freed_frames_are_reused_most_recent_first() {
        let mut frames = TrackingAllocator::new(pa(BASE), 1 << 20).unwrap();
        let a = frames.allocate_frame().unwrap();
        let b = frames.allocate_frame().unwrap();
        frames.free_frame(a);
        frames.free_frame(b);
        assert!(!frames.is_live(a));
        assert_eq!(frames.allocate_frame(), Some(b));
        assert_eq!(frames.allocate_frame(), Some(a));
        assert!(frames.is_live(a));
        assert_eq!(frames.allocate_frame().map(PhysAddr::as_u64), Some(BASE + 0x2000));
        assert_eq!(frames.frees(), 2);
        assert!(frames.misuse().is_empty());
    }

    #[test]
    fn misuse_is_recorded_not_panicked_on() {
        let mut frames = TrackingAllocator::new(pa(BASE), 1 << 20).unwrap();
        let a = frames.allocate_frame().unwrap();
        frames.free_frame(a);
        frames.free_frame(a);
        frames.free_frame(pa(BASE + 0x1000)); // in range, never handed out
        frames.free_frame(pa(BASE + 8)); // not a frame boundary
        frames.free_frame(pa(0x1000)); // outside the range
        assert_eq!(
            frames.misuse(),
            &[
                Misuse::DoubleFree(a),
                Misuse::NeverAllocated(pa(BASE + 0x1000)),
                Misuse::NeverAllocated(pa(BASE + 8)),
                Misuse::NeverAllocated(pa(0x1000)),
            ]
        );
        assert_eq!((frames.frees(), frames.live()), (1, 0));
        // Refused frees do not poison the free list.
        assert_eq!(frames.allocate_frame(), Some(a));
        assert_eq!(frames.allocate_frame().map(PhysAddr::as_u64), Some(BASE + 0x1000));
    }

    #[test]
    fn bad_ranges_are_refused_with_what_and_where() {
        assert_eq!(
            TrackingAllocator::new(pa(BASE + 1), PAGE_SIZE).map(|_| ()),
            Err(Error::Misaligned { what: "frame range start", value: BASE + 1, align: PAGE_SIZE })
        );
        assert_eq!(
            TrackingAllocator::new(pa(BASE), 100).map(|_| ()),
            Err(Error::Misaligned { what: "frame range length", value: 100, align: PAGE_SIZE })
        );
        let top = (1 << 56) - PAGE_SIZE;
        assert!(TrackingAllocator::new(pa(top), PAGE_SIZE).is_ok());
        assert_eq!(
            TrackingAllocator::new(pa(top), 2 * PAGE_SIZE).map(|_| ()),
            Err(Error::BadPhysRange {
                start: top,
                size: 2 * PAGE_SIZE,
                reason: "it ends above the 56-bit physical address space"
            })
        );
        let mut empty = TrackingAllocator::new(pa(BASE), 0).unwrap();
        assert_eq!(empty.allocate_frame(), None);
    }
}

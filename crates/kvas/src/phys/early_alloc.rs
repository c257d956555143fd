//! The early frame allocator: page-table frames from free RAM, before any of it
//! is mapped.
//!
//! It hands out 4 KiB frames only from RAM that no reservation touches (not
//! the kernel image, the device tree, the initrd, firmware `no-map` memory,
//! `reusable` pools or `/memreserve/` entries), lowest address first. It never
//! reads or writes a frame: it is bookkeeping only, so it works with the MMU off,
//! before the linear map exists, and on the host for a simulated machine. The
//! engine reaches and clears each frame through its
//! [`PhysMemory`](crate::paging::PhysMemory) (an identity map, a fixmap
//! window, or the simulator).
//!
//! Exhaustion is `None` from [`FrameAllocator::allocate_frame`], which the
//! engine turns into [`Error::OutOfFrames`](crate::Error::OutOfFrames) after
//! undoing the partial operation; frames given back with
//! [`FrameAllocator::free_frame`] are handed out again first. An operation that
//! fails gives back every frame it took, newest first: the allocator rewinds
//! over them, so a failed map loses none, however many it took. A frame the
//! allocator does not have out (reserved, above the limit, misaligned, never
//! handed out, or given back already) is refused, counted by
//! [`EarlyFrameAllocator::refused`], and never handed out.

use crate::addr::{PhysAddr, PAGE_SIZE};
use crate::paging::FrameAllocator;
use crate::phys::memory_map::MemoryMap;
use crate::phys::range::PhysRange;

/// How many returned frames the allocator remembers for reuse.
pub const RETURNED_CAPACITY: usize = 64;

/// Bump allocation over the free RAM of a [`MemoryMap`], with a small stack of
/// returned frames.
#[derive(Clone, Debug)]
pub struct EarlyFrameAllocator<'a> {
    map: &'a MemoryMap,
    /// The next never-used frame candidate.
    next: u64,
    /// The end of the free range `next` lies in (0 before the first look-up).
    cur_end: u64,
    /// Frames must end at or below this address (e.g. the end of what the
    /// linear map will cover, so the running kernel can reach its tables).
    limit: u64,
    returned: [PhysAddr; RETURNED_CAPACITY],
    n_returned: usize,
    /// Frames given back when the return stack was full: lost until reboot.
    lost: u64,
    /// Frames given back that this allocator did not have out.
    refused: u64,
    handed_out: u64,
}

impl<'a> EarlyFrameAllocator<'a> {
    /// An allocator over all free RAM of `map`.
    pub fn new(map: &'a MemoryMap) -> Self {
        Self::with_limit(map, u64::MAX)
    }

    /// An allocator that only hands out frames lying entirely below `limit`.
    pub fn with_limit(map: &'a MemoryMap, limit: u64) -> Self {
        Self {
            map,
            next: 0,
            cur_end: 0,
            limit,
            returned: [PhysAddr::ZERO; RETURNED_CAPACITY],
            n_returned: 0,
            lost: 0,
            refused: 0,
            handed_out: 0,
        }
    }

    /// The first free range at or above `from`, clipped to start at `from`.
    fn free_from(&self, from: u64) -> Option<PhysRange> {
        self.map.free().find(|r| r.end() > from).and_then(|r| {
            let start = r.start_u64().max(from);
            PhysRange::from_bounds(start, r.end()).ok()
        })
    }

    /// How many frames can still be handed out.
    pub fn remaining(&self) -> u64 {
        let fresh: u64 = self
            .map
            .free()
            .filter_map(|r| {
                let start = r.start_u64().max(self.next);
                let end = r.end().min(self.limit & !(PAGE_SIZE - 1));
                (start < end).then(|| (end - start) / PAGE_SIZE)
            })
            .sum();
        fresh + self.n_returned as u64
    }

    /// How many frames are out (handed out and not given back).
    pub fn in_use(&self) -> u64 {
        self.handed_out
    }

    /// Frames given back while the return stack was full (never reused).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Frames given back that this allocator did not have out: outside its
    /// free RAM, above its limit, not 4 KiB-aligned, never handed out, or given
    /// back already. Ignored, so that no frame is ever handed out twice.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

impl FrameAllocator for EarlyFrameAllocator<'_> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let frame = if self.n_returned > 0 {
            self.n_returned -= 1;
            self.returned[self.n_returned]
        } else {
            if self.next >= self.cur_end {
                let range = self.free_from(self.next)?;
                self.next = range.start_u64();
                self.cur_end = range.end();
            }
            let frame = self.next;
            if frame + PAGE_SIZE > self.limit {
                return None;
            }
            self.next = frame + PAGE_SIZE;
            PhysAddr::new_truncate(frame)
        };
        self.handed_out += 1;
        Some(frame)
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        let f = frame.as_u64();
        let is_free = self.map.free().any(|r| r.contains(f));
        if !is_free || f % PAGE_SIZE != 0 || f.saturating_add(PAGE_SIZE) > self.limit {
            // Not a frame this allocator hands out (a reserved page, say): giving
            // it out later would put page tables over the kernel or firmware.
            self.refused += 1;
            return;
        }
        // Every frame out lies below the bump pointer (a rewind never passes
        // one), so a frame at or above it, or already on the return stack, is
        // not out: a second free, which would hand one frame out twice.
        if f >= self.next || self.returned[..self.n_returned].contains(&frame) {
            self.refused += 1;
            return;
        }
        self.handed_out = self.handed_out.saturating_sub(1);
        // The engine gives frames back newest first when it undoes an operation:
        // if `frame` is the highest free frame below the bump pointer, rewinding
        // the pointer to it returns it exactly, however many there are. It is
        // the highest when no free RAM lies in `[f + 4 KiB, next)` (which is
        // empty when `f` is the frame just below the pointer): every free frame
        // there was handed out, and may be out still or on the return stack.
        let above = f.saturating_add(PAGE_SIZE);
        let free_between =
            above < self.next && self.map.free().any(|r| r.start_u64() < self.next && r.end() > above);
        if !free_between {
            self.next = f;
            self.cur_end = 0;
        } else if self.n_returned < RETURNED_CAPACITY {
            self.returned[self.n_returned] = frame;
            self.n_returned += 1;
        } else {
            self.lost += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phys::{ReserveKind, ReservedBy};

    fn map() -> MemoryMap {
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0000, 0x10_0000).unwrap();
        m.add_ram(0x9000_0000, 0x4000).unwrap();
        m.reserve(0x8000_0000, 0x4_0000, ReserveKind::NoMap, ReservedBy::ReservedMemoryNode).unwrap();
        m.reserve(0x8004_1000, 0x1000, ReserveKind::Reserved, ReservedBy::Kernel).unwrap();
        m.reserve(0x8004_3000, 0xb_d000, ReserveKind::Reusable, ReservedBy::User).unwrap();
        m.reserve(0x9000_1000, 0x800, ReserveKind::Reserved, ReservedBy::DeviceTree).unwrap();
        m
    }

    #[test]
    fn hands_out_only_free_frames_in_order_then_runs_dry() {
        let m = map();
        let mut a = EarlyFrameAllocator::new(&m);
        assert_eq!(a.remaining(), 5);
        let got: Vec<u64> = core::iter::from_fn(|| a.allocate_frame()).map(PhysAddr::as_u64).collect();
        assert_eq!(got, vec![0x8004_0000, 0x8004_2000, 0x9000_0000, 0x9000_2000, 0x9000_3000]);
        assert_eq!(a.remaining(), 0);
        assert_eq!(a.allocate_frame(), None);
        assert_eq!(a.in_use(), 5);
    }

    #[test]
    fn returned_frames_come_back_first() {
        let m = map();
        let mut a = EarlyFrameAllocator::new(&m);
        let f1 = a.allocate_frame().unwrap();
        let f2 = a.allocate_frame().unwrap();
        a.free_frame(f1);
        assert_eq!(a.remaining(), 4);
        assert_eq!(a.allocate_frame(), Some(f1));
        assert_ne!(a.allocate_frame(), Some(f2));
    }

    #[test]
    fn the_limit_keeps_frames_low() {
        let m = map();
        let mut a = EarlyFrameAllocator::with_limit(&m, 0x8004_3000);
        assert_eq!(a.remaining(), 2);
        assert!(a.allocate_frame().is_some());
        assert!(a.allocate_frame().is_some());
        assert_eq!(a.allocate_frame(), None);
    }

    #[test]
    fn frames_given_back_newest_first_rewind_across_reservations() {
        let m = map();
        let mut a = EarlyFrameAllocator::new(&m);
        let frames: Vec<_> = core::iter::from_fn(|| a.allocate_frame()).collect();
        assert_eq!(frames.len(), 5);
        frames.iter().rev().for_each(|&f| a.free_frame(f));
        assert_eq!((a.lost(), a.in_use(), a.remaining()), (0, 0, 5));
        let again: Vec<_> = core::iter::from_fn(|| a.allocate_frame()).collect();
        assert_eq!(again, frames);
    }

    #[test]
    fn a_full_return_stack_counts_lost_frames() {
        let mut m = MemoryMap::new();
        m.add_ram(0, 0x100_0000).unwrap();
        let mut a = EarlyFrameAllocator::new(&m);
        let frames: Vec<_> = (0..RETURNED_CAPACITY + 3).map(|_| a.allocate_frame().unwrap()).collect();
        // Oldest first: no rewinding possible, so they go on the stack until it is full.
        frames[..RETURNED_CAPACITY + 2].iter().for_each(|&f| a.free_frame(f));
        assert_eq!(a.lost(), 2);
        assert_eq!(a.in_use(), 1);
    }

    #[test]
    fn frames_it_never_gave_are_refused_not_handed_out() {
        let m = map();
        let mut a = EarlyFrameAllocator::with_limit(&m, 0x9000_3000);
        let first = a.allocate_frame().unwrap();
        // Inside the no-map reservation, inside the kernel's page, misaligned, above the limit.
        for foreign in [0x8000_0000, 0x8004_1000, 0x8004_0800, 0x9000_3000] {
            a.free_frame(PhysAddr::new(foreign).unwrap());
        }
        assert_eq!((a.refused(), a.lost(), a.in_use()), (4, 0, 1));
        let rest: Vec<u64> = core::iter::from_fn(|| a.allocate_frame()).map(PhysAddr::as_u64).collect();
        assert_eq!(rest, vec![0x8004_2000, 0x9000_0000, 0x9000_2000]);
        a.free_frame(first);
        assert_eq!((a.refused(), a.in_use()), (4, 3));
    }

    #[test]
    fn a_frame_given_back_twice_or_never_handed_out_is_refused() {
        let m = map();
        let mut a = EarlyFrameAllocator::new(&m);
        let f1 = a.allocate_frame().unwrap();
        let f2 = a.allocate_frame().unwrap();
        let _f3 = a.allocate_frame().unwrap();
        a.free_frame(f1); // onto the return stack
        a.free_frame(f1); // again
        a.free_frame(PhysAddr::new(0x9000_3000).unwrap()); // free RAM, never handed out
        assert_eq!((a.refused(), a.in_use(), a.remaining()), (2, 2, 3));
        a.free_frame(f2);
        a.free_frame(f2);
        assert_eq!(a.refused(), 3);
        let rest: Vec<_> = core::iter::from_fn(|| a.allocate_frame()).collect();
        let mut sorted = rest.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), rest.len(), "a frame handed out twice: {rest:?}");
    }

    #[test]
    fn an_empty_map_gives_nothing() {
        let m = MemoryMap::new();
        let mut a = EarlyFrameAllocator::new(&m);
        assert_eq!(a.allocate_frame(), None);
        assert_eq!(a.remaining(), 0);
    }
}

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
//! [`FrameAllocator::free_frame`] are handed out again first. Frames given back
//! are kept as runs of contiguous frames, and a run that reaches the bump
//! pointer moves it down: the frames of an operation that fails (a map short
//! of frames, a linear map undone) come back whatever the order, however many
//! there are. Only frees scattered over more than [`RETURNED_CAPACITY`] runs
//! are lost ([`EarlyFrameAllocator::lost`]). A frame the
//! allocator does not have out (reserved, above the limit, misaligned, never
//! handed out, or given back already) is refused, counted by
//! [`EarlyFrameAllocator::refused`], and never handed out.

use crate::addr::{PhysAddr, PAGE_SIZE};
use crate::paging::FrameAllocator;
use crate::phys::memory_map::MemoryMap;
use crate::phys::range::PhysRange;

/// How many runs of returned frames the allocator remembers for reuse (a run
/// is any number of physically contiguous frames).
pub const RETURNED_CAPACITY: usize = 64;

/// Returned frames `[start, end)`, physically contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u64,
    end: u64,
}

/// Bump allocation over the free RAM of a [`MemoryMap`], with a small stack of
/// returned frames.
#[derive(Clone, Debug)]
pub struct EarlyFrameAllocator<'a> {
    map: &'a MemoryMap,
    /// The next never-used frame candidate. Every frame out (and every frame
    /// returned) lies below it.
    next: u64,
    /// The end of the free range `next` lies in (0 before the first look-up).
    cur_end: u64,
    /// Frames must end at or below this address (e.g. the end of what the
    /// linear map will cover, so the running kernel can reach its tables).
    limit: u64,
    /// Runs of returned frames, disjoint and not touching.
    returned: [Run; RETURNED_CAPACITY],
    n_returned: usize,
    /// Frames given back when every run slot was taken: lost until reboot.
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
            returned: [Run { start: 0, end: 0 }; RETURNED_CAPACITY],
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
        fresh + self.runs().iter().map(|r| (r.end - r.start) / PAGE_SIZE).sum::<u64>()
    }

    /// How many frames are out (handed out and not given back).
    pub fn in_use(&self) -> u64 {
        self.handed_out
    }

    /// Frames given back while every run slot was taken (never reused).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Frames given back that this allocator did not have out: outside its
    /// free RAM, above its limit, not 4 KiB-aligned, never handed out, or given
    /// back already. Ignored, so that no frame is ever handed out twice.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn runs(&self) -> &[Run] {
        &self.returned[..self.n_returned]
    }

    /// Whether no free RAM lies in `[from, self.next)`: then every frame from
    /// `from` up is fresh once the bump pointer is moved down to it.
    fn reaches_next(&self, from: u64) -> bool {
        from >= self.next || !self.map.free().any(|r| r.start_u64() < self.next && r.end() > from)
    }

    fn remove_run(&mut self, i: usize) {
        self.returned.copy_within(i + 1..self.n_returned, i);
        self.n_returned -= 1;
    }

    /// Moves the bump pointer down over every run that reaches it. Only the
    /// highest run can (any other lies below it, and it is free RAM).
    fn rewind(&mut self) {
        while let Some((i, top)) = self.runs().iter().enumerate().max_by_key(|(_, r)| r.end) {
            if !self.reaches_next(top.end) {
                break;
            }
            self.next = top.start;
            self.cur_end = 0;
            self.remove_run(i);
        }
    }

    /// Adds `f` to the run it touches, merging runs it joins, or starts a run.
    fn add_to_runs(&mut self, f: u64) {
        let above = f + PAGE_SIZE;
        let below = self.runs().iter().position(|r| r.end == f);
        let over = self.runs().iter().position(|r| r.start == above);
        match (below, over) {
            (Some(b), Some(o)) => {
                self.returned[b].end = self.returned[o].end;
                self.remove_run(o);
            }
            (Some(b), None) => self.returned[b].end = above,
            (None, Some(o)) => self.returned[o].start = f,
            (None, None) if self.n_returned < RETURNED_CAPACITY => {
                self.returned[self.n_returned] = Run { start: f, end: above };
                self.n_returned += 1;
            }
            (None, None) => self.lost += 1,
        }
    }
}

impl FrameAllocator for EarlyFrameAllocator<'_> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let frame = if let Some(run) = self.returned[..self.n_returned].last_mut() {
            let frame = run.start;
            run.start += PAGE_SIZE;
            if run.start == run.end {
                self.n_returned -= 1;
            }
            frame
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
            frame
        };
        self.handed_out += 1;
        Some(PhysAddr::new_truncate(frame))
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
        // Every frame out lies below the bump pointer and in no run, so a frame
        // at or above it, or in a run already, is not out: a second free, which
        // would hand one frame out twice.
        if f >= self.next || self.runs().iter().any(|r| r.start <= f && f < r.end) {
            self.refused += 1;
            return;
        }
        self.handed_out = self.handed_out.saturating_sub(1);
        // Contiguous frames given back join one run, in whatever order they
        // come; a run (or a frame) with no free RAM between it and the bump
        // pointer moves the pointer down over it. So the frames of a failed
        // operation, given back newest first or oldest first, all become fresh
        // again, however many there are.
        self.add_to_runs(f);
        self.rewind();
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
    fn scattered_frees_past_the_run_slots_are_counted_lost() {
        let mut m = MemoryMap::new();
        m.add_ram(0, 0x100_0000).unwrap();
        let mut a = EarlyFrameAllocator::new(&m);
        let frames: Vec<_> = (0..2 * RETURNED_CAPACITY + 6).map(|_| a.allocate_frame().unwrap()).collect();
        // Every other frame, oldest first: each is a run of its own, and none
        // reaches the bump pointer, so the slots fill and the last two are lost.
        frames.iter().step_by(2).take(RETURNED_CAPACITY + 2).for_each(|&f| a.free_frame(f));
        assert_eq!((a.lost(), a.in_use()), (2, RETURNED_CAPACITY as u64 + 4));
        assert_eq!(a.remaining(), 0x1000 - frames.len() as u64 + RETURNED_CAPACITY as u64);
    }

    #[test]
    fn contiguous_frees_in_any_order_come_back_whole() {
        let mut m = MemoryMap::new();
        m.add_ram(0, 0x100_0000).unwrap();
        for order in ["oldest first", "newest first", "second half, then the first"] {
            let mut a = EarlyFrameAllocator::new(&m);
            let n = 4 * RETURNED_CAPACITY;
            let frames: Vec<_> = (0..n).map(|_| a.allocate_frame().unwrap()).collect();
            let mut given: Vec<_> = frames.clone();
            match order {
                "oldest first" => {}
                "newest first" => given.reverse(),
                _ => given.rotate_left(n / 2),
            }
            given.iter().for_each(|&f| a.free_frame(f));
            assert_eq!((a.lost(), a.in_use(), a.remaining()), (0, 0, 0x1000), "{order}");
            assert_eq!(a.allocate_frame(), Some(frames[0]), "{order}: the bump pointer is back");
        }
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

//! Highmem frames: free RAM above the linear window (`LinearMap::capped`), which the
//! kernel reaches only through kmap slots (super::kmap). User pages may live there; page
//! tables never do (they come from lowmem, reached through the linear map).

use kvas::paging::FrameAllocator;
use kvas::phys::MemoryMap;
use kvas::{PhysAddr, PAGE_SIZE};

/// Frames given back and kept for reuse (more are dropped, and counted).
const RETURNED: usize = 64;

/// Hands out the free frames of a memory map at or above `floor` (the end of lowmem), in
/// address order, and takes freed ones back.
pub struct HighFrames<'m> {
    map: &'m MemoryMap,
    floor: u64,
    next: u64,
    returned: [u64; RETURNED],
    n_returned: usize,
    in_use: u64,
}

impl<'m> HighFrames<'m> {
    /// The allocator over `map`'s free RAM from `floor` up.
    pub fn new(map: &'m MemoryMap, floor: u64) -> Self {
        HighFrames { map, floor, next: floor, returned: [0; RETURNED], n_returned: 0, in_use: 0 }
    }

    /// Bytes of highmem: the free RAM from the floor up.
    pub fn total_bytes(&self) -> u64 {
        self.map.free().map(|r| r.end().saturating_sub(r.start_u64().max(self.floor))).sum()
    }

    /// Frames handed out and not given back.
    pub fn in_use(&self) -> u64 {
        self.in_use
    }
}

impl FrameAllocator for HighFrames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let pa = if self.n_returned > 0 {
            self.n_returned -= 1;
            self.returned[self.n_returned]
        } else {
            let next = self.next;
            let range = self.map.free().find(|r| r.end() >= next + PAGE_SIZE)?;
            let pa = range.start_u64().max(next).next_multiple_of(PAGE_SIZE);
            if pa + PAGE_SIZE > range.end() {
                return None;
            }
            self.next = pa + PAGE_SIZE;
            pa
        };
        self.in_use += 1;
        PhysAddr::new(pa).ok()
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        self.in_use = self.in_use.saturating_sub(1);
        if self.n_returned < RETURNED {
            self.returned[self.n_returned] = frame.as_u64();
            self.n_returned += 1;
        }
    }
}

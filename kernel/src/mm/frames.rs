//! The early frame allocator: a pool of 4 KiB frames inside the image's .bss, reachable both
//! with the MMU off (at its physical address) and after the switch (through the image's
//! mapping), so the early tables built from it stay reachable with the same engine.

use core::cell::UnsafeCell;

use kvas::paging::FrameAllocator;
use kvas::PhysAddr;

/// Frames in the pool.
pub const POOL_FRAMES: usize = 64;

#[repr(C, align(4096))]
struct Pool(UnsafeCell<[[u8; 4096]; POOL_FRAMES]>);

// SAFETY: one hart, and only the early allocator hands out the frames.
unsafe impl Sync for Pool {}

static POOL: Pool = Pool(UnsafeCell::new([[0; 4096]; POOL_FRAMES]));

/// Hands out pool frames; takes freed ones back (a stack of free frames).
pub struct EarlyFrames {
    /// Physical address of the pool's first frame.
    base: u64,
    next: usize,
    freed: [u64; POOL_FRAMES],
    nfreed: usize,
}

impl EarlyFrames {
    /// The allocator over the pool, whose physical address is the pool's current address
    /// minus `virt_minus_phys` (0 with the MMU off).
    pub fn new(virt_minus_phys: u64) -> Self {
        let base = (POOL.0.get() as u64).wrapping_sub(virt_minus_phys);
        EarlyFrames { base, next: 0, freed: [0; POOL_FRAMES], nfreed: 0 }
    }
}

impl FrameAllocator for EarlyFrames {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let pa = if self.nfreed > 0 {
            self.nfreed -= 1;
            self.freed[self.nfreed]
        } else if self.next < POOL_FRAMES {
            self.next += 1;
            self.base + 4096 * (self.next as u64 - 1)
        } else {
            return None;
        };
        PhysAddr::new(pa).ok()
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        if self.nfreed < POOL_FRAMES {
            self.freed[self.nfreed] = frame.as_u64();
            self.nfreed += 1;
        }
    }
}

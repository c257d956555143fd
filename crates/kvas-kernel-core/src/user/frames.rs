//! The user frame pool: a bitmap over one contiguous, 2 MiB-aligned run of physical memory
//! that hands out 4 KiB frames (page tables, 4 KiB pages) and aligned 2 MiB blocks (the
//! 2 MiB leaves of demand paging). Any 4 KiB frame of a block may be given back on its own
//! (a partial `munmap` splits the leaf), so the count of free frames is exact: the leak test
//! compares it before a process and after its exit.

use kvas::paging::FrameAllocator;
use kvas::sizes::{PAGE_SIZE, SZ_2M};
use kvas::PhysAddr;

const PER_BLOCK: usize = (SZ_2M / PAGE_SIZE) as usize;

/// A pool of `64 * WORDS` frames.
pub struct FramePool<const WORDS: usize> {
    base: u64,
    frames: usize,
    /// Bit set: frame in use.
    used: [u64; WORDS],
    free: u64,
}

impl<const WORDS: usize> FramePool<WORDS> {
    /// The most frames a pool holds.
    pub const CAPACITY: usize = WORDS * 64;

    /// A pool over `frames` frames from `base` (2 MiB aligned); `None` if `base` is not
    /// aligned or `frames` exceeds the capacity.
    pub fn new(base: u64, frames: usize) -> Option<Self> {
        if !base.is_multiple_of(SZ_2M) || frames > Self::CAPACITY {
            return None;
        }
        let mut used = [0u64; WORDS];
        for f in frames..Self::CAPACITY {
            used[f / 64] |= 1 << (f % 64);
        }
        Some(FramePool { base, frames, used, free: frames as u64 })
    }

    /// The pool's first frame.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Frames in the pool.
    pub fn total_frames(&self) -> u64 {
        self.frames as u64
    }

    /// Frames free now.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Whether `pa` is a frame of this pool.
    pub fn contains(&self, pa: u64) -> bool {
        pa >= self.base && pa < self.base + self.frames as u64 * PAGE_SIZE
    }

    /// One free 4 KiB frame.
    pub fn alloc_frame(&mut self) -> Option<u64> {
        let (w, word) = self.used.iter().enumerate().find(|(_, &w)| w != u64::MAX)?;
        let f = w * 64 + (!word).trailing_zeros() as usize;
        self.used[w] |= 1 << (f % 64);
        self.free -= 1;
        Some(self.base + f as u64 * PAGE_SIZE)
    }

    /// One free, 2 MiB-aligned run of 512 frames.
    pub fn alloc_block(&mut self) -> Option<u64> {
        let words = PER_BLOCK / 64;
        let b = (0..self.frames / PER_BLOCK)
            .find(|b| self.used[b * words..(b + 1) * words].iter().all(|&w| w == 0))?;
        self.used[b * words..(b + 1) * words].fill(u64::MAX);
        self.free -= PER_BLOCK as u64;
        Some(self.base + b as u64 * SZ_2M)
    }

    /// Gives back the frame at `pa`. A frame outside the pool, or one already free, is
    /// refused with `false` and changes nothing.
    pub fn free(&mut self, pa: u64) -> bool {
        if !self.contains(pa) || !pa.is_multiple_of(PAGE_SIZE) {
            return false;
        }
        let f = ((pa - self.base) / PAGE_SIZE) as usize;
        if self.used[f / 64] & (1 << (f % 64)) == 0 {
            return false;
        }
        self.used[f / 64] &= !(1 << (f % 64));
        self.free += 1;
        true
    }
}

impl<const WORDS: usize> FrameAllocator for FramePool<WORDS> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        self.alloc_frame().and_then(|pa| PhysAddr::new(pa).ok())
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        self.free(frame.as_u64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_blocks_come_back_exactly() {
        let mut p = FramePool::<32>::new(0x8000_0000, 2048).unwrap(); // 8 MiB, 4 blocks
        let f = p.alloc_frame().unwrap();
        assert_eq!(f, 0x8000_0000);
        let b = p.alloc_block().unwrap();
        assert_eq!(b, 0x8020_0000, "block 0 holds a frame");
        assert_eq!(p.free_frames(), 2048 - 1 - 512);
        // A block given back frame by frame (a split 2 MiB leaf).
        for i in 0..512 {
            assert!(p.free(b + i * PAGE_SIZE));
        }
        assert!(p.free(f));
        assert_eq!(p.free_frames(), 2048);
        assert!(!p.free(f), "double free refused");
        assert!(!p.free(0x1000), "outside the pool refused");
    }

    #[test]
    fn blocks_run_out_while_frames_remain() {
        let mut p = FramePool::<16>::new(0, 1024).unwrap(); // 2 blocks
        let _ = p.alloc_frame();
        assert!(p.alloc_block().is_some());
        assert!(p.alloc_block().is_none());
        assert_eq!(p.free_frames(), 511);
        assert!(FramePool::<16>::new(0x1000, 1).is_none());
        assert!(FramePool::<16>::new(0, 1025).is_none());
    }
}

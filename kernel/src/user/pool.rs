//! The user frame pool: where user pages and user page tables come from.
//!
//! Two bitmaps (`kvas_kernel_core::user::frames::FramePool`): a lowmem part, carved at boot
//! from the kernel's allocator, for page tables (the engine reaches them through the linear
//! map), 2 MiB blocks (riscv64's 2 MiB leaves) and user pages when there is no highmem left;
//! and on riscv32, when RAM goes past lowmem, a highmem part that user pages come from first
//! (Linux's `GFP_HIGHUSER`): demand-faulted pages, ELF segments, the stack, brk and mmap.
//! The kernel touches a user page only through `arch::map_frame` (a kmap slot for a highmem
//! frame, the linear map for a lowmem one). riscv64 has no highmem: its pool is the lowmem
//! part alone, as before.

use kvas::paging::FrameAllocator;
use kvas::PhysAddr;
use kvas_kernel_core::user::frames::FramePool;

/// The lowmem part: up to 32 MiB.
pub type LowPool = FramePool<128>;

/// The highmem part (riscv32): up to 64 MiB.
pub type HighPool = FramePool<256>;

/// The user frame pool (see the module doc).
pub struct Pool {
    low: LowPool,
    high: Option<HighPool>,
    /// User pages handed out, and how many of them from the highmem part.
    user_pages: u64,
    from_high: u64,
}

impl Pool {
    /// A pool of the lowmem part alone.
    pub fn new(low: LowPool) -> Self {
        Pool { low, high: None, user_pages: 0, from_high: 0 }
    }

    /// Adds a highmem part: user pages come from it first.
    #[cfg(target_arch = "riscv32")]
    pub fn with_high(self, high: HighPool) -> Self {
        Pool { high: Some(high), ..self }
    }

    /// The lowmem part.
    pub fn low(&self) -> &LowPool {
        &self.low
    }

    /// The highmem part, if any.
    pub fn high(&self) -> Option<&HighPool> {
        self.high.as_ref()
    }

    /// Frames in both parts.
    pub fn total_frames(&self) -> u64 {
        self.low.total_frames() + self.high.as_ref().map_or(0, FramePool::total_frames)
    }

    /// Frames free now in both parts.
    pub fn free_frames(&self) -> u64 {
        self.low.free_frames() + self.high.as_ref().map_or(0, FramePool::free_frames)
    }

    /// User pages handed out since boot, and how many of them came from highmem.
    #[cfg(target_arch = "riscv32")]
    pub fn user_pages(&self) -> (u64, u64) {
        (self.user_pages, self.from_high)
    }

    /// A 4 KiB frame for a user page: highmem first, lowmem when there is none left.
    pub fn alloc_user_page(&mut self) -> Option<u64> {
        let pa = match self.high.as_mut().and_then(FramePool::alloc_frame) {
            Some(pa) => {
                self.from_high += 1;
                pa
            }
            None => self.low.alloc_frame()?,
        };
        self.user_pages += 1;
        Some(pa)
    }

    /// A 2 MiB-aligned block of 512 lowmem frames.
    pub fn alloc_block(&mut self) -> Option<u64> {
        self.low.alloc_block()
    }

    /// Gives back the frame at `pa`, to the part it came from; `false` (nothing changed) for
    /// a frame of neither part or one already free.
    pub fn free(&mut self, pa: u64) -> bool {
        match self.high.as_mut().filter(|h| h.contains(pa)) {
            Some(h) => h.free(pa),
            None => self.low.free(pa),
        }
    }
}

/// The engine's allocator: page tables, from the lowmem part only; frees go to either part
/// (an unmap gives user pages back through it).
impl FrameAllocator for Pool {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        self.low.allocate_frame()
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        self.free(frame.as_u64());
    }
}

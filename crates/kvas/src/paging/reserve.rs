//! Frames taken from the allocator before a range operation starts.
//!
//! A range operation first plans (how many table frames it needs, and whether
//! anything is in the way), then takes every frame it needs, then changes the
//! tables. If the allocator runs dry half way through the taking, the frames
//! already taken go back and the tables were never touched: that is how failure
//! stays atomic. The reserve threads its frames into a list through their first
//! word, so it needs no heap and works in early boot.

use crate::addr::PhysAddr;
use crate::paging::{FrameAllocator, PhysMemory};

/// A stack of reserved frames linked through their first word.
pub(super) struct Reserve {
    head: Option<PhysAddr>,
    len: u64,
}

/// Marks the end of the list in a frame's link word (no frame lives at 1).
const END: u64 = 1;

impl Reserve {
    pub const fn empty() -> Self {
        Self { head: None, len: 0 }
    }

    /// Takes `count` frames; on exhaustion gives back what it took and reports
    /// how many it got.
    pub fn take<M: PhysMemory>(mem: &M, alloc: &mut impl FrameAllocator, count: u64) -> Result<Self, u64> {
        let mut reserve = Self::empty();
        while reserve.len < count {
            match alloc.allocate_frame() {
                Some(frame) => reserve.push(mem, frame),
                None => {
                    let got = reserve.len;
                    reserve.release(mem, alloc);
                    return Err(got);
                }
            }
        }
        Ok(reserve)
    }

    fn push<M: PhysMemory>(&mut self, mem: &M, frame: PhysAddr) {
        let link = self.head.map_or(END, PhysAddr::as_u64);
        // SAFETY: `frame` came from the engine's allocator, so PhysMemory promises
        // (1) a valid, aligned 4 KiB frame and (2) no aliasing reference.
        unsafe { mem.frame_ptr(frame).write_volatile(link) };
        self.head = Some(frame);
        self.len += 1;
    }

    /// The next reserved frame; its contents are unspecified (the caller clears it).
    ///
    /// The plan counted every frame the operation will use, so running dry here
    /// is a bug in the engine, reported by `None`.
    pub fn pop<M: PhysMemory>(&mut self, mem: &M) -> Option<PhysAddr> {
        let frame = self.head?;
        // SAFETY: as in `push`: a frame from the engine's allocator.
        let link = unsafe { mem.frame_ptr(frame).read_volatile() };
        self.head = if link == END { None } else { Some(PhysAddr::new_truncate(link)) };
        self.len -= 1;
        Some(frame)
    }

    /// Gives every frame left back to the allocator.
    pub fn release<M: PhysMemory>(mut self, mem: &M, alloc: &mut impl FrameAllocator) {
        while let Some(frame) = self.pop(mem) {
            alloc.free_frame(frame);
        }
    }
}

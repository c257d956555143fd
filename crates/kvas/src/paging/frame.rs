//! Where table frames come from.

use crate::addr::PhysAddr;

/// Hands out and takes back 4 KiB frames for page tables.
///
/// The allocator is passed to each engine call that may need a frame, never kept
/// in a global, so early boot, the running kernel and the host simulator each
/// bring their own. Frames may come back with any contents: the engine clears a
/// frame before it becomes a table.
pub trait FrameAllocator {
    /// A free, 4 KiB-aligned frame, or `None` when there are no more.
    fn allocate_frame(&mut self) -> Option<PhysAddr>;

    /// Takes back a frame that [`FrameAllocator::allocate_frame`] gave out.
    fn free_frame(&mut self, frame: PhysAddr);
}

impl<A: FrameAllocator + ?Sized> FrameAllocator for &mut A {
    #[inline]
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        (**self).allocate_frame()
    }

    #[inline]
    fn free_frame(&mut self, frame: PhysAddr) {
        (**self).free_frame(frame)
    }
}

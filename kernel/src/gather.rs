//! Linux's `mmu_gather`, one source for both widths: the flush of a batch of unmaps and the
//! frames they freed (kvas's `DeferredFree`), the frames freed only after the flush has
//! reached every hart that may cache them. The flushes are each width's own: riscv64's
//! shootdowns (mm/shootdown.rs), riscv32's one hart (sv32/mmu.rs).

#[cfg(target_arch = "riscv64")]
use crate::mm::shootdown::{flush_asid, flush_kernel, HartMask};
#[cfg(target_arch = "riscv32")]
use crate::sv32::mmu::{flush_asid, flush_kernel, HartMask};
use kvas::paging::{DeferredFree, Flush, FrameAllocator};
use kvas::PhysAddr;

/// Frames a shootdown must finish with before they are freed (Linux's `tlb_remove_table`).
const GATHER: usize = 64;

/// Linux's `mmu_gather`, for the kernel's tables or a process's: the flush of a batch of
/// unmaps and the frames it freed, all held back until [`Gather::finish`].
pub struct Gather<'a, A: FrameAllocator> {
    flush: Flush,
    frames: DeferredFree<A, GATHER>,
    /// A process's ASID and hart mask ([`flush_asid`]); `None`: the kernel's ([`flush_kernel`]).
    asid: Option<(u16, &'a HartMask)>,
}

impl<'a, A: FrameAllocator> Gather<'a, A> {
    /// An empty batch over the kernel's tables and the allocator the frames go back to
    /// (riscv64's vmalloc; riscv32's kernel unmaps nothing at run time).
    #[cfg(target_arch = "riscv64")]
    pub fn new(alloc: A) -> Self {
        Gather { flush: Flush::none(), frames: DeferredFree::new(alloc), asid: None }
    }

    /// An empty batch over a process's tables, flushed by `asid` on the harts of `harts`.
    pub fn for_asid(alloc: A, asid: u16, harts: &'a HartMask) -> Self {
        Gather { flush: Flush::none(), frames: DeferredFree::new(alloc), asid: Some((asid, harts)) }
    }

    /// The allocator to pass to the engine's unmap: frees wait for [`Gather::finish`].
    pub fn alloc(&mut self) -> &mut DeferredFree<A, GATHER> {
        &mut self.frames
    }

    /// Adds what an engine call asks to flush, and the page behind the leaf it removed.
    pub fn add(&mut self, flush: Flush, page: Option<PhysAddr>) {
        self.flush.merge(flush);
        if let Some(page) = page {
            self.frames.defer(page);
        }
        if !self.frames.has_room() {
            self.flush_and_free();
        }
    }

    fn flush_and_free(&mut self) {
        let flush = core::mem::replace(&mut self.flush, Flush::none());
        match self.asid {
            None => flush_kernel(flush),
            Some((asid, harts)) => flush_asid(flush, asid, harts),
        }
        self.frames.release();
    }

    /// Flushes every hart, then frees the held frames.
    pub fn finish(mut self) {
        self.flush_and_free();
        let leaked = self.frames.leaked();
        if leaked > 0 {
            crate::kprintln!("kvas: warning: {leaked} frames leaked (the gather was full)");
        }
    }
}

//! The one pre-faulted arena that every implementation takes table frames from.
//!
//! The arena is a large, 4 KiB-aligned heap buffer that plays the part of
//! physical memory. Its "physical" addresses are its virtual addresses (an
//! identity view, physical offset 0), so that every implementation reaches a
//! table frame in the same way: kvas through `OffsetMemory::new(0)`, the x86_64
//! crate through `OffsetPageTable` with offset 0, page_table_multiarch and
//! aarch64-paging through an identity `phys_to_virt`.
//!
//! Every page of the buffer is written once when the arena is created, so no
//! measurement ever pays for a page fault. Frames come from a bump pointer and
//! a free list threaded through freed frames; [`reset`] takes every frame back
//! between runs, so each implementation builds its tables in the same frames.
//!
//! The arena state is thread-local: page_table_multiarch's `PagingHandler`
//! allocates through associated functions without `self`, so the allocator
//! cannot be a value passed in. All implementations go through the same
//! functions, so they pay the same for it.

use std::alloc::Layout;
use std::cell::Cell;

use kvas::sizes::{PAGE_SIZE, SZ_2M, SZ_64M};

/// Default arena size: far more than the largest workload needs (about 520
/// frames for 1 GiB of 4 KiB pages), small enough to fault in quickly.
pub const DEFAULT_BYTES: u64 = SZ_64M;

/// The arena's alignment: one transparent huge page.
const HUGE: usize = SZ_2M as usize;

#[repr(C, align(4096))]
struct Frame([u64; 512]);

struct State {
    base: Cell<u64>,
    end: Cell<u64>,
    next: Cell<u64>,
    free: Cell<u64>,
    in_use: Cell<u64>,
    high_water: Cell<u64>,
}

thread_local! {
    static ARENA: State = const {
        State {
            base: Cell::new(0),
            end: Cell::new(0),
            next: Cell::new(0),
            free: Cell::new(0),
            in_use: Cell::new(0),
            high_water: Cell::new(0),
        }
    };
}

/// Creates this thread's arena of `bytes` (rounded up to frames, at least
/// one), 2 MiB aligned and advised to use transparent huge pages, and faults
/// in every page. Calling it again keeps the existing arena.
pub fn init(bytes: u64) {
    if ARENA.with(|a| a.base.get()) != 0 {
        return;
    }
    let frames = bytes.div_ceil(PAGE_SIZE).max(1) as usize;
    let len = frames * PAGE_SIZE as usize;
    let layout = Layout::from_size_align(len, HUGE).expect("the arena size fits a layout");
    // SAFETY: the layout has a non-zero size (callers ask for at least a frame).
    let base = unsafe { std::alloc::alloc(layout) };
    if base.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // A kernel reaches its table frames through the linear map, whose leaves are
    // 2 MiB or larger; ask for transparent huge pages so that the host's TLB
    // sees the arena the same way. Only advice: without it the numbers are
    // noisier (see docs/PERFORMANCE.md), not wrong.
    // SAFETY: advice only, on memory this function has just allocated.
    unsafe { libc::madvise(base.cast(), len, libc::MADV_HUGEPAGE) };
    // Write every page so that no measurement pays for a page fault.
    for i in 0..frames {
        // SAFETY: frame `i` lies inside the allocation, which is 4 KiB aligned.
        unsafe { base.add(i * PAGE_SIZE as usize).cast::<Frame>().write(Frame([i as u64; 512])) };
    }
    // The arena is never freed: tables in it live as long as the thread.
    let base = base as u64;
    ARENA.with(|a| {
        a.base.set(base);
        a.end.set(base + frames as u64 * PAGE_SIZE);
        a.next.set(base);
        a.free.set(0);
        a.in_use.set(0);
        a.high_water.set(0);
    });
}

/// A free frame (its physical address, which is also its address), or `None`
/// when the arena is exhausted or was never created. The contents are
/// whatever the frame last held.
#[inline]
pub fn alloc() -> Option<u64> {
    ARENA.with(|a| {
        let head = a.free.get();
        let frame = if head != 0 {
            // SAFETY: `head` is a frame of the leaked arena buffer that `free`
            // put on the list; its first word holds the next free frame.
            a.free.set(unsafe { (head as *const u64).read() });
            head
        } else {
            let next = a.next.get();
            if next == a.end.get() {
                return None;
            }
            a.next.set(next + PAGE_SIZE);
            next
        };
        let in_use = a.in_use.get() + 1;
        a.in_use.set(in_use);
        if in_use > a.high_water.get() {
            a.high_water.set(in_use);
        }
        Some(frame)
    })
}

/// Like [`alloc`], with the frame cleared (for allocators whose contract is
/// to hand out zeroed tables).
#[inline]
pub fn alloc_zeroed() -> Option<u64> {
    let frame = alloc()?;
    // SAFETY: `frame` is a whole, 4 KiB-aligned frame of the leaked arena
    // buffer that nobody else holds until it is freed.
    unsafe { std::ptr::write_bytes(frame as *mut u8, 0, PAGE_SIZE as usize) };
    Some(frame)
}

/// Takes back a frame that [`alloc`] handed out.
///
/// # Panics
///
/// If `frame` is not a frame of the arena: a peer handing back a foreign
/// frame would corrupt the free list, so the benchmark stops instead.
#[inline]
pub fn free(frame: u64) {
    ARENA.with(|a| {
        assert!(
            frame >= a.base.get() && frame < a.next.get() && frame & (PAGE_SIZE - 1) == 0,
            "freed frame {frame:#x} is not an arena frame"
        );
        // SAFETY: the frame lies inside the leaked arena buffer (checked above)
        // and its owner has just given it up, so its first word is ours.
        unsafe { (frame as *mut u64).write(a.free.get()) };
        a.free.set(frame);
        a.in_use.set(a.in_use.get() - 1);
    })
}

/// Takes back every frame at once (the tables built in them are abandoned).
pub fn reset() {
    ARENA.with(|a| {
        a.next.set(a.base.get());
        a.free.set(0);
        a.in_use.set(0);
        a.high_water.set(0);
    })
}

/// Frames handed out and not yet freed.
pub fn in_use() -> u64 {
    ARENA.with(|a| a.in_use.get())
}

/// The most frames in use at once since the last [`reset`].
pub fn high_water() -> u64 {
    ARENA.with(|a| a.high_water.get())
}

/// Whether `frame` is a frame of the arena that is currently handed out or
/// was handed out since the last reset.
pub fn contains(frame: u64) -> bool {
    ARENA.with(|a| frame >= a.base.get() && frame < a.next.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_reused_after_free_and_reset() {
        init(16 * PAGE_SIZE);
        reset();
        let a = alloc().unwrap();
        let b = alloc().unwrap();
        assert_eq!(b, a + PAGE_SIZE);
        assert_eq!(in_use(), 2);
        free(a);
        assert_eq!(alloc(), Some(a));
        assert_eq!(high_water(), 2);
        reset();
        assert_eq!(alloc(), Some(a));
        assert!(contains(a) && !contains(b));
    }

    #[test]
    fn exhaustion_is_none() {
        init(4 * PAGE_SIZE);
        reset();
        let n = std::iter::from_fn(alloc).count() as u64;
        assert_eq!(n, 4);
        assert_eq!(alloc(), None);
        reset();
    }

    #[test]
    fn zeroed_frames_are_zero() {
        init(4 * PAGE_SIZE);
        reset();
        let f = alloc().unwrap();
        // SAFETY: `f` is an arena frame handed out to this test.
        unsafe { (f as *mut u64).add(7).write(99) };
        free(f);
        let z = alloc_zeroed().unwrap();
        assert_eq!(z, f);
        // SAFETY: as above.
        assert!((0..512).all(|i| unsafe { (z as *const u64).add(i).read() } == 0));
    }
}

//! The virtual-range allocator: first fit over a window of pages, O(log n)
//! allocate and free, neighbours merged on free.
//!
//! A [`RangeAllocator`] owns one window `[start, end)` and keeps two trees of
//! page ranges in one fixed pool of `N` nodes:
//!
//! ```text
//!  window  |####|....|##|.........|######|...|
//!  busy     [a)        [b)         [c)            allocations, keyed by start
//!  free           [f0)    [f1)            [f2)    free ranges, keyed by start,
//!                                                 each subtree knowing its longest
//! ```
//!
//! - the **free tree** ([`Tree`] with its `max_len` augmentation) finds the
//!   lowest range that fits in one walk, and the neighbours of a freed range;
//! - the **busy tree** records every live allocation, so that a free must name
//!   exactly a range this allocator handed out: double frees, frees of foreign or
//!   partial ranges are refused with [`Error::VaBadFree`] and change nothing.
//!
//! Invariants (checked by [`RangeAllocator::check`]): free and busy ranges lie
//! in the window, are pairwise disjoint and together cover it; no two free ranges
//! touch (a free always merges with a free neighbour); the counters match the
//! trees. Since free ranges never touch, there are at most `busy + 1` of them, so
//! `2k + 1` nodes always suffice for `k` live allocations.

use crate::addr::{VirtAddr, PAGE_SIZE};
use crate::range::{VirtRange, PAGE_NUMBER_END};
use crate::Error;

use super::pool::{Node, NodePool};
use super::tree::Tree;

/// A first-fit allocator of page ranges in one virtual window, with a pool of
/// `N` tree nodes and no heap.
///
/// `k` live allocations need at most `2k + 1` nodes (see the module doc); when
/// the pool cannot hold what a request needs, it fails with
/// [`Error::VaNodePoolFull`] and changes nothing.
#[derive(Clone, Debug)]
pub struct RangeAllocator<const N: usize> {
    name: &'static str,
    /// Window `[start, end)` in page numbers; `end` may be 2^52 (the top of the space).
    start: u64,
    end: u64,
    pool: NodePool<N>,
    free: Tree,
    busy: Tree,
    free_pages: u64,
    free_ranges: usize,
    allocations: usize,
}

impl<const N: usize> RangeAllocator<N> {
    /// An allocator for the window `[start, end)`, all free. `end == 0` stands
    /// for 2^64 (a window reaching the top of the address space); `name` is the
    /// window's name in error messages ("vmalloc", "modules", ...).
    ///
    /// Refuses a misaligned bound, an empty window, one that ends before it
    /// starts or covers all 2^64 bytes, and a pool of no node (or of
    /// more nodes than `u32` indices address). A `const fn`, so that a `static`
    /// can hold an allocator; see [`Self::reset`] to give it its window at boot.
    pub const fn new(name: &'static str, start: VirtAddr, end: VirtAddr) -> Result<Self, Error> {
        let (first, last) = match window_pages::<N>(start, end) {
            Ok(w) => w,
            Err(e) => return Err(e),
        };
        Ok(RangeAllocator {
            name,
            start: first,
            end: last,
            pool: NodePool::with_one(first, last),
            free: Tree::with_root(0),
            busy: Tree::EMPTY,
            free_pages: last - first,
            free_ranges: 1,
            allocations: 0,
        })
    }

    /// An allocator for the window `range` (a layout region's, say). Refuses what
    /// [`Self::new`] refuses.
    pub const fn from_range(name: &'static str, range: VirtRange) -> Result<Self, Error> {
        Self::new(name, range.start(), range.end())
    }

    /// Starts over in place with the window `[start, end)`, all free: every
    /// allocation is forgotten. O(1), and no copy of the node pool, so a kernel
    /// can set up an allocator that lives in a `static`. Refuses what
    /// [`Self::new`] refuses, and then changes nothing.
    pub fn reset(&mut self, start: VirtAddr, end: VirtAddr) -> Result<(), Error> {
        let (first, last) = window_pages::<N>(start, end)?;
        self.start = first;
        self.end = last;
        self.pool.reset_to_one(first, last);
        self.free = Tree::with_root(0);
        self.busy = Tree::EMPTY;
        self.free_pages = last - first;
        self.free_ranges = 1;
        self.allocations = 0;
        Ok(())
    }

    /// The window's name, as error messages print it.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The whole window.
    pub const fn window(&self) -> VirtRange {
        VirtRange::from_pages(self.start, self.end - self.start)
    }

    /// The node pool's capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Nodes in use (free ranges plus live allocations).
    pub const fn nodes_in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// Free bytes in the window.
    pub const fn free_bytes(&self) -> u64 {
        self.free_pages * PAGE_SIZE
    }

    /// The longest free range, in bytes (0 when the window is full).
    pub fn largest_free(&self) -> u64 {
        self.free.max_len(self.pool.nodes()) * PAGE_SIZE
    }

    /// How many separate free ranges there are.
    pub const fn free_range_count(&self) -> usize {
        self.free_ranges
    }

    /// How many allocations are live.
    pub const fn allocation_count(&self) -> usize {
        self.allocations
    }

    /// The free ranges in address order.
    pub fn free_ranges(&self) -> impl Iterator<Item = VirtRange> + '_ {
        self.free.iter(self.pool.nodes()).map(to_range)
    }

    /// The live allocations in address order.
    pub fn allocations(&self) -> impl Iterator<Item = VirtRange> + '_ {
        self.busy.iter(self.pool.nodes()).map(to_range)
    }

    /// The live allocation that contains `addr`, if any. O(log n).
    pub fn allocation_containing(&self, addr: VirtAddr) -> Option<VirtRange> {
        let page = addr.as_u64() / PAGE_SIZE;
        let idx = self.busy.floor(self.pool.nodes(), page)?;
        let node = &self.pool.nodes()[idx as usize];
        (page < node.end).then(|| to_range(node))
    }

    /// Allocates `size` bytes (a non-zero multiple of [`PAGE_SIZE`]) at the
    /// lowest address aligned to `align` (a power of two; below [`PAGE_SIZE`]
    /// counts as one page) where they fit — see the module doc of [`crate::vm`]
    /// for the exact rule when `align` exceeds a page. O(log n).
    ///
    /// Errors: [`Error::Misaligned`] for a size that is not whole pages,
    /// [`Error::VaRequestInvalid`] for a zero size or an alignment that is not a
    /// power of two, [`Error::VaExhausted`] (with the largest free range) when
    /// nothing fits, [`Error::VaNodePoolFull`] when the pool cannot record the
    /// allocation. Nothing changes on error.
    pub fn allocate(&mut self, size: u64, align: u64) -> Result<VirtRange, Error> {
        let invalid = |reason| Error::VaRequestInvalid { window: self.name, size, align, reason };
        if size == 0 {
            return Err(invalid("the size is zero"));
        }
        if size % PAGE_SIZE != 0 {
            return Err(Error::Misaligned { what: "allocation size", value: size, align: PAGE_SIZE });
        }
        if !align.is_power_of_two() {
            return Err(invalid("the alignment is not a power of two"));
        }
        let pages = size / PAGE_SIZE;
        let align_pages = align.max(PAGE_SIZE) / PAGE_SIZE;
        let nodes = self.pool.nodes();
        let aligned_fit = |n: &Node| n.start.next_multiple_of(align_pages) + pages <= n.end;
        // A range of pages + align_pages - 1 fits at any offset: one walk. Only when
        // none is that long can a shorter range fit thanks to where it starts.
        let found = match self.free.first_fit(nodes, pages + (align_pages - 1)) {
            Some(idx) => Some(idx),
            None if align_pages > 1 => self.free.first_match(nodes, pages, aligned_fit),
            None => None,
        };
        let Some(idx) = found else {
            return Err(Error::VaExhausted {
                window: self.name,
                size,
                align: align.max(PAGE_SIZE),
                largest_free: self.largest_free(),
            });
        };
        let Node { start, end, .. } = nodes[idx as usize];
        let at = start.next_multiple_of(align_pages);
        let (head, tail) = (at > start, at + pages < end);
        // Nodes this needs: one for the allocation, one more if the free range
        // splits in two, one fewer if it is used up.
        let needed = 1 + usize::from(head && tail) - usize::from(!head && !tail);
        if self.pool.available() < needed {
            return Err(Error::VaNodePoolFull { window: self.name, capacity: N });
        }
        let nodes = self.pool.nodes_mut();
        match (head, tail) {
            (false, false) => {
                self.free.remove(nodes, start);
                self.free_ranges -= 1;
                self.pool.give_back(idx);
            }
            (true, false) => {
                self.free.set_bounds(nodes, start, start, at);
            }
            (false, true) => {
                self.free.set_bounds(nodes, start, at + pages, end);
            }
            (true, true) => {
                self.free.set_bounds(nodes, start, start, at);
                self.insert_free(at + pages, end);
            }
        }
        self.insert_busy(at, at + pages);
        self.free_pages -= pages;
        self.allocations += 1;
        Ok(VirtRange::from_pages(at, pages))
    }

    /// Frees `range`, which must be exactly a live allocation of this
    /// allocator, and merges it with the free ranges it touches. O(log n).
    ///
    /// Refuses with [`Error::VaBadFree`], changing nothing: a range not of whole
    /// pages, a range outside the window, one that is already free (a double free), one that does not start
    /// where an allocation starts, and one whose size differs from that
    /// allocation's. Never needs a new node, so never fails for a full pool.
    pub fn free(&mut self, range: VirtRange) -> Result<(), Error> {
        let bad =
            |reason| Error::VaBadFree { window: self.name, addr: range.start(), size: range.size(), reason };
        if !range.is_aligned(PAGE_SIZE) {
            // Allocations are whole pages: a range off the page grid is none of them (and
            // rounding it out to pages would free an allocation it only touches).
            return Err(bad("the range is not whole pages, as every allocation is"));
        }
        let (s, e) = (range.first_page(), range.end_page());
        if s < self.start || e > self.end {
            return Err(bad("the range is not inside the window"));
        }
        let nodes = self.pool.nodes();
        let Some(b) = self.busy.find(nodes, s) else {
            if self.overlaps_free(s, e) {
                return Err(bad("the range is free already (double free?)"));
            }
            return Err(bad("no allocation starts at this address"));
        };
        if nodes[b as usize].end != e {
            return Err(bad("the size differs from the allocation's at this address"));
        }
        if self.overlaps_free(s, e) {
            return Err(Error::VaCorrupt { window: self.name, reason: "an allocation overlaps free space" });
        }
        self.release(s, e);
        Ok(())
    }

    /// Frees the live allocation that starts at `start`, whatever its size, and
    /// returns it (like Linux's `vfree(addr)`). Errors as [`Self::free`].
    pub fn free_at(&mut self, start: VirtAddr) -> Result<VirtRange, Error> {
        let page = start.as_u64() / PAGE_SIZE;
        let found = self.busy.find(self.pool.nodes(), page).filter(|_| start.is_aligned(PAGE_SIZE));
        let Some(b) = found else {
            return Err(Error::VaBadFree {
                window: self.name,
                addr: start,
                size: 0,
                reason: "no allocation starts at this address",
            });
        };
        let range = to_range(&self.pool.nodes()[b as usize]);
        self.free(range)?;
        Ok(range)
    }

    /// Checks every invariant of the module doc: the trees' own (order, balance,
    /// augmentation) and the allocator's (inside the window, disjoint, covering
    /// it, no two free ranges touching, counters right). For tests and kernel
    /// self-tests; O(n).
    pub fn check(&self) -> Result<(), Error> {
        let corrupt = |reason| Error::VaCorrupt { window: self.name, reason };
        let nodes = self.pool.nodes();
        let free_count = self.free.check(nodes).map_err(corrupt)?;
        let busy_count = self.busy.check(nodes).map_err(corrupt)?;
        if free_count != self.free_ranges || busy_count != self.allocations {
            return Err(corrupt("the range counts do not match the trees"));
        }
        if free_count + busy_count != self.pool.in_use() {
            return Err(corrupt("the pool's count of nodes in use does not match the trees"));
        }
        let (mut free_it, mut busy_it) = (self.free.iter(nodes).peekable(), self.busy.iter(nodes).peekable());
        let (mut at, mut free_pages, mut last_was_free) = (self.start, 0, false);
        loop {
            let take_free = match (free_it.peek(), busy_it.peek()) {
                (None, None) => break,
                (Some(f), Some(b)) => f.start < b.start,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            let node = if take_free { free_it.next() } else { busy_it.next() };
            let Some(node) = node else { break };
            if node.start != at {
                return Err(corrupt("the free and busy ranges do not tile the window"));
            }
            if take_free && last_was_free {
                return Err(corrupt("two free ranges touch without being merged"));
            }
            if take_free {
                free_pages += node.len();
            }
            last_was_free = take_free;
            at = node.end;
        }
        if at != self.end {
            return Err(corrupt("the free and busy ranges do not tile the window"));
        }
        if free_pages != self.free_pages {
            return Err(corrupt("the free byte count does not match the free tree"));
        }
        Ok(())
    }

    /// Whether `[s, e)` shares a page with a free range.
    fn overlaps_free(&self, s: u64, e: u64) -> bool {
        let nodes = self.pool.nodes();
        let below = self.free.floor(nodes, s).is_some_and(|p| nodes[p as usize].end > s);
        let above = self.free.above(nodes, s).is_some_and(|n| nodes[n as usize].start < e);
        below || above
    }

    /// Moves the live allocation `[s, e)` to the free tree, merging it with the
    /// free ranges it touches. Needs no new node: the busy node is reused.
    fn release(&mut self, s: u64, e: u64) {
        let nodes = self.pool.nodes_mut();
        if let Some(b) = self.busy.remove(nodes, s) {
            self.pool.give_back(b);
        }
        self.allocations -= 1;
        self.free_pages += e - s;
        let nodes = self.pool.nodes_mut();
        let pred = self.free.floor(nodes, s).map(|i| nodes[i as usize]).filter(|p| p.end == s);
        let succ = self.free.above(nodes, s).map(|i| nodes[i as usize]).filter(|n| n.start == e);
        match (pred, succ) {
            (Some(p), Some(n)) => {
                if let Some(idx) = self.free.remove(nodes, n.start) {
                    self.pool.give_back(idx);
                }
                self.free_ranges -= 1;
                self.free.set_bounds(self.pool.nodes_mut(), p.start, p.start, n.end);
            }
            (Some(p), None) => {
                self.free.set_bounds(nodes, p.start, p.start, e);
            }
            (None, Some(n)) => {
                self.free.set_bounds(nodes, n.start, s, n.end);
            }
            (None, None) => self.insert_free(s, e),
        }
    }

    /// Links a new free range; the caller has checked that a node is available.
    fn insert_free(&mut self, s: u64, e: u64) {
        if let Some(idx) = self.pool.take(s, e) {
            self.free.insert(self.pool.nodes_mut(), idx);
            self.free_ranges += 1;
        }
    }

    /// Links a new allocation; the caller has checked that a node is available.
    fn insert_busy(&mut self, s: u64, e: u64) {
        if let Some(idx) = self.pool.take(s, e) {
            self.busy.insert(self.pool.nodes_mut(), idx);
        }
    }
}

/// Why a window of all 2^64 bytes is refused.
pub(crate) const WHOLE_SPACE: &str =
    "the window is the whole 64-bit address space, whose size does not fit in 64 bits";

/// Checks a window `[start, end)` (`end == 0` for 2^64) and a pool size `N`;
/// returns the window in page numbers.
pub(crate) const fn window_pages<const N: usize>(
    start: VirtAddr,
    end: VirtAddr,
) -> Result<(u64, u64), Error> {
    let (s, e) = (start.as_u64(), end.as_u64());
    if !start.is_aligned(PAGE_SIZE) {
        return Err(Error::Misaligned { what: "window start", value: s, align: PAGE_SIZE });
    }
    if !end.is_aligned(PAGE_SIZE) {
        return Err(Error::Misaligned { what: "window end", value: e, align: PAGE_SIZE });
    }
    let first = s / PAGE_SIZE;
    let last = if e == 0 { PAGE_NUMBER_END } else { e / PAGE_SIZE };
    if last == first {
        return Err(Error::VaWindowInvalid { start: s, end: e, reason: "the window is empty" });
    }
    if last < first {
        return Err(Error::VaWindowInvalid { start: s, end: e, reason: "the window ends before it starts" });
    }
    if first == 0 && last == PAGE_NUMBER_END {
        return Err(Error::VaWindowInvalid { start: s, end: e, reason: WHOLE_SPACE });
    }
    if N == 0 || N > NodePool::<N>::MAX_CAPACITY {
        return Err(Error::VaWindowInvalid {
            start: s,
            end: e,
            reason: "the node pool must hold between 1 and 2^32 - 1 nodes",
        });
    }
    Ok((first, last))
}

fn to_range(node: &Node) -> VirtRange {
    VirtRange::from_pages(node.start, node.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = PAGE_SIZE;
    const BASE: u64 = 0xffff_ffc0_0000_0000;

    const fn va(x: u64) -> VirtAddr {
        VirtAddr::new(x)
    }

    fn window<const N: usize>(pages: u64) -> RangeAllocator<N> {
        RangeAllocator::new("test", va(BASE), va(BASE + pages * PAGE)).unwrap()
    }

    fn range(start: u64, pages: u64) -> VirtRange {
        VirtRange::new(va(start), pages * PAGE).unwrap()
    }

    fn free_list<const N: usize>(a: &RangeAllocator<N>) -> Vec<(u64, u64)> {
        a.free_ranges().map(|r| (r.start().as_u64(), r.size())).collect()
    }

    #[test]
    fn a_new_window_is_one_free_range() {
        let a = window::<4>(16);
        assert_eq!(a.window(), range(BASE, 16));
        assert_eq!(a.free_bytes(), 16 * PAGE);
        assert_eq!(a.largest_free(), 16 * PAGE);
        assert_eq!(free_list(&a), vec![(BASE, 16 * PAGE)]);
        assert_eq!(
            (a.free_range_count(), a.allocation_count(), a.nodes_in_use(), a.capacity()),
            (1, 0, 1, 4)
        );
        assert_eq!(a.name(), "test");
        a.check().unwrap();
    }

    #[test]
    fn refuses_bad_windows() {
        type A = RangeAllocator<4>;
        assert_eq!(
            A::new("w", va(0x1001), va(0x4000)).unwrap_err(),
            Error::Misaligned { what: "window start", value: 0x1001, align: PAGE }
        );
        assert_eq!(
            A::new("w", va(0x1000), va(0x4010)).unwrap_err(),
            Error::Misaligned { what: "window end", value: 0x4010, align: PAGE }
        );
        assert_eq!(
            A::new("w", va(0x4000), va(0x4000)).unwrap_err(),
            Error::VaWindowInvalid { start: 0x4000, end: 0x4000, reason: "the window is empty" }
        );
        assert_eq!(
            A::new("w", va(0x5000), va(0x4000)).unwrap_err(),
            Error::VaWindowInvalid { start: 0x5000, end: 0x4000, reason: "the window ends before it starts" }
        );
        assert!(matches!(
            RangeAllocator::<0>::new("w", va(0), va(0x4000)),
            Err(Error::VaWindowInvalid {
                reason: "the node pool must hold between 1 and 2^32 - 1 nodes",
                ..
            })
        ));
    }

    #[test]
    fn a_free_off_the_page_grid_is_refused_and_frees_nothing() {
        let mut a = window::<8>(4);
        let r = a.allocate(PAGE, PAGE).unwrap();
        // Inside the allocation's page, but not the allocation: rounding it out to whole
        // pages would free the allocation.
        let inside = VirtRange::new(r.start().wrapping_add(0x800), 1).unwrap();
        assert!(matches!(
            a.free(inside),
            Err(Error::VaBadFree { reason: "the range is not whole pages, as every allocation is", .. })
        ));
        assert_eq!((a.allocation_count(), a.free_bytes()), (1, 3 * PAGE));
        a.free(r).unwrap();
        a.check().unwrap();
    }

    #[test]
    fn first_fit_from_the_first_page_to_the_last() {
        let mut a = window::<8>(4);
        assert_eq!(a.allocate(PAGE, PAGE), Ok(range(BASE, 1)));
        assert_eq!(a.allocate(2 * PAGE, 1), Ok(range(BASE + PAGE, 2)));
        // The last page of the window, an exact fit: the free tree empties.
        assert_eq!(a.allocate(PAGE, PAGE), Ok(range(BASE + 3 * PAGE, 1)));
        assert_eq!((a.free_bytes(), a.largest_free(), a.free_range_count()), (0, 0, 0));
        a.check().unwrap();
        assert_eq!(
            a.allocate(PAGE, PAGE),
            Err(Error::VaExhausted { window: "test", size: PAGE, align: PAGE, largest_free: 0 })
        );
    }

    #[test]
    fn a_window_can_reach_the_top_of_the_address_space() {
        let mut a = RangeAllocator::<4>::new("top", va(0xffff_ffff_ffff_c000), va(0)).unwrap();
        assert_eq!(a.free_bytes(), 4 * PAGE);
        let r = a.allocate(4 * PAGE, PAGE).unwrap();
        assert_eq!((r.start(), r.last()), (va(0xffff_ffff_ffff_c000), va(u64::MAX)));
        a.free(r).unwrap();
        a.check().unwrap();
        let span =
            VirtRange::from_last(VirtAddr::new(0xffff_ffff_ffff_c000), VirtAddr::new(u64::MAX)).unwrap();
        assert_eq!(RangeAllocator::<4>::from_range("top", span).unwrap().window(), r);
    }

    #[test]
    fn alignment_skips_to_the_next_aligned_page_and_keeps_the_head_free() {
        let mut a = window::<8>(64);
        a.allocate(PAGE, PAGE).unwrap();
        let r = a.allocate(PAGE, 16 * PAGE).unwrap();
        assert_eq!(r, range(BASE + 16 * PAGE, 1));
        assert_eq!(free_list(&a), vec![(BASE + PAGE, 15 * PAGE), (BASE + 17 * PAGE, 47 * PAGE)]);
        a.check().unwrap();
        // Alignments below a page count as one page.
        assert_eq!(a.allocate(PAGE, 8), Ok(range(BASE + PAGE, 1)));
    }

    #[test]
    fn a_short_range_that_happens_to_be_aligned_is_still_found() {
        // Free: [16, 20) only; 4 pages at 4-page alignment fit exactly although no
        // range holds 4 + 3 pages.
        let mut a = window::<8>(20);
        let low = a.allocate(16 * PAGE, PAGE).unwrap();
        assert_eq!(a.largest_free(), 4 * PAGE);
        assert_eq!(a.allocate(4 * PAGE, 4 * PAGE), Ok(range(BASE + 16 * PAGE, 4)));
        a.free(low).unwrap();
        // Free: [0, 16), no range of 8 + 31 pages, but BASE is 1 GiB-aligned, so
        // page 0 is 32-page aligned and the 8 pages fit there.
        assert_eq!(a.allocate(8 * PAGE, 32 * PAGE), Ok(range(BASE, 8)));
        a.check().unwrap();
    }

    #[test]
    fn misaligned_free_ranges_that_cannot_fit_report_exhaustion() {
        let mut a = window::<8>(24);
        a.allocate(PAGE, PAGE).unwrap(); // free [1, 24)
                                         // 16 pages aligned to 16: the only aligned start, page 16, leaves 8 pages.
        assert_eq!(
            a.allocate(16 * PAGE, 16 * PAGE),
            Err(Error::VaExhausted {
                window: "test",
                size: 16 * PAGE,
                align: 16 * PAGE,
                largest_free: 23 * PAGE
            })
        );
        a.check().unwrap();
    }

    #[test]
    fn refuses_bad_requests() {
        let mut a = window::<4>(4);
        let e = a.allocate(0, PAGE).unwrap_err();
        assert_eq!(
            e,
            Error::VaRequestInvalid { window: "test", size: 0, align: PAGE, reason: "the size is zero" }
        );
        assert_eq!(
            a.allocate(PAGE + 1, PAGE),
            Err(Error::Misaligned { what: "allocation size", value: PAGE + 1, align: PAGE })
        );
        for align in [0, 3 * PAGE] {
            assert_eq!(
                a.allocate(PAGE, align),
                Err(Error::VaRequestInvalid {
                    window: "test",
                    size: PAGE,
                    align,
                    reason: "the alignment is not a power of two"
                })
            );
        }
        assert!(matches!(a.allocate(u64::MAX - PAGE + 1, PAGE), Err(Error::VaExhausted { .. })));
        assert!(matches!(a.allocate(PAGE, 1 << 63), Err(Error::VaExhausted { .. })));
        assert_eq!(free_list(&a), vec![(BASE, 4 * PAGE)]);
        a.check().unwrap();
    }

    #[test]
    fn frees_merge_with_the_lower_the_upper_and_both_neighbours() {
        let mut a = window::<16>(8);
        let r: Vec<VirtRange> = (0..8).map(|_| a.allocate(PAGE, PAGE).unwrap()).collect();
        a.free(r[1]).unwrap();
        a.free(r[5]).unwrap();
        assert_eq!(a.free_range_count(), 2);
        a.free(r[2]).unwrap(); // merges with its lower neighbour r[1]
        assert_eq!(free_list(&a), vec![(BASE + PAGE, 2 * PAGE), (BASE + 5 * PAGE, PAGE)]);
        a.free(r[4]).unwrap(); // merges with its upper neighbour r[5]
        assert_eq!(free_list(&a), vec![(BASE + PAGE, 2 * PAGE), (BASE + 4 * PAGE, 2 * PAGE)]);
        a.free(r[3]).unwrap(); // bridges both
        assert_eq!(free_list(&a), vec![(BASE + PAGE, 5 * PAGE)]);
        assert_eq!(a.largest_free(), 5 * PAGE);
        a.check().unwrap();
        for i in [0, 7, 6] {
            a.free(r[i]).unwrap();
            a.check().unwrap();
        }
        assert_eq!(free_list(&a), vec![(BASE, 8 * PAGE)]);
        assert_eq!((a.allocation_count(), a.nodes_in_use()), (0, 1));
    }

    #[test]
    fn bad_frees_are_refused_and_change_nothing() {
        let mut a = window::<8>(16);
        let r = a.allocate(4 * PAGE, PAGE).unwrap();
        let before = free_list(&a);
        let bad = |addr, size, reason| Error::VaBadFree { window: "test", addr: va(addr), size, reason };
        let outside = range(BASE - PAGE, 2);
        assert_eq!(a.free(outside), Err(bad(BASE - PAGE, 2 * PAGE, "the range is not inside the window")));
        let past = range(BASE + 15 * PAGE, 2);
        assert_eq!(a.free(past), Err(bad(BASE + 15 * PAGE, 2 * PAGE, "the range is not inside the window")));
        let free_part = range(BASE + 8 * PAGE, 1);
        assert_eq!(
            a.free(free_part),
            Err(bad(BASE + 8 * PAGE, PAGE, "the range is free already (double free?)"))
        );
        let inside = range(BASE + PAGE, 1);
        assert_eq!(a.free(inside), Err(bad(BASE + PAGE, PAGE, "no allocation starts at this address")));
        let short = range(BASE, 2);
        assert_eq!(
            a.free(short),
            Err(bad(BASE, 2 * PAGE, "the size differs from the allocation's at this address"))
        );
        let long = range(BASE, 5);
        assert!(matches!(a.free(long), Err(Error::VaBadFree { .. })));
        assert_eq!(free_list(&a), before);
        a.check().unwrap();
        a.free(r).unwrap();
        assert_eq!(a.free(r), Err(bad(BASE, 4 * PAGE, "the range is free already (double free?)")));
        a.check().unwrap();
    }

    #[test]
    fn free_at_frees_by_start_address() {
        let mut a = window::<8>(16);
        let r = a.allocate(3 * PAGE, PAGE).unwrap();
        assert_eq!(a.allocation_containing(va(BASE + 2 * PAGE + 5)), Some(r));
        assert_eq!(a.allocation_containing(va(BASE + 3 * PAGE)), None);
        assert_eq!(a.allocation_containing(va(BASE - 1)), None);
        let e = a.free_at(va(BASE + 1)).unwrap_err();
        assert!(matches!(e, Error::VaBadFree { reason: "no allocation starts at this address", .. }));
        assert_eq!(a.free_at(va(BASE)), Ok(r));
        assert!(a.free_at(va(BASE)).is_err());
        assert_eq!(a.free_bytes(), 16 * PAGE);
    }

    #[test]
    fn a_full_node_pool_refuses_and_changes_nothing() {
        let mut a = window::<3>(64);
        let first = a.allocate(PAGE, PAGE).unwrap(); // the free range shrinks: 2 nodes
        let before = free_list(&a);
        // An aligned request splits the free range: it needs 2 more nodes, 1 is left.
        assert_eq!(a.allocate(PAGE, 8 * PAGE), Err(Error::VaNodePoolFull { window: "test", capacity: 3 }));
        assert_eq!((free_list(&a), a.nodes_in_use(), a.allocation_count()), (before, 2, 1));
        a.check().unwrap();
        let second = a.allocate(PAGE, PAGE).unwrap(); // shrinks again: 3 nodes, pool full
        assert_eq!(a.nodes_in_use(), 3);
        assert_eq!(a.allocate(PAGE, PAGE), Err(Error::VaNodePoolFull { window: "test", capacity: 3 }));
        // An exact fit needs no node: the free node becomes the allocation's.
        let rest = a.allocate(62 * PAGE, PAGE).unwrap();
        assert_eq!(rest, range(BASE + 2 * PAGE, 62));
        // A free never needs a node, even one that leaves a hole between allocations.
        a.free(second).unwrap();
        a.free(rest).unwrap();
        a.free(first).unwrap();
        a.check().unwrap();
        assert_eq!(free_list(&a), vec![(BASE, 64 * PAGE)]);
    }

    #[test]
    fn many_allocations_keep_the_trees_balanced_and_the_invariants() {
        let mut a = window::<2048>(4096);
        let r: Vec<VirtRange> = (0..1000).map(|i| a.allocate((1 + i % 3) * PAGE, PAGE).unwrap()).collect();
        a.check().unwrap();
        for x in r.iter().step_by(2) {
            a.free(*x).unwrap();
        }
        a.check().unwrap();
        assert_eq!(a.free_range_count(), 501);
        for x in r.iter().skip(1).step_by(2) {
            a.free(*x).unwrap();
        }
        a.check().unwrap();
        assert_eq!(free_list(&a), vec![(BASE, 4096 * PAGE)]);
    }

    /// Built at compile time: what a kernel `static` needs.
    const AT_BUILD: Result<RangeAllocator<4>, Error> =
        RangeAllocator::new("static", va(BASE), va(BASE + PAGE));

    #[test]
    fn a_const_allocator_can_be_reset_in_place_at_boot() {
        let Ok(mut a) = AT_BUILD else { panic!("{AT_BUILD:?}") };
        assert_eq!(a.window(), range(BASE, 1));
        a.check().unwrap();
        a.reset(va(BASE + 8 * PAGE), va(BASE + 16 * PAGE)).unwrap();
        a.check().unwrap();
        let r = a.allocate(2 * PAGE, PAGE).unwrap();
        assert_eq!(r, range(BASE + 8 * PAGE, 2));
        a.allocate(PAGE, PAGE).unwrap();
        a.free(r).unwrap();
        // A bad window changes nothing.
        let bad = a.reset(va(BASE + 16 * PAGE), va(BASE + 8 * PAGE));
        assert!(matches!(
            bad,
            Err(Error::VaWindowInvalid { reason: "the window ends before it starts", .. })
        ));
        assert_eq!(a.allocation_count(), 1);
        a.check().unwrap();
        // Reset forgets every allocation and every node.
        a.reset(va(BASE), va(BASE + 4 * PAGE)).unwrap();
        assert_eq!((a.allocation_count(), a.nodes_in_use(), a.free_bytes()), (0, 1, 4 * PAGE));
        a.check().unwrap();
        let all: Vec<VirtRange> = (0..4).map(|_| a.allocate(PAGE, PAGE).unwrap()).collect();
        assert_eq!(all[3], range(BASE + 3 * PAGE, 1));
        a.check().unwrap();
    }

    #[test]
    fn messages_say_what_and_where() {
        let mut a = window::<2>(4);
        let e = a.allocate(8 * PAGE, 2 * PAGE).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test window exhausted: no free range holds 0x8000 bytes aligned to 0x2000; the largest free range is 0x4000 bytes"
        );
        let e = a.free(range(BASE, 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test free of 0x1000 bytes at 0xffffffc000000000 refused: the range is free already (double free?)"
        );
        a.allocate(PAGE, PAGE).unwrap();
        let e = a.allocate(PAGE, PAGE).unwrap_err();
        assert_eq!(e.to_string(), "test allocator: all 2 range nodes are in use; nothing was changed");
        let e = a.allocate(0, PAGE).unwrap_err();
        assert_eq!(e.to_string(), "test allocation of 0x0 bytes aligned to 0x1000 refused: the size is zero");
        let e = RangeAllocator::<2>::new("w", va(0x2000), va(0x1000)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "virtual-range window [0x2000, 0x1000) refused: the window ends before it starts"
        );
        let e = RangeAllocator::<2>::new("w", va(0x2000), va(0x2000)).unwrap_err();
        assert_eq!(e.to_string(), "virtual-range window [0x2000, 0x2000) refused: the window is empty");
        let e = Error::VaCorrupt { window: "vmalloc", reason: "two free ranges touch without being merged" };
        assert_eq!(e.to_string(), "vmalloc allocator is corrupt: two free ranges touch without being merged");
    }
}

//! vmalloc-style areas: every allocation followed by one unmapped guard page.
//!
//! Linux adds a page to every `vm_struct` not flagged `VM_NO_GUARD`
//! (`__get_vm_area_node`: `size += PAGE_SIZE`) and never maps it, so that running
//! off the end of one area faults instead of scribbling over the next. A
//! [`Vmalloc`] does the same over a [`RangeAllocator`]: it reserves
//! `round_up(size) + PAGE_SIZE`, hands out the first part as a [`VmArea`], and
//! frees both together.
//!
//! ```text
//!  | area 0 (mapped) | guard | area 1 (mapped)       | guard |   free   |
//!  ^ range().start()  ^ guard_page()
//! ```
//!
//! Since every reservation ends with its own guard, no two usable ranges are
//! ever adjacent, whatever order allocations and frees come in.

use crate::addr::{VirtAddr, PAGE_SIZE};
use crate::layout::Riscv64Layout;
use crate::range::VirtRange;
use crate::Error;

use super::range_alloc::RangeAllocator;

/// One allocation of a [`Vmalloc`]: the usable pages and the guard page after them.
///
/// Only a [`Vmalloc`] makes one, so its `reserved()` range always holds at
/// least one usable page and ends with the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmArea {
    reserved: VirtRange,
}

impl VmArea {
    /// The usable pages: what the caller maps.
    pub const fn range(self) -> VirtRange {
        VirtRange::from_pages(self.reserved.first_page(), self.reserved.pages() - 1)
    }

    /// The first address of the usable pages.
    pub const fn start(self) -> VirtAddr {
        self.reserved.start()
    }

    /// The usable size in bytes (the request rounded up to whole pages).
    pub const fn size(self) -> u64 {
        self.range().size()
    }

    /// The guard page: reserved with the area, never to be mapped.
    pub const fn guard_page(self) -> VirtAddr {
        VirtAddr::new((self.reserved.end_page() - 1) * PAGE_SIZE)
    }

    /// The whole reservation, usable pages and guard page.
    pub const fn reserved(self) -> VirtRange {
        self.reserved
    }
}

/// A vmalloc window: a [`RangeAllocator`] of `N` nodes whose every allocation
/// carries a guard page.
#[derive(Clone, Debug)]
pub struct Vmalloc<const N: usize> {
    inner: RangeAllocator<N>,
}

impl<const N: usize> Vmalloc<N> {
    /// A window `[start, end)` named "vmalloc" (see [`RangeAllocator::new`] for
    /// the checks, for `end == 0`, and for why this is a `const fn`).
    pub const fn new(start: VirtAddr, end: VirtAddr) -> Result<Self, Error> {
        Self::with_name("vmalloc", start, end)
    }

    /// A guarded window with another name (the modules and BPF windows use one).
    pub const fn with_name(name: &'static str, start: VirtAddr, end: VirtAddr) -> Result<Self, Error> {
        match RangeAllocator::new(name, start, end) {
            Ok(inner) => Ok(Vmalloc { inner }),
            Err(e) => Err(e),
        }
    }

    /// A guarded window over `range` (a layout region's, say).
    pub const fn from_range(name: &'static str, range: VirtRange) -> Result<Self, Error> {
        Self::with_name(name, range.start(), range.end())
    }

    /// Starts over in place with the window `[start, end)`, every area
    /// forgotten ([`RangeAllocator::reset`]).
    pub fn reset(&mut self, start: VirtAddr, end: VirtAddr) -> Result<(), Error> {
        self.inner.reset(start, end)
    }

    /// The vmalloc window of a riscv64 layout, `[VMALLOC_START, VMALLOC_END)`.
    pub fn from_layout(layout: &Riscv64Layout) -> Result<Self, Error> {
        Self::from_range("vmalloc", layout.vmalloc())
    }

    /// Allocates at least `size` bytes, rounded up to whole pages, at the lowest
    /// address that fits them and their guard page. Errors as
    /// [`Self::allocate_aligned`].
    pub fn allocate(&mut self, size: u64) -> Result<VmArea, Error> {
        self.allocate_aligned(size, PAGE_SIZE)
    }

    /// Allocates at least `size` bytes whose start is aligned to `align` (a
    /// power of two), followed by a guard page.
    ///
    /// Errors ([`RangeAllocator::allocate`]'s, nothing changed): a zero size, one
    /// that overflows once rounded up and given its guard page, or a bad
    /// alignment ([`Error::VaRequestInvalid`]); no room ([`Error::VaExhausted`],
    /// whose size counts the guard page); a full node pool.
    pub fn allocate_aligned(&mut self, size: u64, align: u64) -> Result<VmArea, Error> {
        let reserve = size.checked_next_multiple_of(PAGE_SIZE).and_then(|s| s.checked_add(PAGE_SIZE));
        let reserve = match reserve {
            Some(r) if size != 0 => r,
            _ => {
                let reason = if size == 0 {
                    "the size is zero"
                } else {
                    "the size overflows once rounded up to pages and given its guard page"
                };
                return Err(Error::VaRequestInvalid { window: self.inner.name(), size, align, reason });
            }
        };
        let reserved = self.inner.allocate(reserve, align)?;
        Ok(VmArea { reserved })
    }

    /// Frees an area this window handed out, guard page included. Refuses (and
    /// changes nothing) an area that is not live here: [`Error::VaBadFree`].
    pub fn free(&mut self, area: VmArea) -> Result<(), Error> {
        self.inner.free(area.reserved)
    }

    /// Frees the area whose usable pages start at `start` (Linux's
    /// `vfree(addr)`), and returns it.
    pub fn free_at(&mut self, start: VirtAddr) -> Result<VmArea, Error> {
        self.inner.free_at(start).map(|reserved| VmArea { reserved })
    }

    /// The live area whose usable pages or guard page hold `addr`.
    pub fn area_containing(&self, addr: VirtAddr) -> Option<VmArea> {
        self.inner.allocation_containing(addr).map(|reserved| VmArea { reserved })
    }

    /// The live area whose guard page holds `addr`: what a page-fault handler
    /// asks to report an overrun.
    pub fn guard_hit(&self, addr: VirtAddr) -> Option<VmArea> {
        self.area_containing(addr).filter(|a| a.guard_page() == addr.align_down(PAGE_SIZE))
    }

    /// The live areas in address order.
    pub fn areas(&self) -> impl Iterator<Item = VmArea> + '_ {
        self.inner.allocations().map(|reserved| VmArea { reserved })
    }

    /// The allocator underneath, for its statistics (free bytes, largest free
    /// range, free ranges) and its [`RangeAllocator::check`].
    pub const fn allocator(&self) -> &RangeAllocator<N> {
        &self.inner
    }

    /// The whole window.
    pub const fn window(&self) -> VirtRange {
        self.inner.window()
    }

    /// Free bytes in the window (guard pages of live areas count as used).
    pub const fn free_bytes(&self) -> u64 {
        self.inner.free_bytes()
    }

    /// The longest free range in bytes; an area of up to this minus one page fits.
    pub fn largest_free(&self) -> u64 {
        self.inner.largest_free()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::riscv::Mode;
    use crate::layout::Options;

    const PAGE: u64 = PAGE_SIZE;
    const BASE: u64 = 0xffff_ffc4_0000_0000;

    fn window<const N: usize>(pages: u64) -> Vmalloc<N> {
        Vmalloc::new(VirtAddr::new(BASE), VirtAddr::new(BASE + pages * PAGE)).unwrap()
    }

    #[test]
    fn every_area_is_followed_by_its_guard_page() {
        let mut v = window::<8>(16);
        let a = v.allocate(1).unwrap();
        assert_eq!((a.start(), a.size()), (VirtAddr::new(BASE), PAGE));
        assert_eq!(a.guard_page(), VirtAddr::new(BASE + PAGE));
        assert_eq!(a.reserved(), VirtRange::new(VirtAddr::new(BASE), 2 * PAGE).unwrap());
        let b = v.allocate(2 * PAGE).unwrap();
        assert_eq!(b.start(), VirtAddr::new(BASE + 2 * PAGE));
        assert_eq!(b.guard_page(), VirtAddr::new(BASE + 4 * PAGE));
        assert!(!b.range().contains(b.guard_page()));
        assert_eq!(v.free_bytes(), 11 * PAGE);
        // The last area's guard is the window's last page: an exact fit.
        let c = v.allocate(10 * PAGE).unwrap();
        assert_eq!(c.guard_page(), VirtAddr::new(BASE + 15 * PAGE));
        assert_eq!(v.free_bytes(), 0);
        assert_eq!(v.areas().collect::<Vec<_>>(), vec![a, b, c]);
        v.allocator().check().unwrap();
    }

    #[test]
    fn exhaustion_counts_the_guard_page() {
        let mut v = window::<8>(4);
        assert_eq!(
            v.allocate(4 * PAGE),
            Err(Error::VaExhausted {
                window: "vmalloc",
                size: 5 * PAGE,
                align: PAGE,
                largest_free: 4 * PAGE
            })
        );
        let a = v.allocate(3 * PAGE).unwrap();
        assert_eq!(a.guard_page(), VirtAddr::new(BASE + 3 * PAGE));
        assert_eq!(v.largest_free(), 0);
    }

    #[test]
    fn aligned_areas_start_aligned() {
        let mut v = window::<8>(64);
        v.allocate(PAGE).unwrap();
        let a = v.allocate_aligned(3 * PAGE, 16 * PAGE).unwrap();
        assert_eq!(a.start(), VirtAddr::new(BASE + 16 * PAGE));
        assert_eq!(a.guard_page(), VirtAddr::new(BASE + 19 * PAGE));
    }

    #[test]
    fn refuses_zero_and_overflowing_sizes() {
        let mut v = window::<8>(4);
        let invalid = |size, reason| Error::VaRequestInvalid { window: "vmalloc", size, align: PAGE, reason };
        assert_eq!(v.allocate(0), Err(invalid(0, "the size is zero")));
        for size in [u64::MAX, u64::MAX - PAGE + 1] {
            assert_eq!(
                v.allocate(size),
                Err(invalid(size, "the size overflows once rounded up to pages and given its guard page"))
            );
        }
        assert!(matches!(v.allocate_aligned(PAGE, 5), Err(Error::VaRequestInvalid { .. })));
        assert_eq!(v.free_bytes(), 4 * PAGE);
    }

    #[test]
    fn frees_return_the_guard_page_too_and_refuse_strangers() {
        let mut v = window::<8>(16);
        let a = v.allocate(PAGE).unwrap();
        let b = v.allocate(PAGE).unwrap();
        let mut other = window::<8>(16);
        other.allocate(PAGE).unwrap();
        let stranger = other.allocate(3 * PAGE).unwrap();
        assert!(matches!(v.free(stranger), Err(Error::VaBadFree { window: "vmalloc", .. })));
        v.free(a).unwrap();
        assert_eq!(
            v.free(a),
            Err(Error::VaBadFree {
                window: "vmalloc",
                addr: a.start(),
                size: 2 * PAGE,
                reason: "the range is free already (double free?)"
            })
        );
        assert_eq!(v.free_at(b.start()), Ok(b));
        assert_eq!(v.free_bytes(), 16 * PAGE);
        assert_eq!(v.allocator().free_range_count(), 1);
        v.allocator().check().unwrap();
    }

    #[test]
    fn reset_forgets_every_area() {
        new_is_a_const_fn();
        let mut v = window::<8>(16);
        let a = v.allocate(PAGE).unwrap();
        v.reset(VirtAddr::new(BASE + 16 * PAGE), VirtAddr::new(BASE + 32 * PAGE)).unwrap();
        assert_eq!(
            v.free(a).unwrap_err().to_string(),
            format!(
                "vmalloc free of 0x2000 bytes at {} refused: the range is not inside the window",
                a.start()
            )
        );
        assert_eq!(v.allocate(PAGE).unwrap().start(), VirtAddr::new(BASE + 16 * PAGE));
    }

    /// `Vmalloc::new` is usable in a constant.
    fn new_is_a_const_fn() {
        const V: Result<Vmalloc<2>, Error> = Vmalloc::new(VirtAddr::new(BASE), VirtAddr::new(BASE + PAGE));
        assert!(V.is_ok());
    }

    #[test]
    fn a_guard_hit_names_its_area() {
        let mut v = window::<8>(16);
        let a = v.allocate(2 * PAGE).unwrap();
        assert_eq!(v.guard_hit(VirtAddr::new(BASE + 2 * PAGE + 8)), Some(a));
        assert_eq!(v.guard_hit(VirtAddr::new(BASE + 2 * PAGE - 1)), None);
        assert_eq!(v.area_containing(VirtAddr::new(BASE + 2 * PAGE - 1)), Some(a));
        assert_eq!(v.guard_hit(VirtAddr::new(BASE + 3 * PAGE)), None);
    }

    #[test]
    fn the_layout_window_is_vmalloc_start_to_end() {
        for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
            let layout = Riscv64Layout::plan(mode, &Options::default()).unwrap();
            let mut v = Vmalloc::<16>::from_layout(&layout).unwrap();
            let span = layout.vmalloc();
            assert_eq!(v.window(), span);
            let a = v.allocate(PAGE).unwrap();
            assert_eq!(a.start(), span.start());
        }
    }
}

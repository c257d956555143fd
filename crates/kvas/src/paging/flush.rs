//! What the TLB must forget after a change to the tables.

use crate::addr::VirtAddr;

/// The pages whose translations a change made stale, or "everything".
///
/// Every mutating engine call returns one. The engine never flushes by itself:
/// only the caller knows whether the table is live and on which harts. On
/// RISC-V the caller issues `sfence.vma` for each address of
/// [`Flush::addresses`], or one global `sfence.vma` when [`Flush::is_all`].
///
/// The batch is kept as Linux's `flush_tlb_range` keeps it: a run of pages
/// `start, start + stride, ..., last`. Merging two runs keeps their hull at the
/// finer stride, a superset of both; past [`Flush::THRESHOLD`] pages a single
/// global flush is cheaper, as Linux decides with `tlb_flush_all_threshold`.
/// The value is 24 bytes, so single-page calls return it cheaply.
#[must_use = "the TLB may still hold the old translations: apply() or ignore() the flush"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flush {
    start: u64,
    last: u64,
    /// log2 of the stride; `EMPTY` when nothing is recorded.
    shift: u8,
    all: bool,
}

const EMPTY: u8 = u8::MAX;

impl Flush {
    /// How many single-page flushes a batch stands for before it becomes "all"
    /// (Linux riscv's default `tlb_flush_all_threshold`).
    pub const THRESHOLD: u64 = 64;

    /// Nothing to flush.
    pub const fn none() -> Self {
        Self { start: 0, last: 0, shift: EMPTY, all: false }
    }

    /// The one 4 KiB page at `va`.
    #[inline(always)]
    pub const fn page(va: VirtAddr) -> Self {
        let start = va.as_u64() & !0xfff;
        Self { start, last: start, shift: 12, all: false }
    }

    /// Flush everything.
    pub const fn all() -> Self {
        Self { start: 0, last: 0, shift: EMPTY, all: true }
    }

    /// Adds the 4 KiB page at `va`.
    #[inline]
    pub fn add(&mut self, va: VirtAddr) {
        self.add_run(va, 1, 4096);
    }

    /// Adds `count` pages of `stride` bytes (a power of two) from `va`.
    #[inline]
    pub fn add_run(&mut self, va: VirtAddr, count: u64, stride: u64) {
        if self.all || count == 0 {
            return;
        }
        let shift = stride.trailing_zeros() as u8;
        let start = va.as_u64() & !(stride - 1);
        let last = start.wrapping_add((count - 1) << shift);
        if last < start {
            // The run wraps past the top of the address space: not a real range.
            self.all = true;
            return;
        }
        if self.shift == EMPTY {
            (self.start, self.last, self.shift) = (start, last, shift);
        } else {
            self.start = self.start.min(start);
            self.last = self.last.max(last);
            self.shift = self.shift.min(shift);
        }
    }

    /// Adds everything `other` asks for.
    pub fn merge(&mut self, other: Flush) {
        if other.all {
            self.all = true;
        } else if other.shift != EMPTY {
            let count = ((other.last - other.start) >> other.shift) + 1;
            self.add_run(VirtAddr::new(other.start), count, 1 << other.shift);
        }
    }

    /// Whether nothing needs flushing.
    pub const fn is_empty(&self) -> bool {
        !self.all && self.shift == EMPTY
    }

    /// Whether the whole TLB should be flushed (asked for, or past the threshold).
    pub const fn is_all(&self) -> bool {
        self.all || (self.shift != EMPTY && ((self.last - self.start) >> self.shift) >= Self::THRESHOLD)
    }

    /// The single addresses to flush, one per page of the run (none when
    /// [`Flush::is_all`]).
    pub fn addresses(&self) -> impl Iterator<Item = VirtAddr> {
        let (start, shift) = (self.start, self.shift);
        let count = if self.is_all() || self.shift == EMPTY { 0 } else { ((self.last - start) >> shift) + 1 };
        (0..count).map(move |k| VirtAddr::new(start + (k << shift)))
    }

    /// Calls `page` for each address, or `all` once if the whole TLB should go.
    pub fn apply(self, page: impl FnMut(VirtAddr), all: impl FnOnce()) {
        if self.is_all() {
            all();
        } else {
            self.addresses().for_each(page);
        }
    }

    /// Drops the flush on purpose: the table is not live on any hart (being built,
    /// or simulated), so no TLB holds its entries.
    pub fn ignore(self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(f: &Flush) -> Vec<u64> {
        f.addresses().map(VirtAddr::as_u64).collect()
    }

    #[test]
    fn a_run_lists_its_pages_until_the_threshold() {
        let mut f = Flush::none();
        assert!(f.is_empty());
        f.add_run(VirtAddr::new(0x1000), 3, 0x1000);
        assert_eq!(addrs(&f), [0x1000, 0x2000, 0x3000]);
        f.add_run(VirtAddr::new(0x4000), Flush::THRESHOLD, 0x1000);
        assert!(f.is_all());
        assert_eq!(addrs(&f), [0u64; 0]);
        let mut pages = 0;
        let mut alls = 0;
        f.apply(|_| pages += 1, || alls += 1);
        assert_eq!((pages, alls), (0, 1));
    }

    #[test]
    fn a_single_page_is_the_same_however_it_is_made() {
        let mut f = Flush::none();
        f.add(VirtAddr::new(0xffff_ffff_8000_1234));
        assert_eq!(Flush::page(VirtAddr::new(0xffff_ffff_8000_1234)), f);
    }

    #[test]
    fn huge_pages_need_one_address_each() {
        let mut f = Flush::none();
        f.add_run(VirtAddr::new(0xffff_ffc0_0000_0000), 4, 1 << 30);
        assert_eq!(addrs(&f).len(), 4);
        assert!(!f.is_all());
    }

    #[test]
    fn merging_keeps_the_hull_at_the_finer_stride() {
        let mut a = Flush::none();
        a.add(VirtAddr::new(0x20_1000));
        let mut b = Flush::none();
        b.add_run(VirtAddr::new(0x20_0000), 1, 0x20_0000);
        a.merge(b);
        assert_eq!(addrs(&a), [0x20_0000, 0x20_1000]);
        assert!(!a.is_all());
        a.merge(Flush::all());
        assert!(a.is_all());
    }

    #[test]
    fn the_top_page_of_the_address_space_is_a_normal_page() {
        let mut f = Flush::none();
        f.add(VirtAddr::new(u64::MAX - 0xfff));
        assert_eq!(addrs(&f), [u64::MAX - 0xfff]);
        f.add_run(VirtAddr::new(u64::MAX - 0xfff), 2, 0x1000);
        assert!(f.is_all(), "a run that wraps cannot be listed");
    }
}

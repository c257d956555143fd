//! A checked, non-empty range of virtual addresses: the one range type of the
//! layout planner, the virtual-range allocators, the linear map and the
//! page-table engine's range calls.

use core::fmt;

use crate::addr::VirtAddr;
use crate::sizes::PAGE_SIZE;
use crate::Error;

/// Page numbers reach `2^64 / PAGE_SIZE`: the page just past the address space.
pub(crate) const PAGE_NUMBER_END: u64 = 1 << (64 - PAGE_SIZE.trailing_zeros());

/// A half-open range `[start, start + size)` of virtual addresses.
///
/// By holding a `VirtRange` code can rely on: `0 < size < 2^64` and the range
/// does not wrap past 2^64. It may reach the very top of the address space (so
/// that Linux's last region, ending at `0xffff_ffff_ffff_ffff`, is one), where
/// [`VirtRange::end`] wraps to 0; [`VirtRange::last`] is always the last
/// address. Nothing here checks alignment or canonical form: a range made with
/// [`VirtRange::new_pages`] is whole 4 KiB pages, and the page-table engine
/// checks the range against its mode.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VirtRange {
    /// The first address.
    start: u64,
    /// The last address (inclusive): `start <= last`, never `[0, u64::MAX]`.
    last: u64,
}

impl VirtRange {
    /// `[start, start + size)`. Refuses an empty range and one that wraps past
    /// 2^64 ([`Error::BadVirtRange`], saying which).
    pub const fn new(start: VirtAddr, size: u64) -> Result<Self, Error> {
        let start = start.as_u64();
        if size == 0 {
            return Err(Error::BadVirtRange { start, size, reason: "it is empty" });
        }
        match start.checked_add(size - 1) {
            Some(last) => Ok(VirtRange { start, last }),
            None => Err(Error::BadVirtRange { start, size, reason: "it wraps past 2^64" }),
        }
    }

    /// `[start, start + size)` of whole 4 KiB pages: as [`VirtRange::new`], and
    /// first refuses a misaligned start or size ([`Error::Misaligned`], naming which).
    pub const fn new_pages(start: VirtAddr, size: u64) -> Result<Self, Error> {
        if !start.is_aligned(PAGE_SIZE) {
            return Err(Error::Misaligned { what: "range start", value: start.as_u64(), align: PAGE_SIZE });
        }
        if size % PAGE_SIZE != 0 {
            return Err(Error::Misaligned { what: "range size", value: size, align: PAGE_SIZE });
        }
        VirtRange::new(start, size)
    }

    /// `[start, last]`, `last` inclusive (as Linux's tables print it). Refuses an
    /// empty range (`last + 1 == start`, [`Error::BadVirtRange`]), a reversed one
    /// ([`Error::RangeReversed`]) and the whole 64-bit space
    /// ([`Error::WholeAddressSpace`]), whose size no `u64` holds.
    pub const fn from_last(start: VirtAddr, last: VirtAddr) -> Result<Self, Error> {
        let (start, last) = (start.as_u64(), last.as_u64());
        if last < start {
            // `last < start <= u64::MAX`, so `last + 1` does not wrap.
            let end = last + 1;
            if end == start {
                return Err(Error::BadVirtRange { start, size: 0, reason: "it is empty" });
            }
            return Err(Error::RangeReversed { what: "virtual range", start, end });
        }
        if start == 0 && last == u64::MAX {
            return Err(Error::WholeAddressSpace { what: "virtual range" });
        }
        Ok(VirtRange { start, last })
    }

    /// `[start, end)` with an exclusive end; `end == 0` stands for 2^64. Refuses
    /// what [`VirtRange::from_last`] refuses.
    pub const fn from_end(start: VirtAddr, end: VirtAddr) -> Result<Self, Error> {
        VirtRange::from_last(start, VirtAddr::new(end.as_u64().wrapping_sub(1)))
    }

    /// From page numbers the caller has checked (`pages > 0`, in the address space).
    pub(crate) const fn from_pages(first: u64, pages: u64) -> Self {
        debug_assert!(pages > 0 && first + pages <= PAGE_NUMBER_END);
        // The last page's last byte: no product reaches 2^64.
        VirtRange { start: first * PAGE_SIZE, last: (first + pages - 1) * PAGE_SIZE + (PAGE_SIZE - 1) }
    }

    /// The first address.
    pub const fn start(self) -> VirtAddr {
        VirtAddr::new(self.start)
    }

    /// The last address (inclusive).
    pub const fn last(self) -> VirtAddr {
        VirtAddr::new(self.last)
    }

    /// The exclusive end, `last + 1`, wrapping to 0 for a range that reaches 2^64.
    pub const fn end(self) -> VirtAddr {
        VirtAddr::new(self.last.wrapping_add(1))
    }

    /// The size in bytes (never 0).
    pub const fn size(self) -> u64 {
        self.last - self.start + 1
    }

    /// The number of whole 4 KiB pages the size makes (the page count of a range
    /// made with [`VirtRange::new_pages`]).
    pub const fn pages(self) -> u64 {
        self.size() / PAGE_SIZE
    }

    /// Whether `addr` lies in the range.
    pub const fn contains(self, addr: VirtAddr) -> bool {
        self.start <= addr.as_u64() && addr.as_u64() <= self.last
    }

    /// Whether `other` lies entirely in this range.
    pub const fn contains_range(self, other: VirtRange) -> bool {
        self.start <= other.start && other.last <= self.last
    }

    /// Whether the two ranges share an address.
    pub const fn overlaps(self, other: VirtRange) -> bool {
        self.start <= other.last && other.start <= self.last
    }

    /// Whether the start and the exclusive end are multiples of `align` (a power
    /// of two; an end of 2^64 is a multiple of every one).
    pub const fn is_aligned(self, align: u64) -> bool {
        (self.start | self.last.wrapping_add(1)) & (align - 1) == 0
    }

    /// First page number.
    pub(crate) const fn first_page(self) -> u64 {
        self.start / PAGE_SIZE
    }

    /// Page number just past the range.
    pub(crate) const fn end_page(self) -> u64 {
        self.last / PAGE_SIZE + 1
    }
}

impl fmt::Debug for VirtRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtRange({self})")
    }
}

/// Prints `[start, end)` in 16-digit hex, `end` exclusive (`0x1_0000_0000_0000_0000`
/// for a range that reaches the top).
impl fmt::Display for VirtRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = u128::from(self.last) + 1;
        write!(f, "[{:#018x}, {:#018x})", self.start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn va(raw: u64) -> VirtAddr {
        VirtAddr::new(raw)
    }

    #[test]
    fn accessors_and_the_top_of_the_address_space() {
        let r = VirtRange::new_pages(va(0xffff_ffff_ffff_e000), 0x2000).unwrap();
        assert_eq!(r.start(), va(0xffff_ffff_ffff_e000));
        assert_eq!(r.last(), va(u64::MAX));
        assert_eq!(r.end(), va(0));
        assert_eq!(r.size(), 0x2000);
        assert_eq!(r.pages(), 2);
        assert_eq!((r.first_page(), r.end_page()), (PAGE_NUMBER_END - 2, PAGE_NUMBER_END));
        assert_eq!(VirtRange::from_pages(PAGE_NUMBER_END - 2, 2), r);
        assert!(r.is_aligned(0x2000) && !r.is_aligned(0x4000));
        assert!(r.contains(va(u64::MAX)));
        assert!(!r.contains(va(0xffff_ffff_ffff_dfff)));
        assert_eq!(r.to_string(), "[0xffffffffffffe000, 0x10000000000000000)");
        assert_eq!(format!("{r:?}"), "VirtRange([0xffffffffffffe000, 0x10000000000000000))");
        let below = VirtRange::new(va(0xffff_ffff_ffff_d000), 0x1000).unwrap();
        assert!(!r.overlaps(below) && !below.overlaps(r));
        let across = VirtRange::new(va(0xffff_ffff_ffff_dfff), 2).unwrap();
        assert!(r.overlaps(across) && across.overlaps(r));
        assert!(!r.contains_range(across));
        assert!(VirtRange::from_end(va(0xffff_ffff_ffff_d000), va(0)).unwrap().contains_range(r));
    }

    #[test]
    fn the_three_constructors_agree() {
        let by_size = VirtRange::new(va(0xffff_ffff_8000_0000), 0x8000_0000).unwrap();
        assert_eq!(VirtRange::from_end(va(0xffff_ffff_8000_0000), va(0)), Ok(by_size));
        assert_eq!(VirtRange::from_last(va(0xffff_ffff_8000_0000), va(u64::MAX)), Ok(by_size));
        // Byte ranges are ranges too: the layout planner's image of unknown size is one byte.
        let byte = VirtRange::new(va(0x1fff), 1).unwrap();
        assert_eq!((byte.size(), byte.pages(), byte.last()), (1, 0, va(0x1fff)));
        // The largest range there is: all but one byte.
        assert_eq!(VirtRange::new(va(1), u64::MAX).map(VirtRange::last), Ok(va(u64::MAX)));
        assert_eq!(VirtRange::new(va(0), u64::MAX).map(VirtRange::last), Ok(va(u64::MAX - 1)));
    }

    #[test]
    fn refused_ranges_say_what_is_wrong() {
        let at = va(0x1000);
        assert_eq!(
            VirtRange::new_pages(va(0x1001), 0x1000),
            Err(Error::Misaligned { what: "range start", value: 0x1001, align: PAGE_SIZE })
        );
        assert_eq!(
            VirtRange::new_pages(at, 0x1800),
            Err(Error::Misaligned { what: "range size", value: 0x1800, align: PAGE_SIZE })
        );
        // The largest size there is, misaligned: the size is named, not a wrap.
        assert_eq!(
            VirtRange::new_pages(at, u64::MAX).unwrap_err().to_string(),
            "range size 0xffffffffffffffff is not aligned to 0x1000"
        );
        let empty = VirtRange::new(at, 0).unwrap_err();
        assert_eq!(empty, Error::BadVirtRange { start: 0x1000, size: 0, reason: "it is empty" });
        assert_eq!(empty.to_string(), "virtual range of 0x0 bytes at 0x1000 refused: it is empty");
        assert_eq!(VirtRange::from_end(va(0x2000), va(0x2000)), Err(empty_at(0x2000)));
        assert_eq!(VirtRange::from_last(va(0x2000), va(0x1fff)), Err(empty_at(0x2000)));
        // A real wrap keeps the size that was given.
        let wraps = VirtRange::new(va(0xffff_ffff_ffff_f000), 0x2000).unwrap_err();
        assert_eq!(
            wraps.to_string(),
            "virtual range of 0x2000 bytes at 0xfffffffffffff000 refused: it wraps past 2^64"
        );
        assert_eq!(
            VirtRange::new(va(u64::MAX), 2),
            Err(Error::BadVirtRange { start: u64::MAX, size: 2, reason: "it wraps past 2^64" })
        );
        assert_eq!(
            VirtRange::from_last(va(0xc000_8000), va(0xc000_0fff)),
            Err(Error::RangeReversed { what: "virtual range", start: 0xc000_8000, end: 0xc000_1000 })
        );
        assert_eq!(
            VirtRange::from_end(va(0xc000_8000), va(0xc000_1000)).unwrap_err().to_string(),
            "virtual range [0xc0008000, 0xc0001000) ends before it starts"
        );
        assert_eq!(
            VirtRange::from_end(va(0), va(0)).unwrap_err().to_string(),
            "virtual range [0x0, 2^64) is the whole 64-bit address space, which no range holds"
        );
    }

    fn empty_at(start: u64) -> Error {
        Error::BadVirtRange { start, size: 0, reason: "it is empty" }
    }
}

//! A page-aligned, non-empty range of virtual addresses.

use core::fmt;

use crate::addr::{VirtAddr, PAGE_SIZE};
use crate::Error;

/// Page numbers reach `2^64 / PAGE_SIZE`: the page just past the address space.
pub(crate) const PAGE_NUMBER_END: u64 = 1 << (64 - PAGE_SIZE.trailing_zeros());

/// A half-open range `[start, start + size)` of whole 4 KiB pages.
///
/// By holding a `VirtRange` code can rely on: `start` and `size` are multiples
/// of [`PAGE_SIZE`], `0 < size < 2^64`, and the range ends at or below 2^64 (it
/// may reach the very top of the address space, where [`VirtRange::end`] wraps
/// to 0).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VirtRange {
    /// First page number.
    first: u64,
    /// Number of pages.
    pages: u64,
}

impl VirtRange {
    /// `[start, start + size)`. Refuses a misaligned start or size
    /// ([`Error::Misaligned`], naming which), an empty range and one that wraps
    /// past 2^64 ([`Error::BadVirtRange`], saying which).
    pub const fn new(start: VirtAddr, size: u64) -> Result<Self, Error> {
        if !start.is_aligned(PAGE_SIZE) {
            return Err(Error::Misaligned { what: "range start", value: start.as_u64(), align: PAGE_SIZE });
        }
        if size % PAGE_SIZE != 0 {
            return Err(Error::Misaligned { what: "range size", value: size, align: PAGE_SIZE });
        }
        if size == 0 {
            return Err(Error::BadVirtRange { start: start.as_u64(), size, reason: "it is empty" });
        }
        let first = start.as_u64() / PAGE_SIZE;
        let pages = size / PAGE_SIZE;
        if first + pages > PAGE_NUMBER_END {
            return Err(Error::BadVirtRange { start: start.as_u64(), size, reason: "it wraps past 2^64" });
        }
        Ok(VirtRange { first, pages })
    }

    /// From page numbers the caller has checked (`pages > 0`, in the address space).
    pub(crate) const fn from_pages(first: u64, pages: u64) -> Self {
        debug_assert!(pages > 0 && first + pages <= PAGE_NUMBER_END);
        VirtRange { first, pages }
    }

    /// The first address.
    pub const fn start(self) -> VirtAddr {
        VirtAddr::new(self.first * PAGE_SIZE)
    }

    /// The size in bytes.
    pub const fn size(self) -> u64 {
        self.pages * PAGE_SIZE
    }

    /// The number of 4 KiB pages.
    pub const fn pages(self) -> u64 {
        self.pages
    }

    /// The last address (inclusive).
    pub const fn last(self) -> VirtAddr {
        VirtAddr::new((self.first + self.pages - 1) * PAGE_SIZE + (PAGE_SIZE - 1))
    }

    /// The exclusive end, wrapping to 0 for a range that reaches 2^64.
    pub const fn end(self) -> VirtAddr {
        VirtAddr::new((self.first + self.pages).wrapping_mul(PAGE_SIZE))
    }

    /// Whether `addr` lies in the range.
    pub const fn contains(self, addr: VirtAddr) -> bool {
        let page = addr.as_u64() / PAGE_SIZE;
        self.first <= page && page < self.first + self.pages
    }

    /// Whether the two ranges share an address.
    pub const fn overlaps(self, other: VirtRange) -> bool {
        self.first < other.first + other.pages && other.first < self.first + self.pages
    }

    /// First page number.
    pub(crate) const fn first_page(self) -> u64 {
        self.first
    }

    /// Page number just past the range.
    pub(crate) const fn end_page(self) -> u64 {
        self.first + self.pages
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
        let end = u128::from(self.first + self.pages) * u128::from(PAGE_SIZE);
        write!(f, "[{:#018x}, {:#018x})", self.first * PAGE_SIZE, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_the_top_of_the_address_space() {
        let r = VirtRange::new(VirtAddr::new(0xffff_ffff_ffff_e000), 0x2000).unwrap();
        assert_eq!(r.start(), VirtAddr::new(0xffff_ffff_ffff_e000));
        assert_eq!(r.last(), VirtAddr::new(u64::MAX));
        assert_eq!(r.end(), VirtAddr::new(0));
        assert_eq!(r.size(), 0x2000);
        assert_eq!(r.pages(), 2);
        assert!(r.contains(VirtAddr::new(u64::MAX)));
        assert!(!r.contains(VirtAddr::new(0xffff_ffff_ffff_dfff)));
        assert_eq!(r.to_string(), "[0xffffffffffffe000, 0x10000000000000000)");
        let below = VirtRange::new(VirtAddr::new(0xffff_ffff_ffff_d000), 0x1000).unwrap();
        assert!(!r.overlaps(below));
        let across = VirtRange::new(VirtAddr::new(0xffff_ffff_ffff_d000), 0x2000).unwrap();
        assert!(r.overlaps(across) && across.overlaps(r));
    }

    #[test]
    fn refuses_misaligned_empty_and_wrapping_ranges() {
        let at = VirtAddr::new(0x1000);
        assert_eq!(
            VirtRange::new(VirtAddr::new(0x1001), 0x1000),
            Err(Error::Misaligned { what: "range start", value: 0x1001, align: PAGE_SIZE })
        );
        assert_eq!(
            VirtRange::new(at, 0x1800),
            Err(Error::Misaligned { what: "range size", value: 0x1800, align: PAGE_SIZE })
        );
        let empty = VirtRange::new(at, 0).unwrap_err();
        assert_eq!(empty, Error::BadVirtRange { start: 0x1000, size: 0, reason: "it is empty" });
        assert_eq!(empty.to_string(), "virtual range of 0x0 bytes at 0x1000 refused: it is empty");
        let wraps = VirtRange::new(VirtAddr::new(0xffff_ffff_ffff_f000), 0x2000).unwrap_err();
        assert_eq!(
            wraps.to_string(),
            "virtual range of 0x2000 bytes at 0xfffffffffffff000 refused: it wraps past 2^64"
        );
        // The largest size there is, misaligned: the size is named, not a wrap.
        assert_eq!(
            VirtRange::new(at, u64::MAX).unwrap_err().to_string(),
            "range size 0xffffffffffffffff is not aligned to 0x1000"
        );
    }
}

//! A checked, non-empty physical address range.

use core::fmt;

use crate::addr::{PhysAddr, PAGE_SIZE};
use crate::Error;

/// The end (exclusive) of the physical address space kvas represents: 2^56.
pub const PHYS_END: u64 = 1 << PhysAddr::MAX_BITS;

/// A half-open physical range `[start, end)`.
///
/// By holding a `PhysRange` code can rely on `start < end <= 2^56`: the
/// constructors refuse empty, wrapping and too-wide ranges.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysRange {
    start: u64,
    end: u64,
}

impl PhysRange {
    /// `[start, start + size)`. Refuses `size == 0`, a range that wraps past
    /// 2^64, and one that ends above the 56-bit physical address space.
    pub const fn new(start: u64, size: u64) -> Result<Self, Error> {
        if size == 0 {
            return Err(Error::BadPhysRange { start, size, reason: "it is empty" });
        }
        // In 128 bits: a range ending exactly at 2^64 does not wrap, it is too high.
        let end = start as u128 + size as u128;
        if end > 1 << 64 {
            return Err(Error::BadPhysRange { start, size, reason: "it wraps past 2^64" });
        }
        if end > PHYS_END as u128 {
            return Err(Error::BadPhysRange {
                start,
                size,
                reason: "it ends above the 56-bit physical address space",
            });
        }
        Ok(Self { start, end: end as u64 })
    }

    /// `[start, end)`, with the checks of [`PhysRange::new`]; an end below the
    /// start is [`Error::RangeReversed`].
    pub const fn from_bounds(start: u64, end: u64) -> Result<Self, Error> {
        if end < start {
            return Err(Error::RangeReversed { what: "physical range", start, end });
        }
        if end == start {
            return Err(Error::BadPhysRange { start, size: 0, reason: "it is empty" });
        }
        Self::new(start, end - start)
    }

    /// For bounds the caller has already checked (`start < end <= 2^56`).
    pub(crate) const fn from_checked(start: u64, end: u64) -> Self {
        debug_assert!(start < end && end <= PHYS_END);
        Self { start, end }
    }

    /// The first byte.
    pub const fn start(self) -> PhysAddr {
        PhysAddr::new_truncate(self.start)
    }

    /// The first byte, as a number.
    pub const fn start_u64(self) -> u64 {
        self.start
    }

    /// One past the last byte (at most 2^56, so not always a [`PhysAddr`]).
    pub const fn end(self) -> u64 {
        self.end
    }

    /// The length in bytes (never 0).
    pub const fn size(self) -> u64 {
        self.end - self.start
    }

    /// Whether `pa` lies inside.
    pub const fn contains(self, pa: u64) -> bool {
        self.start <= pa && pa < self.end
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(self, other: PhysRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether the two ranges overlap or touch end to start.
    pub const fn overlaps_or_touches(self, other: PhysRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Whether both ends are multiples of 4 KiB.
    pub const fn is_page_aligned(self) -> bool {
        (self.start | self.end) & (PAGE_SIZE - 1) == 0
    }

    /// The whole pages inside the range (start rounded up, end down), if any:
    /// what RAM with ragged edges really offers.
    pub const fn pages_inside(self) -> Option<PhysRange> {
        let start = match self.start.checked_next_multiple_of(PAGE_SIZE) {
            Some(s) => s,
            None => return None,
        };
        let end = self.end & !(PAGE_SIZE - 1);
        if start < end {
            Some(Self { start, end })
        } else {
            None
        }
    }

    /// The pages the range touches (start rounded down, end up): what a
    /// reservation must keep away from the allocator and the linear map.
    pub const fn pages_around(self) -> PhysRange {
        // end <= 2^56, a multiple of 4 KiB, so rounding up cannot pass it.
        Self { start: self.start & !(PAGE_SIZE - 1), end: (self.end + PAGE_SIZE - 1) & !(PAGE_SIZE - 1) }
    }

    /// The part of `self` inside `other`, if any.
    pub const fn intersect(self, other: PhysRange) -> Option<PhysRange> {
        let start = if self.start > other.start { self.start } else { other.start };
        let end = if self.end < other.end { self.end } else { other.end };
        if start < end {
            Some(Self { start, end })
        } else {
            None
        }
    }
}

impl fmt::Debug for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysRange({:#x}..{:#x})", self.start, self.end)
    }
}

impl fmt::Display for PhysRange {
    /// Prints `[start, end)` in hex, the way the rest of kvas speaks of ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_wrapping_and_too_wide() {
        assert_eq!(
            PhysRange::new(0x8000_0000, 0),
            Err(Error::BadPhysRange { start: 0x8000_0000, size: 0, reason: "it is empty" })
        );
        assert!(matches!(
            PhysRange::new(u64::MAX - 4095, 8192),
            Err(Error::BadPhysRange { reason: "it wraps past 2^64", .. })
        ));
        assert!(matches!(
            PhysRange::new(PHYS_END - 4096, 8192),
            Err(Error::BadPhysRange { reason: "it ends above the 56-bit physical address space", .. })
        ));
        assert_eq!(PhysRange::new(PHYS_END - 4096, 4096).map(PhysRange::end), Ok(PHYS_END));
        assert_eq!(
            PhysRange::from_bounds(0x2000, 0x1000).unwrap_err().to_string(),
            "physical range [0x2000, 0x1000) ends before it starts"
        );
        assert_eq!(
            PhysRange::from_bounds(0x2000, 0x2000).unwrap_err().to_string(),
            "physical range of 0x0 bytes at 0x2000 refused: it is empty"
        );
    }

    #[test]
    fn page_rounding_goes_inward_for_ram_and_outward_for_reservations() {
        let r = PhysRange::new(0x8000_0800, 0x2000).unwrap();
        assert_eq!(r.pages_inside(), Some(PhysRange::from_checked(0x8000_1000, 0x8000_2000)));
        assert_eq!(r.pages_around(), PhysRange::from_checked(0x8000_0000, 0x8000_3000));
        // Less than a whole page: nothing inside.
        assert_eq!(PhysRange::new(0x1800, 0x1000).unwrap().pages_inside(), None);
        // The very top page still rounds within 2^56.
        let top = PhysRange::new(PHYS_END - 10, 10).unwrap();
        assert_eq!(top.pages_around().end(), PHYS_END);
    }

    #[test]
    fn overlap_touch_and_intersection() {
        let a = PhysRange::new(0x1000, 0x1000).unwrap();
        let b = PhysRange::new(0x2000, 0x1000).unwrap();
        assert!(!a.overlaps(b));
        assert!(a.overlaps_or_touches(b));
        assert_eq!(a.intersect(b), None);
        let c = PhysRange::new(0x1800, 0x1000).unwrap();
        assert_eq!(a.intersect(c), Some(PhysRange::from_checked(0x1800, 0x2000)));
        assert_eq!(a.to_string(), "[0x1000, 0x2000)");
    }
}

//! Regions of an address space: named, inclusive ranges, and fixed-capacity lists of them.

use core::fmt;

use crate::Error;

/// A non-empty range of virtual addresses `[start, last]`, `last` inclusive (as
/// Linux's tables print it), so that a range may end at `0xffff_ffff_ffff_ffff`.
///
/// By accepting a `Span`, code can rely on `start <= last` and on the range not
/// being the whole 64-bit space (so [`Span::size`] never overflows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    start: u64,
    last: u64,
}

impl Span {
    /// The span `[start, last]`; refuses an empty span (`last + 1 == start`,
    /// [`Error::BadVirtRange`]), a reversed one ([`Error::RangeReversed`]) and the
    /// whole 64-bit space ([`Error::WholeAddressSpace`]).
    pub const fn new(start: u64, last: u64) -> Result<Self, Error> {
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
        Ok(Span { start, last })
    }

    /// The span `[start, start + size)`; refuses an empty span
    /// ([`Error::BadVirtRange`]) or one that wraps past 2^64 ([`Error::RangeWraps`],
    /// with the size given).
    pub const fn from_size(start: u64, size: u64) -> Result<Self, Error> {
        if size == 0 {
            return Err(Error::BadVirtRange { start, size, reason: "it is empty" });
        }
        match start.checked_add(size - 1) {
            Some(last) => Span::new(start, last),
            None => Err(Error::RangeWraps { start, len: size }),
        }
    }

    /// The span `[start, end)` with an exclusive end; `end == 0` stands for 2^64.
    pub const fn from_end(start: u64, end: u64) -> Result<Self, Error> {
        Span::new(start, end.wrapping_sub(1))
    }

    /// The first address.
    pub const fn start(self) -> u64 {
        self.start
    }

    /// The last address (inclusive).
    pub const fn last(self) -> u64 {
        self.last
    }

    /// The exclusive end, `last + 1`, wrapping to 0 for a span that reaches 2^64.
    pub const fn end(self) -> u64 {
        self.last.wrapping_add(1)
    }

    /// The size in bytes.
    pub const fn size(self) -> u64 {
        self.last - self.start + 1
    }

    /// Whether `addr` lies in the span.
    pub const fn contains(self, addr: u64) -> bool {
        self.start <= addr && addr <= self.last
    }

    /// Whether `other` lies entirely in this span.
    pub const fn contains_span(self, other: Span) -> bool {
        self.start <= other.start && other.last <= self.last
    }

    /// Whether the two spans share an address.
    pub const fn overlaps(self, other: Span) -> bool {
        self.start <= other.last && other.start <= self.last
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{:016x}", self.start, self.last)
    }
}

/// One named region of a layout: a [`Span`], the alignment its bounds need, and
/// what Linux uses it for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    name: &'static str,
    span: Span,
    align: u64,
    description: &'static str,
}

impl Region {
    /// A region named `name` (a lowercase id such as `vmalloc`) over `span`, whose
    /// start and end must be multiples of `align` (a power of two).
    pub const fn new(name: &'static str, span: Span, align: u64, description: &'static str) -> Self {
        Region { name, span, align, description }
    }

    /// The lowercase id (`user`, `vmalloc`, `modules`, ...).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The addresses it covers.
    pub const fn span(&self) -> Span {
        self.span
    }

    /// The first address.
    pub const fn start(&self) -> u64 {
        self.span.start
    }

    /// The last address (inclusive).
    pub const fn last(&self) -> u64 {
        self.span.last
    }

    /// The size in bytes.
    pub const fn size(&self) -> u64 {
        self.span.size()
    }

    /// The alignment its start and exclusive end need.
    pub const fn align(&self) -> u64 {
        self.align
    }

    /// What the region is for, in Linux's words where Linux has them.
    pub const fn description(&self) -> &'static str {
        self.description
    }

    /// The same region over another span (for what-if tools and tests).
    pub const fn with_span(self, span: Span) -> Self {
        Region { span, ..self }
    }
}

/// The most regions one layout holds.
pub const MAX_REGIONS: usize = 32;

const PLACEHOLDER: Region = Region { name: "", span: Span { start: 0, last: 0 }, align: 1, description: "" };

/// A fixed-capacity list of regions (no allocation: the kernel uses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionList {
    items: [Region; MAX_REGIONS],
    len: usize,
}

impl Default for RegionList {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionList {
    /// An empty list.
    pub const fn new() -> Self {
        RegionList { items: [PLACEHOLDER; MAX_REGIONS], len: 0 }
    }

    /// Appends a region; fails when the list already holds [`MAX_REGIONS`].
    pub fn push(&mut self, region: Region) -> Result<(), Error> {
        if self.len == MAX_REGIONS {
            return Err(Error::TooManyRegions { max: MAX_REGIONS });
        }
        self.items[self.len] = region;
        self.len += 1;
        Ok(())
    }

    /// Sorts by start address (then by last address), as the JSON contract lists them.
    pub fn sort(&mut self) {
        self.items[..self.len].sort_unstable_by_key(|r| (r.start(), r.last()));
    }

    /// The regions, in list order.
    pub fn as_slice(&self) -> &[Region] {
        &self.items[..self.len]
    }

    /// The regions, mutable (for what-if tools and tests that break a layout).
    pub fn as_mut_slice(&mut self) -> &mut [Region] {
        &mut self.items[..self.len]
    }

    /// How many regions the list holds.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first region named `name`.
    pub fn get(&self, name: &str) -> Option<&Region> {
        self.as_slice().iter().find(|r| r.name == name)
    }

    /// The region holding `addr`, if any.
    pub fn containing(&self, addr: u64) -> Option<&Region> {
        self.as_slice().iter().find(|r| r.span.contains(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_bounds_and_sizes() {
        let s = Span::from_end(0xffff_ffff_8000_0000, 0).unwrap();
        assert_eq!(s.last(), u64::MAX);
        assert_eq!(s.size(), 0x8000_0000);
        assert_eq!(s.end(), 0);
        assert!(Span::new(5, 4).is_err());
        assert!(Span::new(0, u64::MAX).is_err());
        assert!(Span::from_size(u64::MAX, 2).is_err());
        assert!(Span::from_size(0x1000, 0).is_err());
        let a = Span::from_size(0x1000, 0x1000).unwrap();
        let b = Span::from_size(0x1fff, 0x10).unwrap();
        assert!(a.overlaps(b) && b.overlaps(a));
        assert!(!a.overlaps(Span::from_size(0x2000, 1).unwrap()));
    }

    #[test]
    fn refused_spans_say_what_is_wrong() {
        // Empty, reversed and whole-space spans used to be "wraps" with an invented length.
        assert_eq!(
            Span::from_size(0x1000, 0),
            Err(Error::BadVirtRange { start: 0x1000, size: 0, reason: "it is empty" })
        );
        assert_eq!(
            Span::from_end(0x2000, 0x2000),
            Err(Error::BadVirtRange { start: 0x2000, size: 0, reason: "it is empty" })
        );
        assert_eq!(
            Span::new(0xc000_8000, 0xc000_0fff),
            Err(Error::RangeReversed { what: "virtual range", start: 0xc000_8000, end: 0xc000_1000 })
        );
        assert_eq!(
            Span::from_end(0xc000_8000, 0xc000_1000).unwrap_err().to_string(),
            "virtual range [0xc0008000, 0xc0001000) ends before it starts"
        );
        assert_eq!(
            Span::new(0, u64::MAX).unwrap_err().to_string(),
            "virtual range [0x0, 2^64) is the whole 64-bit address space, which no span holds"
        );
        // A real wrap keeps the length that was given.
        assert_eq!(Span::from_size(u64::MAX, 2), Err(Error::RangeWraps { start: u64::MAX, len: 2 }));
    }

    #[test]
    fn list_sorts_and_refuses_overflow() {
        let mut list = RegionList::new();
        for i in (0..MAX_REGIONS as u64).rev() {
            list.push(Region::new("r", Span::from_size(i * 0x1000, 0x1000).unwrap(), 0x1000, "")).unwrap();
        }
        let extra = Region::new("x", Span::from_size(0, 1).unwrap(), 1, "");
        assert_eq!(list.push(extra), Err(Error::TooManyRegions { max: MAX_REGIONS }));
        list.sort();
        assert!(list.as_slice().windows(2).all(|w| w[0].start() < w[1].start()));
        assert_eq!(list.containing(0x3fff).map(|r| r.start()), Some(0x3000));
    }
}

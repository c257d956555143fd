//! Regions of an address space: named ranges, and fixed-capacity lists of them.

use crate::addr::VirtAddr;
use crate::range::VirtRange;
use crate::Error;

/// One named region of a layout: a [`VirtRange`], the alignment its bounds need, and
/// what Linux uses it for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    name: &'static str,
    range: VirtRange,
    align: u64,
    description: &'static str,
}

impl Region {
    /// A region named `name` (a lowercase id such as `vmalloc`) over `range`, whose
    /// start and end must be multiples of `align` (a power of two).
    pub const fn new(name: &'static str, range: VirtRange, align: u64, description: &'static str) -> Self {
        Region { name, range, align, description }
    }

    /// The lowercase id (`user`, `vmalloc`, `modules`, ...).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The addresses it covers.
    pub const fn range(&self) -> VirtRange {
        self.range
    }

    /// The first address.
    pub const fn start(&self) -> u64 {
        self.range.start().as_u64()
    }

    /// The last address (inclusive).
    pub const fn last(&self) -> u64 {
        self.range.last().as_u64()
    }

    /// The size in bytes.
    pub const fn size(&self) -> u64 {
        self.range.size()
    }

    /// The alignment its start and exclusive end need.
    pub const fn align(&self) -> u64 {
        self.align
    }

    /// What the region is for, in Linux's words where Linux has them.
    pub const fn description(&self) -> &'static str {
        self.description
    }

    /// The same region over another range (for what-if tools and tests).
    pub const fn with_range(self, range: VirtRange) -> Self {
        Region { range, ..self }
    }
}

/// The most regions one layout holds.
pub const MAX_REGIONS: usize = 32;

const PLACEHOLDER: Region =
    Region { name: "", range: VirtRange::from_pages(0, 1), align: 1, description: "" };

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
        self.as_slice().iter().find(|r| r.range.contains(VirtAddr::new(addr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sorts_and_refuses_overflow() {
        let mut list = RegionList::new();
        for i in (0..MAX_REGIONS as u64).rev() {
            list.push(Region::new(
                "r",
                VirtRange::new(VirtAddr::new(i * 0x1000), 0x1000).unwrap(),
                0x1000,
                "",
            ))
            .unwrap();
        }
        let extra = Region::new("x", VirtRange::new(VirtAddr::new(0), 1).unwrap(), 1, "");
        assert_eq!(list.push(extra), Err(Error::TooManyRegions { max: MAX_REGIONS }));
        list.sort();
        assert!(list.as_slice().windows(2).all(|w| w[0].start() < w[1].start()));
        assert_eq!(list.containing(0x3fff).map(|r| r.start()), Some(0x3000));
    }
}

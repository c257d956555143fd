//! The physical memory map: RAM banks and reserved ranges, normalised.
//!
//! Firmware describes memory carelessly: banks come unsorted, overlap, touch,
//! have ragged (non-page) edges or are empty, and reserved ranges start
//! mid-page. [`MemoryMap`] takes whatever it is given and keeps a normal form
//! that the rest of kvas can rely on, without `alloc` (fixed capacities):
//!
//! | input                             | what the map does                                   |
//! |-----------------------------------|-----------------------------------------------------|
//! | banks in any order                | sorted by address                                   |
//! | overlapping banks                 | merged (and a [`Notice::BanksOverlap`] left)         |
//! | touching banks                    | merged into one (NUMA nodes often touch)            |
//! | a bank of size 0                  | ignored, [`Notice::EmptyBank`]                      |
//! | a bank with unaligned edges       | trimmed inward to whole 4 KiB pages, [`Notice::BankTrimmed`] |
//! | a bank holding no whole page      | ignored, [`Notice::BankTooSmall`]                   |
//! | a range that wraps past 2^64 or ends above 2^56 | refused: [`Error::BadPhysRange`]      |
//! | more banks than [`MAX_BANKS`]     | refused: [`Error::TooManyRanges`]                   |
//! | a reservation with unaligned edges| widened outward to whole pages (never map or hand out a byte of it) |
//! | a reservation of size 0           | ignored, [`Notice::EmptyReservation`]               |
//! | reservations overlapping anything | kept; for each page the strictest kind wins         |
//! | RAM at or above what the paging mode can address | dropped by [`MemoryMap::clip`], [`Notice::BeyondReach`] |
//!
//! Nothing is dropped silently: every adjustment leaves a [`Notice`] that a
//! kernel prints as a warning and the CLI on stderr.

use core::fmt;

use crate::addr::PAGE_SIZE;
use crate::phys::range::PhysRange;
use crate::Error;

/// How many RAM banks a [`MemoryMap`] holds (after merging).
pub const MAX_BANKS: usize = 128;
/// How many reserved ranges a [`MemoryMap`] holds.
pub const MAX_RESERVATIONS: usize = 128;
/// How many notices a [`MemoryMap`] keeps; later ones are only counted.
pub const MAX_NOTICES: usize = 16;

/// What a reserved range forbids, strictest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReserveKind {
    /// Not mapped at all, not even in the linear map (device tree `no-map`):
    /// firmware memory that a speculative access must never reach.
    NoMap,
    /// Mapped in the linear map but never handed out (the kernel image, the
    /// device tree, the initrd, `/memreserve/`, reserved-memory without flags).
    Reserved,
    /// Owned by a driver that lets the kernel borrow it (device tree `reusable`,
    /// e.g. CMA). Mapped; the early allocator leaves it alone, since the owner
    /// may claim it back before the kernel could move a page table.
    Reusable,
}

impl ReserveKind {
    /// The word used in reports: `no-map`, `reserved` or `reusable`.
    pub const fn name(self) -> &'static str {
        match self {
            ReserveKind::NoMap => "no-map",
            ReserveKind::Reserved => "reserved",
            ReserveKind::Reusable => "reusable",
        }
    }

    /// Whether the linear map may include it.
    pub const fn is_mapped(self) -> bool {
        !matches!(self, ReserveKind::NoMap)
    }
}

/// Who asked for a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReservedBy {
    /// A `/reserved-memory` child node of the device tree.
    ReservedMemoryNode,
    /// An entry of the device tree's memory reservation block (`/memreserve/`).
    MemReserve,
    /// The initial ramdisk named by `/chosen`.
    Initrd,
    /// The device tree blob itself.
    DeviceTree,
    /// The kernel image.
    Kernel,
    /// The user (command line, test, caller).
    User,
}

impl ReservedBy {
    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            ReservedBy::ReservedMemoryNode => "reserved-memory",
            ReservedBy::MemReserve => "memreserve",
            ReservedBy::Initrd => "initrd",
            ReservedBy::DeviceTree => "dtb",
            ReservedBy::Kernel => "kernel",
            ReservedBy::User => "user",
        }
    }
}

/// A reserved physical range, widened to whole pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reservation {
    /// The pages reserved.
    pub range: PhysRange,
    /// What the reservation forbids.
    pub kind: ReserveKind,
    /// Who asked for it.
    pub by: ReservedBy,
}

/// An adjustment the map made to what it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notice {
    /// A RAM bank of size 0 was ignored.
    EmptyBank {
        /// Its base.
        start: u64,
    },
    /// A RAM bank's edges were not page-aligned; the partial pages were dropped.
    BankTrimmed {
        /// The bank as given.
        given: PhysRange,
        /// The whole pages kept.
        kept: PhysRange,
    },
    /// A RAM bank held no whole 4 KiB page and was ignored.
    BankTooSmall {
        /// The bank as given.
        given: PhysRange,
    },
    /// Two RAM banks overlapped; they were merged.
    BanksOverlap {
        /// The bytes described twice.
        overlap: PhysRange,
    },
    /// A reservation of size 0 was ignored.
    EmptyReservation {
        /// Its base.
        start: u64,
    },
    /// A `/reserved-memory` node without `reg` (a dynamic reservation, placed by
    /// the kernel later) was skipped: it has no address yet.
    DynamicReservation,
    /// A `/reserved-memory` node had both `no-map` and `reusable`; it was
    /// treated as `no-map`, the safer of the two.
    NoMapAndReusable {
        /// The range.
        range: PhysRange,
    },
    /// RAM at or above `limit` (the highest physical address the paging mode can encode,
    /// plus one) was dropped by [`MemoryMap::clip`]: Sv32's 34-bit addresses end at 16 GiB.
    BeyondReach {
        /// From the first dropped byte to the end of the last bank.
        dropped: PhysRange,
        /// The RAM bytes dropped (the banks' parts in `dropped`).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Notice::EmptyBank { start } => write!(f, "ignored an empty RAM bank at {start:#x}"),
            Notice::BankTrimmed { given, kept } => {
                write!(f, "RAM bank {given} is not page-aligned: using {kept}")
            }
            Notice::BankTooSmall { given } => {
                write!(f, "ignored RAM bank {given}: it holds no whole 4 KiB page")
            }
            Notice::BanksOverlap { overlap } => write!(f, "RAM banks overlap on {overlap}: merged"),
            Notice::EmptyReservation { start } => write!(f, "ignored an empty reservation at {start:#x}"),
            Notice::DynamicReservation => {
                write!(f, "skipped a reserved-memory node without reg (dynamic, no address yet)")
            }
            Notice::NoMapAndReusable { range } => {
                write!(f, "reserved range {range} is both no-map and reusable: treated as no-map")
            }
            Notice::BeyondReach { dropped, bytes, limit } => write!(
                f,
                "dropped RAM {dropped} ({bytes:#x} bytes): at or above {limit:#x}, beyond the paging mode's physical addresses"
            ),
        }
    }
}

/// RAM banks and reserved ranges in normal form (see the module documentation).
///
/// By holding a `MemoryMap` code can rely on: banks sorted, page-aligned,
/// non-empty, neither overlapping nor touching; reservations page-aligned,
/// non-empty and sorted by start (they may overlap each other and lie partly
/// or wholly outside RAM).
#[derive(Clone, PartialEq, Eq)]
pub struct MemoryMap {
    banks: [PhysRange; MAX_BANKS],
    n_banks: usize,
    reserved: [Reservation; MAX_RESERVATIONS],
    n_reserved: usize,
    notices: [Notice; MAX_NOTICES],
    n_notices: usize,
    dropped_notices: usize,
}

const NO_RANGE: PhysRange = PhysRange::from_checked(0, PAGE_SIZE);
const NO_RESERVATION: Reservation =
    Reservation { range: NO_RANGE, kind: ReserveKind::Reserved, by: ReservedBy::User };

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            banks: [NO_RANGE; MAX_BANKS],
            n_banks: 0,
            reserved: [NO_RESERVATION; MAX_RESERVATIONS],
            n_reserved: 0,
            notices: [Notice::DynamicReservation; MAX_NOTICES],
            n_notices: 0,
            dropped_notices: 0,
        }
    }

    /// Adds `size` bytes of RAM at `start`, normalising as the module documentation
    /// says. On error the map is unchanged.
    pub fn add_ram(&mut self, start: u64, size: u64) -> Result<(), Error> {
        if size == 0 {
            self.notice(Notice::EmptyBank { start });
            return Ok(());
        }
        let given = PhysRange::new(start, size)?;
        let Some(kept) = given.pages_inside() else {
            self.notice(Notice::BankTooSmall { given });
            return Ok(());
        };
        // Banks overlapping or touching the new one: indices first..last.
        let first = self.banks().partition_point(|b| b.end() < kept.start_u64());
        let last = first + self.banks()[first..].partition_point(|b| b.start_u64() <= kept.end());
        if first == last && self.n_banks == MAX_BANKS {
            return Err(Error::TooManyRanges { what: "RAM banks", max: MAX_BANKS });
        }
        if kept != given {
            self.notice(Notice::BankTrimmed { given, kept });
        }
        let mut merged = kept;
        for i in first..last {
            let b = self.banks[i];
            if let Some(overlap) = b.intersect(kept) {
                self.notice(Notice::BanksOverlap { overlap });
            }
            merged =
                PhysRange::from_checked(merged.start_u64().min(b.start_u64()), merged.end().max(b.end()));
        }
        if first == last {
            self.banks.copy_within(first..self.n_banks, first + 1);
            self.n_banks += 1;
        } else {
            self.banks.copy_within(last..self.n_banks, first + 1);
            self.n_banks -= last - first - 1;
        }
        self.banks[first] = merged;
        Ok(())
    }

    /// Reserves `size` bytes at `start` (widened to whole pages). On error the
    /// map is unchanged.
    pub fn reserve(&mut self, start: u64, size: u64, kind: ReserveKind, by: ReservedBy) -> Result<(), Error> {
        if size == 0 {
            self.notice(Notice::EmptyReservation { start });
            return Ok(());
        }
        let range = PhysRange::new(start, size)?.pages_around();
        self.reserve_range(Reservation { range, kind, by })
    }

    fn reserve_range(&mut self, r: Reservation) -> Result<(), Error> {
        // An identical or touching reservation of the same kind and owner grows instead.
        for i in 0..self.n_reserved {
            let old = self.reserved[i];
            if old.kind == r.kind && old.by == r.by && old.range.overlaps_or_touches(r.range) {
                let start = old.range.start_u64().min(r.range.start_u64());
                let end = old.range.end().max(r.range.end());
                self.remove_reservation(i);
                let grown = Reservation { range: PhysRange::from_checked(start, end), ..r };
                return self.reserve_range(grown);
            }
        }
        if self.n_reserved == MAX_RESERVATIONS {
            return Err(Error::TooManyRanges { what: "reserved ranges", max: MAX_RESERVATIONS });
        }
        let at = self.reservations().partition_point(|x| x.range.start_u64() <= r.range.start_u64());
        self.reserved.copy_within(at..self.n_reserved, at + 1);
        self.reserved[at] = r;
        self.n_reserved += 1;
        Ok(())
    }

    fn remove_reservation(&mut self, i: usize) {
        self.reserved.copy_within(i + 1..self.n_reserved, i);
        self.n_reserved -= 1;
    }

    /// Drops the RAM at or above `limit` (rounded down to a page): banks past it go, a bank
    /// across it is cut there, and a [`Notice::BeyondReach`] says what went. Reservations
    /// stay (they may lie outside RAM). [`Error::NoRam`] if no RAM lies below `limit`;
    /// the map is then unchanged. Nothing above `limit`: no change, no notice.
    pub fn clip(&mut self, limit: u64) -> Result<(), Error> {
        let limit = limit & !(PAGE_SIZE - 1);
        let below = self.banks().partition_point(|b| b.end() <= limit);
        let (Some(&cut), Some(&last)) = (self.banks().get(below), self.banks().last()) else {
            return Ok(());
        };
        let across = cut.start_u64() < limit;
        let kept = below + usize::from(across);
        if kept == 0 {
            return Err(Error::NoRam);
        }
        let bytes = self.banks()[below..].iter().map(|b| b.end() - b.start_u64().max(limit)).sum();
        let dropped = PhysRange::from_checked(cut.start_u64().max(limit), last.end());
        if across {
            self.banks[below] = PhysRange::from_checked(cut.start_u64(), limit);
        }
        self.n_banks = kept;
        self.notice(Notice::BeyondReach { dropped, bytes, limit });
        Ok(())
    }

    /// Records an adjustment (kept if there is room, else only counted).
    pub fn notice(&mut self, n: Notice) {
        if self.n_notices < MAX_NOTICES {
            self.notices[self.n_notices] = n;
            self.n_notices += 1;
        } else {
            self.dropped_notices += 1;
        }
    }

    /// The RAM banks, sorted, page-aligned, disjoint and not touching.
    pub fn banks(&self) -> &[PhysRange] {
        &self.banks[..self.n_banks]
    }

    /// The reservations, page-aligned, sorted by start.
    pub fn reservations(&self) -> &[Reservation] {
        &self.reserved[..self.n_reserved]
    }

    /// The adjustments made so far (the first [`MAX_NOTICES`]).
    pub fn notices(&self) -> &[Notice] {
        &self.notices[..self.n_notices]
    }

    /// How many notices did not fit.
    pub fn dropped_notices(&self) -> usize {
        self.dropped_notices
    }

    /// Total RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.banks().iter().map(|b| b.size()).sum()
    }

    /// From the first byte of RAM to the end of the last bank, or [`Error::NoRam`].
    pub fn ram_span(&self) -> Result<PhysRange, Error> {
        match (self.banks().first(), self.banks().last()) {
            (Some(first), Some(last)) => Ok(PhysRange::from_checked(first.start_u64(), last.end())),
            _ => Err(Error::NoRam),
        }
    }

    /// RAM that the linear map covers: every bank minus the `no-map` reservations,
    /// as sorted, disjoint page-aligned ranges.
    pub fn mappable(&self) -> RamRanges<'_> {
        RamRanges { map: self, bank: 0, pos: 0, excluded: |r| r.kind == ReserveKind::NoMap }
    }

    /// RAM free for allocation: every bank minus every reservation.
    pub fn free(&self) -> RamRanges<'_> {
        RamRanges { map: self, bank: 0, pos: 0, excluded: |_| true }
    }

    /// The strictest reservation covering `pa`, if any.
    pub fn reservation_at(&self, pa: u64) -> Option<Reservation> {
        self.reservations().iter().filter(|r| r.range.contains(pa)).min_by_key(|r| r.kind).copied()
    }
}

impl fmt::Debug for MemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryMap")
            .field("banks", &self.banks())
            .field("reserved", &self.reservations())
            .field("notices", &self.notices())
            .finish()
    }
}

/// RAM with some reservations cut out, in address order (see
/// [`MemoryMap::mappable`] and [`MemoryMap::free`]). Allocation-free: it walks
/// the banks and the sorted reservations.
#[derive(Clone)]
pub struct RamRanges<'a> {
    map: &'a MemoryMap,
    bank: usize,
    pos: u64,
    excluded: fn(&Reservation) -> bool,
}

impl Iterator for RamRanges<'_> {
    type Item = PhysRange;

    fn next(&mut self) -> Option<PhysRange> {
        let banks = self.map.banks();
        let reserved = self.map.reservations();
        while let Some(bank) = banks.get(self.bank) {
            self.pos = self.pos.max(bank.start_u64());
            // Skip past every excluded reservation covering pos (they may chain).
            let mut moved = true;
            while moved {
                moved = false;
                for r in reserved.iter().filter(|r| (self.excluded)(r)) {
                    if r.range.contains(self.pos) {
                        self.pos = r.range.end();
                        moved = true;
                    }
                }
            }
            if self.pos >= bank.end() {
                self.bank += 1;
                continue;
            }
            // The piece ends at the bank's end or the next excluded reservation.
            let end = reserved
                .iter()
                .filter(|r| (self.excluded)(r) && r.range.start_u64() > self.pos)
                .map(|r| r.range.start_u64())
                .fold(bank.end(), u64::min);
            let piece = PhysRange::from_checked(self.pos, end);
            self.pos = end;
            return Some(piece);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizes::{SZ_1G, SZ_1M};

    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange::from_bounds(start, end).unwrap()
    }

    #[test]
    fn unsorted_banks_come_out_sorted() {
        let mut m = MemoryMap::new();
        m.add_ram(0x1_0000_0000, SZ_1G).unwrap();
        m.add_ram(0x8000_0000, SZ_1G).unwrap();
        m.add_ram(0x2_0000_0000, SZ_1G).unwrap();
        assert_eq!(
            m.banks(),
            &[r(0x8000_0000, 0xc000_0000), r(0x1_0000_0000, 0x1_4000_0000), r(0x2_0000_0000, 0x2_4000_0000)]
        );
        assert!(m.notices().is_empty());
    }

    /// Sv32's reach (2^34): a bank across it is cut, banks past it go, with one notice
    /// naming the span and the bytes; all RAM past it is an error and changes nothing.
    #[test]
    fn clip_drops_ram_at_and_above_the_limit() {
        const REACH: u64 = 1 << 34;
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0000, REACH).unwrap();
        m.add_ram(REACH + 4 * SZ_1G, SZ_1G).unwrap();
        m.reserve(REACH + SZ_1G, 0x1000, ReserveKind::NoMap, ReservedBy::User).unwrap();
        m.clip(REACH).unwrap();
        assert_eq!(m.banks(), &[r(0x8000_0000, REACH)]);
        assert_eq!(m.reservations().len(), 1, "reservations stay");
        let dropped = r(REACH, REACH + 5 * SZ_1G);
        assert_eq!(m.notices(), &[Notice::BeyondReach { dropped, bytes: 0x8000_0000 + SZ_1G, limit: REACH }]);
        assert_eq!(
            m.notices()[0].to_string(),
            "dropped RAM [0x400000000, 0x540000000) (0xc0000000 bytes): at or above 0x400000000, \
             beyond the paging mode's physical addresses"
        );
        // Already within reach: unchanged, silent.
        let before = m.clone();
        m.clip(REACH).unwrap();
        assert_eq!(m, before);
        // A bank ending exactly at the limit stays whole; the next one goes.
        let mut m = MemoryMap::new();
        m.add_ram(REACH - SZ_1G, SZ_1G).unwrap();
        m.add_ram(REACH + SZ_1G, SZ_1G).unwrap();
        m.clip(REACH).unwrap();
        assert_eq!(m.banks(), &[r(REACH - SZ_1G, REACH)]);
        // Nothing below: an error, the map unchanged.
        let mut m = MemoryMap::new();
        m.add_ram(REACH, SZ_1G).unwrap();
        let before = m.clone();
        assert_eq!(m.clip(REACH), Err(Error::NoRam));
        assert_eq!(m, before);
    }

    #[test]
    fn touching_banks_merge_silently() {
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0000 + 513 * SZ_1M, SZ_1G).unwrap();
        m.add_ram(0x8000_0000, 513 * SZ_1M).unwrap();
        assert_eq!(m.banks(), &[r(0x8000_0000, 0x8000_0000 + 513 * SZ_1M + SZ_1G)]);
        assert!(m.notices().is_empty());
    }

    #[test]
    fn overlapping_banks_merge_with_a_notice() {
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0000, 2 * SZ_1G).unwrap();
        m.add_ram(0x9000_0000, 2 * SZ_1G).unwrap();
        assert_eq!(m.banks(), &[r(0x8000_0000, 0x1_1000_0000)]);
        assert_eq!(m.notices(), &[Notice::BanksOverlap { overlap: r(0x9000_0000, 0x1_0000_0000) }]);
    }

    #[test]
    fn one_bank_can_swallow_several() {
        let mut m = MemoryMap::new();
        for i in 0..4 {
            m.add_ram(i * 2 * SZ_1G, SZ_1G).unwrap();
        }
        m.add_ram(10 * SZ_1G, SZ_1G).unwrap();
        m.add_ram(SZ_1G / 2, 6 * SZ_1G).unwrap();
        assert_eq!(m.banks(), &[r(0, 7 * SZ_1G), r(10 * SZ_1G, 11 * SZ_1G)]);
        // Overlaps with the banks at 0, 2G, 4G and 6G.
        assert_eq!(m.notices().len(), 4);
    }

    #[test]
    fn empty_banks_are_ignored_with_a_notice() {
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0000, 0).unwrap();
        assert!(m.banks().is_empty());
        assert_eq!(m.notices(), &[Notice::EmptyBank { start: 0x8000_0000 }]);
        assert_eq!(m.ram_span(), Err(Error::NoRam));
    }

    #[test]
    fn unaligned_banks_are_trimmed_inward() {
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0123, 0x10_0000).unwrap();
        let kept = r(0x8000_1000, 0x8010_0000);
        assert_eq!(m.banks(), &[kept]);
        assert_eq!(
            m.notices(),
            &[Notice::BankTrimmed { given: PhysRange::new(0x8000_0123, 0x10_0000).unwrap(), kept }]
        );
        m.add_ram(0x9000_0800, 0x1000).unwrap();
        assert_eq!(m.banks().len(), 1, "a bank with no whole page adds nothing");
        assert!(matches!(m.notices()[1], Notice::BankTooSmall { .. }));
    }

    #[test]
    fn wrapping_and_too_wide_banks_are_refused_and_change_nothing() {
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0000, SZ_1G).unwrap();
        let before = m.clone();
        assert!(matches!(m.add_ram(u64::MAX - 0xfff, 0x2000), Err(Error::BadPhysRange { .. })));
        assert!(matches!(m.add_ram(1 << 56, 0x1000), Err(Error::BadPhysRange { .. })));
        assert_eq!(m, before);
    }

    #[test]
    fn capacity_is_enforced_but_merging_still_works_when_full() {
        let mut m = MemoryMap::new();
        for i in 0..MAX_BANKS as u64 {
            m.add_ram(i * 2 * SZ_1G, SZ_1G).unwrap();
        }
        assert_eq!(
            m.add_ram(1000 * SZ_1G, SZ_1G),
            Err(Error::TooManyRanges { what: "RAM banks", max: MAX_BANKS })
        );
        // Filling a hole merges two banks: allowed, and frees a slot.
        m.add_ram(SZ_1G, SZ_1G).unwrap();
        assert_eq!(m.banks().len(), MAX_BANKS - 1);
        m.add_ram(1000 * SZ_1G, SZ_1G).unwrap();
    }

    #[test]
    fn reservations_widen_to_pages_and_stay_sorted() {
        let mut m = MemoryMap::new();
        m.reserve(0x8220_0010, 0x100, ReserveKind::Reserved, ReservedBy::Initrd).unwrap();
        m.reserve(0x8000_0000, 0x4_0000, ReserveKind::NoMap, ReservedBy::ReservedMemoryNode).unwrap();
        assert_eq!(m.reservations()[0].range, r(0x8000_0000, 0x8004_0000));
        assert_eq!(m.reservations()[1].range, r(0x8220_0000, 0x8220_1000));
        m.reserve(0x9000_0000, 0, ReserveKind::NoMap, ReservedBy::User).unwrap();
        assert_eq!(m.reservations().len(), 2);
        assert_eq!(m.notices(), &[Notice::EmptyReservation { start: 0x9000_0000 }]);
        assert!(matches!(
            m.reserve(u64::MAX, 2, ReserveKind::NoMap, ReservedBy::User),
            Err(Error::BadPhysRange { .. })
        ));
    }

    #[test]
    fn same_kind_reservations_coalesce() {
        let mut m = MemoryMap::new();
        m.reserve(0x1000, 0x1000, ReserveKind::NoMap, ReservedBy::User).unwrap();
        m.reserve(0x3000, 0x1000, ReserveKind::NoMap, ReservedBy::User).unwrap();
        m.reserve(0x2000, 0x1000, ReserveKind::NoMap, ReservedBy::User).unwrap();
        assert_eq!(m.reservations().len(), 1);
        assert_eq!(m.reservations()[0].range, r(0x1000, 0x4000));
        m.reserve(0x2000, 0x1000, ReserveKind::Reserved, ReservedBy::User).unwrap();
        assert_eq!(m.reservations().len(), 2);
        assert_eq!(m.reservation_at(0x2000).map(|r| r.kind), Some(ReserveKind::NoMap), "strictest wins");
    }

    #[test]
    fn reservation_capacity_is_enforced() {
        let mut m = MemoryMap::new();
        for i in 0..MAX_RESERVATIONS as u64 {
            m.reserve(i * 0x10000, 0x1000, ReserveKind::NoMap, ReservedBy::User).unwrap();
        }
        assert_eq!(
            m.reserve(0x1_0000_0000, 0x1000, ReserveKind::NoMap, ReservedBy::User),
            Err(Error::TooManyRanges { what: "reserved ranges", max: MAX_RESERVATIONS })
        );
    }

    #[test]
    fn mappable_cuts_only_no_map_and_free_cuts_everything() {
        let mut m = MemoryMap::new();
        m.add_ram(0x8000_0000, SZ_1G).unwrap();
        m.add_ram(0x1_0000_0000, SZ_1G).unwrap();
        m.reserve(0x8000_0000, 0x4_0000, ReserveKind::NoMap, ReservedBy::ReservedMemoryNode).unwrap();
        m.reserve(0x8020_0000, 0x20_0000, ReserveKind::Reserved, ReservedBy::Kernel).unwrap();
        // Two overlapping no-map ranges that straddle the gap between banks.
        m.reserve(0xbff0_0000, 0x20_0000, ReserveKind::NoMap, ReservedBy::User).unwrap();
        m.reserve(0xfff0_0000, 0x20_0000, ReserveKind::NoMap, ReservedBy::ReservedMemoryNode).unwrap();
        m.reserve(0x1_0000_0000, 0x1000, ReserveKind::NoMap, ReservedBy::User).unwrap();
        let mapped: Vec<_> = m.mappable().collect();
        assert_eq!(mapped, vec![r(0x8004_0000, 0xbff0_0000), r(0x1_0010_0000, 0x1_4000_0000)]);
        let free: Vec<_> = m.free().collect();
        assert_eq!(
            free,
            vec![r(0x8004_0000, 0x8020_0000), r(0x8040_0000, 0xbff0_0000), r(0x1_0010_0000, 0x1_4000_0000)]
        );
    }

    #[test]
    fn notices_overflow_is_counted() {
        let mut m = MemoryMap::new();
        for i in 0..(MAX_NOTICES as u64 + 3) {
            m.add_ram(i * SZ_1G, 0).unwrap();
        }
        assert_eq!(m.notices().len(), MAX_NOTICES);
        assert_eq!(m.dropped_notices(), 3);
        assert_eq!(m.notices()[0].to_string(), "ignored an empty RAM bank at 0x0");
    }
}

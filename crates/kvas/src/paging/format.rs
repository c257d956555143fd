//! The plug between the generic engine and one architecture's tables.
//!
//! A [`TableFormat`] says how deep the table is ([`Geometry`], a run-time value),
//! how wide an entry is ([`TableFormat::Entry`], a compile-time type: 64 bits
//! with 512 entries per table, or 32 bits with 1024) and how entries are
//! encoded, through one architecture-neutral view, [`Pte`].
//! The engine never names an architecture; a format never walks a table.

use crate::addr::PhysAddr;
use crate::paging::{Attrs, Geometry};
use crate::Error;

/// The machine word of one table entry: `u64` (512 per 4 KiB table, 9 index
/// bits per level) or `u32` (1024 per table, 10 bits).
///
/// The engine's index and size arithmetic comes from [`EntryWord::INDEX_BITS`], a
/// constant, so a 64-bit format compiles to the same code as when 512 entries
/// were the engine's only shape.
pub trait EntryWord: Copy + Eq + Into<u64> + core::fmt::Debug + 'static {
    /// The all-zero (invalid) entry.
    const ZERO: Self;
    /// log2 of the entries in one 4 KiB table.
    const INDEX_BITS: u32;
    /// Entries in one 4 KiB table.
    const ENTRIES: usize = 1 << Self::INDEX_BITS;
    /// Bytes of one entry.
    const BYTES: usize = core::mem::size_of::<Self>();

    /// The entry whose bits are `raw` (what a tool reading table memory as
    /// little-endian bytes has), or `None` if `raw` does not fit the width.
    fn from_u64(raw: u64) -> Option<Self>;
}

impl EntryWord for u64 {
    const ZERO: Self = 0;
    const INDEX_BITS: u32 = 9;

    fn from_u64(raw: u64) -> Option<Self> {
        Some(raw)
    }
}

impl EntryWord for u32 {
    const ZERO: Self = 0;
    const INDEX_BITS: u32 = 10;

    fn from_u64(raw: u64) -> Option<Self> {
        u32::try_from(raw).ok()
    }
}

/// One table entry, as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pte {
    /// Not valid: translation stops here with a fault.
    Absent,
    /// Points to the next-level table at this physical address.
    Table(PhysAddr),
    /// Maps a page of the level's size at `pa`.
    Leaf {
        /// The first byte of the page.
        pa: PhysAddr,
        /// What the page allows.
        attrs: Attrs,
    },
    /// An encoding the architecture reserves; walking it is an error.
    Reserved,
}

/// The geometry and entry encoding of one paging mode.
///
/// Implementations are small `Copy` values; the engine is generic over them so
/// that encoding inlines into the walk. The mode is data inside the value (for
/// example `Riscv { mode: Sv48 }`), so one compiled engine serves every depth.
pub trait TableFormat: Copy {
    /// The entry word: `u64` for RISC-V Sv39 and up, x86-64 and arm64, `u32`
    /// for Sv32. [`Geometry::index_bits`] of [`TableFormat::geometry`] must be
    /// its [`EntryWord::INDEX_BITS`]: a format's contract, which each format's
    /// tests check and [`crate::paging::PageTable::new`] asserts in debug
    /// builds (the engine's arithmetic uses the entry's constant).
    type Entry: EntryWord;

    /// Levels and leaf levels of the mode.
    fn geometry(&self) -> Geometry;

    /// Decodes a raw entry found at `level`.
    fn decode(&self, raw: Self::Entry, level: u8) -> Pte;

    /// Encodes a pointer to a next-level table.
    fn encode_table(&self, table: PhysAddr) -> Self::Entry;

    /// Encodes a pointer to a *pinned* table: one the engine never frees when it
    /// empties (see [`crate::paging::PageTable::populate`]). The mark must be a
    /// bit the hardware ignores. A format without such a bit keeps the default,
    /// and its tables are then never pinned.
    fn encode_pinned_table(&self, table: PhysAddr) -> Self::Entry {
        self.encode_table(table)
    }

    /// Whether `raw`, a pointer, carries the pinned mark.
    #[inline(always)]
    fn is_pinned(&self, raw: Self::Entry) -> bool {
        let _ = raw;
        false
    }

    /// Encodes a leaf at `level` mapping `pa`. The engine has already checked
    /// `pa` and `attrs` with [`TableFormat::check_leaf`] and aligned `pa` to the level.
    fn encode_leaf(&self, pa: PhysAddr, attrs: Attrs, level: u8) -> Self::Entry;

    /// Whether `raw` is a valid entry of any kind (the fast path of the walk).
    fn is_valid(&self, raw: Self::Entry) -> bool;

    /// The next table if `raw` is a well-formed pointer at `level`, else `None`
    /// (the fast path of the walk; agrees with [`TableFormat::decode`]).
    #[inline(always)]
    fn next_table(&self, raw: Self::Entry, level: u8) -> Option<PhysAddr> {
        match self.decode(raw, level) {
            Pte::Table(next) => Some(next),
            _ => None,
        }
    }

    /// The page and attributes if `raw` is a well-formed leaf at `level`, else
    /// `None` (the fast path of translation; agrees with [`TableFormat::decode`]).
    #[inline(always)]
    fn leaf(&self, raw: Self::Entry, level: u8) -> Option<(PhysAddr, Attrs)> {
        match self.decode(raw, level) {
            Pte::Leaf { pa, attrs } => Some((pa, attrs)),
            _ => None,
        }
    }

    /// Whether the format ever needs break-before-make. When `false` (the
    /// default), [`TableFormat::needs_break`] is never asked, and the engine
    /// does not even read the old entry.
    const BREAK_BEFORE_MAKE: bool = false;

    /// Whether replacing the valid entry `old` by the valid entry `new` needs
    /// break-before-make: first an invalid entry, then a TLB invalidation
    /// ([`crate::paging::PhysMemory::invalidate`]), only then `new`. Arm
    /// requires it when the output address, the block size (a block becoming a
    /// table) or the memory type changes. The default (RISC-V, x86-64) is never.
    #[inline(always)]
    fn needs_break(&self, old: Self::Entry, new: Self::Entry) -> bool {
        let _ = (old, new);
        false
    }

    /// Refuses attributes no leaf may carry, and physical ranges
    /// `[pa, pa + len)` the format cannot encode.
    fn check_leaf(&self, pa: PhysAddr, len: u64, attrs: Attrs) -> Result<(), Error>;
}

/// Test support for every format: the walk's fast paths, [`TableFormat::leaf`] and
/// [`TableFormat::next_table`], say of `raw` at `level` exactly what
/// [`TableFormat::decode`] says.
#[cfg(test)]
pub(crate) fn assert_fast_paths_agree<F: TableFormat>(f: &F, raw: F::Entry, level: u8) {
    let (leaf, table) = match f.decode(raw, level) {
        Pte::Leaf { pa, attrs } => (Some((pa, attrs)), None),
        Pte::Table(pa) => (None, Some(pa)),
        _ => (None, None),
    };
    assert_eq!(f.leaf(raw, level), leaf, "leaf {raw:#x?} at {level}");
    assert_eq!(f.next_table(raw, level), table, "table {raw:#x?} at {level}");
}

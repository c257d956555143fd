//! The plug between the generic engine and one architecture's tables.
//!
//! A [`TableFormat`] says how deep the table is ([`Geometry`], a run-time value)
//! and how entries are encoded, through one architecture-neutral view, [`Pte`].
//! The engine never names an architecture; a format never walks a table.

use crate::addr::PhysAddr;
use crate::paging::{Attrs, Geometry};
use crate::Error;

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
    /// Levels and leaf levels of the mode.
    fn geometry(&self) -> Geometry;

    /// Decodes a raw entry found at `level`.
    fn decode(&self, raw: u64, level: u8) -> Pte;

    /// Encodes a pointer to a next-level table.
    fn encode_table(&self, table: PhysAddr) -> u64;

    /// Encodes a pointer to a *pinned* table: one the engine never frees when it
    /// empties (see [`crate::paging::PageTable::populate`]). The mark must be a
    /// bit the hardware ignores. A format without such a bit keeps the default,
    /// and its tables are then never pinned.
    fn encode_pinned_table(&self, table: PhysAddr) -> u64 {
        self.encode_table(table)
    }

    /// Whether `raw`, a pointer, carries the pinned mark.
    #[inline(always)]
    fn is_pinned(&self, raw: u64) -> bool {
        let _ = raw;
        false
    }

    /// Encodes a leaf at `level` mapping `pa`. The engine has already checked
    /// `pa` and `attrs` with [`TableFormat::check_leaf`] and aligned `pa` to the level.
    fn encode_leaf(&self, pa: PhysAddr, attrs: Attrs, level: u8) -> u64;

    /// Whether `raw` is a valid entry of any kind (the fast path of the walk).
    fn is_valid(&self, raw: u64) -> bool;

    /// The next table if `raw` is a well-formed pointer at `level`, else `None`
    /// (the fast path of the walk; agrees with [`TableFormat::decode`]).
    #[inline(always)]
    fn next_table(&self, raw: u64, level: u8) -> Option<PhysAddr> {
        match self.decode(raw, level) {
            Pte::Table(next) => Some(next),
            _ => None,
        }
    }

    /// The page and attributes if `raw` is a well-formed leaf at `level`, else
    /// `None` (the fast path of translation; agrees with [`TableFormat::decode`]).
    #[inline(always)]
    fn leaf(&self, raw: u64, level: u8) -> Option<(PhysAddr, Attrs)> {
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
    fn needs_break(&self, old: u64, new: u64) -> bool {
        let _ = (old, new);
        false
    }

    /// Refuses attributes no leaf may carry, and physical ranges
    /// `[pa, pa + len)` the format cannot encode.
    fn check_leaf(&self, pa: PhysAddr, len: u64, attrs: Attrs) -> Result<(), Error>;
}

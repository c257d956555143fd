//! The shape of a page table in one paging mode, chosen at run time.
//!
//! kvas walks tables in 4 KiB frames: 512 eight-byte entries (every RISC-V
//! mode from Sv39 up, x86-64 and arm64 with the 4 KiB granule) or 1024
//! four-byte entries (Sv32). What differs between modes is the index bits per
//! level (9 or 10; fixed by the format's entry width), how many levels there
//! are and which levels may hold a leaf; [`Geometry`] holds exactly that, as a
//! `Copy` value, so one compiled walk serves every depth.
//!
//! The associated functions [`Geometry::shift`], [`Geometry::granularity`] and
//! [`Geometry::index`] are those of 512-entry tables; the methods
//! [`Geometry::shift_of`], [`Geometry::granularity_of`] and
//! [`Geometry::index_of`] follow the geometry's own index width.
//!
//! Levels are numbered as in the RISC-V privileged spec: level 0 holds 4 KiB
//! leaves, level 1 2 MiB leaves, and the root is level `levels - 1`.
//!
//! ```text
//!  Sv48 virtual address
//!  63      48 47     39 38     30 29     21 20     12 11        0
//! +----------+---------+---------+---------+---------+-----------+
//! | sign ext | index 3 | index 2 | index 1 | index 0 | page off. |
//! +----------+---------+---------+---------+---------+-----------+
//!               root                          leaf
//! ```

use crate::addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::paging::EntryWord;
use crate::Error;

/// Which virtual addresses one table translates.
///
/// RISC-V and x86-64 translate both halves of a sign-extended space with one
/// root; arm64 gives each half its own root (`TTBR0_EL1` below, `TTBR1_EL1`
/// above), each covering `2^va_bits` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// Both halves: bits 63..va_bits-1 all equal (RISC-V, x86-64).
    SignExtended,
    /// Only `[2^64 - 2^va_bits, 2^64)`: bits 63..va_bits all ones (arm64 TTBR1).
    Upper,
    /// Only `[0, 2^va_bits)`: bits 63..va_bits all zeros (arm64 TTBR0).
    Lower,
}

/// Levels, VA width and leaf levels of one paging mode.
///
/// By holding a `Geometry` the engine can rely on `1 <= levels <= MAX_LEVELS`
/// and `max_leaf_level < levels`: [`Geometry::new`] refuses anything else.
///
/// The index width is not stored: a 1024-entry geometry is one whose addresses
/// are wider than 512-entry tables of its depth could index (Sv32: 32 bits over
/// two levels, where 512 entries index 30), which
/// [`Geometry::with_index_bits`] requires. The value stays four bytes, as the
/// 64-bit formats build it on every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    levels: u8,
    max_leaf_level: u8,
    va_bits: u8,
    space: Space,
}

impl Geometry {
    /// The deepest table the engine walks (Sv57 and x86-64 5-level have 5 levels).
    pub const MAX_LEVELS: usize = 5;
    /// Entries per table of eight-byte entries.
    pub const ENTRIES: usize = 512;
    /// log2 of [`Self::ENTRIES`].
    pub const INDEX_BITS: u32 = 9;
    /// Entries in the largest table the engine walks (Sv32's 1024).
    pub const MAX_ENTRIES: usize = 1024;
    /// log2 of the granule.
    pub const PAGE_SHIFT: u32 = 12;

    /// A geometry of `levels` levels whose leaves may sit at levels
    /// `0..=max_leaf_level`.
    pub const fn new(levels: u8, max_leaf_level: u8) -> Result<Self, Error> {
        if levels == 0 || levels as usize > Self::MAX_LEVELS {
            return Err(Error::InvalidGeometry { reason: "levels must be between 1 and 5" });
        }
        if max_leaf_level >= levels {
            return Err(Error::InvalidGeometry { reason: "the largest leaf must sit below the root" });
        }
        Ok(Self { levels, max_leaf_level, va_bits: 12 + 9 * levels, space: Space::SignExtended })
    }

    /// A geometry of tables with `2^index_bits` entries (9 for eight-byte
    /// entries, 10 for Sv32's four-byte ones), `va_bits` wide, in `space`.
    /// With 10 bits the address must be wider than 9-bit levels could index
    /// (see [`Geometry`]).
    pub const fn with_index_bits(
        levels: u8,
        max_leaf_level: u8,
        index_bits: u8,
        va_bits: u8,
        space: Space,
    ) -> Result<Self, Error> {
        if index_bits != 9 && index_bits != 10 {
            return Err(Error::InvalidGeometry { reason: "a table has 512 or 1024 entries" });
        }
        let g = match Self::new(levels, max_leaf_level) {
            Ok(g) => g,
            Err(e) => return Err(e),
        };
        let covered = 12 + index_bits as u32 * levels as u32;
        if covered > 64 || va_bits as u32 > covered || va_bits as u32 <= covered - index_bits as u32 {
            return Err(Error::InvalidGeometry { reason: "the address width must need every level" });
        }
        if (index_bits == 10) != (va_bits > g.va_bits) {
            return Err(Error::InvalidGeometry {
                reason: "1024-entry tables need more address bits than 512-entry ones could index",
            });
        }
        Ok(Self { va_bits, space, ..g })
    }

    /// log2 of the entries per table: 9 (512 eight-byte entries) or 10 (Sv32).
    #[inline(always)]
    pub const fn index_bits(self) -> u32 {
        // `new` sets va_bits = 12 + 9 * levels; only a 10-bit geometry exceeds it.
        if self.va_bits as u32 > 12 + 9 * self.levels as u32 {
            10
        } else {
            9
        }
    }

    /// Entries per table.
    #[inline(always)]
    pub const fn entries(self) -> usize {
        1 << self.index_bits()
    }

    /// log2 of the bytes one entry at `level` covers, in this geometry.
    #[inline(always)]
    pub const fn shift_of(self, level: u8) -> u32 {
        Self::PAGE_SHIFT + self.index_bits() * level as u32
    }

    /// The bytes one entry at `level` covers in this geometry (4 MiB at Sv32's level 1).
    #[inline(always)]
    pub const fn granularity_of(self, level: u8) -> u64 {
        1 << self.shift_of(level)
    }

    /// The index into a level-`level` table that `va` selects, in this geometry.
    #[inline(always)]
    pub const fn index_of(self, va: u64, level: u8) -> usize {
        ((va >> self.shift_of(level)) as usize) & (self.entries() - 1)
    }

    /// The size of a leaf at `level`, if this mode allows one there.
    pub const fn page_size(self, level: u8) -> Option<PageSize> {
        if level > self.max_leaf_level {
            return None;
        }
        match (self.index_bits(), level) {
            (10, 0) => Some(PageSize::Size4K),
            (10, 1) => Some(PageSize::Size4M),
            (10, _) => None,
            _ => PageSize::from_level(level),
        }
    }

    /// A geometry whose virtual addresses are `va_bits` wide and lie in `space`.
    ///
    /// `va_bits` may be smaller than the levels cover when the root table is
    /// only partly used (arm64 with 52-bit addresses: five levels, and the root
    /// indexed by bits 51..48 only). It must need all `levels`.
    pub const fn with_space(
        levels: u8,
        max_leaf_level: u8,
        va_bits: u8,
        space: Space,
    ) -> Result<Self, Error> {
        let g = match Self::new(levels, max_leaf_level) {
            Ok(g) => g,
            Err(e) => return Err(e),
        };
        if va_bits > g.va_bits || va_bits <= g.va_bits - 9 {
            return Err(Error::InvalidGeometry { reason: "the address width must need every level" });
        }
        Ok(Self { va_bits, space, ..g })
    }

    /// Which addresses the table translates.
    #[inline(always)]
    pub const fn space(self) -> Space {
        self.space
    }

    /// How many levels the table has.
    #[inline(always)]
    pub const fn levels(self) -> u8 {
        self.levels
    }

    /// The level of the root table (`levels - 1`).
    #[inline(always)]
    pub const fn root_level(self) -> u8 {
        self.levels - 1
    }

    /// The highest level that may hold a leaf.
    #[inline(always)]
    pub const fn max_leaf_level(self) -> u8 {
        self.max_leaf_level
    }

    /// The level of the largest leaf this mode has that is no larger than
    /// `max` (4 KiB leaves always exist). A `max` larger than the mode's
    /// largest leaf means that leaf; a `max` between two of this geometry's
    /// sizes means the smaller (2 MiB with Sv32's 1024-entry tables: 4 KiB,
    /// since its level 1 maps 4 MiB).
    #[inline(always)]
    pub const fn leaf_level_within(self, max: PageSize) -> u8 {
        let mut level = if max.level() < self.max_leaf_level { max.level() } else { self.max_leaf_level };
        while level > 0 && self.granularity_of(level) > max.bytes() {
            level -= 1;
        }
        level
    }

    /// The width of a virtual address in this mode (39, 48, 57 ...).
    #[inline(always)]
    pub const fn va_bits(self) -> u32 {
        self.va_bits as u32
    }

    /// log2 of the bytes one entry at `level` of a 512-entry table covers.
    #[inline(always)]
    pub const fn shift(level: u8) -> u32 {
        Self::PAGE_SHIFT + Self::INDEX_BITS * level as u32
    }

    /// The bytes one entry at `level` of a 512-entry table covers (4 KiB at level 0).
    #[inline(always)]
    pub const fn granularity(level: u8) -> u64 {
        1 << Self::shift(level)
    }

    /// The index into a level-`level` 512-entry table that `va` selects.
    #[inline(always)]
    pub const fn index(va: u64, level: u8) -> usize {
        ((va >> Self::shift(level)) as usize) & (Self::ENTRIES - 1)
    }

    /// Whether the table translates `va`: bits 63..va_bits-1 all equal (or, for
    /// one-half spaces, bits 63..va_bits all ones or all zeros; see [`Space`]).
    #[inline(always)]
    pub const fn is_canonical(self, va: VirtAddr) -> bool {
        match self.space {
            Space::SignExtended => {
                let shift = 64 - self.va_bits();
                (((va.as_u64() << shift) as i64) >> shift) as u64 == va.as_u64()
            }
            Space::Upper => va.as_u64() >> self.va_bits == u64::MAX >> self.va_bits,
            Space::Lower => va.as_u64() >> self.va_bits == 0,
        }
    }

    /// The full address of the entry whose bits below the root's top are
    /// `unsigned` (what a walk computes from indices): sign-extended, or with
    /// the space's fixed upper bits.
    #[inline(always)]
    pub const fn extend(self, unsigned: u64) -> VirtAddr {
        let low = unsigned & (u64::MAX >> (64 - self.va_bits));
        VirtAddr::new(match self.space {
            Space::SignExtended => {
                let shift = 64 - self.va_bits();
                (((low << shift) as i64) >> shift) as u64
            }
            Space::Upper => low | (u64::MAX << self.va_bits),
            Space::Lower => low,
        })
    }

    /// `va` if it is canonical in this mode, else [`Error::NonCanonical`].
    pub const fn check_canonical(self, va: VirtAddr) -> Result<VirtAddr, Error> {
        if self.is_canonical(va) {
            Ok(va)
        } else {
            Err(Error::NonCanonical { va, va_bits: self.va_bits() })
        }
    }

    /// The level at which a leaf of `size` sits, if this mode allows it.
    pub const fn leaf_level(self, size: PageSize) -> Result<u8, Error> {
        if size.bytes() != self.granularity_of(size.level()) {
            // A size of the other index width (2 MiB in Sv32, 4 MiB elsewhere).
            return Err(Error::UnsupportedPageSize { size, levels: self.levels });
        }
        self.leaf_level_of_width(size)
    }

    /// [`Geometry::leaf_level`] of a `size` the caller knows to be one of this
    /// index width's (the engine tests that with its format's constants).
    pub(crate) const fn leaf_level_of_width(self, size: PageSize) -> Result<u8, Error> {
        if size.level() <= self.max_leaf_level {
            Ok(size.level())
        } else {
            Err(Error::UnsupportedPageSize { size, levels: self.levels })
        }
    }

    /// Checks a single-page request: the mode has leaves of `size`, and `va` is
    /// aligned to it and canonical. Returns the leaf's level.
    #[inline(always)]
    pub fn check_page(self, va: VirtAddr, size: PageSize) -> Result<u8, Error> {
        self.leaf_level(size)?;
        self.check_page_of_width(va, size)
    }

    /// [`Geometry::check_page`] of a `size` of this index width.
    #[inline(always)]
    pub(crate) fn check_page_of_width(self, va: VirtAddr, size: PageSize) -> Result<u8, Error> {
        let level = self.leaf_level_of_width(size)?;
        if !va.is_aligned(size.bytes()) {
            return Err(Error::Misaligned {
                what: "virtual address",
                value: va.as_u64(),
                align: size.bytes(),
            });
        }
        self.check_canonical(va)?;
        Ok(level)
    }

    /// The leaf sizes this mode allows, smallest first.
    pub fn page_sizes(self) -> impl Iterator<Item = PageSize> {
        (0..=self.max_leaf_level).filter_map(move |level| self.page_size(level))
    }

    /// The largest leaf level that can map the start of `[va, va + remaining)` to
    /// `pa`: both addresses aligned to the leaf and the leaf no longer than
    /// `remaining`. Pure, so the linear-map builder and its tests share it.
    ///
    /// `va` and `pa` must be 4 KiB aligned and `remaining` at least 4 KiB;
    /// the answer is then at least level 0.
    #[inline]
    pub const fn largest_leaf(self, va: VirtAddr, pa: PhysAddr, remaining: u64) -> u8 {
        let mut level = self.max_leaf_level;
        let both = va.as_u64() | pa.as_u64();
        while level > 0 {
            let gran = self.granularity_of(level);
            if both & (gran - 1) == 0 && remaining >= gran {
                return level;
            }
            level -= 1;
        }
        0
    }

    /// The virtual range of this mode's upper (kernel) half: `[start, 2^64)`.
    /// A [`Space::Lower`] table has no upper half: its answer, `2^va_bits`, is
    /// the first address past the space.
    pub const fn kernel_half_start(self) -> VirtAddr {
        VirtAddr::new(match self.space {
            Space::SignExtended => !0u64 << (self.va_bits() - 1),
            Space::Upper => !0u64 << self.va_bits(),
            Space::Lower => 1 << self.va_bits(),
        })
    }

    /// The end (exclusive) of this mode's lower (user) half (0 for a
    /// [`Space::Upper`] table, which has none).
    pub const fn user_half_end(self) -> u64 {
        match self.space {
            Space::SignExtended => 1 << (self.va_bits() - 1),
            Space::Upper => 0,
            Space::Lower => 1 << self.va_bits(),
        }
    }
}

/// log2 of the bytes one entry at `level` covers in a table of `E` entries:
/// the engine's form of [`Geometry::shift_of`], a constant per format.
#[inline(always)]
pub(crate) const fn shift_for<E: EntryWord>(level: u8) -> u32 {
    Geometry::PAGE_SHIFT + E::INDEX_BITS * level as u32
}

/// The bytes one entry at `level` covers in a table of `E` entries.
#[inline(always)]
pub(crate) const fn granularity_for<E: EntryWord>(level: u8) -> u64 {
    1 << shift_for::<E>(level)
}

/// The index into a level-`level` table of `E` entries that `va` selects.
#[inline(always)]
pub(crate) const fn index_for<E: EntryWord>(va: u64, level: u8) -> usize {
    ((va >> shift_for::<E>(level)) as usize) & ((1 << E::INDEX_BITS) - 1)
}

/// [`Geometry::leaf_level_within`] of a geometry whose tables hold `E` entries:
/// with 512 (`PageSize` levels count 512-entry tables) the answer is the
/// smaller of `max`'s level and the largest leaf's, with no run-time test of
/// the geometry's index width.
#[inline(always)]
pub(crate) fn leaf_level_within_for<E: EntryWord>(geometry: Geometry, max: PageSize) -> u8 {
    if E::INDEX_BITS == Geometry::INDEX_BITS {
        max.level().min(geometry.max_leaf_level())
    } else {
        geometry.leaf_level_within(max)
    }
}

/// Checks that `[va, va + len)` is a page-aligned, non-wrapping range that lies in
/// one canonical half of `geometry`.
pub(crate) fn check_range(geometry: Geometry, va: VirtAddr, len: u64) -> Result<(), Error> {
    if !va.is_aligned(PAGE_SIZE) {
        return Err(Error::Misaligned { what: "virtual address", value: va.as_u64(), align: PAGE_SIZE });
    }
    if len & (PAGE_SIZE - 1) != 0 {
        return Err(Error::Misaligned { what: "length", value: len, align: PAGE_SIZE });
    }
    geometry.check_canonical(va)?;
    if len == 0 {
        return Ok(());
    }
    let last = va.as_u64().checked_add(len - 1).ok_or(Error::RangeWraps { start: va.as_u64(), len })?;
    // The last byte must be canonical and on the same side of the hole.
    let half = geometry.user_half_end();
    let same_half = (va.as_u64() >= half) == (last >= half);
    if !geometry.is_canonical(VirtAddr::new(last)) || !same_half {
        return Err(Error::RangeWraps { start: va.as_u64(), len });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SV39: Geometry = match Geometry::new(3, 2) {
        Ok(g) => g,
        Err(_) => panic!(),
    };
    const SV57: Geometry = match Geometry::new(5, 4) {
        Ok(g) => g,
        Err(_) => panic!(),
    };

    #[test]
    fn refuses_impossible_shapes() {
        assert_eq!(
            Geometry::new(0, 0),
            Err(Error::InvalidGeometry { reason: "levels must be between 1 and 5" })
        );
        assert!(Geometry::new(6, 2).is_err());
        assert!(Geometry::new(3, 3).is_err());
    }

    #[test]
    fn widths_and_indices() {
        assert_eq!(SV39.va_bits(), 39);
        assert_eq!(SV57.va_bits(), 57);
        assert_eq!(Geometry::granularity(2), 1 << 30);
        let va = 0xffff_ffff_8020_1000u64;
        assert_eq!(Geometry::index(va, 0), 0x001);
        assert_eq!(Geometry::index(va, 1), 0x001);
        assert_eq!(Geometry::index(va, 2), 0x1fe);
    }

    #[test]
    fn canonical_form_follows_the_mode() {
        assert!(SV39.is_canonical(VirtAddr::new(0xffff_ffc0_0000_0000)));
        assert!(SV39.is_canonical(VirtAddr::new(0x0000_003f_ffff_ffff)));
        assert!(!SV39.is_canonical(VirtAddr::new(0x0000_0040_0000_0000)));
        assert!(!SV39.is_canonical(VirtAddr::new(0xffff_ffbf_ffff_ffff)));
        assert!(SV57.is_canonical(VirtAddr::new(0xff00_0000_0000_0000)));
        assert!(!SV57.is_canonical(VirtAddr::new(0xfe00_0000_0000_0000)));
        assert_eq!(SV39.kernel_half_start().as_u64(), 0xffff_ffc0_0000_0000);
    }

    #[test]
    fn one_range_spaces_take_only_their_half() {
        let upper = Geometry::with_space(4, 2, 48, Space::Upper).unwrap();
        let lower = Geometry::with_space(4, 2, 48, Space::Lower).unwrap();
        let k = VirtAddr::new(0xffff_0000_0000_0000);
        assert!(upper.is_canonical(k) && !lower.is_canonical(k));
        assert!(!SV39.is_canonical(k));
        let u = VirtAddr::new(0x0000_ffff_ffff_f000);
        assert!(lower.is_canonical(u) && !upper.is_canonical(u));
        assert_eq!((upper.kernel_half_start(), upper.user_half_end()), (k, 0));
        assert_eq!(lower.user_half_end(), 1 << 48);
        // A walk's index bits come back with the space's upper bits.
        assert_eq!(upper.extend(0x0000_8000_0000_0000), VirtAddr::new(0xffff_8000_0000_0000));
        assert_eq!(lower.extend(0x0000_8000_0000_0000), VirtAddr::new(0x0000_8000_0000_0000));
        assert_eq!(SV39.extend(0x40_0000_0000), VirtAddr::new(0xffff_ffc0_0000_0000));
        // Fewer address bits than the levels index: 52 over five levels, not 43.
        assert!(Geometry::with_space(5, 3, 52, Space::Upper).is_ok());
        assert!(Geometry::with_space(5, 3, 48, Space::Upper).is_err());
        assert!(Geometry::with_space(4, 2, 49, Space::Upper).is_err());
        // Ranges in a one-half space: no hole to cross, the top is the end.
        assert_eq!(check_range(upper, VirtAddr::new(0xffff_ffff_ffff_f000), 4096), Ok(()));
        assert!(check_range(lower, VirtAddr::new(0x0000_ffff_ffff_f000), 8192).is_err());
    }

    #[test]
    fn ten_bit_levels_for_four_byte_entries() {
        let sv32 = Geometry::with_index_bits(2, 1, 10, 32, Space::Lower).unwrap();
        assert_eq!((sv32.index_bits(), sv32.entries(), sv32.va_bits()), (10, 1024, 32));
        assert_eq!(
            (sv32.granularity_of(1), sv32.index_of(0xffc0_1000, 1), sv32.index_of(0xffc0_1000, 0)),
            (4 << 20, 1023, 1)
        );
        assert_eq!((sv32.page_size(1), sv32.page_size(2)), (Some(PageSize::Size4M), None));
        assert_eq!(sv32.leaf_level(PageSize::Size4M), Ok(1));
        assert!(sv32.leaf_level(PageSize::Size2M).is_err(), "no 2 MiB leaves in Sv32");
        assert_eq!(sv32.page_sizes().collect::<Vec<_>>(), [PageSize::Size4K, PageSize::Size4M]);
        assert_eq!(sv32.largest_leaf(VirtAddr::new(0xc000_0000), PhysAddr::ZERO, 4 << 20), 1);
        assert_eq!(sv32.largest_leaf(VirtAddr::new(0xc020_0000), PhysAddr::ZERO, 4 << 20), 0);
        // 512-entry geometries: 9 bits, no 4 MiB leaves.
        assert_eq!((SV39.index_bits(), SV39.entries(), SV39.page_size(1)), (9, 512, Some(PageSize::Size2M)));
        assert!(SV39.leaf_level(PageSize::Size4M).is_err());
        // A 10-bit geometry must need its width: 30 bits fit 9-bit levels.
        assert!(Geometry::with_index_bits(2, 1, 10, 30, Space::Lower).is_err());
        assert!(Geometry::with_index_bits(2, 1, 11, 34, Space::Lower).is_err());
        assert_eq!(Geometry::with_index_bits(3, 2, 9, 39, Space::SignExtended), Ok(SV39));
    }

    #[test]
    fn largest_leaf_needs_both_alignments_and_length() {
        let va = VirtAddr::new(0xffff_ffc0_0000_0000);
        let gib = PhysAddr::new(0x8000_0000).unwrap();
        assert_eq!(SV39.largest_leaf(va, gib, 1 << 30), 2);
        assert_eq!(SV39.largest_leaf(va, gib, (1 << 30) - 4096), 1);
        let pa_2m = PhysAddr::new(0x8020_0000).unwrap();
        assert_eq!(SV39.largest_leaf(va, pa_2m, 1 << 30), 1);
        let pa_4k = PhysAddr::new(0x8020_1000).unwrap();
        assert_eq!(SV39.largest_leaf(va, pa_4k, 1 << 30), 0);
        // Sv57 may use 256 TiB leaves.
        let va57 = VirtAddr::new(0xff00_0000_0000_0000);
        assert_eq!(SV57.largest_leaf(va57, PhysAddr::ZERO, 1 << 48), 4);
    }

    #[test]
    fn the_largest_leaf_within_a_cap_follows_the_index_width() {
        let sv32 = Geometry::with_index_bits(2, 1, 10, 32, Space::Lower).unwrap();
        let cases = [
            (SV39, PageSize::Size4K, 0),
            (SV39, PageSize::Size2M, 1),
            (SV39, PageSize::Size4M, 1),
            (SV39, PageSize::Size1G, 2),
            (SV39, PageSize::Size512G, 2),
            (SV57, PageSize::Size512G, 3),
            (sv32, PageSize::Size4K, 0),
            (sv32, PageSize::Size2M, 0),
            (sv32, PageSize::Size4M, 1),
            (sv32, PageSize::Size1G, 1),
        ];
        for (g, max, level) in cases {
            assert_eq!(g.leaf_level_within(max), level, "{max:?} in {g:?}");
            let engine = match g.index_bits() {
                9 => leaf_level_within_for::<u64>(g, max),
                _ => leaf_level_within_for::<u32>(g, max),
            };
            assert_eq!(engine, level, "the engine's form, {max:?} in {g:?}");
        }
    }

    #[test]
    fn ranges_must_be_aligned_and_stay_in_one_half() {
        let va = VirtAddr::new(0xffff_ffff_ffff_f000);
        assert_eq!(check_range(SV39, va, 4096), Ok(()));
        assert_eq!(check_range(SV39, va, 8192), Err(Error::RangeWraps { start: va.as_u64(), len: 8192 }));
        let low = VirtAddr::new(0x0000_003f_ffff_f000);
        assert!(check_range(SV39, low, 8192).is_err());
        assert!(matches!(
            check_range(SV39, VirtAddr::new(0x1001), 4096),
            Err(Error::Misaligned { what: "virtual address", .. })
        ));
        assert!(matches!(check_range(SV39, low, 100), Err(Error::Misaligned { what: "length", .. })));
    }
}

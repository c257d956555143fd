//! arm64 (AArch64) stage-1 translation with the 4 KiB granule: 39-bit (3
//! levels), 48-bit (4 levels) and 52-bit (5 levels, `FEAT_LPA2` with
//! `TCR_EL1.DS = 1`) virtual addresses, for the `TTBR1_EL1` (kernel, upper)
//! and `TTBR0_EL1` (user, lower) ranges, per the Arm ARM (VMSAv8-64).
//!
//! ```text
//! block/page 63  59 58 56 55 54  53  52  51  50 49     12 11 10 9 8 7 6  5  4  2 1 0
//!           +-----+-----+--+---+---+----+---+--+--------+--+--+---+---+--+------+-+-+
//!           |PBHA | SW  |SW|UXN|PXN|Cont|DBM|GP| OA     |nG|AF|SH |AP |NS|AttrIx|T|V|
//!           +-----+-----+--+---+---+----+---+--+--------+--+--+---+---+--+------+-+-+
//! table      NSTable APTable UXNTable PXNTable (63..59), next table (49..12), T = 1
//! ```
//!
//! - A kvas leaf uses `MAIR_EL1` attribute 0 (AttrIndx = 0), which the kernel
//!   must program as Normal write-back memory, and inner shareability (SH = 3;
//!   with LPA2, bits 9..8 hold OA\[51:50\] and `TCR_EL1.SHx` gives shareability).
//! - AP\[1\] (bit 6) grants EL0 access ([`Attrs::USER`]), AP\[2\] (bit 7) makes the
//!   page read-only (no [`Attrs::WRITE`]), AF (bit 10) is [`Attrs::ACCESSED`],
//!   nG (bit 11) is the absence of [`Attrs::GLOBAL`], and [`Attrs::DIRTY`] is
//!   software bit 55 (as Linux's `PTE_DIRTY`). [`Attrs::EXECUTE`] clears UXN for
//!   a user page, PXN for a kernel page; the other is always set, so the kernel
//!   never executes user memory.
//! - Pointers to the next level carry no hierarchical restriction (APTable,
//!   UXNTable, PXNTable all zero); software bit 58 marks a pinned table.
//! - Changing a live entry's output address, size (a block becoming a table),
//!   memory type, shareability or nG needs break-before-make, which
//!   [`TableFormat::needs_break`] tells the engine.
//!
//! One [`Aarch64`] value formats one range: a table for `TTBR1_EL1` translates
//! `[2^64 - 2^va_bits, 2^64)`, one for `TTBR0_EL1` `[0, 2^va_bits)`
//! ([`crate::paging::Space`]). Levels follow kvas's numbering (0 holds 4 KiB
//! pages): kvas level `n` is Arm level `3 - n`, so the 52-bit root is Arm level −1,
//! of which the hardware uses 16 entries.

use core::fmt;

use crate::addr::PhysAddr;
use crate::paging::{Attrs, Geometry, Pte, Space, TableFormat};
use crate::Error;

/// Valid.
pub const VALID: u64 = 1 << 0;
/// Descriptor type: table (levels above 0) or page (level 0); clear in a block.
pub const TABLE_OR_PAGE: u64 = 1 << 1;
/// AttrIndx, the `MAIR_EL1` attribute index (bits 4..2).
pub const ATTR_INDX: u64 = 0b111 << 2;
/// Non-secure (bit 5).
pub const NS: u64 = 1 << 5;
/// AP\[1\]: EL0 may access.
pub const AP_EL0: u64 = 1 << 6;
/// AP\[2\]: read-only.
pub const AP_RO: u64 = 1 << 7;
/// SH, shareability (bits 9..8); OA\[51:50\] under LPA2.
pub const SH: u64 = 0b11 << 8;
/// Inner shareable.
pub const SH_INNER: u64 = 0b11 << 8;
/// Access flag.
pub const AF: u64 = 1 << 10;
/// Not global: the entry belongs to the current ASID.
pub const NG: u64 = 1 << 11;
/// Guarded page (BTI).
pub const GP: u64 = 1 << 50;
/// Dirty bit modifier (hardware dirty state).
pub const DBM: u64 = 1 << 51;
/// Contiguous hint.
pub const CONT: u64 = 1 << 52;
/// Privileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
pub const UXN: u64 = 1 << 54;
/// Software bit 55: kvas's (and Linux's) dirty mark.
pub const SW_DIRTY: u64 = 1 << 55;
/// Software bit 58 in a table descriptor: kvas's pinned mark.
const PINNED: u64 = 1 << 58;
/// Output-address bits 47..12.
const OA_48: u64 = ((1 << 48) - 1) & !0xfff;
/// Output-address bits 49..12 (LPA2; bits 51..50 are in 9..8).
const OA_50: u64 = ((1 << 50) - 1) & !0xfff;

/// The bits break-before-make protects: type, output address, memory type,
/// shareability, NS, nG and the contiguous hint.
const BBM_MASK: u64 = TABLE_OR_PAGE | ATTR_INDX | NS | SH | NG | OA_50 | CONT;

/// An arm64 4 KiB-granule mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// 39-bit addresses, 3 levels (Arm levels 1..3), `TxSZ = 25`.
    Va39,
    /// 48-bit addresses, 4 levels (Arm levels 0..3), `TxSZ = 16`.
    Va48,
    /// 52-bit addresses, 5 levels (Arm levels −1..3), `TxSZ = 12`,
    /// `FEAT_LPA2` with `TCR_EL1.DS = 1`: 52-bit output addresses too, and
    /// 512 GiB blocks at Arm level 0.
    Va52,
}

impl Mode {
    /// Every mode, deepest first.
    pub const ALL: [Mode; 3] = [Mode::Va52, Mode::Va48, Mode::Va39];

    /// How many table levels the mode walks.
    pub const fn levels(self) -> u8 {
        match self {
            Mode::Va39 => 3,
            Mode::Va48 => 4,
            Mode::Va52 => 5,
        }
    }

    /// The width of a virtual address in each range.
    pub const fn va_bits(self) -> u32 {
        match self {
            Mode::Va39 => 39,
            Mode::Va48 => 48,
            Mode::Va52 => 52,
        }
    }

    /// `TCR_EL1.T0SZ` / `T1SZ`: `64 - va_bits`.
    pub const fn txsz(self) -> u32 {
        64 - self.va_bits()
    }

    /// Whether the mode needs `FEAT_LPA2` (`TCR_EL1.DS = 1`).
    pub const fn lpa2(self) -> bool {
        matches!(self, Mode::Va52)
    }

    /// How many bits of physical address an entry holds (48, or 52 with LPA2).
    pub const fn pa_bits(self) -> u32 {
        if self.lpa2() {
            52
        } else {
            48
        }
    }

    /// The geometry of a table for `range`: leaves of 4 KiB, 2 MiB, 1 GiB, and
    /// with LPA2 512 GiB.
    pub const fn geometry(self, range: Range) -> Geometry {
        let space = match range {
            Range::Ttbr0 => Space::Lower,
            Range::Ttbr1 => Space::Upper,
        };
        let max_leaf = if self.lpa2() { 3 } else { 2 };
        match Geometry::with_space(self.levels(), max_leaf, self.va_bits() as u8, space) {
            Ok(g) => g,
            Err(_) => unreachable!(),
        }
    }

    /// The name used by the CLI: `4k-39`, `4k-48`, `4k-52`.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Va39 => "4k-39",
            Mode::Va48 => "4k-48",
            Mode::Va52 => "4k-52",
        }
    }

    /// Parses a name printed by [`Mode::name`].
    pub fn from_name(name: &str) -> Option<Mode> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which translation table base register a table serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Range {
    /// `TTBR0_EL1`: the lower range, `[0, 2^va_bits)` (user space).
    Ttbr0,
    /// `TTBR1_EL1`: the upper range, `[2^64 - 2^va_bits, 2^64)` (the kernel).
    Ttbr1,
}

/// The arm64 table format for a mode and range chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aarch64 {
    geometry: Geometry,
    lpa2: bool,
}

impl Aarch64 {
    /// The format of `mode` for tables of `range`.
    pub const fn new(mode: Mode, range: Range) -> Self {
        Self { geometry: mode.geometry(range), lpa2: mode.lpa2() }
    }

    /// The output address an entry holds.
    #[inline(always)]
    const fn address(&self, raw: u64) -> u64 {
        if self.lpa2 {
            (raw & OA_50) | ((raw & SH) << 42)
        } else {
            raw & OA_48
        }
    }

    /// An address as the entry bits that hold it.
    #[inline(always)]
    const fn address_bits(&self, pa: u64) -> u64 {
        if self.lpa2 {
            (pa & OA_50) | ((pa >> 42) & SH)
        } else {
            pa | SH_INNER
        }
    }

    /// Bits that must be zero in a table descriptor kvas reads back.
    #[inline(always)]
    const fn table_zero_bits(&self) -> u64 {
        // Bits 11..2 (but OA[51:50] in 9..8 under LPA2), the output bits
        // beyond the range up to bit 57, and the hierarchical controls 63..59.
        let low: u64 = if self.lpa2 { (0x3f << 2) | (0b11 << 10) } else { 0x3ff << 2 };
        let high: u64 = if self.lpa2 { 0xff << 50 } else { 0x3ff << 48 };
        low | high | (0x1f << 59)
    }

    /// Bits that must be zero in a leaf at `level` kvas reads back: AttrIndx,
    /// NS, GP, DBM, Contiguous, bits 56..63, output bits beyond the range and
    /// below the block size.
    #[inline(always)]
    const fn leaf_zero_bits(&self, level: u8) -> u64 {
        let beyond: u64 = if self.lpa2 { 0 } else { 0b11 << 48 };
        let below = (Geometry::granularity(level) - 1) & !0xfff;
        ATTR_INDX | NS | GP | DBM | CONT | (0xff << 56) | beyond | below
    }
}

/// The attributes of a well-formed leaf, without branches: each `Attrs` bit
/// is one descriptor bit moved (and for WRITE and GLOBAL inverted).
#[inline(always)]
fn leaf_attrs(raw: u64) -> Attrs {
    let user = (raw >> 6) & 1;
    // The execute-never bit of the page's owner: UXN (54) for a user page, PXN (53) else.
    let xn = (raw >> (53 + user)) & 1;
    let bits = Attrs::READ.bits() as u64
        | (((raw >> 7) & 1) ^ 1) << 1
        | (xn ^ 1) << 2
        | user << 3
        | (((raw >> 11) & 1) ^ 1) << 4
        | ((raw >> 10) & 1) << 5
        | ((raw >> 55) & 1) << 6;
    Attrs::from_bits_truncate(bits as u16)
}

impl Aarch64 {
    /// Whether `raw` is a well-formed kvas leaf at `level`.
    #[inline(always)]
    fn is_leaf(&self, raw: u64, level: u8) -> bool {
        let kind = if level == 0 { VALID | TABLE_OR_PAGE } else { VALID };
        // The execute-never bit that does not belong to the page's owner must be set.
        let other_xn = if raw & AP_EL0 != 0 { PXN } else { UXN };
        raw & (VALID | TABLE_OR_PAGE) == kind
            && level <= self.geometry.max_leaf_level()
            && raw & self.leaf_zero_bits(level) == 0
            && (self.lpa2 || raw & SH == SH_INNER)
            && raw & other_xn != 0
    }
}

impl TableFormat for Aarch64 {
    type Entry = u64;

    const BREAK_BEFORE_MAKE: bool = true;

    #[inline(always)]
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    #[inline(always)]
    fn decode(&self, raw: u64, level: u8) -> Pte {
        if raw & VALID == 0 {
            return Pte::Absent;
        }
        let pa = PhysAddr::new_truncate(self.address(raw));
        let typed = raw & TABLE_OR_PAGE != 0;
        if typed && level > 0 {
            return if raw & self.table_zero_bits() == 0 { Pte::Table(pa) } else { Pte::Reserved };
        }
        if !self.is_leaf(raw, level) {
            return Pte::Reserved;
        }
        Pte::Leaf { pa, attrs: leaf_attrs(raw) }
    }

    /// `table` must lie below 2^48 (2^52 with LPA2), as every frame a kernel's
    /// allocator hands out on such a CPU does; debug builds check it.
    #[inline(always)]
    fn encode_table(&self, table: PhysAddr) -> u64 {
        debug_assert!(
            table.as_u64() >> (if self.lpa2 { 52 } else { 48 }) == 0,
            "table frame {table} out of range"
        );
        let addr = if self.lpa2 { self.address_bits(table.as_u64()) } else { table.as_u64() };
        addr | TABLE_OR_PAGE | VALID
    }

    fn encode_pinned_table(&self, table: PhysAddr) -> u64 {
        self.encode_table(table) | PINNED
    }

    #[inline(always)]
    fn is_pinned(&self, raw: u64) -> bool {
        raw & PINNED != 0
    }

    #[inline(always)]
    fn encode_leaf(&self, pa: PhysAddr, attrs: Attrs, level: u8) -> u64 {
        let mut raw =
            self.address_bits(pa.as_u64()) | (AF * u64::from(attrs.contains(Attrs::ACCESSED))) | VALID;
        if level == 0 {
            raw |= TABLE_OR_PAGE;
        }
        let user = attrs.contains(Attrs::USER);
        if user {
            raw |= AP_EL0;
        }
        if !attrs.contains(Attrs::WRITE) {
            raw |= AP_RO;
        }
        raw |= match (user, attrs.contains(Attrs::EXECUTE)) {
            (true, true) => PXN,
            (false, true) => UXN,
            _ => PXN | UXN,
        };
        if !attrs.contains(Attrs::GLOBAL) {
            raw |= NG;
        }
        if attrs.contains(Attrs::DIRTY) {
            raw |= SW_DIRTY;
        }
        raw
    }

    #[inline(always)]
    fn is_valid(&self, raw: u64) -> bool {
        raw & VALID != 0
    }

    #[inline(always)]
    fn next_table(&self, raw: u64, level: u8) -> Option<PhysAddr> {
        let ok = level > 0 && raw & (VALID | TABLE_OR_PAGE | self.table_zero_bits()) == VALID | TABLE_OR_PAGE;
        ok.then(|| PhysAddr::new_truncate(self.address(raw)))
    }

    #[inline(always)]
    fn leaf(&self, raw: u64, level: u8) -> Option<(PhysAddr, Attrs)> {
        self.is_leaf(raw, level).then(|| (PhysAddr::new_truncate(self.address(raw)), leaf_attrs(raw)))
    }

    #[inline(always)]
    fn needs_break(&self, old: u64, new: u64) -> bool {
        old & VALID != 0 && (old ^ new) & BBM_MASK != 0
    }

    fn check_leaf(&self, pa: PhysAddr, len: u64, attrs: Attrs) -> Result<(), Error> {
        if !attrs.contains(Attrs::READ) {
            return Err(Error::InvalidAttributes { reason: "every valid arm64 page is readable at EL1" });
        }
        let bits = if self.lpa2 { 52 } else { 48 };
        match pa.as_u64().checked_add(len.saturating_sub(1)) {
            Some(last) if last >> bits == 0 => Ok(()),
            _ => Err(Error::PhysAddrUnencodable { raw: pa.as_u64().saturating_add(len), max_bits: bits }),
        }
    }
}

/// `TTBR0_EL1` or `TTBR1_EL1` for a kvas table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttbr {
    /// The table's 4 KiB root frame (as [`crate::paging::PageTable::root`] gives it).
    pub root: PhysAddr,
    /// The ASID (bits 63..48; 8 or 16 bits wide per `TCR_EL1.AS`).
    pub asid: u16,
}

impl Ttbr {
    /// The register value for a table of `mode` and `range`.
    ///
    /// The 52-bit root (Arm level −1) has 16 entries, indexed by VA bits
    /// 51..48. kvas keeps it in a full frame indexed by bits 56..48, where a
    /// `TTBR1` address (bits 63..52 all ones) lands on entries 496..511: the
    /// register then points 496 entries (`0xf80` bytes) into the frame, and
    /// BADDR\[51:48\] goes to bits 5..2.
    pub fn encode(self, mode: Mode, range: Range) -> Result<u64, Error> {
        let root = self.root.as_u64();
        if !self.root.is_aligned(4096) {
            return Err(Error::Misaligned { what: "TTBR root table", value: root, align: 4096 });
        }
        if root >> mode.pa_bits() != 0 {
            return Err(Error::PhysAddrUnencodable { raw: root, max_bits: mode.pa_bits() });
        }
        let base = match (mode, range) {
            (Mode::Va52, Range::Ttbr1) => root + 0xf80,
            _ => root,
        };
        let baddr = (base & ((1 << 48) - 1)) | (base >> 48) << 2;
        Ok(u64::from(self.asid) << 48 | baddr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VirtAddr;

    fn pa(raw: u64) -> PhysAddr {
        PhysAddr::new(raw).unwrap()
    }

    #[test]
    fn modes_and_ranges_have_the_arm_shapes() {
        let k48 = Mode::Va48.geometry(Range::Ttbr1);
        assert!(k48.is_canonical(VirtAddr::new(0xffff_0000_0000_0000)), "the linear map's start");
        assert!(!k48.is_canonical(VirtAddr::new(0xfffe_ffff_ffff_f000)));
        assert!(!k48.is_canonical(VirtAddr::new(0x0000_7fff_ffff_f000)), "TTBR0's");
        let u48 = Mode::Va48.geometry(Range::Ttbr0);
        assert!(u48.is_canonical(VirtAddr::new(0x0000_ffff_ffff_f000)));
        assert!(!u48.is_canonical(VirtAddr::new(0xffff_0000_0000_0000)));
        let k52 = Mode::Va52.geometry(Range::Ttbr1);
        assert_eq!((k52.levels(), k52.va_bits(), k52.max_leaf_level()), (5, 52, 3));
        assert!(k52.is_canonical(VirtAddr::new(0xfff0_0000_0000_0000)));
        assert!(!k52.is_canonical(VirtAddr::new(0xffe0_0000_0000_0000)));
        assert_eq!(k52.extend(0x1f0 << 48), VirtAddr::new(0xfff0_0000_0000_0000));
        assert_eq!(
            Mode::Va39.geometry(Range::Ttbr1).kernel_half_start(),
            VirtAddr::new(0xffff_ff80_0000_0000)
        );
        assert_eq!((Mode::Va39.txsz(), Mode::Va52.txsz()), (25, 12));
        assert_eq!(Mode::from_name("4k-52"), Some(Mode::Va52));
    }

    #[test]
    fn leaves_put_each_bit_where_the_arm_arm_does() {
        let f = Aarch64::new(Mode::Va48, Range::Ttbr1);
        // Kernel data page: V T SH=3 AF, PXN UXN, SW dirty.
        assert_eq!(f.encode_leaf(pa(0x4000_1000), Attrs::KERNEL_RW, 0), 0x0060_0000_4000_1703 | SW_DIRTY);
        // Kernel text block: AP[2], UXN only, no T bit.
        assert_eq!(f.encode_leaf(pa(0x4020_0000), Attrs::KERNEL_RX, 1), UXN | 0x4020_0000 | 0x781);
        // User read-only executable page, not global: AP = 11, PXN, nG.
        let user = Attrs::READ | Attrs::EXECUTE | Attrs::USER | Attrs::ACCESSED;
        assert_eq!(f.encode_leaf(pa(0x1000), user, 0), PXN | 0x1000 | 0xfc3);
        for (level, attrs) in [(0, Attrs::KERNEL_RW), (1, Attrs::KERNEL_RX), (2, user), (0, Attrs::KERNEL_RO)]
        {
            let at = pa(Geometry::granularity(level) * 3);
            let raw = f.encode_leaf(at, attrs, level);
            assert_eq!(f.decode(raw, level), Pte::Leaf { pa: at, attrs });
        }
    }

    #[test]
    fn lpa2_moves_address_bits_51_50_into_bits_9_8() {
        let f = Aarch64::new(Mode::Va52, Range::Ttbr1);
        let high = pa(0xf_ffff_ffff_f000);
        let raw = f.encode_leaf(high, Attrs::KERNEL_RW, 0);
        assert_eq!(raw & SH, 0b11 << 8);
        assert_eq!(raw & OA_50, 0x3_ffff_ffff_f000);
        assert_eq!(f.decode(raw, 0), Pte::Leaf { pa: high, attrs: Attrs::KERNEL_RW });
        let t = pa(0x8_0000_1234_5000);
        assert_eq!(f.encode_table(t), 0x1234_5000 | 0b10 << 8 | 0b11);
        assert_eq!(f.next_table(f.encode_table(t), 4), Some(t));
        // 512 GiB blocks exist at Arm level 0 with LPA2 only.
        let block = f.encode_leaf(pa(1 << 39), Attrs::KERNEL_RW, 3);
        assert!(matches!(f.decode(block, 3), Pte::Leaf { .. }));
        let no_lpa2 = Aarch64::new(Mode::Va48, Range::Ttbr1);
        assert_eq!(no_lpa2.decode(block | SH_INNER, 3), Pte::Reserved);
        assert!(no_lpa2.check_leaf(pa(1 << 48), 4096, Attrs::READ).is_err());
        assert_eq!(f.check_leaf(pa(1 << 48), 4096, Attrs::READ), Ok(()));
    }

    #[test]
    fn tables_and_reserved_encodings() {
        let f = Aarch64::new(Mode::Va39, Range::Ttbr1);
        let t = pa(0x8765_4000);
        let raw = f.encode_table(t);
        assert_eq!(raw, 0x8765_4003);
        assert_eq!((f.decode(raw, 2), f.next_table(raw, 2)), (Pte::Table(t), Some(t)));
        assert!(matches!(f.decode(raw, 0), Pte::Reserved), "0b11 at level 0 without the leaf bits");
        for bad in [raw | 1 << 61, raw | 1 << 59, raw | AF, raw | 1 << 48] {
            assert_eq!((f.decode(bad, 1), f.next_table(bad, 1)), (Pte::Reserved, None), "{bad:#x}");
        }
        let pinned = f.encode_pinned_table(t);
        assert!(f.is_pinned(pinned) && !f.is_pinned(raw));
        assert_eq!(f.decode(pinned, 2), Pte::Table(t));
        let page = f.encode_leaf(t, Attrs::KERNEL_RW, 0);
        assert_eq!(f.decode(page & !TABLE_OR_PAGE, 0), Pte::Reserved, "a block at Arm level 3");
        assert_eq!(f.decode(page | 1 << 2, 0), Pte::Reserved, "another MAIR index");
        assert_eq!(f.decode(page & !UXN, 0), Pte::Reserved, "a kernel page EL0 could execute");
        let block = f.encode_leaf(pa(0x20_0000), Attrs::KERNEL_RW, 1);
        assert_eq!(f.decode(block | 0x1000, 1), Pte::Reserved, "a misaligned block");
        assert_eq!(f.decode(block, 2), Pte::Reserved, "a misaligned 1 GiB block");
        assert_eq!(
            f.decode(0x4000_0000 | (block & 0xfff0_0000_0000_0fff), 2),
            Pte::Leaf { pa: pa(0x4000_0000), attrs: Attrs::KERNEL_RW }
        );
    }

    #[test]
    fn the_fast_paths_agree_with_decode() {
        for mode in Mode::ALL {
            let f = Aarch64::new(mode, Range::Ttbr1);
            for level in 0..mode.levels() {
                for low in 0..4096u64 {
                    for high in [0u64, 1 << 48, PXN | UXN, PINNED, 1 << 61] {
                        let raw = high | 0x4000_0000 | low;
                        crate::paging::assert_fast_paths_agree(&f, raw, level);
                    }
                }
            }
        }
    }

    #[test]
    fn break_before_make_guards_address_size_and_type_not_permissions() {
        let f = Aarch64::new(Mode::Va48, Range::Ttbr1);
        let block = f.encode_leaf(pa(0x4000_0000), Attrs::KERNEL_RW, 1);
        let table = f.encode_table(pa(0x9000_0000));
        assert!(f.needs_break(block, table), "a live block becoming a table");
        assert!(f.needs_break(block, f.encode_leaf(pa(0x4020_0000), Attrs::KERNEL_RW, 1)));
        assert!(f.needs_break(block, f.encode_leaf(pa(0x4000_0000), Attrs::KERNEL_RW - Attrs::GLOBAL, 1)));
        assert!(!f.needs_break(block, f.encode_leaf(pa(0x4000_0000), Attrs::KERNEL_RO, 1)));
        assert!(!f.needs_break(block, f.encode_leaf(pa(0x4000_0000), Attrs::KERNEL_RX, 1)));
        assert!(!f.needs_break(0, table), "an invalid entry needs no break");
    }

    #[test]
    fn ttbr_fields() {
        let root = pa(0x8_1234_5000);
        let t = Ttbr { root, asid: 7 };
        assert_eq!(t.encode(Mode::Va48, Range::Ttbr1), Ok(7 << 48 | 0x8_1234_5000));
        // 52-bit TTBR1: 0xf80 into the frame; TTBR0: the frame itself.
        let high = Ttbr { root: pa(0x5_0000_1234_5000), asid: 0 };
        assert_eq!(high.encode(Mode::Va52, Range::Ttbr1), Ok(0x1234_5f80 | 5 << 2));
        assert_eq!(high.encode(Mode::Va52, Range::Ttbr0), Ok(0x1234_5000 | 5 << 2));
        assert!(high.encode(Mode::Va48, Range::Ttbr0).is_err(), "past 48 bits without LPA2");
        assert!(Ttbr { root: pa(0x1800), asid: 0 }.encode(Mode::Va39, Range::Ttbr0).is_err());
    }
}

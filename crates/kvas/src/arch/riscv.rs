//! RISC-V Sv39, Sv48 and Sv57: entries and `satp`, per the privileged spec.
//!
//! ```text
//! PTE  63 62 61 60    54 53               10 9  8 7 6 5 4 3 2 1 0
//!     +--+-----+--------+-------------------+----+-+-+-+-+-+-+-+-+
//!     |N |PBMT | zero   |       PPN         |RSW |D|A|G|U|X|W|R|V|
//!     +--+-----+--------+-------------------+----+-+-+-+-+-+-+-+-+
//! satp 63  60 59      44 43                                     0
//!     +------+----------+---------------------------------------+
//!     | MODE |   ASID   |                  PPN                  |
//!     +------+----------+---------------------------------------+
//! ```
//!
//! Bits 54–63 belong to extensions (Svnapot, Svpbmt) that kvas does not enable,
//! so they must be zero; an entry that sets them is reserved. A pointer to the
//! next level has R = W = X = 0 and, since those bits are reserved in non-leaf
//! entries, U = A = D = 0.

use core::fmt;

use bitflags::bitflags;

use crate::addr::PhysAddr;
use crate::paging::{Attrs, EntryWord, Geometry, Pte, TableFormat};
use crate::Error;

bitflags! {
    /// The low ten bits of a RISC-V PTE.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PteFlags: u64 {
        /// Valid.
        const V = 1 << 0;
        /// Readable.
        const R = 1 << 1;
        /// Writable.
        const W = 1 << 2;
        /// Executable.
        const X = 1 << 3;
        /// Accessible to user mode.
        const U = 1 << 4;
        /// Global mapping.
        const G = 1 << 5;
        /// Accessed.
        const A = 1 << 6;
        /// Dirty.
        const D = 1 << 7;
        /// Reserved for supervisor software (bit 8).
        const RSW0 = 1 << 8;
        /// Reserved for supervisor software (bit 9).
        const RSW1 = 1 << 9;
    }
}

/// Where the PPN starts in a PTE.
pub const PTE_PPN_SHIFT: u32 = 10;
/// The PPN field's width in a PTE (44 bits: 56-bit physical addresses).
pub const PTE_PPN_BITS: u32 = 44;
/// Bits 54–63: zero unless Svnapot/Svpbmt are enabled, which kvas does not do.
pub const PTE_EXTENSION_BITS: u64 = !0 << 54;

/// The software mark of a pinned table pointer: RSW bit 8, which the privileged
/// spec reserves for supervisor software and the hardware ignores.
const PINNED: PteFlags = PteFlags::RSW0;

/// The bits that tell a well-formed pointer to the next level: all but G and RSW.
const POINTER_MASK: u64 = PTE_EXTENSION_BITS | 0xdf;

/// The values of V, R, W, X (bits 0..=3) that make a valid leaf, as a bit set:
/// V+R, V+R+W, V+X, V+R+X, V+R+W+X.
const LEAF_LOW_BITS: u16 = 1 << 0b0011 | 1 << 0b0111 | 1 << 0b1001 | 1 << 0b1011 | 1 << 0b1111;

/// A RISC-V paging mode with 64-bit entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Three levels, 39-bit virtual addresses.
    Sv39,
    /// Four levels, 48-bit virtual addresses.
    Sv48,
    /// Five levels, 57-bit virtual addresses.
    Sv57,
}

impl Mode {
    /// Every mode, deepest first: the order the boot probe tries them in.
    pub const PROBE_ORDER: [Mode; 3] = [Mode::Sv57, Mode::Sv48, Mode::Sv39];

    /// How many table levels the mode walks.
    pub const fn levels(self) -> u8 {
        match self {
            Mode::Sv39 => 3,
            Mode::Sv48 => 4,
            Mode::Sv57 => 5,
        }
    }

    /// The width of a virtual address.
    pub const fn va_bits(self) -> u32 {
        self.geometry().va_bits()
    }

    /// The table geometry: every level up to the one below the root may hold a leaf
    /// (a leaf in the root itself is allowed too by the spec: Sv39's 1 GiB
    /// gigapages live in the root).
    pub const fn geometry(self) -> Geometry {
        match Geometry::new(self.levels(), self.levels() - 1) {
            Ok(g) => g,
            // levels() is 3..=5, and the largest leaf sits in the root.
            Err(_) => unreachable!(),
        }
    }

    /// The `satp.MODE` value (8, 9 or 10).
    pub const fn satp_mode(self) -> u64 {
        match self {
            Mode::Sv39 => 8,
            Mode::Sv48 => 9,
            Mode::Sv57 => 10,
        }
    }

    /// The mode whose `satp.MODE` value is `field`, if any.
    pub const fn from_satp_mode(field: u64) -> Option<Mode> {
        match field {
            8 => Some(Mode::Sv39),
            9 => Some(Mode::Sv48),
            10 => Some(Mode::Sv57),
            _ => None,
        }
    }

    /// The next shallower mode (Sv57 → Sv48 → Sv39), the probe's fallback.
    pub const fn shallower(self) -> Option<Mode> {
        match self {
            Mode::Sv57 => Some(Mode::Sv48),
            Mode::Sv48 => Some(Mode::Sv39),
            Mode::Sv39 => None,
        }
    }

    /// The lowercase name: `sv39`, `sv48`, `sv57`.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Sv39 => "sv39",
            Mode::Sv48 => "sv48",
            Mode::Sv57 => "sv57",
        }
    }

    /// Parses a lowercase name as printed by [`Mode::name`].
    pub fn from_name(name: &str) -> Option<Mode> {
        [Mode::Sv39, Mode::Sv48, Mode::Sv57].into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The RISC-V table format for a mode chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Riscv {
    geometry: Geometry,
}

impl Riscv {
    /// The format of `mode`.
    pub const fn new(mode: Mode) -> Self {
        Self { geometry: mode.geometry() }
    }
}

/// The RISC-V format with the depth fixed at compile time.
///
/// It exists only so that the benchmarks can measure what choosing the depth at
/// run time costs; kernels use [`Riscv`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiscvFixed<const LEVELS: u8>;

// The entry rules below serve both entry words: Sv39/48/57's `u64` and Sv32's
// `u32` (`crate::arch::riscv32`). The low ten bits mean the same in both, and a
// `u32` widened to `u64` has no bits 54–63, so the extension-bit tests hold for
// it as they are; only the index width (a superpage's alignment) and the
// physical width (`pa_bits` of `check_leaf`) differ.

/// The value of bits 0..=5 (V R W X U G) of every entry whose V, R, W, X make a
/// valid leaf, as a set: [`LEAF_LOW_BITS`] once for each value of U and G. A
/// shift by `raw & 63` indexes it, and both x86-64's `bt`/`shr` and RISC-V's
/// `srl` take only the low six bits of the count: no mask instruction.
const LEAF_KINDS: u64 = LEAF_LOW_BITS as u64 * 0x0001_0001_0001_0001;

/// The physical address in the PPN of `raw`, an entry without extension bits
/// (`u64`) or a widened `u32`: `(raw >> 10) << 12`, without
/// [`PhysAddr::new_truncate`]'s mask to 56 bits, since the PPN ends at bit 53.
#[inline(always)]
fn ppn_address(raw: u64) -> PhysAddr {
    debug_assert!(raw & PTE_EXTENSION_BITS == 0);
    PhysAddr::new_narrow((raw << 2) & !0xfff)
}

/// A leaf's attributes: R W X U G A D sit in PTE bits 1..=7 and in `Attrs` bits 0..=6.
#[inline(always)]
fn leaf_attrs(raw: u64) -> Attrs {
    Attrs::from_bits_truncate(((raw >> 1) & 0x7f) as u16)
}

/// Decodes `raw`, an entry word of either width, found at `level`.
#[inline(always)]
pub(crate) fn decode_entry<W: EntryWord>(raw: W, level: u8) -> Pte {
    let raw: u64 = raw.into();
    let flags = PteFlags::from_bits_truncate(raw);
    if !flags.contains(PteFlags::V) {
        return Pte::Absent;
    }
    if raw & PTE_EXTENSION_BITS != 0 {
        return Pte::Reserved;
    }
    let pa = ppn_address(raw);
    let rwx = flags & (PteFlags::R | PteFlags::W | PteFlags::X);
    if rwx.is_empty() {
        // A pointer: U, A, D are reserved, and level 0 cannot point further.
        if level == 0 || flags.intersects(PteFlags::U | PteFlags::A | PteFlags::D) {
            return Pte::Reserved;
        }
        return Pte::Table(pa);
    }
    if rwx == PteFlags::W || rwx == PteFlags::W | PteFlags::X {
        return Pte::Reserved;
    }
    if (raw >> PTE_PPN_SHIFT) & ((1 << (W::INDEX_BITS * u32::from(level))) - 1) != 0 {
        // A misaligned superpage.
        return Pte::Reserved;
    }
    Pte::Leaf { pa, attrs: leaf_attrs(raw) }
}

/// The page and attributes if `raw`, of either width, is a well-formed leaf at
/// `level`: [`decode_entry`]'s `Pte::Leaf`, in two tests of the word.
#[inline(always)]
pub(crate) fn leaf_entry<W: EntryWord>(raw: W, level: u8) -> Option<(PhysAddr, Attrs)> {
    let raw: u64 = raw.into();
    // Two tests: no extension bits and no PPN bits below the level's
    // alignment; then V R W X are a leaf's (not V clear, a pointer or W
    // without R), one bit of `LEAF_KINDS`.
    let misaligned = ((1u64 << (W::INDEX_BITS * u32::from(level))) - 1) << PTE_PPN_SHIFT;
    if raw & (PTE_EXTENSION_BITS | misaligned) != 0 {
        return None;
    }
    (LEAF_KINDS.wrapping_shr(raw as u32) & 1 != 0).then(|| (ppn_address(raw), leaf_attrs(raw)))
}

/// The low bits of a leaf with `attrs`: V and R W X U G A D.
#[inline(always)]
pub(crate) fn leaf_flags(attrs: Attrs) -> u64 {
    // Attrs' low seven bits are R W X U G A D in PTE order, one position down.
    ((attrs.bits() as u64 & 0x7f) << 1) | PteFlags::V.bits()
}

/// The PPN field of `pa`, a 4 KiB-aligned address the format has checked.
#[inline(always)]
pub(crate) fn ppn_bits(pa: PhysAddr) -> u64 {
    (pa.as_u64() >> 12) << PTE_PPN_SHIFT
}

/// Refuses attributes no RISC-V leaf may carry, and pages `[pa, pa + len)`
/// beyond `pa_bits` (56 for Sv39 and up, 34 for Sv32).
#[inline(always)]
pub(crate) fn check_leaf_entry(pa: PhysAddr, len: u64, attrs: Attrs, pa_bits: u32) -> Result<(), Error> {
    if !attrs.intersects(Attrs::READ | Attrs::EXECUTE) {
        return Err(Error::InvalidAttributes { reason: "a RISC-V leaf must be readable or executable" });
    }
    if attrs.contains(Attrs::WRITE) && !attrs.contains(Attrs::READ) {
        return Err(Error::InvalidAttributes {
            reason: "RISC-V reserves writable pages that are not readable",
        });
    }
    match pa.as_u64().checked_add(len.saturating_sub(1)) {
        Some(last) if last >> pa_bits == 0 => Ok(()),
        _ => Err(Error::PhysAddrUnencodable { raw: pa.as_u64().saturating_add(len), max_bits: pa_bits }),
    }
}

macro_rules! riscv_format {
    ([$($generics:tt)*] $ty:ty, $self:ident => $geometry:expr) => {
        impl<$($generics)*> TableFormat for $ty {
            type Entry = u64;

            #[inline(always)]
            fn geometry(&$self) -> Geometry {
                $geometry
            }
            #[inline(always)]
            fn decode(&self, raw: u64, level: u8) -> Pte {
                decode_entry(raw, level)
            }
            #[inline(always)]
            fn encode_table(&self, table: PhysAddr) -> u64 {
                ppn_bits(table) | PteFlags::V.bits()
            }
            fn encode_pinned_table(&self, table: PhysAddr) -> u64 {
                self.encode_table(table) | PINNED.bits()
            }
            #[inline(always)]
            fn is_pinned(&self, raw: u64) -> bool {
                raw & PINNED.bits() != 0
            }
            #[inline(always)]
            fn encode_leaf(&self, pa: PhysAddr, attrs: Attrs, _level: u8) -> u64 {
                ppn_bits(pa) | leaf_flags(attrs)
            }
            #[inline(always)]
            fn is_valid(&self, raw: u64) -> bool {
                raw & PteFlags::V.bits() != 0
            }
            #[inline(always)]
            fn leaf(&self, raw: u64, level: u8) -> Option<(PhysAddr, Attrs)> {
                leaf_entry(raw, level)
            }
            #[inline(always)]
            fn next_table(&self, raw: u64, level: u8) -> Option<PhysAddr> {
                // V set; R, W, X, U, A, D and the extension bits clear; G free.
                // `raw & POINTER_MASK == V`, with one instruction less: with V
                // set, `raw - 1` only clears V; with V clear, `raw - 1` is odd
                // and keeps V's bit in the mask set.
                if raw.wrapping_sub(1) & POINTER_MASK == 0 && level > 0 {
                    Some(ppn_address(raw))
                } else {
                    None
                }
            }
            #[inline(always)]
            fn check_leaf(&self, pa: PhysAddr, len: u64, attrs: Attrs) -> Result<(), Error> {
                check_leaf_entry(pa, len, attrs, PTE_PPN_BITS + 12)
            }
        }
    };
}

impl<const LEVELS: u8> RiscvFixed<LEVELS> {
    /// Evaluated at compile time: an impossible depth fails the build.
    const GEOMETRY: Geometry = match Geometry::new(LEVELS, LEVELS.saturating_sub(1)) {
        Ok(g) => g,
        Err(_) => panic!("RiscvFixed needs 3, 4 or 5 levels"),
    };
}

riscv_format!([] Riscv, self => self.geometry);
riscv_format!([const LEVELS: u8] RiscvFixed<LEVELS>, self => Self::GEOMETRY);

/// The `satp` register: translation mode, address-space id, root table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Satp {
    /// The translation mode, or `None` for Bare (no translation).
    pub mode: Option<Mode>,
    /// The address-space identifier (16 bits on RV64).
    pub asid: u16,
    /// The root table's physical address (4 KiB aligned).
    pub root: PhysAddr,
}

impl Satp {
    /// The raw `satp` value that selects Bare mode.
    pub const BARE: u64 = 0;

    /// Encodes the register; `root` must be 4 KiB aligned.
    pub fn encode(self) -> Result<u64, Error> {
        if !self.root.is_aligned(4096) {
            return Err(Error::Misaligned {
                what: "satp root table",
                value: self.root.as_u64(),
                align: 4096,
            });
        }
        let mode = self.mode.map_or(0, Mode::satp_mode);
        Ok(mode << 60 | (self.asid as u64) << 44 | self.root.as_u64() >> 12)
    }

    /// The MODE field of a raw `satp` value, the only field the boot probe
    /// compares (some cores change ASID or PPN even when they reject a mode).
    pub const fn mode_field(raw: u64) -> u64 {
        raw >> 60
    }

    /// Decodes a raw value; `None` if its MODE is not Bare, Sv39, Sv48 or Sv57.
    pub fn decode(raw: u64) -> Option<Satp> {
        let field = Self::mode_field(raw);
        let mode = match field {
            0 => None,
            _ => Some(Mode::from_satp_mode(field)?),
        };
        Some(Satp {
            mode,
            asid: ((raw >> 44) & 0xffff) as u16,
            root: PhysAddr::new_truncate((raw & ((1 << 44) - 1)) << 12),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: [Mode; 3] = [Mode::Sv39, Mode::Sv48, Mode::Sv57];

    #[test]
    fn modes_have_the_spec_shapes() {
        let shapes: [(u8, u32, u64); 3] = [(3, 39, 8), (4, 48, 9), (5, 57, 10)];
        for (mode, (levels, bits, satp)) in MODES.into_iter().zip(shapes) {
            assert_eq!(mode.levels(), levels);
            assert_eq!(mode.va_bits(), bits);
            assert_eq!(mode.satp_mode(), satp);
            assert_eq!(Mode::from_satp_mode(satp), Some(mode));
            assert_eq!(Mode::from_name(mode.name()), Some(mode));
            assert_eq!(mode.geometry().max_leaf_level(), levels - 1);
        }
        assert_eq!(Mode::from_name("sv64"), None);
        assert_eq!(Mode::Sv57.shallower(), Some(Mode::Sv48));
        assert_eq!(Mode::Sv39.shallower(), None);
    }

    #[test]
    fn leaf_round_trips() {
        let f = Riscv::new(Mode::Sv48);
        let pa = PhysAddr::new(0x8020_0000).unwrap();
        for attrs in [Attrs::KERNEL_RW, Attrs::KERNEL_RX, Attrs::KERNEL_RO, Attrs::READ | Attrs::USER] {
            let raw = f.encode_leaf(pa, attrs, 1);
            assert_eq!(f.decode(raw, 1), Pte::Leaf { pa, attrs });
        }
        // The bits are where the spec puts them.
        let raw = f.encode_leaf(pa, Attrs::KERNEL_RW, 0);
        assert_eq!(raw, (0x80200 << 10) | 0b1110_0111);
    }

    #[test]
    fn table_pointers_carry_no_rwx_uad() {
        let f = Riscv::new(Mode::Sv39);
        let t = PhysAddr::new(0x8765_4000).unwrap();
        let raw = f.encode_table(t);
        assert_eq!(raw & 0x3ff, PteFlags::V.bits());
        assert_eq!(f.decode(raw, 2), Pte::Table(t));
        assert_eq!(f.next_table(raw, 2), Some(t));
        assert_eq!(f.next_table(raw | PteFlags::G.bits(), 1), Some(t), "G is allowed on pointers");
        for bad in [raw | PteFlags::A.bits(), raw | PteFlags::R.bits(), raw | 1 << 63, raw & !1] {
            assert_eq!(f.next_table(bad, 2), None, "{bad:#x}");
        }
        assert_eq!(f.next_table(raw, 0), None, "no pointers at level 0");
        let pinned = f.encode_pinned_table(t);
        assert!(f.is_pinned(pinned) && !f.is_pinned(raw));
        assert_eq!(
            (f.decode(pinned, 2), f.next_table(pinned, 2)),
            (Pte::Table(t), Some(t)),
            "the mark is software's"
        );
    }

    #[test]
    fn reserved_encodings_are_reported() {
        let f = Riscv::new(Mode::Sv39);
        let v = PteFlags::V.bits();
        assert_eq!(f.decode(0, 1), Pte::Absent);
        assert_eq!(f.decode(PteFlags::W.bits() | v, 0), Pte::Reserved, "W without R");
        assert_eq!(f.decode(v | (1 << 10), 0), Pte::Reserved, "pointer at level 0");
        assert_eq!(f.decode(v | PteFlags::A.bits() | (1 << 10), 1), Pte::Reserved, "A on a pointer");
        assert_eq!(f.decode(v | PteFlags::R.bits() | (1 << 10), 1), Pte::Reserved, "misaligned megapage");
        assert_eq!(f.decode(v | PteFlags::R.bits() | (1 << 60), 0), Pte::Reserved, "extension bits");
    }

    #[test]
    fn the_fast_paths_agree_with_decode() {
        let f = Riscv::new(Mode::Sv57);
        for level in 0..5u8 {
            for low in 0..1024u64 {
                for ppn in [0u64, 1, 1 << 9, 1 << 18, 1 << 27, 1 << 36] {
                    for high in [0u64, 1 << 54, 1 << 63] {
                        let raw = high | ppn << 10 | low;
                        crate::paging::assert_fast_paths_agree(&f, raw, level);
                    }
                }
            }
        }
    }

    #[test]
    fn leaves_must_be_readable_or_executable() {
        let f = Riscv::new(Mode::Sv57);
        assert!(f.check_leaf(PhysAddr::ZERO, 4096, Attrs::WRITE).is_err());
        assert!(f.check_leaf(PhysAddr::ZERO, 4096, Attrs::GLOBAL).is_err());
        assert_eq!(f.check_leaf(PhysAddr::ZERO, 4096, Attrs::EXECUTE), Ok(()));
        let top = PhysAddr::new((1 << 56) - 4096).unwrap();
        assert_eq!(f.check_leaf(top, 4096, Attrs::READ), Ok(()));
        assert!(f.check_leaf(top, 8192, Attrs::READ).is_err());
    }

    #[test]
    fn satp_fields() {
        let root = PhysAddr::new(0x8020_3000).unwrap();
        let s = Satp { mode: Some(Mode::Sv48), asid: 0x1234, root };
        let raw = s.encode().unwrap();
        assert_eq!(raw, 9 << 60 | 0x1234 << 44 | 0x80203);
        assert_eq!(Satp::decode(raw), Some(s));
        assert_eq!(Satp::mode_field(raw), 9);
        assert_eq!(Satp::decode(5 << 60), None);
        let bad = Satp { mode: None, asid: 0, root: PhysAddr::new(0x8020_3008).unwrap() };
        assert!(bad.encode().is_err());
    }

    #[test]
    fn fixed_and_runtime_formats_agree() {
        let fixed = RiscvFixed::<4>;
        let runtime = Riscv::new(Mode::Sv48);
        assert_eq!(fixed.geometry(), runtime.geometry());
    }
}

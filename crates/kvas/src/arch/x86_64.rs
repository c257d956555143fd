//! x86-64 long-mode paging, 4-level and 5-level (LA57): entries and `CR3`,
//! per the Intel SDM volume 3, chapter 4.5.
//!
//! ```text
//! entry 63 62   52 51                  12 11  9 8 7  6 5 4   3   2  1  0
//!      +--+-------+----------------------+-----+-+--+-+-+---+---+--+--+-+
//!      |XD|ignored|   physical address   | AVL |G|PS|D|A|PCD|PWT|US|RW|P|
//!      +--+-------+----------------------+-----+-+--+-+-+---+---+--+--+-+
//!                  (2 MiB / 1 GiB leaves: bit 12 is PAT, bits 13.. up to the
//!                   page size reserved; 4 KiB leaves: bit 7 is PAT, not PS)
//! CR3  63 62    52 51                  12 11                            0
//!      +--+-------+----------------------+-------------------------------+
//!      |NF| zero  |   root table (PML4/5)|  PCID (CR4.PCIDE = 1)         |
//!      +--+-------+----------------------+-------------------------------+
//! ```
//!
//! kvas writes every leaf with PAT = PCD = PWT = 0, which selects PAT entry 0:
//! write-back under the power-on PAT. Pointers to the next level carry
//! P, RW and US, so that a leaf alone decides what a page allows (the SDM ANDs
//! RW and US, and ORs XD, over the whole walk); an entry that restricts in a
//! pointer, or sets PAT, PCD, PWT, or bits 52–62, is one kvas cannot represent
//! and decodes as [`Pte::Reserved`]. Execute permission needs `EFER.NXE = 1`.
//!
//! Levels follow kvas's numbering: 0 is the page table (PTE), 1 the page
//! directory (PDE, 2 MiB leaves), 2 the PDPT (1 GiB leaves), 3 the PML4, 4 the
//! PML5. Both modes use 4 KiB, 2 MiB and 1 GiB pages (1 GiB needs
//! `CPUID.80000001H:EDX.Page1GB`).
//!
//! The mode is a run-time value, as `CR4.LA57` is: one compiled engine serves
//! both depths. The direct map's first 4 GiB in 5-level paging, checked with
//! the simulator's model of the SDM:
//!
//! ```
//! use kvas::arch::x86_64::{Cr3, Mode, X86_64};
//! use kvas::paging::{Attrs, PageTable};
//! use kvas::sim::{Access, Ram, TrackingAllocator, X86Context, X86Mmu};
//! use kvas::{PageSize, PhysAddr, VirtAddr, VirtRange};
//!
//! let mode = Mode::Level5; // CR4.LA57 = 1, as the boot code found it
//! let ram = Ram::new(); // the host simulator; a kernel passes an OffsetMemory instead
//! let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000)?, 1 << 20)?;
//! let mut pt = PageTable::new(X86_64::new(mode), &ram, &mut frames)?;
//! let page_offset = VirtAddr::new(0xff11_0000_0000_0000); // page_offset_base, 5-level
//! let linear = VirtRange::new(page_offset, 4 << 30)?;
//! pt.map_range(linear, PhysAddr::ZERO, Attrs::KERNEL_RW, PageSize::Size1G, &mut frames)?
//!     .ignore(); // not live on any CPU yet: no TLB to flush
//! assert_eq!(pt.stats()?.leaves_of(PageSize::Size1G), 4);
//!
//! // What a CPU would do with this CR3.
//! let cr3 = Cr3 { root: pt.root(), pcid: None, no_flush: false }.encode()?;
//! let cpu = X86Mmu::new(cr3, mode == Mode::Level5);
//! let kernel = X86Context::SUPERVISOR;
//! let t = cpu.translate(&ram, VirtAddr::new(0xff11_0000_8765_4321), Access::Store, kernel)?;
//! assert_eq!((t.pa.as_u64(), t.level), (0x8765_4321, 2));
//! // Data is never executable (XD), and user mode cannot touch it (US = 0).
//! assert!(cpu.translate(&ram, page_offset, Access::Fetch, kernel).is_err());
//! assert!(cpu.translate(&ram, page_offset, Access::Load, X86Context::USER).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use crate::addr::PhysAddr;
use crate::paging::{Attrs, Geometry, Pte, TableFormat};
use crate::Error;

/// Present.
pub const P: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// User/supervisor: user mode may access.
pub const US: u64 = 1 << 2;
/// Page-level write-through.
pub const PWT: u64 = 1 << 3;
/// Page-level cache disable.
pub const PCD: u64 = 1 << 4;
/// Accessed.
pub const A: u64 = 1 << 5;
/// Dirty (leaves only).
pub const D: u64 = 1 << 6;
/// Page size: a 2 MiB or 1 GiB leaf (PDE, PDPTE); PAT in a 4 KiB PTE.
pub const PS: u64 = 1 << 7;
/// Global (leaves only; needs `CR4.PGE`).
pub const G: u64 = 1 << 8;
/// The PAT bit of a 2 MiB or 1 GiB leaf.
pub const PAT_LARGE: u64 = 1 << 12;
/// Execute-disable (needs `EFER.NXE`).
pub const XD: u64 = 1 << 63;
/// The physical-address field: bits 12..=51 (`MAXPHYADDR` up to 52).
pub const ADDR_MASK: u64 = ((1 << 52) - 1) & !0xfff;
/// The widest physical address an entry holds.
pub const MAX_PHYS_BITS: u32 = 52;
/// Bits 52–62: ignored by the walk (or protection keys under `CR4.PKE`); kvas
/// writes none.
const HIGH_BITS: u64 = 0x7ff << 52;
/// The software mark of a pinned pointer: bit 9, ignored by the hardware.
const PINNED: u64 = 1 << 9;
/// Bits a kvas pointer must have exactly as written: everything but A and the
/// ignored bits 9–11 (and G, ignored in pointers).
const POINTER_FIXED: u64 = XD | HIGH_BITS | PS | PCD | PWT | US | RW | P;
/// What those bits must be.
const POINTER_BITS: u64 = US | RW | P;

/// An x86-64 paging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// 4-level paging: 48-bit virtual addresses (`CR4.LA57 = 0`).
    Level4,
    /// 5-level paging: 57-bit virtual addresses (`CR4.LA57 = 1`).
    Level5,
}

impl Mode {
    /// Both modes, deepest first.
    pub const ALL: [Mode; 2] = [Mode::Level5, Mode::Level4];

    /// How many table levels the mode walks.
    pub const fn levels(self) -> u8 {
        match self {
            Mode::Level4 => 4,
            Mode::Level5 => 5,
        }
    }

    /// The table geometry: leaves at levels 0, 1 and 2 (4 KiB, 2 MiB, 1 GiB).
    pub const fn geometry(self) -> Geometry {
        match Geometry::new(self.levels(), 2) {
            Ok(g) => g,
            Err(_) => unreachable!(),
        }
    }

    /// The width of a virtual address (48 or 57).
    pub const fn va_bits(self) -> u32 {
        self.geometry().va_bits()
    }

    /// The name used by the CLI: `4level`, `5level`.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Level4 => "4level",
            Mode::Level5 => "5level",
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

/// The x86-64 table format for a mode chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X86_64 {
    geometry: Geometry,
}

impl X86_64 {
    /// The format of `mode`.
    pub const fn new(mode: Mode) -> Self {
        Self { geometry: mode.geometry() }
    }
}

/// The attributes of a leaf, without branches: each `Attrs` bit is one entry
/// bit moved (EXECUTE inverted from XD).
#[inline(always)]
fn leaf_attrs(raw: u64) -> Attrs {
    let bits = Attrs::READ.bits() as u64
        | (raw & RW)
        | ((raw >> 63) ^ 1) << 2
        | ((raw >> 2) & 1) << 3
        | ((raw >> 8) & 1) << 4
        | ((raw >> 5) & 1) << 5
        | ((raw >> 6) & 1) << 6;
    Attrs::from_bits_truncate(bits as u16)
}

/// The bits of a leaf at `level` that must be zero in a kvas leaf: the memory
/// type (PWT, PCD, PAT), bits 52–62, and in a large leaf the address bits
/// below the page size (reserved by the SDM).
#[inline(always)]
const fn leaf_zero_bits(level: u8) -> u64 {
    let low = if level == 0 { PS } else { (Geometry::granularity(level) - 1) & !0xfff };
    HIGH_BITS | PCD | PWT | low
}

impl TableFormat for X86_64 {
    type Entry = u64;

    #[inline(always)]
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    #[inline(always)]
    fn decode(&self, raw: u64, level: u8) -> Pte {
        if raw & P == 0 {
            return Pte::Absent;
        }
        let pa = PhysAddr::new_truncate(raw & ADDR_MASK);
        let leaf = level == 0 || raw & PS != 0;
        if !leaf {
            return if raw & POINTER_FIXED == POINTER_BITS { Pte::Table(pa) } else { Pte::Reserved };
        }
        if level > self.geometry.max_leaf_level() || raw & leaf_zero_bits(level) != 0 {
            // PS in a PML4E/PML5E is reserved; the rest are encodings kvas never writes.
            return Pte::Reserved;
        }
        Pte::Leaf { pa, attrs: leaf_attrs(raw) }
    }

    /// `table` must lie below 2^52 (`MAXPHYADDR`), as every frame a kernel's
    /// allocator hands out does; debug builds check it.
    #[inline(always)]
    fn encode_table(&self, table: PhysAddr) -> u64 {
        debug_assert!(table.as_u64() >> MAX_PHYS_BITS == 0, "table frame {table} out of range");
        table.as_u64() | POINTER_BITS
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
        let mut raw = pa.as_u64() | P;
        if level > 0 {
            raw |= PS;
        }
        if attrs.contains(Attrs::WRITE) {
            raw |= RW;
        }
        if !attrs.contains(Attrs::EXECUTE) {
            raw |= XD;
        }
        if attrs.contains(Attrs::USER) {
            raw |= US;
        }
        if attrs.contains(Attrs::GLOBAL) {
            raw |= G;
        }
        if attrs.contains(Attrs::ACCESSED) {
            raw |= A;
        }
        if attrs.contains(Attrs::DIRTY) {
            raw |= D;
        }
        raw
    }

    #[inline(always)]
    fn is_valid(&self, raw: u64) -> bool {
        raw & P != 0
    }

    #[inline(always)]
    fn leaf(&self, raw: u64, level: u8) -> Option<(PhysAddr, Attrs)> {
        let ok = raw & P != 0
            && (level == 0 || raw & PS != 0)
            && level <= self.geometry.max_leaf_level()
            && raw & leaf_zero_bits(level) == 0;
        ok.then(|| (PhysAddr::new_truncate(raw & ADDR_MASK), leaf_attrs(raw)))
    }

    #[inline(always)]
    fn next_table(&self, raw: u64, level: u8) -> Option<PhysAddr> {
        (level > 0 && raw & POINTER_FIXED == POINTER_BITS).then(|| PhysAddr::new_truncate(raw & ADDR_MASK))
    }

    fn check_leaf(&self, pa: PhysAddr, len: u64, attrs: Attrs) -> Result<(), Error> {
        if !attrs.contains(Attrs::READ) {
            return Err(Error::InvalidAttributes { reason: "every present x86-64 page is readable" });
        }
        match pa.as_u64().checked_add(len.saturating_sub(1)) {
            Some(last) if last >> MAX_PHYS_BITS == 0 => Ok(()),
            _ => Err(Error::PhysAddrUnencodable {
                raw: pa.as_u64().saturating_add(len),
                max_bits: MAX_PHYS_BITS,
            }),
        }
    }
}

/// The `CR3` register with 4-level or 5-level paging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cr3 {
    /// The root table (PML4 or PML5), 4 KiB aligned.
    pub root: PhysAddr,
    /// The process-context identifier (12 bits), used when `CR4.PCIDE = 1`;
    /// `None` leaves bits 0..=11 zero (PWT = PCD = 0 when `CR4.PCIDE = 0`).
    pub pcid: Option<u16>,
    /// Bit 63 on a `MOV to CR3` with `CR4.PCIDE = 1`: keep the PCID's TLB entries.
    pub no_flush: bool,
}

impl Cr3 {
    /// The widest PCID.
    pub const MAX_PCID: u16 = 0xfff;

    /// Encodes the value a `MOV to CR3` writes.
    pub fn encode(self) -> Result<u64, Error> {
        let root = self.root.as_u64();
        if !self.root.is_aligned(4096) {
            return Err(Error::Misaligned { what: "CR3 root table", value: root, align: 4096 });
        }
        if root >> MAX_PHYS_BITS != 0 {
            return Err(Error::PhysAddrUnencodable { raw: root, max_bits: MAX_PHYS_BITS });
        }
        let pcid = match self.pcid {
            Some(p) if p > Self::MAX_PCID => {
                return Err(Error::InvalidAttributes { reason: "a PCID has 12 bits" })
            }
            Some(p) => u64::from(p),
            None if self.no_flush => {
                return Err(Error::InvalidAttributes { reason: "CR3 bit 63 (no flush) needs a PCID" })
            }
            None => 0,
        };
        Ok(u64::from(self.no_flush) << 63 | root | pcid)
    }

    /// Decodes a value read from `CR3`; `pcide` is `CR4.PCIDE`.
    pub const fn decode(raw: u64, pcide: bool) -> Cr3 {
        Cr3 {
            root: PhysAddr::new_truncate(raw & ADDR_MASK),
            pcid: if pcide { Some((raw & 0xfff) as u16) } else { None },
            no_flush: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pa(raw: u64) -> PhysAddr {
        PhysAddr::new(raw).unwrap()
    }

    #[test]
    fn modes_have_the_sdm_shapes() {
        assert_eq!((Mode::Level4.levels(), Mode::Level4.va_bits()), (4, 48));
        assert_eq!((Mode::Level5.levels(), Mode::Level5.va_bits()), (5, 57));
        assert_eq!(Mode::from_name("5level"), Some(Mode::Level5));
        assert_eq!(Mode::from_name("sv48"), None);
        let g = Mode::Level4.geometry();
        assert!(g.is_canonical(crate::VirtAddr::new(0xffff_8000_0000_0000)));
        assert!(!g.is_canonical(crate::VirtAddr::new(0x0000_8000_0000_0000)));
        assert!(Mode::Level5.geometry().is_canonical(crate::VirtAddr::new(0xff00_0000_0000_0000)));
    }

    #[test]
    fn leaves_put_each_bit_where_the_sdm_does() {
        let f = X86_64::new(Mode::Level4);
        // Kernel data, 4 KiB: P RW A D G and XD.
        assert_eq!(f.encode_leaf(pa(0x1234_5000), Attrs::KERNEL_RW, 0), 0x8000_0000_1234_5163);
        // Kernel text, 2 MiB: P A G PS, no RW, no XD.
        assert_eq!(f.encode_leaf(pa(0x4000_0000), Attrs::KERNEL_RX, 1), 0x4000_01a1);
        // A user page: US.
        let user = Attrs::READ | Attrs::WRITE | Attrs::USER | Attrs::ACCESSED;
        assert_eq!(f.encode_leaf(pa(0x1000), user, 0), XD | 0x1000 | 0x27);
        for (level, attrs) in [(0, Attrs::KERNEL_RW), (1, Attrs::KERNEL_RX), (2, user), (0, Attrs::KERNEL_RO)]
        {
            let at = pa(Geometry::granularity(level) * 3);
            let raw = f.encode_leaf(at, attrs, level);
            assert_eq!(f.decode(raw, level), Pte::Leaf { pa: at, attrs });
            assert_eq!(f.leaf(raw, level), Some((at, attrs)));
        }
    }

    #[test]
    fn pointers_grant_everything_and_restrictions_are_reserved() {
        let f = X86_64::new(Mode::Level5);
        let t = pa(0x8765_4000);
        let raw = f.encode_table(t);
        assert_eq!(raw, 0x8765_4007);
        for level in 1..5 {
            assert_eq!(f.decode(raw, level), Pte::Table(t));
            assert_eq!(f.next_table(raw, level), Some(t));
        }
        assert_eq!(f.next_table(raw | A, 3), Some(t), "the CPU sets A in pointers");
        for bad in [raw & !RW, raw & !US, raw | XD, raw | PCD, raw | 1 << 52] {
            assert_eq!((f.decode(bad, 2), f.next_table(bad, 2)), (Pte::Reserved, None), "{bad:#x}");
        }
        assert!(matches!(f.decode(raw, 0), Pte::Leaf { .. }), "every present PTE is a page");
        assert_eq!(f.next_table(raw, 0), None);
        let pinned = f.encode_pinned_table(t);
        assert!(f.is_pinned(pinned) && !f.is_pinned(raw));
        assert_eq!(f.decode(pinned, 3), Pte::Table(t));
    }

    #[test]
    fn reserved_leaf_encodings_are_reported() {
        let f = X86_64::new(Mode::Level5);
        assert_eq!(f.decode(0, 1), Pte::Absent);
        assert_eq!(f.decode(0x1000 | PS | P, 3), Pte::Reserved, "PS in a PML4E");
        assert_eq!(f.decode(0x4000_0000 | PS | P, 4), Pte::Reserved, "PS in a PML5E");
        assert_eq!(f.decode(0x20_1000 | PS | P, 1), Pte::Reserved, "a misaligned 2 MiB page");
        assert_eq!(f.decode(0x4020_0000 | PS | P, 2), Pte::Reserved, "a misaligned 1 GiB page");
        assert_eq!(f.decode(0x20_0000 | PAT_LARGE | PS | P, 1), Pte::Reserved, "PAT set");
        assert_eq!(f.decode(0x1000 | PS | P, 0), Pte::Reserved, "PAT set in a PTE");
        assert_eq!(f.decode(0x1000 | PCD | P, 0), Pte::Reserved, "uncached");
    }

    #[test]
    fn the_fast_paths_agree_with_decode() {
        let f = X86_64::new(Mode::Level5);
        for level in 0..5u8 {
            for low in 0..512u64 {
                for addr in [0u64, 1 << 12, 1 << 21, 1 << 30, 1 << 51] {
                    for high in [0u64, 1 << 52, XD] {
                        let raw = high | addr | low;
                        crate::paging::assert_fast_paths_agree(&f, raw, level);
                    }
                }
            }
        }
    }

    #[test]
    fn leaves_must_be_readable_and_fit_52_bits() {
        let f = X86_64::new(Mode::Level4);
        assert!(f.check_leaf(PhysAddr::ZERO, 4096, Attrs::EXECUTE).is_err());
        assert_eq!(f.check_leaf(PhysAddr::ZERO, 4096, Attrs::READ), Ok(()));
        let top = pa((1 << 52) - 4096);
        assert_eq!(f.check_leaf(top, 4096, Attrs::READ), Ok(()));
        assert!(f.check_leaf(top, 8192, Attrs::READ).is_err());
    }

    #[test]
    fn cr3_fields() {
        let root = pa(0x1_2345_6000);
        let cr3 = Cr3 { root, pcid: Some(0x42), no_flush: true };
        assert_eq!(cr3.encode(), Ok(1 << 63 | 0x1_2345_6042));
        assert_eq!(Cr3::decode(0x1_2345_6042, true), Cr3 { no_flush: false, ..cr3 });
        assert_eq!(Cr3::decode(0x1_2345_6018, false), Cr3 { root, pcid: None, no_flush: false });
        assert!(Cr3 { pcid: Some(0x1000), ..cr3 }.encode().is_err());
        assert!(Cr3 { pcid: None, ..cr3 }.encode().is_err());
        assert!(Cr3 { root: pa(0x1008), pcid: None, no_flush: false }.encode().is_err());
    }
}

//! RISC-V Sv32: 32-bit entries and the RV32 `satp`, per the privileged spec.
//!
//! ```text
//! PTE  31               20 19          10 9  8 7 6 5 4 3 2 1 0
//!     +-------------------+--------------+----+-+-+-+-+-+-+-+-+
//!     |      PPN[1]       |    PPN[0]    |RSW |D|A|G|U|X|W|R|V|
//!     +-------------------+--------------+----+-+-+-+-+-+-+-+-+
//! satp 31 30          22 21                                   0
//!     +--+--------------+-------------------------------------+
//!     |M |     ASID     |                 PPN                 |
//!     +--+--------------+-------------------------------------+
//! ```
//!
//! Two levels of 1024 four-byte entries in 4 KiB frames: a 32-bit virtual
//! address is `VPN[1]` (bits 31..22), `VPN[0]` (21..12) and the page offset, so
//! a level-1 leaf (a megapage) maps 4 MiB. The PPN is 22 bits wide, so physical
//! addresses are 34 bits. Sv32 has no extension bits: every bit of an entry has
//! a meaning. The low ten bits are laid out as in Sv39, so the pointer and leaf
//! rules are those of [`crate::arch::riscv`]: a pointer has R = W = X = 0 and
//! U = A = D = 0; RSW bit 8 marks pinned tables. The code is that module's too:
//! decoding, the leaf test and the leaf checks are written once over the entry
//! word, with the index width (a megapage's alignment: PPN\[0\] zero) and the
//! physical width (34 bits) as the only differences.
//!
//! The engine is the same as for the 64-bit modes: [`Sv32`]'s
//! [`TableFormat::Entry`] is `u32`, which makes it walk 1024 entries of 10 index
//! bits per level.
//!
//! ```
//! use kvas::arch::riscv32::{Satp32, Sv32};
//! use kvas::paging::{Attrs, PageTable};
//! use kvas::sim::{Access, Context, Ram, Sv32Mmu, TrackingAllocator};
//! use kvas::{PageSize, PhysAddr, VirtAddr, VirtRange};
//!
//! let ram = Ram::new();
//! let mut frames = TrackingAllocator::new(PhysAddr::new(0x9000_0000)?, 1 << 20)?;
//! let mut pt = PageTable::new(Sv32, &ram, &mut frames)?;
//! // 3G/1G lowmem: 64 MiB of RAM at 0xc000_0000 in 4 MiB megapages.
//! let lowmem = VirtRange::new(VirtAddr::new(0xc000_0000), 64 << 20)?;
//! pt.map_range(lowmem, PhysAddr::new(0x8000_0000)?, Attrs::KERNEL_RW, PageSize::Size4M, &mut frames)?
//!     .ignore(); // not live on any hart yet: no TLB to flush
//! assert_eq!(pt.stats()?.leaves_of(PageSize::Size4M), 16);
//! // Highmem: a page above 4 GiB of physical memory (34-bit addresses).
//! let kmap = VirtAddr::new(0xffc0_0000);
//! pt.map(kmap, PhysAddr::new(0x3_0000_0000)?, PageSize::Size4K, Attrs::KERNEL_RW, &mut frames)?.ignore();
//!
//! // What an RV32 hart does with this satp (the Sv32 oracle, not this format's code).
//! let hart = Sv32Mmu::from_satp(Satp32 { sv32: true, asid: 1, root: pt.root() }.encode()?);
//! let t = hart.translate(&ram, VirtAddr::new(0xc123_4567), Access::Store, Context::SUPERVISOR)?;
//! assert_eq!((t.pa.as_u64(), t.leaf.map(|l| l.size())), (0x8123_4567, Some(4 << 20)));
//! let t = hart.translate(&ram, VirtAddr::new(0xffc0_0abc), Access::Load, Context::SUPERVISOR)?;
//! assert_eq!(t.pa.as_u64(), 0x3_0000_0abc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::addr::PhysAddr;
use crate::arch::riscv;
use crate::paging::{Attrs, Geometry, Pte, Space, TableFormat};
use crate::Error;

/// Where the PPN starts in an Sv32 PTE.
pub const PTE_PPN_SHIFT: u32 = 10;
/// The PPN's width (22 bits: 34-bit physical addresses).
pub const PPN_BITS: u32 = 22;
/// The width of a physical address in Sv32.
pub const PA_BITS: u32 = PPN_BITS + 12;

const V: u32 = 1 << 0;
/// RSW bit 8: the pinned-table mark (ignored by the hardware).
const PINNED: u32 = 1 << 8;
/// The bits that tell a well-formed pointer: V R W X U A D (G and RSW free).
const POINTER_MASK: u32 = 0xdf;

/// Sv32's table shape: two levels of 1024 entries, megapages in the root,
/// 32-bit virtual addresses that are all translated (no sign extension).
pub const GEOMETRY: Geometry = match Geometry::with_index_bits(2, 1, 10, 32, Space::Lower) {
    Ok(g) => g,
    Err(_) => panic!("Sv32's geometry is valid"),
};

/// The Sv32 table format (RV32's only paging mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sv32;

impl Sv32 {
    /// The physical address a PTE's PPN names.
    #[inline(always)]
    const fn pa(raw: u32) -> PhysAddr {
        PhysAddr::new_truncate(((raw >> PTE_PPN_SHIFT) as u64) << 12)
    }

    /// The PTE bits of `pa` (already checked to fit 34 bits and be 4 KiB aligned).
    #[inline(always)]
    const fn ppn_bits(pa: PhysAddr) -> u32 {
        ((pa.as_u64() >> 12) as u32) << PTE_PPN_SHIFT
    }
}

impl TableFormat for Sv32 {
    type Entry = u32;

    #[inline(always)]
    fn geometry(&self) -> Geometry {
        GEOMETRY
    }

    #[inline(always)]
    fn decode(&self, raw: u32, level: u8) -> Pte {
        riscv::decode_entry(raw, level)
    }

    #[inline(always)]
    fn encode_table(&self, table: PhysAddr) -> u32 {
        // The engine takes table frames from the allocator unchecked; a frame at or
        // above 2^34 would lose its top bits here (debug builds check, as x86-64 does).
        debug_assert!(table.as_u64() >> PA_BITS == 0, "table frame {table} beyond 34 bits");
        Self::ppn_bits(table) | V
    }

    fn encode_pinned_table(&self, table: PhysAddr) -> u32 {
        self.encode_table(table) | PINNED
    }

    #[inline(always)]
    fn is_pinned(&self, raw: u32) -> bool {
        raw & PINNED != 0
    }

    #[inline(always)]
    fn encode_leaf(&self, pa: PhysAddr, attrs: Attrs, _level: u8) -> u32 {
        // `check_leaf` kept `pa` below 2^34, so its PPN field fits 32 bits.
        (riscv::ppn_bits(pa) | riscv::leaf_flags(attrs)) as u32
    }

    #[inline(always)]
    fn is_valid(&self, raw: u32) -> bool {
        raw & V != 0
    }

    #[inline(always)]
    fn leaf(&self, raw: u32, level: u8) -> Option<(PhysAddr, Attrs)> {
        riscv::leaf_entry(raw, level)
    }

    #[inline(always)]
    fn next_table(&self, raw: u32, level: u8) -> Option<PhysAddr> {
        (raw & POINTER_MASK == V && level > 0).then(|| Self::pa(raw))
    }

    #[inline(always)]
    fn check_leaf(&self, pa: PhysAddr, len: u64, attrs: Attrs) -> Result<(), Error> {
        riscv::check_leaf_entry(pa, len, attrs, PA_BITS)
    }
}

/// The RV32 `satp` register: Sv32 or Bare, a 9-bit ASID, a 22-bit root PPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Satp32 {
    /// Whether Sv32 translation is on (`MODE` = 1); `false` is Bare.
    pub sv32: bool,
    /// The address-space identifier (9 bits on RV32).
    pub asid: u16,
    /// The root table's physical address (4 KiB aligned, below 2^34).
    pub root: PhysAddr,
}

impl Satp32 {
    /// The widest ASID RV32 has (`ASIDLEN` = 9).
    pub const ASID_MAX: u16 = (1 << 9) - 1;

    /// Encodes the register; the root must be 4 KiB aligned and below 2^34, and
    /// the ASID must fit 9 bits.
    pub fn encode(self) -> Result<u32, Error> {
        if !self.root.is_aligned(4096) {
            return Err(Error::Misaligned {
                what: "satp root table",
                value: self.root.as_u64(),
                align: 4096,
            });
        }
        if self.root.as_u64() >> PA_BITS != 0 {
            return Err(Error::PhysAddrUnencodable { raw: self.root.as_u64(), max_bits: PA_BITS });
        }
        if self.asid > Self::ASID_MAX {
            return Err(Error::AsidTooWide { asid: self.asid, bits: 9 });
        }
        Ok(u32::from(self.sv32) << 31 | u32::from(self.asid) << 22 | (self.root.as_u64() >> 12) as u32)
    }

    /// Decodes a raw value (every value is well formed on RV32).
    pub const fn decode(raw: u32) -> Satp32 {
        Satp32 {
            sv32: raw >> 31 != 0,
            asid: ((raw >> 22) & 0x1ff) as u16,
            root: PhysAddr::new_truncate(((raw & ((1 << 22) - 1)) as u64) << 12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 1 << 2;
    const A: u32 = 1 << 6;

    #[test]
    fn the_geometry_is_two_levels_of_1024() {
        let g = Sv32.geometry();
        assert_eq!((g.levels(), g.max_leaf_level(), g.va_bits(), g.entries()), (2, 1, 32, 1024));
        assert_eq!((g.granularity_of(0), g.granularity_of(1)), (4096, 4 << 20));
        let va = 0xc040_3000u64;
        assert_eq!((g.index_of(va, 1), g.index_of(va, 0)), (0x301, 0x003));
    }

    #[test]
    fn leaf_bits_are_where_the_spec_puts_them() {
        let pa = PhysAddr::new(0x3_8040_0000).unwrap(); // above 4 GiB: 34-bit
        let raw = Sv32.encode_leaf(pa, Attrs::KERNEL_RW, 1);
        assert_eq!(raw, (0x3_8040_0000u64 >> 12 << 10) as u32 | 0b1110_0111);
        assert_eq!(Sv32.decode(raw, 1), Pte::Leaf { pa, attrs: Attrs::KERNEL_RW });
        assert_eq!(Sv32.leaf(raw, 1), Some((pa, Attrs::KERNEL_RW)));
        // 4 KiB but not 4 MiB aligned: fine at level 0, a misaligned megapage at 1.
        let small = Sv32.encode_leaf(PhysAddr::new(0x8020_1000).unwrap(), Attrs::KERNEL_RO, 0);
        assert!(matches!(Sv32.decode(small, 0), Pte::Leaf { .. }));
        assert_eq!(Sv32.decode(small, 1), Pte::Reserved);
        assert_eq!(Sv32.leaf(small, 1), None);
    }

    #[test]
    fn pointers_and_reserved_encodings() {
        let t = PhysAddr::new(0x2_1234_5000).unwrap();
        let raw = Sv32.encode_table(t);
        assert_eq!((Sv32.decode(raw, 1), Sv32.next_table(raw, 1)), (Pte::Table(t), Some(t)));
        assert_eq!(Sv32.next_table(raw, 0), None, "no pointers at level 0");
        assert_eq!(Sv32.decode(raw | A, 1), Pte::Reserved);
        assert_eq!(Sv32.decode(V | W, 0), Pte::Reserved, "W without R");
        assert_eq!(Sv32.decode(0, 1), Pte::Absent);
        let pinned = Sv32.encode_pinned_table(t);
        assert!(Sv32.is_pinned(pinned) && !Sv32.is_pinned(raw));
        assert_eq!(Sv32.next_table(pinned, 1), Some(t));
    }

    #[test]
    fn the_fast_paths_agree_with_decode() {
        for level in 0..2u8 {
            for low in 0..1024u32 {
                for ppn in [0u32, 1, 1 << 9, 1 << 10, 1 << 21] {
                    let raw = ppn << 10 | low;
                    crate::paging::assert_fast_paths_agree(&Sv32, raw, level);
                }
            }
        }
    }

    #[test]
    fn physical_addresses_stop_at_34_bits() {
        let top = PhysAddr::new((1 << 34) - 4096).unwrap();
        assert_eq!(Sv32.check_leaf(top, 4096, Attrs::READ), Ok(()));
        assert_eq!(
            Sv32.check_leaf(top, 8192, Attrs::READ),
            Err(Error::PhysAddrUnencodable { raw: (1 << 34) + 4096, max_bits: 34 })
        );
        assert!(Sv32.check_leaf(PhysAddr::ZERO, 4096, Attrs::WRITE).is_err());
    }

    #[test]
    fn satp_fields() {
        let root = PhysAddr::new(0x3_ffff_f000).unwrap();
        let s = Satp32 { sv32: true, asid: 0x1a5, root };
        let raw = s.encode().unwrap();
        assert_eq!(raw, 1 << 31 | 0x1a5 << 22 | 0x3f_ffff);
        assert_eq!(Satp32::decode(raw), s);
        assert_eq!(Satp32::decode(0), Satp32 { sv32: false, asid: 0, root: PhysAddr::ZERO });
        assert_eq!(Satp32 { asid: 0x200, ..s }.encode(), Err(Error::AsidTooWide { asid: 0x200, bits: 9 }));
        let high = Satp32 { root: PhysAddr::new(1 << 34).unwrap(), ..s };
        assert!(matches!(high.encode(), Err(Error::PhysAddrUnencodable { max_bits: 34, .. })));
        let odd = Satp32 { root: PhysAddr::new(0x8000_0800).unwrap(), ..s };
        assert!(matches!(odd.encode(), Err(Error::Misaligned { .. })));
    }
}

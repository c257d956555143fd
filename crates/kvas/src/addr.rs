//! Physical and virtual addresses, and the page sizes a 4 KiB-granule table can map.
//!
//! The address newtypes keep their raw value private. A [`PhysAddr`] is checked
//! on construction against [`PhysAddr::MAX_BITS`], the widest physical address
//! any supported page-table format can carry. A [`VirtAddr`] cannot be checked on
//! its own: whether it is canonical depends on the paging mode, which kvas chooses
//! at run time. The engine checks each virtual address against the running mode
//! before it touches a table (see [`crate::paging::Geometry::check_canonical`]).

use core::fmt;

pub use crate::sizes::PAGE_SIZE;
use crate::Error;

/// A physical address, at most [`PhysAddr::MAX_BITS`] bits wide.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(u64);

impl PhysAddr {
    /// The widest physical address kvas represents: 56 bits, what a RISC-V PTE's
    /// 44-bit PPN reaches with 4 KiB pages.
    pub const MAX_BITS: u32 = 56;

    /// The physical address 0.
    pub const ZERO: Self = Self(0);

    /// Checks that `raw` fits in [`Self::MAX_BITS`] bits.
    pub const fn new(raw: u64) -> Result<Self, Error> {
        if raw >> Self::MAX_BITS == 0 {
            Ok(Self(raw))
        } else {
            Err(Error::PhysAddrTooWide { raw, max_bits: Self::MAX_BITS })
        }
    }

    /// Keeps the low [`Self::MAX_BITS`] bits of `raw`, for values decoded from a
    /// hardware register or entry whose field is already that narrow.
    pub const fn new_truncate(raw: u64) -> Self {
        Self(raw & ((1 << Self::MAX_BITS) - 1))
    }

    /// `raw`, which the caller knows to fit [`Self::MAX_BITS`] bits (a decoded
    /// entry field already that narrow, shifted into place), without the mask
    /// [`Self::new_truncate`] costs; debug builds check.
    #[inline(always)]
    pub(crate) const fn new_narrow(raw: u64) -> Self {
        debug_assert!(raw >> Self::MAX_BITS == 0, "a physical address wider than MAX_BITS");
        Self(raw)
    }

    /// The raw address.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Whether the address is a multiple of `align` (a power of two).
    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }

    /// Rounds down to a multiple of `align` (a power of two).
    pub const fn align_down(self, align: u64) -> Self {
        Self(self.0 & !(align - 1))
    }

    /// `self + bytes`, or `None` if that leaves the representable range.
    pub const fn checked_add(self, bytes: u64) -> Option<Self> {
        match self.0.checked_add(bytes) {
            Some(raw) if raw >> Self::MAX_BITS == 0 => Some(Self(raw)),
            _ => None,
        }
    }

    /// `self + bytes` for offsets the caller has already range-checked.
    pub(crate) const fn add(self, bytes: u64) -> Self {
        Self(self.0 + bytes)
    }
}

/// A virtual address: any 64-bit value. Whether it is canonical depends on the
/// paging mode, so the check is the mode's (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(u64);

impl VirtAddr {
    /// The virtual address 0.
    pub const ZERO: Self = Self(0);

    /// Wraps a raw address.
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw address.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Whether the address is a multiple of `align` (a power of two).
    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }

    /// Rounds down to a multiple of `align` (a power of two).
    pub const fn align_down(self, align: u64) -> Self {
        Self(self.0 & !(align - 1))
    }

    /// `self + bytes`, or `None` on overflow past the top of the address space.
    pub const fn checked_add(self, bytes: u64) -> Option<Self> {
        match self.0.checked_add(bytes) {
            Some(raw) => Some(Self(raw)),
            None => None,
        }
    }

    /// `self + bytes`, wrapping at 2^64 (the top of a kernel half wraps to 0).
    pub const fn wrapping_add(self, bytes: u64) -> Self {
        Self(self.0.wrapping_add(bytes))
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysAddr({:#x})", self.0)
    }
}

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtAddr({:#018x})", self.0)
    }
}

impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

impl fmt::LowerHex for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::LowerHex for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A leaf size of a table with 4 KiB pages: 512 entries per table, or 1024
/// for Sv32, whose level-1 leaf is [`PageSize::Size4M`].
///
/// Level numbering follows the RISC-V privileged spec: a leaf at level 0 maps
/// 4 KiB, level 1 maps 2 MiB (4 MiB in Sv32), and so on up to the root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PageSize {
    /// 4 KiB (level 0).
    Size4K,
    /// 2 MiB (level 1): a RISC-V megapage, an x86 large page.
    Size2M,
    /// 4 MiB (level 1 of Sv32's 1024-entry tables): an Sv32 megapage.
    Size4M,
    /// 1 GiB (level 2): a RISC-V gigapage.
    Size1G,
    /// 512 GiB (level 3): a RISC-V terapage (Sv48, Sv57).
    Size512G,
    /// 256 TiB (level 4): a RISC-V petapage (Sv57).
    Size256T,
}

impl PageSize {
    /// Every size of 512-entry tables, smallest first, one per level (not
    /// [`PageSize::Size4M`]: see [`crate::paging::Geometry::page_sizes`]).
    pub const ALL: [PageSize; 5] = [Self::Size4K, Self::Size2M, Self::Size1G, Self::Size512G, Self::Size256T];

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Size4M => 4 << 20,
            _ => 1 << (12 + 9 * self.level() as u32),
        }
    }

    /// The level whose leaves have this size (0 for 4 KiB, 1 for 2 and 4 MiB).
    pub const fn level(self) -> u8 {
        // Declared in size order, one per level but for 4M, which shares
        // level 1 with 2M: every variant from 4M on is one past its level.
        let d = self as u8;
        d - (d >= Self::Size4M as u8) as u8
    }

    /// The size of a leaf at `level` of a 512-entry table, if there is one
    /// (per mode: [`crate::paging::Geometry::page_size`]).
    pub const fn from_level(level: u8) -> Option<Self> {
        match level {
            0 => Some(Self::Size4K),
            1 => Some(Self::Size2M),
            2 => Some(Self::Size1G),
            3 => Some(Self::Size512G),
            4 => Some(Self::Size256T),
            _ => None,
        }
    }

    /// The short name used in reports: `4K`, `2M`, `4M`, `1G`, `512G`, `256T`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Size4K => "4K",
            Self::Size2M => "2M",
            Self::Size4M => "4M",
            Self::Size1G => "1G",
            Self::Size512G => "512G",
            Self::Size256T => "256T",
        }
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phys_addr_rejects_bits_above_56() {
        assert_eq!(PhysAddr::new((1 << 56) - 1).map(PhysAddr::as_u64), Ok((1 << 56) - 1));
        assert_eq!(PhysAddr::new(1 << 56), Err(Error::PhysAddrTooWide { raw: 1 << 56, max_bits: 56 }));
        assert_eq!(PhysAddr::new_truncate(u64::MAX).as_u64(), (1 << 56) - 1);
    }

    #[test]
    fn phys_checked_add_stops_at_the_width() {
        let top = PhysAddr::new((1 << 56) - 4096).unwrap();
        assert_eq!(top.checked_add(4095).map(PhysAddr::as_u64), Some((1 << 56) - 1));
        assert_eq!(top.checked_add(4096), None);
    }

    #[test]
    fn alignment_helpers() {
        let va = VirtAddr::new(0xffff_ffff_8020_1234);
        assert!(!va.is_aligned(PAGE_SIZE));
        assert_eq!(va.align_down(PAGE_SIZE).as_u64(), 0xffff_ffff_8020_1000);
        assert_eq!(va.align_down(1 << 21).as_u64(), 0xffff_ffff_8020_0000);
        assert_eq!(VirtAddr::new(u64::MAX).checked_add(1), None);
        assert_eq!(VirtAddr::new(u64::MAX).wrapping_add(1), VirtAddr::ZERO);
    }

    #[test]
    fn page_sizes_and_levels_agree() {
        for (level, size) in PageSize::ALL.iter().enumerate() {
            assert_eq!(size.level() as usize, level);
            assert_eq!(PageSize::from_level(level as u8), Some(*size));
            assert_eq!(size.bytes(), 4096u64 << (9 * level));
        }
        assert_eq!(PageSize::from_level(5), None);
        assert_eq!(PageSize::Size512G.bytes(), 512 << 30);
        assert_eq!(PageSize::Size256T.to_string(), "256T");
    }
}

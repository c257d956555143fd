//! page_table_multiarch's generic `PageTable64` with RISC-V Sv39/Sv48.
//!
//! The crate's own `riscv` module (and page_table_entry's `Rv64PTE`) only
//! compile for RISC-V targets, so this file gives `PageTable64` a small
//! metadata and entry type written from the RISC-V privileged spec (Sv39 and
//! Sv48: V R W X U G A D in bits 0..=7, PPN in bits 10..=53). The entry does
//! what upstream `Rv64PTE` does: leaves get V A D plus the permissions, a
//! non-leaf entry has only V, and an entry with R or X set is a leaf.

use kvas::sizes::PAGE_SIZE;
use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{
    GenericPTE, MappingFlags, PageSize, PageTable64, PageTable64Cursor, PagingError, PagingHandler,
    PagingMetaData,
};

use crate::arena;
use crate::subject::{Ops, Plain, Subject};

const V: u64 = 1 << 0;
const R: u64 = 1 << 1;
const W: u64 = 1 << 2;
const X: u64 = 1 << 3;
const U: u64 = 1 << 4;
const A: u64 = 1 << 6;
const D: u64 = 1 << 7;
/// PPN field: bits 10..=53 of the entry hold physical address bits 12..=55.
const PPN_MASK: u64 = ((1 << 54) - 1) & !((1 << 10) - 1);

/// An Sv39/Sv48 page-table entry.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub struct SvPte(u64);

impl SvPte {
    #[inline]
    fn ppn_bits(pa: PhysAddr) -> u64 {
        (pa.as_usize() as u64 >> 2) & PPN_MASK
    }

    #[inline]
    fn perm_bits(flags: MappingFlags) -> u64 {
        if flags.is_empty() {
            return 0;
        }
        let mut bits = V | A | D;
        if flags.contains(MappingFlags::READ) {
            bits |= R;
        }
        if flags.contains(MappingFlags::WRITE) {
            bits |= W;
        }
        if flags.contains(MappingFlags::EXECUTE) {
            bits |= X;
        }
        if flags.contains(MappingFlags::USER) {
            bits |= U;
        }
        bits
    }
}

impl GenericPTE for SvPte {
    #[inline]
    fn new_page(paddr: PhysAddr, flags: MappingFlags, _is_huge: bool) -> Self {
        Self(Self::perm_bits(flags) | Self::ppn_bits(paddr))
    }

    #[inline]
    fn new_table(paddr: PhysAddr) -> Self {
        Self(V | Self::ppn_bits(paddr))
    }

    #[inline]
    fn paddr(&self) -> PhysAddr {
        PhysAddr::from(((self.0 & PPN_MASK) << 2) as usize)
    }

    #[inline]
    fn flags(&self) -> MappingFlags {
        let mut flags = MappingFlags::empty();
        if self.0 & V == 0 {
            return flags;
        }
        for (bit, flag) in [
            (R, MappingFlags::READ),
            (W, MappingFlags::WRITE),
            (X, MappingFlags::EXECUTE),
            (U, MappingFlags::USER),
        ] {
            if self.0 & bit != 0 {
                flags |= flag;
            }
        }
        flags
    }

    #[inline]
    fn set_paddr(&mut self, paddr: PhysAddr) {
        self.0 = (self.0 & !PPN_MASK) | Self::ppn_bits(paddr);
    }

    #[inline]
    fn set_flags(&mut self, flags: MappingFlags, _is_huge: bool) {
        self.0 = (self.0 & PPN_MASK) | Self::perm_bits(flags);
    }

    #[inline]
    fn bits(self) -> usize {
        self.0 as usize
    }

    #[inline]
    fn is_unused(&self) -> bool {
        self.0 == 0
    }

    #[inline]
    fn is_present(&self) -> bool {
        self.0 & V != 0
    }

    #[inline]
    fn is_huge(&self) -> bool {
        self.0 & (R | X) != 0
    }

    #[inline]
    fn clear(&mut self) {
        self.0 = 0
    }
}

/// Sv39 (3 levels) or Sv48 (4 levels) metadata for `PageTable64`.
pub struct SvMeta<const LEVELS: usize>;

impl<const LEVELS: usize> PagingMetaData for SvMeta<LEVELS> {
    const LEVELS: usize = LEVELS;
    const PA_MAX_BITS: usize = 56;
    const VA_MAX_BITS: usize = 12 + 9 * LEVELS;
    type VirtAddr = VirtAddr;

    /// Never called on a hosted target (`PageTable64Cursor::flush` only
    /// flushes under `target_os = "none"`); the tables are not live anyway.
    fn flush_tlb(_vaddr: Option<VirtAddr>) {}
}

/// Frames from the shared arena, identity physical view.
pub struct ArenaHandler;

impl PagingHandler for ArenaHandler {
    #[inline]
    fn alloc_frames(num: usize, align: usize) -> Option<PhysAddr> {
        if num != 1 || align > PAGE_SIZE as usize {
            return None;
        }
        arena::alloc().map(|pa| PhysAddr::from(pa as usize))
    }

    #[inline]
    fn dealloc_frames(paddr: PhysAddr, num: usize) {
        debug_assert_eq!(num, 1);
        arena::free(paddr.as_usize() as u64);
    }

    #[inline]
    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        VirtAddr::from(paddr.as_usize())
    }
}

/// page_table_multiarch's table with `LEVELS` levels (3: Sv39, 4: Sv48).
pub struct Ptm<const LEVELS: usize> {
    table: PageTable64<SvMeta<LEVELS>, SvPte, ArenaHandler>,
}

const FLAGS: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);

impl<const LEVELS: usize> Subject for Ptm<LEVELS> {
    type Ops<'a> = PtmOps<'a, LEVELS>;

    fn new() -> Self {
        let table = PageTable64::try_new().expect("the arena has a frame for the root");
        Self { table }
    }

    fn ops(&mut self) -> PtmOps<'_, LEVELS> {
        PtmOps { cursor: self.table.cursor() }
    }

    #[inline(always)]
    fn translate(&self, va: u64) -> Option<u64> {
        self.table.query(VirtAddr::from(va as usize)).ok().map(|(pa, _, _)| pa.as_usize() as u64)
    }

    type Translator<'a> = Plain<'a, Self>;

    fn translator(&self) -> Plain<'_, Self> {
        Plain(self)
    }
}

/// A cursor kept for a whole batch of mutations.
pub struct PtmOps<'a, const LEVELS: usize> {
    cursor: PageTable64Cursor<'a, SvMeta<LEVELS>, SvPte, ArenaHandler>,
}

impl<const LEVELS: usize> PtmOps<'_, LEVELS> {
    #[inline]
    fn map(&mut self, va: u64, pa: u64, size: PageSize) -> bool {
        self.cursor.map(VirtAddr::from(va as usize), PhysAddr::from(pa as usize), size, FLAGS).is_ok()
    }
}

impl<const LEVELS: usize> Ops for PtmOps<'_, LEVELS> {
    #[inline]
    fn map_4k(&mut self, va: u64, pa: u64) -> bool {
        self.map(va, pa, PageSize::Size4K)
    }

    #[inline]
    fn map_2m(&mut self, va: u64, pa: u64) -> bool {
        self.map(va, pa, PageSize::Size2M)
    }

    #[inline]
    fn unmap_4k(&mut self, va: u64) -> bool {
        self.cursor.unmap(VirtAddr::from(va as usize)).is_ok()
    }

    #[inline(always)]
    fn fault_in(&mut self, va: u64, pa: u64) -> bool {
        // The cursor derefs to the table: `query` is the table's own translate.
        match self.cursor.query(VirtAddr::from(va as usize)) {
            Err(PagingError::NotMapped) => self.map(va, pa, PageSize::Size4K),
            _ => false,
        }
    }

    fn map_range_4k(&mut self, va: u64, pa: u64, len: u64) -> bool {
        self.range(va, pa, len, false)
    }

    fn map_linear(&mut self, va: u64, pa: u64, len: u64) -> bool {
        self.range(va, pa, len, true)
    }
}

impl<const LEVELS: usize> PtmOps<'_, LEVELS> {
    fn range(&mut self, va: u64, pa: u64, len: u64, allow_huge: bool) -> bool {
        let delta = pa.wrapping_sub(va) as usize;
        self.cursor
            .map_region(
                VirtAddr::from(va as usize),
                |v| PhysAddr::from(v.as_usize().wrapping_add(delta)),
                len as usize,
                FLAGS,
                allow_huge,
            )
            .is_ok()
    }
}

//! google's aarch64-paging: a `RootTable` for the EL1&0 regime's upper
//! (TTBR1, kernel) range, 4 KiB granule, with 3 levels (39-bit VA, root at
//! level 1) or 4 levels (48-bit VA, root at level 0).
//!
//! The library has one mapping entry point, `map_range`. [`Aarch64`] calls it
//! once per page for the per-page workloads; with `RANGE = true` the subject
//! runs only the range workloads (`map-range-4k`, `map-linear-64g`), one
//! `map_range` call for the whole range. Unmapping is `map_range` with attributes that lack `VALID`, as the
//! library documents; translating is a one-byte `walk_range`.

use core::ptr::NonNull;

use aarch64_paging::descriptor::{El1Attributes, PhysicalAddress};
use aarch64_paging::paging::{
    Constraints, El1And0, MemoryRegion, PageTable, RootTable, Translation, VaRange,
};

use crate::arena;
use crate::subject::{Ops, Plain, Subject};
use crate::workload::Workload;

/// Zeroed frames from the shared arena, identity physical view.
pub struct ArenaTranslation;

impl Translation<El1Attributes> for ArenaTranslation {
    #[inline]
    fn allocate_table(&mut self) -> (NonNull<PageTable<El1Attributes>>, PhysicalAddress) {
        let pa = arena::alloc_zeroed().expect("the arena has enough frames");
        let table = NonNull::new(pa as *mut PageTable<El1Attributes>).expect("arena frames are non-null");
        (table, PhysicalAddress(pa as usize))
    }

    #[inline]
    unsafe fn deallocate_table(&mut self, page_table: NonNull<PageTable<El1Attributes>>) {
        arena::free(page_table.as_ptr() as u64);
    }

    #[inline]
    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<El1Attributes>> {
        NonNull::new(pa.0 as *mut PageTable<El1Attributes>).expect("table frames are non-null")
    }
}

/// Kernel read-write data: valid, accessed, inner shareable, no user execute.
const FLAGS: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::UXN);

/// aarch64-paging with `LEVELS` levels (3 or 4); `RANGE` selects the range
/// API variant.
pub struct Aarch64<const LEVELS: usize, const RANGE: bool> {
    root: RootTable<El1And0, ArenaTranslation>,
}

impl<const LEVELS: usize, const RANGE: bool> Aarch64<LEVELS, RANGE> {
    #[inline]
    fn map(&mut self, va: u64, pa: u64, len: u64, flags: El1Attributes, constraints: Constraints) -> bool {
        let region = MemoryRegion::new(va as usize, (va + len) as usize);
        self.root.map_range(&region, PhysicalAddress(pa as usize), flags, constraints).is_ok()
    }
}

impl<const LEVELS: usize, const RANGE: bool> Subject for Aarch64<LEVELS, RANGE> {
    type Ops<'a> = &'a mut Self;

    fn new() -> Self {
        assert!(LEVELS == 3 || LEVELS == 4, "aarch64-paging with 4 KiB pages has 3 or 4 levels here");
        let root_level = 4 - LEVELS;
        Self { root: RootTable::with_va_range(ArenaTranslation, root_level, El1And0, VaRange::Upper) }
    }

    fn ops(&mut self) -> &mut Self {
        self
    }

    fn supports(workload: Workload) -> bool {
        workload.is_range() == RANGE
    }

    #[inline(always)]
    fn translate(&self, va: u64) -> Option<u64> {
        let mut pa = None;
        let region = MemoryRegion::new(va as usize, va as usize + 1);
        self.root
            .walk_range(&region, &mut |_, descriptor, level| {
                if descriptor.is_valid() {
                    let granularity = 4096u64 << ((3 - level) * 9);
                    pa = Some(descriptor.output_address().0 as u64 + (va & (granularity - 1)));
                }
                Ok(())
            })
            .ok()?;
        pa
    }

    type Translator<'a> = Plain<'a, Self>;

    fn translator(&self) -> Plain<'_, Self> {
        Plain(self)
    }
}

impl<const LEVELS: usize, const RANGE: bool> Ops for &mut Aarch64<LEVELS, RANGE> {
    #[inline]
    fn map_4k(&mut self, va: u64, pa: u64) -> bool {
        self.map(va, pa, 4096, FLAGS, Constraints::empty())
    }

    #[inline]
    fn map_2m(&mut self, va: u64, pa: u64) -> bool {
        self.map(va, pa, 2 << 20, FLAGS, Constraints::empty())
    }

    #[inline]
    fn unmap_4k(&mut self, va: u64) -> bool {
        self.map(va, 0, 4096, El1Attributes::empty(), Constraints::empty())
    }

    #[inline(always)]
    fn fault_in(&mut self, va: u64, pa: u64) -> bool {
        // The library's only translate is `walk_range` (see `translate`).
        if Subject::translate(&**self, va).is_some() {
            return false;
        }
        self.map(va, pa, 4096, FLAGS, Constraints::empty())
    }

    fn map_range_4k(&mut self, va: u64, pa: u64, len: u64) -> bool {
        self.map(va, pa, len, FLAGS, Constraints::NO_BLOCK_MAPPINGS)
    }

    fn map_linear(&mut self, va: u64, pa: u64, len: u64) -> bool {
        self.map(va, pa, len, FLAGS, Constraints::empty())
    }
}

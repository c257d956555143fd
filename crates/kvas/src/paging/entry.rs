//! [`PageTable::entry_at`]: one walk for a demand-paging fault, and
//! [`PageTable::leaf_entry_at`]: where a leaf entry lives.
//!
//! A fault handler asks whether `va` is mapped and, if not, maps it. With
//! [`PageTable::translate`] and then [`PageTable::map`] that is two walks; the
//! second one reads, through a cache that just missed on it, the entry the
//! first one found absent. [`PageTable::entry_at`] walks once and stops where
//! the walk stopped: a [`VacantEntry`] maps from there, linking any missing
//! tables below that point (as `HashMap::entry` inserts without hashing again).

use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::paging::geometry::index_for;
use crate::paging::{Attrs, Flush, FrameAllocator, PageTable, PhysMemory, TableFormat, Translation};
use crate::Error;

/// What [`PageTable::entry_at`] found at an address.
pub enum Entry<'a, F: TableFormat, M: PhysMemory> {
    /// A leaf maps the address: where it leads, as [`PageTable::translate`] says.
    Occupied(Translation),
    /// Nothing maps the address; the entry can map it.
    Vacant(VacantEntry<'a, F, M>),
}

/// An address that nothing maps, with the place its walk stopped: an invalid
/// entry at some level, below which no table exists yet.
///
/// It borrows the table mutably, so the tables cannot change before
/// [`VacantEntry::map`] uses what the walk found.
pub struct VacantEntry<'a, F: TableFormat, M: PhysMemory> {
    pt: &'a mut PageTable<F, M>,
    va: VirtAddr,
    /// The table holding the invalid entry, and its level.
    table: PhysAddr,
    level: u8,
}

/// Where a leaf entry lives: its table frame and index (see
/// [`PageTable::leaf_entry_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafEntry {
    /// The table frame holding the leaf entry.
    pub table: PhysAddr,
    /// The entry's index in that table.
    pub index: usize,
    /// The leaf's size (its level).
    pub size: PageSize,
}

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// What maps `va`, found with one walk: [`Entry::Occupied`] with the
    /// translation [`PageTable::translate`] gives, or [`Entry::Vacant`], which
    /// maps from where the walk stopped. Errors are `translate`'s:
    /// [`Error::NonCanonical`] for an address outside the mode, and
    /// [`Error::CorruptEntry`] for an entry the format refuses.
    ///
    /// It writes no entry. The walk starts at the level-1 table of the last
    /// single-page map, unmap or `entry_at` when `va` lies in its 1 GiB, as
    /// `translate` does; a walk from the root remembers the level-1 table it
    /// passes, as `map`'s does.
    ///
    /// ```
    /// use kvas::arch::riscv::{Mode, Riscv};
    /// use kvas::paging::{Attrs, Entry, PageTable};
    /// use kvas::sim::{Ram, TrackingAllocator};
    /// use kvas::{PageSize, PhysAddr, VirtAddr};
    ///
    /// let ram = Ram::new();
    /// let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000)?, 1 << 20)?;
    /// let mut pt = PageTable::new(Riscv::new(Mode::Sv39), &ram, &mut frames)?;
    /// let fault = VirtAddr::new(0x4000_1234);
    /// match pt.entry_at(fault)? {
    ///     Entry::Occupied(t) => unreachable!("a fresh table maps nothing, not {t:?}"),
    ///     Entry::Vacant(entry) => {
    ///         entry.map(PhysAddr::new(0x8000_0000)?, Attrs::KERNEL_RW, PageSize::Size4K, &mut frames)?.ignore()
    ///     }
    /// }
    /// assert_eq!(pt.translate(fault)?.pa.as_u64(), 0x8000_0234);
    /// assert!(matches!(pt.entry_at(fault)?, Entry::Occupied(t) if t.size == PageSize::Size4K));
    /// let leaf = pt.leaf_entry_at(fault)?;
    /// assert_eq!((leaf.index, leaf.size), (1, PageSize::Size4K)); // entry 1 of its level-0 table
    /// # Ok::<(), kvas::Error>(())
    /// ```
    #[inline(always)]
    pub fn entry_at(&mut self, va: VirtAddr) -> Result<Entry<'_, F, M>, Error> {
        // A hint hit stands for a canonical address (see `translate`). The hot
        // path, a level-0 table under the hinted level-1 table, is inlined;
        // the walk from the root is not, and returns only where it stopped, so
        // that the `Entry` is built here, in registers.
        let (table, level, raw) = match self.hints[1].lookup::<F::Entry>(1, va) {
            Some(hinted) => {
                let raw = self.entry(hinted, index_for::<F::Entry>(va.as_u64(), 1));
                match self.format.next_table(raw, 1) {
                    Some(table) => (table, 0, self.entry(table, index_for::<F::Entry>(va.as_u64(), 0))),
                    None => (hinted, 1, raw),
                }
            }
            None => self.entry_walk(va)?,
        };
        if self.format.is_valid(raw) {
            return self.translate_other(va, level, raw).map(Entry::Occupied);
        }
        Ok(Entry::Vacant(VacantEntry { pt: self, va, table, level }))
    }

    /// [`PageTable::entry_at`]'s walk from the root, out of line: towards
    /// `va`'s level-0 entry, stopping at the first entry that is not a
    /// pointer. Remembers the level-1 table it passes, as `map`'s walk does
    /// (a hint names a table, never an entry, so it holds whatever the caller
    /// does with the `Entry`).
    #[inline(never)]
    fn entry_walk(&mut self, va: VirtAddr) -> Result<(PhysAddr, u8, F::Entry), Error> {
        self.format.geometry().check_canonical(va)?;
        Ok(self.walk_remembering(va, 0))
    }

    /// Where the leaf that maps `va` lives: its table frame and index, for a
    /// caller that rewrites that one entry in place (a kernel's fixmap slot).
    /// Fails as [`PageTable::translate`] does: [`Error::NotMapped`],
    /// [`Error::NonCanonical`], [`Error::CorruptEntry`].
    pub fn leaf_entry_at(&self, va: VirtAddr) -> Result<LeafEntry, Error> {
        self.format.geometry().check_canonical(va)?;
        let (table, level, raw) = self.walk(va, 0);
        match (self.format.leaf(raw, level), self.format.geometry().page_size(level)) {
            (Some(_), Some(size)) if level <= self.format.geometry().max_leaf_level() => {
                Ok(LeafEntry { table, index: index_for::<F::Entry>(va.as_u64(), level), size })
            }
            _ if !self.format.is_valid(raw) => Err(Error::NotMapped { va }),
            _ => Err(Error::CorruptEntry { va, level, raw: raw.into() }),
        }
    }
}

impl<F: TableFormat, M: PhysMemory> VacantEntry<'_, F, M> {
    /// The address the entry was asked for.
    pub fn va(&self) -> VirtAddr {
        self.va
    }

    /// Maps the page of `size` that holds the entry's address to `pa`: exactly
    /// what [`PageTable::map`] of `va.align_down(size)` does, with the same
    /// errors (a larger page over an existing table is [`Error::AlreadyMapped`]),
    /// but without walking again. Missing tables are taken first and linked
    /// with one store once they hold the leaf; if one cannot be had, the ones
    /// taken go back to `alloc` and the tables are as they were.
    #[inline(always)]
    pub fn map(
        self,
        pa: PhysAddr,
        attrs: Attrs,
        size: PageSize,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        // Taken apart here, so that the fast path keeps the fields in registers
        // and only the out-of-line path gets them as arguments.
        let Self { pt, va, table, level } = self;
        if size.level() != level {
            return map_below(pt, va, table, level, pa, attrs, size, alloc);
        }
        // The leaf's own slot: `entry_at`'s `va` is canonical, and so is the
        // page that holds it.
        let va = va.align_down(size.bytes());
        pt.format.geometry().leaf_level(size)?;
        if !pa.is_aligned(size.bytes()) {
            return Err(Error::Misaligned {
                what: "physical address",
                value: pa.as_u64(),
                align: size.bytes(),
            });
        }
        pt.format.check_leaf(pa, size.bytes(), attrs)?;
        pt.set_entry(
            table,
            index_for::<F::Entry>(va.as_u64(), level),
            pt.format.encode_leaf(pa, attrs, level),
        );
        // (The level-1 table above a level-0 one is in the hint already: the
        // hinted walk started there, and the walk from the root remembered it.)
        pt.remember(level, va, table);
        Ok(Flush::page(va))
    }
}

/// [`VacantEntry::map`] of a page whose slot is not where the walk stopped
/// (`level`, in `table`): tables to link below it, or a table in the way above it.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn map_below<F: TableFormat, M: PhysMemory>(
    pt: &mut PageTable<F, M>,
    va: VirtAddr,
    table: PhysAddr,
    level: u8,
    pa: PhysAddr,
    attrs: Attrs,
    size: PageSize,
    alloc: &mut impl FrameAllocator,
) -> Result<Flush, Error> {
    let va = va.align_down(size.bytes());
    let leaf_level = pt.format.geometry().check_page(va, size)?;
    if !pa.is_aligned(size.bytes()) {
        return Err(Error::Misaligned { what: "physical address", value: pa.as_u64(), align: size.bytes() });
    }
    pt.format.check_leaf(pa, size.bytes(), attrs)?;
    if leaf_level > level {
        // The walk passed a table where the leaf would go.
        return Err(Error::AlreadyMapped { va, level: leaf_level });
    }
    pt.fill_hole(table, level, va, leaf_level, pa, attrs, alloc)
}

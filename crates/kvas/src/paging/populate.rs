//! Tables that exist before anything is mapped, and are never freed.
//!
//! A kernel copies the upper half of its root table into every address space it
//! creates. If the kernel later added a table under its root (for a new vmalloc
//! area, say), the copies would not see it. Linux avoids this by allocating, at
//! boot, every table one level below the root for the vmalloc and modules
//! regions (`pgtable_cache_init`), so that the root's kernel entries never change
//! again. [`PageTable::populate`] does the same, and marks each such table
//! *pinned* ([`TableFormat::encode_pinned_table`]): when it empties, it stays.

use crate::addr::{PhysAddr, VirtAddr};
use crate::paging::chunks::Chunks;
use crate::paging::geometry::check_range;
use crate::paging::reserve::Reserve;
use crate::paging::EntryWord;
use crate::paging::{FrameAllocator, PageTable, PhysMemory, Pte, TableFormat};
use crate::range::VirtRange;
use crate::Error;

/// Tables needed to give every address of `[va, va + len)` a table at level
/// `target`, inside a new level-`level` table.
fn tables_below_new<E: EntryWord>(level: u8, target: u8, va: u64, len: u64) -> u64 {
    if level == target {
        return 1;
    }
    1 + Chunks::<E>::new(va, len, level)
        .map(|c| tables_below_new::<E>(level - 1, target, c.va, c.len))
        .sum::<u64>()
}

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// Makes sure every address of `range` walks down to a table at
    /// `level` (0 for the tables that hold 4 KiB leaves, `levels - 2` for the
    /// tables right below the root), creating the missing ones. Every pointer on
    /// the way is marked pinned, so these tables are never freed when they empty
    /// (only [`PageTable::destroy`] frees them). Returns how many tables it created.
    ///
    /// Refused, with nothing changed, if a leaf above `level` maps part of the
    /// range, or if the allocator cannot give every table needed.
    pub fn populate(
        &mut self,
        range: VirtRange,
        level: u8,
        alloc: &mut impl FrameAllocator,
    ) -> Result<u64, Error> {
        let (va, len) = (range.start(), range.size());
        let g = self.format.geometry();
        check_range(g, va, len)?;
        if level >= g.root_level() {
            return Err(Error::InvalidGeometry { reason: "populate needs a level below the root" });
        }
        if len == 0 {
            return Ok(0);
        }
        let needed = self.plan_populate(self.root, g.root_level(), level, va.as_u64(), len)?;
        let mut reserve =
            Reserve::take(&self.mem, alloc, needed).map_err(|got| Error::OutOfFrames { va, needed, got })?;
        let done = self.fill_populate(self.root, g.root_level(), level, va.as_u64(), len, &mut reserve);
        reserve.release(&self.mem, alloc);
        done.map(|()| needed)
    }

    fn plan_populate(&self, table: PhysAddr, level: u8, target: u8, va: u64, len: u64) -> Result<u64, Error> {
        let mut need = 0;
        for c in Chunks::<F::Entry>::new(va, len, level) {
            let raw = self.entry(table, c.idx);
            let at = VirtAddr::new(c.va);
            if !self.format.is_valid(raw) {
                need += tables_below_new::<F::Entry>(level - 1, target, c.va, c.len);
                continue;
            }
            match self.format.decode(raw, level) {
                Pte::Table(next) if level - 1 > target => {
                    need += self.plan_populate(next, level - 1, target, c.va, c.len)?;
                }
                Pte::Table(_) => {}
                Pte::Leaf { .. } => return Err(Error::AlreadyMapped { va: at, level }),
                _ => return Err(Error::CorruptEntry { va: at, level, raw: raw.into() }),
            }
        }
        Ok(need)
    }

    fn fill_populate(
        &self,
        table: PhysAddr,
        level: u8,
        target: u8,
        va: u64,
        len: u64,
        reserve: &mut Reserve,
    ) -> Result<(), Error> {
        for c in Chunks::<F::Entry>::new(va, len, level) {
            let raw = self.entry(table, c.idx);
            let next = match self.format.next_table(raw, level) {
                Some(next) => next,
                None if !self.format.is_valid(raw) => {
                    let frame = reserve.pop(&self.mem).ok_or(Error::OutOfFrames {
                        va: VirtAddr::new(c.va),
                        needed: 1,
                        got: 0,
                    })?;
                    self.clear_frame(frame);
                    frame
                }
                None => return Err(Error::CorruptEntry { va: VirtAddr::new(c.va), level, raw: raw.into() }),
            };
            // New or old, the pointer on the way is pinned.
            self.set_entry(table, c.idx, self.format.encode_pinned_table(next));
            if level - 1 > target {
                self.fill_populate(next, level - 1, target, c.va, c.len, reserve)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::tables_below_new;
    use crate::paging::Geometry;

    #[test]
    fn counts_one_table_per_touched_entry_per_level() {
        // 64 GiB under one new level-2 table, down to level 1: the level-2 table,
        // then one level-1 table per GiB.
        assert_eq!(tables_below_new::<u64>(2, 1, 0, 64 << 30), 1 + 64);
        assert_eq!(tables_below_new::<u64>(1, 1, 0, 1 << 30), 1);
        // Down to level 0 across one 2 MiB boundary: 1 + 2.
        assert_eq!(tables_below_new::<u64>(1, 0, 0x1f_f000, 0x2000), 3);
        assert_eq!(Geometry::granularity(2), 1 << 30);
    }
}

//! Unmapping: a page, or a range, freeing tables that become empty.

use crate::addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::paging::chunks::Chunks;
use crate::paging::geometry::check_range;
use crate::paging::geometry::index_for;
use crate::paging::reserve::Reserve;
use crate::paging::split::Holes;
use crate::paging::EntryWord;
use crate::paging::{Flush, FrameAllocator, Geometry, PageTable, PhysMemory, Pte, TableFormat};
use crate::range::VirtRange;
use crate::Error;

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// Unmaps the page of `size` at `va`.
    ///
    /// [`Error::NotMapped`] if nothing maps `va`. Where a larger leaf covers the
    /// page it is split; where smaller leaves map it, they all go (as
    /// [`PageTable::unmap_range`] does). Tables left empty are freed.
    #[inline(always)]
    pub fn unmap(
        &mut self,
        va: VirtAddr,
        size: PageSize,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        if size == PageSize::Size4K && va.is_aligned(PAGE_SIZE) {
            // A hit stands for a canonical address (see `translate`).
            if let Some(table) = self.hints[0].lookup::<F::Entry>(0, va) {
                let idx = index_for::<F::Entry>(va.as_u64(), 0);
                let raw = self.entry(table, idx);
                if self.format.leaf(raw, 0).is_some() {
                    self.set_entry(table, idx, <F::Entry as EntryWord>::ZERO);
                    // A run of unmaps finds the next entry live and is done. (Past
                    // the last entry, entry 0 is looked at: any live entry will do.)
                    let next = (idx + 1) % <F::Entry as EntryWord>::ENTRIES;
                    if !self.format.is_valid(self.entry(table, next)) {
                        self.unmapped_last_maybe(va, table, 0, alloc);
                    }
                    return Ok(Flush::page(va));
                }
            }
        }
        self.unmap_walk(va, size, alloc)
    }

    /// The walking part of [`PageTable::unmap`], out of line.
    #[inline(never)]
    fn unmap_walk(
        &mut self,
        va: VirtAddr,
        size: PageSize,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        let leaf_level = self.check_page(va, size)?;
        let (table, level, raw) = self.walk_remembering(va, leaf_level);
        if level == leaf_level && self.format.leaf(raw, level).is_some() {
            let idx = index_for::<F::Entry>(va.as_u64(), level);
            self.set_entry(table, idx, <F::Entry as EntryWord>::ZERO);
            self.remember(level, va, table);
            if !self.is_empty(table, idx) {
                return Ok(Flush::page(va));
            }
            self.free_emptied(va, level, alloc);
            return Ok(Flush::page(va));
        }
        match self.format.decode(raw, level) {
            Pte::Absent => Err(Error::NotMapped { va }),
            // A larger leaf to split, or smaller leaves below: the range path.
            // (A table may be an empty pinned one: if the range path removes
            // nothing, nothing mapped the page.)
            Pte::Leaf { .. } | Pte::Table(_) => {
                match self.unmap_range(VirtRange::new(va, size.bytes())?, alloc)? {
                    flush if flush.is_empty() => Err(Error::NotMapped { va }),
                    flush => Ok(flush),
                }
            }
            Pte::Reserved => Err(Error::CorruptEntry { va, level, raw: raw.into() }),
        }
    }

    /// `va`'s entry in `table`, a level-`level` table, has just gone and the
    /// next entry is not live: scans the table and frees it (and every table
    /// above it that empties with it) if nothing is left.
    #[inline(never)]
    fn unmapped_last_maybe(
        &mut self,
        va: VirtAddr,
        table: PhysAddr,
        level: u8,
        alloc: &mut impl FrameAllocator,
    ) {
        if self.is_empty_scan(table) {
            self.free_emptied(va, level, alloc);
        }
    }

    /// `va`'s level-`level` table has just emptied (the caller checked): frees
    /// it and every table above it that empties with it (never the root).
    #[inline(never)]
    fn free_emptied(&mut self, va: VirtAddr, level: u8, alloc: &mut impl FrameAllocator) {
        let path = self.path(va, level);
        self.free_empty_path(&path, level, alloc);
    }

    /// Frees the level-`level` table on `path`, known to be empty, and the
    /// tables above it that empty with it, stopping at a pinned table, at the
    /// first that is not empty, and below the root.
    fn free_empty_path(
        &mut self,
        path: &[(PhysAddr, usize); Geometry::MAX_LEVELS],
        mut level: u8,
        alloc: &mut impl FrameAllocator,
    ) {
        let root_level = self.format.geometry().root_level();
        let mut known_empty = true;
        while level < root_level {
            let (child, idx) = path[level as usize];
            let (parent, parent_idx) = path[level as usize + 1];
            if self.format.is_pinned(self.entry(parent, parent_idx))
                || !(known_empty || self.is_empty(child, idx))
            {
                break;
            }
            self.forget_hint();
            self.set_entry(parent, parent_idx, <F::Entry as EntryWord>::ZERO);
            alloc.free_frame(child);
            known_empty = false;
            level += 1;
        }
    }

    /// Unmaps everything in `range`. Leaves that straddle an end are
    /// split; holes are skipped; tables left empty are freed (never the root).
    ///
    /// Needs frames only for splits; if they cannot be had, nothing changes.
    pub fn unmap_range(&mut self, range: VirtRange, alloc: &mut impl FrameAllocator) -> Result<Flush, Error> {
        let (va, len) = (range.start(), range.size());
        let g = self.format.geometry();
        check_range(g, va, len)?;
        if len == 0 {
            return Ok(Flush::none());
        }
        // The range may free tables, the hinted one among them.
        self.forget_hint();
        let needed = self.plan_splits(self.root, g.root_level(), va.as_u64(), len, Holes::Skip, false)?;
        let mut reserve =
            Reserve::take(&self.mem, alloc, needed).map_err(|got| Error::OutOfFrames { va, needed, got })?;
        let mut flush = Flush::none();
        let cleared =
            self.clear(self.root, g.root_level(), va.as_u64(), len, &mut reserve, alloc, &mut flush);
        reserve.release(&self.mem, alloc);
        cleared.map(|()| flush)
    }

    /// Clears the range below `table`; the plan has vouched for every step.
    #[allow(clippy::too_many_arguments)]
    fn clear(
        &self,
        table: PhysAddr,
        level: u8,
        va: u64,
        len: u64,
        reserve: &mut Reserve,
        alloc: &mut impl FrameAllocator,
        flush: &mut Flush,
    ) -> Result<(), Error> {
        for c in Chunks::<F::Entry>::new(va, len, level) {
            let raw = self.entry(table, c.idx);
            if !self.format.is_valid(raw) {
                continue;
            }
            let at = VirtAddr::new(c.va);
            match self.format.decode(raw, level) {
                Pte::Leaf { .. } if c.full => {
                    self.set_entry(table, c.idx, <F::Entry as EntryWord>::ZERO);
                    flush.add(at);
                }
                Pte::Leaf { pa, attrs } => {
                    let next = self.split_leaf(table, c.idx, at, level, raw, pa, attrs, reserve)?;
                    flush.add(at);
                    self.clear(next, level - 1, c.va, c.len, reserve, alloc, flush)?;
                }
                Pte::Table(next) if level > 0 => {
                    let pinned = self.format.is_pinned(raw);
                    if c.full && !pinned {
                        self.set_entry(table, c.idx, <F::Entry as EntryWord>::ZERO);
                        self.free_subtree(next, level - 1, alloc);
                        flush.add_run(at, c.len / PAGE_SIZE, PAGE_SIZE);
                    } else {
                        self.clear(next, level - 1, c.va, c.len, reserve, alloc, flush)?;
                        if !pinned && self.is_empty(next, index_for::<F::Entry>(c.va, level - 1)) {
                            self.set_entry(table, c.idx, <F::Entry as EntryWord>::ZERO);
                            alloc.free_frame(next);
                        }
                    }
                }
                _ => return Err(Error::CorruptEntry { va: at, level, raw: raw.into() }),
            }
        }
        Ok(())
    }
}

//! Unmapping: a page, or a range, freeing tables that become empty.

use crate::addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::paging::chunks::Chunks;
use crate::paging::geometry::check_range;
use crate::paging::reserve::Reserve;
use crate::paging::split::Holes;
use crate::paging::table::LeafHint;
use crate::paging::{Flush, FrameAllocator, Geometry, PageTable, PhysMemory, Pte, TableFormat};
use crate::Error;

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// Unmaps the page of `size` at `va`.
    ///
    /// [`Error::NotMapped`] if nothing maps `va`. Where a larger leaf covers the
    /// page it is split; where smaller leaves map it, they all go (as
    /// [`PageTable::unmap_range`] does). Tables left empty are freed.
    pub fn unmap(
        &mut self,
        va: VirtAddr,
        size: PageSize,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        let g = self.format.geometry();
        let leaf_level = g.leaf_level(size)?;
        if !va.is_aligned(size.bytes()) {
            return Err(Error::Misaligned {
                what: "virtual address",
                value: va.as_u64(),
                align: size.bytes(),
            });
        }
        g.check_canonical(va)?;
        if let Some(table) = self.hint.lookup(va).filter(|_| leaf_level == 0) {
            let idx = Geometry::index(va.as_u64(), 0);
            let raw = self.entry(table, idx);
            match self.format.decode(raw, 0) {
                Pte::Leaf { .. } => {}
                Pte::Absent => return Err(Error::NotMapped { va }),
                _ => return Err(Error::CorruptEntry { va, level: 0, raw }),
            }
            self.set_entry(table, idx, 0);
            if self.is_empty(table, idx) {
                let path = self.path_to_leaf_table(va, table);
                self.free_empty_path(&path, 0, alloc);
            }
            let mut flush = Flush::none();
            flush.add(va);
            return Ok(flush);
        }
        let mut path = [(PhysAddr::ZERO, 0usize); Geometry::MAX_LEVELS];
        let mut table = self.root;
        let mut level = g.root_level();
        loop {
            let idx = Geometry::index(va.as_u64(), level);
            path[level as usize] = (table, idx);
            let raw = self.entry(table, idx);
            if level > leaf_level {
                if let Some(next) = self.format.next_table(raw, level) {
                    table = next;
                    level -= 1;
                    continue;
                }
            }
            if !self.format.is_valid(raw) {
                return Err(Error::NotMapped { va });
            }
            match self.format.decode(raw, level) {
                Pte::Leaf { .. } if level == leaf_level => break,
                Pte::Table(next) if level > leaf_level => {
                    table = next;
                    level -= 1;
                }
                // A larger leaf to split, or smaller leaves: the range path.
                Pte::Leaf { .. } | Pte::Table(_) => return self.unmap_range(va, size.bytes(), alloc),
                _ => return Err(Error::CorruptEntry { va, level, raw }),
            }
        }
        self.set_entry(table, path[level as usize].1, 0);
        let mut flush = Flush::none();
        flush.add(va);
        if level == 0 {
            self.hint = LeafHint::new(va, table);
        }
        self.free_empty_path(&path, level, alloc);
        Ok(flush)
    }

    /// The tables and indices from the root down to `leaf_table`, the level-0
    /// table that holds `va`'s entry.
    fn path_to_leaf_table(
        &self,
        va: VirtAddr,
        leaf_table: PhysAddr,
    ) -> [(PhysAddr, usize); Geometry::MAX_LEVELS] {
        let mut path = [(PhysAddr::ZERO, 0usize); Geometry::MAX_LEVELS];
        let mut table = self.root;
        for level in (1..=self.format.geometry().root_level()).rev() {
            let idx = Geometry::index(va.as_u64(), level);
            path[level as usize] = (table, idx);
            // The hint guarantees pointers all the way down.
            table = self.format.next_table(self.entry(table, idx), level).unwrap_or(leaf_table);
        }
        path[0] = (leaf_table, Geometry::index(va.as_u64(), 0));
        path
    }

    /// Frees the tables on `path` (from `level` up, never the root) that are
    /// empty, stopping at the first that is not.
    fn free_empty_path(
        &mut self,
        path: &[(PhysAddr, usize); Geometry::MAX_LEVELS],
        mut level: u8,
        alloc: &mut impl FrameAllocator,
    ) {
        let root_level = self.format.geometry().root_level();
        while level < root_level {
            let (child, idx) = path[level as usize];
            if !self.is_empty(child, idx) {
                break;
            }
            self.forget_hint();
            let (parent, parent_idx) = path[level as usize + 1];
            self.set_entry(parent, parent_idx, 0);
            alloc.free_frame(child);
            level += 1;
        }
    }

    /// Unmaps everything in `[va, va + len)`. Leaves that straddle an end are
    /// split; holes are skipped; tables left empty are freed (never the root).
    ///
    /// Needs frames only for splits; if they cannot be had, nothing changes.
    pub fn unmap_range(
        &mut self,
        va: VirtAddr,
        len: u64,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
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
        for c in Chunks::new(va, len, level) {
            let raw = self.entry(table, c.idx);
            if !self.format.is_valid(raw) {
                continue;
            }
            let at = VirtAddr::new(c.va);
            match self.format.decode(raw, level) {
                Pte::Leaf { .. } if c.full => {
                    self.set_entry(table, c.idx, 0);
                    flush.add(at);
                }
                Pte::Leaf { pa, attrs } => {
                    let next = self.split_leaf(table, c.idx, level, pa, attrs, reserve)?;
                    flush.add(at);
                    self.clear(next, level - 1, c.va, c.len, reserve, alloc, flush)?;
                }
                Pte::Table(next) if level > 0 => {
                    if c.full {
                        self.set_entry(table, c.idx, 0);
                        self.free_subtree(next, level - 1, alloc);
                        flush.add_run(at, c.len / PAGE_SIZE, PAGE_SIZE);
                    } else {
                        self.clear(next, level - 1, c.va, c.len, reserve, alloc, flush)?;
                        if self.is_empty(next, Geometry::index(c.va, level - 1)) {
                            self.set_entry(table, c.idx, 0);
                            alloc.free_frame(next);
                        }
                    }
                }
                _ => return Err(Error::CorruptEntry { va: at, level, raw }),
            }
        }
        Ok(())
    }
}

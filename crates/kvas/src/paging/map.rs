//! Mapping: one page, or a range with the largest leaves its alignment allows.
//!
//! A range is mapped in three steps. The *plan* walks the range once, finds any
//! mapping in the way and counts the table frames the range needs; the
//! *reserve* takes exactly that many frames (or gives them back and fails); the
//! *fill* writes entries and cannot fail. So an error always leaves the tables
//! as they were, and no frame leaks.
//!
//! The fill writes runs of leaves with one pass over each table, and the plan
//! counts the frames that missing subtrees need arithmetically (all full-size
//! chunks of a level have the same shape), so neither walks per page.

use core::marker::PhantomData;

use crate::addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::paging::chunks::Chunks;
use crate::paging::geometry::check_range;
use crate::paging::geometry::{granularity_for, index_for, leaf_level_within_for};
use crate::paging::reserve::Reserve;
use crate::paging::table::HINT_LEVELS;
use crate::paging::EntryWord;
use crate::paging::{Attrs, Flush, FrameAllocator, Geometry, PageTable, PhysMemory, Pte, TableFormat};
use crate::range::VirtRange;
use crate::Error;

/// One range request, passed down the recursion, for tables of `E` entries.
struct Request<E> {
    attrs: Attrs,
    max_leaf: u8,
    entry: PhantomData<E>,
}

impl<E> Clone for Request<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Request<E> {}

impl<E: EntryWord> Request<E> {
    /// Whether `[va, va + len)` → `pa` can be one leaf at `level`.
    #[inline(always)]
    fn leafable(self, level: u8, va: u64, pa: u64, len: u64) -> bool {
        let gran = granularity_for::<E>(level);
        level <= self.max_leaf && len == gran && (va | pa) & (gran - 1) == 0
    }

    /// Tables needed to map `[va, va + len)` inside a *new* level-`level` table.
    fn tables_below_new(self, level: u8, va: u64, pa: u64, len: u64) -> u64 {
        let gran = granularity_for::<E>(level);
        let (mut va, mut pa, mut remaining) = (va, pa, len);
        let mut need = 0;
        let head = (gran - (va & (gran - 1))) & (gran - 1);
        if head != 0 {
            let chunk = head.min(remaining);
            need += self.chunk_cost(level, va, pa, chunk);
            (va, pa, remaining) = (va + chunk, pa + chunk, remaining - chunk);
        }
        let full = remaining / gran;
        if full > 0 {
            // Every full chunk has the same alignment relative to its level.
            need += full * self.chunk_cost(level, va, pa, gran);
            (va, pa, remaining) = (va + full * gran, pa + full * gran, remaining - full * gran);
        }
        if remaining > 0 {
            need += self.chunk_cost(level, va, pa, remaining);
        }
        need
    }

    /// Tables needed for one chunk of a new level-`level` table.
    fn chunk_cost(self, level: u8, va: u64, pa: u64, len: u64) -> u64 {
        if level == 0 || self.leafable(level, va, pa, len) {
            0
        } else {
            1 + self.tables_below_new(level - 1, va, pa, len)
        }
    }
}

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// Maps one page of `size` at `va` to `pa`.
    ///
    /// Fails with [`Error::AlreadyMapped`] if any mapping is in the way, and with
    /// [`Error::OutOfFrames`] if a table cannot be had; either way the tables are
    /// as they were.
    #[inline(always)]
    pub fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: PageSize,
        attrs: Attrs,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        let level = size.level();
        // (The size test folds away for a constant size; it keeps a 2 MiB
        // request off a 4 MiB level in 1024-entry tables.)
        if (level as usize) < HINT_LEVELS
            && size.bytes() == granularity_for::<F::Entry>(level)
            && va.is_aligned(size.bytes())
            && pa.is_aligned(size.bytes())
        {
            if let Some(table) = self.hints[level as usize].lookup_leaf::<F::Entry>(level, va) {
                // A hit stands for a canonical address (see `translate`), and
                // for a mode with leaves of this size.
                self.format.check_leaf(pa, size.bytes(), attrs)?;
                return self.put_leaf(table, va, pa, attrs, level);
            }
            if level == 0 && HINT_LEVELS > 1 {
                if let Some(upper) = self.hints[1].lookup::<F::Entry>(1, va) {
                    // The walk starts at the hinted level-1 table.
                    self.format.check_leaf(pa, size.bytes(), attrs)?;
                    let raw = self.entry(upper, index_for::<F::Entry>(va.as_u64(), 1));
                    if let Some(table) = self.format.next_table(raw, 1) {
                        let flush = self.put_leaf(table, va, pa, attrs, 0)?;
                        self.remember(0, va, table);
                        return Ok(flush);
                    }
                    if !self.format.is_valid(raw) {
                        // No level-0 table yet: make it, with the leaf in it.
                        return self.fill_leaf_table(upper, va, pa, attrs, alloc);
                    }
                    // A leaf or a reserved entry in the way: the walk reports it.
                }
            }
        }
        self.map_walk(va, pa, size, attrs, alloc)
    }

    /// [`Geometry::check_page`](crate::paging::Geometry::check_page) with the
    /// entry width's test on the format's constants, so that for a constant
    /// `size` it folds away.
    #[inline(always)]
    pub(super) fn check_page(&self, va: VirtAddr, size: PageSize) -> Result<u8, Error> {
        let g = self.format.geometry();
        if size.bytes() != granularity_for::<F::Entry>(size.level()) {
            return Err(Error::UnsupportedPageSize { size, levels: g.levels() });
        }
        g.check_page_of_width(va, size)
    }

    /// [`PageTable::fill_hole`] of a 4 KiB page whose level-1 entry in
    /// `upper` is free, out of line (the hinted `map` path stays small).
    #[inline(never)]
    fn fill_leaf_table(
        &mut self,
        upper: PhysAddr,
        va: VirtAddr,
        pa: PhysAddr,
        attrs: Attrs,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        self.fill_hole(upper, 1, va, 0, pa, attrs, alloc)
    }

    /// The walking part of [`PageTable::map`], out of line.
    #[inline(never)]
    fn map_walk(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: PageSize,
        attrs: Attrs,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        let leaf_level = self.check_page(va, size)?;
        if !pa.is_aligned(size.bytes()) {
            return Err(Error::Misaligned {
                what: "physical address",
                value: pa.as_u64(),
                align: size.bytes(),
            });
        }
        self.format.check_leaf(pa, size.bytes(), attrs)?;
        let (table, level, raw) = self.walk_remembering(va, leaf_level);
        if level == leaf_level || self.format.is_valid(raw) {
            let flush = self.put_leaf_checked(table, va, pa, attrs, level, leaf_level, raw)?;
            self.remember(leaf_level, va, table);
            return Ok(flush);
        }
        self.fill_hole(table, level, va, leaf_level, pa, attrs, alloc)
    }

    /// Maps a leaf for `va` at `leaf_level` below `table`'s entry for `va`, an
    /// invalid entry at `level` (at least `leaf_level`): the one place where
    /// single-page maps take, clear and link new tables (for [`PageTable::map`]
    /// and [`crate::paging::VacantEntry::map`]; `map_range` takes its frames
    /// from a reserve).
    ///
    /// Either every missing table is made or none: if a frame cannot be had,
    /// the ones taken go back to `alloc` and the tables are as they were. One
    /// missing table (the common case: a new leaf table) is taken, cleared
    /// (whose release fence orders the clear before the link), linked, and
    /// the leaf written into it, inline here. Two or more go to
    /// [`PageTable::fill_chain`]. Remembers the leaf's table, and for a 4 KiB
    /// leaf its level-1 table (which the caller's hint or walk already names
    /// when that table existed).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn fill_hole(
        &mut self,
        table: PhysAddr,
        level: u8,
        va: VirtAddr,
        leaf_level: u8,
        pa: PhysAddr,
        attrs: Attrs,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        debug_assert!(
            leaf_level <= level
                && !self.format.is_valid(self.entry(table, index_for::<F::Entry>(va.as_u64(), level)))
        );
        let needed = level - leaf_level;
        if needed == 1 {
            // The common case, one missing table (a new leaf table under an
            // existing level-1 table): with one frame, a failure can only be
            // the allocation, before anything is written, so the cleared
            // table is linked first (the clear's fence orders it) and the
            // leaf written into it: no chain to build, no second fence.
            let frame = alloc.allocate_frame().ok_or(Error::OutOfFrames { va, needed: 1, got: 0 })?;
            self.clear_frame(frame);
            self.set_entry(table, index_for::<F::Entry>(va.as_u64(), level), self.format.encode_table(frame));
            let leaf = self.format.encode_leaf(pa, attrs, leaf_level);
            self.set_entry(frame, index_for::<F::Entry>(va.as_u64(), leaf_level), leaf);
            self.remember(leaf_level, va, frame);
            // For a 4 KiB leaf `table` is the level-1 table, which every caller
            // reached through the level-1 hint or a walk that remembered it.
            debug_assert!(leaf_level != 0 || self.hints[1].lookup::<F::Entry>(1, va) == Some(table));
            return Ok(Flush::page(va));
        }
        self.fill_chain(table, level, va, leaf_level, pa, attrs, alloc)
    }

    /// [`PageTable::fill_hole`] of two or more missing tables, out of line: all
    /// the frames are taken first; then they are cleared, the leaf and the
    /// links between them written, and the top one linked into `table` last,
    /// after a release fence: one store makes the whole chain reachable, and a
    /// walker that sees it sees the rest.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn fill_chain(
        &mut self,
        table: PhysAddr,
        level: u8,
        va: VirtAddr,
        leaf_level: u8,
        pa: PhysAddr,
        attrs: Attrs,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        let needed = level - leaf_level;
        // chain[k] becomes the table at level `level - 1 - k`.
        let mut chain = [PhysAddr::ZERO; Geometry::MAX_LEVELS];
        for k in 0..usize::from(needed) {
            let Some(frame) = alloc.allocate_frame() else {
                for &frame in chain[..k].iter().rev() {
                    alloc.free_frame(frame);
                }
                return Err(Error::OutOfFrames { va, needed: u64::from(needed), got: k as u64 });
            };
            chain[k] = frame;
        }
        let chain = &chain[..usize::from(needed)];
        let leaf_table = chain.last().copied().unwrap_or(table);
        for (k, &frame) in chain.iter().enumerate() {
            self.clear_frame(frame);
            if let Some(&child) = chain.get(k + 1) {
                let child_level = level - 1 - k as u8;
                let idx = index_for::<F::Entry>(va.as_u64(), child_level);
                self.set_entry(frame, idx, self.format.encode_table(child));
            }
        }
        let leaf = self.format.encode_leaf(pa, attrs, leaf_level);
        self.set_entry(leaf_table, index_for::<F::Entry>(va.as_u64(), leaf_level), leaf);
        if let Some(&top) = chain.first() {
            // The links and the leaf written into the new tables since the last
            // clear's fence come before the store that publishes them.
            core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
            self.set_entry(table, index_for::<F::Entry>(va.as_u64(), level), self.format.encode_table(top));
        }
        self.remember(leaf_level, va, leaf_table);
        if leaf_level == 0 {
            // The level-1 table, linked just now (`level` is 2 or more here).
            self.remember(1, va, chain[usize::from(level) - 2]);
        }
        Ok(Flush::page(va))
    }

    /// Writes a leaf into an entry the caller knows to be free of pointers; fails
    /// if the entry is valid. It does not touch the hints: a caller that
    /// reached `table` other than through its hint remembers it.
    #[inline(always)]
    fn put_leaf(
        &mut self,
        table: PhysAddr,
        va: VirtAddr,
        pa: PhysAddr,
        attrs: Attrs,
        level: u8,
    ) -> Result<Flush, Error> {
        let idx = index_for::<F::Entry>(va.as_u64(), level);
        if self.format.is_valid(self.entry(table, idx)) {
            return Err(Error::AlreadyMapped { va, level });
        }
        self.set_entry(table, idx, self.format.encode_leaf(pa, attrs, level));
        Ok(Flush::page(va))
    }

    /// The walk stopped at `level` on entry `raw`: the leaf's own slot, or a
    /// valid non-pointer above it (a leaf in the way, or a reserved entry).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn put_leaf_checked(
        &mut self,
        table: PhysAddr,
        va: VirtAddr,
        pa: PhysAddr,
        attrs: Attrs,
        level: u8,
        leaf_level: u8,
        raw: F::Entry,
    ) -> Result<Flush, Error> {
        if level == leaf_level {
            return self.put_leaf(table, va, pa, attrs, level);
        }
        match self.format.decode(raw, level) {
            Pte::Leaf { .. } => Err(Error::AlreadyMapped { va, level }),
            _ => Err(Error::CorruptEntry { va, level, raw: raw.into() }),
        }
    }

    /// Maps `range` to the same number of bytes from `pa`, each piece with the
    /// largest leaf that the alignment of both addresses and the remaining length
    /// allow, but no larger than `max` (a `max` beyond the mode's largest leaf
    /// means "the largest the mode has"). The range must be page-aligned and in
    /// the mode's address space.
    ///
    /// Where a table already exists (a pinned one, say), the range is mapped
    /// inside it with smaller leaves. Fails whole, leaving the tables untouched,
    /// if anything in the range is mapped already, or if the allocator cannot
    /// give every table the range needs.
    pub fn map_range(
        &mut self,
        range: VirtRange,
        pa: PhysAddr,
        attrs: Attrs,
        max: PageSize,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        let (va, len) = (range.start(), range.size());
        let g = self.format.geometry();
        check_range(g, va, len)?;
        if !pa.is_aligned(PAGE_SIZE) {
            return Err(Error::Misaligned { what: "physical address", value: pa.as_u64(), align: PAGE_SIZE });
        }
        self.format.check_leaf(pa, len, attrs)?;
        if len == 0 {
            return Ok(Flush::none());
        }
        // The largest leaf no larger than `max` (with Sv32's 1024 entries,
        // level 1 maps 4 MiB, too large for a `max` of 2 MiB).
        let max_leaf = leaf_level_within_for::<F::Entry>(g, max);
        let req = Request { attrs, max_leaf, entry: PhantomData };
        let needed = self.plan_map(self.root, g.root_level(), va.as_u64(), pa.as_u64(), len, req)?;
        let mut reserve =
            Reserve::take(&self.mem, alloc, needed).map_err(|got| Error::OutOfFrames { va, needed, got })?;
        let mut flush = Flush::none();
        let filled = self.fill(
            self.root,
            g.root_level(),
            va.as_u64(),
            pa.as_u64(),
            len,
            req,
            &mut reserve,
            &mut flush,
        );
        reserve.release(&self.mem, alloc);
        filled.map(|()| flush)
    }

    /// Counts the tables a range needs below `table`, or finds what is in the way.
    fn plan_map(
        &self,
        table: PhysAddr,
        level: u8,
        va: u64,
        pa: u64,
        len: u64,
        req: Request<F::Entry>,
    ) -> Result<u64, Error> {
        let mut need = 0;
        for c in Chunks::<F::Entry>::new(va, len, level) {
            let cpa = pa + (c.va - va);
            let raw = self.entry(table, c.idx);
            if !self.format.is_valid(raw) {
                if !req.leafable(level, c.va, cpa, c.len) {
                    need += 1 + req.tables_below_new(level - 1, c.va, cpa, c.len);
                }
                continue;
            }
            let at = VirtAddr::new(c.va);
            match self.format.decode(raw, level) {
                // An existing table, even where a leaf could go (it may be an
                // empty pinned table): map inside it with smaller leaves.
                Pte::Table(next) if level > 0 => {
                    need += self.plan_map(next, level - 1, c.va, cpa, c.len, req)?
                }
                Pte::Table(_) | Pte::Leaf { .. } => return Err(Error::AlreadyMapped { va: at, level }),
                Pte::Reserved | Pte::Absent => {
                    return Err(Error::CorruptEntry { va: at, level, raw: raw.into() })
                }
            }
        }
        Ok(need)
    }

    /// Writes the range's entries below `table`; the plan has vouched for every step.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        table: PhysAddr,
        level: u8,
        va: u64,
        pa: u64,
        len: u64,
        req: Request<F::Entry>,
        reserve: &mut Reserve,
        flush: &mut Flush,
    ) -> Result<(), Error> {
        let gran = granularity_for::<F::Entry>(level);
        let (mut va, mut pa, mut remaining) = (va, pa, len);
        while remaining > 0 {
            let idx = index_for::<F::Entry>(va, level);
            if req.leafable(level, va, pa, gran.min(remaining)) {
                let mut run = ((remaining / gran) as usize).min(<F::Entry as EntryWord>::ENTRIES - idx);
                if level > 0 {
                    // Stop before an existing table (the plan saw it and counted on
                    // mapping inside it); at level 0 nothing valid is left in range.
                    run = self.free_run(table, idx, run);
                }
                if run > 0 {
                    self.fill_leaves(table, idx, run, PhysAddr::new_truncate(pa), req.attrs, level);
                    flush.add_run(VirtAddr::new(va), run as u64, gran);
                    let bytes = run as u64 * gran;
                    (va, pa, remaining) = (va.wrapping_add(bytes), pa + bytes, remaining - bytes);
                    continue;
                }
            }
            let chunk = (gran - (va & (gran - 1))).min(remaining);
            let raw = self.entry(table, idx);
            let next = if self.format.is_valid(raw) {
                match self.format.decode(raw, level) {
                    Pte::Table(next) => next,
                    _ => return Err(Error::CorruptEntry { va: VirtAddr::new(va), level, raw: raw.into() }),
                }
            } else {
                let frame = reserve.pop(&self.mem).ok_or(Error::OutOfFrames {
                    va: VirtAddr::new(va),
                    needed: 1,
                    got: 0,
                })?;
                self.clear_frame(frame);
                self.set_entry(table, idx, self.format.encode_table(frame));
                frame
            };
            self.fill(next, level - 1, va, pa, chunk, req, reserve, flush)?;
            (va, pa, remaining) = (va.wrapping_add(chunk), pa + chunk, remaining - chunk);
        }
        Ok(())
    }
}

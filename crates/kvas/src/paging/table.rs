//! [`PageTable`]: a root frame, a format and a view of physical memory.
//!
//! # Invariant
//!
//! Every physical address the engine reads or writes entries of is a *table
//! frame*: the root, a frame the engine took from a [`FrameAllocator`], or a frame
//! reachable from the root when the table was adopted with
//! [`PageTable::from_root`]. [`PhysMemory`]'s contract makes each of them valid
//! for 4 KiB, and indices are always below 512, so the few `unsafe` blocks here
//! (all entry accesses go through [`PageTable::entry`], [`PageTable::set_entry`],
//! [`PageTable::clear_frame`] and [`PageTable::fill_leaves`]) stay in bounds.
//!
//! Entries are read and written with volatile accesses, as Linux uses
//! `READ_ONCE`/`WRITE_ONCE`: a hardware walker may read them at any time.

use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::paging::geometry::{granularity_for, index_for, shift_for};
use crate::paging::iter::Visit;
use crate::paging::EntryWord;
use crate::paging::{Attrs, FrameAllocator, Geometry, PhysMemory, Pte, TableFormat};
use crate::Error;

/// A page table whose depth is the format's run-time geometry.
///
/// Only the mutating calls (`&mut self`) keep state between calls, the table
/// hints; [`PageTable::translate`] and the other `&self` calls store nothing.
/// So the type has no interior mutability: it is `Sync` whenever its format
/// and memory view are (an [`crate::paging::OffsetMemory`] is), and
/// translations through a shared reference are independent of each other.
pub struct PageTable<F: TableFormat, M: PhysMemory> {
    pub(super) format: F,
    pub(super) mem: M,
    pub(super) root: PhysAddr,
    /// The last level-0 and level-1 tables a single-page map or unmap (or
    /// `entry_at`'s walk) reached: a one-entry paging-structure cache per
    /// level, as hardware keeps, so that
    /// runs of neighbouring 4 KiB or 2 MiB pages skip the upper levels. See
    /// [`LeafHint`]. Written only by `&mut self` paths.
    pub(super) hints: [LeafHint; HINT_LEVELS],
}

/// How many levels keep a hint: level 0 (4 KiB leaves) and level 1 (2 MiB).
pub(super) const HINT_LEVELS: usize = 2;

/// Which level-`L` table holds the entries for one aligned stretch of VA
/// (2 MiB for a level-0 table, 1 GiB for a level-1 table).
///
/// Only tables are cached, never entries, so the hint stays true as entries
/// come and go; it goes stale only when its table is freed, and every path
/// that frees a table clears it first ([`PageTable::forget_hint`]).
#[derive(Clone, Copy)]
pub(super) struct LeafHint {
    /// `va >> shift(L + 1)` of the stretch, or `u64::MAX` (no VA shifts to it)
    /// for none.
    tag: u64,
    /// `tag` if the mode allows leaves at level `L`, else `u64::MAX`: a
    /// single-page map of that size compares with it, and so needs no look at
    /// the run-time geometry. Level 0, where every mode has leaves, compares
    /// `tag` instead, and its hint leaves this field as it is (one store less
    /// on every 4 KiB map and fault).
    leaf_tag: u64,
    table: PhysAddr,
}

/// No table remembered at any level.
const NO_HINTS: [LeafHint; HINT_LEVELS] = [LeafHint::NONE; HINT_LEVELS];

impl LeafHint {
    pub(super) const NONE: Self = Self { tag: u64::MAX, leaf_tag: u64::MAX, table: PhysAddr::ZERO };

    /// The hint that `table`, a level-`level` table, holds `va`'s entry, in a
    /// mode whose leaves may sit at levels up to `max_leaf_level`.
    pub(super) const fn new<E: EntryWord>(
        level: u8,
        va: VirtAddr,
        table: PhysAddr,
        max_leaf_level: u8,
    ) -> Self {
        let tag = va.as_u64() >> shift_for::<E>(level + 1);
        let leaf_tag = if level <= max_leaf_level { tag } else { u64::MAX };
        Self { tag, leaf_tag, table }
    }

    /// The level-`level` table that holds `va`'s entry, if this hint knows it.
    #[inline(always)]
    pub(super) fn lookup<E: EntryWord>(self, level: u8, va: VirtAddr) -> Option<PhysAddr> {
        (self.tag == va.as_u64() >> shift_for::<E>(level + 1)).then_some(self.table)
    }

    /// As [`LeafHint::lookup`], but only if the mode allows leaves at `level`.
    #[inline(always)]
    pub(super) fn lookup_leaf<E: EntryWord>(self, level: u8, va: VirtAddr) -> Option<PhysAddr> {
        let tag = if level == 0 { self.tag } else { self.leaf_tag };
        (tag == va.as_u64() >> shift_for::<E>(level + 1)).then_some(self.table)
    }
}

/// Where a virtual address leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address of the byte at the translated virtual address.
    pub pa: PhysAddr,
    /// The leaf's attributes.
    pub attrs: Attrs,
    /// The leaf's size.
    pub size: PageSize,
}

/// One leaf of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The first virtual address the leaf maps.
    pub va: VirtAddr,
    /// The physical address it maps to.
    pub pa: PhysAddr,
    /// The leaf's size.
    pub size: PageSize,
    /// The leaf's attributes.
    pub attrs: Attrs,
}

/// How many table frames and leaves a table holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Table frames, the root included.
    pub tables: u64,
    /// Leaves by level: `leaves[0]` counts 4 KiB leaves, `leaves[1]` 2 MiB
    /// (4 MiB in Sv32), ...
    pub leaves: [u64; Geometry::MAX_LEVELS],
    /// The bytes all leaves map (each leaf counted at its own size, so this is
    /// right for every geometry, Sv32's 4 MiB leaves included).
    pub bytes: u64,
}

impl TableStats {
    /// The number of leaves at `size`'s level (for an Sv32 table, level 1's
    /// leaves are [`PageSize::Size4M`]).
    pub const fn leaves_of(&self, size: PageSize) -> u64 {
        self.leaves[size.level() as usize]
    }

    /// The bytes all leaves map.
    pub const fn mapped_bytes(&self) -> u64 {
        self.bytes
    }
}

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// An empty table: takes one frame for the root and clears it.
    pub fn new(format: F, mem: M, alloc: &mut impl FrameAllocator) -> Result<Self, Error> {
        // The format's contract (see `TableFormat::Entry`); each format's tests
        // check it, and a debug build here.
        debug_assert_eq!(format.geometry().index_bits(), <F::Entry as EntryWord>::INDEX_BITS);
        let root =
            alloc.allocate_frame().ok_or(Error::OutOfFrames { va: VirtAddr::ZERO, needed: 1, got: 0 })?;
        if !root.is_aligned(crate::PAGE_SIZE) {
            alloc.free_frame(root);
            return Err(Error::Misaligned {
                what: "root table frame",
                value: root.as_u64(),
                align: crate::PAGE_SIZE,
            });
        }
        let table = Self { format, mem, root, hints: NO_HINTS };
        table.clear_frame(root);
        Ok(table)
    }

    /// Adopts an existing table.
    ///
    /// # Safety
    ///
    /// `root`, and every table frame reachable from it through valid non-leaf
    /// entries, must be a 4 KiB table frame that `mem` reaches as [`PhysMemory`]
    /// promises, used by nothing else while this value lives, and laid out in
    /// `format`. Frames freed by later calls go to the allocator passed to them,
    /// so they must have come from a compatible allocator.
    pub unsafe fn from_root(format: F, mem: M, root: PhysAddr) -> Self {
        Self { format, mem, root, hints: NO_HINTS }
    }

    /// The root table's physical address (what `satp`, CR3 or TTBR points at).
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// The table's format (and so its run-time geometry).
    pub fn format(&self) -> F {
        self.format
    }

    /// The physical-memory view the engine uses.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Where `va` leads, or [`Error::NotMapped`].
    ///
    /// It reads entries and stores nothing, so translations of independent
    /// addresses do not wait for each other and a core overlaps their cache
    /// misses. Where `va` lies in the 1 GiB whose level-1 table the last
    /// single-page map, unmap or [`PageTable::entry_at`] reached (the level-1
    /// hint, which only those `&mut self` calls write), the walk starts at that
    /// table, as a hardware walker starts at a paging-structure cache hit: that
    /// part is inlined into the caller, with a 4 KiB leaf decoded right there. Otherwise an
    /// out-of-line walk branches once on the run-time depth to a walk unrolled
    /// for that depth (as the private `PageTable::walk` does).
    #[inline(always)]
    pub fn translate(&self, va: VirtAddr) -> Result<Translation, Error> {
        // A hit stands for a canonical address: the tag holds bits 63..30 (63..32
        // in Sv32) of an address already checked, and canonical form is decided
        // by bits 38 (32) and up.
        // (The level-0 hint is not consulted: on this path its test cost more, two
        // instructions in every random translation, than its hits saved.)
        if let Some(table) = self.hints[1].lookup::<F::Entry>(1, va) {
            return self.translate_below(va, table, 1);
        }
        self.translate_walk(va)
    }

    /// [`PageTable::translate`] from the root. Out of line, so that what is
    /// inlined at every call site is the same few instructions at every depth.
    #[inline(never)]
    fn translate_walk(&self, va: VirtAddr) -> Result<Translation, Error> {
        match self.format.geometry().root_level() {
            2 => self.translate_from(va, 2),
            3 => self.translate_from(va, 3),
            4 => self.translate_from(va, 4),
            root => self.translate_from(va, root),
        }
    }

    /// [`PageTable::translate`] from the root, at `root_level`, a constant
    /// where it is inlined, so that the loop unrolls.
    #[inline(always)]
    fn translate_from(&self, va: VirtAddr, root_level: u8) -> Result<Translation, Error> {
        self.format.geometry().check_canonical(va)?;
        self.translate_below(va, self.root, root_level)
    }

    /// [`PageTable::translate`] of a canonical `va` from `table`, the
    /// level-`level` table on its path.
    #[inline(always)]
    fn translate_below(&self, va: VirtAddr, table: PhysAddr, level: u8) -> Result<Translation, Error> {
        let (mut table, mut level) = (table, level);
        while level > 0 {
            let raw = self.entry(table, index_for::<F::Entry>(va.as_u64(), level));
            match self.format.next_table(raw, level) {
                Some(next) => table = next,
                // A hole or a larger leaf. Each unrolled level exits on its
                // own, so `level` is a constant there.
                None => return self.translate_stop(va, level, raw),
            }
            level -= 1;
        }
        let raw = self.entry(table, index_for::<F::Entry>(va.as_u64(), 0));
        if let Some((pa, attrs)) = self.format.leaf(raw, 0) {
            let pa = pa.add(va.as_u64() & (crate::PAGE_SIZE - 1));
            return Ok(Translation { pa, attrs, size: PageSize::Size4K });
        }
        if !self.format.is_valid(raw) {
            return Err(Error::NotMapped { va });
        }
        Err(Error::CorruptEntry { va, level: 0, raw: raw.into() })
    }

    /// The walk of `va` stopped above level 0 on `raw`, at `level` (a
    /// constant on the inlined hinted path): a hole, a larger leaf, or an entry
    /// the format refuses.
    #[inline(always)]
    fn translate_stop(&self, va: VirtAddr, level: u8, raw: F::Entry) -> Result<Translation, Error> {
        if !self.format.is_valid(raw) {
            return Err(Error::NotMapped { va });
        }
        self.translate_other(va, level, raw)
    }

    /// The walk of `va` stopped at `level` on `raw`, a valid entry that is not
    /// a pointer: a leaf, or an entry the format refuses. Out of line and
    /// cold: the hot paths end in a 4 KiB leaf or a hole.
    #[cold]
    #[inline(never)]
    pub(super) fn translate_other(
        &self,
        va: VirtAddr,
        level: u8,
        raw: F::Entry,
    ) -> Result<Translation, Error> {
        match self.format.leaf(raw, level) {
            Some((pa, attrs)) if level <= self.format.geometry().max_leaf_level() => {
                let offset = va.as_u64() & (granularity_for::<F::Entry>(level) - 1);
                let size = self.format.geometry().page_size(level);
                let size = size.ok_or(Error::CorruptEntry { va, level, raw: raw.into() })?;
                Ok(Translation { pa: pa.add(offset), attrs, size })
            }
            _ => Err(Error::CorruptEntry { va, level, raw: raw.into() }),
        }
    }

    /// Follows well-formed pointers from the root towards `va`, stopping at
    /// `stop` or at the first entry that is not a pointer. Returns the table,
    /// the level and the raw entry found there.
    ///
    /// One branch on the run-time depth picks an arm with a constant depth that
    /// the compiler unrolls: the software form of Linux's folded levels.
    #[inline(always)]
    pub(super) fn walk(&self, va: VirtAddr, stop: u8) -> (PhysAddr, u8, F::Entry) {
        match self.format.geometry().root_level() {
            2 => self.descend(va, 2, stop),
            3 => self.descend(va, 3, stop),
            4 => self.descend(va, 4, stop),
            root => self.descend(va, root, stop),
        }
    }

    #[inline(always)]
    fn descend(&self, va: VirtAddr, root_level: u8, stop: u8) -> (PhysAddr, u8, F::Entry) {
        let mut table = self.root;
        let mut level = root_level;
        loop {
            let raw = self.entry(table, index_for::<F::Entry>(va.as_u64(), level));
            if level == stop {
                return (table, level, raw);
            }
            match self.format.next_table(raw, level) {
                Some(next) => table = next,
                None => return (table, level, raw),
            }
            level -= 1;
        }
    }

    /// [`PageTable::walk`] towards a level-`leaf_level` leaf that, for a 4 KiB
    /// leaf, remembers the level-1 table it passes, so that the next 4 KiB maps
    /// and translations in the same 1 GiB start there. It reads exactly the
    /// entries a plain walk reads (a fixmap-window `PhysMemory` pays per read).
    pub(super) fn walk_remembering(&mut self, va: VirtAddr, leaf_level: u8) -> (PhysAddr, u8, F::Entry) {
        if leaf_level != 0 || HINT_LEVELS < 2 {
            return self.walk(va, leaf_level);
        }
        let (upper, level, raw) = self.walk(va, 1);
        if level != 1 {
            return (upper, level, raw);
        }
        self.remember(1, va, upper);
        match self.format.next_table(raw, 1) {
            Some(table) => (table, 0, self.entry(table, index_for::<F::Entry>(va.as_u64(), 0))),
            None => (upper, 1, raw),
        }
    }

    /// The tables and indices from the root down to the level-`to` table on
    /// `va`'s path, which must consist of pointers. Slots below `to` are unused.
    pub(super) fn path(&self, va: VirtAddr, to: u8) -> [(PhysAddr, usize); Geometry::MAX_LEVELS] {
        let mut path = [(PhysAddr::ZERO, 0usize); Geometry::MAX_LEVELS];
        let mut table = self.root;
        for level in (to..=self.format.geometry().root_level()).rev() {
            let idx = index_for::<F::Entry>(va.as_u64(), level);
            path[level as usize] = (table, idx);
            if level > to {
                match self.format.next_table(self.entry(table, idx), level) {
                    Some(next) => table = next,
                    None => break,
                }
            }
        }
        path
    }

    /// Counts table frames (root included) and leaves per level.
    pub fn stats(&self) -> Result<TableStats, Error> {
        let mut stats = TableStats::default();
        for item in self.walk_tables() {
            match item? {
                Visit::Table => stats.tables += 1,
                Visit::Leaf(m) => {
                    stats.leaves[m.size.level() as usize] += 1;
                    stats.bytes = stats.bytes.saturating_add(m.size.bytes());
                }
            }
        }
        Ok(stats)
    }

    /// Frees every table frame, the root included. The pages the leaves map are
    /// not touched: they belong to whoever mapped them. Entries that the format
    /// reserves are not followed.
    pub fn destroy(self, alloc: &mut impl FrameAllocator) {
        let g = self.format.geometry();
        self.free_subtree(self.root, g.root_level(), alloc);
    }

    pub(super) fn free_subtree(&self, table: PhysAddr, level: u8, alloc: &mut impl FrameAllocator) {
        if level > 0 {
            for idx in 0..<F::Entry as EntryWord>::ENTRIES {
                if let Pte::Table(next) = self.format.decode(self.entry(table, idx), level) {
                    self.free_subtree(next, level - 1, alloc);
                }
            }
        }
        alloc.free_frame(table);
    }

    /// Drops the table hints; called before any table is freed.
    #[inline(always)]
    pub(super) fn forget_hint(&mut self) {
        self.hints = NO_HINTS;
    }

    /// Remembers that `table`, a level-`level` table, holds `va`'s entry.
    #[inline(always)]
    pub(super) fn remember(&mut self, level: u8, va: VirtAddr, table: PhysAddr) {
        if let Some(hint) = self.hints.get_mut(level as usize) {
            let new = LeafHint::new::<F::Entry>(level, va, table, self.format.geometry().max_leaf_level());
            if level == 0 {
                // `leaf_tag` is not read at level 0 (see `LeafHint::leaf_tag`).
                (hint.tag, hint.table) = (new.tag, new.table);
            } else {
                *hint = new;
            }
        }
    }

    /// Reads entry `idx` of `table`.
    #[inline(always)]
    pub(super) fn entry(&self, table: PhysAddr, idx: usize) -> F::Entry {
        debug_assert!(idx < <F::Entry as EntryWord>::ENTRIES);
        // SAFETY: `table` is a table frame (module invariant), which PhysMemory
        // makes valid for 4 KiB; `idx < ENTRIES` keeps the access inside it.
        unsafe { self.mem.entry_ptr::<F::Entry>(table, idx).read_volatile() }
    }

    /// The first entry of the table frame at `table`, as the format's word.
    #[inline(always)]
    pub(super) fn frame(&self, table: PhysAddr) -> *mut F::Entry {
        // PhysMemory's frames are 8-byte aligned, enough for any entry word.
        self.mem.frame_ptr(table).cast::<F::Entry>()
    }

    /// Writes entry `idx` of `table`.
    #[inline(always)]
    pub(super) fn set_entry(&self, table: PhysAddr, idx: usize, raw: F::Entry) {
        debug_assert!(idx < <F::Entry as EntryWord>::ENTRIES);
        // SAFETY: as in `entry`.
        unsafe { self.mem.entry_ptr::<F::Entry>(table, idx).write_volatile(raw) }
    }

    /// Replaces `old`, the valid entry `idx` of `table` (whose range holds `va`,
    /// at `level`) that the caller has just read and decoded, by `new`, with
    /// break-before-make where the format needs it.
    #[inline(always)]
    pub(super) fn replace_entry(
        &self,
        table: PhysAddr,
        idx: usize,
        va: VirtAddr,
        level: u8,
        old: F::Entry,
        new: F::Entry,
    ) {
        debug_assert!(self.entry(table, idx) == old, "replace_entry is given the entry it replaces");
        if F::BREAK_BEFORE_MAKE && self.format.needs_break(old, new) {
            self.set_entry(table, idx, <F::Entry as EntryWord>::ZERO);
            let first = va.as_u64() & !(granularity_for::<F::Entry>(level) - 1);
            self.mem.invalidate(VirtAddr::new(first), level);
        }
        self.set_entry(table, idx, new);
    }

    /// Clears a frame that is about to become a table.
    ///
    /// The frame is not linked into any table yet, so no hardware walker can read
    /// it: a plain (vectorised) fill is enough. The release fence orders the fill
    /// before the store that links the frame in, for the compiler and for every
    /// other hart: a walker there that sees the link (even speculatively, before
    /// any flush) sees a cleared table (Linux's `smp_wmb()` before `pmd_populate`).
    /// It is one `fence rw,w` per new table on RISC-V and no instruction on x86-64.
    pub(super) fn clear_frame(&self, frame: PhysAddr) {
        let ptr = self.frame(frame);
        // SAFETY: `frame` is a table frame (module invariant): PhysMemory makes the
        // 4 KiB at `ptr` valid for writes and unaliased, and a table's entries are 4 KiB.
        unsafe { core::ptr::write_bytes(ptr, 0, <F::Entry as EntryWord>::ENTRIES) };
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    }

    /// Writes `count` consecutive leaves at `level` into `table` from `idx`,
    /// the first mapping `pa`, each next one `granularity(level)` further.
    #[inline(always)]
    pub(super) fn fill_leaves(
        &self,
        table: PhysAddr,
        idx: usize,
        count: usize,
        pa: PhysAddr,
        attrs: Attrs,
        level: u8,
    ) {
        debug_assert!(idx + count <= <F::Entry as EntryWord>::ENTRIES);
        let ptr = self.frame(table);
        let step = granularity_for::<F::Entry>(level);
        for k in 0..count {
            let raw = self.format.encode_leaf(pa.add(k as u64 * step), attrs, level);
            // SAFETY: `table` is a table frame (module invariant) and
            // idx + k < idx + count <= ENTRIES.
            unsafe { ptr.add(idx + k).write_volatile(raw) };
        }
    }

    /// How many entries of `table` from `idx` on, at most `max`, are invalid: one
    /// pointer lookup for the whole run (a fixmap window or the simulator pays
    /// per lookup).
    #[inline]
    pub(super) fn free_run(&self, table: PhysAddr, idx: usize, max: usize) -> usize {
        debug_assert!(idx + max <= <F::Entry as EntryWord>::ENTRIES);
        let ptr = self.frame(table);
        (idx..idx + max)
            // SAFETY: `table` is a table frame (module invariant); i < idx + max <= ENTRIES.
            .take_while(|&i| !self.format.is_valid(unsafe { ptr.add(i).read_volatile() }))
            .count()
    }

    /// Whether every entry of `table` is invalid; looks at the entry after
    /// `hint` first, where a live entry is most likely after a run of changes.
    #[inline(always)]
    pub(super) fn is_empty(&self, table: PhysAddr, hint: usize) -> bool {
        // The common case of a run of unmaps: the next entry is still live.
        if self.format.is_valid(self.entry(table, (hint + 1) % <F::Entry as EntryWord>::ENTRIES)) {
            return false;
        }
        self.is_empty_scan(table)
    }

    /// Whether every entry of `table` is invalid, by a scan of the whole table
    /// in groups of eight entries with one branch per group (about two
    /// instructions per entry instead of five for an entry-by-entry search).
    #[inline(never)]
    pub(super) fn is_empty_scan(&self, table: PhysAddr) -> bool {
        const GROUP: usize = 8;
        let ptr = self.frame(table);
        (0..<F::Entry as EntryWord>::ENTRIES).step_by(GROUP).all(|first| {
            let mut live = false;
            for idx in first..first + GROUP {
                // SAFETY: `table` is a table frame (module invariant); idx < ENTRIES.
                live |= self.format.is_valid(unsafe { ptr.add(idx).read_volatile() });
            }
            !live
        })
    }
}

//! [`TranslateCursor`]: a caller's own hint for a run of translations.

use crate::addr::{PageSize, VirtAddr};
use crate::paging::table::LeafHint;
use crate::paging::{Geometry, PageTable, PhysMemory, TableFormat, Translation};
use crate::Error;

/// Translations through a shared table with a hint of the caller's own: the
/// last level-0 table it reached, so that a run of neighbouring 4 KiB pages
/// costs one entry load each.
///
/// [`PageTable::translate`] stores nothing, which is what independent lookups
/// want (a fault handler, `virt_to_phys`): their walks overlap. A caller that
/// scans neighbouring pages keeps a cursor instead; the hint lives in the
/// cursor (usually a register), never in the table, so any number of cursors
/// may walk one table shared between harts. The table cannot change while a
/// cursor borrows it, so the hinted table stays valid.
pub struct TranslateCursor<'a, F: TableFormat, M: PhysMemory> {
    table: &'a PageTable<F, M>,
    hint: LeafHint,
}

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// A cursor for a run of translations (see [`TranslateCursor`]).
    pub fn translate_cursor(&self) -> TranslateCursor<'_, F, M> {
        TranslateCursor { table: self, hint: LeafHint::NONE }
    }
}

impl<F: TableFormat, M: PhysMemory> TranslateCursor<'_, F, M> {
    /// Where `va` leads, as [`PageTable::translate`] says.
    #[inline(always)]
    pub fn translate(&mut self, va: VirtAddr) -> Result<Translation, Error> {
        // A hit stands for a canonical address (see `PageTable::translate`).
        if let Some(table) = self.hint.lookup(0, va) {
            let raw = self.table.entry(table, Geometry::index(va.as_u64(), 0));
            if let Some((pa, attrs)) = self.table.format.leaf(raw, 0) {
                let pa = pa.add(va.as_u64() & (crate::PAGE_SIZE - 1));
                return Ok(Translation { pa, attrs, size: PageSize::Size4K });
            }
        }
        let (t, hint) = Self::translate_miss(self.table, va);
        if let Some(hint) = hint {
            self.hint = hint;
        }
        t
    }

    /// A miss in the cursor's hint: translates, and returns the hint for the
    /// level-0 table of a 4 KiB leaf. (It takes no `&mut self`, so that the
    /// cursor's own fields can stay in registers.)
    #[inline(never)]
    fn translate_miss(
        table: &PageTable<F, M>,
        va: VirtAddr,
    ) -> (Result<Translation, Error>, Option<LeafHint>) {
        let t = table.translate(va);
        let mut hint = None;
        if let Ok(Translation { size: PageSize::Size4K, .. }) = t {
            if let (leaf_table, 0, _) = table.walk(va, 0) {
                let max_leaf = table.format.geometry().max_leaf_level();
                hint = Some(LeafHint::new(0, va, leaf_table, max_leaf));
            }
        }
        (t, hint)
    }
}

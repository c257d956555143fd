//! Walking every table and leaf in address order, with no heap.

use crate::paging::geometry::shift_for;
use crate::paging::EntryWord;
use crate::paging::{Geometry, Mapping, PageTable, PhysMemory, Pte, TableFormat};
use crate::{Error, PhysAddr};

/// What the depth-first walk meets.
pub(super) enum Visit {
    /// A table frame (the root first).
    Table,
    /// A leaf.
    Leaf(Mapping),
}

#[derive(Clone, Copy)]
struct Frame {
    table: PhysAddr,
    level: u8,
    next: usize,
    /// The VA the table's entry 0 maps, before sign extension.
    base: u64,
}

/// Depth-first walk over a table; reserved entries yield an error and are skipped.
pub(super) struct Walk<'a, F: TableFormat, M: PhysMemory> {
    pt: &'a PageTable<F, M>,
    stack: [Frame; Geometry::MAX_LEVELS],
    depth: usize,
    root_pending: bool,
}

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    pub(super) fn walk_tables(&self) -> Walk<'_, F, M> {
        let root = Frame { table: self.root, level: self.format.geometry().root_level(), next: 0, base: 0 };
        Walk { pt: self, stack: [root; Geometry::MAX_LEVELS], depth: 1, root_pending: true }
    }

    /// Every leaf, in address order (the lower half first, then the upper half).
    ///
    /// An entry the format reserves yields an [`Error::CorruptEntry`] and the walk
    /// goes on past it.
    pub fn mappings(&self) -> impl Iterator<Item = Result<Mapping, Error>> + '_ {
        self.walk_tables().filter_map(|v| match v {
            Ok(Visit::Leaf(m)) => Some(Ok(m)),
            Ok(Visit::Table) => None,
            Err(e) => Some(Err(e)),
        })
    }
}

impl<F: TableFormat, M: PhysMemory> Iterator for Walk<'_, F, M> {
    type Item = Result<Visit, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.root_pending {
            self.root_pending = false;
            return Some(Ok(Visit::Table));
        }
        let g = self.pt.format.geometry();
        while self.depth > 0 {
            let top = &mut self.stack[self.depth - 1];
            if top.next == <F::Entry as EntryWord>::ENTRIES {
                self.depth -= 1;
                continue;
            }
            let (table, level, idx) = (top.table, top.level, top.next);
            top.next += 1;
            let raw = self.pt.entry(table, idx);
            if !self.pt.format.is_valid(raw) {
                continue;
            }
            let unsigned = top.base + ((idx as u64) << shift_for::<F::Entry>(level));
            let va = g.extend(unsigned);
            match self.pt.format.decode(raw, level) {
                Pte::Table(next) if level > 0 => {
                    self.stack[self.depth] = Frame { table: next, level: level - 1, next: 0, base: unsigned };
                    self.depth += 1;
                    return Some(Ok(Visit::Table));
                }
                Pte::Leaf { pa, attrs } if level <= g.max_leaf_level() => {
                    if let Some(size) = g.page_size(level) {
                        return Some(Ok(Visit::Leaf(Mapping { va, pa, size, attrs })));
                    }
                    return Some(Err(Error::CorruptEntry { va, level, raw: raw.into() }));
                }
                _ => return Some(Err(Error::CorruptEntry { va, level, raw: raw.into() })),
            }
        }
        None
    }
}

//! Splitting a huge leaf when only part of it changes, and planning for it.
//!
//! Unmapping or protecting part of a 2 MiB (or larger) leaf turns the leaf into
//! a table of 512 smaller leaves with the same physical pages and attributes,
//! then changes only the part in the range. Splits happen only where a leaf
//! straddles an end of the range, so a range needs at most two chains of them.

use crate::addr::{PhysAddr, VirtAddr};
use crate::paging::chunks::Chunks;
use crate::paging::reserve::Reserve;
use crate::paging::EntryWord;
use crate::paging::{Attrs, PageTable, PhysMemory, Pte, TableFormat};
use crate::Error;

/// What a range operation does where nothing is mapped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Holes {
    /// Skip them (unmap).
    Skip,
    /// Refuse the whole operation (protect).
    Refuse,
}

/// Table frames needed to split a leaf at `level` so that exactly
/// `[va, va + len)` (inside the leaf, not all of it) can change.
fn splits_for_part<E: EntryWord>(level: u8, va: u64, len: u64) -> u64 {
    // The split leaves sit one level down; only the first and last of those
    // the part touches can be touched partially.
    let mut chunks = Chunks::<E>::new(va, len, level - 1);
    let first = chunks.next();
    let last = chunks.last();
    let mut need = 1;
    for c in [first, last].into_iter().flatten() {
        if !c.full {
            need += splits_for_part::<E>(level - 1, c.va, c.len);
        }
    }
    need
}

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// Checks `[va, va + len)` below `table` for reserved entries (and for holes,
    /// if refused) and counts the frames that splitting its edges needs.
    ///
    /// A fully covered subtree is not entered when `enter_full` is false
    /// (unmap frees it whole).
    pub(super) fn plan_splits(
        &self,
        table: PhysAddr,
        level: u8,
        va: u64,
        len: u64,
        holes: Holes,
        enter_full: bool,
    ) -> Result<u64, Error> {
        let mut need = 0;
        for c in Chunks::<F::Entry>::new(va, len, level) {
            let raw = self.entry(table, c.idx);
            let at = VirtAddr::new(c.va);
            if !self.format.is_valid(raw) {
                if holes == Holes::Refuse {
                    return Err(Error::NotMapped { va: at });
                }
                continue;
            }
            match self.format.decode(raw, level) {
                Pte::Leaf { .. } if c.full => {}
                Pte::Leaf { .. } => need += splits_for_part::<F::Entry>(level, c.va, c.len),
                Pte::Table(next) if level > 0 => {
                    // A pinned table is cleared in place rather than freed whole,
                    // so the plan must see inside it too.
                    if enter_full || !c.full || self.format.is_pinned(raw) {
                        need += self.plan_splits(next, level - 1, c.va, c.len, holes, enter_full)?;
                    }
                }
                _ => return Err(Error::CorruptEntry { va: at, level, raw: raw.into() }),
            }
        }
        Ok(need)
    }

    /// Replaces the leaf at `table[idx]` (`raw`, a leaf at `level` mapping `pa`
    /// with `attrs`) with a table of 512 leaves one level down that map the
    /// same pages (`va` is an address inside the leaf). Returns the new table.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn split_leaf(
        &self,
        table: PhysAddr,
        idx: usize,
        va: VirtAddr,
        level: u8,
        raw: F::Entry,
        pa: PhysAddr,
        attrs: Attrs,
        reserve: &mut Reserve,
    ) -> Result<PhysAddr, Error> {
        let frame =
            reserve.pop(&self.mem).ok_or(Error::OutOfFrames { va: VirtAddr::ZERO, needed: 1, got: 0 })?;
        self.fill_leaves(frame, 0, <F::Entry as EntryWord>::ENTRIES, pa, attrs, level - 1);
        // As after `clear_frame`: the filled table is published to other harts'
        // walkers by the store that links it, so the fill must be ordered before it
        // (a walker that sees the link must see the 512 leaves, not the frame's
        // free-list word).
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
        self.replace_entry(table, idx, va, level, raw, self.format.encode_table(frame));
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_counts_one_frame_per_level_per_edge() {
        // 4 KiB in the middle of a 2 MiB leaf: one split.
        assert_eq!(splits_for_part::<u64>(1, 0x10_1000, 0x1000), 1);
        // 4 KiB in the middle of a 1 GiB leaf: 1 GiB → 2 MiB table, then one 2 MiB → 4 KiB.
        assert_eq!(splits_for_part::<u64>(2, 0x4010_1000, 0x1000), 2);
        // Two 4 KiB edges in different 2 MiB pieces of a 1 GiB leaf: 1 + 2.
        assert_eq!(splits_for_part::<u64>(2, 0x4010_1000, 0x20_0000), 3);
        // A 2 MiB-aligned part of a 1 GiB leaf: only the top split.
        assert_eq!(splits_for_part::<u64>(2, 0x4020_0000, 0x40_0000), 1);
    }
}

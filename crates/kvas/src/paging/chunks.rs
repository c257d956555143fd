//! Splitting a virtual range into the entries of one table.

use core::marker::PhantomData;

use crate::paging::geometry::{granularity_for, index_for};
use crate::paging::EntryWord;

/// One entry's share of a range: the entry index, where the share starts, how
/// long it is, and whether it covers the entry's whole span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Chunk {
    pub idx: usize,
    pub va: u64,
    pub len: u64,
    pub full: bool,
}

/// The entries of a level-`level` table that `[va, va + len)` touches, in order.
///
/// The range must lie inside the span of one table at that level (the caller
/// recursed into it through the parent entry), so indices never wrap.
/// `E` is the table's entry word, which fixes the entries per table.
pub(super) struct Chunks<E> {
    va: u64,
    remaining: u64,
    level: u8,
    entry: PhantomData<E>,
}

impl<E: EntryWord> Chunks<E> {
    #[inline(always)]
    pub fn new(va: u64, len: u64, level: u8) -> Self {
        Self { va, remaining: len, level, entry: PhantomData }
    }
}

impl<E: EntryWord> Iterator for Chunks<E> {
    type Item = Chunk;

    #[inline(always)]
    fn next(&mut self) -> Option<Chunk> {
        if self.remaining == 0 {
            return None;
        }
        let gran = granularity_for::<E>(self.level);
        let offset = self.va & (gran - 1);
        let len = (gran - offset).min(self.remaining);
        let chunk = Chunk { idx: index_for::<E>(self.va, self.level), va: self.va, len, full: len == gran };
        self.va = self.va.wrapping_add(len);
        self.remaining -= len;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_full_partial() {
        let start = 0x20_0000 - 0x1000;
        let chunks: Vec<Chunk> = Chunks::<u64>::new(start, 0x1000 + 0x40_0000 + 0x2000, 1).collect();
        assert_eq!(
            chunks,
            [
                Chunk { idx: 0, va: start, len: 0x1000, full: false },
                Chunk { idx: 1, va: 0x20_0000, len: 0x20_0000, full: true },
                Chunk { idx: 2, va: 0x40_0000, len: 0x20_0000, full: true },
                Chunk { idx: 3, va: 0x60_0000, len: 0x2000, full: false },
            ]
        );
    }

    #[test]
    fn the_top_of_the_address_space_does_not_overflow() {
        let chunks: Vec<Chunk> = Chunks::<u64>::new(0xffff_ffff_ffe0_0000, 0x20_0000, 0).collect();
        assert_eq!(chunks.len(), 512);
        assert_eq!(chunks[511].idx, 511);
        assert!(chunks.iter().all(|c| c.full));
    }

    #[test]
    fn four_byte_entries_make_4_mib_chunks_of_1024() {
        let chunks: Vec<Chunk> = Chunks::<u32>::new(0x3f_f000, 0x40_2000, 1).collect();
        assert_eq!(
            chunks,
            [
                Chunk { idx: 0, va: 0x3f_f000, len: 0x1000, full: false },
                Chunk { idx: 1, va: 0x40_0000, len: 0x40_0000, full: true },
                Chunk { idx: 2, va: 0x80_0000, len: 0x1000, full: false },
            ]
        );
        assert_eq!(Chunks::<u32>::new(0xffc0_0000, 0x40_0000, 0).last().map(|c| c.idx), Some(1023));
    }
}

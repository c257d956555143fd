//! Counting without building: the leaves and table pages the engine's
//! `map_range` puts down over ranges mapped into fresh tables, in time
//! proportional to the number of ranges and in constant memory. The one
//! counting routine behind the linear map's base choice ([`super::base`]),
//! `kspace`'s count of the linear map and its per-region leaf counts.
//!
//! The engine maps a range `[va, va + len)` (with `va - pa` aligned to the
//! largest leaf `top` the range can use) greedily: leaves of level `l` or
//! larger cover exactly `[round_up(va, g_l), round_down(va + len, g_l))`, so
//! level `l` holds the difference between that span and the next level's,
//! divided by `g_l`. A table at level `l` covers one aligned block of
//! `g_{l+1}` bytes, and exists when a leaf of level `l` or lower lies in that
//! block: where the range is not covered by leaves above `l`. Ranges come in
//! address order, so a block shared by two ranges is counted once by
//! remembering the last block counted at each level.

use crate::paging::Geometry;

/// Adds to `leaves` the leaves the engine's `map_range` writes for
/// `[va, va + len)` mapped with VA-PA offset `offset` (`va - pa`, wrapping), no
/// leaf above level `cap` (already capped to the mode's largest leaf), into
/// tables that hold nothing inside the range: the greedy rule (largest leaf the
/// alignment of both addresses and the remaining length allow) gives leaves of
/// level `l` or larger exactly over `[round_up(va, g_l), round_down(va + len, g_l))`
/// for every `l` up to the largest level `top` the offset is aligned to.
/// Returns `top`.
pub(crate) fn range_leaves(
    leaves: &mut [u64; Geometry::MAX_LEVELS],
    va: u64,
    len: u64,
    offset: u64,
    cap: u8,
) -> u8 {
    let (vs, ve) = (va, va + len);
    let top = (0..=cap).rev().find(|&l| offset & (Geometry::granularity(l) - 1) == 0).unwrap_or(0);
    for l in 0..=top {
        let g = Geometry::granularity(l);
        let here = covered(vs, ve, g);
        let above = if l < top { covered(vs, ve, Geometry::granularity(l + 1)) } else { 0 };
        leaves[l as usize] += (here - above) / g;
    }
    top
}

/// The bytes `[round_up(s, g), round_down(e, g))` covers (0 if empty).
fn covered(s: u64, e: u64, g: u64) -> u64 {
    let lo = s.div_ceil(g).saturating_mul(g);
    let hi = e / g * g;
    hi.saturating_sub(lo)
}

/// Leaves by level and table pages, counted over ranges given in ascending
/// address order (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counter {
    /// Leaves by level (index 0 = 4 KiB).
    pub(crate) leaves: [u64; Geometry::MAX_LEVELS],
    /// Table pages at levels `0..table_levels`.
    pub(crate) tables: u64,
    table_levels: u8,
    /// Per level: one past the last block counted (0 = none yet).
    last: [u64; Geometry::MAX_LEVELS],
}

impl Counter {
    /// Nothing counted; tables will be counted at levels `0..table_levels`.
    pub(crate) const fn new(table_levels: u8) -> Self {
        Counter {
            leaves: [0; Geometry::MAX_LEVELS],
            tables: 0,
            table_levels,
            last: [0; Geometry::MAX_LEVELS],
        }
    }

    /// Counts `[va, va + len)` mapped with VA-PA offset `offset`, no leaf above
    /// level `cap` ([`range_leaves`]), and the tables it needs that no earlier
    /// range needed. Ranges must come in ascending address order.
    pub(crate) fn add(&mut self, va: u64, len: u64, offset: u64, cap: u8) {
        if len == 0 {
            return;
        }
        let top = range_leaves(&mut self.leaves, va, len, offset, cap);
        let (vs, ve) = (va, va + len);
        for level in 0..self.table_levels {
            // A table at `level` covers a block of the next level's size.
            let g = Geometry::granularity(level + 1);
            let (first, last) = (vs / g, (ve - 1) / g);
            if level < top {
                // Leaves above `level` cover the whole blocks: only the partial
                // blocks at either end need a table.
                if vs % g != 0 {
                    self.count(level, first, first);
                }
                if ve % g != 0 {
                    self.count(level, last, last);
                }
            } else {
                // No leaf above `level`: every block the range touches needs one.
                self.count(level, first, last);
            }
        }
    }

    /// Counts the blocks `first..=last` at `level` not counted yet.
    fn count(&mut self, level: u8, first: u64, last: u64) {
        let seen = &mut self.last[level as usize];
        let from = first.max(*seen);
        if last + 1 > from {
            self.tables += last + 1 - from;
            *seen = last + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizes::{SZ_1G, SZ_2M};

    #[test]
    fn leaves_follow_the_greedy_largest_leaf() {
        let leaves = |va: u64, len: u64, cap: u8| {
            let mut l = [0; Geometry::MAX_LEVELS];
            range_leaves(&mut l, va, len, 0, cap);
            l
        };
        // [2M, 1G + 4K): 511 2 MiB leaves, one 4 KiB leaf.
        assert_eq!(leaves(SZ_2M, SZ_1G + 4096 - SZ_2M, 2), [1, 511, 0, 0, 0]);
        assert_eq!(leaves(0, 4 * SZ_1G, 2), [0, 0, 4, 0, 0]);
        assert_eq!(leaves(0, 4 * SZ_1G, 1), [0, 2048, 0, 0, 0]);
        assert_eq!(leaves(4096, 4096, 2), [1, 0, 0, 0, 0]);
        // An offset aligned to 2 MiB only: no gigapage, whatever the range.
        let mut l = [0; Geometry::MAX_LEVELS];
        assert_eq!(range_leaves(&mut l, 0, 4 * SZ_1G, SZ_2M, 2), 1);
        assert_eq!(l, [0, 2048, 0, 0, 0]);
    }

    #[test]
    fn tables_are_counted_once_per_block_below_the_leaves() {
        let mut c = Counter::new(2);
        // [1G - 4K, 2G + 4K): a 4 KiB leaf, a gigapage, a 4 KiB leaf; a level-0
        // and a level-1 table at each end.
        c.add(SZ_1G - 4096, SZ_1G + 8192, 0, 2);
        assert_eq!((c.leaves, c.tables), ([2, 0, 1, 0, 0], 4));
        // The next range shares the level-0 and level-1 tables of its first page.
        c.add(2 * SZ_1G + 8192, 4096, 0, 2);
        assert_eq!((c.leaves, c.tables), ([3, 0, 1, 0, 0], 4));
        // Above the largest leaf every block touched needs a table: 4 GiB in
        // 2 MiB leaves need four level-1 tables, no level-0 one.
        let mut c = Counter::new(2);
        c.add(0, 4 * SZ_1G, 0, 1);
        assert_eq!((c.leaves[1], c.tables), (2048, 4));
    }
}

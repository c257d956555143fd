//! Counting leaves and tables without reading any table: the leaves of one
//! range mapped into fresh tables ([`range_leaves`], which [`super::build`] adds
//! up as each step maps, instead of walking the finished tables through the
//! caller's memory view: for the kernel that is one fixmap remap per table
//! frame), and the linear map's leaves and tables without building it
//! ([`count_linear`]), in time proportional to the memory map's ranges and in
//! constant memory.
//!
//! The engine maps a piece `[va, va + len)` (with `va - pa` aligned to the
//! largest leaf `top` the piece can use) greedily: leaves of level `l` or
//! larger cover exactly `[round_up(va, g_l), round_down(va + len, g_l))`, so
//! level `l` holds the difference between that span and the next level's,
//! divided by `g_l`. A table at level `l` covers one aligned block of
//! `g_{l+1}` bytes, and exists when a leaf of level `l` or lower lies in that
//! block: where the piece is not covered by leaves above `l`. Pieces come in
//! address order, so a block shared by two pieces is counted once by
//! remembering the last block counted at each level.

use crate::addr::VirtAddr;
use crate::linear::{for_each_piece, LinearConfig};
use crate::paging::Geometry;
use crate::phys::MemoryMap;
use crate::Error;

/// The linear map's leaves and tables, counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearCount {
    /// Leaves by level (index 0 = 4 KiB).
    pub leaves: [u64; Geometry::MAX_LEVELS],
    /// Table pages below the root.
    pub tables: u64,
    /// Bytes mapped.
    pub bytes: u64,
    /// `map_range` pieces.
    pub pieces: usize,
}

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

/// What [`crate::linear::build_at`] would build for `map` and `cfg` with
/// physical base `base` in tables of `geometry`, without building it: leaves by
/// size and the tables below the root (the linear window shares no table below
/// the root with another region, so these are the tables its step adds).
pub fn count_linear(
    map: &MemoryMap,
    cfg: &LinearConfig,
    base: u64,
    geometry: Geometry,
) -> Result<LinearCount, Error> {
    let offset = cfg.page_offset.as_u64().wrapping_sub(base);
    let root = geometry.root_level();
    let mut out = LinearCount { leaves: [0; Geometry::MAX_LEVELS], tables: 0, bytes: 0, pieces: 0 };
    // Per level: one past the last block counted (0 = none yet).
    let mut last = [0u64; Geometry::MAX_LEVELS];
    for_each_piece(map, base, cfg.limit(base), cfg, |p| {
        let len = p.range.size();
        let vs = VirtAddr::new(p.range.start_u64().wrapping_add(offset)).as_u64();
        let ve = vs + len;
        let cap = p.max_leaf.level().min(geometry.max_leaf_level());
        let top = range_leaves(&mut out.leaves, vs, len, offset, cap);
        // Tables at each level below the root.
        for l in 0..root {
            let g = Geometry::granularity(l + 1);
            let mut count = |first: u64, last_block: u64| {
                let from = first.max(last[l as usize]);
                if last_block + 1 > from {
                    out.tables += last_block + 1 - from;
                    last[l as usize] = last_block + 1;
                }
            };
            if l < top && covered(vs, ve, g) > 0 {
                // Leaves above `l` cover the middle: only the partial blocks at the ends.
                if vs % g != 0 {
                    count(vs / g, vs / g);
                }
                if ve % g != 0 {
                    count((ve - 1) / g, (ve - 1) / g);
                }
            } else {
                count(vs / g, (ve - 1) / g);
            }
        }
        out.bytes += len;
        out.pieces += 1;
        Ok(())
    })?;
    Ok(out)
}

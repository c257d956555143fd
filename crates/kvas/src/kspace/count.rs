//! The linear map's leaves and tables without building it ([`count_linear`]),
//! counted piece by piece with the linear map's one counting routine
//! (`linear::count`: the engine's greedy rule, in time proportional to the
//! memory map's ranges and in constant memory).

use crate::addr::VirtAddr;
use crate::linear::count::Counter;
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
    let mut counter = Counter::new(geometry.root_level());
    let (mut bytes, mut pieces) = (0, 0);
    for_each_piece(map, base, cfg.limit(base), cfg, |p| {
        let va = VirtAddr::new(p.range.start_u64().wrapping_add(offset)).as_u64();
        let cap = p.max_leaf.level().min(geometry.max_leaf_level());
        counter.add(va, p.range.size(), offset, cap);
        bytes += p.range.size();
        pieces += 1;
        Ok(())
    })?;
    Ok(LinearCount { leaves: counter.leaves, tables: counter.tables, bytes, pieces })
}

//! Which physical address `PAGE_OFFSET` maps: the linear map's base.
//!
//! The linear map sends `pa` to `PAGE_OFFSET + (pa - base)`. A leaf of size `S`
//! can map `pa` only if `pa` and its virtual address are both multiples of
//! `S`, that is if `PAGE_OFFSET - base` is a multiple of `S`. So the base's
//! alignment decides which leaf sizes the whole linear map can ever use.
//!
//! **Linux** (`setup_bootmem`) rounds the first byte of DRAM down to 2 MiB. On a
//! machine whose RAM starts at `0x80200000` (firmware below it not described as
//! RAM), `PAGE_OFFSET - base` is then 2 MiB modulo 1 GiB, and *no* 1 GiB leaf
//! is possible anywhere in the linear map, however much RAM there is.
//!
//! **kvas** considers the first byte of RAM rounded down to each leaf size the
//! mode allows, from the largest (1 GiB in Sv39, 512 GiB in Sv48, 256 TiB in
//! Sv57, capped by the alignment of `PAGE_OFFSET` itself) down to 4 KiB, and
//! takes the one that leaves the most memory for the kernel: the RAM the window
//! maps minus the page-table memory needed to map it ([`usable_bytes`]); on a
//! tie, the larger alignment. Rounding down moves the window's end down by the
//! same amount, so it can cap RAM at the top; the rule trades that against the
//! tables a smaller alignment costs:
//!
//! - 8 GiB at `0x80200000` (Sv39): a 1 GiB-aligned base (`0x80000000`) loses
//!   nothing and saves 6 table pages over a 2 MiB-aligned one;
//! - 128 GiB at `0x80200000` (Sv39, a 128 GiB window): the 1 GiB-aligned base
//!   would cap 2 MiB of RAM, more than the 126 extra table pages (504 KiB) of a
//!   2 MiB-aligned one, so the base stays at `0x80200000`;
//! - 200 GiB at `0x1000` (Sv39): RAM is capped anyway, and a 4 KiB-aligned base
//!   would need 32 Mi leaves in 65 Ki tables (256 MiB) to save 4 KiB: base 0.
//!
//! It costs at most the rounding in unused virtual addresses at the bottom of
//! the window.

use crate::addr::{VirtAddr, PAGE_SIZE};
use crate::paging::Geometry;
use crate::phys::MemoryMap;
use crate::Error;

/// How the linear map's physical base is chosen (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BaseRule {
    /// kvas: the first byte of RAM rounded down to the leaf size that leaves the
    /// most memory (mapped RAM minus page tables), the largest on a tie.
    LargestLeaf,
    /// Linux: the first byte of RAM rounded down to 2 MiB.
    Linux,
}

/// Linux's `PMD_SIZE` rounding.
const LINUX_ALIGN: u64 = 2 << 20;

/// What the linear map with physical base `base` leaves for the kernel: the
/// mappable RAM in `[base, base + size)` minus 4 KiB for each page-table page
/// below the level of the largest leaf (`max_leaf_level`) it needs, counted
/// with the engine's largest-leaf choice but without building anything.
/// (Tables above that level, and the kernel-text split, are left out: they
/// barely differ between the bases [`choose_base`] compares.)
pub fn usable_bytes(map: &MemoryMap, page_offset: VirtAddr, base: u64, size: u64, max_leaf_level: u8) -> u64 {
    let end = base.saturating_add(size);
    let offset = page_offset.as_u64().wrapping_sub(base);
    // Leaves at `level` are possible only if the VA-PA offset is aligned to it.
    let top = (0..=max_leaf_level).rev().find(|&l| offset & (Geometry::granularity(l) - 1) == 0).unwrap_or(0);
    let mut bytes = 0u64;
    let mut tables = 0u64;
    // Ranges come sorted, so each level's blocks come in order: count a block
    // once by remembering the last one counted (+1, 0 = none yet).
    let mut last = [0u64; Geometry::MAX_LEVELS];
    for r in map.mappable() {
        let (s, e) = (r.start_u64().max(base), r.end().min(end));
        if s >= e {
            continue;
        }
        bytes += e - s;
        let (vs, ve) = (s.wrapping_add(offset), e.wrapping_add(offset));
        for level in 0..max_leaf_level {
            // A table at `level` covers a block of the next level's size.
            let g = Geometry::granularity(level + 1);
            let mut count = |first: u64, last_block: u64| {
                let from = first.max(last[level as usize]);
                if last_block + 1 > from {
                    tables += last_block + 1 - from;
                    last[level as usize] = last_block + 1;
                }
            };
            if level >= top {
                // No leaf above `level`: every block the range touches needs a table.
                count(vs / g, (ve - 1) / g);
            } else {
                // Only the partial blocks at either end need one.
                if vs % g != 0 {
                    count(vs / g, vs / g);
                }
                if ve % g != 0 {
                    count((ve - 1) / g, (ve - 1) / g);
                }
            }
        }
    }
    bytes.saturating_sub(tables * PAGE_SIZE)
}

/// The physical address that `page_offset` maps under `rule`, for a window of
/// `size` bytes whose largest leaf sits at `max_leaf_level`.
pub fn choose_base(
    rule: BaseRule,
    map: &MemoryMap,
    page_offset: VirtAddr,
    size: u64,
    max_leaf_level: u8,
) -> Result<u64, Error> {
    let first = map.ram_span()?.start_u64();
    match rule {
        BaseRule::Linux => Ok(first & !(LINUX_ALIGN - 1)),
        BaseRule::LargestLeaf => {
            // PAGE_OFFSET's own alignment caps what any base can achieve.
            let po_align = 1u64 << page_offset.as_u64().trailing_zeros().min(63);
            let mut best: Option<(u64, u64)> = None; // (usable, base)
            for level in (0..=max_leaf_level).rev() {
                let align = Geometry::granularity(level).min(po_align).max(PAGE_SIZE);
                let base = first & !(align - 1);
                let usable = usable_bytes(map, page_offset, base, size, max_leaf_level);
                if best.is_none_or(|(u, _)| usable > u) {
                    best = Some((usable, base));
                }
            }
            Ok(best.map_or(first, |(_, base)| base))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;
    const SV39_PO: VirtAddr = VirtAddr::new(0xffff_ffd6_0000_0000);
    const SV48_PO: VirtAddr = VirtAddr::new(0xffff_af80_0000_0000);

    #[test]
    fn ram_at_0x80200000_keeps_gigapages_under_kvas_but_not_linux() {
        let map = MemoryMap::from_text("0x80200000:8G").unwrap();
        assert_eq!(choose_base(BaseRule::Linux, &map, SV39_PO, 128 * G, 2), Ok(0x8020_0000));
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 128 * G, 2), Ok(0x8000_0000));
        // Sv48: a 512 GiB-aligned base is 0 and costs nothing in a 64 TiB window.
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV48_PO, 64 << 40, 3), Ok(0));
    }

    #[test]
    fn backs_off_when_rounding_would_push_ram_out_of_the_window() {
        // 128 GiB of RAM from 0x80200000 fills an Sv39 window exactly: rounding
        // down to 1 GiB would push the top 2 MiB out, so the base stays 2 MiB-aligned.
        let map = MemoryMap::from_text("0x80200000:128G").unwrap();
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 128 * G, 2), Ok(0x8020_0000));
        // A window one GiB larger leaves room: back to 1 GiB.
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 129 * G, 2), Ok(0x8000_0000));
    }

    #[test]
    fn keeps_the_largest_alignment_when_capping_is_unavoidable() {
        // RAM from a 4 KiB offset overflows the Sv39 window whatever the base:
        // backing off to a 4 KiB base would save 4 KiB and cost 32 Mi 4 KiB leaves.
        let map = MemoryMap::from_text("0x1000:200G").unwrap();
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 128 * G, 2), Ok(0));
    }

    #[test]
    fn usable_bytes_counts_tables_below_the_largest_leaf() {
        let map = MemoryMap::from_text("0x80200000:8G").unwrap();
        // 1 GiB-aligned base: two level-1 tables, for the partial GiB at each end.
        assert_eq!(usable_bytes(&map, SV39_PO, 0x8000_0000, 128 * G, 2), (8 * G) - 2 * 4096);
        // 2 MiB-aligned base: no gigapage, so one level-1 table per GiB.
        assert_eq!(usable_bytes(&map, SV39_PO, 0x8020_0000, 128 * G, 2), (8 * G) - 8 * 4096);
        // 4 KiB-aligned base (PAGE_OFFSET - base only 4 KiB-aligned): also 4096 level-0 tables.
        assert_eq!(usable_bytes(&map, SV39_PO, 0x8020_1000, 128 * G, 2), (8 * G - 4096) - (8 + 4096) * 4096);
    }

    #[test]
    fn a_few_mib_of_capped_ram_do_not_buy_a_gigabyte_of_tables() {
        // Found by the fuzzer: the tightest base keeps 16 MiB at the top of the
        // Sv57 window, but only with 2 MiB leaves for 255 TiB (1 GiB of tables).
        let map = MemoryMap::from_text("0x79000000:0xfeff0ffff000,0x80000001000000:1G").unwrap();
        let sv57_po = VirtAddr::new(0xff60_0000_0000_0000);
        let base = choose_base(BaseRule::LargestLeaf, &map, sv57_po, 32 << 50, 4).unwrap();
        assert_eq!(base & (G - 1), 0, "base {base:#x}");
    }

    #[test]
    fn page_offset_alignment_caps_the_base_alignment() {
        let map = MemoryMap::from_text("0x1_2340_0000:1G").unwrap();
        let odd_po = VirtAddr::new(0xffff_ffd6_0020_0000);
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, odd_po, 128 * G, 2), Ok(0x1_2340_0000));
    }

    #[test]
    fn an_empty_map_has_no_base() {
        let map = MemoryMap::new();
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, G, 2), Err(Error::NoRam));
    }
}

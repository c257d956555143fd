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
//! **kvas** rounds the first byte of RAM down to the largest leaf size the
//! mode allows (1 GiB in Sv39, 512 GiB in Sv48, 256 TiB in Sv57), capped by the
//! alignment of `PAGE_OFFSET` itself, so that every leaf size stays possible.
//! Rounding down moves the end of the linear window down by the same amount:
//!
//! - if all RAM fits the window from the tightest base (the first page of RAM)
//!   but would not from the rounded one, the rule backs off to the next smaller
//!   leaf size, down to 4 KiB: it never caps RAM that would otherwise fit;
//! - if RAM overflows the window even from the tightest base, capping is
//!   unavoidable and the base keeps the largest alignment: the cap moves down by
//!   less than one root-level leaf (under 1/128 of the window), where backing off
//!   could cost millions of 4 KiB leaves (128 GiB of them in Sv39).
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
    /// kvas: the first byte of RAM rounded down to the largest leaf size that
    /// does not push RAM out of the window.
    LargestLeaf,
    /// Linux: the first byte of RAM rounded down to 2 MiB.
    Linux,
}

/// Linux's `PMD_SIZE` rounding.
const LINUX_ALIGN: u64 = 2 << 20;

/// Bytes of the memory map's mappable RAM inside `[base, base + size)`.
pub(crate) fn covered(map: &MemoryMap, base: u64, size: u64) -> u64 {
    let end = base.saturating_add(size);
    map.mappable()
        .map(|r| {
            let s = r.start_u64().max(base);
            let e = r.end().min(end);
            e.saturating_sub(s)
        })
        .sum()
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
            let tightest = covered(map, first, size);
            let fits = tightest == covered(map, first, u64::MAX);
            // PAGE_OFFSET's own alignment caps what any base can achieve.
            let po_align = 1u64 << page_offset.as_u64().trailing_zeros().min(63);
            let mut level = max_leaf_level;
            loop {
                let align = Geometry::granularity(level).min(po_align).max(PAGE_SIZE);
                let base = first & !(align - 1);
                if level == 0 || !fits || covered(map, base, size) == tightest {
                    return Ok(base);
                }
                level -= 1;
            }
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

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
//! **kvas** starts from Linux's base (`phys_ram_base`) and moves it only when
//! the move gains something: it also considers the first byte of RAM rounded
//! down to each larger leaf size the mode allows (1 GiB in Sv39, 512 GiB in
//! Sv48, 256 TiB in Sv57, capped by the alignment of `PAGE_OFFSET` itself), and
//! takes the one that leaves the most memory for the kernel (the RAM the window
//! maps minus the page-table memory needed to map it), then the fewest leaves.
//! On a tie in both it keeps Linux's base, so `__va()` and `lowmem` read as on
//! Linux; when it moves, [`BaseChoice`] says what the move saves. Rounding down
//! moves the window's end down by the same amount, so it can cap RAM at the top;
//! the rule trades that against the tables a smaller alignment costs:
//!
//! - 1 GiB at `0x80000000` (QEMU, Sv48): Linux's base already allows the one
//!   1 GiB leaf; 0 (512 GiB-aligned) would save nothing, so the base stays
//!   `0x80000000` and `__va(0x80000000) == PAGE_OFFSET`, as on Linux;
//! - 8 GiB at `0x80200000` (Sv39): a 1 GiB-aligned base (`0x80000000`) loses
//!   nothing and saves 6 table pages and 3577 leaves over Linux's 2 MiB-aligned one;
//! - 128 GiB at `0x80200000` (Sv39, a 128 GiB window): the 1 GiB-aligned base
//!   would cap 2 MiB of RAM, more than the 126 extra table pages (504 KiB) of
//!   Linux's, so the base stays at `0x80200000`;
//! - 200 GiB at `0x1000` (Sv39): Linux's base is 0, already 1 GiB-aligned.
//!
//! It costs at most the rounding in unused virtual addresses at the bottom of
//! the window.

use crate::addr::{VirtAddr, PAGE_SIZE};
use crate::linear::count::Counter;
use crate::paging::Geometry;
use crate::phys::MemoryMap;
use crate::sizes::SZ_2M;
use crate::Error;

/// How the linear map's physical base is chosen (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BaseRule {
    /// kvas: Linux's base, unless rounding the first byte of RAM down to a larger
    /// leaf size leaves more memory (mapped RAM minus page tables) or as much
    /// with fewer leaves.
    LargestLeaf,
    /// Linux: the first byte of RAM rounded down to 2 MiB.
    Linux,
}

/// Linux's `PMD_SIZE` rounding.
const LINUX_ALIGN: u64 = SZ_2M;

/// What a linear map with one physical base costs, counted without building it:
/// the engine's greedy largest-leaf choice over each mappable range inside the
/// window, below the level of the largest leaf allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseCost {
    /// The physical address mapped at `PAGE_OFFSET`.
    pub base: u64,
    /// Bytes of RAM the window maps.
    pub mapped: u64,
    /// Leaves (PTEs that map memory).
    pub leaves: u64,
    /// Page-table pages below the root (tables above the largest leaf's level,
    /// which barely differ between bases, are not counted).
    pub tables: u64,
}

impl BaseCost {
    /// Mapped RAM minus the page-table memory: what is left for the kernel.
    pub const fn usable(&self) -> u64 {
        self.mapped.saturating_sub(self.tables * PAGE_SIZE)
    }
}

/// The base a [`BaseRule`] chose, next to Linux's, and what the move saves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseChoice {
    /// The chosen base and its cost.
    pub chosen: BaseCost,
    /// Linux's base (`phys_ram_base`: the first byte of RAM rounded down to 2 MiB) and its cost.
    pub linux: BaseCost,
}

impl BaseChoice {
    /// The chosen base.
    pub const fn base(&self) -> u64 {
        self.chosen.base
    }

    /// Whether the base differs from Linux's `phys_ram_base`.
    pub const fn moved(&self) -> bool {
        self.chosen.base != self.linux.base
    }

    /// Leaves saved over Linux's base (0 when it did not move).
    pub const fn saved_leaves(&self) -> u64 {
        self.linux.leaves.saturating_sub(self.chosen.leaves)
    }

    /// Page-table pages saved over Linux's base.
    pub const fn saved_tables(&self) -> u64 {
        self.linux.tables.saturating_sub(self.chosen.tables)
    }
}

impl core::fmt::Display for BaseChoice {
    /// `base 0x80000000 (Linux's phys_ram_base)`, or what moving it saved.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.moved() {
            write!(
                f,
                "base {:#x}, not Linux's phys_ram_base {:#x}: saves {} leaves and {} page-table pages",
                self.chosen.base,
                self.linux.base,
                self.saved_leaves(),
                self.saved_tables()
            )
        } else {
            write!(f, "base {:#x} (Linux's phys_ram_base)", self.chosen.base)
        }
    }
}

/// What the linear map with physical base `base` costs (see [`BaseCost`]):
/// each mappable range inside the window counted by the engine's greedy rule
/// (`linear::count`, the crate's one count), tables below `max_leaf_level` only.
pub fn cost(map: &MemoryMap, page_offset: VirtAddr, base: u64, size: u64, max_leaf_level: u8) -> BaseCost {
    let end = base.saturating_add(size).min(crate::phys::PHYS_END);
    let offset = page_offset.as_u64().wrapping_sub(base);
    let mut counter = Counter::new(max_leaf_level);
    let mut mapped = 0;
    for r in map.mappable() {
        let (s, e) = (r.start_u64().max(base), r.end().min(end));
        if s < e {
            mapped += e - s;
            counter.add(s.wrapping_add(offset), e - s, offset, max_leaf_level);
        }
    }
    BaseCost { base, mapped, leaves: counter.leaves.iter().sum(), tables: counter.tables }
}

/// What the linear map with physical base `base` leaves for the kernel: the
/// mappable RAM in `[base, base + size)` minus 4 KiB for each page-table page
/// below the level of the largest leaf (`max_leaf_level`) it needs
/// ([`BaseCost::usable`] of [`cost`]).
pub fn usable_bytes(map: &MemoryMap, page_offset: VirtAddr, base: u64, size: u64, max_leaf_level: u8) -> u64 {
    cost(map, page_offset, base, size, max_leaf_level).usable()
}

/// The base `rule` chooses for a window of `size` bytes whose largest leaf sits
/// at `max_leaf_level`, with Linux's next to it (see the module documentation).
pub fn choose(
    rule: BaseRule,
    map: &MemoryMap,
    page_offset: VirtAddr,
    size: u64,
    max_leaf_level: u8,
) -> Result<BaseChoice, Error> {
    let first = map.ram_span()?.start_u64();
    let linux_base = first & !(LINUX_ALIGN - 1);
    let linux = cost(map, page_offset, linux_base, size, max_leaf_level);
    let mut chosen = linux;
    if rule == BaseRule::LargestLeaf {
        // PAGE_OFFSET's own alignment caps what any base can achieve.
        let po_align = 1u64 << page_offset.as_u64().trailing_zeros().min(63);
        // Smallest move first: among bases that gain as much, the one nearest Linux's.
        for level in 0..=max_leaf_level {
            let align = Geometry::granularity(level).min(po_align);
            if align <= LINUX_ALIGN {
                continue;
            }
            let base = first & !(align - 1);
            if base == chosen.base {
                continue;
            }
            let c = cost(map, page_offset, base, size, max_leaf_level);
            // More memory left, or as much with fewer leaves; a tie keeps the earlier (Linux's).
            if (c.usable(), core::cmp::Reverse(c.leaves))
                > (chosen.usable(), core::cmp::Reverse(chosen.leaves))
            {
                chosen = c;
            }
        }
    }
    Ok(BaseChoice { chosen, linux })
}

/// The physical address that `page_offset` maps under `rule`, for a window of
/// `size` bytes whose largest leaf sits at `max_leaf_level` ([`choose`]'s base).
pub fn choose_base(
    rule: BaseRule,
    map: &MemoryMap,
    page_offset: VirtAddr,
    size: u64,
    max_leaf_level: u8,
) -> Result<u64, Error> {
    choose(rule, map, page_offset, size, max_leaf_level).map(|c| c.base())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizes::SZ_1G;

    const SV39_PO: VirtAddr = VirtAddr::new(0xffff_ffd6_0000_0000);
    const SV48_PO: VirtAddr = VirtAddr::new(0xffff_af80_0000_0000);
    const SV57_PO: VirtAddr = VirtAddr::new(0xff60_0000_0000_0000);

    #[test]
    fn ram_at_0x80200000_keeps_gigapages_under_kvas_but_not_linux() {
        let map = MemoryMap::from_text("0x80200000:8G").unwrap();
        assert_eq!(choose_base(BaseRule::Linux, &map, SV39_PO, 128 * SZ_1G, 2), Ok(0x8020_0000));
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 128 * SZ_1G, 2), Ok(0x8000_0000));
        // Sv48: a 512 GiB-aligned base (0) would gain nothing over the 1 GiB-aligned one.
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV48_PO, 64 << 40, 3), Ok(0x8000_0000));
        let c = choose(BaseRule::LargestLeaf, &map, SV39_PO, 128 * SZ_1G, 2).unwrap();
        // Linux: PAGE_OFFSET maps 0x80200000, 1 GiB-aligned in VA: a level-1 table per GiB.
        assert_eq!((c.linux.leaves, c.linux.tables), (4096, 8));
        // 511 2 MiB leaves up to 0xc0000000, 7 gigapages, one 2 MiB leaf at the top.
        assert_eq!((c.chosen.leaves, c.chosen.tables), (519, 2));
        assert_eq!((c.saved_leaves(), c.saved_tables()), (3577, 6));
        assert_eq!(
            c.to_string(),
            "base 0x80000000, not Linux's phys_ram_base 0x80200000: saves 3577 leaves and 6 page-table pages"
        );
    }

    #[test]
    fn a_tie_keeps_linux_base() {
        // QEMU: 1 GiB at 0x80000000. Linux's base already gives the one gigapage;
        // 0 (512 GiB- or 256 TiB-aligned) would map it with the same leaf and tables.
        let map = MemoryMap::from_text("0x80000000:1G").unwrap();
        for (po, size, level) in [(SV39_PO, 128 * SZ_1G, 2), (SV48_PO, 64 << 40, 3), (SV57_PO, 32 << 50, 4)] {
            let c = choose(BaseRule::LargestLeaf, &map, po, size, level).unwrap();
            assert_eq!(c.base(), 0x8000_0000, "{po}");
            assert!(!c.moved());
            // One gigapage, and above Sv39 the tables between it and the root.
            assert_eq!((c.chosen.leaves, c.chosen.tables), (1, u64::from(level - 2)));
            assert_eq!(c.to_string(), "base 0x80000000 (Linux's phys_ram_base)");
        }
        // A leaf saved with nothing else is still a gain: 2 GiB at 0x40000000 in
        // Sv57 with 512 GiB leaves allowed maps with two gigapages either way.
        let map = MemoryMap::from_text("0x40000000:2G").unwrap();
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV57_PO, 32 << 50, 3), Ok(0x4000_0000));
    }

    #[test]
    fn backs_off_when_rounding_would_push_ram_out_of_the_window() {
        // 128 GiB of RAM from 0x80200000 fills an Sv39 window exactly: rounding
        // down to 1 GiB would push the top 2 MiB out, so the base stays 2 MiB-aligned.
        let map = MemoryMap::from_text("0x80200000:128G").unwrap();
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 128 * SZ_1G, 2), Ok(0x8020_0000));
        // A window one GiB larger leaves room: back to 1 GiB.
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 129 * SZ_1G, 2), Ok(0x8000_0000));
    }

    #[test]
    fn keeps_the_largest_alignment_when_capping_is_unavoidable() {
        // RAM from a 4 KiB offset overflows the Sv39 window whatever the base:
        // backing off to a 4 KiB base would save 4 KiB and cost 32 Mi 4 KiB leaves.
        let map = MemoryMap::from_text("0x1000:200G").unwrap();
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, 128 * SZ_1G, 2), Ok(0));
    }

    #[test]
    fn usable_bytes_counts_tables_below_the_largest_leaf() {
        let map = MemoryMap::from_text("0x80200000:8G").unwrap();
        // 1 GiB-aligned base: two level-1 tables, for the partial GiB at each end.
        assert_eq!(usable_bytes(&map, SV39_PO, 0x8000_0000, 128 * SZ_1G, 2), (8 * SZ_1G) - 2 * 4096);
        // 2 MiB-aligned base: no gigapage, so one level-1 table per GiB.
        assert_eq!(usable_bytes(&map, SV39_PO, 0x8020_0000, 128 * SZ_1G, 2), (8 * SZ_1G) - 8 * 4096);
        // 4 KiB-aligned base (PAGE_OFFSET - base only 4 KiB-aligned): also 4096 level-0 tables.
        assert_eq!(
            usable_bytes(&map, SV39_PO, 0x8020_1000, 128 * SZ_1G, 2),
            (8 * SZ_1G - 4096) - (8 + 4096) * 4096
        );
    }

    #[test]
    fn a_few_mib_of_capped_ram_do_not_buy_a_gigabyte_of_tables() {
        // Found by the fuzzer: the tightest base keeps 16 MiB at the top of the
        // Sv57 window, but only with 2 MiB leaves for 255 TiB (1 GiB of tables).
        let map = MemoryMap::from_text("0x79000000:0xfeff0ffff000,0x80000001000000:1G").unwrap();
        let sv57_po = VirtAddr::new(0xff60_0000_0000_0000);
        let base = choose_base(BaseRule::LargestLeaf, &map, sv57_po, 32 << 50, 4).unwrap();
        assert_eq!(base & (SZ_1G - 1), 0, "base {base:#x}");
    }

    #[test]
    fn page_offset_alignment_caps_the_base_alignment() {
        let map = MemoryMap::from_text("0x1_2340_0000:1G").unwrap();
        let odd_po = VirtAddr::new(0xffff_ffd6_0020_0000);
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, odd_po, 128 * SZ_1G, 2), Ok(0x1_2340_0000));
    }

    #[test]
    fn an_empty_map_has_no_base() {
        let map = MemoryMap::new();
        assert_eq!(choose_base(BaseRule::LargestLeaf, &map, SV39_PO, SZ_1G, 2), Err(Error::NoRam));
    }
}

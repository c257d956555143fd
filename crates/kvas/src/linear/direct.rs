//! The direct map of x86-64 and the linear region of arm64: all RAM at a
//! fixed offset, built by the same engine as RISC-V's linear map.
//!
//! A [`DirectMap`] says where RAM goes and with which leaves, by one of two
//! [`Rules`]:
//!
//! | | x86-64 (`page_offset_base`) | arm64 (linear region) |
//! |---|---|---|
//! | `PAGE_OFFSET` | `0xffff888000000000` (4-level), `0xff11000000000000` (5-level) | `-(1 << va_bits)`: the bottom of the `TTBR1` range |
//! | window | 64 TiB / 32 PiB | `PAGE_END - PAGE_OFFSET`: half the range (52-bit: up to `_PAGE_END(48)`) |
//! | Linux base | physical 0 (`__va(x) = x + PAGE_OFFSET`) | `memstart_addr`: first RAM rounded down to `ARM64_MEMSTART_ALIGN`, 1 GiB with 4 KiB pages |
//! | Linux leaves | a 1 GiB page (with `Page1GB`, gbpages) or 2 MiB page wherever the aligned block is all RAM, else 4 KiB; the ISA range `[0, 1 MiB)` is mapped whatever it holds | `rodata=full` (the default): 4 KiB pages only (`NO_BLOCK_MAPPINGS`); with `rodata=on`: 2 MiB and 1 GiB blocks |
//! | kvas | the base that leaves the most memory ([`choose_base`]), every leaf size the format has | the same |
//!
//! On x86 Linux maps RAM in chunks (`memory_map_top_down`, then
//! `split_mem_range` per chunk), but `adjust_range_page_size_mask` widens each
//! piece to a large page whenever the aligned block around it is all RAM
//! (`memblock_is_region_memory`), so the leaves are those of mapping each
//! maximal run of RAM with the largest leaves, which is what [`DirectMap::build`]
//! does; the non-RAM parts of the ISA range can only take 4 KiB pages.

use crate::addr::{PageSize, VirtAddr};
use crate::arch::{aarch64, x86_64};
use crate::linear::{self, choose_base, for_each_piece, BaseRule, LinearConfig, LinearMap, Piece};
use crate::paging::{Attrs, Flush, FrameAllocator, PageTable, PhysMemory, TableFormat};
use crate::phys::{MemoryMap, PhysRange};
use crate::sizes::{SZ_1G, SZ_1M};
use crate::Error;

/// Whose choices place the map and pick its leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rules {
    /// kvas: the best base, every leaf size.
    Kvas,
    /// Linux's choices (see the module documentation).
    Linux {
        /// x86-64: the CPU has 1 GiB pages (`gbpages`).
        gbpages: bool,
        /// arm64: `rodata=full` (the default), which forces 4 KiB pages.
        rodata_full: bool,
    },
}

impl Rules {
    /// Linux with its defaults: gbpages on, `rodata=full`.
    pub const LINUX: Rules = Rules::Linux { gbpages: true, rodata_full: true };
}

/// Where and with which leaves RAM is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectMap {
    /// The virtual address of `base`.
    pub page_offset: VirtAddr,
    /// The window: RAM at or past `base + size` is left out.
    pub size: u64,
    /// The physical address mapped at `page_offset`.
    pub base: u64,
    /// The largest leaf.
    pub max_leaf: PageSize,
    /// Also map the parts of `[0, 1 MiB)` that are not RAM, with 4 KiB pages
    /// (Linux on x86 maps the ISA range whatever it holds).
    pub isa: bool,
}

/// Linux's `ARM64_MEMSTART_ALIGN` with 4 KiB pages (`PUD_SHIFT`).
const ARM64_MEMSTART_ALIGN: u64 = SZ_1G;
/// Linux's `ISA_END_ADDRESS`.
const ISA_END: u64 = SZ_1M;

impl DirectMap {
    /// The x86-64 direct map of `map` in `mode`.
    pub fn x86_64(mode: x86_64::Mode, map: &MemoryMap, rules: Rules) -> Result<Self, Error> {
        let (page_offset, size) = match mode {
            x86_64::Mode::Level4 => (0xffff_8880_0000_0000, 64 << 40),
            x86_64::Mode::Level5 => (0xff11_0000_0000_0000, 32 << 50),
        };
        let page_offset = VirtAddr::new(page_offset);
        Ok(match rules {
            Rules::Kvas => {
                let base = choose_base(BaseRule::LargestLeaf, map, page_offset, size, 2)?;
                DirectMap { page_offset, size, base, max_leaf: PageSize::Size1G, isa: false }
            }
            Rules::Linux { gbpages, .. } => {
                let max_leaf = if gbpages { PageSize::Size1G } else { PageSize::Size2M };
                DirectMap { page_offset, size, base: 0, max_leaf, isa: true }
            }
        })
    }

    /// The arm64 linear region of `map` in `mode` (a `TTBR1` table).
    pub fn arm64(mode: aarch64::Mode, map: &MemoryMap, rules: Rules) -> Result<Self, Error> {
        let page_offset = VirtAddr::new(!0u64 << mode.va_bits());
        // PAGE_END = _PAGE_END(min(va_bits, 48)) = -(1 << (bits - 1)).
        let page_end = !0u64 << (mode.va_bits().min(48) - 1);
        let size = page_end - page_offset.as_u64();
        let top = mode.geometry(aarch64::Range::Ttbr1).max_leaf_level();
        Ok(match rules {
            Rules::Kvas => {
                let base = choose_base(BaseRule::LargestLeaf, map, page_offset, size, top)?;
                let max_leaf = PageSize::from_level(top).unwrap_or(PageSize::Size1G);
                DirectMap { page_offset, size, base, max_leaf, isa: false }
            }
            Rules::Linux { rodata_full, .. } => {
                let base = map.ram_span()?.start_u64() & !(ARM64_MEMSTART_ALIGN - 1);
                let max_leaf = if rodata_full { PageSize::Size4K } else { PageSize::Size1G };
                DirectMap { page_offset, size, base, max_leaf, isa: false }
            }
        })
    }

    /// Maps all mappable RAM of `map` in the window into `pt` (the alias of
    /// `text` read-only, everything else read-write, nothing executable), cut
    /// into pieces as the RISC-V linear map cuts them ([`for_each_piece`]),
    /// then the ISA range's holes in 4 KiB pages if [`Self::isa`].
    /// On error the table is as it was.
    pub fn build<F: TableFormat, M: PhysMemory>(
        &self,
        pt: &mut PageTable<F, M>,
        map: &MemoryMap,
        text: Option<PhysRange>,
        alloc: &mut impl FrameAllocator,
    ) -> Result<(LinearMap, Flush), Error> {
        let cfg = self.config(text);
        let limit = cfg.limit(self.base);
        let offset = self.page_offset.as_u64().wrapping_sub(self.base);
        let (mapped_bytes, pieces, flush) = linear::map_pieces(pt, offset, alloc, |each| {
            for_each_piece(map, self.base, limit, &cfg, &mut *each)?;
            if self.isa {
                for_each_isa_hole(map, |range| {
                    each(Piece { range, attrs: Attrs::KERNEL_RW, max_leaf: PageSize::Size4K })
                })?;
            }
            Ok(())
        })?;
        Ok((linear::placement(map, &cfg, self.base, mapped_bytes, pieces)?, flush))
    }

    /// The [`LinearConfig`] of this map: its window and largest leaf, `text`'s
    /// alias read-only. The base is already chosen, so the rule is not consulted.
    fn config(&self, text: Option<PhysRange>) -> LinearConfig {
        LinearConfig {
            page_offset: self.page_offset,
            size: self.size,
            max_leaf: self.max_leaf,
            base_rule: BaseRule::Linux,
            kernel_text: text,
            kernel_rodata: None,
            kfence: None,
        }
    }
}

/// Calls `each` for every piece of `[0, 1 MiB)` that no mappable RAM covers.
fn for_each_isa_hole(
    map: &MemoryMap,
    mut each: impl FnMut(PhysRange) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut at = 0;
    for ram in map.mappable() {
        if ram.start_u64() >= ISA_END {
            break;
        }
        if ram.start_u64() > at {
            each(PhysRange::from_bounds(at, ram.start_u64())?)?;
        }
        at = at.max(ram.end());
    }
    if at < ISA_END {
        each(PhysRange::from_bounds(at, ISA_END)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;
    use crate::arch::aarch64::{Aarch64, Range};
    use crate::arch::x86_64::X86_64;
    use crate::sim::{Ram, TrackingAllocator};

    fn frames() -> TrackingAllocator {
        TrackingAllocator::new(PhysAddr::new(0xf000_0000_0000).unwrap(), 1 << 32).unwrap()
    }

    fn x86_leaves(map: &str, mode: x86_64::Mode, rules: Rules) -> [u64; 3] {
        let map = MemoryMap::from_text(map).unwrap();
        let dm = DirectMap::x86_64(mode, &map, rules).unwrap();
        let ram = Ram::new();
        let mut alloc = frames();
        let mut pt = PageTable::new(X86_64::new(mode), &ram, &mut alloc).unwrap();
        dm.build(&mut pt, &map, None, &mut alloc).unwrap().1.ignore();
        let l = pt.stats().unwrap().leaves;
        [l[0], l[1], l[2]]
    }

    #[test]
    fn x86_linux_maps_the_isa_range_and_large_pages_where_ram_allows() {
        let map = MemoryMap::from_text("0x100000:0xfff00000,0x100000000:3G").unwrap();
        let dm = DirectMap::x86_64(x86_64::Mode::Level5, &map, Rules::LINUX).unwrap();
        assert_eq!((dm.base, dm.page_offset.as_u64()), (0, 0xff11_0000_0000_0000));
        let l5 = x86_64::Mode::Level5;
        // [0, 1M) not RAM: mapped anyway, in 4 KiB pages; [1M, 2M) then cannot
        // be a 2 MiB page either; [2M, 1G) in 2 MiB, then 1 GiB pages.
        assert_eq!(x86_leaves("0x100000:0xfff00000,0x100000000:3G", l5, Rules::LINUX), [512, 511, 6]);
        // kvas leaves the ISA hole alone.
        assert_eq!(x86_leaves("0x100000:0xfff00000,0x100000000:3G", l5, Rules::Kvas), [256, 511, 6]);
        // A PC's map: RAM below 0x9f000, the legacy hole, RAM from 1 MiB.
        assert_eq!(x86_leaves("0:0x9f000,0x100000:0x7ff00000", l5, Rules::LINUX), [512, 511, 1]);
        // All RAM from 0: Linux widens the ISA mapping to the gigabyte around it.
        assert_eq!(x86_leaves("0:4G", l5, Rules::LINUX), [0, 0, 4]);
        // Without gbpages, 2 MiB at most.
        let no_gb = Rules::Linux { gbpages: false, rodata_full: true };
        assert_eq!(x86_leaves("0:4G", x86_64::Mode::Level4, no_gb), [0, 2048, 0]);
    }

    #[test]
    fn arm64_linux_with_rodata_full_uses_pages_and_rodata_on_blocks() {
        let map = MemoryMap::from_text("0x40000000:2G").unwrap();
        let full = DirectMap::arm64(aarch64::Mode::Va48, &map, Rules::LINUX).unwrap();
        assert_eq!(
            (full.base, full.page_offset.as_u64(), full.size),
            (0x4000_0000, 0xffff_0000_0000_0000, 1 << 47)
        );
        let on = Rules::Linux { gbpages: true, rodata_full: false };
        for (rules, leaves) in [(Rules::LINUX, [524_288, 0, 0]), (on, [0, 0, 2])] {
            let dm = DirectMap::arm64(aarch64::Mode::Va48, &map, rules).unwrap();
            let ram = Ram::new();
            let mut alloc = frames();
            let mut pt =
                PageTable::new(Aarch64::new(aarch64::Mode::Va48, Range::Ttbr1), &ram, &mut alloc).unwrap();
            dm.build(&mut pt, &map, None, &mut alloc).unwrap().1.ignore();
            assert_eq!(&pt.stats().unwrap().leaves[..3], &leaves, "{rules:?}");
        }
        // 52-bit: PAGE_OFFSET at the bottom of the TTBR1 range, window up to _PAGE_END(48).
        let dm = DirectMap::arm64(aarch64::Mode::Va52, &map, Rules::Kvas).unwrap();
        assert_eq!(
            (dm.page_offset.as_u64(), dm.size, dm.max_leaf),
            (0xfff0_0000_0000_0000, 0xf_8000_0000_0000, PageSize::Size512G)
        );
    }

    #[test]
    fn a_failed_build_leaves_nothing() {
        let map = MemoryMap::from_text("0x40000000:2G,0x100000000:1G").unwrap();
        let dm = DirectMap::arm64(aarch64::Mode::Va39, &map, Rules::Kvas).unwrap();
        let ram = Ram::new();
        let mut alloc = frames();
        let mut pt =
            PageTable::new(Aarch64::new(aarch64::Mode::Va39, Range::Ttbr1), &ram, &mut alloc).unwrap();
        // Something already mapped where the second bank goes.
        let va = VirtAddr::new(dm.page_offset.as_u64() + (0x1_0000_0000 - dm.base));
        pt.map(va, PhysAddr::new(0).unwrap(), PageSize::Size4K, Attrs::KERNEL_RW, &mut alloc)
            .unwrap()
            .ignore();
        let live = alloc.live();
        assert!(matches!(dm.build(&mut pt, &map, None, &mut alloc), Err(Error::AlreadyMapped { .. })));
        assert_eq!((alloc.live(), pt.mappings().count()), (live, 1));
    }
}

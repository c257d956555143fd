//! The linear map: all RAM at `PAGE_OFFSET`, with the fewest leaves and tables.
//!
//! [`build`] maps every byte of RAM that a [`MemoryMap`] calls mappable (RAM
//! minus `no-map` reservations) at `PAGE_OFFSET + (pa - base)`, where `base` is
//! chosen by a [`BaseRule`] (see [`base`] for when kvas moves it from Linux's
//! 2 MiB rounding, and what that saves). Banks may start and end at any 4 KiB boundary, with holes
//! between them; each piece goes to the engine's
//! [`PageTable::map_range`], which puts down the largest leaf that the
//! alignment and the remaining length allow, up to the root level (1 GiB in
//! Sv39, 512 GiB in Sv48, 256 TiB in Sv57).
//!
//! ```text
//!   physical                                      virtual
//!   base ─┬─ (hole) ───────────────┐              PAGE_OFFSET ─┬─ unmapped
//!         ├─ bank 0 (no-map cut) ──┼─ same offset ─────────────┼─ RW, no X
//!         ├─ kernel text, rodata ──┼───────────────────────────┼─ RO alias (W^X)
//!         ├─ KFENCE pool ──────────┼───────────────────────────┼─ RW, 4 KiB pages only
//!         ├─ bank 1 ───────────────┤                           ├─ RW, no X
//!   base + size ─ (cap) ───────────┘  PAGE_OFFSET + size ──────┘
//!         RAM beyond: not mapped, reported in [`LinearMap::capped`]
//! ```
//!
//! Nothing in the linear map is executable, and the aliases of the kernel's
//! text and rodata are read-only (as Linux's `mark_rodata_ro` makes
//! `lm_alias(rodata)` read-only), so no page is both writable and executable
//! and the image's read-only data cannot be written through its alias. The
//! KFENCE pool, if any, is mapped with 4 KiB pages only. [`crate::kspace`]
//! fills these in from the kernel image. RAM beyond the
//! window (`size` bytes, Linux's `KERN_VIRT_SIZE`) is left out and reported.
//!
//! **Minimal by construction.** Each maximal run of same-attribute mappable RAM
//! is one `map_range` call; the engine's greedy largest-leaf choice splits a run
//! into the fewest aligned blocks, and it creates a table only where a leaf
//! below that table's level is needed. `tests/linear_props.rs` checks both
//! counts against an independent computation over random memory maps.
//!
//! **All or nothing.** If a piece cannot be mapped (the allocator runs dry, or
//! something is already mapped there), the pieces already mapped are unmapped
//! again, their tables freed, and the error returned.

pub mod base;
pub(crate) mod count;
pub mod direct;

pub use base::{choose_base, BaseChoice, BaseRule};

use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::arch::riscv::Mode;
use crate::layout::riscv64;
use crate::paging::{Attrs, Flush, FrameAllocator, PageTable, PhysMemory, TableFormat};
use crate::phys::{MemoryMap, PhysRange};
use crate::range::VirtRange;
use crate::Error;

/// Where and how to build the linear map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearConfig {
    /// The virtual address of the linear map's first byte.
    pub page_offset: VirtAddr,
    /// The window's size: RAM at or beyond `base + size` is left out.
    pub size: u64,
    /// The largest leaf to use (capped by the mode's own largest).
    pub max_leaf: PageSize,
    /// How the physical base is chosen.
    pub base_rule: BaseRule,
    /// The kernel's text, whose linear alias is mapped read-only.
    pub kernel_text: Option<PhysRange>,
    /// The kernel's rodata, whose linear alias is mapped read-only too (Linux's
    /// `mark_rodata_ro` makes `lm_alias(rodata)` read-only).
    pub kernel_rodata: Option<PhysRange>,
    /// The KFENCE pool: mapped read-write with 4 KiB pages only, so that KFENCE
    /// can protect single pages of it.
    pub kfence: Option<PhysRange>,
}

impl LinearConfig {
    /// kvas on RISC-V: Linux's `PAGE_OFFSET` and window size for `mode`, every
    /// leaf size the privileged spec allows, and the [`BaseRule::LargestLeaf`] base.
    pub const fn riscv(mode: Mode) -> Self {
        Self {
            page_offset: VirtAddr::new(riscv64::page_offset(mode)),
            size: riscv64::kern_virt_size(mode),
            max_leaf: PageSize::Size256T,
            base_rule: BaseRule::LargestLeaf,
            kernel_text: None,
            kernel_rodata: None,
            kfence: None,
        }
    }

    /// What Linux does on RISC-V: the 2 MiB base rule, and `best_map_size`'s
    /// largest leaf (2 MiB in Sv39, 1 GiB in Sv48, 512 GiB in Sv57).
    pub const fn riscv_linux(mode: Mode) -> Self {
        let max_leaf = match mode {
            Mode::Sv39 => PageSize::Size2M,
            Mode::Sv48 => PageSize::Size1G,
            Mode::Sv57 => PageSize::Size512G,
        };
        Self { max_leaf, base_rule: BaseRule::Linux, ..Self::riscv(mode) }
    }
}

/// What [`build`] mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearMap {
    /// The physical address mapped at `page_offset`.
    pub base: PhysAddr,
    /// The virtual address of `base`.
    pub page_offset: VirtAddr,
    /// The window's size.
    pub size: u64,
    /// Bytes of RAM mapped.
    pub mapped_bytes: u64,
    /// How many `map_range` pieces (maximal same-attribute runs) there were.
    pub pieces: usize,
    /// Mappable RAM left out because it lies beyond the window:
    /// `[base + size, end of RAM)`, if any.
    pub capped: Option<PhysRange>,
    /// How many bytes of RAM that range holds.
    pub capped_bytes: u64,
}

impl LinearMap {
    /// The linear-map address of `pa`, if `pa` lies in the window.
    pub fn va_of(&self, pa: PhysAddr) -> Option<VirtAddr> {
        let off = pa.as_u64().checked_sub(self.base.as_u64())?;
        (off < self.size).then(|| self.page_offset.wrapping_add(off))
    }

    /// The physical address behind a linear-map address, if it lies in the window.
    pub fn pa_of(&self, va: VirtAddr) -> Option<PhysAddr> {
        let off = va.as_u64().checked_sub(self.page_offset.as_u64())?;
        if off < self.size {
            PhysAddr::new(self.base.as_u64() + off).ok()
        } else {
            None
        }
    }

    /// `va - pa` for every address of the linear map (Linux's `va_pa_offset`).
    pub fn va_pa_offset(&self) -> u64 {
        self.page_offset.as_u64().wrapping_sub(self.base.as_u64())
    }
}

impl core::fmt::Display for LinearMap {
    /// One line, plus a warning line if RAM was capped.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "linear map: {:#x} bytes of RAM at {} (phys base {}), {} pieces",
            self.mapped_bytes, self.page_offset, self.base, self.pieces
        )?;
        if let Some(c) = self.capped {
            write!(
                f,
                "\nwarning: physical memory overflows the linear map: {:#x} bytes in {} not mapped",
                self.capped_bytes, c
            )?;
        }
        Ok(())
    }
}

/// One `map_range` call of the linear map: a maximal run of mappable RAM with
/// one set of attributes and one largest leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The physical run.
    pub range: PhysRange,
    /// Read-write, or read-only over the kernel's text and rodata.
    pub attrs: Attrs,
    /// The largest leaf: the configuration's, or 4 KiB over the KFENCE pool (and
    /// over the holes of x86's ISA range, [`direct::DirectMap::isa`]).
    pub max_leaf: PageSize,
}

/// The ranges cut out of the read-write runs, widened to whole pages, in address order.
fn specials(cfg: &LinearConfig) -> [Option<(PhysRange, Attrs, PageSize)>; 3] {
    let mut out = [
        cfg.kernel_text.map(|r| (r.pages_around(), Attrs::KERNEL_RO, cfg.max_leaf)),
        cfg.kernel_rodata.map(|r| (r.pages_around(), Attrs::KERNEL_RO, cfg.max_leaf)),
        cfg.kfence.map(|r| (r.pages_around(), Attrs::KERNEL_RW, PageSize::Size4K)),
    ];
    out.sort_unstable_by_key(|s| s.map_or(u64::MAX, |(r, _, _)| r.start_u64()));
    out
}

/// Calls `each(piece)` for every maximal run of mappable RAM inside
/// `[base, limit)` with one attribute set and one largest leaf: read-write,
/// read-only over the kernel's text and rodata, 4 KiB pages over the KFENCE
/// pool (where these overlap, the first in address order wins). In address order.
pub fn for_each_piece(
    map: &MemoryMap,
    base: u64,
    limit: u64,
    cfg: &LinearConfig,
    mut each: impl FnMut(Piece) -> Result<(), Error>,
) -> Result<(), Error> {
    let window = PhysRange::from_bounds(base, limit)?;
    let specials = specials(cfg);
    let rw = |start: u64, end: u64| -> Result<Piece, Error> {
        Ok(Piece {
            range: PhysRange::from_bounds(start, end)?,
            attrs: Attrs::KERNEL_RW,
            max_leaf: cfg.max_leaf,
        })
    };
    for ram in map.mappable() {
        let Some(ram) = ram.intersect(window) else { continue };
        let mut cursor = ram.start_u64();
        for &(special, attrs, max_leaf) in specials.iter().flatten() {
            let Some(cut) = ram.intersect(special) else { continue };
            let start = cut.start_u64().max(cursor);
            if start >= cut.end() {
                continue;
            }
            if cursor < start {
                each(rw(cursor, start)?)?;
            }
            each(Piece { range: PhysRange::from_bounds(start, cut.end())?, attrs, max_leaf })?;
            cursor = cut.end();
        }
        if cursor < ram.end() {
            each(rw(cursor, ram.end())?)?;
        }
    }
    Ok(())
}

/// Maps all mappable RAM of `map` into `pt` as `cfg` says (see the module
/// documentation), with the base [`choose_base`] picks. Returns what was mapped
/// and the TLB work owed; on error the table is as it was.
pub fn build<F: TableFormat, M: PhysMemory>(
    pt: &mut PageTable<F, M>,
    map: &MemoryMap,
    cfg: &LinearConfig,
    alloc: &mut impl FrameAllocator,
) -> Result<(LinearMap, Flush), Error> {
    let base = cfg.choose_base(map, pt.format().geometry())?;
    build_at(pt, map, cfg, base, alloc)
}

impl LinearConfig {
    /// The physical base [`build`] uses for `map` in tables of `geometry`.
    pub fn choose_base(&self, map: &MemoryMap, geometry: crate::paging::Geometry) -> Result<u64, Error> {
        self.choose(map, geometry).map(|c| c.base())
    }

    /// [`Self::choose_base`] with Linux's base next to it and what a move saves
    /// (what `kvas map` prints).
    pub fn choose(&self, map: &MemoryMap, geometry: crate::paging::Geometry) -> Result<BaseChoice, Error> {
        let max_level = self.max_leaf.level().min(geometry.max_leaf_level());
        base::choose(self.base_rule, map, self.page_offset, self.size, max_level)
    }

    /// The end of the physical window for `base`: RAM at or above it is left out.
    pub fn limit(&self, base: u64) -> u64 {
        base.saturating_add(self.size).min(crate::phys::PHYS_END)
    }
}

/// [`build`] with the physical base already chosen (so that a caller that
/// needed it before, for its frame allocator's limit, chooses it once).
pub fn build_at<F: TableFormat, M: PhysMemory>(
    pt: &mut PageTable<F, M>,
    map: &MemoryMap,
    cfg: &LinearConfig,
    base: u64,
    alloc: &mut impl FrameAllocator,
) -> Result<(LinearMap, Flush), Error> {
    let limit = cfg.limit(base);
    let offset = cfg.page_offset.as_u64().wrapping_sub(base);
    let (mapped_bytes, pieces, flush) =
        map_pieces(pt, offset, alloc, |each| for_each_piece(map, base, limit, cfg, each))?;
    Ok((placement(map, cfg, base, mapped_bytes, pieces)?, flush))
}

/// Maps every piece `pieces` gives (it calls its argument once per piece, in
/// the same order each time it is called) at `pa + offset`, all or nothing:
/// if one fails, the pieces already mapped are unmapped again (the same
/// pieces, so no leaf straddles an end and the unmap needs no frames; emptied
/// tables go back to `alloc`) and the error returned. Returns the bytes and
/// pieces mapped and the TLB work owed.
pub(crate) fn map_pieces<F: TableFormat, M: PhysMemory>(
    pt: &mut PageTable<F, M>,
    offset: u64,
    alloc: &mut impl FrameAllocator,
    pieces: impl Fn(&mut dyn FnMut(Piece) -> Result<(), Error>) -> Result<(), Error>,
) -> Result<(u64, usize, Flush), Error> {
    let va_of =
        |p: &Piece| VirtRange::new(VirtAddr::new(p.range.start_u64().wrapping_add(offset)), p.range.size());
    let mut flush = Flush::none();
    let (mut mapped_bytes, mut mapped) = (0, 0);
    let outcome = pieces(&mut |p| {
        flush.merge(pt.map_range(va_of(&p)?, p.range.start(), p.attrs, p.max_leaf, alloc)?);
        mapped_bytes += p.range.size();
        mapped += 1;
        Ok(())
    });
    if let Err(e) = outcome {
        let mut undone = 0;
        let _ = pieces(&mut |p| {
            if undone < mapped {
                undone += 1;
                pt.unmap_range(va_of(&p)?, alloc)?.ignore();
            }
            Ok(())
        });
        return Err(e);
    }
    Ok((mapped_bytes, mapped, flush))
}

/// The [`LinearMap`] for `base`, with what lies beyond the window.
pub fn placement(
    map: &MemoryMap,
    cfg: &LinearConfig,
    base: u64,
    mapped_bytes: u64,
    pieces: usize,
) -> Result<LinearMap, Error> {
    let limit = cfg.limit(base);
    let capped_bytes = map.mappable().map(|r| r.end().saturating_sub(r.start_u64().max(limit))).sum();
    let capped = match map.mappable().last() {
        Some(last) if capped_bytes > 0 => Some(PhysRange::from_bounds(limit, last.end())?),
        _ => None,
    };
    Ok(LinearMap {
        base: PhysAddr::new(base)?,
        page_offset: cfg.page_offset,
        size: cfg.size,
        mapped_bytes,
        pieces,
        capped,
        capped_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(
        map: &MemoryMap,
        base: u64,
        limit: u64,
        text: Option<PhysRange>,
    ) -> std::vec::Vec<(u64, u64, bool)> {
        let mut out = std::vec::Vec::new();
        let cfg = LinearConfig { kernel_text: text, ..LinearConfig::riscv(Mode::Sv39) };
        for_each_piece(map, base, limit, &cfg, |p| {
            out.push((p.range.start_u64(), p.range.end(), p.attrs == Attrs::KERNEL_RO));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn pieces_split_at_the_text_and_stop_at_the_window() {
        let mut map = MemoryMap::from_text("0x80000000:1G,0xc0001000:1G").unwrap();
        map.reserve_text("0x80000000:256K").unwrap();
        let text = PhysRange::new(0x8020_0800, 0x1000).unwrap(); // widened to two pages
        assert_eq!(
            pieces(&map, 0x8000_0000, 0x1_0000_0000, Some(text)),
            [
                (0x8004_0000, 0x8020_0000, false),
                (0x8020_0000, 0x8020_2000, true),
                (0x8020_2000, 0xc000_0000, false),
                (0xc000_1000, 0x1_0000_0000, false),
            ]
        );
        // A text range covering a whole run leaves one read-only piece.
        let whole = PhysRange::new(0xc000_0000, 0x4000_2000).unwrap();
        assert_eq!(
            pieces(&map, 0xc000_0000, 0x1_0000_1000, Some(whole)),
            [(0xc000_1000, 0x1_0000_1000, true)]
        );
        let cfg = LinearConfig::riscv(Mode::Sv39);
        assert!(for_each_piece(&map, 0x1000, 0x1000, &cfg, |_| Ok(())).is_err(), "an empty window");
    }

    #[test]
    fn rodata_is_read_only_and_kfence_takes_4k_pages() {
        let map = MemoryMap::from_text("0x80000000:1G").unwrap();
        let cfg = LinearConfig {
            kernel_text: Some(PhysRange::new(0x8020_0000, 0x10_0000).unwrap()),
            kernel_rodata: Some(PhysRange::new(0x8030_0000, 0x4_0000).unwrap()),
            kfence: Some(PhysRange::new(0xbfc0_0000, 0x20_0000).unwrap()),
            ..LinearConfig::riscv(Mode::Sv48)
        };
        let mut out = std::vec::Vec::new();
        for_each_piece(&map, 0x8000_0000, 0xc000_0000, &cfg, |p| {
            out.push((p.range.start_u64(), p.range.end(), p.attrs, p.max_leaf));
            Ok(())
        })
        .unwrap();
        let (rw, ro, big) = (Attrs::KERNEL_RW, Attrs::KERNEL_RO, PageSize::Size256T);
        assert_eq!(
            out,
            [
                (0x8000_0000, 0x8020_0000, rw, big),
                (0x8020_0000, 0x8030_0000, ro, big),
                (0x8030_0000, 0x8034_0000, ro, big),
                (0x8034_0000, 0xbfc0_0000, rw, big),
                (0xbfc0_0000, 0xbfe0_0000, rw, PageSize::Size4K),
                (0xbfe0_0000, 0xc000_0000, rw, big),
            ]
        );
    }

    #[test]
    fn va_and_pa_convert_inside_the_window_only() {
        let lm = LinearMap {
            base: PhysAddr::new(0x8000_0000).unwrap(),
            page_offset: VirtAddr::new(0xffff_ffd6_0000_0000),
            size: 128 << 30,
            mapped_bytes: 0,
            pieces: 0,
            capped: None,
            capped_bytes: 0,
        };
        let pa = PhysAddr::new(0x8123_4567).unwrap();
        let va = lm.va_of(pa).unwrap();
        assert_eq!(va.as_u64(), 0xffff_ffd6_0123_4567);
        assert_eq!(lm.pa_of(va), Some(pa));
        assert_eq!(lm.va_of(PhysAddr::new(0x7fff_ffff).unwrap()), None, "below the base");
        assert_eq!(lm.va_of(PhysAddr::new(0x80_8000_0000).unwrap()), None, "past the window");
        assert_eq!(lm.pa_of(VirtAddr::new(0xffff_ffd5_ffff_ffff)), None);
        assert_eq!(lm.va_pa_offset(), 0xffff_ffd6_0000_0000u64.wrapping_sub(0x8000_0000));
    }

    #[test]
    fn linux_config_caps_leaves_as_best_map_size_does() {
        assert_eq!(LinearConfig::riscv_linux(Mode::Sv39).max_leaf, PageSize::Size2M);
        assert_eq!(LinearConfig::riscv_linux(Mode::Sv48).max_leaf, PageSize::Size1G);
        assert_eq!(LinearConfig::riscv_linux(Mode::Sv57).max_leaf, PageSize::Size512G);
        assert_eq!(LinearConfig::riscv(Mode::Sv57).size, 32 << 50);
        assert_eq!(LinearConfig::riscv(Mode::Sv48).page_offset.as_u64(), 0xffff_af80_0000_0000);
    }
}

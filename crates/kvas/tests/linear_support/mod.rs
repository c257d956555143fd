//! Shared by the linear-map tests: build in simulated RAM, and an independent
//! model of what the linear map must be and how small it can be.

#![allow(dead_code)]

use kvas::arch::riscv::{Mode, Riscv};
use kvas::linear::{self, LinearConfig, LinearMap};
use kvas::paging::{Attrs, FrameAllocator, Geometry, Mapping, PageTable, TableStats};
use kvas::phys::{EarlyFrameAllocator, MemoryMap};
use kvas::sim::{Access, Context, Mmu, Ram};
use kvas::{Error, PhysAddr, VirtAddr};

pub const MODES: [Mode; 3] = [Mode::Sv39, Mode::Sv48, Mode::Sv57];

/// The early allocator, recording every frame it hands out.
pub struct Recording<'a> {
    pub inner: EarlyFrameAllocator<'a>,
    pub given: Vec<PhysAddr>,
}

impl FrameAllocator for Recording<'_> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let f = self.inner.allocate_frame()?;
        self.given.push(f);
        Some(f)
    }
    fn free_frame(&mut self, frame: PhysAddr) {
        self.inner.free_frame(frame)
    }
}

pub struct Built {
    pub ram: Ram,
    pub root: PhysAddr,
    pub lm: LinearMap,
    pub stats: TableStats,
    pub leaves: Vec<Mapping>,
    pub frames_given: Vec<PhysAddr>,
    pub frames_in_use: u64,
}

pub fn build(mode: Mode, map: &MemoryMap, cfg: &LinearConfig) -> Result<Built, Error> {
    let ram = Ram::new();
    let mut alloc = Recording { inner: EarlyFrameAllocator::new(map), given: Vec::new() };
    let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut alloc)?;
    let (lm, flush) = linear::build(&mut pt, map, cfg, &mut alloc)?;
    flush.ignore();
    let stats = pt.stats()?;
    let leaves = pt.mappings().collect::<Result<Vec<_>, _>>()?;
    let root = pt.root();
    let frames_in_use = alloc.inner.in_use();
    Ok(Built { ram, root, lm, stats, leaves, frames_given: alloc.given, frames_in_use })
}

/// A raw memory map as a test generates it: banks and `(start, end, no_map)` reservations.
#[derive(Clone, Debug)]
pub struct RawMap {
    pub banks: Vec<(u64, u64)>,
    pub reserved: Vec<(u64, u64, bool)>,
}

impl RawMap {
    /// Banks given as `(start, length)`, and reservations as `(page, pages,
    /// no_map)` placed inside bank `i % banks` (so they land in RAM most of the
    /// time): what the property tests' strategies draw.
    pub fn from_draw(banks: Vec<(u64, u64)>, res: Vec<(u64, u64, bool)>) -> RawMap {
        let banks: Vec<(u64, u64)> = banks.into_iter().map(|(s, len)| (s, s + len)).collect();
        let reserved = res
            .into_iter()
            .enumerate()
            .map(|(i, (page, pages, no_map))| {
                let (bs, be) = banks[i % banks.len()];
                let start = bs + (page * 4096) % (be - bs);
                (start, start + pages * 4096, no_map)
            })
            .collect();
        RawMap { banks, reserved }
    }

    pub fn to_map(&self) -> MemoryMap {
        use kvas::phys::{ReserveKind, ReservedBy};
        let mut m = MemoryMap::new();
        for &(s, e) in &self.banks {
            m.add_ram(s, e - s).unwrap();
        }
        for &(s, e, no_map) in &self.reserved {
            let kind = if no_map { ReserveKind::NoMap } else { ReserveKind::Reserved };
            m.reserve(s, e - s, kind, ReservedBy::User).unwrap();
        }
        m
    }
}

/// Sorted, merged union of `[s, e)` ranges.
pub fn union(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `a` minus every range of `b` (both sorted unions).
pub fn subtract(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(s, e) in a {
        let mut pos = s;
        for &(bs, be) in b {
            if be <= pos || bs >= e {
                continue;
            }
            if bs > pos {
                out.push((pos, bs));
            }
            pos = pos.max(be);
        }
        if pos < e {
            out.push((pos, e));
        }
    }
    out
}

/// What must be mapped, written without the library: `(pa_start, pa_end, read_only)`.
pub fn expected_pieces(
    raw: &RawMap,
    base: u64,
    limit: u64,
    text: Option<(u64, u64)>,
) -> Vec<(u64, u64, bool)> {
    let ram = union(raw.banks.clone());
    let no_map = union(raw.reserved.iter().filter(|r| r.2).map(|r| (r.0, r.1)).collect());
    let mut out = Vec::new();
    for (s, e) in subtract(&ram, &no_map) {
        let (s, e) = (s.max(base), e.min(limit));
        if s >= e {
            continue;
        }
        match text {
            Some((ts, te)) if ts < e && te > s => {
                let (rs, re) = (ts.max(s), te.min(e));
                if s < rs {
                    out.push((s, rs, false));
                }
                out.push((rs, re, true));
                if re < e {
                    out.push((re, e, false));
                }
            }
            _ => out.push((s, e, false)),
        }
    }
    out
}

/// The fewest leaves per level and table pages (root included) that map `pieces`
/// (physical, each its own attributes) at `pa + offset`, with leaves up to
/// `max_level`, computed by counting aligned blocks — no walk, no engine.
pub fn minimum(mode: Mode, pieces: &[(u64, u64, bool)], offset: u64, max_level: u8) -> ([u64; 5], u64) {
    let (leaves, by_level) = minimum_by_level(mode, pieces, offset, max_level);
    (leaves, 1 + by_level.iter().sum::<u64>())
}

/// [`minimum`], with the table pages counted per level (the root not included).
pub fn minimum_by_level(
    mode: Mode,
    pieces: &[(u64, u64, bool)],
    offset: u64,
    max_level: u8,
) -> ([u64; 5], [u64; 5]) {
    let root = mode.levels() - 1;
    // Leaf levels usable at all: the VA-PA offset must be aligned to the leaf.
    let mut top = 0;
    for level in 1..=max_level.min(root) {
        if offset & (Geometry::granularity(level) - 1) == 0 {
            top = level;
        }
    }
    let blocks_inside = |s: u64, e: u64, g: u64| -> u64 {
        let first = s.div_ceil(g);
        let last = e / g;
        last.saturating_sub(first)
    };
    let mut leaves = [0u64; 5];
    for &(ps, pe, _) in pieces {
        let (s, e) = (ps.wrapping_add(offset), pe.wrapping_add(offset));
        for level in 0..=top {
            let g = Geometry::granularity(level);
            let n = blocks_inside(s, e, g);
            let above =
                if level < top { 512 * blocks_inside(s, e, Geometry::granularity(level + 1)) } else { 0 };
            leaves[level as usize] += n - above;
        }
    }
    let mut tables = [0u64; 5];
    for level in 0..root {
        // A level-`level` table covers a block of the next level's size; it is
        // needed iff some byte in that block is not covered by a larger leaf.
        let g = Geometry::granularity(level + 1);
        let mut spans = Vec::new();
        for &(ps, pe, _) in pieces {
            let (s, e) = (ps.wrapping_add(offset), pe.wrapping_add(offset));
            if level + 1 > top {
                spans.push((s / g, (e - 1) / g));
            } else {
                let head_end = s.next_multiple_of(g).min(e);
                if s < head_end {
                    spans.push((s / g, s / g));
                }
                let tail_start = (e / g * g).max(s);
                if tail_start < e && tail_start >= head_end {
                    spans.push((tail_start / g, tail_start / g));
                }
            }
        }
        spans.sort();
        let mut last: Option<(u64, u64)> = None;
        for (a, b) in spans {
            match last {
                Some((la, lb)) if a <= lb + 1 => last = Some((la, lb.max(b))),
                Some((la, lb)) => {
                    tables[level as usize] += lb - la + 1;
                    last = Some((a, b));
                }
                None => last = Some((a, b)),
            }
        }
        if let Some((la, lb)) = last {
            tables[level as usize] += lb - la + 1;
        }
    }
    (leaves, tables)
}

/// Free pages of a raw map, computed without the library: RAM minus every reservation.
pub fn free_pages(raw: &RawMap) -> u64 {
    let ram = union(raw.banks.clone());
    let reserved = union(raw.reserved.iter().map(|r| (r.0 & !0xfff, r.1.next_multiple_of(4096))).collect());
    subtract(&ram, &reserved).iter().map(|r| (r.1 - r.0) / 4096).sum()
}

/// Builds with too few free frames and checks the failure: `OutOfFrames`, the
/// table as it was (root only), and every frame but the root back.
pub fn check_exhaustion(mode: Mode, map: &MemoryMap, cfg: &LinearConfig) {
    let ram = Ram::new();
    let mut alloc = EarlyFrameAllocator::new(map);
    let mut pt = match PageTable::new(Riscv::new(mode), &ram, &mut alloc) {
        Ok(pt) => pt,
        Err(e) => {
            assert!(matches!(e, Error::OutOfFrames { .. }), "{e}");
            assert_eq!(alloc.remaining(), 0);
            return;
        }
    };
    let err = linear::build(&mut pt, map, cfg, &mut alloc).unwrap_err();
    assert!(matches!(err, Error::OutOfFrames { .. }), "{err}");
    assert_eq!(pt.stats().unwrap(), TableStats { tables: 1, leaves: [0; 5], bytes: 0 });
    assert_eq!(pt.mappings().count(), 0);
    assert_eq!((alloc.in_use(), alloc.lost()), (1, 0), "every frame but the root given back");
}

/// The oracle's answer for `va`.
pub fn oracle(b: &Built, mode: Mode, va: u64, access: Access) -> Result<u64, ()> {
    let satp = mode.satp_mode() << 60 | b.root.as_u64() >> 12;
    let mmu = Mmu::from_satp(satp).unwrap();
    mmu.translate(&b.ram, VirtAddr::new(va), access, Context::SUPERVISOR)
        .map(|t| t.pa.as_u64())
        .map_err(|_| ())
}

/// Everything the issue asks of a linear map, checked against the independent model.
pub fn check(mode: Mode, raw: &RawMap, map: &MemoryMap, cfg: &LinearConfig, b: &Built) {
    let lm = &b.lm;
    let base = lm.base.as_u64();
    let offset = lm.va_pa_offset();
    let limit = base + cfg.size;
    let text = cfg.kernel_text.map(|t| (t.start_u64() & !0xfff, t.end().next_multiple_of(4096)));
    let pieces = expected_pieces(raw, base, limit, text);
    let total: u64 = pieces.iter().map(|p| p.1 - p.0).sum();
    assert_eq!(lm.mapped_bytes, total, "mapped bytes");

    // The base follows its rule (crates/kvas/src/linear/base.rs), checked from scratch.
    let first = union(raw.banks.clone())[0].0;
    match cfg.base_rule {
        linear::BaseRule::Linux => assert_eq!(base, first & !((2 << 20) - 1)),
        linear::BaseRule::LargestLeaf => {
            // Linux's base (first byte rounded to 2 MiB) unless rounding further,
            // to a larger leaf size, leaves more memory (RAM mapped minus tables
            // below the largest leaf level) or as much with fewer leaves; among
            // equal gains the smallest move; on a tie with Linux's, Linux's.
            let max_level = cfg.max_leaf.level().min(mode.levels() - 1);
            let po_align = 1u64 << cfg.page_offset.as_u64().trailing_zeros();
            let score = |b: u64| -> (u64, std::cmp::Reverse<u64>) {
                let pieces = expected_pieces(raw, b, b + cfg.size, None);
                let bytes: u64 = pieces.iter().map(|p| p.1 - p.0).sum();
                let (leaves, tables) =
                    minimum_by_level(mode, &pieces, cfg.page_offset.as_u64().wrapping_sub(b), max_level);
                let usable = bytes - 4096 * tables[..max_level as usize].iter().sum::<u64>();
                (usable, std::cmp::Reverse(leaves.iter().sum()))
            };
            let linux = first & !((2 << 20) - 1);
            let mut candidates = vec![linux];
            for l in 0..=max_level {
                let align = Geometry::granularity(l).min(po_align);
                if align > 2 << 20 {
                    candidates.push(first & !(align - 1));
                }
            }
            assert!(
                candidates.contains(&base),
                "base {base:#x} is neither Linux's nor a larger rounding of {first:#x}"
            );
            let best = candidates.iter().map(|&c| score(c)).max().unwrap();
            assert_eq!(score(base), best, "base {base:#x} does not gain the most");
            let first_best = candidates.iter().find(|&&c| score(c) == best).unwrap();
            assert_eq!(base, *first_best, "on a tie Linux's base, then the smallest move");
        }
    }

    // Every leaf lies inside one expected piece, at the linear offset, with the
    // piece's permissions; none is writable and executable.
    let mut leaf_bytes = 0;
    for m in &b.leaves {
        let (va, pa, size) = (m.va.as_u64(), m.pa.as_u64(), m.size.bytes());
        assert_eq!(va.wrapping_sub(pa), offset, "leaf {m:?} off the linear offset");
        let piece = pieces.iter().find(|p| p.0 <= pa && pa + size <= p.1);
        let piece = piece.unwrap_or_else(|| panic!("leaf {m:?} maps something outside RAM (or straddles)"));
        let want = if piece.2 { Attrs::KERNEL_RO } else { Attrs::KERNEL_RW };
        assert_eq!(m.attrs, want, "leaf {m:?}");
        assert!(!m.attrs.is_writable_and_executable());
        leaf_bytes += size;
    }
    assert_eq!(leaf_bytes, total, "leaves cover exactly the RAM (they cannot overlap)");

    // The oracle MMU agrees at both ends of every leaf (of an even sample of at
    // most 4096 leaves, to bound the time): loads go through, stores only where
    // writable, fetches never.
    let stride = b.leaves.len().div_ceil(4096).max(1);
    for m in b.leaves.iter().step_by(stride) {
        let ro = m.attrs == Attrs::KERNEL_RO;
        for off in [0, m.size.bytes() - 1] {
            let va = m.va.as_u64() + off;
            assert_eq!(oracle(b, mode, va, Access::Load), Ok(m.pa.as_u64() + off));
            assert_eq!(oracle(b, mode, va, Access::Store).is_ok(), !ro);
            assert!(oracle(b, mode, va, Access::Fetch).is_err());
        }
    }
    // Just outside each piece (where that is not RAM of another piece), nothing.
    for p in &pieces {
        for pa in [p.0.wrapping_sub(1), p.1] {
            if pa >= base && pa < limit && !pieces.iter().any(|q| q.0 <= pa && pa < q.1) {
                assert!(oracle(b, mode, pa.wrapping_add(offset), Access::Load).is_err(), "{pa:#x} mapped");
            }
        }
    }

    // Minimal: leaves and table pages equal the independent minimum.
    let max_level = cfg.max_leaf.level().min(mode.levels() - 1);
    let (leaves, tables) = minimum(mode, &pieces, offset, max_level);
    assert_eq!(b.stats.leaves, leaves, "leaves by level");
    assert_eq!(b.stats.tables, tables, "table pages");

    // Table frames came from free RAM only, and every one is still in use.
    let free: Vec<_> = map.free().collect();
    for f in &b.frames_given {
        assert!(free.iter().any(|r| r.contains(f.as_u64())), "table frame {f} is not free RAM");
    }
    assert_eq!(b.frames_in_use, b.stats.tables, "no table frame leaked");
}

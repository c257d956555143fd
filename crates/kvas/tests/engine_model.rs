//! The engine against a reference model, checked by the simulator's MMUs.
//!
//! Random sequences of `map`, `map_range`, `unmap`, `unmap_range` and
//! `protect_range` run in every depth of every architecture (RISC-V Sv39, Sv48,
//! Sv57; x86-64 4-level and 5-level; arm64 39, 48 and 52-bit in both TTBR
//! ranges) against a model that knows only which virtual range maps to which
//! physical range with which attributes. After every step:
//! - the architecture's oracle MMU ([`kvas::sim::Mmu`], [`kvas::sim::X86Mmu`],
//!   [`kvas::sim::Arm64Mmu`]) translates every probed address (both ends of
//!   every request and of every mapped range, and their neighbours) for every
//!   kind of access, from the kernel and from user mode, exactly as the model
//!   says, and so does the engine;
//! - where the architecture needs break-before-make (arm64), every probed leaf
//!   that changed size, address, memory type or nG went through a recorded
//!   break, and at each break the oracle already faulted on the entry; other
//!   architectures record none;
//! - the live table frames are exactly the tables the engine's leaves need (no
//!   leak, no empty table), and no frame was freed twice;
//! - an operation that fails has changed nothing; running the allocator dry on
//!   purpose must give `OutOfFrames` and leave the tables as they were.
//!
//! At the end, unmapping everything returns every frame but the root and the
//! pinned tables that `populate` made.

use std::collections::BTreeSet;

use kvas::arch::riscv::Mode;
use kvas::arch::x86_64::Mode as X86Mode;
use kvas::paging::{Attrs, Geometry, Mapping, PageTable};
use kvas::sim::{Access, Ram, TrackingAllocator};
use kvas::{Error, PageSize, PhysAddr, VirtAddr, VirtRange};
use proptest::prelude::*;

#[path = "engine_targets/mod.rs"]
mod engine_targets;
use engine_targets::{Target, ARM};

use kvas::sizes::PAGE_SIZE as PAGE;

/// One virtual range of the model: `[start, end)` → `pa`.., with `attrs`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Seg {
    start: u128,
    end: u128,
    pa: u64,
    attrs: Attrs,
}

#[derive(Default, Clone, Debug)]
struct Model {
    segs: Vec<Seg>,
}

impl Model {
    fn lookup(&self, va: u64) -> Option<(u64, Attrs)> {
        let va = u128::from(va);
        self.segs
            .iter()
            .find(|s| s.start <= va && va < s.end)
            .map(|s| (s.pa + (va - s.start) as u64, s.attrs))
    }

    fn overlaps(&self, start: u128, end: u128) -> bool {
        self.segs.iter().any(|s| s.start < end && start < s.end)
    }

    /// The first address in `[start, end)` that nothing maps.
    fn first_hole(&self, start: u128, end: u128) -> Option<u128> {
        let mut at = start;
        let mut segs: Vec<&Seg> = self.segs.iter().filter(|s| s.start < end && start < s.end).collect();
        segs.sort_by_key(|s| s.start);
        for s in segs {
            if s.start > at {
                return Some(at);
            }
            at = at.max(s.end);
        }
        (at < end).then_some(at)
    }

    /// Removes `[start, end)`, keeping the pieces outside it.
    fn cut(&mut self, start: u128, end: u128) {
        let mut out = Vec::new();
        for s in &self.segs {
            if s.end <= start || end <= s.start {
                out.push(*s);
                continue;
            }
            if s.start < start {
                out.push(Seg { end: start, ..*s });
            }
            if end < s.end {
                out.push(Seg { start: end, pa: s.pa + (end - s.start) as u64, ..*s });
            }
        }
        self.segs = out;
    }

    fn insert(&mut self, start: u128, end: u128, pa: u64, attrs: Attrs) {
        self.segs.push(Seg { start, end, pa, attrs });
    }

    fn relabel(&mut self, start: u128, end: u128, attrs: Attrs) {
        let inside: Vec<Seg> = self
            .segs
            .iter()
            .filter(|s| s.start < end && start < s.end)
            .map(|s| {
                let lo = s.start.max(start);
                let hi = s.end.min(end);
                Seg { start: lo, end: hi, pa: s.pa + (lo - s.start) as u64, attrs }
            })
            .collect();
        self.cut(start, end);
        self.segs.extend(inside);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Map {
        va: u64,
        pa: u64,
        size: PageSize,
        attrs: Attrs,
    },
    MapRange {
        va: u64,
        pa: u64,
        len: u64,
        attrs: Attrs,
        max: PageSize,
    },
    Unmap {
        va: u64,
        size: PageSize,
    },
    UnmapRange {
        va: u64,
        len: u64,
    },
    Protect {
        va: u64,
        len: u64,
        attrs: Attrs,
    },
    /// Preallocates pinned tables one level below the root.
    Populate {
        va: u64,
        len: u64,
    },
    /// Lets the allocator give only this many more frames during the next op.
    Starve(u64),
}

const ATTRS: [Attrs; 4] = [
    Attrs::KERNEL_RW,
    Attrs::KERNEL_RO,
    Attrs::KERNEL_RX,
    Attrs::READ.union(Attrs::WRITE).union(Attrs::USER).union(Attrs::ACCESSED).union(Attrs::DIRTY),
];

/// An offset built from a few multiples of neighbouring granularities, so that
/// requests start and end on, next to and across every boundary.
fn offset(max_level: u8) -> impl Strategy<Value = u64> {
    (0..=max_level, 0u64..4, 0u64..3, 0u64..3).prop_map(|(level, a, b, c)| {
        a * Geometry::granularity(level) + b * Geometry::granularity(level.saturating_sub(1)) + c * PAGE
    })
}

fn page_size(max_level: u8) -> impl Strategy<Value = PageSize> {
    (0..=max_level).prop_map(|l| PageSize::from_level(l).unwrap())
}

fn op(max_level: u8) -> impl Strategy<Value = Op> {
    let attrs = proptest::sample::select(ATTRS.to_vec());
    let len = || offset(max_level).prop_map(|l| l.max(PAGE));
    prop_oneof![
        (page_size(max_level), 0u64..4, 0u64..3, 0u64..4, attrs.clone()).prop_map(
            move |(size, a, b, p, attrs)| {
                let up = Geometry::granularity((size.level() + 1).min(max_level));
                Op::Map { va: a * up + b * size.bytes(), pa: p * size.bytes(), size, attrs }
            }
        ),
        (offset(max_level), offset(max_level), len(), attrs.clone(), page_size(max_level)).prop_map(
            |(va, pa, len, attrs, max)| {
                // At most ~4096 leaves of the size the relative alignment allows,
                // so that a case needs thousands of table frames, not millions.
                let align = (va ^ pa).trailing_zeros().min(63);
                let leaf = (1u64 << align).min(max.bytes()).max(PAGE);
                Op::MapRange { va, pa, len: len.min(4096 * leaf), attrs, max }
            }
        ),
        (page_size(max_level), 0u64..4, 0u64..3).prop_map(move |(size, a, b)| {
            let up = Geometry::granularity((size.level() + 1).min(max_level));
            Op::Unmap { va: a * up + b * size.bytes(), size }
        }),
        (offset(max_level), len()).prop_map(|(va, len)| Op::UnmapRange { va, len }),
        (offset(max_level), len(), attrs).prop_map(|(va, len, attrs)| Op::Protect { va, len, attrs }),
        (offset(max_level), len()).prop_map(|(va, len)| Op::Populate { va, len }),
        (0u64..4).prop_map(Op::Starve),
    ]
}

struct World<'r, T: Target> {
    target: T,
    base: u64,
    pt: PageTable<T::F, &'r Ram>,
    alloc: TrackingAllocator,
    model: Model,
    probes: BTreeSet<u64>,
    /// Root entries (by index prefix) whose tables are pinned.
    pinned: BTreeSet<u64>,
}

impl<T: Target> World<'_, T> {
    fn probe_range(&mut self, start: u64, len: u64) {
        for va in [start.wrapping_sub(PAGE), start, start + PAGE, start + len - PAGE, start + len] {
            self.probes.insert(va);
        }
    }

    fn snapshot(&self) -> (Vec<Mapping>, usize) {
        (self.pt.mappings().collect::<Result<_, _>>().unwrap(), self.alloc.live())
    }

    fn apply(&mut self, op: &Op, starve: Option<u64>) -> Result<(), TestCaseError> {
        let before = self.snapshot();
        if let Some(n) = starve {
            self.alloc.set_limit(Some(self.alloc.allocations() + n));
        }
        let b = u128::from(self.base);
        let root_level = self.target.geometry().root_level();
        let root_shift = Geometry::shift(root_level);
        let (result, expected) = match *op {
            Op::Map { va, pa, size, attrs } => {
                let (start, end) = (b + u128::from(va), b + u128::from(va + size.bytes()));
                self.probe_range(self.base + va, size.bytes());
                let r = self.pt.map(
                    VirtAddr::new(self.base + va),
                    PhysAddr::new(pa).unwrap(),
                    size,
                    attrs,
                    &mut self.alloc,
                );
                // A root-level leaf cannot replace a pinned table.
                let pinned_in_way =
                    size.level() == root_level && self.pinned.contains(&((self.base + va) >> root_shift));
                let overlap = self.model.overlaps(start, end) || pinned_in_way;
                if r.is_ok() && !overlap {
                    self.model.insert(start, end, pa, attrs);
                }
                (r.map(|f| f.ignore()), if overlap { Some("AlreadyMapped") } else { None })
            }
            Op::MapRange { va, pa, len, attrs, max } => {
                let (start, end) = (b + u128::from(va), b + u128::from(va + len));
                self.probe_range(self.base + va, len);
                let r = self.pt.map_range(
                    VirtRange::new(VirtAddr::new(self.base + va), len).unwrap(),
                    PhysAddr::new(pa).unwrap(),
                    attrs,
                    max,
                    &mut self.alloc,
                );
                let overlap = self.model.overlaps(start, end);
                if r.is_ok() && !overlap {
                    self.model.insert(start, end, pa, attrs);
                }
                (r.map(|f| f.ignore()), if overlap { Some("AlreadyMapped") } else { None })
            }
            Op::Unmap { va, size } => {
                let (start, end) = (b + u128::from(va), b + u128::from(va + size.bytes()));
                self.probe_range(self.base + va, size.bytes());
                let r = self.pt.unmap(VirtAddr::new(self.base + va), size, &mut self.alloc);
                let nothing = !self.model.overlaps(start, end);
                if r.is_ok() {
                    self.model.cut(start, end);
                }
                if nothing {
                    prop_assert_eq!(&r, &Err(Error::NotMapped { va: VirtAddr::new(self.base + va) }));
                }
                (r.map(|f| f.ignore()), if nothing { Some("NotMapped") } else { None })
            }
            Op::UnmapRange { va, len } => {
                let (start, end) = (b + u128::from(va), b + u128::from(va + len));
                self.probe_range(self.base + va, len);
                let r = self.pt.unmap_range(
                    VirtRange::new(VirtAddr::new(self.base + va), len).unwrap(),
                    &mut self.alloc,
                );
                if r.is_ok() {
                    self.model.cut(start, end);
                }
                (r.map(|f| f.ignore()), None)
            }
            Op::Protect { va, len, attrs } => {
                let (start, end) = (b + u128::from(va), b + u128::from(va + len));
                self.probe_range(self.base + va, len);
                let r = self.pt.protect_range(
                    VirtRange::new(VirtAddr::new(self.base + va), len).unwrap(),
                    attrs,
                    &mut self.alloc,
                );
                let hole = self.model.first_hole(start, end);
                if let Some(h) = hole {
                    prop_assert_eq!(&r, &Err(Error::NotMapped { va: VirtAddr::new(h as u64) }));
                } else if r.is_ok() {
                    self.model.relabel(start, end, attrs);
                }
                (r.map(|f| f.ignore()), hole.map(|_| "NotMapped"))
            }
            Op::Populate { va, len } => {
                let (start, last) = (self.base + va, self.base + va + len - 1);
                // Refused if a root-level leaf lies in the range (the engine's own
                // leaves say where those are; the oracle checks translations).
                let blocked = self.pt.mappings().map(Result::unwrap).any(|m| {
                    m.size.level() == root_level
                        && m.va.as_u64() <= last
                        && start <= m.va.as_u64() + (m.size.bytes() - 1)
                });
                let r = self.pt.populate(
                    VirtRange::new(VirtAddr::new(start), len).unwrap(),
                    root_level - 1,
                    &mut self.alloc,
                );
                if r.is_ok() {
                    self.pinned.extend((start >> root_shift)..=(last >> root_shift));
                }
                (r.map(|_| ()), if blocked { Some("AlreadyMapped") } else { None })
            }
            Op::Starve(_) => unreachable!(),
        };
        self.alloc.set_limit(None);
        match (&result, expected) {
            (Ok(()), None) => {}
            (Err(Error::AlreadyMapped { .. }), Some("AlreadyMapped"))
            | (Err(Error::NotMapped { .. }), Some("NotMapped")) => {
                prop_assert_eq!(self.snapshot(), before, "a refused {:?} changed the tables", op);
            }
            (Err(Error::OutOfFrames { .. }), None) if starve.is_some() => {
                prop_assert_eq!(self.snapshot(), before, "{:?} ran out of frames and changed the tables", op);
            }
            _ => prop_assert!(false, "{:?} gave {:?}, the model expected {:?}", op, result, expected),
        }
        Ok(())
    }

    fn all_probes(&self) -> BTreeSet<u64> {
        let mut probes: BTreeSet<u64> = self.probes.clone();
        for s in &self.model.segs {
            probes.insert(s.start as u64);
            probes.insert((s.end - u128::from(PAGE)) as u64);
        }
        probes
    }

    /// Break-before-make: each recorded break left the entry invalid when the
    /// TLB would have been invalidated, and each probed leaf the last step
    /// changed in a way the architecture protects went through one.
    fn check_breaks(&self, ram: &Ram, before: &Ram) -> Result<(), TestCaseError> {
        let root = self.pt.root();
        let breaks = ram.take_breaks();
        for b in &breaks {
            let hw = self.target.hw(&b.memory, root, b.va.as_u64(), Access::Load);
            prop_assert!(
                hw.is_none(),
                "{:?}: at the break for {} (level {}) {:?} still translates",
                self.target,
                b.va,
                b.level,
                hw
            );
        }
        for va in self.all_probes() {
            let old = self.target.hw(before, root, va, Access::Load);
            let new = self.target.hw(ram, root, va, Access::Load);
            if let (Some((_, ol, o)), Some((_, nl, n))) = (old, new) {
                if self.target.needs_break((ol, o), (nl, n)) {
                    let covered = breaks
                        .iter()
                        .any(|b| b.va.as_u64() <= va && va - b.va.as_u64() < Geometry::granularity(b.level));
                    prop_assert!(
                        covered,
                        "{:?}: {:#x} went from {:#x} (level {}) to {:#x} (level {}) without a break",
                        self.target,
                        va,
                        o,
                        ol,
                        n,
                        nl
                    );
                }
            }
        }
        Ok(())
    }

    fn check(&self, ram: &Ram) -> Result<(), TestCaseError> {
        let root = self.pt.root();
        for va in self.all_probes() {
            let expected = self.model.lookup(va);
            for (access, user) in Access::ALL.into_iter().flat_map(|a| [(a, false), (a, true)]) {
                let got = self.target.hw_in(ram, root, va, access, user);
                let allowed = expected.filter(|(_, a)| {
                    if user {
                        self.target.allows_user(*a, access)
                    } else {
                        self.target.allows(*a, access)
                    }
                });
                match (got, allowed) {
                    (Some((hw_pa, _, _)), Some((pa, _))) => {
                        prop_assert_eq!(hw_pa, pa, "{:#x} {:?} user {}", va, access, user)
                    }
                    (None, None) => {}
                    (got, want) => {
                        prop_assert!(
                            false,
                            "{:#x} {:?} user {}: MMU {:?}, model {:?}",
                            va,
                            access,
                            user,
                            got,
                            want
                        )
                    }
                }
            }
            let engine = self.pt.translate(VirtAddr::new(va)).ok().map(|t| (t.pa.as_u64(), t.attrs));
            prop_assert_eq!(engine, expected, "engine translate {:#x}", va);
        }
        // Exactly the tables the leaves need: the root, and the table holding
        // each leaf and every table above it.
        let g = self.target.geometry();
        let mut needed = BTreeSet::from([(g.root_level(), 0u64)]);
        // Pinned tables stay whether or not a leaf needs them.
        for &prefix in &self.pinned {
            needed.insert((g.root_level() - 1, prefix));
        }
        for m in self.pt.mappings() {
            let m = m.unwrap();
            for level in m.size.level()..g.root_level() {
                needed.insert((level, m.va.as_u64() >> Geometry::shift(level + 1)));
            }
        }
        prop_assert_eq!(self.alloc.live(), needed.len(), "live frames vs tables the leaves need");
        prop_assert_eq!(self.pt.stats().unwrap().tables as usize, needed.len());
        prop_assert!(self.alloc.misuse().is_empty(), "{:?}", self.alloc.misuse());
        Ok(())
    }
}

fn run<T: Target>(target: T, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let ram = Ram::new();
    let mut alloc = TrackingAllocator::new(PhysAddr::new(0x10_0000_0000).unwrap(), 1 << 30).unwrap();
    let pt = PageTable::new(target.format(), &ram, &mut alloc).unwrap();
    let base = target.base();
    let mut w = World {
        target,
        base,
        pt,
        alloc,
        model: Model::default(),
        probes: BTreeSet::new(),
        pinned: BTreeSet::new(),
    };
    let mut starve = None;
    for op in &ops {
        if let Op::Starve(n) = op {
            starve = Some(*n);
            continue;
        }
        let before = ram.snapshot();
        w.apply(op, starve.take())?;
        w.check(&ram)?;
        w.check_breaks(&ram, &before)?;
    }
    // Everything goes: only the root and the pinned tables are left.
    let window = 8 * Geometry::granularity(target.geometry().max_leaf_level());
    w.pt.unmap_range(VirtRange::new(VirtAddr::new(base), window).unwrap(), &mut w.alloc).unwrap().ignore();
    prop_assert_eq!(w.alloc.live(), 1 + w.pinned.len());
    prop_assert!(w.pt.mappings().next().is_none());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sv39_matches_the_model(ops in proptest::collection::vec(op(2), 1..24)) {
        run(Mode::Sv39, ops)?;
    }

    #[test]
    fn sv48_matches_the_model(ops in proptest::collection::vec(op(3), 1..24)) {
        run(Mode::Sv48, ops)?;
    }

    #[test]
    fn sv57_matches_the_model(ops in proptest::collection::vec(op(4), 1..24)) {
        run(Mode::Sv57, ops)?;
    }

    #[test]
    fn x86_4level_matches_the_model(ops in proptest::collection::vec(op(2), 1..24)) {
        run(X86Mode::Level4, ops)?;
    }

    #[test]
    fn x86_5level_matches_the_model(ops in proptest::collection::vec(op(2), 1..24)) {
        run(X86Mode::Level5, ops)?;
    }

    #[test]
    fn arm64_39_bit_ttbr1_matches_the_model(ops in proptest::collection::vec(op(2), 1..24)) {
        run(ARM[0], ops)?;
    }

    #[test]
    fn arm64_48_bit_ttbr1_matches_the_model(ops in proptest::collection::vec(op(2), 1..24)) {
        run(ARM[1], ops)?;
    }

    #[test]
    fn arm64_52_bit_ttbr1_matches_the_model(ops in proptest::collection::vec(op(3), 1..24)) {
        run(ARM[2], ops)?;
    }

    #[test]
    fn arm64_39_bit_ttbr0_matches_the_model(ops in proptest::collection::vec(op(2), 1..24)) {
        run(ARM[3], ops)?;
    }

    #[test]
    fn arm64_48_bit_ttbr0_matches_the_model(ops in proptest::collection::vec(op(2), 1..24)) {
        run(ARM[4], ops)?;
    }

    #[test]
    fn arm64_52_bit_ttbr0_matches_the_model(ops in proptest::collection::vec(op(3), 1..24)) {
        run(ARM[5], ops)?;
    }
}

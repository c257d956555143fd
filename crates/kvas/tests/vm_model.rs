//! The virtual-range allocators against a model.
//!
//! Random sequences of allocations (sizes, alignments), frees, and bad frees
//! (double, partial, foreign) run against a model that is only a set of live
//! page ranges. The model predicts every result: where first fit puts a request
//! (the rule of `kvas::vm`'s module doc), when the window is exhausted, when the
//! node pool is full, and which frees are refused. After every step:
//! - the allocator's own invariant check passes;
//! - its live allocations are exactly the model's (so none overlap, all lie in
//!   the window) and its free ranges are exactly the gaps between them — which
//!   means free space has coalesced — with `largest_free`, `free_bytes` and the
//!   counts to match;
//! - for vmalloc, every guard page is the page after its area, inside the
//!   window, outside every live area's usable pages, and `guard_hit` finds it.
//!
//! At the end, freeing everything leaves one free range, the whole window.

use std::collections::BTreeMap;

use kvas::vm::{ModulesWindow, RangeAllocator, VmArea, Vmalloc, BPF_WINDOW_SIZE};
use kvas::{Error, VirtAddr, VirtRange};
use proptest::prelude::*;

use kvas::sizes::PAGE_SIZE as PAGE;
/// Pool size of the allocators under test: small enough to run out sometimes.
const NODES: usize = 24;
/// The page number just past the address space.
const TOP: u64 = 1 << 52;

#[derive(Clone, Debug)]
enum Op {
    /// Allocate `pages` aligned to `2^align_log2` pages.
    Alloc { pages: u64, align_log2: u32 },
    /// Free the live allocation picked by this index (modulo the live count).
    Free(usize),
    /// Free a live allocation twice.
    DoubleFree(usize),
    /// Free a live allocation with a size one page short or long.
    WrongSize(usize, bool),
    /// Free a range starting at this page offset of the window, whatever is there.
    Foreign { offset: u64, pages: u64 },
}

fn op(window_pages: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..=12, 0u32..=4).prop_map(|(pages, align_log2)| Op::Alloc { pages, align_log2 }),
        1 => (window_pages / 4..=window_pages, 0u32..=2).prop_map(|(pages, align_log2)| Op::Alloc { pages, align_log2 }),
        5 => any::<usize>().prop_map(Op::Free),
        1 => any::<usize>().prop_map(Op::DoubleFree),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, longer)| Op::WrongSize(i, longer)),
        1 => (0..window_pages + 2, 1u64..=4).prop_map(|(offset, pages)| Op::Foreign { offset, pages }),
    ]
}

/// Live allocations, as page numbers: start -> end (exclusive).
#[derive(Clone, Debug, Default)]
struct Model {
    start: u64,
    end: u64,
    live: BTreeMap<u64, u64>,
}

impl Model {
    fn new(start: u64, end: u64) -> Self {
        Model { start, end, live: BTreeMap::new() }
    }

    /// The free gaps between live allocations, in address order.
    fn gaps(&self) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = self.start;
        for (&s, &e) in &self.live {
            if s > at {
                gaps.push((at, s));
            }
            at = e;
        }
        if at < self.end {
            gaps.push((at, self.end));
        }
        gaps
    }

    /// Where the allocator must put `pages` aligned to `align` pages: the lowest
    /// gap of at least `pages + align - 1` pages, else (align > 1) the lowest gap
    /// where the aligned start fits. Returns the start and the gap.
    fn place(&self, pages: u64, align: u64) -> Option<(u64, (u64, u64))> {
        let gaps = self.gaps();
        let fits = |&(s, e): &(u64, u64)| s.next_multiple_of(align) + pages <= e;
        let pick =
            gaps.iter().find(|g| g.1 - g.0 >= pages + align - 1).or_else(|| gaps.iter().find(|g| fits(g)));
        pick.map(|&g| (g.0.next_multiple_of(align), g))
    }

    /// Nodes the allocator uses: one per live allocation and one per gap.
    fn nodes(&self) -> usize {
        self.live.len() + self.gaps().len()
    }

    fn pick(&self, i: usize) -> Option<(u64, u64)> {
        (!self.live.is_empty()).then(|| {
            let (&s, &e) = self.live.iter().nth(i % self.live.len()).unwrap();
            (s, e)
        })
    }

    /// Whether a free of `[s, e)` must be accepted.
    fn is_live(&self, s: u64, e: u64) -> bool {
        self.live.get(&s) == Some(&e)
    }
}

fn range(s: u64, e: u64) -> VirtRange {
    VirtRange::new(VirtAddr::new(s * PAGE), (e - s) * PAGE).unwrap()
}

fn pages_of(r: VirtRange) -> (u64, u64) {
    let s = r.start().as_u64() / PAGE;
    (s, s + r.pages())
}

/// The allocator's state is exactly the model's.
fn agree<const N: usize>(a: &RangeAllocator<N>, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.check(), Ok(()));
    let live: Vec<(u64, u64)> = a.allocations().map(pages_of).collect();
    let model_live: Vec<(u64, u64)> = m.live.iter().map(|(&s, &e)| (s, e)).collect();
    prop_assert_eq!(live, model_live);
    let gaps = m.gaps();
    let free: Vec<(u64, u64)> = a.free_ranges().map(pages_of).collect();
    prop_assert_eq!(&free, &gaps, "free space has not coalesced into the gaps between allocations");
    prop_assert_eq!(a.free_range_count(), gaps.len());
    prop_assert_eq!(a.allocation_count(), m.live.len());
    prop_assert_eq!(a.largest_free(), gaps.iter().map(|g| g.1 - g.0).max().unwrap_or(0) * PAGE);
    prop_assert_eq!(a.free_bytes(), gaps.iter().map(|g| g.1 - g.0).sum::<u64>() * PAGE);
    prop_assert_eq!(a.nodes_in_use(), m.nodes());
    Ok(())
}

/// Runs one operation on `a` and the model, checking the allocator's answer.
fn step<const N: usize>(a: &mut RangeAllocator<N>, m: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match *op {
        Op::Alloc { pages, align_log2 } => {
            let align = 1u64 << align_log2;
            let got = a.allocate(pages * PAGE, align * PAGE);
            match m.place(pages, align) {
                None => prop_assert!(
                    matches!(got, Err(Error::VaExhausted { .. })),
                    "{pages} pages aligned to {align}: expected exhaustion, got {got:?}"
                ),
                Some((at, (gs, ge))) => {
                    // The gap splits in two only when the request leaves room on both sides.
                    let nodes_after = m.nodes() + 1 + usize::from(at > gs && at + pages < ge)
                        - usize::from(at == gs && at + pages == ge);
                    if nodes_after > N {
                        prop_assert_eq!(got, Err(Error::VaNodePoolFull { window: a.name(), capacity: N }));
                    } else {
                        prop_assert_eq!(got, Ok(range(at, at + pages)));
                        m.live.insert(at, at + pages);
                    }
                }
            }
        }
        Op::Free(i) => {
            if let Some((s, e)) = m.pick(i) {
                prop_assert_eq!(a.free(range(s, e)), Ok(()));
                m.live.remove(&s);
            }
        }
        Op::DoubleFree(i) => {
            if let Some((s, e)) = m.pick(i) {
                prop_assert_eq!(a.free(range(s, e)), Ok(()));
                m.live.remove(&s);
                agree(a, m)?;
                let got = a.free(range(s, e));
                prop_assert!(matches!(got, Err(Error::VaBadFree { .. })), "double free accepted: {:?}", got);
            }
        }
        Op::WrongSize(i, longer) => {
            if let Some((s, e)) = m.pick(i) {
                let e2 = if longer { e + 1 } else { e - 1 };
                if e2 > s && e2 <= TOP {
                    let got = a.free(range(s, e2));
                    prop_assert!(
                        matches!(got, Err(Error::VaBadFree { .. })),
                        "wrong size accepted: {:?}",
                        got
                    );
                }
            }
        }
        Op::Foreign { offset, pages } => {
            let s = m.start + offset;
            if s + pages > TOP {
                return agree(a, m);
            }
            let got = a.free(range(s, s + pages));
            if m.is_live(s, s + pages) {
                prop_assert_eq!(got, Ok(()));
                m.live.remove(&s);
            } else {
                prop_assert!(matches!(got, Err(Error::VaBadFree { .. })), "foreign free accepted: {got:?}");
            }
        }
    }
    agree(a, m)
}

/// Frees every live allocation in a scrambled order; the window must end whole.
fn drain<const N: usize>(a: &mut RangeAllocator<N>, m: &mut Model) -> Result<(), TestCaseError> {
    let mut order: Vec<(u64, u64)> = m.live.iter().map(|(&s, &e)| (s, e)).collect();
    let n = order.len();
    for i in 0..n {
        order.swap(i, (i * 7 + 3) % n);
    }
    for (s, e) in order {
        prop_assert_eq!(a.free(range(s, e)), Ok(()));
        m.live.remove(&s);
        agree(a, m)?;
    }
    prop_assert_eq!(a.free_bytes(), a.window().size());
    prop_assert_eq!(a.free_range_count(), 1);
    prop_assert_eq!(a.free_ranges().next(), Some(a.window()));
    Ok(())
}

/// Runs `ops` on an allocator of `N` nodes and its model, then frees everything.
fn run<const N: usize>(window_pages: u64, top: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let start = base(window_pages, top);
    let end = (start + window_pages).wrapping_mul(PAGE);
    let mut a = RangeAllocator::<N>::new("model", VirtAddr::new(start * PAGE), VirtAddr::new(end)).unwrap();
    let mut m = Model::new(start, start + window_pages);
    agree(&a, &m)?;
    for op in ops {
        step(&mut a, &mut m, op)?;
    }
    drain(&mut a, &mut m)
}

/// Window bases: a kernel address, and a window that ends at the top of the space.
fn base(pages: u64, top: bool) -> u64 {
    if top {
        0u64.wrapping_sub(pages * PAGE) / PAGE
    } else {
        0xffff_ffc8_0000_0000 / PAGE + 3
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn range_allocator_matches_the_model(
        (window_pages, ops) in (16u64..=96).prop_flat_map(|w| (Just(w), prop::collection::vec(op(w), 1..80))),
        top in any::<bool>(),
    ) {
        run::<NODES>(window_pages, top, &ops)?;
        // A pool this small runs out often, in every way a request can need nodes.
        run::<5>(window_pages, top, &ops)?;
    }

    #[test]
    fn vmalloc_keeps_a_guard_page_after_every_area(
        (window_pages, ops) in (16u64..=96).prop_flat_map(|w| (Just(w), prop::collection::vec(op(w), 1..80))),
    ) {
        let start = base(window_pages, false);
        let mut v = Vmalloc::<NODES>::new(
            VirtAddr::new(start * PAGE),
            VirtAddr::new((start + window_pages) * PAGE),
        ).unwrap();
        let mut live: Vec<VmArea> = Vec::new();
        for op in &ops {
            match *op {
                Op::Alloc { pages, align_log2 } => {
                    let size = pages * PAGE - (pages % 3); // not always whole pages
                    if let Ok(area) = v.allocate_aligned(size, PAGE << align_log2) {
                        prop_assert!(area.size() >= size && area.size() - size < PAGE);
                        prop_assert!(area.start().is_aligned(PAGE << align_log2));
                        live.push(area);
                    }
                }
                Op::Free(i) | Op::DoubleFree(i) | Op::WrongSize(i, _) if !live.is_empty() => {
                    let area = live.swap_remove(i % live.len());
                    prop_assert_eq!(v.free(area), Ok(()));
                    prop_assert!(v.free(area).is_err());
                }
                _ => {}
            }
            prop_assert_eq!(v.allocator().check(), Ok(()));
            let window = v.window();
            for a in &live {
                let guard = a.guard_page();
                prop_assert_eq!(guard, a.range().end());
                prop_assert!(window.contains(guard));
                prop_assert_eq!(v.guard_hit(guard), Some(*a));
                for b in &live {
                    prop_assert!(!b.range().contains(guard), "guard page {guard} of {a:?} handed out in {b:?}");
                    prop_assert!(a == b || !a.reserved().overlaps(b.reserved()));
                }
            }
            let used: u64 = live.iter().map(|a| a.reserved().size()).sum();
            prop_assert_eq!(v.free_bytes() + used, window.size());
        }
        for area in live.drain(..) {
            prop_assert_eq!(v.free(area), Ok(()));
        }
        prop_assert_eq!(v.free_bytes(), v.window().size());
        prop_assert_eq!(v.allocator().free_range_count(), 1);
    }

    #[test]
    fn modules_and_bpf_never_share_room(sizes in prop::collection::vec((1u64..=64 << 20, any::<bool>()), 1..40)) {
        let end = 0xffff_ffff_8000_0000u64;
        let mut w = ModulesWindow::<NODES>::new(VirtAddr::new(end - (2 << 30)), VirtAddr::new(end)).unwrap();
        let bpf_start = end - BPF_WINDOW_SIZE;
        let mut live = Vec::new();
        for &(size, bpf) in &sizes {
            let got = if bpf { w.allocate_bpf(size) } else { w.allocate_module(size) };
            let Ok(area) = got else {
                let refused = matches!(got, Err(Error::VaExhausted { .. }) | Err(Error::VaNodePoolFull { .. }));
                prop_assert!(refused, "unexpected error {:?}", got);
                continue;
            };
            let r = area.reserved();
            if bpf {
                prop_assert!(r.start().as_u64() >= bpf_start && r.last().as_u64() < end);
            } else {
                prop_assert!(r.start().as_u64() >= end - (2 << 30) && r.last().as_u64() < bpf_start);
            }
            live.push((area, bpf));
        }
        for (area, bpf) in live {
            let wrong_part = if bpf { w.free_module(area) } else { w.free_bpf(area) };
            prop_assert!(wrong_part.is_err(), "freed in the wrong part: {:?}", area);
            prop_assert_eq!(if bpf { w.free_bpf(area) } else { w.free_module(area) }, Ok(()));
        }
        prop_assert_eq!(w.modules().free_bytes() + w.bpf().free_bytes(), 2 << 30);
    }
}

//! Property tests of the x86-64 direct map and the arm64 linear region
//! (`kvas::linear::direct`): for random memory maps, in every depth, under
//! kvas's rules and Linux's, the tables hold exactly the fewest leaves and
//! table pages for the chosen base (counted by `linear_support::minimum`,
//! without the engine), and the architecture's MMU model translates the first
//! and last byte of every piece to its physical address, read-write and not
//! executable (the kernel-text alias read-only).

#[path = "engine_targets/mod.rs"]
mod engine_targets;
mod linear_support;

use engine_targets::{Arm, Target};
use kvas::arch::aarch64::{Mode as ArmMode, Range};
use kvas::arch::riscv::Mode;
use kvas::arch::x86_64::Mode as X86Mode;
use kvas::linear::direct::{DirectMap, Rules};
use kvas::paging::PageTable;
use kvas::phys::PhysRange;
use kvas::sim::{Access, Ram, TrackingAllocator};
use kvas::PhysAddr;
use linear_support::{expected_pieces, minimum, RawMap};
use proptest::prelude::*;

/// A count of 4 KiB, 2 MiB or 1 GiB units plus some pages of jitter.
fn quantity(max_units: u64) -> impl Strategy<Value = u64> {
    (0..max_units, prop_oneof![Just(12u32), Just(21), Just(30)], prop_oneof![Just(0u64), 0..512u64])
        .prop_map(|(units, shift, jitter)| (units << shift) + jitter * 4096)
}

fn raw_map() -> impl Strategy<Value = RawMap> {
    let bank = (quantity(256), quantity(16).prop_map(|s| s.max(4096)));
    let reservation = (0u64..(1 << 20), 1u64..256, any::<bool>());
    (prop::collection::vec(bank, 1..=8), prop::collection::vec(reservation, 0..4))
        .prop_map(|(banks, res)| RawMap::from_draw(banks, res))
}

/// Builds `dm` for `target` and checks it against the independent counts and
/// the MMU model. `levels_like` is a RISC-V mode with as many levels, which is
/// all `minimum` needs to know.
fn check<T: Target>(target: T, levels_like: Mode, raw: &RawMap, dm: DirectMap, text: Option<(u64, u64)>) {
    let map = raw.to_map();
    let ram = Ram::new();
    let mut frames = TrackingAllocator::new(PhysAddr::new(0xf000_0000_0000).unwrap(), 1 << 36).unwrap();
    let mut pt = PageTable::new(target.format(), &ram, &mut frames).unwrap();
    let text_range = text.map(|(s, e)| PhysRange::from_bounds(s, e).unwrap());
    let (lm, flush) = dm.build(&mut pt, &map, text_range, &mut frames).unwrap();
    flush.ignore();
    let limit = dm.base.saturating_add(dm.size);
    let text_pages = text.map(|(s, e)| (s & !0xfff, e.next_multiple_of(4096)));
    let mut pieces = expected_pieces(raw, dm.base, limit, text_pages);
    if dm.isa {
        // Linux on x86 maps [0, 1 MiB) whatever it holds: the holes too.
        let isa = 1 << 20;
        let ram: Vec<(u64, u64)> = pieces.iter().map(|p| (p.0, p.1)).collect();
        for (s, e) in linear_support::subtract(&[(0, isa)], &ram) {
            pieces.push((s, e, false));
        }
    }
    let offset = dm.page_offset.as_u64().wrapping_sub(dm.base);
    let (leaves, tables) = minimum(levels_like, &pieces, offset, dm.max_leaf.level());
    let stats = pt.stats().unwrap();
    assert_eq!(stats.leaves, leaves, "{target:?} {dm:?}");
    assert_eq!(stats.tables, tables, "{target:?} {dm:?}");
    assert_eq!(lm.mapped_bytes, pieces.iter().map(|p| p.1 - p.0).sum::<u64>());
    for &(s, e, ro) in &pieces {
        for pa in [s, e - 1] {
            let va = pa.wrapping_add(offset);
            let load = target.hw(&ram, pt.root(), va, Access::Load).map(|h| h.0);
            assert_eq!(load, Some(pa), "{target:?} pa {pa:#x}");
            let store = target.hw(&ram, pt.root(), va, Access::Store).map(|h| h.0);
            assert_eq!(store, (!ro).then_some(pa), "{target:?} store pa {pa:#x}");
            assert_eq!(target.hw(&ram, pt.root(), va, Access::Fetch), None, "{target:?} fetch");
        }
    }
}

/// A kernel text inside the first bank, sometimes.
fn text_in(raw: &RawMap, pick: Option<(u64, u64)>) -> Option<(u64, u64)> {
    let (bs, be) = raw.banks[0];
    pick.map(|(a, b)| {
        let s = bs + a % (be - bs);
        (s, (s + 1 + b % (4 << 20)).min(be))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_x86_64_direct_map_has_the_fewest_leaves(
        raw in raw_map(),
        five in any::<bool>(),
        linux in any::<bool>(),
        pick in proptest::option::of((any::<u64>(), any::<u64>())),
    ) {
        let (mode, like) = if five { (X86Mode::Level5, Mode::Sv57) } else { (X86Mode::Level4, Mode::Sv48) };
        let rules = if linux { Rules::LINUX } else { Rules::Kvas };
        let dm = DirectMap::x86_64(mode, &raw.to_map(), rules).unwrap();
        check(mode, like, &raw, dm, text_in(&raw, pick));
    }

    #[test]
    fn the_arm64_linear_region_has_the_fewest_leaves(
        raw in raw_map(),
        which in 0..3usize,
        linux in any::<bool>(),
        pick in proptest::option::of((any::<u64>(), any::<u64>())),
    ) {
        let (mode, like) = [(ArmMode::Va39, Mode::Sv39), (ArmMode::Va48, Mode::Sv48), (ArmMode::Va52, Mode::Sv57)][which];
        // rodata=on: blocks (rodata=full's 4 KiB pages are the same walk with one leaf size).
        let rules = if linux { Rules::Linux { gbpages: true, rodata_full: false } } else { Rules::Kvas };
        let dm = DirectMap::arm64(mode, &raw.to_map(), rules).unwrap();
        check(Arm(mode, Range::Ttbr1), like, &raw, dm, text_in(&raw, pick));
    }
}

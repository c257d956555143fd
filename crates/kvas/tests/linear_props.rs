//! Property tests: random memory maps (1–64 banks at random 4 KiB-aligned
//! places and sizes, random reservations, an optional kernel text) in Sv39,
//! Sv48 and Sv57. For each, `linear_support::check` proves against an
//! independent model that every RAM byte translates through the oracle MMU to
//! `PAGE_OFFSET + (pa - base)` with the right permissions, that nothing else is
//! mapped, that no page is writable and executable, that the table frames came
//! from free RAM, and that leaves and table pages are the minimum for the base.
//! When free RAM cannot hold that minimum (tiny or fully reserved maps), the
//! build must fail with `OutOfFrames` and leave nothing behind instead.
//!
//! `PROPTEST_CASES` sets the number of maps per mode (default 32 in a debug
//! build, whose simulator is slow, and 256 in release); the deep run is
//! `PROPTEST_CASES=1000 cargo test --release -p kvas --test linear_props`.

mod linear_support;

use kvas::arch::riscv::Mode;
use kvas::linear::{choose_base, LinearConfig};
use kvas::phys::PhysRange;
use linear_support::{build, check, check_exhaustion, expected_pieces, free_pages, minimum, RawMap};
use proptest::prelude::*;

/// A place or size: a count of units of 4 KiB, 2 MiB, 1 GiB or 512 GiB, plus
/// some pages of jitter, so that every leaf size is possible and edges are ragged.
fn quantity(max_units: u64) -> impl Strategy<Value = u64> {
    (
        0..max_units,
        prop_oneof![Just(12u32), Just(21), Just(30), Just(39)],
        prop_oneof![Just(0u64), 0..1024u64],
    )
        .prop_map(|(units, shift, jitter)| {
            let units = if shift == 39 { units % 4 } else { units };
            (units << shift) + jitter * 4096
        })
}

fn raw_map() -> impl Strategy<Value = RawMap> {
    let bank = (quantity(2048), quantity(64).prop_map(|s| s.max(4096)));
    let reservation = (0u64..(1 << 29), 1u64..1024, any::<bool>());
    (prop::collection::vec(bank, 1..=64), prop::collection::vec(reservation, 0..16))
        .prop_map(|(banks, res)| RawMap::from_draw(banks, res))
}

fn run(mode: Mode, raw: &RawMap, text_pick: Option<(u64, u64)>, linux: bool) {
    let map = raw.to_map();
    let mut cfg = if linux { LinearConfig::riscv_linux(mode) } else { LinearConfig::riscv(mode) };
    if let Some((at, len)) = text_pick {
        let (s, e) = raw.banks[0];
        let start = s + (at * 4096) % (e - s);
        cfg.kernel_text = Some(PhysRange::new(start, (len * 4096).min(e - start)).unwrap());
    }
    // What the table needs, from the independent model: the build must succeed
    // exactly when free RAM holds that many frames.
    let max_level = cfg.max_leaf.level().min(mode.levels() - 1);
    let base = choose_base(cfg.base_rule, &map, cfg.page_offset, cfg.size, max_level).unwrap();
    let text = cfg.kernel_text.map(|t| (t.start_u64() & !0xfff, t.end().next_multiple_of(4096)));
    let pieces = expected_pieces(raw, base, base + cfg.size, text);
    let (_, tables) = minimum(mode, &pieces, cfg.page_offset.as_u64().wrapping_sub(base), max_level);
    if free_pages(raw) >= tables {
        let built = build(mode, &map, &cfg).unwrap_or_else(|e| panic!("{mode:?}: {e}\n{map:?}"));
        check(mode, raw, &map, &cfg, &built);
    } else {
        check_exhaustion(mode, &map, &cfg);
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 32 } else { 256 });
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sv39_random_maps(raw in raw_map(), text in proptest::option::of((0u64..1 << 20, 1u64..4096)), linux in any::<bool>()) {
        run(Mode::Sv39, &raw, text, linux);
    }

    #[test]
    fn sv48_random_maps(raw in raw_map(), text in proptest::option::of((0u64..1 << 20, 1u64..4096)), linux in any::<bool>()) {
        run(Mode::Sv48, &raw, text, linux);
    }

    #[test]
    fn sv57_random_maps(raw in raw_map(), text in proptest::option::of((0u64..1 << 20, 1u64..4096)), linux in any::<bool>()) {
        run(Mode::Sv57, &raw, text, linux);
    }
}

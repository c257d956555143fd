//! Translation through a shared table, and the hints and emptiness checks
//! behind `translate` and single-page unmaps, in every RISC-V mode.

use super::*;

/// `translate` stores nothing, so a table over an `OffsetMemory` is `Sync`
/// and harts may translate through one shared reference. (This does not
/// compile if `PageTable` gains interior mutability again.)
#[test]
fn a_shared_table_translates_on_several_threads() {
    fn assert_sync<T: Sync>(_: &T) {}
    for mode in MODES {
        let mut arena = Arena::new();
        let mut pt = table(mode, &mut arena);
        let va = kva(mode, 0x4000_0000);
        pt.map_range(vr(va, 64 * 4096), pa(0x10_0000), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
            .unwrap()
            .ignore();
        let shared = &pt;
        assert_sync(shared);
        std::thread::scope(|s| {
            for t in 0..2u64 {
                s.spawn(move || {
                    for i in (t..64).step_by(2) {
                        let got = shared.translate(va.wrapping_add(i * 4096 + 5)).map(|t| t.pa.as_u64());
                        assert_eq!(got, Ok(0x10_0000 + i * 4096 + 5), "{mode} page {i}");
                    }
                });
            }
        });
    }
}

/// The level-1 hint that `translate` starts from goes when its table does,
/// on every path that frees tables.
#[test]
fn translate_never_reads_a_freed_table_through_the_level_1_hint() {
    for mode in MODES {
        let mut arena = Arena::new();
        let mut pt = table(mode, &mut arena);
        let gib = 1u64 << 30;
        let va = kva(mode, 4 * gib);
        let other = kva(mode, 8 * gib);
        // Remember va's level-1 table, free it by a range unmap, and let its
        // frame come back as a table of another region.
        pt.map(va, pa(0x1000), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
        assert_eq!(pt.translate(va).map(|t| t.pa.as_u64()), Ok(0x1000), "{mode}");
        pt.unmap_range(vr(va, gib), &mut arena).unwrap().ignore();
        pt.map_range(vr(other, 0x20_0000), pa(0x20_0000), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
            .unwrap()
            .ignore();
        assert_eq!(pt.translate(va), Err(Error::NotMapped { va }), "{mode} after unmap_range");
        // The same through single-page unmaps that empty the level-1 table.
        pt.map(va, pa(0x1000), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
        pt.unmap(va, PageSize::Size4K, &mut arena).unwrap().ignore();
        pt.map_range(
            vr(other.wrapping_add(gib), 0x20_0000),
            pa(0),
            Attrs::KERNEL_RW,
            PageSize::Size4K,
            &mut arena,
        )
        .unwrap()
        .ignore();
        assert_eq!(pt.translate(va), Err(Error::NotMapped { va }), "{mode} after unmap");
    }
}

/// A sequential unmap looks at the next entry only; the last entry of a
/// table, and an entry whose neighbour has gone, take the full scan. Each
/// table must go exactly when its last entry does, in any order.
#[test]
fn leaf_tables_go_exactly_when_their_last_entry_does() {
    for mode in MODES {
        for order in 0..3 {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0x4000_0000);
            pt.map_range(vr(va, 2 * 512 * 4096), pa(0), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
                .unwrap()
                .ignore();
            let tables = pt.stats().unwrap().tables;
            let pages: Vec<u64> = match order {
                0 => (0..1024).collect(),
                1 => (0..1024).rev().collect(),
                _ => (0..1024).map(|i| (i * 389) % 1024).collect(),
            };
            for (n, &i) in pages.iter().enumerate() {
                pt.unmap(va.wrapping_add(i * 4096), PageSize::Size4K, &mut arena).unwrap().ignore();
                // Leaf tables still holding pages, of the two.
                let live = [0, 1].iter().filter(|&&t| pages[n + 1..].iter().any(|&p| p / 512 == t)).count();
                let expect = if live == 0 { 1 } else { tables - 2 + live as u64 };
                assert_eq!(pt.stats().unwrap().tables, expect, "{mode} order {order} after {n} unmaps");
            }
            assert_eq!(arena.live, 1, "{mode} order {order}");
        }
    }
}

/// The scan that decides whether a leaf table emptied must see a lone
/// survivor at any index, whichever entry went before it.
#[test]
fn a_lone_survivor_anywhere_keeps_its_table() {
    for mode in MODES {
        let mut arena = Arena::new();
        let mut pt = table(mode, &mut arena);
        let base = kva(mode, 0x4000_0000);
        let page = |i: u64| base.wrapping_add(i * 4096);
        for survivor in 0..512 {
            // The entry that goes has no live neighbour but the survivor.
            let gone = (survivor + 256) % 512;
            for i in [gone, survivor] {
                pt.map(page(i), pa(i * 4096), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena)
                    .unwrap()
                    .ignore();
            }
            let tables = pt.stats().unwrap().tables;
            pt.unmap(page(gone), PageSize::Size4K, &mut arena).unwrap().ignore();
            assert_eq!(pt.stats().unwrap().tables, tables, "{mode}: survivor {survivor} lost its table");
            assert_eq!(pt.translate(page(survivor)).map(|t| t.pa.as_u64()), Ok(survivor * 4096));
            pt.unmap(page(survivor), PageSize::Size4K, &mut arena).unwrap().ignore();
            assert_eq!(arena.live, 1, "{mode}: survivor {survivor}'s tables stayed");
        }
    }
}

//! The early frame allocator under the engine: a range map that fails for want
//! of frames must give every frame back (issue 10, item 12).

use kvas::arch::riscv::{Mode, Riscv};
use kvas::linear::{self, LinearConfig};
use kvas::paging::{Attrs, FrameAllocator, PageTable};
use kvas::phys::{EarlyFrameAllocator, MemoryMap, ReserveKind, ReservedBy};
use kvas::sim::Ram;
use kvas::sizes::{SZ_1G, SZ_1M};
use kvas::{Error, PageSize, PhysAddr, VirtAddr, VirtRange};
use proptest::prelude::*;

/// What the allocator can still give, and what it has lost.
fn state(a: &EarlyFrameAllocator<'_>) -> (u64, u64, u64) {
    (a.remaining(), a.in_use(), a.lost())
}

/// The frames `a` can still hand out, drained from a copy, sorted (a failed
/// map may give back frames from the return stack by rewinding instead: the
/// same frames, in another order).
fn to_come(a: &EarlyFrameAllocator<'_>) -> Vec<PhysAddr> {
    let mut copy = a.clone();
    let mut frames: Vec<_> = core::iter::from_fn(|| copy.allocate_frame()).collect();
    frames.sort();
    frames
}

#[test]
fn a_range_map_short_of_frames_gives_every_frame_back() {
    // The report's case: 80 free frames, one taken by the root, and a range of
    // 4 KiB pages needing 121 tables (one 1 GiB-level table and 120 leaf tables).
    let mut map = MemoryMap::new();
    map.add_ram(0x8000_0000, 80 * 4096).unwrap();
    let ram = Ram::new();
    let mut alloc = EarlyFrameAllocator::new(&map);
    let mut pt = PageTable::new(Riscv::new(Mode::Sv39), &ram, &mut alloc).unwrap();
    assert_eq!(state(&alloc), (79, 1, 0));
    let before = to_come(&alloc);
    let va = VirtAddr::new(0xffff_ffc0_0000_0000);
    let err = pt
        .map_range(
            VirtRange::new(va, 120 * 2 * SZ_1M).unwrap(),
            PhysAddr::new(0x8000_0000).unwrap(),
            Attrs::KERNEL_RW,
            PageSize::Size4K,
            &mut alloc,
        )
        .unwrap_err();
    assert_eq!(err, Error::OutOfFrames { va, needed: 121, got: 79 });
    assert_eq!(state(&alloc), (79, 1, 0), "frames lost by a failed map");
    assert_eq!(to_come(&alloc), before);
}

#[test]
fn a_failed_map_after_frees_gives_back_the_returned_frames_too() {
    // Frames on the return stack are handed out first; a failed map puts them back.
    let mut map = MemoryMap::new();
    map.add_ram(0x8000_0000, 200 * 4096).unwrap();
    map.reserve(0x8004_0000, 0x3000, ReserveKind::NoMap, ReservedBy::ReservedMemoryNode).unwrap();
    let ram = Ram::new();
    let mut alloc = EarlyFrameAllocator::new(&map);
    let mut pt = PageTable::new(Riscv::new(Mode::Sv39), &ram, &mut alloc).unwrap();
    let early: Vec<_> = (0..5).map(|_| alloc.allocate_frame().unwrap()).collect();
    let _keep = alloc.allocate_frame().unwrap();
    early.iter().for_each(|&f| alloc.free_frame(f)); // oldest first: onto the stack
    let before = (state(&alloc), to_come(&alloc));
    let va = VirtAddr::new(0xffff_ffc0_0000_0000);
    let len = 300 * 2 * SZ_1M;
    let err = pt.map_range(
        VirtRange::new(va, len).unwrap(),
        PhysAddr::new(0).unwrap(),
        Attrs::KERNEL_RW,
        PageSize::Size4K,
        &mut alloc,
    );
    assert!(matches!(err, Err(Error::OutOfFrames { .. })), "{err:?}");
    assert_eq!((state(&alloc), to_come(&alloc)), before);
}

#[test]
fn a_linear_map_undone_gives_every_frame_back() {
    // Two banks of RAM mapped with 4 KiB leaves: the first needs 151 tables and
    // gets them, the second runs dry, and the first is unmapped again. Its
    // tables come back oldest first; before runs, 86 of 199 frames were lost.
    let mut map = MemoryMap::new();
    map.add_ram(0x8000_0000, 300 * SZ_1M).unwrap();
    map.add_ram(0x1_0000_0000, 300 * SZ_1M).unwrap();
    let mut frames = MemoryMap::new();
    frames.add_ram(0x4000_0000, 200 * 4096).unwrap();
    let ram = Ram::new();
    let mut alloc = EarlyFrameAllocator::new(&frames);
    let mut pt = PageTable::new(Riscv::new(Mode::Sv39), &ram, &mut alloc).unwrap();
    let before = (state(&alloc), to_come(&alloc));
    let cfg = LinearConfig { max_leaf: PageSize::Size4K, ..LinearConfig::riscv(Mode::Sv39) };
    let err = linear::build(&mut pt, &map, &cfg, &mut alloc).unwrap_err();
    assert!(matches!(err, Error::OutOfFrames { needed: 151, got: 48, .. }), "{err}");
    assert_eq!((state(&alloc), to_come(&alloc)), before);
}

/// A memory map with one to three banks and a few reservations, holding
/// between a handful and a few hundred free frames.
fn memory_map() -> impl Strategy<Value = MemoryMap> {
    let bank = (0u64..64, 1u64..160).prop_map(|(gap, pages)| (gap * 4096, pages * 4096));
    let hole = (0u64..400, 1u64..8);
    (prop::collection::vec(bank, 1..4), prop::collection::vec(hole, 0..4)).prop_map(|(banks, holes)| {
        let mut map = MemoryMap::new();
        let mut at = 0x8000_0000;
        for (gap, size) in banks {
            at += gap;
            map.add_ram(at, size).unwrap();
            at += size;
        }
        for (page, pages) in holes {
            let _ =
                map.reserve(0x8000_0000 + page * 4096, pages * 4096, ReserveKind::NoMap, ReservedBy::User);
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the map, the frees that came before and the range asked for: a
    /// `map_range` that fails leaves the allocator able to give exactly the
    /// frames it could give before, having lost none.
    #[test]
    fn a_failed_map_range_returns_every_frame(
        map in memory_map(),
        mode in prop::sample::select(&[Mode::Sv39, Mode::Sv48, Mode::Sv57][..]),
        taken in 0usize..40,
        freed in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        first_gib in 0u64..4,
        two_mib_pieces in 1u64..400,
        max in prop::sample::select(&[PageSize::Size4K, PageSize::Size2M][..]),
    ) {
        let ram = Ram::new();
        let mut alloc = EarlyFrameAllocator::new(&map);
        let Ok(mut pt) = PageTable::new(Riscv::new(mode), &ram, &mut alloc) else { return Ok(()) };
        // Some history: frames taken, some of them given back in any order.
        let mut out: Vec<_> = (0..taken).map_while(|_| alloc.allocate_frame()).collect();
        for i in freed {
            if out.is_empty() { break; }
            let f = out.swap_remove(i.index(out.len()));
            alloc.free_frame(f);
        }
        let before = (state(&alloc), to_come(&alloc));
        let va = VirtAddr::new(0xffff_ffc0_0000_0000 + first_gib * SZ_1G);
        let len = two_mib_pieces * 2 * SZ_1M;
        let pa = PhysAddr::new(0).unwrap();
        match pt.map_range(VirtRange::new(va, len).unwrap(), pa, Attrs::KERNEL_RW, max, &mut alloc) {
            Err(Error::OutOfFrames { .. }) => {
                prop_assert_eq!((state(&alloc), to_come(&alloc)), before);
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
            Ok(flush) => flush.ignore(),
        }
    }

    /// The same for a whole linear map: whatever RAM it maps and whichever
    /// piece runs dry, the pieces already mapped are undone and every frame
    /// comes back.
    #[test]
    fn a_failed_linear_map_returns_every_frame(
        frames in memory_map(),
        banks in prop::collection::vec((0u64..8, 1u64..96), 1..4),
        mode in prop::sample::select(&[Mode::Sv39, Mode::Sv48][..]),
        max in prop::sample::select(&[PageSize::Size4K, PageSize::Size2M][..]),
    ) {
        let mut map = MemoryMap::new();
        let mut at = 0x1_0000_0000u64;
        for (gap, two_mib) in banks {
            at += gap * 2 * SZ_1M + 4096;
            map.add_ram(at, two_mib * 2 * SZ_1M).unwrap();
            at += two_mib * 2 * SZ_1M;
        }
        let ram = Ram::new();
        let mut alloc = EarlyFrameAllocator::new(&frames);
        let Ok(mut pt) = PageTable::new(Riscv::new(mode), &ram, &mut alloc) else { return Ok(()) };
        let before = (state(&alloc), to_come(&alloc));
        let cfg = LinearConfig { max_leaf: max, ..LinearConfig::riscv(mode) };
        match linear::build(&mut pt, &map, &cfg, &mut alloc) {
            Err(Error::OutOfFrames { .. }) => prop_assert_eq!((state(&alloc), to_come(&alloc)), before),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
            Ok((_, flush)) => flush.ignore(),
        }
    }
}

//! The linear map on fixed memory maps: QEMU's device trees, hand-made ones,
//! the base rule against Linux's, W^X, the cap, and running out of frames.

mod linear_support;

use kvas::arch::riscv::{Mode, Riscv};
use kvas::linear::{self, LinearConfig};
use kvas::paging::{PageTable, TableStats};
use kvas::phys::{DeviceTree, EarlyFrameAllocator, MemoryMap, PhysRange};
use kvas::sim::{Access, Ram};
use kvas::sizes::{SZ_1G, SZ_1M};
use kvas::{Error, PageSize};
use linear_support::{build, check, RawMap, MODES};

fn raw_of(map: &MemoryMap) -> RawMap {
    RawMap {
        banks: map.banks().iter().map(|b| (b.start_u64(), b.end())).collect(),
        reserved: map
            .reservations()
            .iter()
            .map(|r| (r.range.start_u64(), r.range.end(), r.kind == kvas::phys::ReserveKind::NoMap))
            .collect(),
    }
}

fn build_checked(mode: Mode, map: &MemoryMap, cfg: &LinearConfig) -> linear_support::Built {
    let b = build(mode, map, cfg).unwrap();
    check(mode, &raw_of(map), map, cfg, &b);
    b
}

#[test]
fn qemu_device_trees_in_every_mode() {
    let trees: [&[u8]; 6] = [
        include_bytes!("data/qemu-virt-1g.dtb"),
        include_bytes!("data/qemu-virt-1537m.dtb"),
        include_bytes!("data/qemu-virt-8g.dtb"),
        include_bytes!("data/qemu-virt-numa2.dtb"),
        include_bytes!("data/qemu-virt-numa4.dtb"),
        include_bytes!("data/qemu-virt-initrd.dtb"),
    ];
    for blob in trees {
        let dt = DeviceTree::parse(blob, Some(0xbfe0_0000)).unwrap();
        for mode in MODES {
            build_checked(mode, &dt.map, &LinearConfig::riscv(mode));
            build_checked(mode, &dt.map, &LinearConfig::riscv_linux(mode));
        }
    }
}

#[test]
fn hand_made_trees_with_gaps_and_reservations() {
    for blob in [&include_bytes!("data/hand-gaps.dtb")[..], &include_bytes!("data/hand-cells32.dtb")[..]] {
        let dt = DeviceTree::parse(blob, None).unwrap();
        for mode in MODES {
            let b = build_checked(mode, &dt.map, &LinearConfig::riscv(mode));
            // The firmware's no-map range is not mapped; the reusable CMA pool is.
            for r in dt.map.reservations() {
                let va = b.lm.va_of(r.range.start()).unwrap().as_u64();
                let mapped = linear_support::oracle(&b, mode, va, Access::Load).is_ok();
                assert_eq!(mapped, r.kind.is_mapped(), "{r:?} in {mode:?}");
            }
        }
    }
}

/// 8 GiB from 0x80200000 (firmware below it not described as RAM).
fn ram_at_2m() -> MemoryMap {
    MemoryMap::from_text("0x80200000:8G").unwrap()
}

#[test]
fn the_kvas_base_keeps_gigapages_where_linux_cannot() {
    let map = ram_at_2m();
    // Sv39, kvas: 0x80200000..0x80400000.. up to the first GiB in 2 MiB leaves,
    // then 7 GiB leaves, then the tail in 2 MiB leaves.
    let kvas = build_checked(Mode::Sv39, &map, &LinearConfig::riscv(Mode::Sv39));
    assert_eq!(kvas.lm.base.as_u64(), 0x8000_0000);
    assert_eq!(kvas.stats.leaves_of(PageSize::Size1G), 7);
    assert_eq!(kvas.stats.leaves_of(PageSize::Size2M), 511 + 1);
    assert_eq!(kvas.stats.tables, 3);
    // Linux: 2 MiB base, 2 MiB leaves: 4096 of them, in 8 tables under the root.
    let linux = build_checked(Mode::Sv39, &map, &LinearConfig::riscv_linux(Mode::Sv39));
    assert_eq!(linux.lm.base.as_u64(), 0x8020_0000);
    assert_eq!(linux.stats.leaves, [0, 4096, 0, 0, 0]);
    assert_eq!(linux.stats.tables, 1 + 8);
    // Linux's base with every leaf size still gets no gigapage: the base forbids them.
    let linux_base = LinearConfig { max_leaf: PageSize::Size1G, ..LinearConfig::riscv_linux(Mode::Sv39) };
    let b = build_checked(Mode::Sv39, &map, &linux_base);
    assert_eq!(b.stats.leaves_of(PageSize::Size1G), 0);
    assert_eq!(b.stats.tables, 1 + 8);
    // Sv48 and Sv57: same story one level up.
    for mode in [Mode::Sv48, Mode::Sv57] {
        let kvas = build_checked(mode, &map, &LinearConfig::riscv(mode));
        let linux = build_checked(mode, &map, &LinearConfig::riscv_linux(mode));
        assert_eq!(kvas.stats.leaves_of(PageSize::Size1G), 7, "{mode:?}");
        assert_eq!(linux.stats.leaves_of(PageSize::Size1G), 0, "{mode:?}");
        assert!(kvas.stats.tables < linux.stats.tables, "{mode:?}");
    }
}

#[test]
fn root_level_leaves_in_every_mode() {
    // Sv39: a 1 GiB root leaf; Sv48: 512 GiB; Sv57: 256 TiB.
    let cases = [
        (Mode::Sv39, "0x40000000:1G", PageSize::Size1G),
        (Mode::Sv48, "0x8000000000:512G", PageSize::Size512G),
        (Mode::Sv57, "0x0:256T", PageSize::Size256T),
    ];
    for (mode, text, size) in cases {
        let map = MemoryMap::from_text(text).unwrap();
        let b = build_checked(mode, &map, &LinearConfig::riscv(mode));
        assert_eq!(b.stats.leaves_of(size), 1, "{mode:?}");
        assert_eq!(b.stats.tables, 1, "{mode:?}: the root alone");
    }
}

#[test]
fn kernel_text_alias_is_read_only_and_nothing_is_executable() {
    let map = MemoryMap::from_text("0x80000000:4G").unwrap();
    for mode in MODES {
        let text = PhysRange::new(0x8020_0000, 0x12_3456).unwrap();
        let cfg = LinearConfig { kernel_text: Some(text), ..LinearConfig::riscv(mode) };
        let b = build_checked(mode, &map, &cfg);
        let va = b.lm.va_of(text.start()).unwrap().as_u64();
        assert!(linear_support::oracle(&b, mode, va, Access::Store).is_err());
        assert!(linear_support::oracle(&b, mode, va, Access::Load).is_ok());
        assert!(linear_support::oracle(&b, mode, va + 0x40_0000, Access::Store).is_ok());
    }
}

#[test]
fn ram_beyond_the_window_is_capped_and_reported() {
    let map = MemoryMap::from_text("0x80000000:64G,0x2000000000:128G").unwrap();
    let b = build_checked(Mode::Sv39, &map, &LinearConfig::riscv(Mode::Sv39));
    // The window is [0x80000000, 0x2080000000): all of bank 0, 2 GiB of bank 1.
    assert_eq!(b.lm.mapped_bytes, 64 * SZ_1G + 2 * SZ_1G);
    assert_eq!(b.lm.capped_bytes, 126 * SZ_1G);
    assert_eq!(b.lm.capped, Some(PhysRange::from_bounds(0x20_8000_0000, 0x40_0000_0000).unwrap()));
    assert!(b.lm.to_string().contains("warning: physical memory overflows the linear map"));
    // Sv48's window is 64 TiB: nothing capped.
    let b = build_checked(Mode::Sv48, &map, &LinearConfig::riscv(Mode::Sv48));
    assert_eq!(b.lm.capped, None);
}

#[test]
fn running_out_of_frames_is_an_error_and_leaves_nothing_behind() {
    // Three banks, each needing its own tables; free RAM for the root and 2 more
    // frames only (the rest reserved).
    let mut map = MemoryMap::from_text("0x80000000:16M,0x100001000:1G,0x200003000:1G").unwrap();
    map.reserve(
        0x8000_3000,
        16 * SZ_1M - 0x3000,
        kvas::phys::ReserveKind::Reserved,
        kvas::phys::ReservedBy::Kernel,
    )
    .unwrap();
    map.reserve(0x1_0000_1000, SZ_1G, kvas::phys::ReserveKind::Reserved, kvas::phys::ReservedBy::Kernel)
        .unwrap();
    map.reserve(0x2_0000_3000, SZ_1G, kvas::phys::ReserveKind::Reserved, kvas::phys::ReservedBy::Kernel)
        .unwrap();
    for mode in MODES {
        let ram = Ram::new();
        let mut alloc = EarlyFrameAllocator::new(&map);
        let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut alloc).unwrap();
        let before = pt.stats().unwrap();
        let err = linear::build(&mut pt, &map, &LinearConfig::riscv(mode), &mut alloc).unwrap_err();
        assert!(matches!(err, Error::OutOfFrames { .. }), "{mode:?}: {err}");
        assert_eq!(pt.stats().unwrap(), before, "{mode:?}: tables as they were");
        assert_eq!(pt.stats().unwrap(), TableStats { tables: 1, leaves: [0; 5] });
        assert_eq!(alloc.in_use(), 1, "{mode:?}: only the root is out");
        assert_eq!(alloc.lost(), 0);
        assert_eq!(alloc.remaining(), 2);
    }
}

#[test]
fn an_occupied_window_is_refused_whole() {
    let map = MemoryMap::from_text("0x80000000:2G,0x100000000:2G").unwrap();
    for mode in MODES {
        let ram = Ram::new();
        let mut alloc = EarlyFrameAllocator::new(&map);
        let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut alloc).unwrap();
        let cfg = LinearConfig::riscv(mode);
        // Something already sits where the second bank goes.
        let (lm, f) =
            linear::build(&mut pt, &MemoryMap::from_text("0x80000000:2G").unwrap(), &cfg, &mut alloc)
                .unwrap();
        f.ignore();
        let va = lm.va_of(kvas::PhysAddr::new(0x1_0000_0000).unwrap()).unwrap();
        pt.map(
            va,
            kvas::PhysAddr::new(0x1_0000_0000).unwrap(),
            PageSize::Size4K,
            kvas::paging::Attrs::KERNEL_RW,
            &mut alloc,
        )
        .unwrap()
        .ignore();
        let before = pt.stats().unwrap();
        let in_use = alloc.in_use();
        let err = linear::build(&mut pt, &map, &cfg, &mut alloc).unwrap_err();
        assert!(matches!(err, Error::AlreadyMapped { .. }), "{err}");
        assert_eq!(pt.stats().unwrap(), before);
        assert_eq!(alloc.in_use(), in_use);
    }
}

#[test]
fn an_empty_map_is_refused() {
    let empty = MemoryMap::new();
    let frames = MemoryMap::from_text("0x80000000:1M").unwrap();
    let ram = Ram::new();
    let mut alloc = EarlyFrameAllocator::new(&frames);
    let mut pt = PageTable::new(Riscv::new(Mode::Sv39), &ram, &mut alloc).unwrap();
    let err = linear::build(&mut pt, &empty, &LinearConfig::riscv(Mode::Sv39), &mut alloc).unwrap_err();
    assert_eq!(err, Error::NoRam);
}

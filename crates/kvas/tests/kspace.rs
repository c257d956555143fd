//! `kvas::kspace`: the kernel's address space built in the simulator and
//! checked with the oracle MMU; the counts it returns checked against the
//! engine's own; the linear map's analytic count checked against building it;
//! Linux's rules checked against values computed by hand from Linux's sources.

use kvas::arch::riscv::{Mode, Riscv};
use kvas::kspace::{
    self, Built, FixmapSpec, ImageSections, KernelImage, KernelSpec, Kfence, RegionKind, Rules,
    FIX_FDT_OFFSET, KFENCE_POOL_SIZE, MAX_FDT_SIZE,
};
use kvas::layout::riscv64::KERNEL_LINK_ADDR;
use kvas::paging::PageTable;
use kvas::phys::{DeviceTree, MemoryMap, PhysRange};
use kvas::sim::{Access, Context, Mmu, Ram, TrackingAllocator};
use kvas::sizes::SZ_1M;
use kvas::{Error, PhysAddr, VirtAddr};
use proptest::prelude::*;

const MODES: [Mode; 3] = [Mode::Sv39, Mode::Sv48, Mode::Sv57];

/// A 4 MiB image at 0x80200000: 1 MiB text, 256 KiB rodata, the rest data.
fn image() -> KernelImage {
    KernelImage {
        load: PhysAddr::new(0x8020_0000).unwrap(),
        sections: ImageSections::contiguous(SZ_1M, 256 << 10, 4 * SZ_1M),
    }
}

fn final_spec(mode: Mode, rules: Rules, map: &mut MemoryMap) -> KernelSpec {
    let mut spec = KernelSpec::new(mode, rules, image()).unwrap();
    spec.fixmap.device = Some(PhysAddr::new(0x10_0000).unwrap());
    spec.fixmap.dtb = Some(PhysRange::new(0xbfe0_0000, 0x1384).unwrap());
    spec.prepare(map).unwrap()
}

/// Builds in simulated RAM; returns the RAM, the table and what was built.
fn build(spec: &KernelSpec, map: &MemoryMap) -> (Ram, PhysAddr, Built, kvas::paging::TableStats) {
    let ram = Ram::new();
    let (root, built, stats) = {
        let t = kspace::build(spec, map, &ram).unwrap();
        (t.table.root(), t.built, t.table.stats().unwrap())
    };
    (ram, root, built, stats)
}

fn oracle(ram: &Ram, mode: Mode, root: PhysAddr, va: u64, access: Access) -> bool {
    let satp = mode.satp_mode() << 60 | root.as_u64() >> 12;
    Mmu::from_satp(satp).unwrap().translate(ram, VirtAddr::new(va), access, Context::SUPERVISOR).is_ok()
}

#[test]
fn the_kernel_space_is_w_xor_x_everywhere_including_every_linear_alias() {
    for mode in MODES {
        let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
        let spec = final_spec(mode, Rules::Kvas, &mut map);
        let (ram, root, built, _) = build(&spec, &map);
        // Every leaf, through the engine's iterator.
        let pt = unsafe_free_walk(&ram, mode, root);
        for m in pt {
            assert!(!m.attrs.is_writable_and_executable(), "{mode}: {m:?} is W+X");
        }
        let lm = built.linear.unwrap();
        let s = image().sections;
        let load = image().load.as_u64();
        let can = |va: u64, a: Access| oracle(&ram, mode, root, va, a);
        for off in (0..s.end).step_by(4096) {
            let (text, rodata) = (off < s.text_end, (s.rodata_start..s.rodata_end).contains(&off));
            let image_va = KERNEL_LINK_ADDR + off;
            let alias = lm.va_of(PhysAddr::new(load + off).unwrap()).unwrap().as_u64();
            // The image: text RX, rodata R, data RW.
            assert_eq!(can(image_va, Access::Fetch), text, "{mode}: fetch image +{off:#x}");
            assert_eq!(can(image_va, Access::Store), !text && !rodata, "{mode}: store image +{off:#x}");
            assert!(can(image_va, Access::Load), "{mode}: load image +{off:#x}");
            // Its linear alias: never executable; read-only over text and rodata.
            assert!(!can(alias, Access::Fetch), "{mode}: fetch alias +{off:#x}");
            assert_eq!(can(alias, Access::Store), !text && !rodata, "{mode}: store alias +{off:#x}");
            assert!(can(alias, Access::Load), "{mode}: load alias +{off:#x}");
        }
        // The rest of the linear map: RW, never X (first and last page of RAM).
        for pa in [0x8000_0000u64, 0xbfff_f000] {
            let va = lm.va_of(PhysAddr::new(pa).unwrap()).unwrap().as_u64();
            assert!(can(va, Access::Store) && !can(va, Access::Fetch), "{mode}: {pa:#x}");
        }
        // The fixmap: device page RW, window slot RW, DTB window R only.
        let fix = spec.layout.fixmap().start().as_u64();
        assert!(can(fix, Access::Store) && !can(fix, Access::Fetch));
        assert!(can(fix + 0x1000, Access::Store));
        assert!(can(fix + (2 << 20), Access::Load) && !can(fix + (2 << 20), Access::Store));
        assert!(!can(fix + (6 << 20) - 1, Access::Store));
    }
}

/// Every leaf of the table at `root`, through a fresh handle on the same RAM.
fn unsafe_free_walk(ram: &Ram, mode: Mode, root: PhysAddr) -> Vec<kvas::paging::Mapping> {
    // SAFETY: `root` is a table built in `ram` and nothing else uses it now.
    let pt = unsafe { PageTable::from_root(Riscv::new(mode), ram, root) };
    pt.mappings().collect::<Result<Vec<_>, _>>().unwrap()
}

/// Each region's leaves by level and bytes, counted by walking the finished
/// tables: the oracle for the counts `build` makes as it maps (it never walks).
fn walked(pt: &PageTable<Riscv, &Ram>, built: &Built) -> Vec<([u64; 5], u64)> {
    let mut out = vec![([0u64; 5], 0u64); built.regions().len()];
    for m in pt.mappings() {
        let m = m.unwrap();
        let i = built.regions().iter().position(|r| r.contains(m.va));
        let i = i.unwrap_or_else(|| panic!("{m:?} lies in no region"));
        out[i].0[m.size.level() as usize] += 1;
        out[i].1 += m.size.bytes();
    }
    out
}

/// What `build` counted, region by region and in all, is what a walk of its
/// tables finds.
fn assert_counts_are_the_walk_s(pt: &PageTable<Riscv, &Ram>, built: &Built, what: &str) {
    for (r, (leaves, bytes)) in built.regions().iter().zip(walked(pt, built)) {
        assert_eq!((r.leaves, r.bytes()), (leaves, bytes), "{what}: region {}", r.kind.name());
    }
    let stats = pt.stats().unwrap();
    assert_eq!(built.leaves(), stats.leaves, "{what}");
    assert_eq!(built.mapped_bytes(), stats.mapped_bytes(), "{what}");
    if !built.linear_counted {
        assert_eq!(built.pt_pages, stats.tables, "{what}");
    }
}

#[test]
fn what_build_returns_is_what_the_engine_counts() {
    for mode in MODES {
        for rules in [Rules::Kvas, Rules::Linux] {
            let mut map = MemoryMap::from_text("0x80000000:3G,0x1_0000_1000:0x3fff000").unwrap();
            let spec = final_spec(mode, rules, &mut map);
            let ram = Ram::new();
            let t = kspace::build(&spec, &map, &ram).unwrap();
            assert_counts_are_the_walk_s(&t.table, &t.built, &format!("{mode} {rules:?}"));
            let (_, _, built, stats) = build(&spec, &map);
            assert_eq!(built.pt_pages, stats.tables, "{mode} {rules:?}");
            // The totals, the sums of the regions' counts, are the walk's: every
            // leaf lies in the region whose step mapped it.
            assert_eq!(built.leaves(), stats.leaves, "{mode} {rules:?}");
            assert_eq!(built.mapped_bytes(), stats.mapped_bytes(), "{mode} {rules:?}");
            let tables: u64 = built.regions().iter().map(|r| r.tables).sum();
            assert_eq!(tables + 1, built.pt_pages, "{mode} {rules:?}: the root plus each region's tables");
        }
    }
}

#[test]
fn the_serial_lines_have_the_contract_s_form() {
    let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
    let spec = final_spec(Mode::Sv39, Rules::Kvas, &mut map);
    let (_, _, built, _) = build(&spec, &map);
    let lines: Vec<String> = built.lines().map(|l| l.to_string()).collect();
    let names: Vec<&str> = built.regions().iter().map(|r| r.kind.name()).collect();
    assert_eq!(names, ["fixmap", "vmalloc", "linear", "modules", "kernel"]);
    // Sv39, 1 GiB at 0x80000000 (kvas base 0x80000000, 1 GiB leaves possible but
    // the image's text and rodata aliases cut the first GiB): the kernel step maps
    // text 256 + rodata 64 + data 704 = 1024 pages... in 2 MiB leaves where aligned:
    // text [0, 1M) 256 x 4K, rodata [1M, 1.25M) 64 x 4K, data [1.25M, 2M) 192 x 4K
    // and [2M, 4M) one 2 MiB leaf; tables: a level-1 and a level-0 table.
    assert_eq!(lines[4], "kvas: built kernel leaves 4K=512 2M=1 1G=0 tables 2");
    // Linear: [0x80000000, 0x80200000) one 2M; text alias 256 x 4K; rodata 64 x 4K;
    // [0x80340000, 0x80400000) 192 x 4K; then 2 MiB leaves to the GiB's end: 510.
    // Tables: one level-1 table for the GiB, one level-0 table for 0x80200000's 2M block.
    assert_eq!(lines[2], "kvas: built linear leaves 4K=512 2M=511 1G=0 tables 2");
    for l in &lines {
        assert!(l.starts_with("kvas: built ") && l.contains(" leaves 4K=") && l.contains(" tables "), "{l}");
    }
}

#[test]
fn early_tables_hold_the_trampoline_and_no_linear_map() {
    for mode in MODES {
        let fix = FixmapSpec {
            device: Some(PhysAddr::new(0x10_0000).unwrap()),
            window_slot: true,
            dtb: Some(PhysRange::new(0xbfe0_0000, 0x1384).unwrap()),
        };
        let spec = KernelSpec::early(mode, image(), fix).unwrap();
        let ram = Ram::new();
        let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 64 * 4096).unwrap();
        let (pt, built) = kspace::build_early(&spec, &ram, &mut frames).unwrap();
        let names: Vec<&str> = built.regions().iter().map(|r| r.kind.name()).collect();
        assert_eq!(names, ["trampoline", "fixmap", "kernel"], "{mode}");
        let t = built.region(RegionKind::Trampoline).unwrap();
        assert_eq!(t.bytes(), SZ_1M, "{mode}: the text, identity-mapped");
        assert!(pt.translate(VirtAddr::new(0x8020_0000)).is_ok());
        assert!(built.linear.is_none());
    }
}

#[test]
fn a_dtb_larger_than_the_fixmap_window_is_refused_and_the_largest_is_covered() {
    // 4 KiB past a 2 MiB boundary: the window (two 2 MiB leaves from that
    // boundary) still covers a DTB of MAX_FDT_SIZE, to its last byte.
    let at = 0xbfe0_1000;
    let fixmap =
        |size| FixmapSpec { device: None, window_slot: false, dtb: Some(PhysRange::new(at, size).unwrap()) };
    for mode in MODES {
        let ram = Ram::new();
        let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 64 * 4096).unwrap();
        let spec = KernelSpec::early(mode, image(), fixmap(MAX_FDT_SIZE)).unwrap();
        let (pt, _) = kspace::build_early(&spec, &ram, &mut frames).unwrap();
        let window = spec.layout.fixmap().start().as_u64() + FIX_FDT_OFFSET + (at & (MAX_FDT_SIZE - 1));
        let last = pt.translate(VirtAddr::new(window + MAX_FDT_SIZE - 1)).unwrap();
        assert_eq!(last.pa.as_u64(), at + MAX_FDT_SIZE - 1, "{mode}");
        pt.destroy(&mut frames);
        // One byte more would run past the window: refused, saying what, every frame given back.
        let spec = KernelSpec::early(mode, image(), fixmap(MAX_FDT_SIZE + 1)).unwrap();
        let e = kspace::build_early(&spec, &ram, &mut frames).map(|_| ()).unwrap_err();
        assert!(
            matches!(e, Error::InvalidOption { option: "dtb size", value, .. } if value == MAX_FDT_SIZE + 1),
            "{mode}: {e}"
        );
        assert!(e.to_string().contains("larger than the fixmap's DTB window"), "{e}");
        assert_eq!(frames.live(), 0, "{mode}");
    }
}

#[test]
fn a_failed_build_gives_every_frame_back() {
    let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
    let spec = final_spec(Mode::Sv48, Rules::Kvas, &mut map);
    for limit in [1, 3, 10, 40, 70] {
        let ram = Ram::new();
        let mut frames =
            TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 30).unwrap().with_limit(limit);
        let err = kspace::build_with(&spec, &map, &ram, &mut frames).map(|_| ()).unwrap_err();
        assert!(matches!(err, Error::OutOfFrames { .. }), "{limit}: {err}");
        assert_eq!(frames.live(), 0, "limit {limit}: frames left out");
        assert!(frames.misuse().is_empty());
    }
}

#[test]
fn no_usable_ram_is_named_as_such() {
    // Issue 10 item 10: all RAM reserved, or the only bank dropped.
    let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
    map.reserve_text("0x80000000:1G:reserved").unwrap();
    let spec =
        KernelSpec::linear_only(Mode::Sv39, Rules::Kvas, kvas::linear::LinearConfig::riscv(Mode::Sv39))
            .unwrap();
    let err = kspace::build(&spec, &map, &Ram::new()).map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::NoUsableRam { .. }), "{err}");
    assert!(err.to_string().starts_with("no usable RAM is left"), "{err}");
    let dropped = MemoryMap::from_text("0x80000000:100").unwrap();
    let err = kspace::build(&spec, &dropped, &Ram::new()).map(|_| ()).unwrap_err();
    assert!(err.to_string().starts_with("no usable RAM is left"), "{err}");
}

// --- the linear map counted equals the linear map built ---

/// RAM banks `(start, end)` and reservations `(start, size, no_map)`.
type RandomMap = (Vec<(u64, u64)>, Vec<(u64, u64, bool)>);

fn random_map() -> impl Strategy<Value = RandomMap> {
    let unit = prop_oneof![Just(12u32), Just(21), Just(30)];
    let bank = (0u64..64, unit.clone(), 0u64..600, 1u64..8, unit, 0u64..600);
    let res = (0u64..(1 << 18), 1u64..600, any::<bool>());
    (prop::collection::vec(bank, 1..6), prop::collection::vec(res, 0..5)).prop_map(|(banks, res)| {
        let banks: Vec<(u64, u64)> = banks
            .into_iter()
            .map(|(u, s, j, lu, ls, lj)| {
                let start = 0x8000_0000 + (u << s) + j * 4096;
                (start, start + (lu << ls) + lj * 4096)
            })
            .collect();
        let res = res
            .into_iter()
            .enumerate()
            .map(|(i, (p, n, nomap))| {
                let (s, e) = banks[i % banks.len()];
                let start = s + (p * 4096) % (e - s);
                (start, n * 4096, nomap)
            })
            .collect();
        (banks, res)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn counting_the_linear_map_equals_building_it(
        (banks, res) in random_map(),
        mode in prop_oneof![Just(Mode::Sv39), Just(Mode::Sv48), Just(Mode::Sv57)],
        linux in any::<bool>(),
        cuts in (0u64..4096, 1u64..600, 0u64..4096),
    ) {
        let mut map = MemoryMap::new();
        for &(s, e) in &banks { let _ = map.add_ram(s, e - s); }
        for &(s, n, nomap) in &res {
            let kind = if nomap { kvas::phys::ReserveKind::NoMap } else { kvas::phys::ReserveKind::Reserved };
            let _ = map.reserve(s, n, kind, kvas::phys::ReservedBy::User);
        }
        let rules = if linux { Rules::Linux } else { Rules::Kvas };
        let mut cfg = if linux { kvas::linear::LinearConfig::riscv_linux(mode) } else { kvas::linear::LinearConfig::riscv(mode) };
        let first = banks.iter().map(|b| b.0).min().unwrap();
        cfg.kernel_text = PhysRange::new(first + cuts.0 * 4096, cuts.1 * 4096).ok();
        cfg.kernel_rodata = PhysRange::new(first + (cuts.0 + cuts.1) * 4096, 64 * 4096).ok();
        cfg.kfence = PhysRange::new(first + cuts.2 * 8192, KFENCE_POOL_SIZE).ok();
        let spec = KernelSpec::linear_only(mode, rules, cfg).unwrap();
        let ram = Ram::new();
        let built = match kspace::build(&spec, &map, &ram) {
            Ok(t) => {
                assert_counts_are_the_walk_s(&t.table, &t.built, "linear only");
                t.built
            }
            Err(_) => return Ok(()), // no RAM or no frames: nothing to compare
        };
        let plan = kspace::Plan::new(&spec, &map).unwrap();
        let (cfg, base) = plan.linear().unwrap();
        let counted = kspace::count_linear(&map, &cfg, base, mode.geometry()).unwrap();
        let linear = built.region(RegionKind::Linear).unwrap();
        prop_assert_eq!(counted.leaves, linear.leaves);
        prop_assert_eq!(counted.tables, linear.tables);
        prop_assert_eq!(counted.bytes, linear.bytes());
        // And the counted path of the build reports the same.
        let mut frames = plan.frames();
        let (_, c) = plan.build_counting_linear(&Ram::new(), &mut frames).unwrap();
        prop_assert!(c.linear_counted);
        prop_assert_eq!(c.pt_pages, built.pt_pages);
        prop_assert_eq!(c.leaves(), built.leaves());
        prop_assert_eq!(c.region(RegionKind::Linear), built.region(RegionKind::Linear));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whole kernel spaces, early and final, both rules, any depth: sections of
    /// any page size with gaps, any page-aligned load address in RAM, a KASLR
    /// offset, the fixmap's pages anywhere. Build counts every region's leaves as
    /// it maps them; a walk of the finished tables must find the same.
    #[test]
    fn the_counts_made_while_building_are_the_walk_s(
        (banks, res) in random_map(),
        mode in prop_oneof![Just(Mode::Sv39), Just(Mode::Sv48), Just(Mode::Sv57)],
        linux in any::<bool>(),
        early in any::<bool>(),
        pages in (1u64..1200, 0u64..3, 0u64..900, 0u64..3, 0u64..1500),
        (load_page, load_2m) in (0u64..(1 << 19), any::<bool>()),
        kaslr in 0u64..4,
        device in prop::option::of(0u64..(1 << 40)),
        dtb in prop::option::of((0u64..(1 << 28), 1u64..(2 << 20))),
    ) {
        let mut map = MemoryMap::new();
        for &(s, e) in &banks { let _ = map.add_ram(s, e - s); }
        for &(s, n, nomap) in &res {
            let kind = if nomap { kvas::phys::ReserveKind::NoMap } else { kvas::phys::ReserveKind::Reserved };
            let _ = map.reserve(s, n, kind, kvas::phys::ReservedBy::User);
        }
        let (text, gap1, rodata, gap2, data) = pages;
        let p = |n: u64| n * 4096;
        let sections = ImageSections {
            text_end: p(text),
            rodata_start: p(text + gap1),
            rodata_end: p(text + gap1 + rodata),
            data_start: p(text + gap1 + rodata + gap2),
            end: p(text + gap1 + rodata + gap2 + data),
        };
        // Anywhere in the first bank, or at a 2 MiB boundary (past its end: refused).
        let load = banks[0].0 + p(load_page) % (banks[0].1 - banks[0].0);
        let load = PhysAddr::new(if load_2m { load.next_multiple_of(2 << 20) } else { load }).unwrap();
        let image = KernelImage { load, sections };
        let fixmap = FixmapSpec {
            device: device.map(|d| PhysAddr::new(d * 4096 % (1 << 50)).unwrap()),
            window_slot: true,
            dtb: dtb.map(|(pa, size)| PhysRange::new(0x8000_0000 + pa * 8, size).unwrap()),
        };
        let rules = if linux { Rules::Linux } else { Rules::Kvas };
        let ram = Ram::new();
        if early {
            let Ok(spec) = KernelSpec::early(mode, image, fixmap) else { return Ok(()) };
            let mut frames = TrackingAllocator::new(PhysAddr::new(0x10_0000_0000).unwrap(), 1 << 30).unwrap();
            let Ok((pt, built)) = kspace::build_early(&spec, &ram, &mut frames) else { return Ok(()) };
            assert_counts_are_the_walk_s(&pt, &built, "early");
        } else {
            let Ok(spec) = KernelSpec::new(mode, rules, image) else { return Ok(()) };
            let Ok(mut spec) = spec.with_kaslr_offset(kaslr * (2 << 20)) else { return Ok(()) };
            spec.fixmap.device = fixmap.device;
            spec.fixmap.dtb = fixmap.dtb;
            let Ok(spec) = spec.prepare(&mut map) else { return Ok(()) };
            let Ok(t) = kspace::build(&spec, &map, &ram) else { return Ok(()) };
            assert_counts_are_the_walk_s(&t.table, &t.built, "final");
        }
    }
}

#[test]
fn a_petabyte_with_linux_rules_is_counted_in_constant_memory() {
    // Issue 10 item 11: Sv57, Linux rules, 1 PiB at 0x200000. Linux's base is
    // 0x200000 (2 MiB rounding), so PAGE_OFFSET - base is only 2 MiB-aligned: every
    // leaf is 2 MiB, 2^50 / 2^21 = 2^29 of them, in 2^50 / 2^30 = 2^20 level-1
    // tables, 2^50 / 2^39 = 2^11 level-2 tables and 2^50 / 2^48 = 4 level-3 tables.
    let map = MemoryMap::from_text("0x200000:1P").unwrap();
    let cfg = kvas::linear::LinearConfig::riscv_linux(Mode::Sv57);
    let spec = KernelSpec::linear_only(Mode::Sv57, Rules::Linux, cfg).unwrap();
    let plan = kspace::Plan::new(&spec, &map).unwrap();
    let (cfg, base) = plan.linear().unwrap();
    assert_eq!(base, 0x20_0000);
    let c = kspace::count_linear(&map, &cfg, base, Mode::Sv57.geometry()).unwrap();
    assert_eq!(c.leaves, [0, 1 << 29, 0, 0, 0]);
    assert_eq!(c.tables, (1 << 20) + (1 << 11) + 4);
    let mut frames = plan.frames();
    let ram = Ram::new();
    let (pt, built) = plan.build_counting_linear(&ram, &mut frames).unwrap();
    assert_eq!(built.pt_pages, 1 + (1 << 20) + (1 << 11) + 4);
    assert_eq!(pt.stats().unwrap().tables, 1, "only the root was built");
}

// --- Linux's rules on QEMU's device trees, computed by hand ---

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");

/// QEMU's riscv_compute_fdt_addr (hw/riscv/boot.c) puts the DTB at
/// `ALIGN_DOWN(min(dram_end, 3 GiB) - fdtsize, 2 MiB)`: 0xbfe00000 for all of these.
const QEMU_DTB: u64 = 0xbfe0_0000;

/// The image of the issue: 0x1e6c000 bytes at 0x80200000 (OpenSBI fw_jump's
/// FW_JUMP_ADDR), with 2 MiB-aligned sections as STRICT_KERNEL_RWX lays them out:
/// text + init text 12 MiB, rodata 6 MiB, the rest data.
fn linux_image() -> KernelImage {
    KernelImage {
        load: PhysAddr::new(0x8020_0000).unwrap(),
        sections: ImageSections::contiguous(12 * SZ_1M, 6 * SZ_1M, 0x1e6_c000),
    }
}

fn linux_on(dtb: &str, mode: Mode) -> Built {
    let blob = std::fs::read(format!("{DATA}{dtb}")).unwrap();
    let dt = DeviceTree::parse(&blob, Some(QEMU_DTB)).unwrap();
    let mut map = dt.map;
    let mut spec = KernelSpec::new(mode, Rules::Linux, linux_image()).unwrap();
    spec.fixmap.dtb = Some(PhysRange::new(QEMU_DTB, dt.total_size as u64).unwrap());
    let spec = spec.prepare(&mut map).unwrap();
    let ram = Ram::new();
    let built = kspace::build(&spec, &map, &ram).unwrap().built;
    built
}

fn leaves(b: &Built, kind: RegionKind) -> [u64; 5] {
    b.region(kind).unwrap().leaves
}

#[test]
fn linux_maps_the_image_in_whole_2m_steps() {
    for mode in MODES {
        let b = linux_on("qemu-virt-1g.dtb", mode);
        // 0x1e6c000 bytes round up to 0x2000000: 16 steps of 2 MiB from 0xffffffff80000000.
        assert_eq!(leaves(&b, RegionKind::Kernel), [0, 16, 0, 0, 0], "{mode}");
        let k = b.region(RegionKind::Kernel).unwrap();
        assert_eq!((k.range.start().as_u64(), k.bytes()), (0xffff_ffff_8000_0000, 32 * SZ_1M), "{mode}");
        // The DTB window: two 2 MiB leaves.
        assert_eq!(leaves(&b, RegionKind::Fixmap), [0, 2, 0, 0, 0], "{mode}");
    }
}

#[test]
fn linux_linear_map_on_qemu_1g() {
    // RAM [0x80000000, 0xc0000000); phys_ram_base 0x80000000. Reserved: the image
    // [0x80200000, 0x82200000) (rounded to 2 MiB), the DTB [0xbfe00000, 0xbfe02000).
    // KFENCE top-down: the highest free range holding 2 MiB is [0x82200000, 0xbfe00000)
    // ([0xbfe02000, 0xc0000000) is too small): pool [0xbfc00000, 0xbfe00000).
    // Pieces, Sv39 (best_map_size up to 2 MiB):
    //   [0x80000000, 0x80200000) RW          1 x 2M
    //   text  [0x80200000, 0x80e00000) R     6 x 2M
    //   rodata [0x80e00000, 0x81400000) R    3 x 2M
    //   [0x81400000, 0xbfc00000) RW        500 x 2M
    //   KFENCE [0xbfc00000, 0xbfe00000)    512 x 4K
    //   [0xbfe00000, 0xc0000000) RW          1 x 2M
    // = 511 x 2M + 512 x 4K; tables: one level-1 (the GiB), one level-0 (KFENCE).
    // Sv48/Sv57 (up to 1 GiB / 512 GiB): PAGE_OFFSET - base is 0x80000000 = 2 GiB
    // aligned, so 1 GiB leaves would be possible, but no piece holds a whole
    // aligned GiB: the same leaves; tables: + one per extra level.
    for (mode, tables) in [(Mode::Sv39, 2), (Mode::Sv48, 3), (Mode::Sv57, 4)] {
        let b = linux_on("qemu-virt-1g.dtb", mode);
        assert_eq!(b.kfence, Some(PhysRange::new(0xbfc0_0000, 2 * SZ_1M).unwrap()), "{mode}");
        assert_eq!(leaves(&b, RegionKind::Linear), [512, 511, 0, 0, 0], "{mode}");
        assert_eq!(b.region(RegionKind::Linear).unwrap().tables, tables, "{mode}");
        assert_eq!(b.linear.unwrap().base.as_u64(), 0x8000_0000);
    }
}

#[test]
fn linux_linear_map_on_qemu_1537m_and_its_two_bank_numa_twin() {
    // RAM [0x80000000, 0xe0100000) (one bank, or 513 MiB + 1 GiB touching: the same
    // memblock ranges). DTB at 0xbfe00000 (QEMU caps at 3 GiB). KFENCE top-down:
    // the highest free range is [0xbfe02000, 0xe0100000): pool [0xdff00000, 0xe0100000),
    // 1 MiB off the 2 MiB grid. Pieces, Sv39:
    //   [0x80000000, 0x80200000)              1 x 2M
    //   text, rodata                          6 + 3 x 2M
    //   [0x81400000, 0xbfe00000)            501 x 2M
    //   [0xbfe00000, 0xdff00000) (DTB reserved, still mapped): 0x20100000 bytes =
    //        256 x 2M + 1 MiB tail [0xdfe00000, 0xdff00000) = 256 x 4K
    //   KFENCE [0xdff00000, 0xe0100000)     512 x 4K
    // = 767 x 2M + 768 x 4K. Tables (Sv39): level-1 for the GiBs at 0x80000000 and
    // 0xc0000000: 2; level-0 for the 2 MiB blocks holding 4K leaves: 0xdfe00000 and
    // 0xe0000000: 2. Total 4.
    for dtb in ["qemu-virt-1537m.dtb", "qemu-virt-numa2.dtb"] {
        let b = linux_on(dtb, Mode::Sv39);
        assert_eq!(b.kfence, Some(PhysRange::new(0xdff0_0000, 2 * SZ_1M).unwrap()), "{dtb}");
        assert_eq!(leaves(&b, RegionKind::Linear), [768, 767, 0, 0, 0], "{dtb}");
        assert_eq!(b.region(RegionKind::Linear).unwrap().tables, 4, "{dtb}");
    }
}

#[test]
fn linux_linear_map_on_qemu_5g() {
    // RAM [0x80000000, 0x1c0000000). DTB at 0xbfe00000. KFENCE top-down: the
    // highest free range ends at 0x1c0000000: pool [0x1bfe00000, 0x1c0000000).
    // Sv39: pieces [0x80000000, 0x80200000) 1, text 6, rodata 3,
    //   [0x81400000, 0x1bfe00000) = 0x13ea00000 / 2M = 2549, KFENCE 512 x 4K;
    //   wait for the DTB: it is reserved, not no-map, so it does not cut a piece.
    //   = 2559 x 2M + 512 x 4K. Tables: level-1 per GiB of [0x80000000, 0x1c0000000): 5;
    //   level-0 for KFENCE's 2 MiB block: 1. Total 6.
    let b = linux_on("qemu-virt-5g.dtb", Mode::Sv39);
    assert_eq!(b.kfence, Some(PhysRange::new(0x1_bfe0_0000, 2 * SZ_1M).unwrap()));
    assert_eq!(leaves(&b, RegionKind::Linear), [512, 2559, 0, 0, 0]);
    assert_eq!(b.region(RegionKind::Linear).unwrap().tables, 6);
    // Sv48: 1 GiB leaves (PAGE_OFFSET - 0x80000000 is GiB-aligned). The first GiB
    // [0x80000000, 0xc0000000) holds the image cuts: 2M leaves as in Sv39 up to
    //   0xc0000000: 1 + 6 + 3 + (0xc0000000 - 0x81400000) / 2M = 502 ... = 512 x 2M;
    // [0xc0000000, 0x1c0000000): the GiBs at 0xc0000000, 0x100000000 and
    //   0x140000000 whole: 3 x 1G; the last GiB [0x180000000, 0x1c0000000) holds
    //   KFENCE at its top: [0x180000000, 0x1bfe00000) = 511 x 2M, KFENCE 512 x 4K.
    // = 3 x 1G + 1023 x 2M + 512 x 4K. Tables: the level-2 table (512 GiB block): 1;
    //   level-1 for the GiBs holding 2M/4K leaves (0x80000000, 0x180000000): 2;
    //   level-0 for KFENCE: 1. Total 4.
    let b = linux_on("qemu-virt-5g.dtb", Mode::Sv48);
    assert_eq!(leaves(&b, RegionKind::Linear), [512, 1023, 3, 0, 0]);
    assert_eq!(b.region(RegionKind::Linear).unwrap().tables, 4);
    // Without KFENCE the last GiB is one 1 GiB leaf: KFENCE changes which 1G leaves exist.
    let blob = std::fs::read(format!("{DATA}qemu-virt-5g.dtb")).unwrap();
    let mut map = DeviceTree::parse(&blob, Some(QEMU_DTB)).unwrap().map;
    let mut spec = KernelSpec::new(Mode::Sv48, Rules::Linux, linux_image()).unwrap();
    spec.kfence = Kfence::Off;
    let spec = spec.prepare(&mut map).unwrap();
    let b = kspace::build(&spec, &map, &Ram::new()).unwrap().built;
    assert_eq!(leaves(&b, RegionKind::Linear), [0, 512, 4, 0, 0]);
}

#[test]
fn a_kaslr_offset_moves_the_image_and_the_modules_window_with_it() {
    for mode in MODES {
        let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
        let spec =
            KernelSpec::new(mode, Rules::Kvas, image()).unwrap().with_kaslr_offset(0x2000_0000).unwrap();
        let spec = spec.prepare(&mut map).unwrap();
        let ram = Ram::new();
        let t = kspace::build(&spec, &map, &ram).unwrap();
        let k = t.built.region(RegionKind::Kernel).unwrap();
        assert_eq!((k.range.start().as_u64(), k.bytes()), (0xffff_ffff_a000_0000, 4 * SZ_1M), "{mode}");
        let tr = t.table.translate(VirtAddr::new(0xffff_ffff_a000_0000)).unwrap();
        assert_eq!(tr.pa.as_u64(), 0x8020_0000, "{mode}");
        assert!(
            t.table.translate(VirtAddr::new(KERNEL_LINK_ADDR)).is_err(),
            "{mode}: nothing at the link address"
        );
        let m = t.built.region(RegionKind::Modules).unwrap();
        assert!(m.range.end().as_u64() <= 0xffff_ffff_a000_0000 + 4 * SZ_1M, "{mode}");
        assert!(KernelSpec::new(mode, Rules::Kvas, image()).unwrap().with_kaslr_offset(0x1000).is_err());
    }
}

#[test]
fn linux_linear_map_on_a_tree_with_gaps_and_firmware_reservations() {
    // hand-gaps.dts: banks [0x80000000, 0x90000000), [0xa0000000, 0xb0000000),
    // [0x100000000, 0x140000000) and a ragged one trimmed to [0x200001000, 0x20ffff000);
    // no-map [0x80000000, 0x80040000) (not mapped: for_each_mem_range skips NOMAP);
    // /memreserve/, the initrd, CMA (reusable) and ramoops are reserved but mapped.
    // phys_ram_base = 0x80000000 (NOMAP memory still counts for memblock_start_of_DRAM).
    // KFENCE top-down: the top of the ragged bank, [0x20fdff000, 0x20ffff000).
    // Pieces, Sv39:
    //   [0x80040000, 0x80200000)            448 x 4K
    //   text 6 x 2M, rodata 3 x 2M, [0x81400000, 0x90000000) 118 x 2M
    //   [0xa0000000, 0xb0000000)            128 x 2M
    //   [0x100000000, 0x140000000)          512 x 2M
    //   [0x200001000, 0x20fdff000): 511 x 4K up to 0x200200000, 125 x 2M up to
    //        0x20fc00000, 511 x 4K up to 0x20fdff000
    //   KFENCE                              512 x 4K
    // = 1982 x 4K + 892 x 2M. Tables: level-1 for the GiBs at 0x80000000,
    // 0x100000000 and 0x200000000: 3; level-0 for the 2 MiB blocks 0x80000000,
    // 0x200000000, 0x20fc00000 and 0x20fe00000: 4. Total 7.
    let blob = std::fs::read(format!("{DATA}hand-gaps.dtb")).unwrap();
    let mut map = DeviceTree::parse(&blob, None).unwrap().map;
    let spec = KernelSpec::new(Mode::Sv39, Rules::Linux, linux_image()).unwrap().prepare(&mut map).unwrap();
    let ram = Ram::new();
    let b = kspace::build(&spec, &map, &ram).unwrap().built;
    assert_eq!(b.kfence, Some(PhysRange::new(0x2_0fdf_f000, 2 * SZ_1M).unwrap()));
    assert_eq!(leaves(&b, RegionKind::Linear), [1982, 892, 0, 0, 0]);
    assert_eq!(b.region(RegionKind::Linear).unwrap().tables, 7);
}

#[test]
fn linux_linear_map_on_qemu_5g_in_sv57() {
    // As in Sv48 (PAGE_OFFSET - 0x80000000 is GiB- but not 512 GiB-aligned, so no
    // 512G leaf): 3 x 1G + 1023 x 2M + 512 x 4K; tables one more level: 5.
    let b = linux_on("qemu-virt-5g.dtb", Mode::Sv57);
    assert_eq!(leaves(&b, RegionKind::Linear), [512, 1023, 3, 0, 0]);
    assert_eq!(b.region(RegionKind::Linear).unwrap().tables, 5);
}

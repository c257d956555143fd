//! Property tests: the checker accepts every planned layout for random valid
//! options, and rejects deliberate breakages (overlap, misalignment, a modules
//! window out of reach).

use kvas::layout::{check, plan, Arm32Split, Kasan, Layout, Options, Target, Violation, Vmsplit};
use kvas::{VirtAddr, VirtRange};
use proptest::prelude::*;

fn target() -> impl Strategy<Value = Target> {
    (0..Target::ALL.len()).prop_map(|i| Target::ALL[i])
}

/// Options valid for `target`: KASAN and KASLR only where the architecture has
/// them; RAM from 128 MiB to 1 GiB in 64 KiB steps; images up to 64 MiB.
fn valid(target: Target) -> impl Strategy<Value = (Target, Options)> {
    let kasan = match target {
        Target::Riscv32 | Target::Arm32(Arm32Split::G4G4) => Just(Kasan::None).boxed(),
        Target::Riscv64(_) | Target::Arm64(_) => {
            prop_oneof![Just(Kasan::None), Just(Kasan::Generic), Just(Kasan::SwTags)].boxed()
        }
        _ => prop_oneof![Just(Kasan::None), Just(Kasan::Generic)].boxed(),
    };
    let kaslr = match target {
        Target::Riscv64(_) | Target::X86_64(_) | Target::Arm64(_) => (0u64..200).boxed(),
        _ => Just(0u64).boxed(),
    };
    // arm32's vmalloc= from 16 MiB to 400 MiB in 2 MiB steps.
    let vmalloc = match target {
        Target::Arm32(_) => prop::option::of(8u64..=200).boxed(),
        _ => Just(None).boxed(),
    };
    // riscv32: Linux's (no split) or the kvas kernel's under each vmsplit=.
    let split = match target {
        Target::Riscv32 => prop::option::of(prop::sample::select(Vmsplit::ALL.to_vec())).boxed(),
        _ => Just(None).boxed(),
    };
    (kasan, 0u64..(64 << 20), kaslr, prop::option::of(2048u64..16384), vmalloc, split).prop_map(
        move |(kasan, kernel_size, slot, ram, vmalloc, split)| {
            let options = Options {
                kasan,
                kernel_size,
                kaslr_offset: slot * (2 << 20),
                ram: ram.map(|units| units << 16),
                vmalloc: vmalloc.map(|steps| steps * (2 << 20)),
                split,
                ..Options::default()
            };
            (target, options)
        },
    )
}

fn planned() -> impl Strategy<Value = Layout> {
    target().prop_flat_map(valid).prop_map(|(t, o)| plan(t, &o).unwrap())
}

fn rebuilt(layout: &Layout, index: usize, span: VirtRange) -> Layout {
    let mut parts = *layout.parts();
    let slot = &mut parts.regions.as_mut_slice()[index];
    *slot = slot.with_range(span);
    Layout::from_parts(parts)
}

proptest! {
    #[test]
    fn every_planned_layout_passes(layout in planned()) {
        let v = check(&layout);
        prop_assert!(v.is_empty(), "{}: {:?}", layout.target(), v.iter().collect::<Vec<_>>());
        prop_assert!(layout.regions().windows(2).all(|w| w[0].last() < w[1].start()));
        if let (Some(image), Some(lowmem)) = (layout.image(), layout.lowmem()) {
            prop_assert!(image.size() > 0 && lowmem.size() > 0);
        }
    }

    #[test]
    fn an_overlap_is_reported_with_both_regions(layout in planned(), pick in any::<prop::sample::Index>()) {
        let n = layout.regions().len();
        let i = pick.index(n - 1);
        let (a, b) = (layout.regions()[i], layout.regions()[i + 1]);
        // Stretch region i one page into its successor.
        let broken = rebuilt(&layout, i, VirtRange::from_last(VirtAddr::new(a.start()), VirtAddr::new(b.start() + 0xfff.min(b.last() - b.start()))).unwrap());
        let v = check(&broken);
        let named = v.iter().any(|x| matches!(x, Violation::Overlap { a: x1, b: x2 }
            if x1.name() == a.name() && x2.name() == b.name()));
        prop_assert!(named, "{}: {:?}", layout.target(), v.iter().collect::<Vec<_>>());
        let line = v.iter().find(|x| matches!(x, Violation::Overlap { .. })).unwrap().to_string();
        prop_assert!(line.contains(a.name()) && line.contains(b.name()) && line.contains("0x"), "{line}");
    }

    #[test]
    fn a_misaligned_region_is_reported(layout in planned(), pick in any::<prop::sample::Index>()) {
        let aligned: Vec<usize> =
            (0..layout.regions().len()).filter(|&i| layout.regions()[i].align() > 1).collect();
        let i = aligned[pick.index(aligned.len())];
        let r = layout.regions()[i];
        // Move the start up by half the alignment (but stay inside the region).
        let shift = (r.align() / 2).min(r.size() - 1).max(1);
        let broken = rebuilt(&layout, i, VirtRange::from_last(VirtAddr::new(r.start() + shift), VirtAddr::new(r.last())).unwrap());
        let v = check(&broken);
        prop_assert!(
            v.iter().any(|x| matches!(x, Violation::Misaligned { region } if region.name() == r.name())),
            "{}: {:?}", layout.target(), v.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_image_start_outside_its_window_is_reported_without_a_size(layout in planned()) {
        // Without a size only `_start` is known: inside its window, no complaint.
        let mut parts = *layout.parts();
        parts.image = None;
        let is_start = |x: &Violation| matches!(x, Violation::ImageStartOutsideWindow { .. });
        let v = check(&Layout::from_parts(parts));
        prop_assert!(!v.iter().any(is_start), "{}: {:?}", layout.target(), v.iter().collect::<Vec<_>>());
        // One byte past the window (or before it, for a window at the very top).
        let window = parts.image_window;
        let outside = window.last().as_u64().checked_add(1).unwrap_or(window.start().as_u64() - 1);
        parts.image_start = outside;
        let v = check(&Layout::from_parts(parts));
        let found = v.iter().find(|x| is_start(x)).copied();
        prop_assert_eq!(found, Some(Violation::ImageStartOutsideWindow { start: outside, window }));
        let line = found.map(|x| x.to_string()).unwrap_or_default();
        prop_assert!(line.starts_with(&format!("kernel image start {outside:#018x} lies outside its window")), "{line}");
    }

    #[test]
    fn a_modules_window_out_of_reach_is_reported(layout in planned(), extra in 1u64..(1 << 30)) {
        let parts = layout.parts();
        let name = parts.modules_regions[0];
        let i = layout.regions().iter().position(|r| r.name() == name).unwrap();
        let r = layout.regions()[i];
        // Move the bottom of the modules window just beyond the farthest reach of the text.
        let far = parts.text.last().as_u64().checked_sub(layout.reach().far + extra);
        let Some(start) = far.filter(|s| *s < r.start()) else { return Ok(()) };
        let start = start & !0xfff;
        let broken = rebuilt(&layout, i, VirtRange::from_last(VirtAddr::new(start), VirtAddr::new(r.last())).unwrap());
        let v = check(&broken);
        prop_assert!(
            v.iter().any(|x| matches!(x, Violation::OutOfReach { reach, .. } if *reach == layout.reach().far)),
            "{}: {:?}", layout.target(), v.iter().collect::<Vec<_>>()
        );
    }
}

#[test]
fn ram_beyond_the_linear_map_and_an_image_outside_its_region_are_reported() {
    let layout = plan(
        Target::Riscv64(kvas::arch::riscv::Mode::Sv39),
        &Options { kernel_size: 16 << 20, ram: Some(1 << 30), ..Options::default() },
    )
    .unwrap();
    let mut parts = *layout.parts();
    parts.options.ram = Some(256 << 30);
    parts.image = Some(VirtRange::new(VirtAddr::new(0xffff_ffff_0000_0000), 4096).unwrap());
    let v = check(&Layout::from_parts(parts));
    let lines: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert!(lines.iter().any(|l| l.starts_with("linear map too small: linear")
        && l.contains("at most 0x2000000000 bytes, RAM is 0x4000000000")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("kernel image [0xffffffff00000000") && l.contains("kernel [")));
    assert_eq!(v.len(), 3, "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("leaves its window [0xffffffff80000000-0xffffffffbfffffff]")));
}

#[test]
fn what_plan_refuses_plan_unchecked_leaves_to_the_checker() {
    use kvas::layout::{plan_unchecked, Arm32Split, Arm64Mode, X86Mode};
    use kvas::Error;
    let mib = 1u64 << 20;
    let cases: [(Target, Options); 8] = [
        (
            Target::Riscv64(kvas::arch::riscv::Mode::Sv48),
            Options { kernel_size: 4 * mib, kaslr_offset: 1022 * mib, ..Options::default() },
        ),
        (
            Target::Riscv64(kvas::arch::riscv::Mode::Sv57),
            Options { ram: Some(33 << 50), ..Options::default() },
        ),
        (
            Target::X86_64(X86Mode::Level5),
            Options { kernel_size: 600 * mib, kaslr: Some(false), ..Options::default() },
        ),
        (
            Target::Arm64(Arm64Mode::K64Va52),
            Options { kernel_size: 8 * mib, kaslr_offset: 3 << 30, ..Options::default() },
        ),
        (Target::Arm32(Arm32Split::G1), Options { ram: Some(5 << 30), ..Options::default() }),
        (Target::Riscv32, Options { kernel_size: 1 << 30, ..Options::default() }),
        // The kvas riscv32 kernel: an image leaving no vmalloc, RAM past 34 bits.
        (Target::Riscv32, Options { kernel_size: 241 * mib, split: Some(Vmsplit::G2), ..Options::default() }),
        (Target::Riscv32, Options { ram: Some(17 << 30), split: Some(Vmsplit::G4G4), ..Options::default() }),
    ];
    for (target, options) in cases {
        let refused = plan(target, &options);
        assert!(
            matches!(
                refused,
                Err(Error::KaslrOutOfRange { .. } | Error::RamTooLarge { .. } | Error::KernelTooLarge { .. })
            ),
            "{target}: {refused:?}"
        );
        let layout = plan_unchecked(target, &options).unwrap();
        let v = check(&layout);
        assert!(!v.is_empty(), "{target}: the checker must report what plan refused");
    }
}

fn any_u64() -> impl Strategy<Value = u64> {
    // Edge values as often as random ones: overflow hides at the top.
    prop_oneof![
        any::<u64>(),
        Just(0),
        Just(u64::MAX),
        Just(u64::MAX - 4095),
        Just(1u64 << 63),
        0u64..(8 << 30),
        // Multiples of 2 MiB: the aligned KASLR offsets and sizes the planners look at.
        (0u64..4096).prop_map(|n| n << 21)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn no_options_make_the_planner_or_checker_panic(
        t in target(),
        kasan in prop_oneof![Just(Kasan::None), Just(Kasan::Generic), Just(Kasan::SwTags)],
        kernel_size in any_u64(),
        kaslr_offset in any_u64(),
        ram in prop::option::of(any_u64()),
        vmalloc in prop::option::of(any_u64()),
        kaslr in prop::option::of(any::<bool>()),
    ) {
        let options = Options { kasan, kernel_size, kaslr_offset, ram, vmalloc, kaslr, ..Options::default() };
        let planned = plan(t, &options);
        if let Ok(layout) = &planned {
            let v = check(layout);
            prop_assert!(v.is_empty(), "{t} {options:?}: {:?}", v.iter().collect::<Vec<_>>());
        }
        if let Ok(layout) = kvas::layout::plan_unchecked(t, &options) {
            // What `plan` refuses, the checker reports: `kvas check` never passes it.
            let v = check(&layout);
            prop_assert!(planned.is_ok() || !v.is_empty(), "{t} {options:?}: refused ({:?}) yet checks clean", planned);
        }
    }
}

proptest! {
    /// One riscv32 image serves every split: for any image size and RAM, the
    /// regions from the shared top (0xf0000000) up are the same under every
    /// `vmsplit=`, lowmem ends at or below it, and lowmem plus highmem is the RAM.
    #[test]
    fn riscv32_splits_share_the_top(kernel_size in 0u64..(240 << 20), pages in 1u64..(4 << 20)) {
        use kvas::layout::riscv32_split::SHARED_START;
        let ram = pages << 12;
        let top = |split: Vmsplit| {
            let o = Options { kernel_size, ram: Some(ram), split: Some(split), ..Options::default() };
            let l = plan(Target::Riscv32, &o).unwrap();
            let lowmem = l.lowmem().unwrap();
            assert!(lowmem.end().as_u64() <= SHARED_START, "{split:?}: {lowmem}");
            assert_eq!(lowmem.size() + l.highmem(), ram, "{split:?}");
            assert!(check(&l).is_empty(), "{split:?}: {:?}", check(&l).iter().collect::<Vec<_>>());
            l.regions().iter().filter(|r| r.start() >= SHARED_START).copied().collect::<Vec<_>>()
        };
        let g3 = top(Vmsplit::G3);
        prop_assert!(g3.iter().any(|r| r.name() == "kernel"));
        for split in [Vmsplit::G2, Vmsplit::G1, Vmsplit::G4G4] {
            prop_assert_eq!(&top(split), &g3, "{:?}", split);
        }
    }
}

/// Sizes where planners go wrong: tiny (below a page, below arm32's
/// `TEXT_OFFSET`), odd, page multiples, powers of two either side, and the top.
fn hostile_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..0x10000,
        (0u64..64).prop_map(|n| n << 12),
        (0u32..64).prop_map(|s| 1u64 << s),
        (0u32..64).prop_map(|s| (1u64 << s).wrapping_sub(4096)),
        (0u32..64).prop_map(|s| (1u64 << s) + 4096),
        (0u64..4096).prop_map(|n| n << 21),
        (0u64..64).prop_map(|n| n << 30),
        Just(u64::MAX),
        Just(u64::MAX - 4095),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Every planner (every riscv64, x86-64, arm64 and arm32 mode, riscv32 with
    /// and without a split) either plans a layout that checks clean and whose
    /// lowmem, highmem and image agree with the options, or refuses with an
    /// error whose message names no impossible "range of 0xffff... bytes".
    /// Never a panic (run in debug builds: overflow panics).
    #[test]
    fn hostile_options_plan_or_refuse_clearly(
        t in target(),
        kasan in prop_oneof![Just(Kasan::None), Just(Kasan::Generic), Just(Kasan::SwTags)],
        kernel_size in hostile_size(),
        kaslr_offset in hostile_size(),
        ram in prop::option::of(hostile_size()),
        vmalloc in prop::option::of(hostile_size()),
        kaslr in prop::option::of(any::<bool>()),
        split in prop::option::of(prop::sample::select(Vmsplit::ALL.to_vec())),
    ) {
        let split = if t == Target::Riscv32 { split } else { None };
        let options = Options { kasan, kernel_size, kaslr_offset, ram, vmalloc, kaslr, split, ..Options::default() };
        for (planner, result) in [("plan", plan(t, &options)), ("plan_unchecked", kvas::layout::plan_unchecked(t, &options))] {
            match result {
                Ok(layout) => {
                    if planner == "plan" {
                        let v = check(&layout);
                        prop_assert!(v.is_empty(), "{t} {options:?}: {:?}", v.iter().collect::<Vec<_>>());
                        if let (Some(ram), Some(lowmem)) = (ram, layout.lowmem()) {
                            prop_assert!(lowmem.size() <= ram, "{t} {options:?}: lowmem {lowmem} > RAM");
                            prop_assert!(lowmem.size() + layout.highmem() <= ram.max(lowmem.size()), "{t} {options:?}");
                        }
                        if let Some(image) = layout.image() {
                            prop_assert_eq!(image.size(), kernel_size);
                        }
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(!msg.contains("range of 0xffff"), "{t} {planner} {options:?}: {msg}");
                    // A span the planner built from its own arithmetic is not a message about the options.
                    let internal = matches!(
                        e,
                        kvas::Error::RangeWraps { .. }
                            | kvas::Error::RangeReversed { .. }
                            | kvas::Error::BadVirtRange { .. }
                            | kvas::Error::WholeAddressSpace { .. }
                    );
                    prop_assert!(!internal, "{t} {planner} {options:?}: {msg}");
                }
            }
        }
    }
}

#[test]
fn arm32_ram_below_text_offset_is_refused_not_a_panic() {
    // `kvas layout --arch arm32 --mode 3g --ram 4096` panicked (lowmem - TEXT_OFFSET
    // underflowed) and `check` reported a range of 0xffffffffffff9000 bytes.
    for split in [Arm32Split::G3, Arm32Split::G1, Arm32Split::G4G4] {
        let o = Options { ram: Some(4096), ..Options::default() };
        for result in [plan(Target::Arm32(split), &o), kvas::layout::plan_unchecked(Target::Arm32(split), &o)]
        {
            let msg = result.unwrap_err().to_string();
            assert!(
                msg.contains("RAM of 0x1000 bytes") && msg.contains("at least 0x9000"),
                "{split:?}: {msg}"
            );
        }
    }
}

#[test]
fn arm64_kaslr_offset_at_the_window_end_is_refused() {
    // plan accepted --kaslr-offset 2G with no image size; check then found the
    // image's start outside its 2 GiB window.
    let t = Target::Arm64(kvas::layout::Arm64Mode::K4Va39);
    let o = Options { kaslr_offset: 2 << 30, ..Options::default() };
    assert!(
        matches!(plan(t, &o), Err(kvas::Error::KaslrOutOfRange { max, .. }) if max == (2 << 30) - (2 << 20))
    );
    let o = Options { kaslr_offset: (2 << 30) - (2 << 20), ..Options::default() };
    assert!(check(&plan(t, &o).unwrap()).is_empty());
}

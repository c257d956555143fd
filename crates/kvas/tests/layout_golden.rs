//! Golden tests: the planner against Linux's documented tables, copied verbatim
//! into `tests/data/` (the oracle); the planner computes them from formulas.

use kvas::arch::riscv::Mode;
use kvas::layout::{
    check, plan, Arm32Split, Arm64Mode, Kasan, Layout, Options, Profile, Target, VmLayoutDump, Vmsplit,
    X86Mode,
};

/// One documented row: start (None when the table gives a symbol), inclusive end, description.
#[derive(Debug)]
struct Row {
    start: Option<u64>,
    end: u64,
    desc: String,
}

fn hex(s: &str) -> Option<u64> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    if s.len() == 16 {
        u64::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// Rows of a vm-layout.rst / mm.rst table (`start | offset | end | size | description`).
fn rst_rows(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('|').collect();
        if cols.len() < 5 {
            continue;
        }
        let Some(end) = hex(cols[2]) else { continue };
        let start = hex(cols[0]);
        if start.is_none() && cols[0].trim().is_empty() {
            continue;
        }
        rows.push(Row { start, end, desc: cols[4].trim().to_string() });
    }
    rows
}

/// Rows of an arm64 memory.rst table (`start  end  size  use`, tabs).
fn arm64_rows(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (start, end) = (hex(cols.first()?)?, hex(cols.get(1)?)?);
            Some(Row { start: Some(start), end, desc: cols[3..].join(" ") })
        })
        .collect()
}

/// The region ids that make up a documented row, from its description.
fn ids_for(desc: &str) -> &'static [&'static str] {
    let table: &[(&str, &'static [&'static str])] = &[
        ("user", &["user"]),
        ("... huge", &["hole"]),
        ("fixmap", &["fixmap"]),
        ("PCI io", &["pci-io"]),
        ("vmemmap", &["vmemmap"]),
        ("vmalloc", &["vmalloc"]),
        ("direct mapping", &["linear"]),
        ("kasan", &["kasan"]),
        ("[kasan", &["kasan"]),
        ("KASAN", &["kasan"]),
        ("modules, BPF", &["modules", "bpf"]),
        ("modules", &["modules"]),
        ("kernel text mapping", &["kernel"]),
        ("kernel logical", &["linear"]),
        ("kernel-internal fixmap", &["fixmap"]),
        ("kernel", &["kernel"]),
        ("... guard hole", &["guard"]),
        ("[guard region]", &["guard"]),
        ("LDT remap", &["ldt-remap"]),
        ("... unused hole", &["unused"]),
        ("virtual memory map", &["vmemmap"]),
        ("cpu_entry_area", &["cpu-entry-area"]),
        ("%esp fixup", &["esp-fixup"]),
        ("EFI region", &["efi"]),
        ("module mapping space", &["modules"]),
        ("legacy vsyscall", &["vsyscall"]),
        ("fixed mappings", &["fixmap"]),
        ("PCI I/O space", &["pci-io"]),
    ];
    // The longest matching prefix wins ("modules, BPF" over "modules").
    table
        .iter()
        .filter(|(p, _)| desc.starts_with(p))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, ids)| *ids)
        .unwrap_or_else(|| panic!("no region id for documented row {desc:?}"))
}

/// Asserts that `row` appears in `layout` with the same start and end.
fn assert_row(layout: &Layout, row: &Row) {
    let ids = ids_for(&row.desc);
    let first: Vec<_> = layout.regions().iter().filter(|r| r.name() == ids[0]).collect();
    let last: Vec<_> = layout.regions().iter().filter(|r| r.name() == ids[ids.len() - 1]).collect();
    let found = first.iter().any(|a| {
        row.start.is_none_or(|s| a.start() == s)
            && last.iter().any(|b| b.last() == row.end && b.start() >= a.start())
    });
    assert!(
        found,
        "{}: documented row {:?} [{:x?}-{:016x}] not planned; planned {:?}: {:#x?}",
        layout.target(),
        row.desc,
        row.start,
        row.end,
        ids,
        first.iter().map(|r| (r.start(), r.last())).collect::<Vec<_>>()
    );
}

fn generic() -> Options {
    Options { kasan: Kasan::Generic, ..Options::default() }
}

fn assert_table(target: Target, options: &Options, rows: &[Row]) -> Layout {
    let layout = plan(target, options).unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        assert_row(&layout, row);
    }
    let v = check(&layout);
    assert!(v.is_empty(), "{target}: {:?}", v.iter().collect::<Vec<_>>());
    layout
}

#[test]
fn riscv64_every_documented_row() {
    for (mode, text) in [
        (Mode::Sv39, include_str!("data/riscv64-sv39.txt")),
        (Mode::Sv48, include_str!("data/riscv64-sv48.txt")),
        (Mode::Sv57, include_str!("data/riscv64-sv57.txt")),
    ] {
        let rows = rst_rows(text);
        assert_eq!(rows.len(), 10, "{mode}: rows parsed {rows:?}");
        let layout = assert_table(Target::Riscv64(mode), &generic(), &rows);
        // Every planned region is a documented row, and nothing else is planned.
        assert_eq!(layout.regions().len(), 11, "{mode}: modules and bpf split one row");
    }
}

#[test]
fn x86_64_every_documented_row() {
    // mm.rst documents the kernel without KASLR: a 512 MiB text mapping.
    let generic = || Options { kaslr: Some(false), ..generic() };
    let l4 = rst_rows(include_str!("data/x86_64-4level.txt"));
    assert_eq!(l4.len(), 23, "4-level rows parsed: {l4:?}");
    assert_table(Target::X86_64(X86Mode::Level4), &generic(), &l4);
    let mut l5 = rst_rows(include_str!("data/x86_64-5level.txt"));
    assert_eq!(l5.len(), 11);
    // "Identical layout to the 47-bit one from here on".
    l5.extend(
        l4.iter()
            .filter(|r| r.start.is_none_or(|s| s >= 0xffff_fc00_0000_0000))
            .map(|r| Row { desc: r.desc.clone(), ..*r }),
    );
    let layout = assert_table(Target::X86_64(X86Mode::Level5), &generic(), &l5);
    assert_eq!(layout.va_bits(), 57);
    // The doc profile is mm.rst's kernel: KASLR off unless asked for.
    let doc = Options { kasan: Kasan::Generic, profile: Profile::LinuxDoc, ..Options::default() };
    assert_table(Target::X86_64(X86Mode::Level4), &doc, &l4);
}

#[test]
fn arm64_documented_tables_under_the_doc_profile() {
    for (mode, text) in [
        (Arm64Mode::K4Va48, include_str!("data/arm64-4k-48.doc.txt")),
        (Arm64Mode::K64Va52, include_str!("data/arm64-64k-52.doc.txt")),
    ] {
        let rows = arm64_rows(text);
        assert_eq!(rows.len(), 11, "{rows:?}");
        let (kasan, plain): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.desc.contains("kasan"));
        let doc = Options { profile: Profile::LinuxDoc, ..Options::default() };
        // The linear row is documented without KASAN, the bracketed shadow with it.
        assert_table(Target::Arm64(mode), &doc, &plain);
        let with = assert_table(Target::Arm64(mode), &Options { kasan: Kasan::Generic, ..doc }, &kasan);
        assert_eq!(with.region("linear").unwrap().range().end().as_u64(), kasan[0].start.unwrap());
    }
}

#[test]
fn arm64_linux_617_matches_the_derived_macros() {
    // Reference §5.2: derived from the v6.17 memory.h macros, ends exclusive.
    let cases = [
        (Arm64Mode::K4Va48, 0xffff_0000_0000_0000u64, 0xffff_fdff_b000_0000u64, 0xffff_fdff_c000_0000u64),
        (Arm64Mode::K4Va52, 0xfff0_0000_0000_0000, 0xffff_c1ff_b000_0000, 0xffff_c1ff_c000_0000),
        (Arm64Mode::K64Va52, 0xfff0_0000_0000_0000, 0xffff_fc1f_b000_0000, 0xffff_fc1f_c000_0000),
    ];
    for (mode, page_offset, vmalloc_end, vmemmap_start) in cases {
        let l = plan(Target::Arm64(mode), &Options::default()).unwrap();
        let span = |n: &str| l.region(n).unwrap().range();
        assert_eq!(l.page_offset(), page_offset);
        assert_eq!(span("linear").end().as_u64(), 0xffff_8000_0000_0000);
        assert_eq!(
            (span("modules").start().as_u64(), span("modules").size()),
            (0xffff_8000_0000_0000, 2 << 30)
        );
        assert_eq!(
            (span("vmalloc").start().as_u64(), span("vmalloc").end().as_u64()),
            (0xffff_8000_8000_0000, vmalloc_end)
        );
        assert_eq!(
            (span("vmemmap").start().as_u64(), span("vmemmap").end().as_u64()),
            (vmemmap_start, 0xffff_ffff_c000_0000)
        );
        assert_eq!(
            (span("pci-io").start().as_u64(), span("pci-io").end().as_u64()),
            (0xffff_ffff_c080_0000, 0xffff_ffff_c180_0000)
        );
        assert_eq!(span("fixmap").end().as_u64(), 0xffff_ffff_ff80_0000);
        assert!(check(&l).is_empty());
    }
}

#[test]
fn riscv32_derived_layout() {
    let l = plan(Target::Riscv32, &Options::default()).unwrap();
    let span = |n: &str| l.region(n).unwrap().range();
    assert_eq!((span("vmalloc").start().as_u64(), span("bpf").end().as_u64()), (0xa000_0000, 0xc000_0000));
    assert_eq!(span("bpf").start().as_u64(), 0xb800_0000);
    assert_eq!(span("vmemmap").start().as_u64(), 0x9f00_0000);
    assert_eq!(span("pci-io").start().as_u64(), 0x9e00_0000);
    assert_eq!(span("fixmap").start().as_u64(), 0x9d80_0000);
    assert_eq!(l.user_bytes(), 0x9d80_0000);
    assert_eq!(span("lowmem").size(), (1 << 30) - 4096);
    assert!(check(&l).is_empty());
}

#[test]
fn arm32_splits_lowmem_highmem_and_vmalloc_budget() {
    let mib = 1u64 << 20;
    let l = plan(Target::Arm32(Arm32Split::G3), &Options::default()).unwrap();
    assert_eq!(l.lowmem().unwrap().size(), 768 * mib);
    assert_eq!(l.region("lowmem").unwrap().last(), 0xefff_ffff);
    assert_eq!(l.vmalloc_bytes(), 240 * mib);
    assert_eq!(l.region("vmalloc").unwrap().start(), 0xf080_0000);
    assert_eq!(l.region("modules").unwrap().start(), 0xbf00_0000);
    assert_eq!(l.region("pkmap").unwrap().range().end().as_u64(), 0xc000_0000);
    // 2 GiB of RAM on 3G/1G: 768 MiB lowmem, the rest highmem.
    let ram = Options { ram: Some(2 << 30), ..Options::default() };
    let l = plan(Target::Arm32(Arm32Split::G3), &ram).unwrap();
    assert_eq!(l.highmem(), (2 << 30) - 768 * mib);
    // 3G_OPT gives "full 1G low memory"; 2G and 1G more.
    for (split, lowmem) in [(Arm32Split::G3Opt, 1024), (Arm32Split::G2, 1792), (Arm32Split::G1, 2816)] {
        let l = plan(Target::Arm32(split), &ram).unwrap();
        assert_eq!(l.lowmem().unwrap().size(), (lowmem * mib).min(2 << 30), "{split:?}");
        assert!(check(&l).is_empty());
    }
    // 512 MiB of RAM: vmalloc grows to fill the space above lowmem.
    let small = Options { ram: Some(512 * mib), ..Options::default() };
    let l = plan(Target::Arm32(Arm32Split::G3), &small).unwrap();
    assert_eq!(l.region("vmalloc").unwrap().start(), 0xe080_0000);
    // 4G/4G: see arm32_4g4g_is_seed_001s_shape.
    assert!(plan(Target::Arm32(Arm32Split::G4G4), &Options::default()).is_ok());
    // KASAN's shadow ends at MODULES_VADDR and takes the top of user space.
    let k = plan(Target::Arm32(Arm32Split::G3), &Options { kasan: Kasan::Generic, ..Options::default() })
        .unwrap();
    assert_eq!(k.region("kasan").unwrap().range().end().as_u64(), 0xbf00_0000);
    assert_eq!(k.region("user").unwrap().range().end().as_u64(), k.region("kasan").unwrap().start());
}

#[test]
fn riscv64_dump_matches_print_vm_layout() {
    // Reference §3.6: Sv39, no KASLR, a 20 MiB image, 2 GiB of RAM (and KASAN).
    let o =
        Options { kasan: Kasan::Generic, kernel_size: 20 << 20, ram: Some(2 << 30), ..Options::default() };
    let l = plan(Target::Riscv64(Mode::Sv39), &o).unwrap();
    let expected = "Virtual kernel memory layout:
      fixmap : 0xffffffc4fea00000 - 0xffffffc4ff000000   (6144 kB)
      pci io : 0xffffffc4ff000000 - 0xffffffc500000000   (  16 MB)
     vmemmap : 0xffffffc500000000 - 0xffffffc600000000   (4096 MB)
     vmalloc : 0xffffffc600000000 - 0xffffffd600000000   (  64 GB)
     modules : 0xffffffff01400000 - 0xffffffff80000000   (2028 MB)
      lowmem : 0xffffffd600000000 - 0xffffffd680000000   (2048 MB)
       kasan : 0xfffffff700000000 - 0xffffffff00000000   (  32 GB)
      kernel : 0xffffffff80000000 - 0xffffffffffffffff   (2047 MB)
";
    assert_eq!(VmLayoutDump(&l).to_string(), expected);
}

#[test]
fn every_target_plans_and_checks_clean_by_default() {
    for target in Target::ALL {
        for kasan in [Kasan::None, Kasan::Generic] {
            let Ok(l) = plan(target, &Options { kasan, ..Options::default() }) else {
                assert!(
                    matches!(target, Target::Riscv32 | Target::Arm32(Arm32Split::G4G4)),
                    "only riscv32 and arm32's 4G/4G model refuse KASAN, not {target}"
                );
                continue;
            };
            let v = check(&l);
            assert!(v.is_empty(), "{target} {kasan:?}: {:?}", v.iter().collect::<Vec<_>>());
            assert!(l.regions().windows(2).all(|w| w[0].last() < w[1].start()));
        }
    }
}

// ---- issue 16: KASLR on x86-64, every arm64 mode, arm32 rows, riscv32 RAM ----

#[test]
fn x86_64_kaslr_sets_kernel_image_size() {
    // arch/x86/include/asm/page_64_types.h: KERNEL_IMAGE_SIZE is 1 GiB with
    // CONFIG_RANDOMIZE_BASE ("leaving 1 GiB for modules"), 512 MiB without;
    // MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE, MODULES_END = 0xffffffffff000000.
    for mode in [X86Mode::Level4, X86Mode::Level5] {
        let on = plan(Target::X86_64(mode), &Options::default()).unwrap();
        assert!(on.parts().kaslr, "distribution kernels build KASLR: the default is on");
        let span = |l: &Layout, n: &str| l.region(n).unwrap().range();
        assert_eq!(
            (span(&on, "kernel").start().as_u64(), span(&on, "kernel").last().as_u64()),
            (0xffff_ffff_8000_0000, 0xffff_ffff_bfff_ffff)
        );
        assert_eq!(
            (span(&on, "modules").start().as_u64(), span(&on, "modules").last().as_u64()),
            (0xffff_ffff_c000_0000, 0xffff_ffff_feff_ffff)
        );
        assert_eq!(span(&on, "modules").size(), 1008 << 20);
        let off = plan(Target::X86_64(mode), &Options { kaslr: Some(false), ..Options::default() }).unwrap();
        assert_eq!(span(&off, "modules").start().as_u64(), 0xffff_ffff_a000_0000);
        assert_eq!(span(&off, "modules").size(), 1520 << 20);
        assert!(check(&on).is_empty() && check(&off).is_empty());
    }
    // arch/x86/boot/compressed/kaslr.c find_random_virt_addr(): slots = 1 +
    // (KERNEL_IMAGE_SIZE - LOAD_PHYSICAL_ADDR - image_size) / CONFIG_PHYSICAL_ALIGN.
    let t = Target::X86_64(X86Mode::Level4);
    let o = |size: u64, off: u64, kaslr| Options {
        kernel_size: size,
        kaslr_offset: off,
        kaslr,
        ..Options::default()
    };
    assert!(plan(t, &o(20 << 20, 988 << 20, None)).is_ok(), "(1024 - 16 - 20) MiB is the last slot");
    assert_eq!(
        plan(t, &o(20 << 20, 990 << 20, None)).unwrap_err(),
        kvas::Error::KaslrOutOfRange { offset: 990 << 20, max: 988 << 20 }
    );
    assert!(plan(t, &o(21 << 20, 986 << 20, None)).is_ok(), "a partial slot does not count");
    assert!(plan(t, &o(21 << 20, 988 << 20, None)).is_err());
    assert!(plan(t, &o(0, 2 << 20, Some(false))).is_err(), "no offset without KASLR");
    assert!(plan(t, &o(600 << 20, 0, None)).is_ok(), "a 600 MiB image fits the 1 GiB mapping");
    assert!(plan(t, &o(600 << 20, 0, Some(false))).is_err(), "but not the 512 MiB one");
}

#[test]
fn arm64_every_va_bits_and_granule() {
    // asm/memory.h (6.17): PAGE_OFFSET = -(1 << VA_BITS), MODULES_VADDR =
    // _PAGE_END(VA_BITS_MIN) = -(1 << (VA_BITS_MIN - 1)), VA_BITS_MIN = 48 above 48
    // bits (47 with 16K pages), VMEMMAP_END = -1 GiB, VMEMMAP_SIZE =
    // (_PAGE_END(VA_BITS_MIN) - PAGE_OFFSET) >> PAGE_SHIFT * sizeof(struct page) (64),
    // VMALLOC_END = VMEMMAP_START - 256 MiB. The 4K-39 and 64K-48 rows are the
    // reference's §5.2 table; the 16K and 64K-42 rows are the same macros worked by hand.
    let cases = [
        (Arm64Mode::K4Va39, 0xffff_ff80_0000_0000u64, 0xffff_ffc0_0000_0000u64, 0xffff_fffe_c000_0000u64),
        (Arm64Mode::K4Va48, 0xffff_0000_0000_0000, 0xffff_8000_0000_0000, 0xffff_fdff_c000_0000),
        (Arm64Mode::K4Va52, 0xfff0_0000_0000_0000, 0xffff_8000_0000_0000, 0xffff_c1ff_c000_0000),
        (Arm64Mode::K16Va36, 0xffff_fff0_0000_0000, 0xffff_fff8_0000_0000, 0xffff_ffff_b800_0000),
        (Arm64Mode::K16Va47, 0xffff_8000_0000_0000, 0xffff_c000_0000_0000, 0xffff_ffbf_c000_0000),
        (Arm64Mode::K16Va48, 0xffff_0000_0000_0000, 0xffff_8000_0000_0000, 0xffff_ff7f_c000_0000),
        (Arm64Mode::K16Va52, 0xfff0_0000_0000_0000, 0xffff_c000_0000_0000, 0xffff_f03f_c000_0000),
        (Arm64Mode::K64Va42, 0xffff_fc00_0000_0000, 0xffff_fe00_0000_0000, 0xffff_ffff_4000_0000),
        (Arm64Mode::K64Va48, 0xffff_0000_0000_0000, 0xffff_8000_0000_0000, 0xffff_ffdf_c000_0000),
        (Arm64Mode::K64Va52, 0xfff0_0000_0000_0000, 0xffff_8000_0000_0000, 0xffff_fc1f_c000_0000),
    ];
    assert_eq!(cases.len(), Arm64Mode::ALL.len());
    for (mode, page_offset, page_end, vmemmap_start) in cases {
        let l = plan(Target::Arm64(mode), &Options::default()).unwrap();
        let span = |n: &str| l.region(n).unwrap().range();
        assert_eq!(l.page_offset(), page_offset, "{mode:?}");
        assert_eq!(span("linear").end().as_u64(), page_end, "{mode:?}");
        assert_eq!(
            (span("modules").start().as_u64(), span("modules").size()),
            (page_end, 2 << 30),
            "{mode:?}"
        );
        assert_eq!(span("vmalloc").start().as_u64(), page_end + (2 << 30), "{mode:?}");
        assert_eq!(span("vmalloc").end().as_u64(), vmemmap_start - (256 << 20), "{mode:?}");
        assert_eq!(
            (span("vmemmap").start().as_u64(), span("vmemmap").end().as_u64()),
            (vmemmap_start, 0xffff_ffff_c000_0000)
        );
        assert!(check(&l).is_empty(), "{mode:?}: {:?}", check(&l).iter().collect::<Vec<_>>());
    }
}

#[test]
fn arm64_fixmap_size_comes_from_the_fixmap_enum() {
    // asm/fixmap.h (6.17), arch/arm64/configs/defconfig (KVM with NR_CPUS = 512,
    // ACPI_APEI_GHES without ARM_SDE_INTERFACE, UNMAP_KERNEL_AT_EL0 with RELOCATABLE,
    // MAX_FDT_SIZE = 2 MiB): FIX_FDT = 1 + 2M/PAGE_SIZE + 1;
    // __end_of_permanent_fixed_addresses = FIX_FDT + 522; __end_of_fixed_addresses
    // adds 7 * (256K / PAGE_SIZE) btmaps and 5 table slots.
    // 4K: 514 + 522 = 1036, + 448 + 5 = 1489 pages; 16K: 652, 769; 64K: 556, 589.
    assert_eq!(kvas::layout::arm64_fixmap_pages(12), (1036, 1489));
    assert_eq!(kvas::layout::arm64_fixmap_pages(14), (652, 769));
    assert_eq!(kvas::layout::arm64_fixmap_pages(16), (556, 589));
    for (mode, tot) in
        [(Arm64Mode::K4Va48, 1489u64 << 12), (Arm64Mode::K16Va47, 769 << 14), (Arm64Mode::K64Va52, 589 << 16)]
    {
        let l = plan(Target::Arm64(mode), &Options::default()).unwrap();
        let fix = l.region("fixmap").unwrap().range();
        // [FIXADDR_TOT_START, FIXADDR_TOP), FIXADDR_TOP = -8 MiB.
        assert_eq!((fix.end().as_u64(), fix.size()), (0xffff_ffff_ff80_0000, tot), "{mode:?}");
    }
}

#[test]
fn arm32_memory_rst_top_rows() {
    // Documentation/arch/arm/memory.rst: ffff8000-ffffffff copy_user_page /
    // clear_user_page use; ffff1000-ffff7fff reserved; ffff0000-ffff0fff vector
    // page; fffe8000-fffeffff DTCM, fffe0000-fffe7fff ITCM (fffe0000-fffeffff the
    // XScale cache flush area).
    let l = plan(Target::Arm32(Arm32Split::G3), &Options::default()).unwrap();
    for (name, start, last) in [
        ("copy-user", 0xffff_8000u64, 0xffff_ffffu64),
        ("reserved", 0xffff_1000, 0xffff_7fff),
        ("vectors", 0xffff_0000, 0xffff_0fff),
        ("dtcm", 0xfffe_8000, 0xfffe_ffff),
        ("itcm", 0xfffe_0000, 0xfffe_7fff),
        ("fixmap", 0xffc8_0000, 0xffef_ffff),
        ("guard", 0xffc0_0000, 0xffc7_ffff),
        ("fdt", 0xff80_0000, 0xffbf_ffff),
    ] {
        let r = l.region(name).unwrap_or_else(|| panic!("no {name} row"));
        assert_eq!((r.start(), r.last()), (start, last), "{name}");
    }
    assert!(l.region("itcm").unwrap().description().contains("XScale"));
    assert!(check(&l).is_empty());
}

#[test]
fn riscv32_one_gib_and_more_keeps_the_top_page_out() {
    // arch/riscv/mm/init.c: setup_vm() sets memory_limit = KERN_VIRT_SIZE (1 GiB),
    // setup_bootmem() enforces it and reserves __va_to_pa(-PAGE_SIZE) upwards; no
    // HIGHMEM. high_memory = __va(end of DRAM), 2^32, prints as 0 in 32 bits.
    for ram in [1u64 << 30, 2 << 30, 4 << 30] {
        let o = Options { ram: Some(ram), ..Options::default() };
        let l = plan(Target::Riscv32, &o).unwrap();
        assert_eq!(l.lowmem().unwrap().size(), (1 << 30) - 4096, "{ram:#x}");
        assert_eq!(l.highmem(), 0);
        assert!(check(&l).is_empty(), "{:?}", check(&l).iter().collect::<Vec<_>>());
        let dump = VmLayoutDump(&l).to_string();
        assert!(dump.contains("      lowmem : 0xc0000000 - 0x00000000   (1024 MB)\n"), "{dump}");
    }
    let l = plan(Target::Riscv32, &Options { ram: Some(512 << 20), ..Options::default() }).unwrap();
    assert!(VmLayoutDump(&l).to_string().contains("      lowmem : 0xc0000000 - 0xe0000000   ( 512 MB)\n"));
    // Sv32 physical addresses have 34 bits: 16 GiB is the most RAM there can be.
    assert!(plan(Target::Riscv32, &Options { ram: Some((16 << 30) + 4096), ..Options::default() }).is_err());
}

#[test]
fn kaslr_offsets_linux_never_draws_are_violations() {
    // `kvas check` plans without refusing; the checker must still name an
    // offset beyond setup_vm()'s nr_pos slots, even with the image size unknown.
    let o = Options { kaslr_offset: 1 << 30, ..Options::default() };
    let l = kvas::layout::plan_unchecked(Target::Riscv64(Mode::Sv39), &o).unwrap();
    let v: Vec<String> = check(&l).iter().map(ToString::to_string).collect();
    assert!(
        v.iter().any(|s| s.contains("KASLR offset 0x40000000 is out of range") && s.contains("0x3fe00000")),
        "{v:?}"
    );
    // A 3 MiB image: nr_pos = (1G - 3M) / 2M = 510 slots, the last at 1018 MiB;
    // 1020 MiB still fits the PUD, but Linux never draws it.
    let o = Options { kernel_size: 3 << 20, kaslr_offset: 1020 << 20, ..Options::default() };
    let l = kvas::layout::plan_unchecked(Target::Riscv64(Mode::Sv39), &o).unwrap();
    assert!(!check(&l).is_empty());
    let o = Options { kernel_size: 3 << 20, kaslr_offset: 1018 << 20, ..Options::default() };
    assert!(check(&plan(Target::Riscv64(Mode::Sv39), &o).unwrap()).is_empty());
}

// ---- issue 14: layouts that match the machine (seed 001's 4G/4G shape) ----

#[test]
fn riscv32_splits_are_seed_001s_shape() {
    // Seed 001: "3840MB for either user or linear map plus 256MB for vmalloc,
    // including the kernel". The shared top starts at 2^32 - 256 MiB = 0xf0000000;
    // lowmem runs from PAGE_OFFSET to it: 0xf0000000 - 0xc0000000 = 0x30000000
    // (768 MiB), - 0x80000000 = 0x70000000 (1792 MiB), - 0x40000000 = 0xb0000000
    // (2816 MiB), and under 4G/4G from the 4 MiB NULL trap: 0xefc00000 (3836 MiB),
    // while user space gets all of 0xf0000000 (3840 MiB) in its own address space.
    let mib = 1u64 << 20;
    for (split, po, lowmem, user) in [
        (Vmsplit::G3, 0xc000_0000, 768 * mib, 0xc000_0000),
        (Vmsplit::G2, 0x8000_0000, 1792 * mib, 0x8000_0000),
        (Vmsplit::G1, 0x4000_0000, 2816 * mib, 0x4000_0000),
        (Vmsplit::G4G4, 0x0040_0000, 3836 * mib, 3840 * mib),
    ] {
        // A 3 MiB image, and 5 GiB of RAM (more than any lowmem): the rest is highmem.
        let o =
            Options { kernel_size: 3 * mib, ram: Some(5 << 30), split: Some(split), ..Options::default() };
        let l = plan(Target::Riscv32, &o).unwrap();
        assert_eq!(l.page_offset(), po, "{split:?}");
        assert_eq!(
            l.lowmem().unwrap(),
            kvas::VirtRange::new(kvas::VirtAddr::new(po), lowmem).unwrap(),
            "{split:?}"
        );
        assert_eq!(
            l.lowmem().unwrap().end().as_u64(),
            0xf000_0000,
            "{split:?}: lowmem ends at the shared top"
        );
        assert_eq!(l.highmem(), (5 << 30) - lowmem, "{split:?}");
        assert_eq!(l.user_bytes(), user, "{split:?}");
        // The shared top is the same in every split: the image at 0xf0000000 in
        // 4 MiB steps (3 MiB -> f0000000-f03fffff), vmalloc up to the pkmap
        // (0xff400000 - 0xf0400000 = 240 MiB), the pkmap's 4 MiB, the fixmap
        // up to 0xfffff000 (8 MiB - 4 KiB).
        for (name, start, last) in [
            ("kernel", 0xf000_0000, 0xf03f_ffff),
            ("vmalloc", 0xf040_0000, 0xff3f_ffff),
            ("pkmap", 0xff40_0000, 0xff7f_ffff),
            ("fixmap", 0xff80_0000, 0xffff_efff),
        ] {
            let r = l.region(name).unwrap_or_else(|| panic!("{split:?}: no {name}"));
            assert_eq!((r.start(), r.last()), (start, last), "{split:?} {name}");
        }
        assert_eq!(l.image().unwrap().start().as_u64(), 0xf000_0000);
        assert!(check(&l).is_empty(), "{split:?}: {:?}", check(&l).iter().collect::<Vec<_>>());
        // No user region in the kernel's own address space under 4G/4G, a guard instead.
        assert_eq!(l.region("user").is_none(), split == Vmsplit::G4G4, "{split:?}");
    }
    // A 5 MiB image takes two megapages: vmalloc starts at 0xf0800000 (236 MiB).
    let o = Options { kernel_size: 5 * mib, split: Some(Vmsplit::G3), ..Options::default() };
    assert_eq!(plan(Target::Riscv32, &o).unwrap().vmalloc_bytes(), 236 * mib);
    // RAM below lowmem: no highmem; above Sv32's 34 bits: refused.
    let o = Options { ram: Some(512 * mib), split: Some(Vmsplit::G4G4), ..Options::default() };
    assert_eq!(plan(Target::Riscv32, &o).unwrap().highmem(), 0);
    let o = Options { ram: Some((16 << 30) + 4096), split: Some(Vmsplit::G3), ..Options::default() };
    assert!(plan(Target::Riscv32, &o).is_err());
    // An image that leaves less than a megapage of vmalloc: 0xff400000 - 4 MiB -
    // 0xf0000000 = 240 MiB is the most.
    let o = Options { kernel_size: 240 * mib, split: Some(Vmsplit::G1), ..Options::default() };
    assert!(plan(Target::Riscv32, &o).is_ok());
    let o = Options { kernel_size: 240 * mib + 4096, split: Some(Vmsplit::G1), ..Options::default() };
    assert!(plan(Target::Riscv32, &o).is_err());
    // Only riscv32 takes --split.
    let o = Options { split: Some(Vmsplit::G3), ..Options::default() };
    assert!(plan(Target::Arm32(Arm32Split::G3), &o).is_err());
}

#[test]
fn riscv32_split_image_costs_what_seed_001_priced() {
    // Seed 001 priced the image in vmalloc at 0.1% of the address space and 1.5%
    // of vmalloc. One 4 MiB megapage: 4 MiB / 4 GiB = 1/1024 = 976.5625 ppm
    // (0.098%), 4 MiB / 256 MiB = 1/64 = 15625 ppm (1.5625%). 5 MiB takes two.
    use kvas::layout::riscv32_split::{image_footprint, image_share};
    assert_eq!(image_footprint(0), 4 << 20);
    assert_eq!(image_footprint(3 << 20), 4 << 20);
    assert_eq!(image_footprint(4 << 20), 4 << 20);
    assert_eq!(image_footprint((4 << 20) + 1), 8 << 20);
    assert_eq!(image_share(3 << 20), (976, 15625));
    assert_eq!(image_share(5 << 20), (1953, 31250));
}

#[test]
fn riscv32_split_dump_is_what_the_kernel_prints() {
    // vmsplit=2g, 1 GiB of RAM, a 3 MiB image: lowmem 0x80000000 + 1 GiB =
    // 0xc0000000; the fixmap is 8 MiB - 4 KiB = 8188 kB; 4 MiB prints as 4096 kB
    // (fewer than 10 MB); vmalloc 0xff400000 - 0xf0400000 = 240 MB.
    let o =
        Options { kernel_size: 3 << 20, ram: Some(1 << 30), split: Some(Vmsplit::G2), ..Options::default() };
    let l = plan(Target::Riscv32, &o).unwrap();
    let expected = "Virtual kernel memory layout:
      fixmap : 0xff800000 - 0xfffff000   (8188 kB)
       pkmap : 0xff400000 - 0xff800000   (4096 kB)
     vmalloc : 0xf0400000 - 0xff400000   ( 240 MB)
      lowmem : 0x80000000 - 0xc0000000   (1024 MB)
      kernel : 0xf0000000 - 0xf0400000   (4096 kB)
";
    assert_eq!(VmLayoutDump(&l).to_string(), expected);
    // 4G/4G with 4 GiB of RAM: lowmem fills its window, 0x00400000 to 0xf0000000.
    let o = Options { ram: Some(4 << 30), split: Some(Vmsplit::G4G4), ..Options::default() };
    let dump = VmLayoutDump(&plan(Target::Riscv32, &o).unwrap()).to_string();
    assert!(dump.contains("      lowmem : 0x00400000 - 0xf0000000   (3836 MB)\n"), "{dump}");
}

#[test]
fn arm32_4g4g_is_seed_001s_shape() {
    // kvas's arm32 4G/4G: PAGE_OFFSET = 16 MiB; below it the NULL trap (2 MiB),
    // the modules (0x00200000-0x00dfffff) and the pkmap (the last 2 MiB); lowmem up
    // to the default ceiling VMALLOC_END - 240 MiB - 8 MiB = 0xf0000000, so
    // 0xf0000000 - 0x01000000 = 0xef000000 (3824 MiB); user space has all of
    // 0xf0000000 (3840 MiB) below the shared top in its own address space.
    let mib = 1u64 << 20;
    let l =
        plan(Target::Arm32(Arm32Split::G4G4), &Options { ram: Some(4 << 30), ..Options::default() }).unwrap();
    assert_eq!(l.page_offset(), 0x0100_0000);
    assert_eq!(l.user_bytes(), 3840 * mib);
    assert_eq!(l.lowmem().unwrap().size(), 3824 * mib);
    assert_eq!(l.lowmem().unwrap().end().as_u64(), 0xf000_0000);
    // 4 GiB of RAM (all arm32's 32-bit physical addresses reach): 4096 - 3824 = 272 MiB of highmem.
    assert_eq!(l.highmem(), 272 * mib);
    for (name, start, last) in [
        ("null-trap", 0, 0x001f_ffff),
        ("modules", 0x0020_0000, 0x00df_ffff),
        ("pkmap", 0x00e0_0000, 0x00ff_ffff),
        ("vmalloc", 0xf080_0000, 0xff7f_ffff),
    ] {
        let r = l.region(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!((r.start(), r.last()), (start, last), "{name}");
    }
    assert!(l.region("user").is_none());
    assert!(check(&l).is_empty(), "{:?}", check(&l).iter().collect::<Vec<_>>());
    // Not the 3G/1G kernel side any more: 768 MiB of lowmem was the old model.
    let g3 = plan(Target::Arm32(Arm32Split::G3), &Options::default()).unwrap();
    assert_eq!(g3.lowmem().unwrap().size(), 768 * mib);
    assert!(plan(Target::Arm32(Arm32Split::G4G4), &Options { kasan: Kasan::Generic, ..Options::default() })
        .is_err());
}

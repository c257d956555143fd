//! Golden tests: the planner against Linux's documented tables, copied verbatim
//! into `tests/data/` (the oracle); the planner computes them from formulas.

use kvas::arch::riscv::Mode;
use kvas::layout::{
    check, plan, Arm32Split, Arm64Mode, Kasan, Layout, Options, Profile, Target, VmLayoutDump, X86Mode,
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
    let l4 = rst_rows(include_str!("data/x86_64-4level.txt"));
    assert_eq!(l4.len(), 23, "4-level rows parsed: {l4:?}");
    assert_table(Target::X86_64(X86Mode::Level4), &generic(), &l4);
    let mut l5 = rst_rows(include_str!("data/x86_64-5level.txt"));
    assert_eq!(l5.len(), 11);
    // "Identical layout to the 47-bit one from here on".
    l5.extend(l4.into_iter().filter(|r| r.start.is_none_or(|s| s >= 0xffff_fc00_0000_0000)));
    let layout = assert_table(Target::X86_64(X86Mode::Level5), &generic(), &l5);
    assert_eq!(layout.va_bits(), 57);
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
        assert_eq!(with.region("linear").unwrap().span().end(), kasan[0].start.unwrap());
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
        let span = |n: &str| l.region(n).unwrap().span();
        assert_eq!(l.page_offset(), page_offset);
        assert_eq!(span("linear").end(), 0xffff_8000_0000_0000);
        assert_eq!((span("modules").start(), span("modules").size()), (0xffff_8000_0000_0000, 2 << 30));
        assert_eq!((span("vmalloc").start(), span("vmalloc").end()), (0xffff_8000_8000_0000, vmalloc_end));
        assert_eq!((span("vmemmap").start(), span("vmemmap").end()), (vmemmap_start, 0xffff_ffff_c000_0000));
        assert_eq!(
            (span("pci-io").start(), span("pci-io").end()),
            (0xffff_ffff_c080_0000, 0xffff_ffff_c180_0000)
        );
        assert_eq!(span("fixmap").end(), 0xffff_ffff_ff80_0000);
        assert!(check(&l).is_empty());
    }
}

#[test]
fn riscv32_derived_layout() {
    let l = plan(Target::Riscv32, &Options::default()).unwrap();
    let span = |n: &str| l.region(n).unwrap().span();
    assert_eq!((span("vmalloc").start(), span("bpf").end()), (0xa000_0000, 0xc000_0000));
    assert_eq!(span("bpf").start(), 0xb800_0000);
    assert_eq!(span("vmemmap").start(), 0x9f00_0000);
    assert_eq!(span("pci-io").start(), 0x9e00_0000);
    assert_eq!(span("fixmap").start(), 0x9d80_0000);
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
    assert_eq!(l.region("pkmap").unwrap().span().end(), 0xc000_0000);
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
    let l = plan(Target::Arm32(Arm32Split::G4G4), &Options::default()).unwrap();
    assert_eq!(l.user_bytes(), 1 << 32);
    assert!(l.region("user").is_none());
    assert!(check(&l).is_empty());
    // KASAN's shadow ends at MODULES_VADDR and takes the top of user space.
    let k = plan(Target::Arm32(Arm32Split::G3), &Options { kasan: Kasan::Generic, ..Options::default() })
        .unwrap();
    assert_eq!(k.region("kasan").unwrap().span().end(), 0xbf00_0000);
    assert_eq!(k.region("user").unwrap().span().end(), k.region("kasan").unwrap().start());
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
                assert_eq!(target, Target::Riscv32, "only riscv32 refuses KASAN");
                continue;
            };
            let v = check(&l);
            assert!(v.is_empty(), "{target} {kasan:?}: {:?}", v.iter().collect::<Vec<_>>());
            assert!(l.regions().windows(2).all(|w| w[0].last() < w[1].start()));
        }
    }
}

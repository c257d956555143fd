//! Host tests of the kernel's boot-info reader (src/bootinfo.rs), on blobs built by a small
//! FDT writer: the bad-input paths QEMU cannot feed the kernel (OpenSBI parses the DTB first
//! and QEMU refuses a broken `-dtb`), and the trees the kernel once refused for the wrong
//! reason.

use kvas::arch::riscv::Mode;
use kvas::phys::{Notice, ReserveKind, MAX_BANKS};
use kvas_kernel_core::bootinfo::{self, read, total_size, BootError, MAX_FDT_SIZE};
use kvas_kernel_core::Cmdline;

const AT: u64 = 0x9fe0_0000;

mod support;
use support::blob::Blob;

/// A tree shaped like QEMU virt's, with `banks` as memory nodes and `mmu` per hart.
fn virt(banks: &[(u64, u64)], mmu: &[&str], bootargs: Option<&str>) -> Vec<u8> {
    virt_with(banks, mmu, bootargs, |b| {
        b.cells();
    })
}

/// As [`virt`], with `root` adding the root's properties (cells) instead of `cells()`.
fn virt_with(
    banks: &[(u64, u64)],
    mmu: &[&str],
    bootargs: Option<&str>,
    root: impl FnOnce(&mut Blob),
) -> Vec<u8> {
    let mut b = Blob::default();
    b.begin("");
    root(&mut b);
    for (i, bank) in banks.iter().enumerate() {
        b.begin(&format!("memory@{i:x}")).str("device_type", "memory").reg(&[*bank]).end();
    }
    b.begin("reserved-memory").cells().prop("ranges", &[]);
    b.begin("mmode_resv0@80000000").reg(&[(0x8000_0000, 0x40000)]).prop("no-map", &[]).end();
    b.begin("cma@90000000").reg(&[(0x9000_0000, 0x100_0000)]).prop("reusable", &[]).end();
    b.begin("plain@91000000").reg(&[(0x9100_0000, 0x1000)]).end();
    b.end();
    b.begin("chosen");
    if let Some(args) = bootargs {
        b.str("bootargs", args);
    }
    b.end();
    b.begin("cpus").u32("#address-cells", 1).u32("#size-cells", 0);
    for (i, m) in mmu.iter().enumerate() {
        b.begin(&format!("cpu@{i}")).str("device_type", "cpu").u32("reg", i as u32).str("mmu-type", m).end();
    }
    b.end();
    b.begin("soc").cells();
    b.begin("test@100000")
        .prop("compatible", b"sifive,test1\0sifive,test0\0syscon\0")
        .reg(&[(0x10_0000, 0x1000)]);
    b.end().end();
    b.end();
    b.reservations.push((0x9f00_0000, 0x2000));
    b.finish()
}

fn parse_blob(blob: &[u8]) -> Result<bootinfo::BootInfo, BootError> {
    read(blob, AT)
}

fn banks_of(info: &bootinfo::BootInfo) -> Vec<(u64, u64)> {
    info.map.banks().iter().map(|r| (r.start_u64(), r.size())).collect()
}

#[test]
fn reads_banks_reservations_cmdline_caps_and_finisher() {
    let blob = virt(
        &[(0x8000_0000, 0x1000_0000), (0xc000_0000, 0x4000_0000)],
        &["riscv,sv48", "riscv,sv39"],
        Some("quiet no5lvl hold"),
    );
    let info = parse_blob(&blob).unwrap();
    assert_eq!(banks_of(&info), [(0x8000_0000, 0x1000_0000), (0xc000_0000, 0x4000_0000)]);
    assert!(info.cmdline.no5lvl && info.cmdline.hold && !info.cmdline.no4lvl && !info.cmdline.nokaslr);
    assert_eq!(info.mmu_cap, Some(Mode::Sv39), "the shallowest hart caps the mode");
    assert_eq!(info.depth_cap(), Mode::Sv39);
    assert_eq!(info.finisher, Some(0x10_0000));
    assert_eq!(info.dtb.size, blob.len() as u64);
    let kinds: Vec<_> = info.map.reservations().iter().map(|r| (r.range.start_u64(), r.kind)).collect();
    for want in [
        (0x8000_0000, ReserveKind::NoMap),
        (0x9000_0000, ReserveKind::Reusable),
        (0x9100_0000, ReserveKind::Reserved),
        (0x9f00_0000, ReserveKind::Reserved),
        (AT, ReserveKind::Reserved),
    ] {
        assert!(kinds.contains(&want), "{want:x?} not in {kinds:x?}");
    }
}

#[test]
fn no_bootargs_and_no_mmu_type_mean_no_caps() {
    let info = parse_blob(&virt(&[(0x8000_0000, 0x1000_0000)], &[], None)).unwrap();
    assert_eq!(info.cmdline, Cmdline::default());
    assert_eq!(info.mmu_cap, None);
    assert_eq!(info.depth_cap(), Mode::Sv57);
    let c = Cmdline { no4lvl: true, ..Cmdline::default() };
    assert_eq!(bootinfo::depth_cap(&c, Some(Mode::Sv48)), Mode::Sv39);
}

#[test]
fn a_header_that_is_not_a_dtb_is_an_error_naming_its_address() {
    let e = total_size(*b"this is ", 0x8800_0000).unwrap_err();
    assert!(matches!(e, BootError::NotADtb { at: 0x8800_0000, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("does not parse") && msg.contains("0x88000000"), "{msg}");
    let blob = virt(&[(0x8000_0000, 0x1000_0000)], &["riscv,sv57"], None);
    assert_eq!(total_size(blob[..8].try_into().unwrap(), AT), Ok(blob.len()));
    let mut big = blob[..8].to_vec();
    big[4..8].copy_from_slice(&(MAX_FDT_SIZE as u32 + 1).to_be_bytes());
    assert!(matches!(total_size(big.try_into().unwrap(), AT), Err(BootError::TooLarge { .. })));
}

#[test]
fn a_corrupt_structure_is_refused_with_the_library_reason() {
    let mut blob = virt(&[(0x8000_0000, 0x1000_0000)], &["riscv,sv57"], None);
    // The first property's length, far past the blob.
    let first_prop = 40 + 16 * 2 + 8;
    blob[first_prop + 4..first_prop + 8].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    let e = parse_blob(&blob).unwrap_err();
    assert!(matches!(e, BootError::Refused { err: kvas::Error::DtbMalformed { .. }, .. }), "{e:?}");
    assert!(e.to_string().contains("malformed device tree"), "{e}");
    assert_eq!(bootinfo::finisher(&blob), None);
}

/// The kernel's old MMU-off reader called the `fdt` crate directly and panicked on about
/// half of these; every mutation must now be read or refused, never panic.
#[test]
fn random_mutations_never_panic() {
    let good = virt(&[(0x8000_0000, 0x1000_0000)], &["riscv,sv57"], Some("no5lvl"));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..4000 {
        let mut blob = good.clone();
        for _ in 0..1 + next() % 4 {
            let at = 40 + (next() as usize) % (blob.len() - 40);
            blob[at] = next() as u8;
        }
        match parse_blob(&blob) {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
        let _ = bootinfo::finisher(&blob);
    }
    assert!(ok > 0 && refused > 0, "{ok} read, {refused} refused");
}

#[test]
fn no_memory_node_is_an_error_naming_it() {
    let blob = virt(&[], &["riscv,sv57"], None);
    let e = parse_blob(&blob).unwrap_err();
    let no_ram = kvas::Error::DtbNoRam { memory_nodes: 0, disabled: 0, entries: 0 };
    assert_eq!(e, BootError::Refused { at: AT, err: no_ram });
    assert!(e.to_string().contains("no memory node"), "{e}");
    // The finisher is still found, so the failing power-off can say so.
    assert_eq!(bootinfo::finisher(&blob), Some(0x10_0000));
}

#[test]
fn takes_as_many_banks_as_the_library() {
    // The kernel once kept 16 banks; it takes what kvas::phys takes (MAX_BANKS), and one
    // more is the library's refusal, naming the limit.
    let banks: Vec<_> = (0..=MAX_BANKS as u64).map(|i| (0x8000_0000 + (i << 30), 1 << 20)).collect();
    let info = parse_blob(&virt(&banks[..MAX_BANKS], &["riscv,sv57"], None)).unwrap();
    assert_eq!(info.map.banks().len(), MAX_BANKS);
    assert_eq!(banks_of(&info)[20], banks[20]);
    let e = parse_blob(&virt(&banks, &["riscv,sv57"], None)).unwrap_err();
    assert!(matches!(e, BootError::Refused { err: kvas::Error::TooManyRanges { .. }, .. }), "{e:?}");
}

#[test]
fn a_hart_without_paging_is_an_error() {
    let e = parse_blob(&virt(&[(0x8000_0000, 1 << 28)], &["riscv,sv57", "riscv,none"], None)).unwrap_err();
    assert_eq!(e, BootError::NoMmu { hart: 1 });
}

/// An RV32 hart (`riscv,sv32`, QEMU's riscv32 virt) is no error and caps no depth: the
/// riscv32 kernel runs Sv32, its only mode.
#[test]
fn an_sv32_hart_caps_nothing() {
    let info = parse_blob(&virt(&[(0x8000_0000, 1 << 28)], &["riscv,sv32"], None)).unwrap();
    assert_eq!(info.mmu_cap, None);
    let e = parse_blob(&virt(&[(0x8000_0000, 1 << 28)], &["riscv,sv32", "riscv,sv31"], None)).unwrap_err();
    assert_eq!(e, BootError::NoMmu { hart: 1 });
}

/// A root with `#address-cells = <3>`: `kvas map --dtb` reads it, so the kernel boots.
#[test]
fn three_address_cells_are_read() {
    let blob = virt_with(&[], &["riscv,sv57"], None, |b| {
        b.u32("#address-cells", 3).u32("#size-cells", 2);
        b.begin("memory@80000000").str("device_type", "memory");
        let reg: Vec<u8> =
            [0u32, 0, 0x8000_0000, 0, 0x2000_0000].iter().flat_map(|c| c.to_be_bytes()).collect();
        b.prop("reg", &reg).end();
    });
    let info = parse_blob(&blob).unwrap();
    assert_eq!(banks_of(&info), [(0x8000_0000, 0x2000_0000)]);
}

/// `#size-cells = <0>` and a ragged `reg` are refused with the real problem, not "no
/// memory node".
#[test]
fn bad_cells_and_ragged_reg_name_the_problem() {
    let zero_size_cells = virt_with(&[(0x8000_0000, 1 << 28)], &["riscv,sv57"], None, |b| {
        b.u32("#address-cells", 2).u32("#size-cells", 0);
    });
    let e = parse_blob(&zero_size_cells).unwrap_err().to_string();
    assert!(e.contains("#size-cells") && e.contains("/memory"), "{e}");
    let ragged = virt_with(&[], &["riscv,sv57"], None, |b| {
        b.cells();
        b.begin("memory@80000000")
            .str("device_type", "memory")
            .prop("reg", &[0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0])
            .end();
    });
    let e = parse_blob(&ragged).unwrap_err().to_string();
    assert!(e.contains("not a whole number"), "{e}");
}

/// A zero-sized bank is a notice beside other RAM, and "no usable RAM" (naming the memory
/// node) alone; a disabled memory node likewise.
#[test]
fn zero_sized_and_disabled_banks() {
    let info = parse_blob(&virt(&[(0x8000_0000, 1 << 28), (0xc000_0000, 0)], &["riscv,sv57"], None)).unwrap();
    assert_eq!(banks_of(&info), [(0x8000_0000, 1 << 28)]);
    assert!(info.map.notices().contains(&Notice::EmptyBank { start: 0xc000_0000 }));
    let e = parse_blob(&virt(&[(0x8000_0000, 0)], &["riscv,sv57"], None)).unwrap_err();
    let no_ram = kvas::Error::DtbNoRam { memory_nodes: 1, disabled: 0, entries: 1 };
    assert_eq!(e, BootError::Refused { at: AT, err: no_ram });
    assert!(e.to_string().contains("hold no whole 4 KiB page"), "{e}");
    let disabled = virt_with(&[], &["riscv,sv57"], None, |b| {
        b.cells();
        b.begin("memory@80000000")
            .str("device_type", "memory")
            .str("status", "disabled")
            .reg(&[(0x8000_0000, 1 << 28)])
            .end();
    });
    let e = parse_blob(&disabled).unwrap_err();
    let no_ram = kvas::Error::DtbNoRam { memory_nodes: 1, disabled: 1, entries: 0 };
    assert_eq!(e, BootError::Refused { at: AT, err: no_ram });
    assert!(e.to_string().contains("are all disabled"), "{e}");
}

#[test]
fn cmdline_dtb_address_word() {
    let c = Cmdline::parse("no5lvl kvas.dtb=0x88000000 hold");
    assert_eq!(c.dtb_at, Some(0x8800_0000));
    assert!(c.no5lvl && c.hold);
    assert_eq!(Cmdline::parse("kvas.dtb=2281701376").dtb_at, Some(0x8800_0000));
    assert_eq!(Cmdline::parse("kvas.dtb=0xzz").dtb_at, None);
    assert_eq!(Cmdline::parse("kvas.dtbx=0x1 dtb=0x1").dtb_at, None);
}

#[test]
fn cmdline_fail_word() {
    use kvas_kernel_core::cmdline::FailAt;
    assert_eq!(Cmdline::parse("kvas.fail=kmain").fail, Some(FailAt::Kmain));
    assert_eq!(Cmdline::parse("x kvas.fail=nested y").fail, Some(FailAt::Nested));
    assert_eq!(Cmdline::parse("kvas.fail=hart-mode").fail, Some(FailAt::HartMode));
    assert_eq!(Cmdline::parse("kvas.fail=boot").fail, Some(FailAt::Boot));
    assert_eq!(Cmdline::parse("kvas.fail=trap").fail, Some(FailAt::Trap));
    assert_eq!(Cmdline::parse("kvas.fail=later").fail, None);
}

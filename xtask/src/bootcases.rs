//! The boot tests: QEMU runs of the kernel under several CPUs, command lines, memory maps,
//! load addresses and device trees, good and bad (xtask/src/boottest.rs runs and judges them).

use std::path::Path;
use std::time::Duration;

use crate::boottest::Case;
use crate::qemu::Boot;
use crate::{builtcheck, dtb, image};

/// Where a `kvas.dtb=` test's loader puts its blob: in the 512 MiB of RAM, away from the
/// image (0x80200000), OpenSBI and QEMU's DTB (at the top).
const BAD_DTB_ADDR: u64 = 0x8800_0000;

/// The `kvas: ram` line of QEMU virt's single bank of `size` bytes.
fn ram_line(size: u64) -> String {
    format!("kvas: ram 0x80000000 size {size:#x}")
}

/// A case that must boot, run every self-test and power off with success.
pub fn case(base: &Boot, name: &str, f: impl FnOnce(&mut Boot), lines: &[&str]) -> Case {
    let mut boot = base.clone();
    f(&mut boot);
    Case {
        name: name.into(),
        boot,
        lines: lines.iter().map(|s| s.to_string()).collect(),
        success: true,
        hold: None,
        layout_mode: None,
        fatal: None,
        built: None,
    }
}

/// A case that must end in exactly the one fatal line `fatal` and a failing power-off.
pub fn failing(base: &Boot, name: &str, f: impl FnOnce(&mut Boot), fatal: &str) -> Case {
    let mut c = case(base, name, f, &[]);
    c.success = false;
    c.fatal = Some(fatal.into());
    c
}

/// A case booting the device tree `dts` (QEMU's, edited) through `-dtb`.
fn with_dtb(base: &Boot, dir: &Path, name: &str, dts: &str) -> Result<Boot, String> {
    let mut b = base.clone();
    b.dtb = Some(dtb::compile(dts, dir, name)?);
    Ok(b)
}

/// A case feeding the kernel the blob `bytes` through `kvas.dtb=` (QEMU's loader puts it in
/// RAM; the firmware's DTB still gives the finisher, for the failing exit status).
fn with_blob(base: &Boot, dir: &Path, name: &str, bytes: &[u8]) -> Result<Boot, String> {
    let blob = dir.join(format!("{name}.bin"));
    std::fs::write(&blob, bytes).map_err(|e| format!("writing {}: {e}", blob.display()))?;
    let mut b = base.clone();
    b.append = format!("kvas.dtb={BAD_DTB_ADDR:#x}");
    b.extra = vec!["-device".into(), format!("loader,file={},addr={BAD_DTB_ADDR:#x}", blob.display())];
    Ok(b)
}

/// A case feeding the kernel the tree `dts` through `kvas.dtb=`, untouched by OpenSBI (which
/// edits the tree it passes on: its `/reserved-memory` fixup takes the root's cells).
fn with_dts_blob(base: &Boot, dir: &Path, name: &str, dts: &str) -> Result<Boot, String> {
    let path = dtb::compile(dts, dir, name)?;
    let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    with_blob(base, dir, name, &bytes)
}

/// `c`, also checking its `kvas: built` lines against `kvas map` on the same device tree:
/// the one the case gives QEMU, or QEMU's own dumped with the case's options.
pub fn with_built(mut c: Case, dir: &Path) -> Result<Case, String> {
    let tree = match &c.boot.dtb {
        Some(path) => path.clone(),
        None => dtb::dump_blob(&c.boot, dir, &c.name)?,
    };
    c.built = Some(builtcheck::check(c.boot.kernel.clone(), tree));
    Ok(c)
}

/// Every boot test; images and device trees they need are made in `dir`.
pub fn cases(kernel: &Path, dir: &Path) -> Result<Vec<Case>, String> {
    let base = Boot::new(kernel.to_path_buf());
    let mut v = good_cases(&base, dir, kernel)?;
    v.extend(fatal_cases(&base)?);
    v.extend(device_tree_cases(&base, dir)?);
    v.extend(crate::kaslrcases::cases(&base, kernel, dir)?);
    v.extend(crate::usercases::cases(&base, dir, &crate::repo_root().join("kernel/target/user"))?);
    // `hold`: reports, then idles instead of powering off.
    let mut c =
        case(&base, "hold", |b| b.append = "hold".into(), &["kvas: paging mode sv57", "kvas: holding"]);
    c.hold = Some(Duration::from_secs(3));
    v.push(c);
    Ok(v)
}

/// Every hart (issue 15): `-smp 2` and `-smp 4` in each depth, chosen by the command line
/// or by a CPU model that caps every hart; each hart reports itself in the probed mode, a
/// vfree on the last hart costs exactly one RFENCE call, and every self-test passes (the
/// SMP ones among them: a stale translation on any hart fails the boot), the user-space ones
/// too (processes on every hart at once, a munmap reaching another hart by ASID).
fn smp_cases(base: &Boot) -> Vec<Case> {
    let mut v = Vec::new();
    for harts in [2u32, 4] {
        for (how, mode, append, cpu) in [
            ("default", "sv57", "", None),
            ("no5lvl", "sv48", "no5lvl", None),
            ("no4lvl", "sv39", "no4lvl", None),
            ("cpu", "sv48", "", Some("rv64,sv48=on")),
            ("cpu", "sv39", "", Some("rv64,sv39=on")),
        ] {
            let mut lines: Vec<String> =
                (0..harts).map(|h| format!("kvas: hart {h} up (satp mode {mode})")).collect();
            lines.push(format!("kvas: paging mode {mode}"));
            lines.push(format!(
                "kvas: vfree of one page on hart {}: * instructions, 1 rfence calls, {harts} harts (*)",
                harts - 1
            ));
            lines.extend(
                ["smp-harts-share-tables", "smp-vfree-reaches-every-hart", "smp-parallel-vmalloc"]
                    .map(|t| format!("selftest {t} ... ok")),
            );
            lines.extend(
                [
                    "smp-processes-at-once",
                    "smp-munmap-reaches-other-hart",
                    "smp-fpu-follows-process",
                    "smp-asid-rollover-keeps-live-asids",
                ]
                .map(|t| format!("usertest {t} ... ok")),
            );
            let mut c = case(
                base,
                &format!("smp-{harts}-{how}-{mode}"),
                |b| {
                    b.harts = harts;
                    b.append = append.into();
                    b.cpu = cpu.map(String::from);
                },
                &[],
            );
            c.lines = lines;
            v.push(c);
        }
    }
    // A hart that refuses the kernel's mode stops the boot: harts capped at Sv39 by the CPU
    // model are handed the root in Sv48 (`kvas.fail=hart-mode`), and really refuse it.
    v.push(failing(
        base,
        "smp-hart-refuses-mode",
        |b| {
            b.harts = 2;
            b.cpu = Some("rv64,sv39=on".into());
            b.append = "kvas.fail=hart-mode".into();
        },
        "kvas: fatal: hart 1 does not take the kernel's paging mode sv48: satp read back 0x0",
    ));
    v
}

/// Boots that must succeed: every mode, CPU caps, RAM sizes, harts, NUMA, load addresses.
fn good_cases(base: &Boot, dir: &Path, kernel: &Path) -> Result<Vec<Case>, String> {
    // The fixmap rows of Linux's vm-layout.rst (shared/reference/linux-vm-layouts.md §1).
    const SV57_FIXMAP: &str = "      fixmap : 0xff1bfffffea00000 - 0xff1bffffff000000   (6144 kB)";
    const SV48_FIXMAP: &str = "      fixmap : 0xffff8d7ffea00000 - 0xffff8d7fff000000   (6144 kB)";
    const SV39_FIXMAP: &str = "      fixmap : 0xffffffc4fea00000 - 0xffffffc4ff000000   (6144 kB)";
    const DUMP: &str = "Virtual kernel memory layout:";
    // Every depth: the layout lines equal `kvas layout`'s, the built lines `kvas map`'s.
    let with_layout = |mut c: Case, mode: &'static str| {
        c.layout_mode = Some(mode);
        with_built(c, dir)
    };
    let mut v = vec![
        with_layout(
            case(base, "default-sv57", |_| {}, &["kvas: paging mode sv57", DUMP, SV57_FIXMAP]),
            "sv57",
        )?,
        with_layout(
            case(
                base,
                "no5lvl-sv48",
                |b| b.append = "no5lvl".into(),
                &["kvas: paging mode sv48", DUMP, SV48_FIXMAP],
            ),
            "sv48",
        )?,
        with_layout(
            case(
                base,
                "no4lvl-sv39",
                |b| b.append = "no4lvl".into(),
                &["kvas: paging mode sv39", DUMP, SV39_FIXMAP],
            ),
            "sv39",
        )?,
        case(base, "cpu-sv48", |b| b.cpu = Some("rv64,sv48=on".into()), &["kvas: paging mode sv48"]),
        case(base, "cpu-sv39", |b| b.cpu = Some("rv64,sv39=on".into()), &["kvas: paging mode sv39"]),
    ];
    for (mem, size) in [("128M", 128u64 << 20), ("1G", 1 << 30), ("5G", 5 << 30)] {
        let line = ram_line(size);
        let c =
            case(base, &format!("ram-{mem}"), |b| b.memory = mem.into(), &["kvas: paging mode sv57", &line]);
        v.push(with_built(c, dir)?);
    }
    v.extend(smp_cases(base));
    // 300 GiB in Sv39, whose linear map holds 128 GiB: the rest is reported, never dropped
    // silently, and every self-test passes on what is kept. QEMU's RAM is reserved lazily.
    v.push(with_built(
        case(
            base,
            "ram-300G-sv39-capped",
            |b| {
                b.memory = "300G".into();
                b.append = "no4lvl".into();
                b.extra = [
                    "-object",
                    "memory-backend-ram,id=ram0,size=300G,reserve=off",
                    "-machine",
                    "memory-backend=ram0",
                ]
                .map(String::from)
                .to_vec();
            },
            &[
                "kvas: paging mode sv39",
                "kvas: ram 0x80000000 size 0x4b00000000",
                "kvas: warning: physical memory overflows the linear map: 0x2b00000000 bytes of RAM in \
             [0x2080000000, 0x4b80000000) not mapped",
            ],
        ),
        dir,
    )?);

    // The probe itself: harts capped by the CPU model, device trees without mmu-type.
    for (cpu, mode, rejected) in
        [("rv64,sv48=on", "sv48", &["sv57"][..]), ("rv64,sv39=on", "sv39", &["sv57", "sv48"][..])]
    {
        let mut b = base.clone();
        b.cpu = Some(cpu.into());
        let dts = dtb::without_mmu_type(&dtb::dump(&b, dir)?);
        let b = with_dtb(&b, dir, &format!("no-mmu-type-{mode}"), &dts)?;
        let mut lines = vec![format!("kvas: paging mode {mode}")];
        lines.extend(rejected.iter().map(|m| format!("kvas: probe: {m} rejected*")));
        let mut c = case(&b, &format!("probe-falls-back-{mode}"), |_| {}, &[]);
        c.lines = lines;
        v.push(c);
    }

    // Discontiguous RAM: two banks with a 768 MiB hole (QEMU puts the DTB at the top of its
    // RAM, so the second bank ends there).
    let mut b = base.clone();
    b.memory = "2G".into();
    let banks = dtb::memory_node(0x8000_0000, 256 << 20) + &dtb::memory_node(0xc000_0000, 1 << 30);
    let dts = dtb::replace_node(&dtb::dump(&b, dir)?, "memory@80000000", &banks)?;
    let b = with_dtb(&b, dir, "two-banks", &dts)?;
    let c = case(
        &b,
        "two-banks",
        |_| {},
        &["kvas: ram 0x80000000 size 0x10000000", "kvas: ram 0xc0000000 size 0x40000000"],
    );
    v.push(with_built(c, dir)?);

    // NUMA: one memory node per node, adjacent, one hart each (both harts come up).
    v.push(with_built(
        case(
            base,
            "numa-two-nodes",
            |b| {
                b.memory = "1537M".into();
                b.harts = 2;
                b.extra = numa_args();
            },
            // kvas::phys merges touching banks: one range of 513 MiB + 1 GiB.
            &["kvas: paging mode sv57", "kvas: ram 0x80000000 size 0x60100000"],
        ),
        dir,
    )?);

    // Other load addresses: the same image with its program headers moved.
    let elf = std::fs::read(kernel).map_err(|e| format!("reading {}: {e}", kernel.display()))?;
    for (load, mem) in [(0x8060_0000u64, "512M"), (0xc000_0000, "2G"), (0x1_8000_0000, "5G")] {
        let path = dir.join(format!("kvas-kernel-{load:x}.elf"));
        let moved = image::with_load_address(&elf, load).map_err(|e| e.to_string())?;
        std::fs::write(&path, moved).map_err(|e| format!("writing {}: {e}", path.display()))?;
        let line = format!("kvas: image 0x* loaded at {load:#x}*");
        let mut c =
            case(base, &format!("load-{load:#x}"), |b| b.kernel = path, &["kvas: paging mode sv57", &line]);
        c.boot.memory = mem.into();
        v.push(with_built(c, dir)?);
    }
    let path = dir.join("kvas-kernel-unaligned.elf");
    let moved = image::with_load_address(&elf, 0x8060_1000).map_err(|e| e.to_string())?;
    std::fs::write(&path, moved).map_err(|e| format!("writing {}: {e}", path.display()))?;
    v.push(failing(
        base,
        "bad-unaligned-load",
        |b| b.kernel = path,
        "kvas: fatal: kernel loaded at 0x80601000, which is not 2 MiB aligned",
    ));
    Ok(v)
}

/// QEMU's arguments for two NUMA nodes of 513 MiB and 1 GiB, one hart each.
pub fn numa_args() -> Vec<String> {
    [
        "-object",
        "memory-backend-ram,id=m0,size=513M",
        "-object",
        "memory-backend-ram,id=m1,size=1024M",
        "-numa",
        "node,memdev=m0,cpus=0",
        "-numa",
        "node,memdev=m1,cpus=1",
    ]
    .map(String::from)
    .to_vec()
}

/// Every fatal path, before and after the switch, prints one line and powers off failing
/// (`kvas.fail=`, kernel-core's cmdline.rs).
fn fatal_cases(base: &Boot) -> Result<Vec<Case>, String> {
    let fail = |stage: &'static str| move |b: &mut Boot| b.append = format!("kvas.fail={stage}");
    Ok(vec![
        failing(
            base,
            "fatal-mmu-off",
            fail("boot"),
            "kvas: fatal: kvas.fail=boot: failing on purpose with the MMU off",
        ),
        failing(
            base,
            "fatal-after-paging",
            fail("kmain"),
            "kvas: fatal: kvas.fail=kmain: failing on purpose after paging",
        ),
        failing(
            base,
            "fatal-unexpected-trap",
            fail("trap"),
            "kvas: fatal: unexpected trap: scause 0xd stval 0x1000 *",
        ),
        failing(base, "fatal-trap-inside-fatal", fail("nested"), "kvas: fatal: kvas.fail=nested: *"),
    ])
}

/// Device trees the kernel must read as `kvas map --dtb` does: booting where the library
/// would, naming the real problem where it would not.
fn device_tree_cases(base: &Boot, dir: &Path) -> Result<Vec<Case>, String> {
    let qemu = dtb::dump(base, dir)?;
    let mut v = Vec::new();
    let no_memory = dtb::replace_node(&qemu, "memory@80000000", "")?;
    v.push(failing(
        &with_dtb(base, dir, "no-memory", &no_memory)?,
        "bad-no-memory-node",
        |_| {},
        "kvas: fatal: the device tree at 0x*: the device tree has no memory node (no child of / has device_type = \"memory\")",
    ));
    // Not a device tree at all, and QEMU's own tree with its first node token broken (the
    // kernel's old MMU-off reader, the bare `fdt` crate, panicked on such trees).
    v.push(failing(
        &with_blob(base, dir, "not-a-dtb", &b"this is not a flattened device tree\n".repeat(4))?,
        "bad-dtb-does-not-parse",
        |_| {},
        "kvas: fatal: the device tree at 0x88000000 does not parse: magic 0x74686973, not 0xd00dfeed",
    ));
    let mut broken = std::fs::read(dir.join("qemu.dtb")).map_err(|e| format!("reading qemu.dtb: {e}"))?;
    dtb::break_first_subnode(&mut broken)?;
    v.push(failing(
        &with_blob(base, dir, "broken-node", &broken)?,
        "bad-dtb-broken-node",
        |_| {},
        "kvas: fatal: the device tree at 0x88000000: malformed device tree at byte *",
    ));
    // Valid trees the kernel once refused with "no memory node". Given through `kvas.dtb=`
    // with OpenSBI's own range reserved no-map, as OpenSBI does in the tree it passes on.
    let three = dtb::with_three_address_cells(&qemu)?;
    let three = dtb::with_reserved(&three, "mmode_resv0@80000000", 0x8000_0000, 0x6_0000, true)?;
    v.push(case(
        &with_dts_blob(base, dir, "address-cells-3", &three)?,
        "dtb-address-cells-3",
        |_| {},
        &["kvas: ram 0x80000000 size 0x20000000"],
    ));
    let zero_size_cells = qemu.replacen("#size-cells = <0x02>;", "#size-cells = <0x00>;", 1);
    v.push(failing(
        &with_dts_blob(base, dir, "size-cells-0", &zero_size_cells)?,
        "bad-dtb-size-cells-0",
        |_| {},
        "kvas: fatal: the device tree at 0x88000000: device tree node /memory (number 1 in the tree): #address-cells must \
         be 1..4 and #size-cells 1..4 for reg",
    ));
    let ragged = qemu.replacen(
        "reg = <0x00 0x80000000 0x00 0x20000000>;",
        "reg = <0x00 0x80000000 0x00 0x20000000 0x01>;",
        1,
    );
    v.push(failing(
        &with_dts_blob(base, dir, "ragged-reg", &ragged)?,
        "bad-dtb-ragged-reg",
        |_| {},
        "kvas: fatal: the device tree at 0x88000000: device tree node /memory (number 1 in the tree): reg is empty or not a \
         whole number of (address, size) entries",
    ));
    let zero_bank = dtb::replace_node(&qemu, "memory@80000000", &dtb::memory_node(0x8000_0000, 0))?;
    v.push(failing(
        &with_dts_blob(base, dir, "zero-bank", &zero_bank)?,
        "bad-dtb-zero-sized-bank",
        |_| {},
        "kvas: fatal: the device tree at 0x88000000: the device tree's 1 enabled memory node(s) hold no whole 4 KiB page*",
    ));
    // A no-map reservation over the kernel image: refused as `kvas map` refuses it.
    let over_image = dtb::with_reserved(&qemu, "image-nomap@80200000", 0x8020_0000, 0x20_0000, true)?;
    v.push(failing(
        &with_dtb(base, dir, "no-map-over-image", &over_image)?,
        "bad-dtb-no-map-over-image",
        |_| {},
        "kvas: fatal: the kernel image [0x80200000, 0x*) overlaps the no-map reservation [0x80200000, 0x80400000) \
         (reserved-memory): it must lie in mappable RAM",
    ));
    // The rest of the class (issue 10's list): each refused before paging, with the library's
    // reason, in one line (on main's kernel some of these looped after paging and exited 0).
    let mut reservations = String::new();
    for i in 0..200u64 {
        let at = 0x9000_0000 + i * 0x10_0000;
        reservations += &format!("\t\tr@{at:x} {{\n\t\t\treg = <0x00 {at:#x} 0x00 0x1000>;\n\t\t}};\n");
    }
    let many_reserved = dtb::with_reserved(&qemu, "r@8f000000", 0x8f00_0000, 0x1000, false)?.replacen(
        "\t\tr@8f000000 {",
        &format!("{reservations}\t\tr@8f000000 {{"),
        1,
    );
    let only_no_map = dtb::with_reserved(&qemu, "all@80000000", 0x8000_0000, 0x2000_0000, true)?;
    let disabled = qemu.replacen(
        "device_type = \"memory\";",
        "device_type = \"memory\";\n\t\tstatus = \"disabled\";",
        1,
    );
    let chosen = |props: &str| qemu.replacen("\tchosen {\n", &format!("\tchosen {{\n{props}"), 1);
    for (name, dts, fatal) in [
        (
            "disabled-memory",
            disabled,
            "kvas: fatal: the device tree at 0x88000000: the device tree's memory nodes (1) are all disabled*",
        ),
        (
            "ram-above-2-56",
            dtb::replace_node(&qemu, "memory@80000000", &dtb::memory_node(0x00ff_ffff_c000_0000, 2 << 30))?,
            "kvas: fatal: the device tree at 0x88000000: device tree node /memory (number 1 in the tree): range of 0x80000000 bytes at 0xffffffc0000000 \
             refused: *",
        ),
        (
            "wrapping-bank",
            dtb::replace_node(&qemu, "memory@80000000", &dtb::memory_node(0xffff_ffff_8000_0000, 4 << 30))?,
            "kvas: fatal: the device tree at 0x88000000: device tree node /memory (number 1 in the tree): range of 0x100000000 bytes at 0xffffffff80000000 \
             refused: *",
        ),
        (
            "only-no-map-ram",
            only_no_map,
            "kvas: fatal: the kernel image [0x80200000, 0x*) overlaps the no-map reservation [0x80000000, 0xa0000000) \
             (reserved-memory): it must lie in mappable RAM",
        ),
        ("200-reservations", many_reserved, "kvas: fatal: the device tree at 0x88000000: too many reserved ranges*"),
        (
            "reversed-initrd",
            chosen("\t\tlinux,initrd-start = <0x00 0x90000000>;\n\t\tlinux,initrd-end = <0x00 0x8f000000>;\n"),
            "kvas: fatal: the device tree at 0x88000000: device tree node /chosen (number 1 in the tree): \
             linux,initrd-end lies below linux,initrd-start",
        ),
        (
            "bootargs-not-utf8",
            chosen("\t\tbootargs = [6e 6f 35 ff 6c 76 6c 00];\n"),
            "kvas: fatal: the device tree at 0x88000000: device tree node /chosen (number 1 in the tree): bootargs \
             is not UTF-8 text",
        ),
    ] {
        v.push(failing(&with_dts_blob(base, dir, name, &dts)?, &format!("bad-dtb-{name}"), |_| {}, fatal));
    }
    // More RAM banks than the kernel once kept (16): 20, all used.
    let mut banks = String::new();
    let mut lines = Vec::new();
    for i in 0..19u64 {
        let start = 0x8000_0000 + i * (24 << 20);
        banks += &dtb::memory_node(start, 16 << 20);
        lines.push(format!("kvas: ram {start:#x} size 0x1000000"));
    }
    // The last bank ends at the top of RAM, where QEMU puts the DTB.
    banks += &dtb::memory_node(0x9f00_0000, 16 << 20);
    lines.push("kvas: ram 0x9f000000 size 0x1000000".into());
    let many = dtb::replace_node(&qemu, "memory@80000000", &banks)?;
    let mut c = case(&with_dtb(base, dir, "twenty-banks", &many)?, "dtb-twenty-banks", |_| {}, &[]);
    c.lines = lines;
    v.push(with_built(c, dir)?);
    // A bank with ragged edges: kept trimmed, with the library's notice.
    let trimmed =
        dtb::replace_node(&qemu, "memory@80000000", &dtb::memory_node(0x8000_0000, (512 << 20) - 0x800))?;
    v.push(case(
        &with_dtb(base, dir, "trimmed-bank", &trimmed)?,
        "dtb-trimmed-bank-notice",
        |_| {},
        &["kvas: warning: RAM bank [0x80000000, 0x9ffff800) is not page-aligned: using [0x80000000, 0x9ffff000)"],
    ));
    // riscv32's `vmsplit=`: riscv64 boots as usual and says it ignored the word.
    v.push(case(
        base,
        "vmsplit-ignored",
        |b| b.append = "vmsplit=2g".into(),
        &["kvas: paging mode sv57", "kvas: warning: vmsplit=2g is riscv32's: ignored"],
    ));
    Ok(v)
}

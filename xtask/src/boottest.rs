//! Boot tests: the kernel in QEMU under several CPUs, command lines and memory sizes, each
//! bounded in time, judged by its serial output and QEMU's exit status.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::qemu::{run_bounded, Boot, Outcome};
use crate::{dtb, image};

/// No boot may take longer than this (QEMU is killed and the test fails).
pub const TIME_LIMIT: Duration = Duration::from_secs(60);

/// A boot test.
pub struct Case {
    /// Its name.
    pub name: String,
    /// The QEMU run.
    pub boot: Boot,
    /// Lines that must appear in the serial output, whole.
    pub lines: Vec<String>,
    /// Whether the kernel must power off with success (else: with failure).
    pub success: bool,
    /// `Some(limit)`: the kernel must still be running (holding) after `limit`.
    pub hold: Option<Duration>,
    /// `Some(mode)`: the kernel's `modules` and `kernel` layout lines must be what
    /// `kvas layout --arch riscv64 --mode MODE --kernel-size SIZE --format dump` prints for
    /// the image size the kernel reports.
    pub layout_mode: Option<&'static str>,
}

/// Where the bad-DTB test's loader puts its blob: in the 512 MiB of RAM, away from the
/// image (0x80200000), OpenSBI and QEMU's DTB (at the top).
const BAD_DTB_ADDR: u64 = 0x8800_0000;

/// The `kvas: ram` line of QEMU virt's single bank of `size` bytes.
fn ram_line(size: u64) -> String {
    format!("kvas: ram 0x80000000 size {size:#x}")
}

fn case(base: &Boot, name: &str, f: impl FnOnce(&mut Boot), lines: &[&str]) -> Case {
    let mut boot = base.clone();
    f(&mut boot);
    Case {
        name: name.into(),
        boot,
        lines: lines.iter().map(|s| s.to_string()).collect(),
        success: true,
        hold: None,
        layout_mode: None,
    }
}

fn failing(mut c: Case) -> Case {
    c.success = false;
    c
}

/// Every boot test; images and device trees they need are made in `dir`.
pub fn cases(kernel: &Path, dir: &Path) -> Result<Vec<Case>, String> {
    let base = Boot::new(kernel.to_path_buf());
    // The fixmap rows of Linux's vm-layout.rst (shared/reference/linux-vm-layouts.md §1).
    const SV57_FIXMAP: &str = "      fixmap : 0xff1bfffffea00000 - 0xff1bffffff000000   (6144 kB)";
    const SV48_FIXMAP: &str = "      fixmap : 0xffff8d7ffea00000 - 0xffff8d7fff000000   (6144 kB)";
    const SV39_FIXMAP: &str = "      fixmap : 0xffffffc4fea00000 - 0xffffffc4ff000000   (6144 kB)";
    const DUMP: &str = "Virtual kernel memory layout:";
    let with_layout = |mut c: Case, mode: &'static str| {
        c.layout_mode = Some(mode);
        c
    };
    let mut v = vec![
        with_layout(
            case(&base, "default-sv57", |_| {}, &["kvas: paging mode sv57", DUMP, SV57_FIXMAP]),
            "sv57",
        ),
        with_layout(
            case(
                &base,
                "no5lvl-sv48",
                |b| b.append = "no5lvl".into(),
                &["kvas: paging mode sv48", DUMP, SV48_FIXMAP],
            ),
            "sv48",
        ),
        with_layout(
            case(
                &base,
                "no4lvl-sv39",
                |b| b.append = "no4lvl".into(),
                &["kvas: paging mode sv39", DUMP, SV39_FIXMAP],
            ),
            "sv39",
        ),
        case(&base, "cpu-sv48", |b| b.cpu = Some("rv64,sv48=on".into()), &["kvas: paging mode sv48"]),
        case(&base, "cpu-sv39", |b| b.cpu = Some("rv64,sv39=on".into()), &["kvas: paging mode sv39"]),
    ];
    for (mem, size) in [("128M", 128u64 << 20), ("1G", 1 << 30), ("5G", 5 << 30)] {
        let line = ram_line(size);
        v.push(case(
            &base,
            &format!("ram-{mem}"),
            |b| b.memory = mem.into(),
            &["kvas: paging mode sv57", &line],
        ));
    }

    v.push(case(&base, "smp-4", |b| b.harts = 4, &["kvas: paging mode sv57"]));

    // The probe itself: harts capped by the CPU model, device trees without mmu-type.
    for (cpu, mode, rejected) in
        [("rv64,sv48=on", "sv48", &["sv57"][..]), ("rv64,sv39=on", "sv39", &["sv57", "sv48"][..])]
    {
        let mut b = base.clone();
        b.cpu = Some(cpu.into());
        let dts = dtb::without_mmu_type(&dtb::dump(&b, dir)?);
        b.dtb = Some(dtb::compile(&dts, dir, &format!("no-mmu-type-{mode}"))?);
        let paging = format!("kvas: paging mode {mode}");
        let mut lines = vec![paging];
        lines.extend(rejected.iter().map(|m| format!("kvas: probe: {m} rejected*")));
        v.push(Case {
            name: format!("probe-falls-back-{mode}"),
            boot: b,
            lines,
            success: true,
            hold: None,
            layout_mode: None,
        });
    }

    // Discontiguous RAM: two banks with a 768 MiB hole (QEMU puts the DTB at the top of its
    // RAM, so the second bank ends there).
    let mut b = base.clone();
    b.memory = "2G".into();
    let banks = dtb::memory_node(0x8000_0000, 256 << 20) + &dtb::memory_node(0xc000_0000, 1 << 30);
    let dts = dtb::replace_node(&dtb::dump(&b, dir)?, "memory@80000000", &banks)?;
    b.dtb = Some(dtb::compile(&dts, dir, "two-banks")?);
    v.push(Case {
        name: "two-banks".into(),
        boot: b,
        lines: vec![
            "kvas: ram 0x80000000 size 0x10000000".into(),
            "kvas: ram 0xc0000000 size 0x40000000".into(),
        ],
        success: true,
        hold: None,
        layout_mode: None,
    });

    // NUMA: one memory node per node, adjacent, one hart each (the second stays in OpenSBI).
    let mut c = case(
        &base,
        "numa-two-nodes",
        |b| {
            b.memory = "1537M".into();
            b.harts = 2;
            b.extra = [
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
            .to_vec();
        },
        // kvas::phys merges touching banks: one range of 513 MiB + 1 GiB.
        &["kvas: ram 0x80000000 size 0x60100000"],
    );
    c.lines.insert(0, "kvas: paging mode sv57".into());
    v.push(c);

    // Other load addresses: the same image with its program headers moved.
    let elf = std::fs::read(kernel).map_err(|e| format!("reading {}: {e}", kernel.display()))?;
    for (load, mem) in [(0x8060_0000u64, "512M"), (0xc000_0000, "2G"), (0x1_8000_0000, "5G")] {
        let path = dir.join(format!("kvas-kernel-{load:x}.elf"));
        let moved = image::with_load_address(&elf, load).map_err(|e| e.to_string())?;
        std::fs::write(&path, moved).map_err(|e| format!("writing {}: {e}", path.display()))?;
        let line = format!("kvas: image 0xffffffff80000000 loaded at {load:#x}*");
        let mut c =
            case(&base, &format!("load-{load:#x}"), |b| b.kernel = path, &["kvas: paging mode sv57", &line]);
        c.boot.memory = mem.into();
        v.push(c);
    }

    // Bad input ends in a clear message and a failing power-off.
    let path = dir.join("kvas-kernel-unaligned.elf");
    let moved = image::with_load_address(&elf, 0x8060_1000).map_err(|e| e.to_string())?;
    std::fs::write(&path, moved).map_err(|e| format!("writing {}: {e}", path.display()))?;
    v.push(failing(case(
        &base,
        "bad-unaligned-load",
        |b| b.kernel = path,
        &["kvas: fatal: kernel loaded at 0x80601000, which is not 2 MiB aligned"],
    )));
    let mut b = base.clone();
    let dts = dtb::replace_node(&dtb::dump(&b, dir)?, "memory@80000000", "")?;
    b.dtb = Some(dtb::compile(&dts, dir, "no-memory")?);
    v.push(failing(Case {
        name: "bad-no-memory-node".into(),
        boot: b,
        lines: vec!["kvas: fatal: the device tree has no memory node (device_type = \"memory\")".into()],
        success: false,
        hold: None,
        layout_mode: None,
    }));
    // A device tree that does not parse: QEMU refuses a broken -dtb and OpenSBI parses the
    // real one first, so QEMU's loader puts a blob in RAM and `kvas.dtb=` (cmdline.rs) makes
    // the kernel read it; the firmware's DTB still gives the finisher for the exit status.
    let blob = dir.join("not-a-dtb.bin");
    std::fs::write(&blob, b"this is not a flattened device tree\n".repeat(4))
        .map_err(|e| format!("writing {}: {e}", blob.display()))?;
    v.push(failing(case(
        &base,
        "bad-dtb-does-not-parse",
        |b| {
            b.append = format!("kvas.dtb={BAD_DTB_ADDR:#x}");
            b.extra =
                vec!["-device".into(), format!("loader,file={},addr={BAD_DTB_ADDR:#x}", blob.display())];
        },
        &["kvas: fatal: the device tree at 0x88000000 does not parse: bad FDT magic value"],
    )));

    // `hold`: reports, then idles instead of powering off.
    let mut c =
        case(&base, "hold", |b| b.append = "hold".into(), &["kvas: paging mode sv57", "kvas: holding"]);
    c.hold = Some(Duration::from_secs(3));
    v.push(c);
    Ok(v)
}

/// Whether `line` is what `want` asks for: equal, or starting with it when it ends in `*`.
fn matches(line: &str, want: &str) -> bool {
    match want.strip_suffix('*') {
        Some(prefix) => line.starts_with(prefix),
        None => line == want,
    }
}

/// What is wrong with an outcome, if anything.
pub fn judge(case: &Case, out: &Outcome) -> Result<(), String> {
    let lines: Vec<&str> = out.output.lines().map(|l| l.trim_end_matches('\r')).collect();
    if case.hold.is_some() {
        if !out.timed_out {
            return Err(format!("expected the kernel to hold, but QEMU exited with {:?}", out.code));
        }
    } else if out.timed_out {
        return Err(format!("no power-off within {} s", TIME_LIMIT.as_secs()));
    }
    for want in &case.lines {
        if !lines.iter().any(|l| matches(l, want)) {
            return Err(format!("missing line {want:?}"));
        }
    }
    let summary = lines.iter().rev().find_map(|l| parse_summary(l));
    if case.hold.is_some() {
        return match summary {
            Some((p, 0)) if p > 0 => Ok(()),
            s => Err(format!("held, but the summary is {s:?}")),
        };
    }
    match (case.success, summary, out.code) {
        (true, Some((p, 0)), Some(0)) if p > 0 => Ok(()),
        (false, s, Some(c)) if c != 0 && s.is_none() => Ok(()),
        (want, s, code) => Err(format!(
            "expected a {} power-off; summary {s:?}, QEMU exit {code:?}",
            if want { "successful" } else { "failing" }
        )),
    }
}

/// Parses the kernel's closing line `N passed, M failed`.
pub fn parse_summary(line: &str) -> Option<(u32, u32)> {
    let (p, f) = line.trim().split_once(" passed, ")?;
    Some((p.parse().ok()?, f.strip_suffix(" failed")?.parse().ok()?))
}

/// Runs the cases whose name contains `filter`; prints one line per case and a summary.
pub fn run(kernel: &Path, filter: Option<&str>) -> Result<ExitCode, String> {
    let dir = kernel.parent().expect("the kernel ELF is in a directory").join("boot-test");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let (mut passed, mut failed) = (0, 0);
    for case in cases(kernel, &dir)?.into_iter().filter(|c| filter.is_none_or(|f| c.name.contains(f))) {
        let out = run_bounded(&case.boot, case.hold.unwrap_or(TIME_LIMIT))?;
        let verdict = judge(&case, &out).and_then(|()| match case.layout_mode {
            Some(mode) => layout_agrees(&out.output, mode),
            None => Ok(()),
        });
        match verdict {
            Ok(()) => {
                passed += 1;
                println!("boot-test {} ... ok ({:.1} s)", case.name, out.elapsed.as_secs_f64());
            }
            Err(why) => {
                failed += 1;
                println!("boot-test {} ... FAILED: {why}", case.name);
                println!("  command: {}", case.boot.describe());
                for l in out.output.lines() {
                    println!("  | {l}");
                }
            }
        }
    }
    println!("boot-tests: {passed} passed, {failed} failed");
    Ok(if failed == 0 && passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The image size from the kernel's `kvas: image ... size 0xN` line.
fn image_size(output: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.starts_with("kvas: image "))?;
    let (_, size) = line.trim_end_matches('\r').rsplit_once(" size ")?;
    u64::from_str_radix(size.strip_prefix("0x")?, 16).ok()
}

/// The layout lines of region `name` (`      modules : 0x... - 0x...   (...)`) in `text`.
fn dump_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name} : ");
    text.lines().map(|l| l.trim_end_matches('\r')).find(|l| l.trim_start().starts_with(&prefix))
}

/// Compares the `modules` and `kernel` lines of the kernel's dump and the CLI's.
pub fn same_layout_lines(kernel: &str, cli: &str) -> Result<(), String> {
    for name in ["modules", "kernel"] {
        match (dump_line(kernel, name), dump_line(cli, name)) {
            (Some(k), Some(c)) if k == c => {}
            (k, c) => return Err(format!("{name} line: kernel {k:?}, kvas layout {c:?}")),
        }
    }
    Ok(())
}

/// Runs `kvas layout ... --format dump` for the image size the kernel printed and compares.
fn layout_agrees(output: &str, mode: &str) -> Result<(), String> {
    let size = image_size(output).ok_or("no `kvas: image ... size` line")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let size = format!("{size:#x}");
    let args = ["layout", "--arch", "riscv64", "--mode", mode, "--kernel-size", &size, "--format", "dump"];
    let out = std::process::Command::new(cargo)
        .args(["run", "-q", "-p", "kvas-cli", "--"])
        .args(args)
        .current_dir(crate::repo_root())
        .output()
        .map_err(|e| format!("running kvas layout: {e}"))?;
    if !out.status.success() {
        return Err(format!("kvas {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    same_layout_lines(output, &String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("kvas {} disagrees: {e}", args.join(" ")))
}

/// The number after `prefix` on the line that starts with it.
fn number_after(output: &str, prefix: &str) -> Option<u64> {
    let rest = output.lines().find_map(|l| l.trim_end_matches('\r').strip_prefix(prefix))?;
    let word = rest.split_whitespace().next()?;
    match word.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => word.parse().ok(),
    }
}

/// Boots once per mode with `-icount shift=0` (so counts do not depend on the host) and
/// prints `mode=svNN instructions=N image_bytes=M elf_bytes=E`.
pub fn boot_cost(kernel: &Path) -> Result<ExitCode, String> {
    let elf_bytes = std::fs::metadata(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?.len();
    for (mode, append) in [("sv57", ""), ("sv48", "no5lvl"), ("sv39", "no4lvl")] {
        let mut boot = Boot::new(kernel.to_path_buf());
        boot.append = append.into();
        boot.extra = vec!["-icount".into(), "shift=0".into()];
        let out = run_bounded(&boot, TIME_LIMIT)?;
        let instructions = number_after(&out.output, "kvas: boot instructions ");
        let image =
            out.output.lines().find_map(|l| l.split_once(" size ").filter(|_| l.starts_with("kvas: image ")));
        let image = image.and_then(|(_, size)| number_after(&format!("x {size}"), "x "));
        match (instructions, image) {
            (Some(i), Some(b)) => {
                println!("mode={mode} instructions={i} image_bytes={b} elf_bytes={elf_bytes}")
            }
            _ => return Err(format!("{mode}: no boot-instructions or image line in:\n{}", out.output)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_after_prefixes() {
        let out =
            "x\nkvas: boot instructions 647820 (instret)\nkvas: image 0x1 loaded at 0x2 size 0x65000\r\n";
        assert_eq!(number_after(out, "kvas: boot instructions "), Some(647820));
        assert_eq!(number_after(out, "kvas: image 0x1 loaded at "), Some(2));
        assert_eq!(number_after(out, "kvas: nothing "), None);
    }

    #[test]
    fn summary_line_parses_and_rejects() {
        assert_eq!(parse_summary("12 passed, 0 failed"), Some((12, 0)));
        assert_eq!(parse_summary("3 passed, 2 failed\r"), Some((3, 2)));
        assert_eq!(parse_summary("kvas: 3 passed"), None);
        assert_eq!(parse_summary("x passed, 0 failed"), None);
    }

    fn outcome(output: &str, code: Option<i32>) -> Outcome {
        Outcome { output: output.into(), code, timed_out: code.is_none(), elapsed: Duration::ZERO }
    }

    #[test]
    fn judge_needs_lines_summary_and_exit_status() {
        let c = &case(&Boot::new("k".into()), "t", |_| {}, &["kvas: paging mode sv57"]);
        let good = "kvas: paging mode sv57\n4 passed, 0 failed\n";
        assert_eq!(judge(c, &outcome(good, Some(0))), Ok(()));
        assert!(judge(c, &outcome(good, Some(1))).is_err());
        assert!(judge(c, &outcome(good, None)).unwrap_err().contains("no power-off"));
        assert!(judge(c, &outcome("4 passed, 0 failed\n", Some(0))).unwrap_err().contains("missing"));
        assert!(judge(c, &outcome("kvas: paging mode sv57\n4 passed, 1 failed\n", Some(0))).is_err());
        let mut held = case(&Boot::new("k".into()), "h", |_| {}, &["kvas: holding"]);
        held.hold = Some(Duration::from_secs(1));
        let out = "4 passed, 0 failed\nkvas: holding\n";
        assert_eq!(judge(&held, &outcome(out, None)), Ok(()));
        assert!(judge(&held, &outcome(out, Some(0))).unwrap_err().contains("expected the kernel to hold"));
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    const KERNEL: &str = "kvas: image 0xffffffff80000000 loaded at 0x80200000 size 0x79000\r\n\
        Virtual kernel memory layout:\n\
     \x20     modules : 0xffffffff00079000 - 0xffffffff80000000   (2047 MB)\n\
     \x20      kernel : 0xffffffff80000000 - 0xffffffffffffffff   (2047 MB)\n";

    #[test]
    fn image_size_and_lines() {
        assert_eq!(image_size(KERNEL), Some(0x79000));
        assert_eq!(image_size("kvas: paging mode sv39\n"), None);
        assert_eq!(
            dump_line(KERNEL, "modules"),
            Some("      modules : 0xffffffff00079000 - 0xffffffff80000000   (2047 MB)")
        );
        assert_eq!(same_layout_lines(KERNEL, KERNEL), Ok(()));
        let other = KERNEL.replace("0xffffffff00079000", "0xffffffff0007a000");
        assert!(same_layout_lines(KERNEL, &other).unwrap_err().contains("modules line"));
        assert!(same_layout_lines(KERNEL, "nothing").is_err());
    }
}

#[cfg(test)]
mod match_tests {
    use super::matches;

    #[test]
    fn whole_lines_or_prefixes() {
        assert!(matches("kvas: paging mode sv48", "kvas: paging mode sv48"));
        assert!(!matches("kvas: paging mode sv48 ", "kvas: paging mode sv48"));
        assert!(matches("kvas: probe: sv57 rejected (satp read back 0x0)", "kvas: probe: sv57 rejected*"));
        assert!(!matches("kvas: probe: sv48 rejected", "kvas: probe: sv57 rejected*"));
    }
}

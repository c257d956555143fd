//! Boot tests: the kernel in QEMU under several CPUs, command lines and memory sizes, each
//! bounded in time, judged by its serial output and QEMU's exit status.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::qemu::{run_bounded, Boot, Outcome};

pub use crate::bootcases::cases;

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
    /// `Some(mode)`: the kernel's layout lines (all but `lowmem`, which depends on RAM)
    /// must be what `kvas layout --arch riscv64 --mode MODE --kernel-size SIZE
    /// --kaslr-offset OFFSET --format dump` prints for the image size and KASLR offset the
    /// kernel reports.
    pub layout_mode: Option<&'static str>,
    /// `Some(line)`: the boot must end in exactly one `kvas: fatal:` line, this one (a
    /// trailing `*` matches any rest), and a failing exit status. `None`: no fatal line and
    /// no unexpected trap may appear at all, whatever the exit status.
    pub fatal: Option<String>,
    /// A further check of the output (the `kvas: built` lines against `kvas map`).
    pub built: Option<Check>,
}

/// A check of a boot's output.
pub type Check = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Whether `line` is what `want` asks for: equal, where each `*` in `want` stands for any
/// run of characters.
pub fn matches(line: &str, want: &str) -> bool {
    let mut parts = want.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// The marks of a failed boot (shared/DESIGN.md): a fatal line, or an unexpected trap.
const FATAL: &str = "kvas: fatal:";
const UNEXPECTED_TRAP: &str = "unexpected trap";

/// What is wrong with an outcome, if anything.
pub fn judge(case: &Case, out: &Outcome) -> Result<(), String> {
    let lines: Vec<&str> = out.output.lines().map(|l| l.trim_end_matches('\r')).collect();
    let fatal: Vec<&str> =
        lines.iter().copied().filter(|l| l.contains(FATAL) || l.contains(UNEXPECTED_TRAP)).collect();
    if let Some(want) = &case.fatal {
        return match (fatal.as_slice(), out.code) {
            _ if out.timed_out => {
                Err(format!("no power-off within {} s after a fatal error", TIME_LIMIT.as_secs()))
            }
            ([one], Some(c)) if c != 0 && matches(one, want) => Ok(()),
            ([one], Some(c)) if c != 0 => Err(format!("the fatal line is {one:?}, expected {want:?}")),
            ([_], code) => Err(format!("a fatal error must power off failing, QEMU exit {code:?}")),
            ([], _) => Err(format!("missing the fatal line {want:?}")),
            (many, _) => Err(format!(
                "{} fatal or trap lines, expected exactly one: {:?}",
                many.len(),
                &many[..many.len().min(3)]
            )),
        };
    }
    if let Some(first) = fatal.first() {
        return Err(format!("the boot failed ({} fatal or trap lines), first: {first:?}", fatal.len()));
    }
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
        // Failing: stopped before the summary (a fatal line), or a summary that counts
        // a failure; either way with a failing exit status.
        (false, None, Some(c)) if c != 0 => Ok(()),
        (false, Some((_, f)), Some(c)) if c != 0 && f > 0 => Ok(()),
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

/// How many boots run at once: `KVAS_BOOT_JOBS`, else the machine's parallelism, at most 4.
fn jobs() -> usize {
    std::env::var("KVAS_BOOT_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
        .max(1)
}

/// A boot's outcome and its verdict (or why QEMU could not run).
type Ran = Result<(Outcome, Result<(), String>), String>;

/// Boots one case and judges it.
fn run_case(case: &Case) -> Ran {
    let out = run_bounded(&case.boot, case.hold.unwrap_or(TIME_LIMIT))?;
    let verdict = judge(case, &out).and_then(|()| match case.layout_mode {
        Some(mode) => layout_agrees(&out.output, mode),
        None => Ok(()),
    });
    let verdict = verdict.and_then(|()| match &case.built {
        Some(check) => check(&out.output),
        None => Ok(()),
    });
    Ok((out, verdict))
}

/// Runs the cases whose name contains `filter`, several at a time ([`jobs`]), each bounded
/// in time; prints one line per case, in order, and a summary.
/// `kernel32`: the riscv32 kernel, whose cases (xtask/src/bootcases32.rs) run too.
pub fn run(kernel: &Path, kernel32: Option<&Path>, filter: Option<&str>) -> Result<ExitCode, String> {
    let dir = kernel.parent().expect("the kernel ELF is in a directory").join("boot-test");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut all = cases(kernel, &dir)?;
    if let Some(k32) = kernel32 {
        // Every riscv32 boot runs the user tests too (xtask/src/usercases.rs).
        all.extend(
            crate::bootcases32::cases(k32, &dir)?.into_iter().map(crate::usercases::with_riscv32_usertests),
        );
        all.extend(crate::usercases::riscv32_cases(k32, &dir, &crate::user32::out_dir())?);
    }
    let cases: Vec<Case> = all.into_iter().filter(|c| filter.is_none_or(|f| c.name.contains(f))).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Ran>>> =
        cases.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs().min(cases.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                *results[i].lock().expect("one writer per slot") = Some(run_case(case));
            });
        }
    });
    let (mut passed, mut failed) = (0, 0);
    for (case, result) in cases.iter().zip(results) {
        let (out, verdict) = result.into_inner().expect("no poisoned slot").expect("every case ran")?;
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
pub fn image_size(output: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.starts_with("kvas: image "))?;
    let (_, size) = line.trim_end_matches('\r').rsplit_once(" size ")?;
    u64::from_str_radix(size.strip_prefix("0x")?, 16).ok()
}

/// The layout lines of region `name` (`      modules : 0x... - 0x...   (...)`) in `text`.
fn dump_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name} : ");
    text.lines().map(|l| l.trim_end_matches('\r')).find(|l| l.trim_start().starts_with(&prefix))
}

/// Compares the region lines of the kernel's dump and the CLI's: every line of the CLI's
/// but `lowmem` (the CLI is given no RAM size), and at least `modules` and `kernel`.
pub fn same_layout_lines(kernel: &str, cli: &str) -> Result<(), String> {
    same_layout_lines_with(kernel, cli, &["modules", "kernel"])
}

/// [`same_layout_lines`] with the lines that must be there named.
fn same_layout_lines_with(kernel: &str, cli: &str, required: &[&str]) -> Result<(), String> {
    let names: Vec<&str> = cli
        .lines()
        .filter_map(|l| l.split_once(" : 0x").map(|(n, _)| n.trim()))
        .filter(|&n| n != "lowmem")
        .collect();
    for &name in required {
        if !names.contains(&name) {
            return Err(format!("kvas layout printed no {name} line"));
        }
    }
    for name in names {
        match (dump_line(kernel, name), dump_line(cli, name)) {
            (Some(k), Some(c)) if k == c => {}
            (k, c) => return Err(format!("{name} line: kernel {k:?}, kvas layout {c:?}")),
        }
    }
    Ok(())
}

/// The layout block of `text`: the `Virtual kernel memory layout:` header and every region
/// line after it (`name : 0x... - 0x...`), `\r` trimmed; empty when there is no header.
fn layout_block(text: &str) -> Vec<&str> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    if lines.by_ref().find(|&l| l == "Virtual kernel memory layout:").is_none() {
        return Vec::new();
    }
    std::iter::once("Virtual kernel memory layout:")
        .chain(lines.take_while(|l| l.contains(" : 0x")))
        .collect()
}

/// Compares the whole layout block of the kernel's output with the CLI's, line for line and
/// in order, `lowmem` included (the CLI was given the kernel's RAM): riscv32's comparison,
/// where the kernel prints every region `kvas layout` does.
pub fn same_layout_block(kernel: &str, cli: &str) -> Result<(), String> {
    let (k, c) = (layout_block(kernel), layout_block(cli));
    if c.len() < 2 {
        return Err("kvas layout printed no layout block".into());
    }
    if k != c {
        return Err(format!("the kernel printed {k:#?}\nbut kvas layout printed {c:#?}"));
    }
    Ok(())
}

/// Runs `kvas layout ... --format dump` for the image size and KASLR offset the kernel
/// printed and compares.
fn layout_agrees(output: &str, mode: &str) -> Result<(), String> {
    let size = image_size(output).ok_or("no `kvas: image ... size` line")?;
    let (offset, _) = crate::kaslrcases::kaslr_line(output).ok_or("no `kvas: kaslr offset` line")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let (size, offset) = (format!("{size:#x}"), format!("{offset:#x}"));
    let args = [
        "layout",
        "--arch",
        "riscv64",
        "--mode",
        mode,
        "--kernel-size",
        &size,
        "--kaslr-offset",
        &offset,
        "--format",
        "dump",
    ];
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
    use crate::bootcases::{case, failing};

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

    /// A boot that shows a fatal line or an unexpected trap has failed, whatever QEMU's exit
    /// status (a fatal path that exits 0 once passed as a success).
    #[test]
    fn judge_fails_fatal_lines_and_traps_whatever_the_exit_status() {
        let c = &case(&Boot::new("k".into()), "t", |_| {}, &["kvas: paging mode sv57"]);
        let looped = "kvas: paging mode sv57\n4 passed, 0 failed\nkvas: fatal: memory init: x\n";
        assert!(judge(c, &outcome(looped, Some(0))).unwrap_err().contains("the boot failed"));
        let trap = "kvas: paging mode sv57\nkvas: fatal: unexpected trap: scause 0xf\n4 passed, 0 failed\n";
        assert!(judge(c, &outcome(trap, Some(0))).is_err());
        let f = &failing(&Boot::new("k".into()), "f", |_| {}, "kvas: fatal: memory init: *");
        assert_eq!(judge(f, &outcome("kvas: fatal: memory init: no RAM\n", Some(1))), Ok(()));
        assert!(judge(f, &outcome("kvas: fatal: memory init: no RAM\n", Some(0)))
            .unwrap_err()
            .contains("failing"));
        let twice = "kvas: fatal: memory init: no RAM\nkvas: fatal: unexpected trap: scause 0xf\n";
        assert!(judge(f, &outcome(twice, Some(1))).unwrap_err().contains("exactly one"));
        assert!(judge(f, &outcome("kvas: paging mode sv57\n", Some(1))).unwrap_err().contains("missing"));
        assert!(judge(f, &outcome("kvas: fatal: other\n", Some(1))).unwrap_err().contains("expected"));
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
        // Every line the CLI prints but lowmem must match, not only modules and kernel.
        let fixmap = "      fixmap : 0xffffffc4fea00000 - 0xffffffc4ff000000   (6144 kB)\n";
        let lowmem = "      lowmem : 0xffffffd600000000 - 0xfffffff600000000   ( 128 GB)\n";
        let cli = format!("{KERNEL}{fixmap}{lowmem}");
        assert!(same_layout_lines(KERNEL, &cli).unwrap_err().contains("fixmap line"));
        assert_eq!(same_layout_lines(&format!("{KERNEL}{fixmap}"), &cli), Ok(()));
    }
}

#[cfg(test)]
mod block_tests {
    use super::same_layout_block;

    const KERNEL32: &str = "kvas: ram 0x80000000 size 0x100000000\r\n\
        Virtual kernel memory layout:\r\n\
        \x20     fixmap : 0xff800000 - 0xfffff000   (8188 kB)\r\n\
        \x20     lowmem : 0x00400000 - 0xf0000000   (3836 MB)\r\n\
        \x20     kernel : 0xf0000000 - 0xf0400000   (4096 kB)\r\n\
        kvas: built linear leaves 4K=1968 4M=957 tables 2\r\n";

    #[test]
    fn the_whole_block_lowmem_included() {
        let cli: String = KERNEL32.lines().skip(1).take(4).map(|l| format!("{}\n", l.trim_end())).collect();
        assert_eq!(same_layout_block(KERNEL32, &cli), Ok(()));
        // lowmem is the line 4G/4G changes: a different one must fail.
        let other = cli.replace("0x00400000 - 0xf0000000   (3836 MB)", "0xc0000000 - 0xf0000000   ( 768 MB)");
        assert!(same_layout_block(KERNEL32, &other).unwrap_err().contains("lowmem"));
        // A line the kernel lacks, or one it has and the CLI lacks, fails too.
        let more =
            cli.replace("      kernel", "      pkmap : 0xff400000 - 0xff800000   (4096 kB)\n      kernel");
        assert!(same_layout_block(KERNEL32, &more).is_err());
        let fewer = cli.replace("      fixmap : 0xff800000 - 0xfffff000   (8188 kB)\n", "");
        assert!(same_layout_block(KERNEL32, &fewer).is_err());
        assert!(same_layout_block(KERNEL32, "nothing").unwrap_err().contains("no layout block"));
        assert!(same_layout_block("nothing", &cli).is_err());
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
        assert!(matches("at 0x9fe00000 has no node", "at 0x*has no node"));
        assert!(matches("a [0x1, 0x2) b", "a [0x1, 0x*) b"));
        assert!(!matches("a [0x1, 0x2) c", "a [0x1, 0x*) b"));
        assert!(!matches("a x b", "a * b c"));
        assert!(matches("ab", "a*b"));
    }
}

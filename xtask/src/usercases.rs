//! The boot tests of user space (kernel/src/user): every depth, with the command line and
//! with harts capped by the CPU model (TASK_SIZE must follow the mode the probe found), the
//! ASID width capped (no ASIDs at all, and one bit: a rollover on every new process; on two
//! harts, two bits and one, which is too few for two harts), and an
//! initrd given as a static ELF and as a cpio `newc` archive holding `/init`.

use std::path::{Path, PathBuf};

use crate::bootcases::case;
use crate::boottest::Case;
use crate::qemu::Boot;

/// The kernel's user-space tests (kernel/src/user/tests.rs), each of which must pass.
pub const USERTESTS: &[&str] = &[
    "user-half-is-task-size",
    "kernel-half-shared",
    "syscalls",
    "isolation",
    "fpu-per-process",
    "top-page-and-task-size",
    "mmap-placement",
    "demand-paging-2m-4k",
    "efault",
    "kill-load-kernel-text",
    "kill-store-read-only",
    "kill-fetch-data-page",
    "kill-after-munmap",
    "kill-after-mprotect",
    "sum-only-during-copies",
    "trap-satp",
    "no-frame-leaked",
    "unmap-frees-after-flush",
    "mprotect-flushes-its-pages",
    "asid-rollover",
    "init-program",
    "cost",
    "split-cost",
];

/// The user-space line for a mode's TASK_SIZE and ASID width.
fn user_line(task_size: u64, bits: u32) -> String {
    format!(
        "kvas: user space 0x0000000000000000-{:#018x} (TASK_SIZE {task_size:#x}) asid bits {bits}",
        task_size - 1
    )
}

fn with_usertests(mut c: Case, extra: &[String]) -> Case {
    c.lines.extend(USERTESTS.iter().map(|t| format!("usertest {t} ... ok")));
    c.lines.extend(extra.iter().cloned());
    c
}

/// Every user-space boot test; files they need are written to `dir`.
pub fn cases(base: &Boot, dir: &Path, user_dir: &Path) -> Result<Vec<Case>, String> {
    const SV57: u64 = 1 << 56;
    const SV48: u64 = 1 << 47;
    const SV39: u64 = 1 << 38;
    let mut v = Vec::new();
    for (name, append, cpu, mode, ts) in [
        ("user-sv57", "", None, "sv57", SV57),
        ("user-sv48", "no5lvl", None, "sv48", SV48),
        ("user-sv39", "no4lvl", None, "sv39", SV39),
        ("user-cpu-sv48", "", Some("rv64,sv48=on"), "sv48", SV48),
        ("user-cpu-sv39", "", Some("rv64,sv39=on"), "sv39", SV39),
    ] {
        let c = case(
            base,
            name,
            |b| {
                b.append = append.into();
                b.cpu = cpu.map(String::from);
            },
            &[],
        );
        let top = if ts > 1 << 47 { "(mmap)" } else { "(the stack's)" };
        v.push(with_usertests(
            c,
            &[
                format!("kvas: paging mode {mode}"),
                user_line(ts, 16),
                format!("ut: highest page {:#x} {top}", ts - 4096),
                "kvas: pid * killed: load from a kernel address at 0xffffffff*".into(),
            ],
        ));
    }
    // Separate spaces (4G/4G's mechanism): the kernel on its own root, satp switched at every
    // trap, uaccess pinned; every user test the same, with and without ASIDs.
    for (name, append, bits, ts) in [
        ("user-separate", "kvas.separate", 16u32, SV57),
        ("user-separate-sv39", "no4lvl kvas.separate", 16, SV39),
        ("user-separate-noasid", "kvas.separate kvas.asidbits=0", 0, SV57),
    ] {
        let c = case(base, name, |b| b.append = append.into(), &[]);
        v.push(with_usertests(
            c,
            &[
                "kvas: user space separate: the kernel on its own root and ASID 0, satp switched at every \
                 trap, uaccess pinned"
                    .into(),
                user_line(ts, bits),
            ],
        ));
    }
    // The ASID width capped: none (every switch flushes), one bit (a rollover per new process).
    for bits in [0u32, 1] {
        let c =
            case(base, &format!("user-asidbits-{bits}"), |b| b.append = format!("kvas.asidbits={bits}"), &[]);
        v.push(with_usertests(
            c,
            &[
                format!("kvas: asid bits capped from 16 to {bits} (kvas.asidbits)"),
                user_line(SV57, bits),
                format!("kvas: asid-rollover: * rollovers, * full flushes, {bits} asid bits"),
            ],
        ));
    }
    // The ASID width on two harts: two bits (three ASIDs) are enough (a rollover keeps the
    // other hart's), one bit (one ASID) is not, and then none are used.
    for (bits, effective, extra) in
        [(2u32, 2u32, None), (1, 0, Some("kvas: 1 asid bits are too few for 2 harts: no ASIDs used"))]
    {
        let mut c = case(
            base,
            &format!("user-asidbits-{bits}-smp-2"),
            |b| {
                b.append = format!("kvas.asidbits={bits}");
                b.harts = 2;
            },
            &[],
        );
        c.lines.extend(extra.map(String::from));
        c.lines.extend(
            [
                "smp-processes-at-once",
                "smp-munmap-reaches-other-hart",
                "smp-fpu-follows-process",
                "smp-asid-rollover-keeps-live-asids",
            ]
            .map(|t| format!("usertest {t} ... ok")),
        );
        v.push(with_usertests(
            c,
            &[
                format!("kvas: asid bits capped from 16 to {bits} (kvas.asidbits)"),
                user_line(SV57, bits),
                format!("kvas: asid-rollover: * rollovers, * full flushes, {} asid bits", effective.min(2)),
            ],
        ));
    }
    // The initrd: the static ELF itself, and a cpio newc archive with /init among other files.
    let init = user_dir.join("init.elf");
    let elf = std::fs::read(&init).map_err(|e| format!("reading {}: {e}", init.display()))?;
    let archive = dir.join("initrd.cpio");
    std::fs::write(&archive, cpio_newc(&[("etc", b"" as &[u8]), ("hello.txt", b"hi\n"), ("init", &elf)]))
        .map_err(|e| format!("writing {}: {e}", archive.display()))?;
    for (name, file) in [("initrd-elf", init), ("initrd-cpio", archive)] {
        v.push(case(
            base,
            name,
            |b| b.extra = vec!["-initrd".into(), path(&file)],
            &["init: hello from /init, pid *", "kvas: init exited with status 7"],
        ));
    }
    // An /init that cannot start fails the boot (a failing exit status, no fatal line): it
    // is counted like a failed self-test.
    let not_elf = dir.join("initrd-not-elf.cpio");
    std::fs::write(&not_elf, cpio_newc(&[("init", b"#!/bin/sh\necho not an ELF\n" as &[u8])]))
        .map_err(|e| format!("writing {}: {e}", not_elf.display()))?;
    let mut bad = case(
        base,
        "initrd-init-not-elf",
        |b| b.extra = vec!["-initrd".into(), path(&not_elf)],
        &["kvas: initrd: /init does not start: *"],
    );
    bad.success = false;
    v.push(bad);
    // A C program from Linux's own cross toolchain, no kvas code in it, run unmodified.
    let c = c_program(dir)?;
    v.push(case(
        base,
        "initrd-c-program",
        |b| b.extra = vec!["-initrd".into(), path(&c)],
        &[
            "c-init: hello from a C program built by riscv64-linux-gnu-gcc",
            "c-init: every answer as on Linux",
            "kvas: init exited with status 3",
        ],
    ));
    Ok(v)
}

/// The user tests only the riscv64 kernel runs: a vmalloc area after a space was made, the
/// FPU (riscv32imac has none), the shootdown counters (the SMP ones are not in USERTESTS).
const RISCV64_ONLY: &[&str] =
    &["kernel-half-shared", "unmap-frees-after-flush", "mprotect-flushes-its-pages"];

/// The user tests the riscv32 kernel runs: all but [`RISCV64_ONLY`], and its own.
fn riscv32_usertests() -> impl Iterator<Item = String> {
    USERTESTS
        .iter()
        .filter(|t| !RISCV64_ONLY.contains(t))
        .chain(&[
            "linear-not-global-when-separate",
            "process-root-shares-top",
            "write-across-pages",
            "user-pages-in-highmem",
        ])
        .map(|t| format!("usertest {t} ... ok"))
}

/// The separate-spaces line (`kvas.separate`, and every riscv32 4G/4G boot).
const SEPARATE_LINE: &str =
    "kvas: user space separate: the kernel on its own root and ASID 0, satp switched at every trap, uaccess pinned";

/// A riscv32 boot case (xtask/src/bootcases32.rs) with the user tests' lines added when it
/// boots to the end: every user test in every split and RAM size, and under 4G/4G the
/// separate-spaces line.
pub fn with_riscv32_usertests(mut c: Case) -> Case {
    if c.success && c.fatal.is_none() {
        c.lines.extend(riscv32_usertests());
        if c.name.starts_with("riscv32-4g4g") {
            c.lines.push(SEPARATE_LINE.into());
        }
    }
    c
}

/// riscv32 user-space cases of their own: separate spaces under 3g (`kvas.separate`: the
/// same mechanism as 4G/4G, with the shared split's layout), 4G/4G with no ASIDs
/// (`kvas.asidbits=0`: the kernel and every process on ASID 0), and initrds: the riscv32 C
/// program (riscv64-linux-gnu-gcc, RV32 flags) under 4g4g and 3g, and a cpio archive with
/// the riscv32 `init` under 1g. The programs are `xtask user32`'s, in `user32_dir`; files
/// the cases need are written to `dir`.
pub fn riscv32_cases(kernel32: &Path, dir: &Path, user32_dir: &Path) -> Result<Vec<Case>, String> {
    let mut base = Boot::new(kernel32.to_path_buf());
    base.qemu = crate::qemu::QEMU32;
    let mut v = Vec::new();
    // The user-space line gives the ASID width user space uses: capped, not the hart's 9.
    let no_asid = "kvas: user space 0x00000000-0xefffffff (TASK_SIZE 0xf0000000) asid bits 0";
    for (name, append, lines) in [
        ("riscv32-3g-separate", "kvas.separate", &[SEPARATE_LINE][..]),
        ("riscv32-4g4g-noasid", "vmsplit=4g4g kvas.asidbits=0", &[SEPARATE_LINE, no_asid][..]),
    ] {
        let mut c = case(&base, name, |b| b.append = append.into(), lines);
        c.lines.extend(riscv32_usertests());
        v.push(c);
    }
    // Harts without F and D: processes run with the FPU off, `ut fpu` is killed at its first
    // `fld` (fpu-per-process expects that), and the kernel's switches use no f-register.
    let mut c = case(&base, "riscv32-no-fpu", |b| b.cpu = Some("rv32,f=false,d=false,zfa=false".into()), &[]);
    c.lines.extend(riscv32_usertests());
    c.lines.push("kvas: pid * killed: illegal instruction at 0x*".into());
    v.push(c);
    let c_hello = user32_dir.join("c-hello.elf");
    for split in ["4g4g", "3g"] {
        v.push(case(
            &base,
            &format!("riscv32-{split}-initrd-c-program"),
            |b| {
                b.append = format!("vmsplit={split}");
                b.extra = vec!["-initrd".into(), path(&c_hello)];
            },
            &[
                "c-init: hello from a C program built by riscv64-linux-gnu-gcc",
                "c-init: every answer as on Linux",
                "kvas: init exited with status 3",
            ],
        ));
    }
    let init = user32_dir.join("init.elf");
    let elf = std::fs::read(&init).map_err(|e| format!("reading {}: {e}", init.display()))?;
    let archive = dir.join("initrd-riscv32.cpio");
    std::fs::write(&archive, cpio_newc(&[("etc", b"" as &[u8]), ("hello.txt", b"hi\n"), ("init", &elf)]))
        .map_err(|e| format!("writing {}: {e}", archive.display()))?;
    v.push(case(
        &base,
        "riscv32-1g-initrd-cpio",
        |b| {
            b.append = "vmsplit=1g".into();
            b.extra = vec!["-initrd".into(), path(&archive)];
        },
        &["init: hello from /init, pid *", "kvas: init exited with status 7"],
    ));
    Ok(v)
}

/// The C compiler of Debian's gcc-riscv64-linux-gnu (`make deps` installs it).
const CC: &str = "riscv64-linux-gnu-gcc";

/// Builds user/c/hello.c into a static executable with no C library (`-nostdlib`; no linker
/// relaxation, since nothing sets `gp`) in `dir`.
fn c_program(dir: &Path) -> Result<PathBuf, String> {
    c_program_with(&dir.join("c-hello"), &[])
}

/// The same C compiler's flags for a riscv32 program: RV32IMAC, the ilp32 ABI, and the
/// linker's 32-bit emulation (Debian has no riscv32 cross compiler; riscv64-linux-gnu-gcc
/// generates RV32 code, and -nostdlib needs no 32-bit C library).
pub const C_RISCV32_FLAGS: &[&str] = &["-march=rv32imac", "-mabi=ilp32", "-Wl,-melf32lriscv"];

/// Builds user/c/hello.c into `out` with `flags` added (see [`c_program`]).
pub fn c_program_with(out: &Path, flags: &[&str]) -> Result<PathBuf, String> {
    let src = crate::repo_root().join("user/c/hello.c");
    let out = out.to_path_buf();
    let status = std::process::Command::new(CC)
        .args(flags)
        .args([
            "-static",
            "-nostdlib",
            "-ffreestanding",
            "-fno-stack-protector",
            "-O2",
            "-Wl,--no-relax",
            "-o",
        ])
        .arg(&out)
        .arg(&src)
        .status()
        .map_err(|e| format!("cannot run {CC} (package gcc-riscv64-linux-gnu; `make deps`): {e}"))?;
    if !status.success() {
        return Err(format!("{CC} failed on {} ({status})", src.display()));
    }
    Ok(out)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A cpio `newc` archive of `files` (regular files, mode 0755), ended by `TRAILER!!!`.
pub fn cpio_newc(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer: (&str, &[u8]) = ("TRAILER!!!", b"");
    for (i, (name, body)) in files.iter().chain(std::iter::once(&trailer)).enumerate() {
        let mode = if name.starts_with("TRAILER") { 0 } else { 0o100755 };
        let fields =
            [i as u64 + 1, mode, 0, 0, 1, 0, body.len() as u64, 0, 0, 0, 0, name.len() as u64 + 1, 0];
        out.extend(b"070701");
        for f in fields {
            out.extend(format!("{f:08x}").bytes());
        }
        out.extend(name.bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend(*body);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
    out
}

/// What `ut cost` (user/src/bin/ut.rs) measured with `instret` in user space: instructions
/// for a `getpid` round trip and for one demand-paging fault of 4 KiB and of 2 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCost {
    /// `ecall`, the trap glue, dispatch, `sret`.
    pub getpid: u64,
    /// The first store to a fresh 4 KiB page: trap, area check, a zeroed frame, the map.
    pub fault_4k: u64,
    /// The same for a 2 MiB leaf (zeroing 2 MiB is most of it).
    pub fault_2m: u64,
}

impl UserCost {
    /// The rows `xtask reloc-cost` prints, named as `ut` names them.
    pub fn rows(&self) -> [(&'static str, u64); 3] {
        [("getpid", self.getpid), ("fault-4k", self.fault_4k), ("fault-2m", self.fault_2m)]
    }
}

/// Reads the `ut: cost getpid N fault-4k M fault-2m K` line of a boot's `output`; the error
/// says which line was missing or malformed.
pub fn parse_user_cost(output: &str) -> Result<UserCost, String> {
    let line = output
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("ut: cost "))
        .ok_or("no `ut: cost` line (did user space run?)")?;
    let words: Vec<&str> = line.split(' ').collect();
    let n = |w: &str| w.parse::<u64>().map_err(|e| format!("`ut: cost {line}`: {w:?}: {e}"));
    match words.as_slice() {
        ["getpid", g, "fault-4k", f4, "fault-2m", f2] => {
            Ok(UserCost { getpid: n(g)?, fault_4k: n(f4)?, fault_2m: n(f2)? })
        }
        _ => Err(format!("`ut: cost {line}`: expected `getpid N fault-4k N fault-2m N`")),
    }
}

/// Boots once per mode with `-icount shift=0` (so counts do not depend on the host) and prints
/// what `ut cost` measured with `instret` in user space: `mode=svNN getpid=N fault_4k=M
/// fault_2m=K` (instructions for a `getpid` round trip and one demand-paging fault of each
/// size; docs/PERFORMANCE.md).
pub fn user_cost(kernel: &Path) -> Result<std::process::ExitCode, String> {
    for (mode, append) in [("sv57", ""), ("sv48", "no5lvl"), ("sv39", "no4lvl")] {
        let mut boot = Boot::new(kernel.to_path_buf());
        boot.append = append.into();
        boot.extra = vec!["-icount".into(), "shift=0".into()];
        let out = crate::qemu::run_bounded(&boot, crate::boottest::TIME_LIMIT)?;
        let c = parse_user_cost(&out.output).map_err(|e| format!("{mode}: {e} in:\n{}", out.output))?;
        println!("mode={mode} getpid={} fault_4k={} fault_2m={}", c.getpid, c.fault_4k, c.fault_2m);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_has_newc_headers_and_a_trailer() {
        let a = cpio_newc(&[("init", b"abc")]);
        assert!(a.starts_with(b"070701"));
        assert_eq!(&a[110..115], b"init\0");
        assert_eq!(&a[116..119], b"abc");
        assert!(a.windows(10).any(|w| w == b"TRAILER!!!"));
        assert_eq!(a.len() % 4, 0);
    }

    #[test]
    fn the_user_cost_line_is_read_and_bad_ones_are_named() {
        let out = "kvas: x\r\nut: cost getpid 301 fault-4k 2470 fault-2m 1050123\r\nkvas: y\n";
        assert_eq!(parse_user_cost(out), Ok(UserCost { getpid: 301, fault_4k: 2470, fault_2m: 1050123 }));
        assert!(parse_user_cost("kvas: no user space\n").unwrap_err().contains("no `ut: cost` line"));
        let e = parse_user_cost("ut: cost getpid 3x fault-4k 1 fault-2m 2\n").unwrap_err();
        assert!(e.contains("\"3x\""), "{e}");
        let e = parse_user_cost("ut: cost getpid 3 fault-4k 1\n").unwrap_err();
        assert!(e.contains("expected `getpid N"), "{e}");
    }
}

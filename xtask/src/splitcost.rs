//! `xtask split-cost`: what an address-space layout costs user space, per configuration —
//! on riscv32 per `vmsplit=` (4G/4G against 3G/1G is deliverable 5 of issue 14), on riscv64
//! per paging mode, shared and separate (`kvas.separate`: 4G/4G's mechanism, the kernel on
//! its own root, a satp switch at every trap, pinned copies). Each configuration boots twice: under `-icount shift=0` for instruction
//! counts (exact, independent of the host), and without it for wall time (QEMU's `time` CSR
//! then follows the host clock: noisy on a shared machine, the least of 5 batches). The
//! numbers are `ut split-cost`'s (user/src/bin/ut.rs): a null system call, `write` of 4 KiB
//! and 64 KiB from user memory, a 4 KiB demand fault, a context switch.

use std::path::Path;
use std::process::ExitCode;

use crate::qemu::{Boot, Outcome};

/// The operations, as `ut split-cost` names them.
pub const OPS: [&str; 5] = ["null", "write-4k", "write-64k", "fault-4k", "switch"];

/// One `ut: split-cost KIND ...` line: per operation, in [`OPS`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Costs(pub [u64; 5]);

/// Reads the `ut: split-cost KIND null N write-4k N write-64k N fault-4k N switch N` line of
/// `output` (`kind` is `insns` or `ns`); the error names what is missing or malformed.
pub fn parse(output: &str, kind: &str) -> Result<Costs, String> {
    let prefix = format!("ut: split-cost {kind} ");
    let line = output
        .lines()
        .find_map(|l| l.trim_end().strip_prefix(prefix.as_str()))
        .ok_or_else(|| format!("no `{}` line (did the split-cost user test run?)", prefix.trim_end()))?;
    let words: Vec<&str> = line.split(' ').collect();
    if words.len() != 2 * OPS.len() || words.iter().step_by(2).zip(OPS).any(|(w, op)| *w != op) {
        return Err(format!("`{prefix}{line}`: expected `{}`", OPS.map(|o| format!("{o} N")).join(" ")));
    }
    let mut out = [0; 5];
    for (v, w) in out.iter_mut().zip(words.iter().skip(1).step_by(2)) {
        *v = w.parse().map_err(|e| format!("`{prefix}{line}`: {w:?}: {e}"))?;
    }
    Ok(Costs(out))
}

/// `a / b` to two decimals, or `-` when `b` is 0.
pub fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

/// One configuration: a name and the boot that runs it.
pub struct Config {
    /// `3g`, `4g4g`, `sv39`, ...
    pub name: String,
    /// The boot (kernel, QEMU, command line).
    pub boot: Boot,
    /// The configuration (an earlier one) this one is compared with, if any.
    pub baseline: Option<String>,
}

/// The riscv64 configurations: each paging mode shared, then separate against it.
pub fn riscv64_configs(kernel: &Path) -> Vec<Config> {
    let mut v = Vec::new();
    for (name, append) in [("sv39", "no4lvl"), ("sv48", "no5lvl"), ("sv57", "")] {
        for separate in [false, true] {
            let mut boot = Boot::new(kernel.to_path_buf());
            boot.append = if separate { format!("{append} kvas.separate") } else { append.into() };
            v.push(Config {
                name: if separate { format!("{name}-separate") } else { name.into() },
                boot,
                baseline: separate.then(|| name.to_string()),
            });
        }
    }
    v
}

/// The riscv32 configurations: every `vmsplit=` against 3g, and 3g with `kvas.separate`.
pub fn riscv32_configs(kernel32: &Path) -> Vec<Config> {
    let mut v = Vec::new();
    for (name, append) in [
        ("3g", ""),
        ("2g", "vmsplit=2g"),
        ("1g", "vmsplit=1g"),
        ("4g4g", "vmsplit=4g4g"),
        ("3g-separate", "kvas.separate"),
    ] {
        let mut boot = Boot::new(kernel32.to_path_buf());
        boot.qemu = crate::qemu::QEMU32;
        boot.append = append.into();
        v.push(Config { name: name.into(), boot, baseline: (name != "3g").then(|| "3g".to_string()) });
    }
    v
}

/// The `kind` line of a boot of `c` that passed as a boot test passes (xtask/src/boottest.rs
/// `judge`: no fatal line or unexpected trap, the closing `N passed, 0 failed`, QEMU exit 0):
/// a run where a test failed — a timed call that returned an error, say — gives no numbers.
fn measured(c: &Config, out: &Outcome, kind: &str) -> Result<Costs, String> {
    let case = crate::bootcases::case(&c.boot, &c.name, |_| {}, &[]);
    crate::boottest::judge(&case, out)
        .and_then(|()| parse(&out.output, kind))
        .map_err(|e| format!("{} ({kind} boot, `{}`): {e} in:\n{}", c.name, c.boot.describe(), out.output))
}

/// Boots every configuration twice and prints, per configuration, a line of instructions and
/// one of nanoseconds per operation, then each configuration's ratios against its baseline.
pub fn run(configs: &[Config]) -> Result<ExitCode, String> {
    let mut rows = Vec::new();
    for c in configs {
        let mut counted = c.boot.clone();
        counted.extra.extend(["-icount".to_string(), "shift=0".to_string()]);
        let out = crate::qemu::run_bounded(&counted, crate::boottest::TIME_LIMIT)?;
        let insns = measured(c, &out, "insns")?;
        let out = crate::qemu::run_bounded(&c.boot, crate::boottest::TIME_LIMIT)?;
        let ns = measured(c, &out, "ns")?;
        let line = |kind: &str, v: &Costs| {
            let cols: Vec<String> = OPS.iter().zip(v.0).map(|(o, n)| format!("{o}={n}")).collect();
            println!("{} {kind} {}", c.name, cols.join(" "));
        };
        line("insns", &insns);
        line("ns", &ns);
        rows.push((c.name.clone(), insns, ns));
    }
    let r = |a: &Costs, b: &Costs| {
        OPS.iter().enumerate().map(|(k, o)| format!("{o}={}", ratio(a.0[k], b.0[k]))).collect::<Vec<_>>()
    };
    for (c, (name, i, n)) in configs.iter().zip(&rows) {
        let Some(base) = &c.baseline else { continue };
        let (_, bi, bn) =
            rows.iter().find(|(n, ..)| n == base).ok_or(format!("{name}: no baseline {base}"))?;
        println!("{name}/{base} insns {}", r(i, bi).join(" "));
        println!("{name}/{base} ns {}", r(n, bn).join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_are_read_and_bad_ones_are_named() {
        let out = "kvas: x\r\nut: split-cost insns null 310 write-4k 9000 write-64k 140000 fault-4k 2500 \
                   switch 700\r\nut: split-cost ns null 1 write-4k 2 write-64k 3 fault-4k 4 switch 5\n";
        assert_eq!(parse(out, "insns"), Ok(Costs([310, 9000, 140000, 2500, 700])));
        assert_eq!(parse(out, "ns"), Ok(Costs([1, 2, 3, 4, 5])));
        assert!(parse("kvas: none\n", "ns").unwrap_err().contains("no `ut: split-cost ns` line"));
        let e = parse("ut: split-cost ns null 1 write-4k 2 write-64k 3 fault-4k 4\n", "ns").unwrap_err();
        assert!(e.contains("expected `null N write-4k N"), "{e}");
        let e =
            parse("ut: split-cost ns null 1 write-4k 2 write-64k 3 fault-4k 4 swatch 5\n", "ns").unwrap_err();
        assert!(e.contains("expected"), "{e}");
        let e =
            parse("ut: split-cost ns null 1 write-4k x write-64k 3 fault-4k 4 switch 5\n", "ns").unwrap_err();
        assert!(e.contains("\"x\""), "{e}");
    }

    #[test]
    fn numbers_only_from_a_boot_that_passed() {
        let c = &riscv32_configs(Path::new("k"))[3];
        let lines = "ut: split-cost insns null 1 write-4k 2 write-64k 3 fault-4k 4 switch 5\n";
        let out = |tail: &str, code| Outcome {
            output: format!("{lines}{tail}"),
            code,
            timed_out: false,
            elapsed: std::time::Duration::ZERO,
        };
        assert_eq!(measured(c, &out("28 passed, 0 failed\n", Some(0)), "insns"), Ok(Costs([1, 2, 3, 4, 5])));
        // A user test failed (ut split-cost's checks: a timed write that returned -EFAULT).
        let e = measured(c, &out("27 passed, 1 failed\n", Some(1)), "insns").unwrap_err();
        assert!(e.starts_with("4g4g (insns boot"), "{e}");
        // No summary, a failing exit status, a fatal line, the time limit.
        assert!(measured(c, &out("", Some(0)), "insns").is_err());
        assert!(measured(c, &out("28 passed, 0 failed\n", Some(1)), "insns").is_err());
        assert!(measured(c, &out("28 passed, 0 failed\nkvas: fatal: x\n", Some(0)), "insns").is_err());
        let mut timed_out = out("28 passed, 0 failed\n", None);
        timed_out.timed_out = true;
        assert!(measured(c, &timed_out, "insns").is_err());
        // A boot that passed but printed no numbers.
        let e = measured(c, &out("28 passed, 0 failed\n", Some(0)), "ns").unwrap_err();
        assert!(e.contains("no `ut: split-cost ns` line"), "{e}");
    }

    #[test]
    fn ratios_have_two_decimals_and_no_division_by_zero() {
        assert_eq!(ratio(300, 200), "1.50");
        assert_eq!(ratio(1, 3), "0.33");
        assert_eq!(ratio(5, 0), "-");
    }
}

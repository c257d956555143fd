//! KASLR's boot tests (issue 13): the seed from `/chosen/kaslr-seed` (QEMU's tree dumped,
//! edited with dtc, given with `-dtb`), from QEMU's own `/chosen/rng-seed`, from the Zkr
//! `seed` CSR (`-cpu rv64,zkr=true`), or none; each in Sv57 and, with `no4lvl`, in Sv39.
//! Every boot must pass every self-test, print `kvas: kaslr offset 0x... (seed from ...)`,
//! and its layout and built lines must equal what `kvas layout`/`kvas map` print for that
//! offset (boottest.rs, builtcheck.rs).

use std::path::Path;

// The KASLR step and span: Linux's `PMD_SIZE` and `PUD_SIZE`.
use kvas::layout::riscv64::{PMD_SIZE as STEP, PUD_SIZE as SPAN};

use crate::bootcases::{case, with_built};
use crate::boottest::{Case, Check};
use crate::dtb;
use crate::elf::Elf;
use crate::qemu::{run_bounded, Boot};

/// The offset and seed source from the kernel's `kvas: kaslr offset 0x... (seed from S)`.
pub fn kaslr_line(output: &str) -> Option<(u64, String)> {
    let rest = output.lines().find_map(|l| l.trim_end_matches('\r').strip_prefix("kvas: kaslr offset 0x"))?;
    let (hex, source) = rest.split_once(" (seed from ")?;
    Some((u64::from_str_radix(hex, 16).ok()?, source.strip_suffix(')')?.to_string()))
}

/// The offset Linux's `setup_vm` gives `seed` for an image of `size` bytes (the test's
/// oracle, written from the formula: `(seed % ((PUD_SIZE - size) / PMD_SIZE)) * PMD_SIZE`).
pub fn expected_offset(seed: u64, size: u64) -> u64 {
    (seed % ((SPAN - size) / STEP)) * STEP
}

/// The image size (`_end - _start`) of the kernel ELF.
fn image_size(kernel: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(kernel).map_err(|e| format!("reading {}: {e}", kernel.display()))?;
    let elf = Elf::parse(&bytes).map_err(|e| e.to_string())?;
    let sym = |name| elf.symbol(name).map_err(|e| e.to_string());
    Ok(sym("__kernel_end")? - sym("__kernel_start")?)
}

/// QEMU's tree for `boot`, with `/chosen/rng-seed` replaced
/// by `kaslr-seed = seed` (`None`: no seed property at all).
pub fn tree_with_seed(boot: &Boot, dir: &Path, seed: Option<u64>) -> Result<String, String> {
    // QEMU dumps no command line without a kernel; it adds `-append` to a `-dtb` at boot.
    let dts = dtb::dump(&Boot { append: String::new(), ..boot.clone() }, dir)?;
    let line = dts
        .lines()
        .find(|l| l.trim_start().starts_with("rng-seed = "))
        .ok_or("QEMU's tree has no /chosen/rng-seed")?;
    let with =
        seed.map_or(String::new(), |s| format!("\t\tkaslr-seed = <{:#x} {:#x}>;", s >> 32, s & 0xffff_ffff));
    Ok(dts.replacen(line, &with, 1))
}

/// A case that must boot with the offset and source in `want` (`None` offset: any, but 2 MiB
/// aligned and in range), in `mode` with the `kvas layout` check.
/// Its `kvas: built` lines must be what `kvas map --kaslr-offset` predicts.
fn kaslr_case(
    boot: Boot,
    dir: &Path,
    name: &str,
    mode: &'static str,
    want: (Option<u64>, &'static str),
    size: u64,
) -> Result<Case, String> {
    let mut c = case(&boot, name, |_| {}, &["kvas: kaslr offset 0x*"]);
    c.layout_mode = Some(mode);
    c.lines.push(format!("kvas: paging mode {mode}"));
    c.lines.push(format!("kvas: kaslr offset 0x* (seed from {})", want.1));
    c.lines.push("selftest kaslr-image-follows ... ok".into());
    c.lines.push("selftest kaslr-seed-zeroed ... ok".into());
    let check: Check = Box::new(move |out: &str| {
        let (off, source) = kaslr_line(out).ok_or("no `kvas: kaslr offset` line")?;
        let max = (SPAN - size) / STEP * STEP - STEP;
        if off % STEP != 0 || off > max {
            return Err(format!("offset {off:#x} is not 2 MiB aligned or beyond {max:#x}"));
        }
        if source != want.1 || want.0.is_some_and(|w| w != off) {
            return Err(format!("offset {off:#x} from {source}, expected {:x?} from {}", want.0, want.1));
        }
        let image = format!("kvas: image {:#x} loaded at ", 0xffff_ffff_8000_0000u64 + off);
        if !out.lines().any(|l| l.starts_with(&image)) {
            return Err(format!("no line `{image}...`: the image is not where the offset says"));
        }
        Ok(())
    });
    Ok(and_then(with_built(c, dir)?, check))
}

/// `c` with `more` checked after its own check.
fn and_then(mut c: Case, more: Check) -> Case {
    let first = c.built.take();
    c.built = Some(Box::new(move |out: &str| {
        if let Some(f) = &first {
            f(out)?;
        }
        more(out)
    }));
    c
}

/// Boots `boot` `times` more and returns the offsets printed.
fn offsets_of_more_boots(boot: &Boot, times: usize) -> Result<Vec<u64>, String> {
    (0..times)
        .map(|_| {
            let out = run_bounded(boot, crate::boottest::TIME_LIMIT)?;
            kaslr_line(&out.output)
                .map(|(o, _)| o)
                .ok_or_else(|| format!("no kaslr line in:\n{}", out.output))
        })
        .collect()
}

/// Seeds whose offsets differ pairwise for any image under 64 MiB (5 gives 5 * 2 MiB).
const SEEDS: [u64; 4] = [5, 0x1234_5678_9abc_def1, 0xdead_beef_cafe_f00d, 300];

/// Every KASLR boot test; trees are made in `dir`.
pub fn cases(base: &Boot, kernel: &Path, dir: &Path) -> Result<Vec<Case>, String> {
    let size = image_size(kernel)?;
    let offsets: Vec<u64> = SEEDS.iter().map(|&s| expected_offset(s, size)).collect();
    for (i, a) in offsets.iter().enumerate() {
        if offsets[i + 1..].contains(a) || *a == 0 {
            return Err(format!(
                "the KASLR seeds {SEEDS:x?} give offsets {offsets:x?}: not distinct and non-zero"
            ));
        }
    }
    let mut v = Vec::new();
    for (mode, words) in [("sv57", ""), ("sv39", "no4lvl")] {
        let mut b = base.clone();
        b.append = words.into();
        let with_tree = |name: &str, b: &Boot, seed| -> Result<Boot, String> {
            let mut b = b.clone();
            b.dtb = Some(dtb::compile(&tree_with_seed(&b, dir, seed)?, dir, name)?);
            Ok(b)
        };
        // Distinct seeds, distinct offsets; seed 5 by hand: 5 * 2 MiB.
        for (&seed, &off) in SEEDS.iter().zip(&offsets) {
            let name = format!("kaslr-seed-{seed:x}-{mode}");
            let boot = with_tree(&name, &b, Some(seed))?;
            v.push(kaslr_case(boot, dir, &name, mode, (Some(off), "kaslr-seed"), size)?);
        }
        // The same seed twice: the same offset.
        let name = format!("kaslr-same-seed-same-offset-{mode}");
        let boot = with_tree(&name, &b, Some(SEEDS[1]))?;
        let again = boot.clone();
        let c = kaslr_case(boot, dir, &name, mode, (Some(offsets[1]), "kaslr-seed"), size)?;
        v.push(and_then(
            c,
            Box::new(move |out: &str| {
                let first = kaslr_line(out).map(|(o, _)| o);
                match offsets_of_more_boots(&again, 1)?.as_slice() {
                    [o] if Some(*o) == first => Ok(()),
                    o => Err(format!("the same seed gave {first:x?}, then {o:x?}")),
                }
            }),
        ));
        // nokaslr, with a seed in the tree: the link address.
        let mut nok = b.clone();
        nok.append = format!("{words} nokaslr").trim().into();
        let name = format!("kaslr-nokaslr-{mode}");
        v.push(kaslr_case(
            with_tree(&name, &nok, Some(SEEDS[0]))?,
            dir,
            &name,
            mode,
            (Some(0), "none"),
            size,
        )?);
        // No seed anywhere: the link address.
        let name = format!("kaslr-no-seed-{mode}");
        v.push(kaslr_case(with_tree(&name, &b, None)?, dir, &name, mode, (Some(0), "none"), size)?);
        // QEMU's own tree: its random rng-seed.
        v.push(kaslr_case(
            b.clone(),
            dir,
            &format!("kaslr-rng-seed-{mode}"),
            mode,
            (None, "rng-seed"),
            size,
        )?);
        // A Zkr hart and no seed in the tree: still random (three boots, not all equal;
        // equal by chance once in 511^2).
        let name = format!("kaslr-zkr-no-dt-seed-{mode}");
        let mut z = b.clone();
        z.cpu = Some("rv64,zkr=true".into());
        let z = with_tree(&name, &z, None)?;
        let again = z.clone();
        let c = kaslr_case(z, dir, &name, mode, (None, "zkr"), size)?;
        v.push(and_then(
            c,
            Box::new(move |out: &str| {
                let first = kaslr_line(out).map(|(o, _)| o).ok_or("no kaslr line")?;
                let more = offsets_of_more_boots(&again, 2)?;
                if more.iter().all(|&o| o == first) {
                    return Err(format!("three Zkr boots all at offset {first:#x}: not randomised"));
                }
                Ok(())
            }),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kaslr_line() {
        let out = "kvas: dtb 0x1 size 0x2\nkvas: kaslr offset 0x2800000 (seed from rng-seed)\r\n";
        assert_eq!(kaslr_line(out), Some((0x280_0000, "rng-seed".into())));
        assert_eq!(kaslr_line("kvas: kaslr offset 0x0 (seed from none)"), Some((0, "none".into())));
        assert_eq!(kaslr_line("kvas: kaslr offset 0xq (seed from none)"), None);
        assert_eq!(kaslr_line("kvas: paging mode sv39"), None);
    }

    #[test]
    fn the_oracle_is_linuxs_formula() {
        // A 0x8a000-byte image has (1 GiB - 0x8a000) / 2 MiB = 511 positions.
        assert_eq!(expected_offset(5, 0x8a000), 5 << 21);
        assert_eq!(expected_offset(511, 0x8a000), 0);
        assert_eq!(expected_offset(512 + 3, 0x8a000), 4 << 21);
    }
}

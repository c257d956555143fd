//! The prediction equals the machine: the kernel's `kvas: built REGION ...` lines (one per
//! region kvas::kspace built) must be exactly what `kvas map --format built` prints for the
//! same device tree (QEMU's own, dumped with the same -m/-smp/-numa options, or the tree the
//! test gave QEMU), the same image (load address, size and sections, from the ELF's
//! symbols) and the same DTB address and finisher.
//!
//! One input the dumped tree lacks: OpenSBI adds its own `no-map` reservation to the tree it
//! passes the kernel. The check gives `kvas map` every `no-map` range the kernel reported
//! (`kvas: reserved ... no-map`), which are the tree's own plus OpenSBI's.

use std::path::{Path, PathBuf};

use crate::boottest::Check;
use crate::elf::Elf;

/// QEMU virt's `sifive,test0` finisher.
const FINISHER: u64 = 0x10_0000;

/// The hex number after `prefix` in the line starting with it, and the rest of the line.
pub fn hex_after<'a>(line: &'a str, prefix: &str) -> Option<(u64, &'a str)> {
    let rest = line.strip_prefix(prefix)?;
    let (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((u64::from_str_radix(word.strip_prefix("0x")?, 16).ok()?, rest))
}

/// What the check needs from the kernel's output.
#[derive(Debug, PartialEq, Eq)]
pub struct Reported {
    /// `svNN`.
    pub mode: String,
    /// Physical load address and image size.
    pub load: (u64, u64),
    /// KASLR's offset (`kvas: kaslr offset`).
    pub kaslr: u64,
    /// Where the DTB was, and its size.
    pub dtb: (u64, u64),
    /// The `no-map` reservations, as `BASE:SIZE:no-map`.
    pub no_map: Vec<String>,
    /// The `kvas: built` lines.
    pub built: Vec<String>,
}

/// Reads [`Reported`] from a boot's output.
pub fn reported(output: &str) -> Result<Reported, String> {
    let lines = || output.lines().map(|l| l.trim_end_matches('\r'));
    let mode = lines()
        .find_map(|l| l.strip_prefix("kvas: paging mode "))
        .ok_or("no `kvas: paging mode` line")?
        .to_string();
    let load = lines()
        .find_map(|l| {
            let (_virt, rest) = hex_after(l, "kvas: image ")?;
            let (load, rest) = hex_after(rest, "loaded at ")?;
            Some((load, hex_after(rest, "size ")?.0))
        })
        .ok_or("no `kvas: image` line")?;
    let kaslr = lines()
        .find_map(|l| hex_after(l, "kvas: kaslr offset ").map(|(o, _)| o))
        .ok_or("no `kvas: kaslr offset` line")?;
    let dtb = lines()
        .find_map(|l| {
            let (base, rest) = hex_after(l, "kvas: dtb ")?;
            Some((base, hex_after(rest, "size ")?.0))
        })
        .ok_or("no `kvas: dtb` line")?;
    let no_map = lines()
        .filter_map(|l| {
            let (base, rest) = hex_after(l, "kvas: reserved ")?;
            let (size, kind) = hex_after(rest, "size ")?;
            (kind == "no-map").then(|| format!("{base:#x}:{size:#x}:no-map"))
        })
        .collect();
    let built = lines().filter(|l| l.starts_with("kvas: built ")).map(String::from).collect();
    Ok(Reported { mode, load, kaslr, dtb, no_map, built })
}

/// The image's text and rodata sizes, from the ELF's linker-script symbols.
fn sections(kernel: &Path) -> Result<(u64, u64), String> {
    let bytes = std::fs::read(kernel).map_err(|e| format!("reading {}: {e}", kernel.display()))?;
    let elf = Elf::parse(&bytes).map_err(|e| e.to_string())?;
    let sym = |name| elf.symbol(name).map_err(|e| e.to_string());
    let start = sym("__kernel_start")?;
    let (text_end, rodata_end) = (sym("__text_end")? - start, sym("__rodata_end")? - start);
    Ok((text_end, rodata_end - text_end))
}

/// The `kvas map` arguments that predict what the kernel of `r` built from the tree `dtb`.
pub fn map_args(r: &Reported, dtb: &Path, text: u64, rodata: u64) -> Vec<String> {
    let mut args: Vec<String> = ["map", "--mode", &r.mode, "--dtb"].map(String::from).to_vec();
    args.push(dtb.display().to_string());
    for (flag, value) in [
        ("--dtb-addr", r.dtb.0),
        ("--finisher", FINISHER),
        ("--load-addr", r.load.0),
        ("--kernel-size", r.load.1),
        ("--kaslr-offset", r.kaslr),
        ("--text-size", text),
        ("--rodata-size", rodata),
    ] {
        args.push(flag.into());
        args.push(format!("{value:#x}"));
    }
    if !r.no_map.is_empty() {
        args.push("--reserve".into());
        args.push(r.no_map.join(","));
    }
    args.extend(["--format".into(), "built".into()]);
    args
}

/// The check of a boot of `kernel` on the device tree `dtb`.
pub fn check(kernel: PathBuf, dtb: PathBuf) -> Check {
    Box::new(move |output: &str| {
        let r = reported(output)?;
        if r.built.is_empty() {
            return Err("no `kvas: built` line".into());
        }
        let (text, rodata) = sections(&kernel)?;
        let args = map_args(&r, &dtb, text, rodata);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["run", "-q", "-p", "kvas-cli", "--"])
            .args(&args)
            .current_dir(crate::repo_root())
            .output()
            .map_err(|e| format!("running kvas map: {e}"))?;
        if !out.status.success() {
            return Err(format!("kvas {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
        }
        let predicted: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
        if predicted != r.built {
            return Err(format!(
                "the kernel built {:#?}\nbut `kvas {}` predicts {predicted:#?}",
                r.built,
                args.join(" ")
            ));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "kvas: image 0xffffffff80000000 loaded at 0x80200000 size 0x8c000\r\n\
        kvas: dtb 0x9fe00000 size 0x1f5e\n\
        kvas: paging mode sv48\n\
        kvas: kaslr offset 0x2800000 (seed from rng-seed)\n\
        kvas: reserved 0x80000000 size 0x60000 no-map\n\
        kvas: reserved 0x80200000 size 0x8c000 reserved\n\
        kvas: built linear leaves 4K=928 2M=254 1G=0 512G=0 tables 5\n\
        kvas: built kernel leaves 4K=140 2M=0 1G=0 512G=0 tables 4\n";

    #[test]
    fn reads_what_the_kernel_reported() {
        let r = reported(OUT).unwrap();
        assert_eq!(r.mode, "sv48");
        assert_eq!(r.load, (0x8020_0000, 0x8c000));
        assert_eq!(r.kaslr, 0x280_0000);
        assert_eq!(r.dtb, (0x9fe0_0000, 0x1f5e));
        assert_eq!(r.no_map, ["0x80000000:0x60000:no-map"]);
        assert_eq!(r.built.len(), 2);
        let args = map_args(&r, Path::new("q.dtb"), 0x28000, 0x12000).join(" ");
        assert_eq!(
            args,
            "map --mode sv48 --dtb q.dtb --dtb-addr 0x9fe00000 --finisher 0x100000 --load-addr 0x80200000 \
             --kernel-size 0x8c000 --kaslr-offset 0x2800000 --text-size 0x28000 --rodata-size 0x12000 --reserve 0x80000000:0x60000:no-map \
             --format built"
        );
        assert!(reported("kvas: paging mode sv39\n").unwrap_err().contains("image"));
    }
}

//! The riscv32 kernel's boot tests (kernel/src/sv32): every `vmsplit=` with RAM sizes that
//! exercise lowmem only (512 MiB), highmem (1.5 GiB under 3g; 4 GiB under 4g4g, 260 MiB past
//! its 3836 MiB of lowmem), the 4G/4G lowmem (3 GiB, all lowmem) and the largest RAM
//! riscv32 virt takes (10 GiB: QEMU limits larger `-m` to it; RAM then ends at 0x300000000,
//! above 4 GiB, which Sv32's 34-bit physical addresses reach), a bad `vmsplit=`, and the
//! fatal path (`kvas.fail=kmain|trap|nested`) on the boot and on the final tables. Each good boot's whole layout block
//! (`lowmem` included) must equal `kvas layout --arch riscv32 --mode sv32 --split S
//! --kernel-size SIZE --ram RAM --format dump`'s, RAM the sum of the kernel's own `kvas: ram`
//! lines, and its `kvas: user space` and `kvas: highmem` lines the TASK_SIZE and highmem
//! bytes of `kvas layout ... --format json`, and its `kvas: built` lines what
//! `kvas map --arch riscv32 --split S --format built` predicts for the same device tree
//! (QEMU's, dumped; OpenSBI's `no-map` range from the kernel's report), image and DTB.

use std::path::Path;

use crate::bootcases::{case, failing};
use crate::boottest::{image_size, same_layout_block, Case};
use crate::builtcheck::hex_after;
use crate::qemu::{Boot, QEMU32};

/// RAM sizes per split: (QEMU's `-m`, bytes).
const RAM: &[(&str, u64)] = &[("512M", 512 << 20), ("10G", 10 << 30)];

/// A boot of the riscv32 kernel at `kernel`.
fn base(kernel: &Path) -> Boot {
    let mut b = Boot::new(kernel.to_path_buf());
    b.qemu = QEMU32;
    b
}

/// The riscv32 cases (names start with `riscv32-`); device trees are dumped into `dir`.
pub fn cases(kernel: &Path, dir: &Path) -> Result<Vec<Case>, String> {
    let base = base(kernel);
    let mut v = Vec::new();
    let mut runs: Vec<(&str, &str, u64)> = Vec::new();
    for split in ["3g", "2g", "1g", "4g4g"] {
        for &(mem, bytes) in RAM {
            runs.push((split, mem, bytes));
        }
    }
    // Highmem under the default split; the 4G/4G lowmem at its fullest with no highmem.
    runs.push(("3g", "1536M", 1536 << 20));
    runs.push(("4g4g", "3G", 3 << 30));
    runs.push(("4g4g", "4G", 4 << 30));
    for (split, mem, bytes) in runs {
        let ram = format!("kvas: ram 0x80000000 size {bytes:#x}");
        let split_line = format!("kvas: vmsplit {split}");
        // `ut cross-write`'s line, copied from two user pages (highmem ones when there is
        // highmem) across their boundary: whole only if both chunks were reached right.
        let lines = [
            "kvas: paging mode sv32",
            split_line.as_str(),
            ram.as_str(),
            "Virtual kernel memory layout:",
            "ut: a write across a page boundary arrives whole",
        ];
        let mut c = case(
            &base,
            &format!("riscv32-{split}-{mem}"),
            |b| {
                b.memory = mem.into();
                // 3g is the default: boot it without the word too.
                if split != "3g" || mem != "512M" {
                    b.append = format!("vmsplit={split}");
                }
            },
            &lines,
        );
        let tree = crate::dtb::dump_blob(&c.boot, dir, &c.name)?;
        let (split, kernel) = (split.to_string(), kernel.to_path_buf());
        c.built = Some(Box::new(move |out: &str| {
            layout_agrees(out, &split)?;
            built_agrees(out, &split, &kernel, &tree)
        }));
        v.push(c);
    }
    v.push(past_16g(&base, dir)?);
    // Loaded 2 MiB past the usual 0x80400000: not 4 MiB aligned, refused with a fatal line
    // and a failing exit (it once powered off silently with status 0).
    let moved = moved_by(kernel, dir, 0x20_0000)?;
    v.push(failing(
        &base,
        "riscv32-load-unaligned",
        |b| b.kernel = moved,
        "kvas: fatal: the kernel space: riscv32 kernel load address 0x80600000 is not aligned to 0x400000",
    ));
    v.push(failing(
        &base,
        "riscv32-bad-vmsplit",
        |b| b.append = "vmsplit=3G".into(),
        "kvas: fatal: vmsplit=3G: not a split (expected 3g, 2g, 1g or 4g4g)",
    ));
    // The fatal path ends failing on the boot tables (the finisher in their fixmap) and on
    // the final ones (in kvas::kspace::sv32's), and a trap inside it powers off at once.
    let fail = |stage: &'static str| move |b: &mut Boot| b.append = format!("vmsplit=4g4g kvas.fail={stage}");
    v.push(failing(
        &base,
        "riscv32-fatal-after-paging",
        fail("kmain"),
        "kvas: fatal: kvas.fail=kmain: failing on purpose after paging",
    ));
    v.push(failing(
        &base,
        "riscv32-fatal-unexpected-trap",
        fail("trap"),
        "kvas: fatal: unexpected trap: scause 0xd stval 0x1000 *",
    ));
    v.push(failing(
        &base,
        "riscv32-fatal-trap-inside-fatal",
        fail("nested"),
        "kvas: fatal: kvas.fail=nested: *",
    ));
    Ok(v)
}

/// RAM past Sv32's 34-bit physical addresses (16 GiB): QEMU's 512 MiB plus a bank across
/// 2^34, whose part below is `no-map` (QEMU has no RAM there: nothing may use it) and whose
/// part above the kernel must drop with a warning, never map (its PPN would wrap).
fn past_16g(base: &Boot, dir: &Path) -> Result<Case, String> {
    const REACH: u64 = 1 << 34;
    let (start, end) = (REACH - (256 << 20), REACH + (256 << 20));
    let mut b = base.clone();
    b.memory = "512M".into();
    let banks =
        crate::dtb::memory_node(0x8000_0000, 512 << 20) + &crate::dtb::memory_node(start, end - start);
    let dts = crate::dtb::replace_node(&crate::dtb::dump(&b, dir)?, "memory@80000000", &banks)?;
    let dts = crate::dtb::with_reserved(&dts, &format!("absent@{start:x}"), start, REACH - start, true)?;
    b.dtb = Some(crate::dtb::compile(&dts, dir, "riscv32-ram-past-16G")?);
    let kept = format!("kvas: ram {start:#x} size {:#x}", REACH - start);
    let warning = format!(
        "kvas: warning: dropped RAM [{REACH:#x}, {end:#x}) ({:#x} bytes): at or above {REACH:#x}, \
         beyond the paging mode's physical addresses",
        end - REACH
    );
    Ok(case(&b, "riscv32-ram-past-16G", |_| {}, &["kvas: ram 0x80000000 size 0x20000000", &kept, &warning]))
}

/// A copy of the riscv32 ELF at `kernel` whose segments load `by` bytes higher (binutils'
/// `objcopy --change-section-lma`: xtask's own ELF code handles ELF64 only), in `dir`.
fn moved_by(kernel: &Path, dir: &Path, by: u64) -> Result<std::path::PathBuf, String> {
    let out = dir.join(format!("kvas-kernel-riscv32-plus-{by:x}.elf"));
    let status = std::process::Command::new("riscv64-unknown-elf-objcopy")
        .arg("--change-section-lma")
        .arg(format!("*+{by:#x}"))
        .arg(kernel)
        .arg(&out)
        .status()
        .map_err(|e| format!("running riscv64-unknown-elf-objcopy: {e}"))?;
    match status.success() {
        true => Ok(out),
        false => Err(format!("riscv64-unknown-elf-objcopy on {} failed: {status}", kernel.display())),
    }
}

/// The image's text and rodata sizes, from the ELF's linker-script symbols (binutils' `nm`:
/// xtask's own ELF reader reads ELF64 only).
fn sections(kernel: &Path) -> Result<(u64, u64), String> {
    let out = std::process::Command::new("riscv64-unknown-elf-nm")
        .arg(kernel)
        .output()
        .map_err(|e| format!("running riscv64-unknown-elf-nm: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sym = |name: &str| {
        text.lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                let (value, _, n) = (w.next()?, w.next()?, w.next()?);
                (n == name).then(|| u64::from_str_radix(value, 16).ok()).flatten()
            })
            .ok_or_else(|| format!("no symbol {name} in {}", kernel.display()))
    };
    let start = sym("__kernel_start")?;
    let (text_end, rodata_end) = (sym("__text_end")? - start, sym("__rodata_end")? - start);
    Ok((text_end, rodata_end - text_end))
}

/// The `kvas map` arguments that predict the `kvas: built` lines of a riscv32 boot.
fn map_args(
    output: &str,
    split: &str,
    tree: &Path,
    (text, rodata): (u64, u64),
) -> Result<Vec<String>, String> {
    let lines = || output.lines().map(|l| l.trim_end_matches('\r'));
    let (load, size) = lines()
        .find_map(|l| {
            let (_virt, rest) = hex_after(l, "kvas: image ")?;
            let (load, rest) = hex_after(rest, "loaded at ")?;
            Some((load, hex_after(rest, "size ")?.0))
        })
        .ok_or("no `kvas: image` line")?;
    let dtb =
        lines().find_map(|l| hex_after(l, "kvas: dtb ").map(|(b, _)| b)).ok_or("no `kvas: dtb` line")?;
    let no_map: Vec<String> = lines()
        .filter_map(|l| {
            let (base, rest) = hex_after(l, "kvas: reserved ")?;
            let (size, kind) = hex_after(rest, "size ")?;
            (kind == "no-map").then(|| format!("{base:#x}:{size:#x}:no-map"))
        })
        .collect();
    let mut args: Vec<String> =
        ["map", "--arch", "riscv32", "--mode", "sv32", "--split", split, "--dtb"].map(String::from).to_vec();
    args.push(tree.display().to_string());
    for (flag, value) in [
        ("--dtb-addr", dtb),
        ("--finisher", 0x10_0000),
        ("--load-addr", load),
        ("--kernel-size", size),
        ("--text-size", text),
        ("--rodata-size", rodata),
    ] {
        args.push(flag.into());
        args.push(format!("{value:#x}"));
    }
    if !no_map.is_empty() {
        args.push("--reserve".into());
        args.push(no_map.join(","));
    }
    args.extend(["--format".into(), "built".into()]);
    Ok(args)
}

/// The kernel's `kvas: built` lines against `kvas map --arch riscv32`'s prediction.
fn built_agrees(output: &str, split: &str, kernel: &Path, tree: &Path) -> Result<(), String> {
    let built: Vec<&str> =
        output.lines().map(|l| l.trim_end_matches('\r')).filter(|l| l.starts_with("kvas: built ")).collect();
    if built.is_empty() {
        return Err("no `kvas: built` line".into());
    }
    let args = map_args(output, split, tree, sections(kernel)?)?;
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let predicted = kvas(&refs)?;
    let predicted: Vec<&str> = predicted.lines().collect();
    if predicted != built {
        return Err(format!(
            "the kernel built {built:#?}\nbut `kvas {}` predicts {predicted:#?}",
            args.join(" ")
        ));
    }
    Ok(())
}

/// Runs `kvas ARGS` and returns its standard output.
fn kvas(args: &[&str]) -> Result<String, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["run", "-q", "-p", "kvas-cli", "--"])
        .args(args)
        .current_dir(crate::repo_root())
        .output()
        .map_err(|e| format!("running kvas: {e}"))?;
    if !out.status.success() {
        return Err(format!("kvas {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The number after `"key": ` in `json`.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\": "))? + key.len() + 4;
    json[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The RAM the kernel found: the sum of its `kvas: ram BASE size SIZE` lines.
fn ram_total(output: &str) -> Result<u64, String> {
    let sizes: Vec<u64> = output
        .lines()
        .filter_map(|l| {
            hex_after(l.trim_end_matches('\r'), "kvas: ram ").and_then(|(_, r)| hex_after(r, "size "))
        })
        .map(|(size, _)| size)
        .collect();
    if sizes.is_empty() {
        return Err("no `kvas: ram BASE size SIZE` line".into());
    }
    sizes
        .iter()
        .try_fold(0u64, |a, &s| a.checked_add(s))
        .ok_or(format!("`kvas: ram` sizes {sizes:#x?} overflow"))
}

/// The kernel's whole layout dump (`lowmem` included), `kvas: user space` and `kvas:
/// highmem` lines against `kvas layout` for its split, image size and the RAM it found.
fn layout_agrees(output: &str, split: &str) -> Result<(), String> {
    let size = format!("{:#x}", image_size(output).ok_or("no `kvas: image ... size` line")?);
    let ram = format!("{:#x}", ram_total(output)?);
    let common = [
        "layout",
        "--arch",
        "riscv32",
        "--mode",
        "sv32",
        "--split",
        split,
        "--kernel-size",
        &size,
        "--ram",
        &ram,
    ];
    let dump = kvas(&[&common[..], &["--format", "dump"]].concat())?;
    same_layout_block(output, &dump)
        .map_err(|e| format!("kvas {} --format dump disagrees: {e}", common.join(" ")))?;
    let json = kvas(&[&common[..], &["--format", "json"]].concat())?;
    let task = json_number(&json, "user_bytes").ok_or("kvas layout's JSON has no user_bytes")?;
    let high = json_number(&json, "highmem_bytes").ok_or("kvas layout's JSON has no highmem_bytes")?;
    // QEMU's rv32 hart implements the whole 9-bit ASID field (these boots cap nothing).
    let user = format!("kvas: user space 0x00000000-{:#010x} (TASK_SIZE {task:#x}) asid bits 9", task - 1);
    if !output.lines().any(|l| l.trim_end_matches('\r') == user) {
        return Err(format!("no line {user:?} (kvas layout --split {split})"));
    }
    let highmem =
        output.lines().find(|l| l.starts_with("kvas: highmem ")).ok_or("no `kvas: highmem` line")?;
    let ok = match high {
        0 => highmem.starts_with("kvas: highmem none"),
        h => highmem.split_whitespace().nth(4) == Some(&format!("{h:#x}")),
    };
    if !ok {
        return Err(format!("{highmem:?}, but kvas layout --ram {ram} says {high:#x} bytes of highmem"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{json_number, map_args, ram_total};
    use std::path::Path;

    const OUT: &str = "kvas: image 0xf0000000 loaded at 0x80400000 size 0x6d000\r\n\
        kvas: dtb 0xbfe00000 size 0x17d1\n\
        kvas: reserved 0x80000000 size 0x50000 no-map\n\
        kvas: reserved 0x80400000 size 0x6d000 reserved\n\
        kvas: built linear leaves 4K=1968 4M=957 tables 2\n";

    #[test]
    fn map_args_from_the_kernels_report() {
        let args = map_args(OUT, "4g4g", Path::new("q.dtb"), (0x21000, 0x7000)).unwrap().join(" ");
        assert_eq!(
            args,
            "map --arch riscv32 --mode sv32 --split 4g4g --dtb q.dtb --dtb-addr 0xbfe00000 --finisher 0x100000 \
             --load-addr 0x80400000 --kernel-size 0x6d000 --text-size 0x21000 --rodata-size 0x7000 \
             --reserve 0x80000000:0x50000:no-map --format built"
        );
        assert!(map_args("kvas: dtb 0x1 size 0x2\n", "3g", Path::new("q"), (0, 0))
            .unwrap_err()
            .contains("image"));
    }

    #[test]
    fn ram_is_the_sum_of_the_kernels_lines() {
        let two = "kvas: ram 0x80000000 size 0x20000000\r\nkvas: ram 0x100000000 size 0x40000000\n";
        assert_eq!(ram_total(two), Ok(0x6000_0000));
        assert_eq!(ram_total(OUT), Err("no `kvas: ram BASE size SIZE` line".into()));
        let huge = "kvas: ram 0x0 size 0xffffffffffffffff\nkvas: ram 0x0 size 0x1\n";
        assert!(ram_total(huge).unwrap_err().contains("overflow"));
    }

    #[test]
    fn json_numbers() {
        let j = "{\n  \"facts\": {\n    \"user_bytes\": 4026531840,\n    \"highmem_bytes\": 0,\n";
        assert_eq!(json_number(j, "user_bytes"), Some(4026531840));
        assert_eq!(json_number(j, "highmem_bytes"), Some(0));
        assert_eq!(json_number(j, "lowmem"), None);
    }
}

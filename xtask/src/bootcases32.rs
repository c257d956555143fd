//! The riscv32 kernel's boot tests (kernel/src/sv32): every `vmsplit=` with RAM sizes that
//! exercise lowmem only (512 MiB), highmem (1.5 GiB under 3g; 4 GiB under 4g4g, 260 MiB past
//! its 3836 MiB of lowmem), the 4G/4G lowmem (3 GiB, all lowmem) and the largest RAM
//! riscv32 virt takes (10 GiB: QEMU limits larger `-m` to it; RAM then ends at 0x300000000,
//! above 4 GiB, which Sv32's 34-bit physical addresses reach), and a bad `vmsplit=`. Each good boot's layout lines must equal
//! `kvas layout --arch riscv32 --mode sv32 --split S --kernel-size SIZE --format dump`'s,
//! and its `kvas: user space` and `kvas: highmem` lines the TASK_SIZE and highmem bytes of
//! `kvas layout ... --ram RAM --format json`.

use std::path::Path;

use crate::bootcases::{case, failing};
use crate::boottest::{image_size, same_layout_lines_with, Case};
use crate::qemu::{Boot, QEMU32};

/// RAM sizes per split: (QEMU's `-m`, bytes).
const RAM: &[(&str, u64)] = &[("512M", 512 << 20), ("10G", 10 << 30)];

/// A boot of the riscv32 kernel at `kernel`.
fn base(kernel: &Path) -> Boot {
    let mut b = Boot::new(kernel.to_path_buf());
    b.qemu = QEMU32;
    b
}

/// The riscv32 cases (names start with `riscv32-`).
pub fn cases(kernel: &Path) -> Vec<Case> {
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
        let lines =
            ["kvas: paging mode sv32", split_line.as_str(), ram.as_str(), "Virtual kernel memory layout:"];
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
        let split = split.to_string();
        c.built = Some(Box::new(move |out: &str| layout_agrees(out, &split, bytes)));
        v.push(c);
    }
    v.push(failing(
        &base,
        "riscv32-bad-vmsplit",
        |b| b.append = "vmsplit=3G".into(),
        "kvas: fatal: vmsplit=3G: not a split (expected 3g, 2g, 1g or 4g4g)",
    ));
    v
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

/// The kernel's layout dump, `kvas: user space` and `kvas: highmem` lines against `kvas
/// layout` for its split, image size and RAM.
fn layout_agrees(output: &str, split: &str, ram: u64) -> Result<(), String> {
    let size = format!("{:#x}", image_size(output).ok_or("no `kvas: image ... size` line")?);
    let common = ["layout", "--arch", "riscv32", "--mode", "sv32", "--split", split, "--kernel-size", &size];
    let dump = kvas(&[&common[..], &["--format", "dump"]].concat())?;
    same_layout_lines_with(output, &dump, &["kernel", "vmalloc", "pkmap", "fixmap"])
        .map_err(|e| format!("kvas layout --split {split} disagrees: {e}"))?;
    let ram_arg = format!("{ram:#x}");
    let json = kvas(&[&common[..], &["--ram", &ram_arg, "--format", "json"]].concat())?;
    let task = json_number(&json, "user_bytes").ok_or("kvas layout's JSON has no user_bytes")?;
    let high = json_number(&json, "highmem_bytes").ok_or("kvas layout's JSON has no highmem_bytes")?;
    let user = format!("kvas: user space 0x00000000-{:#010x} (TASK_SIZE {task:#x}) asid bits ", task - 1);
    if !output.lines().any(|l| l.starts_with(&user)) {
        return Err(format!("no line starting {user:?} (kvas layout --split {split})"));
    }
    let highmem =
        output.lines().find(|l| l.starts_with("kvas: highmem ")).ok_or("no `kvas: highmem` line")?;
    let ok = match high {
        0 => highmem.starts_with("kvas: highmem none"),
        h => highmem.split_whitespace().nth(4) == Some(&format!("{h:#x}")),
    };
    if !ok {
        return Err(format!("{highmem:?}, but kvas layout --ram {ram_arg} says {high:#x} bytes of highmem"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::json_number;

    #[test]
    fn json_numbers() {
        let j = "{\n  \"facts\": {\n    \"user_bytes\": 4026531840,\n    \"highmem_bytes\": 0,\n";
        assert_eq!(json_number(j, "user_bytes"), Some(4026531840));
        assert_eq!(json_number(j, "highmem_bytes"), Some(0));
        assert_eq!(json_number(j, "lowmem"), None);
    }
}

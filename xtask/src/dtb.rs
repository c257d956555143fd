//! Device trees for boot tests: QEMU's own (`-machine virt,dumpdtb=`), edited as source text
//! with `dtc` (device-tree-compiler), to make machines QEMU alone cannot: discontiguous RAM,
//! harts without `mmu-type`, no memory node, other cell sizes, reservations; and blobs broken
//! on purpose.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::qemu::Boot;

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e} (run `make deps`)"))?;
    if !out.status.success() {
        return Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}

/// The device tree QEMU would give `boot`, as source (the blob stays at `dir/qemu.dtb`).
pub fn dump(boot: &Boot, dir: &Path) -> Result<String, String> {
    let blob = dump_at(boot, dir.join("qemu.dtb"))?;
    let dts = run(Command::new("dtc").args(["-q", "-I", "dtb", "-O", "dts"]).arg(&blob), "dtc (dtb to dts)")?;
    String::from_utf8(dts).map_err(|e| format!("dtc printed non-UTF-8: {e}"))
}

/// Dumps the device tree QEMU would give `boot` to `dir/NAME.qemu.dtb`; returns its path.
pub fn dump_blob(boot: &Boot, dir: &Path, name: &str) -> Result<PathBuf, String> {
    dump_at(boot, dir.join(format!("{name}.qemu.dtb")))
}

/// Dumps the device tree QEMU would give `boot` to `blob` ([`dump_command`]); returns `blob`.
fn dump_at(boot: &Boot, blob: PathBuf) -> Result<PathBuf, String> {
    run(&mut dump_command(boot, &blob), "dumping QEMU's device tree")?;
    Ok(blob)
}

/// The QEMU command that writes the device tree it would give `boot` to `blob`: its memory,
/// harts, CPU and any `-object`/`-numa`/`-machine` options; not the command line, which QEMU
/// takes only with a kernel (`-append only allowed with -kernel option`) and which holds no
/// memory, nor devices, which QEMU's loader puts in RAM without a node.
fn dump_command(boot: &Boot, blob: &Path) -> Command {
    let mut c = Command::new(boot.qemu);
    c.arg("-machine").arg(format!("virt,dumpdtb={}", blob.display()));
    c.args(["-m", &boot.memory, "-smp", &boot.harts.to_string(), "-nographic"]);
    if let Some(cpu) = &boot.cpu {
        c.args(["-cpu", cpu]);
    }
    let mut extra = boot.extra.iter();
    while let Some(flag) = extra.next() {
        if let ("-object" | "-numa" | "-machine", Some(value)) = (flag.as_str(), extra.next()) {
            c.args([flag, value]);
        }
    }
    c
}

/// Compiles `dts` to `dir/name.dtb`.
pub fn compile(dts: &str, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let src = dir.join(format!("{name}.dts"));
    let out = dir.join(format!("{name}.dtb"));
    std::fs::write(&src, dts).map_err(|e| format!("writing {}: {e}", src.display()))?;
    run(
        Command::new("dtc").args(["-q", "-I", "dts", "-O", "dtb", "-o"]).arg(&out).arg(&src),
        "dtc (dts to dtb)",
    )?;
    Ok(out)
}

/// Replaces the node whose header line is `name {` (the whole block, to its `};`) with
/// `replacement` (nothing, to delete it).
pub fn replace_node(dts: &str, name: &str, replacement: &str) -> Result<String, String> {
    let header = format!("{name} {{");
    let start = dts.find(&header).ok_or_else(|| format!("no node {name} in the device tree"))?;
    let line_start = dts[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &dts[line_start..start];
    let close = format!("\n{indent}}};\n");
    let end =
        dts[start..].find(&close).ok_or_else(|| format!("node {name} is not closed"))? + start + close.len();
    Ok(format!("{}{}{}", &dts[..line_start], replacement, &dts[end..]))
}

/// Removes every `mmu-type` property.
pub fn without_mmu_type(dts: &str) -> String {
    dts.lines().filter(|l| !l.trim_start().starts_with("mmu-type")).map(|l| format!("{l}\n")).collect()
}

/// QEMU virt's tree with the root's `#address-cells` 3: the root's children with `reg`
/// (memory, fw-cfg, flash) get a leading zero cell per address.
pub fn with_three_address_cells(dts: &str) -> Result<String, String> {
    let root_cells = "/ {\n\t#address-cells = <0x02>;";
    if !dts.contains(root_cells) {
        return Err("the root has no #address-cells = <0x02>".into());
    }
    let mut out = dts.replacen(root_cells, "/ {\n\t#address-cells = <0x03>;", 1);
    for (old, new) in [
        ("reg = <0x00 0x80000000 0x00 ", "reg = <0x00 0x00 0x80000000 0x00 "),
        ("reg = <0x00 0x10100000 0x00 0x18>;", "reg = <0x00 0x00 0x10100000 0x00 0x18>;"),
        (
            "reg = <0x00 0x20000000 0x00 0x2000000 0x00 0x22000000 0x00 0x2000000>;",
            "reg = <0x00 0x00 0x20000000 0x00 0x2000000 0x00 0x00 0x22000000 0x00 0x2000000>;",
        ),
    ] {
        if !out.contains(old) {
            return Err(format!("no {old:?} in QEMU's tree"));
        }
        out = out.replacen(old, new, 1);
    }
    Ok(out)
}

/// Adds a `/reserved-memory` node (QEMU's tree has none) with one child `name` over
/// `[base, base + size)`, `no-map` if asked.
pub fn with_reserved(dts: &str, name: &str, base: u64, size: u64, no_map: bool) -> Result<String, String> {
    let at = dts.find("\tmemory@").ok_or("no memory node to put /reserved-memory before")?;
    let node = format!(
        "\treserved-memory {{\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\n\
         \t\t{name} {{\n\t\t\treg = <{:#x} {:#x} {:#x} {:#x}>;\n{}\t\t}};\n\t}};\n\n",
        base >> 32,
        base & 0xffff_ffff,
        size >> 32,
        size & 0xffff_ffff,
        if no_map { "\t\t\tno-map;\n" } else { "" }
    );
    Ok(format!("{}{node}{}", &dts[..at], &dts[at..]))
}

/// Breaks the blob's first node after the root: its `FDT_BEGIN_NODE` token becomes 5, which
/// no device tree has (the structural check must refuse it, and nothing may panic).
pub fn break_first_subnode(blob: &mut [u8]) -> Result<(), String> {
    let word = |b: &[u8], at: usize| b.get(at..at + 4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    let off_struct = word(blob, 8).ok_or("blob too short for a header")? as usize;
    // Skip the root's own token and name, then its properties, to the first FDT_BEGIN_NODE.
    let mut at = off_struct + 4;
    while blob.get(at).is_some_and(|&b| b != 0) {
        at += 1;
    }
    at = (at + 1 + 3) & !3;
    loop {
        match word(blob, at).ok_or("no node below the root")? {
            1 => {
                blob[at..at + 4].copy_from_slice(&5u32.to_be_bytes());
                return Ok(());
            }
            3 => {
                let len = word(blob, at + 4).ok_or("truncated property")? as usize;
                at = (at + 12 + len + 3) & !3;
            }
            4 => at += 4,
            t => return Err(format!("unexpected token {t} at {at:#x}")),
        }
    }
}

/// A memory node source for the bank `[base, base + size)`.
pub fn memory_node(base: u64, size: u64) -> String {
    format!(
        "\tmemory@{base:x} {{\n\t\tdevice_type = \"memory\";\n\t\treg = <{:#x} {:#x} {:#x} {:#x}>;\n\t}};\n",
        base >> 32,
        base & 0xffff_ffff,
        size >> 32,
        size & 0xffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DTS: &str = "/ {\n\tmemory@80000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x80000000 \
                       0x00 0x20000000>;\n\t};\n\n\tcpus {\n\t\tcpu@0 {\n\t\t\tmmu-type = \"riscv,sv57\";\n\t\t};\n\t};\n};\n";

    #[test]
    fn replaces_and_deletes_nodes() {
        let two = memory_node(0x8000_0000, 0x1000_0000) + &memory_node(0x1_0000_0000, 0x1000_0000);
        let out = replace_node(DTS, "memory@80000000", &two).unwrap();
        assert!(out.contains("memory@100000000 {"), "{out}");
        assert!(out.contains("reg = <0x1 0x0 0x0 0x10000000>;"), "{out}");
        assert!(!out.contains("0x20000000"), "{out}");
        let gone = replace_node(DTS, "memory@80000000", "").unwrap();
        assert!(!gone.contains("memory"), "{gone}");
        assert!(gone.contains("cpus {"), "{gone}");
        assert!(replace_node(DTS, "memory@90000000", "").unwrap_err().contains("no node"));
    }

    #[test]
    fn adds_a_no_map_reservation() {
        let out = with_reserved(DTS, "r@80200000", 0x8020_0000, 0x20_0000, true).unwrap();
        assert!(out.contains("reserved-memory {"), "{out}");
        assert!(out.contains("reg = <0x0 0x80200000 0x0 0x200000>;\n\t\t\tno-map;"), "{out}");
        assert!(out.find("reserved-memory").unwrap() < out.find("memory@80000000").unwrap());
    }

    #[test]
    fn the_dump_takes_the_machine_options_and_never_the_command_line() {
        let mut boot = Boot::new(PathBuf::from("kernel.elf"));
        boot.memory = "2G".into();
        boot.cpu = Some("rv64,sv48=on".into());
        boot.append = "kvas.dtb=0x88000000".into();
        boot.extra =
            ["-object", "memory-backend-ram,id=m0,size=1G", "-numa", "node,memdev=m0", "-device", "loader"]
                .map(String::from)
                .to_vec();
        let c = dump_command(&boot, Path::new("/tmp/x.dtb"));
        let args: Vec<&str> = c.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "-machine",
                "virt,dumpdtb=/tmp/x.dtb",
                "-m",
                "2G",
                "-smp",
                "1",
                "-nographic",
                "-cpu",
                "rv64,sv48=on",
                "-object",
                "memory-backend-ram,id=m0,size=1G",
                "-numa",
                "node,memdev=m0",
            ]
        );
    }

    #[test]
    fn strips_mmu_type() {
        let out = without_mmu_type(DTS);
        assert!(!out.contains("mmu-type"));
        assert!(out.contains("cpu@0 {"));
    }
}

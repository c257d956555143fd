//! `kvas map --arch riscv32 --mode sv32 --split 3g|2g|1g|4g4g`: the kvas riscv32 kernel's
//! address space for a memory map, built by `kvas::kspace::sv32::build_sv32` in simulated
//! RAM — the function the kernel runs — and reported: `--format built` prints the kernel's
//! own `kvas: built REGION leaves 4K=a 4M=b tables N` lines (the riscv32 boot tests compare
//! them), `table` adds the linear map's placement and highmem, `json` the DESIGN.md map contract
//! (crate::map_report::sv32_to_json).

use std::process::ExitCode;

use kvas::kspace::sv32::{build_sv32, Sv32Built, Sv32KernelSpec};
use kvas::kspace::{ImageSections, KernelImage};
use kvas::layout::riscv32::PHYS_LIMIT;
use kvas::layout::Vmsplit;
use kvas::phys::{MemoryMap, PhysRange};
use kvas::sim::Ram;
use kvas::PhysAddr;

use crate::args::fail;
use crate::map::{Args, Format, Rules};

/// Where the riscv32 kernel is loaded by default (kernel/linker32.ld).
const LOAD_ADDR: u64 = 0x8040_0000;

/// Builds and prints; 0 ok, 1 the tables could not be built, 2 bad arguments.
pub fn run(a: &Args) -> ExitCode {
    if a.mode != "sv32" {
        return fail(format!("unknown mode '{}' for riscv32 (expected sv32)", a.mode));
    }
    let mut refused = Vec::new();
    refused.extend(a.only.map(|_| "--only".to_string()));
    refused.extend(a.kfence.as_ref().map(|k| format!("--kfence {k}")));
    refused.extend(a.kaslr_offset.map(|o| format!("--kaslr-offset {o:#x}")));
    refused.extend(a.kernel_text.as_ref().map(|t| format!("--kernel-text {t}")));
    if a.rules == Rules::Linux {
        refused.push("--rules linux (Linux's riscv32 has no split and no highmem)".into());
    }
    if !refused.is_empty() {
        return fail(format!(
            "kvas map --arch riscv32 builds the kvas riscv32 kernel's space: it takes no {}",
            refused.join(", ")
        ));
    }
    let split = a.split.unwrap_or(Vmsplit::G3);
    let (mut map, blob_size) = match crate::map::memory_map(a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    crate::map::print_notices(&map);
    if let Err(e) = within_sv32(&map) {
        return fail(e);
    }
    let spec = match spec(a, split, blob_size) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Err(e) = spec.prepare(&mut map) {
        return fail(format!("--load-addr {:#x}: {e}", spec.image.load.as_u64()));
    }
    let ram = Ram::new();
    let built = match build_sv32(&spec, &map, &ram) {
        Ok(t) => t.built,
        Err(e) => {
            eprintln!("kvas: error: building the tables failed: {e}");
            return ExitCode::from(1);
        }
    };
    match a.format {
        Format::Built => {
            for line in built.lines() {
                outln!("{line}");
            }
        }
        Format::Table => out!("{}", table(split, &built)),
        Format::Json => outln!("{}", crate::map_report::sv32_to_json(split.name(), &built)),
    }
    ExitCode::SUCCESS
}

/// Refuses RAM that ends above Sv32's 34-bit physical addresses (a leaf's PPN has 22 bits):
/// no mapping could reach it, and `kvas layout --ram` refuses the same.
fn within_sv32(map: &MemoryMap) -> Result<(), String> {
    match map.banks().iter().find(|b| b.end() > PHYS_LIMIT) {
        Some(b) => Err(format!(
            "RAM [{:#x}, {:#x}) ends above the Sv32 physical address space (34 bits: below {PHYS_LIMIT:#x})",
            b.start_u64(),
            b.end()
        )),
        None => Ok(()),
    }
}

/// The space the arguments describe.
fn spec(a: &Args, split: Vmsplit, blob_size: Option<u64>) -> Result<Sv32KernelSpec, String> {
    let load_addr = a.load_addr.unwrap_or(LOAD_ADDR);
    let kernel_size = a.kernel_size.unwrap_or(2 << 20);
    let text_size = a.text_size.unwrap_or(1 << 20);
    let rodata_size = a.rodata_size.unwrap_or(0);
    let rodata_start = a.rodata_start.unwrap_or(text_size);
    let rodata_end =
        rodata_start.checked_add(rodata_size).filter(|&e| rodata_start >= text_size && e <= kernel_size);
    let Some(rodata_end) = rodata_end else {
        return Err(format!(
            "--text-size {text_size:#x}, --rodata-start {rodata_start:#x} and --rodata-size {rodata_size:#x} must follow each other inside --kernel-size {kernel_size:#x}"
        ));
    };
    let sections = ImageSections {
        rodata_start,
        rodata_end,
        data_start: rodata_end,
        ..ImageSections::contiguous(text_size, 0, kernel_size)
    };
    let load = PhysAddr::new(load_addr).map_err(|e| format!("--load-addr: {e}"))?;
    let mut spec = Sv32KernelSpec::new(split, KernelImage { load, sections })
        .map_err(|e| format!("--load-addr {load_addr:#x} --kernel-size {kernel_size:#x}: {e}"))?;
    if let Some(f) = a.finisher {
        spec.device = Some(PhysAddr::new(f).map_err(|e| format!("--finisher: {e}"))?);
    }
    if let (Some(pa), Some(size)) = (a.dtb_addr, blob_size) {
        spec.dtb = Some(PhysRange::new(pa, size).map_err(|e| format!("--dtb-addr: {e}"))?);
    }
    Ok(spec)
}

fn table(split: Vmsplit, b: &Sv32Built) -> String {
    let mut s = format!("riscv32 sv32, vmsplit={} (the kvas riscv32 kernel)\n", split.name());
    for line in b.lines() {
        s += &format!("{line}\n");
    }
    let lm = &b.linear;
    s += &format!(
        "table pages {}\nlowmem {:#x} bytes at {:#x} (physical base {:#x})\n",
        b.pt_pages,
        lm.mapped_bytes,
        lm.page_offset.as_u64(),
        lm.base.as_u64()
    );
    s += &match lm.capped {
        Some(h) => format!("highmem {:#x} bytes ({h}): reached through kmap slots\n", lm.capped_bytes),
        None => "highmem none\n".to_string(),
    };
    s
}

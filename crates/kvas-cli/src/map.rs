//! `kvas map`: the page tables a kvas kernel would build for a memory map,
//! built in simulated RAM and counted (table pages, leaves by size).
//!
//! The memory map comes from `--mem BASE:SIZE,...` or a device tree (`--dtb`),
//! with `--reserve BASE:SIZE[:KIND],...` on top (kind `no-map` by default).
//! Frames come from the map's free RAM, as at boot. By default it builds what
//! the kvas kernel builds (`kvas::linear::report::MapReport::build_kernel`): the
//! image at `--load-addr` (`--kernel-size`, the first `--text-size` bytes RX),
//! the fixmap's window slot, the linear map and the pinned tables below the root
//! for vmalloc and the modules window; `--only linear` builds the linear map alone.

use std::process::ExitCode;

use clap::ValueEnum;
use kvas::arch::riscv::Mode;
use kvas::linear::report::{KernelImage, MapReport};
use kvas::linear::LinearConfig;
use kvas::phys::{DeviceTree, MemoryMap, PhysRange};

use crate::args::{fail, parse_size, Arch};

/// Output format of `kvas map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns: bytes and leaves per region, then table pages.
    Table,
    /// One JSON object (the contract in DESIGN.md).
    Json,
}

/// Which regions to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Only {
    /// The linear map of all RAM alone.
    Linear,
}

/// Whose rules place the linear map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Rules {
    /// kvas: base rounded to the largest leaf, every leaf size the mode has.
    Kvas,
    /// Linux: base rounded to 2 MiB, best_map_size's largest leaf (2M/1G/512G).
    Linux,
}

/// `kvas map` arguments.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("memory").required(true).args(["mem", "dtb"])))]
pub struct Args {
    /// Architecture: riscv64, x86_64 or arm64 (the last two: the direct map only).
    #[arg(long, value_enum, default_value = "riscv64")]
    pub arch: Arch,
    /// Paging mode: sv39, sv48 or sv57.
    #[arg(long)]
    pub mode: String,
    /// RAM banks: BASE:SIZE[,BASE:SIZE...] (0x hex or decimal, K/M/G/T/P suffixes).
    #[arg(long, value_name = "BASE:SIZE,...")]
    pub mem: Option<String>,
    /// A flattened device tree to take RAM and reservations from.
    #[arg(long, value_name = "FILE")]
    pub dtb: Option<std::path::PathBuf>,
    /// Reserved ranges: BASE:SIZE[:no-map|reserved|reusable],... (no-map by default).
    #[arg(long, value_name = "BASE:SIZE,...")]
    pub reserve: Option<String>,
    /// Kernel text (BASE:SIZE): its linear alias is mapped read-only.
    #[arg(long, value_name = "BASE:SIZE")]
    pub kernel_text: Option<String>,
    /// Build only these regions.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// Where the kernel image is loaded (without --only).
    #[arg(long, value_name = "ADDR", value_parser = parse_size, default_value = "0x80200000")]
    pub load_addr: u64,
    /// The kernel image's size in bytes (without --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "2M")]
    pub kernel_size: u64,
    /// Bytes of text at the start of the image, mapped RX; the rest RW (without --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "1M")]
    pub text_size: u64,
    /// Whose rules place the linear map (base and largest leaf).
    #[arg(long, value_enum, default_value = "kvas")]
    pub rules: Rules,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Builds and prints; 0 ok, 1 the tables could not be built, 2 bad arguments.
pub fn run(a: &Args) -> ExitCode {
    if a.arch != Arch::Riscv64 {
        return crate::map_other::run(a);
    }
    let (mode, map, cfg) = match inputs(a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let built = match a.only {
        Some(Only::Linear) => MapReport::build(mode, &map, &cfg),
        None => {
            let load = match kvas::PhysAddr::new(a.load_addr) {
                Ok(p) => p,
                Err(e) => return fail(format!("--load-addr: {e}")),
            };
            let image = KernelImage { load, text: a.text_size, size: a.kernel_size };
            MapReport::build_kernel(mode, &map, &cfg, &image)
        }
    };
    let report = match built {
        Ok(r) => r,
        // The image's own placement is an argument, not a build failure.
        Err(e @ (kvas::Error::InvalidOption { .. } | kvas::Error::Misaligned { .. })) => {
            return fail(e.to_string())
        }
        Err(e) => {
            eprintln!("kvas: error: building the tables failed: {e}");
            return ExitCode::from(1);
        }
    };
    for w in &report.warnings {
        eprintln!("kvas: warning: {w}");
    }
    match a.format {
        Format::Table => out!("{}", report.to_table()),
        Format::Json => outln!("{}", report.to_json()),
    }
    ExitCode::SUCCESS
}

/// The mode, memory map and linear-map configuration the arguments describe.
pub fn inputs(a: &Args) -> Result<(Mode, MemoryMap, LinearConfig), String> {
    if a.arch != Arch::Riscv64 {
        return Err(format!("kvas map supports --arch riscv64 only, not {}", a.arch.name()));
    }
    let mode = Mode::from_name(&a.mode)
        .ok_or_else(|| format!("unknown mode '{}' for riscv64 (expected sv39, sv48, sv57)", a.mode))?;
    let mut map = match (&a.mem, &a.dtb) {
        (Some(text), None) => MemoryMap::from_text(text).map_err(|e| format!("--mem: {e}"))?,
        (None, Some(path)) => {
            let blob = std::fs::read(path).map_err(|e| format!("--dtb {}: {e}", path.display()))?;
            DeviceTree::parse(&blob, None).map_err(|e| format!("--dtb {}: {e}", path.display()))?.map
        }
        _ => return Err("give exactly one of --mem and --dtb".into()),
    };
    if let Some(text) = &a.reserve {
        map.reserve_text(text).map_err(|e| format!("--reserve: {e}"))?;
    }
    let mut cfg = match a.rules {
        Rules::Kvas => LinearConfig::riscv(mode),
        Rules::Linux => LinearConfig::riscv_linux(mode),
    };
    if let Some(text) = &a.kernel_text {
        let mut text_range = None;
        kvas::phys::text::parse_list(text, |entry, e| {
            if entry > 1 || e.kind.is_some() {
                return Err(kvas::Error::BadMemSpec { entry, reason: "expected one BASE:SIZE" });
            }
            text_range = Some(PhysRange::new(e.base, e.size)?);
            Ok(())
        })
        .map_err(|e| format!("--kernel-text: {e}"))?;
        cfg.kernel_text = text_range;
    }
    Ok((mode, map, cfg))
}

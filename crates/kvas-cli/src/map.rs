//! `kvas map`: the page tables a kernel builds for a memory map, built in
//! simulated RAM by the same function the kvas kernel calls
//! ([`kvas::kspace::build`]) and counted (table pages, leaves by size).
//!
//! The memory map comes from `--mem BASE:SIZE,...` or a device tree (`--dtb`),
//! with `--reserve BASE:SIZE[:KIND],...` on top (kind `no-map` by default).
//! Frames come from the map's free RAM inside the linear window, as at boot. By
//! default it builds the kernel's final tables ([`KernelSpec::new`]): the image
//! at `--load-addr` (`--kernel-size`; the first `--text-size` bytes RX, the next
//! `--rodata-size` R, the rest RW), the fixmap (window slot, `--finisher`'s
//! page, the DTB window for `--dtb-addr`), the linear map (text and rodata
//! aliases read-only) and the pinned tables for vmalloc and the modules window;
//! `--only linear` builds the linear map alone. `--rules linux` builds what
//! Linux builds instead (image in whole 2 MiB steps, Linux's linear map, a
//! KFENCE pool). `--format built` prints the kernel's `kvas: built ...` lines.
//!
//! A linear map whose tables would not fit the simulator ([`SIM_MAX_TABLES`],
//! [`SIM_MAX_LEAVES`]) is counted instead of built ([`kvas::kspace::count_linear`]),
//! with a note on stderr: no input takes memory proportional to its leaves.

use std::process::ExitCode;

use clap::ValueEnum;
use kvas::arch::riscv::Mode;
use kvas::kspace::{self, ImageSections, KernelImage, KernelSpec, Kfence, Plan, Rules as SpecRules};
use kvas::linear::LinearConfig;
use kvas::phys::{DeviceTree, MemoryMap, PhysRange};
use kvas::sim::Ram;
use kvas::{Error, PhysAddr};

use crate::args::{fail, parse_size, Arch};
use crate::map_report;

/// The most linear-map table pages `kvas map` builds in simulated RAM (64 MiB);
/// beyond, it counts them.
pub const SIM_MAX_TABLES: u64 = 1 << 14;
/// The most linear-map leaves `kvas map` builds in simulated RAM; beyond, it counts them.
pub const SIM_MAX_LEAVES: u64 = 1 << 22;

/// Output format of `kvas map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns: bytes, leaves and tables per region, then table pages.
    Table,
    /// One JSON object (the contract in DESIGN.md).
    Json,
    /// The kernel's serial lines, `kvas: built REGION leaves 4K=a ... tables N`.
    Built,
}

/// Which regions to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Only {
    /// The linear map of all RAM alone.
    Linear,
}

/// Whose rules place the linear map and the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Rules {
    /// kvas: base rounded to the largest leaf, every leaf size the mode has; the image W^X by section.
    Kvas,
    /// Linux: base rounded to 2 MiB, best_map_size's largest leaf (2M/1G/512G);
    /// the image in whole 2 MiB steps; a KFENCE pool in 4 KiB pages.
    Linux,
}

/// `kvas map` arguments.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("memory").required(true).args(["mem", "dtb"])))]
pub struct Args {
    /// Architecture (riscv64 only, for now).
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
    /// Where the --dtb blob lay in physical memory: its pages are reserved and
    /// the fixmap's DTB window maps it, as the kernel does.
    #[arg(long, value_name = "ADDR", value_parser = parse_size, requires = "dtb")]
    pub dtb_addr: Option<u64>,
    /// The test finisher's physical address: the fixmap's device page maps it.
    #[arg(long, value_name = "ADDR", value_parser = parse_size)]
    pub finisher: Option<u64>,
    /// Reserved ranges: BASE:SIZE[:no-map|reserved|reusable],... (no-map by default).
    #[arg(long, value_name = "BASE:SIZE,...")]
    pub reserve: Option<String>,
    /// Kernel text (BASE:SIZE): its linear alias is mapped read-only (default: the image's).
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
    /// Bytes of text at the start of the image, mapped RX (without --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "1M")]
    pub text_size: u64,
    /// Bytes of rodata right after the text, mapped R, its linear alias R too;
    /// the rest of the image is data and bss, RW (without --only).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "0")]
    pub rodata_size: u64,
    /// Where rodata starts in the image (default: right after the text). Linux
    /// keeps its init data between the two (`__init_data_begin` to `__start_rodata`),
    /// mapped RW; the kvas kernel has no gap.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub rodata_start: Option<u64>,
    /// The KFENCE pool's physical address, or `off` (default: off with kvas
    /// rules; with linux rules where Linux's top-down memblock allocation puts it).
    #[arg(long, value_name = "ADDR|off")]
    pub kfence: Option<String>,
    /// The image's KASLR offset above KERNEL_LINK_ADDR (a multiple of 2 MiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "0")]
    pub kaslr_offset: u64,
    /// Whose rules place the linear map (base and largest leaf) and the image.
    #[arg(long, value_enum, default_value = "kvas")]
    pub rules: Rules,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Builds and prints; 0 ok, 1 the tables could not be built, 2 bad arguments.
pub fn run(a: &Args) -> ExitCode {
    let (mode, mut map, blob_size) = match inputs(a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    // The memory map's adjustments, before anything can fail.
    for n in map.notices() {
        eprintln!("kvas: warning: {n}");
    }
    if map.dropped_notices() > 0 {
        eprintln!("kvas: warning: {} more memory-map notices not kept", map.dropped_notices());
    }
    let spec = match spec(a, mode, blob_size).and_then(|s| s.prepare(&mut map).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let built = match build(&spec, &map) {
        Ok(b) => b,
        Err(e @ (Error::InvalidOption { .. } | Error::Misaligned { .. })) => return fail(e),
        Err(e) => {
            eprintln!("kvas: error: building the tables failed: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(l) = built.linear {
        if let Some(c) = l.capped {
            eprintln!(
                "kvas: warning: physical memory overflows the linear map: {:#x} bytes of RAM in {c} not mapped",
                l.capped_bytes
            );
        }
    }
    match a.format {
        Format::Table => out!("{}", map_report::to_table(&built)),
        Format::Json => outln!("{}", map_report::to_json(&built)),
        Format::Built => out!("{}", map_report::to_built_lines(&built)),
    }
    ExitCode::SUCCESS
}

/// Builds `spec` in simulated RAM; counts the linear map instead when its tables
/// would exceed the simulator's bounds.
fn build(spec: &KernelSpec, map: &MemoryMap) -> Result<kspace::Built, Error> {
    let plan = Plan::new(spec, map)?;
    let mut frames = plan.frames();
    if frames.remaining() == 0 {
        return Err(Error::NoUsableRam { limit: plan.frame_limit() });
    }
    let ram = Ram::new();
    let too_big = match plan.linear() {
        Some((cfg, base)) => {
            let c = kspace::count_linear(map, &cfg, base, spec.mode.geometry())?;
            let leaves: u64 = c.leaves.iter().sum();
            // Counted, not built: the frames the tables would take must still exist.
            if c.tables > frames.remaining() {
                return Err(Error::OutOfFrames {
                    va: cfg.page_offset,
                    needed: c.tables,
                    got: frames.remaining(),
                });
            }
            (c.tables > SIM_MAX_TABLES || leaves > SIM_MAX_LEAVES).then_some((c.tables, leaves))
        }
        None => None,
    };
    let (_, built) = match too_big {
        None => plan.build(&ram, &mut frames)?,
        Some((tables, leaves)) => {
            eprintln!(
                "kvas: note: the linear map needs {tables} table pages and {leaves} leaves: counted, not built in simulated RAM"
            );
            plan.build_counting_linear(&ram, &mut frames)?
        }
    };
    Ok(built)
}

/// The one place `kvas map` refuses an architecture it cannot build for.
fn check_arch(a: &Args) -> Result<(), String> {
    match a.arch {
        Arch::Riscv64 => Ok(()),
        other => Err(format!("kvas map supports --arch riscv64 only, not {}", other.name())),
    }
}

/// The mode, the memory map and the device tree blob's size the arguments describe.
pub fn inputs(a: &Args) -> Result<(Mode, MemoryMap, Option<u64>), String> {
    check_arch(a)?;
    let mode = Mode::from_name(&a.mode)
        .ok_or_else(|| format!("unknown mode '{}' for riscv64 (expected sv39, sv48, sv57)", a.mode))?;
    let (mut map, blob_size) = match (&a.mem, &a.dtb) {
        (Some(text), None) => (MemoryMap::from_text(text).map_err(|e| format!("--mem: {e}"))?, None),
        (None, Some(path)) => {
            let blob = std::fs::read(path).map_err(|e| format!("--dtb {}: {e}", path.display()))?;
            let dt =
                DeviceTree::parse(&blob, a.dtb_addr).map_err(|e| format!("--dtb {}: {e}", path.display()))?;
            (dt.map, Some(dt.total_size as u64))
        }
        _ => return Err("give exactly one of --mem and --dtb".into()),
    };
    if let Some(text) = &a.reserve {
        map.reserve_text(text).map_err(|e| format!("--reserve: {e}"))?;
    }
    Ok((mode, map, blob_size))
}

/// The address space the arguments describe.
fn spec(a: &Args, mode: Mode, blob_size: Option<u64>) -> Result<KernelSpec, String> {
    let rules = match a.rules {
        Rules::Kvas => SpecRules::Kvas,
        Rules::Linux => SpecRules::Linux,
    };
    let mut spec = match a.only {
        Some(Only::Linear) => {
            let cfg = match rules {
                SpecRules::Kvas => LinearConfig::riscv(mode),
                SpecRules::Linux => LinearConfig::riscv_linux(mode),
            };
            KernelSpec::linear_only(mode, rules, cfg).map_err(|e| e.to_string())?
        }
        None => {
            let load = PhysAddr::new(a.load_addr).map_err(|e| format!("--load-addr: {e}"))?;
            let rodata_start = a.rodata_start.unwrap_or(a.text_size);
            if rodata_start < a.text_size {
                return Err(format!(
                    "--rodata-start {rodata_start:#x} lies inside the text (--text-size {:#x})",
                    a.text_size
                ));
            }
            let end = rodata_start.checked_add(a.rodata_size).filter(|&e| e <= a.kernel_size);
            let Some(rodata_end) = end else {
                return Err(format!(
                    "--text-size {:#x} (or --rodata-start {rodata_start:#x}) plus --rodata-size {:#x} exceed --kernel-size {:#x}",
                    a.text_size, a.rodata_size, a.kernel_size
                ));
            };
            let sections = ImageSections {
                rodata_start,
                rodata_end,
                data_start: rodata_end,
                ..ImageSections::contiguous(a.text_size, 0, a.kernel_size)
            };
            let image = KernelImage { load, sections };
            let mut spec = KernelSpec::new(mode, rules, image)
                .and_then(|s| s.with_kaslr_offset(a.kaslr_offset))
                .map_err(|e| format!("{e}"))?;
            if let Some(f) = a.finisher {
                spec.fixmap.device = Some(PhysAddr::new(f).map_err(|e| format!("--finisher: {e}"))?);
            }
            if let (Some(pa), Some(size)) = (a.dtb_addr, blob_size) {
                spec.fixmap.dtb = Some(PhysRange::new(pa, size).map_err(|e| format!("--dtb-addr: {e}"))?);
            }
            spec
        }
    };
    if let Some(text) = &a.kfence {
        spec.kfence = if text == "off" {
            Kfence::Off
        } else {
            let pa = parse_size(text).map_err(|e| format!("--kfence: {e}"))?;
            Kfence::At(PhysRange::new(pa, kspace::KFENCE_POOL_SIZE).map_err(|e| format!("--kfence: {e}"))?)
        };
    }
    if let Some(text) = &a.kernel_text {
        let mut text_range = None;
        kvas::phys::text::parse_list(text, |entry, e| {
            if entry > 1 || e.kind.is_some() {
                return Err(Error::BadMemSpec { entry, reason: "expected one BASE:SIZE" });
            }
            text_range = Some(PhysRange::new(e.base, e.size)?);
            Ok(())
        })
        .map_err(|e| format!("--kernel-text: {e}"))?;
        if let Some(cfg) = spec.linear.as_mut() {
            cfg.kernel_text = text_range;
        }
    }
    Ok(spec)
}

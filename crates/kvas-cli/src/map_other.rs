//! `kvas map --arch x86_64|arm64`: the direct map (x86-64 `page_offset_base`)
//! or the linear region (arm64, a `TTBR1` table) for a memory map, built by the
//! engine in simulated RAM with the architecture's own table format, and counted.
//!
//! Only that one region is built (`--only linear` is implied; the kernel-image
//! options belong to the riscv64 kernel's builder). `--rules kvas` picks the
//! base that leaves the most memory and every leaf size the mode has;
//! `--rules linux` reproduces Linux (x86: physical 0 at `PAGE_OFFSET`, the ISA
//! range mapped whatever it holds, 1 GiB pages wherever the aligned gigabyte is
//! all RAM; arm64: `memstart_addr` rounded to 1 GiB, and `rodata=full`'s 4 KiB
//! pages, with the `rodata=on` block count given beside it). See
//! `kvas::linear::direct`.

use std::process::ExitCode;

use kvas::arch::aarch64::{self, Aarch64, Range};
use kvas::arch::x86_64::{self, X86_64};
use kvas::linear::direct::{DirectMap, Rules};
use kvas::linear::LinearMap;
use kvas::paging::{Geometry, PageTable, TableFormat, TableStats};
use kvas::phys::{MemoryMap, PhysRange};
use kvas::sim::{Ram, TrackingAllocator};
use kvas::sizes::SZ_64G;
use kvas::{Error, PageSize, PhysAddr};

use crate::args::{fail, Arch};
use crate::map::{Args, Format, Rules as CliRules};
use crate::map_report;

/// The most RAM `--rules linux` may map with 4 KiB pages in simulation (64 GiB:
/// 16 Mi leaves in 32 Ki tables).
const MAX_PAGE_MAPPED: u64 = SZ_64G;

/// What one build produced.
struct Built {
    stats: TableStats,
    lm: LinearMap,
    geometry: Geometry,
}

/// Builds and prints; 0 ok, 1 the tables could not be built, 2 bad arguments.
pub fn run(a: &Args) -> ExitCode {
    if a.arch == Arch::Riscv32 {
        return crate::map_riscv32::run(a);
    }
    if matches!(a.format, Format::Built) {
        return fail(format!(
            "--format built prints the kvas riscv64 kernel's `kvas: built` lines: not for --arch {}",
            a.arch.name()
        ));
    }
    // The riscv64 kernel's image, fixmap and KFENCE options: refused, not ignored.
    let mut given = crate::map::image_options(a);
    given.extend(a.dtb_addr.map(|v| format!("--dtb-addr {v:#x}")));
    given.extend(a.kfence.as_ref().map(|k| format!("--kfence {k}")));
    if !given.is_empty() {
        return fail(format!(
            "kvas map --arch {} builds the linear map alone, so it takes no {}",
            a.arch.name(),
            given.join(", ")
        ));
    }
    let (map, text) = match memory(a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let rules = match a.rules {
        CliRules::Kvas => Rules::Kvas,
        CliRules::Linux => Rules::LINUX,
    };
    let (mode, built, extra) = match a.arch {
        Arch::X86_64 => {
            let Some(mode) = x86_64::Mode::from_name(&a.mode) else {
                return fail(format!("unknown mode '{}' for x86_64 (expected 4level, 5level)", a.mode));
            };
            let built =
                DirectMap::x86_64(mode, &map, rules).and_then(|dm| build(X86_64::new(mode), dm, &map, text));
            (mode.name(), built, None)
        }
        Arch::Arm64 => {
            let Some(mode) = aarch64::Mode::from_name(&a.mode) else {
                return fail(format!("unknown mode '{}' for arm64 (expected 4k-39, 4k-48, 4k-52)", a.mode));
            };
            let format = Aarch64::new(mode, Range::Ttbr1);
            let built = DirectMap::arm64(mode, &map, rules).and_then(|dm| build(format, dm, &map, text));
            // Linux with rodata=on instead of full: block mappings.
            let extra = (rules == Rules::LINUX).then(|| {
                let on = Rules::Linux { gbpages: true, rodata_full: false };
                DirectMap::arm64(mode, &map, on).and_then(|dm| build(format, dm, &map, text))
            });
            (mode.name(), built, extra)
        }
        other => {
            return fail(format!(
                "kvas map supports --arch riscv64, riscv32, x86_64 and arm64, not {}",
                other.name()
            ))
        }
    };
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kvas: error: building the tables failed: {e}");
            return ExitCode::from(1);
        }
    };
    if built.lm.capped_bytes > 0 {
        eprintln!(
            "kvas: warning: physical memory overflows the direct map: {:#x} bytes not mapped",
            built.lm.capped_bytes
        );
    }
    match a.format {
        Format::Json => outln!(
            "{}",
            map_report::linear_only_to_json(a.arch.name(), mode, built.geometry, &built.stats, &built.lm)
        ),
        Format::Table => {
            out!("{}", table(a.arch.name(), mode, a.rules, &built));
            match extra {
                Some(Ok(on)) => outln!(
                    "with rodata=on (block mappings): leaves {}, table pages {}",
                    leaves_text(&on),
                    on.stats.tables
                ),
                Some(Err(e)) => outln!("with rodata=on: {e}"),
                None => {}
            }
        }
        Format::Built => {} // refused above
    }
    ExitCode::SUCCESS
}

/// The memory map (its notices printed, as for riscv64) and the kernel text
/// the arguments describe.
fn memory(a: &Args) -> Result<(MemoryMap, Option<PhysRange>), String> {
    let (map, _) = crate::map::memory_map(a)?;
    crate::map::print_notices(&map);
    let text = crate::map::kernel_text(a, &map)?;
    Ok((map, text))
}

/// Builds `dm` with `format` in fresh simulated RAM.
fn build<F: TableFormat>(
    format: F,
    dm: DirectMap,
    map: &MemoryMap,
    text: Option<PhysRange>,
) -> Result<Built, Error> {
    if dm.max_leaf == PageSize::Size4K {
        let bytes: u64 = map.mappable().map(|r| r.size()).sum();
        if bytes > MAX_PAGE_MAPPED {
            return Err(Error::InvalidOption {
                option: "mappable RAM (bytes)",
                value: bytes,
                reason: "more than 64 GiB in 4 KiB pages is too many to simulate (try --rules kvas)",
            });
        }
    }
    let ram = Ram::new();
    // Table frames from a range below 2^48 that no real map here describes.
    let mut frames = TrackingAllocator::new(PhysAddr::new(0xf000_0000_0000)?, 1 << 40)?;
    let mut pt = PageTable::new(format, &ram, &mut frames)?;
    let (lm, flush) = dm.build(&mut pt, map, text, &mut frames)?;
    flush.ignore(); // simulated: no TLB
    Ok(Built { stats: pt.stats()?, lm, geometry: format.geometry() })
}

fn leaves_text(b: &Built) -> String {
    let items: Vec<String> = b
        .geometry
        .page_sizes()
        .map(|s| format!("{} {}", s.name(), b.stats.leaves[s.level() as usize]))
        .collect();
    items.join(", ")
}

fn table(arch: &str, mode: &str, rules: CliRules, b: &Built) -> String {
    let rules = match rules {
        CliRules::Kvas => "kvas",
        CliRules::Linux => "linux",
    };
    let mut out = format!(
        "{arch} {mode} ({rules} rules): PAGE_OFFSET {:#018x} maps physical {:#x} (direct map only)\n",
        b.lm.page_offset.as_u64(),
        b.lm.base.as_u64()
    );
    let mut header = format!("{:<8} {:>20}", "region", "bytes");
    let mut row = format!("{:<8} {:>#20x}", "linear", b.lm.mapped_bytes);
    for s in b.geometry.page_sizes() {
        header += &format!(" {:>8}", s.name());
        row += &format!(" {:>8}", b.stats.leaves[s.level() as usize]);
    }
    out += &format!("{header}\n{row}\n");
    out += &format!("table pages: {} (root included)\n", b.stats.tables);
    out
}

//! How `kvas map` prints a [`Built`]: the DESIGN.md JSON contract (serde), an
//! aligned table, or the kernel's own `kvas: built ...` lines; and the same
//! contract, through the same serde types, for a table holding a linear map
//! alone (`--arch x86_64|arm64`, [`linear_only_to_json`]) and for the riscv32
//! kernel's Sv32 space ([`sv32_to_json`]).

use std::fmt::Write as _;

use kvas::kspace::sv32::Sv32Built;
use kvas::kspace::{Built, BuiltRegion, RegionKind};
use kvas::linear::{BaseChoice, LinearMap};
use kvas::paging::{Geometry, TableStats};
use kvas::PageSize;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Leaves by size, as `{ "4K": a, "2M": b, ... }` over the mode's leaf sizes.
struct Leaves {
    geometry: Geometry,
    counts: [u64; Geometry::MAX_LEVELS],
}

impl Serialize for Leaves {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sizes: Vec<PageSize> = self.geometry.page_sizes().collect();
        let mut m = s.serialize_map(Some(sizes.len()))?;
        for size in sizes {
            m.serialize_entry(size.name(), &self.counts[size.level() as usize])?;
        }
        m.end()
    }
}

/// One region of the contract's `regions` array.
#[derive(serde::Serialize)]
struct RegionJson {
    name: &'static str,
    leaves: Leaves,
    bytes: u64,
    /// Table pages the region's step added (see `BuiltRegion::tables`;
    /// riscv64, whose whole kernel space is built, only).
    #[serde(skip_serializing_if = "Option::is_none")]
    tables: Option<u64>,
    /// The region's window (riscv64 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_offset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phys_base: Option<String>,
    /// Linux's `phys_ram_base` for the same map (the linear region only).
    #[serde(skip_serializing_if = "Option::is_none")]
    linux_phys_base: Option<String>,
    /// How the base was chosen, in words: kept Linux's, or what moving it saves.
    #[serde(skip_serializing_if = "Option::is_none")]
    base_choice: Option<String>,
    /// Leaves and table pages the move saves over Linux's base (0 when kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    saved_leaves: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    saved_tables: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capped_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kfence: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    counted: bool,
}

impl RegionJson {
    /// A region with its name, leaves and bytes, nothing else.
    fn new(name: &'static str, leaves: Leaves, bytes: u64) -> Self {
        RegionJson {
            name,
            leaves,
            bytes,
            tables: None,
            start: None,
            size: None,
            page_offset: None,
            phys_base: None,
            linux_phys_base: None,
            base_choice: None,
            saved_leaves: None,
            saved_tables: None,
            capped_bytes: None,
            kfence: None,
            counted: false,
        }
    }

    /// The linear map's placement: where it starts, what it maps and what it leaves out.
    fn with_placement(self, lm: &LinearMap) -> Self {
        RegionJson {
            page_offset: Some(format!("{:#018x}", lm.page_offset.as_u64())),
            phys_base: Some(hex(lm.base.as_u64())),
            capped_bytes: Some(lm.capped_bytes),
            ..self
        }
    }
}

/// The contract's object: mode, pt_pages, leaves, mapped_bytes, regions
/// (and, for the architectures other than riscv64, `arch` first; riscv32's
/// split, lowmem and highmem after `mode`).
#[derive(serde::Serialize)]
struct MapJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    arch: Option<&'static str>,
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    split: Option<&'static str>,
    pt_pages: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lowmem_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    highmem_bytes: Option<u64>,
    leaves: Leaves,
    mapped_bytes: u64,
    regions: Vec<RegionJson>,
}

impl MapJson {
    fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn hex(x: u64) -> String {
    format!("{x:#x}")
}

fn region_json(b: &Built, r: &BuiltRegion, choice: Option<&BaseChoice>) -> RegionJson {
    let geometry = b.mode.geometry();
    let linear = if r.kind == RegionKind::Linear { b.linear } else { None };
    let choice = choice.filter(|_| linear.is_some());
    let region = RegionJson {
        tables: Some(r.tables),
        start: Some(format!("{:#018x}", r.range.start().as_u64())),
        size: Some(r.range.size()),
        linux_phys_base: choice.map(|c| hex(c.linux.base)),
        base_choice: choice.map(ToString::to_string),
        saved_leaves: choice.map(BaseChoice::saved_leaves),
        saved_tables: choice.map(BaseChoice::saved_tables),
        kfence: if r.kind == RegionKind::Linear { b.kfence.map(|k| hex(k.start_u64())) } else { None },
        counted: r.kind == RegionKind::Linear && b.linear_counted,
        ..RegionJson::new(r.kind.name(), Leaves { geometry, counts: r.leaves }, r.bytes())
    };
    match &linear {
        Some(lm) => region.with_placement(lm),
        None => region,
    }
}

/// The JSON object of the `kvas map` contract, on one line; the linear region
/// also says how its base was chosen (`choice`).
pub fn to_json(b: &Built, choice: Option<&BaseChoice>) -> String {
    let geometry = b.mode.geometry();
    MapJson {
        arch: None,
        mode: b.mode.name(),
        split: None,
        pt_pages: b.pt_pages,
        lowmem_bytes: None,
        highmem_bytes: None,
        leaves: Leaves { geometry, counts: b.leaves() },
        mapped_bytes: b.mapped_bytes(),
        regions: b.regions().iter().map(|r| region_json(b, r, choice)).collect(),
    }
    .to_line()
}

/// The contract's object for a table that holds the linear map alone (x86-64's
/// direct map, arm64's linear region): `arch` first, one `linear` region with
/// its placement, leaves by the format's sizes counted over the whole table.
pub fn linear_only_to_json(
    arch: &'static str,
    mode: &'static str,
    geometry: Geometry,
    stats: &TableStats,
    lm: &LinearMap,
) -> String {
    let leaves = || Leaves { geometry, counts: stats.leaves };
    MapJson {
        arch: Some(arch),
        mode,
        split: None,
        pt_pages: stats.tables,
        lowmem_bytes: None,
        highmem_bytes: None,
        leaves: leaves(),
        mapped_bytes: lm.mapped_bytes,
        regions: vec![RegionJson::new("linear", leaves(), lm.mapped_bytes).with_placement(lm)],
    }
    .to_line()
}

/// The contract's object for the riscv32 kernel's Sv32 space (`kvas map --arch riscv32`):
/// `arch`, `mode`, `split`, `pt_pages`, `lowmem_bytes` and `highmem_bytes` (the linear map's
/// mapped and capped bytes), `leaves` and `mapped_bytes` over every region, and per region
/// its `leaves` (`4K`, `4M`), `bytes` and `tables`.
pub fn sv32_to_json(split: &'static str, b: &Sv32Built) -> String {
    let geometry = kvas::arch::riscv32::GEOMETRY;
    let leaves = |two: [u64; 2]| {
        let mut counts = [0; Geometry::MAX_LEVELS];
        counts[..2].copy_from_slice(&two);
        Leaves { geometry, counts }
    };
    let bytes = |two: [u64; 2]| -> u64 {
        geometry.page_sizes().map(|size| two[size.level() as usize] * size.bytes()).sum()
    };
    let mut total = [0; 2];
    let regions = b
        .lines()
        .map(|l| {
            total[0] += l.built.leaves[0];
            total[1] += l.built.leaves[1];
            RegionJson {
                tables: Some(l.built.tables),
                ..RegionJson::new(l.region.name(), leaves(l.built.leaves), bytes(l.built.leaves))
            }
        })
        .collect();
    MapJson {
        arch: Some("riscv32"),
        mode: "sv32",
        split: Some(split),
        pt_pages: b.pt_pages,
        lowmem_bytes: Some(b.linear.mapped_bytes),
        highmem_bytes: Some(b.linear.capped_bytes),
        leaves: leaves(total),
        mapped_bytes: bytes(total),
        regions,
    }
    .to_line()
}

/// Aligned columns: bytes, leaves by size and tables per region, then the
/// totals; first, how the linear map's base was chosen (`choice`).
pub fn to_table(b: &Built, choice: Option<&BaseChoice>) -> String {
    let sizes: Vec<PageSize> = b.mode.geometry().page_sizes().collect();
    let mut out = String::new();
    if let Some(l) = b.linear {
        let _ = writeln!(
            out,
            "mode {}: PAGE_OFFSET {:#018x} maps physical {:#x}",
            b.mode.name(),
            l.page_offset.as_u64(),
            l.base.as_u64()
        );
    } else {
        let _ = writeln!(out, "mode {}", b.mode.name());
    }
    if let Some(c) = choice {
        let _ = writeln!(out, "linear map {c}");
    }
    let mut header = format!("{:<10} {:>20}", "region", "bytes");
    for s in &sizes {
        let _ = write!(header, " {:>8}", s.name());
    }
    let _ = writeln!(out, "{header} {:>7}", "tables");
    let mut row = |name: &str, bytes: u64, leaves: &[u64; Geometry::MAX_LEVELS], tables: u64| {
        let mut line = format!("{name:<10} {bytes:>#20x}");
        for s in &sizes {
            let _ = write!(line, " {:>8}", leaves[s.level() as usize]);
        }
        let _ = writeln!(out, "{line} {tables:>7}");
    };
    for r in b.regions() {
        row(r.kind.name(), r.bytes(), &r.leaves, r.tables);
    }
    row("total", b.mapped_bytes(), &b.leaves(), b.pt_pages);
    let _ = writeln!(out, "table pages: {} (root included)", b.pt_pages);
    if let Some(k) = b.kfence {
        let _ = writeln!(out, "kfence pool: {k} (4 KiB pages in the linear map)");
    }
    out
}

/// The kernel's serial lines, one per region, each ending in a newline.
pub fn to_built_lines(b: &Built) -> String {
    b.lines().map(|l| format!("{l}\n")).collect()
}

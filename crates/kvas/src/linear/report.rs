//! What `kvas map` prints: the linear map built in simulated RAM, counted.
//!
//! [`MapReport::build`] does what a kvas kernel would do at boot: it takes page
//! table frames from the memory map's free RAM with the
//! [`EarlyFrameAllocator`], builds the linear map with [`super::build`] in a
//! [`Ram`], and counts table pages and leaves. [`MapReport::to_json`] and
//! [`MapReport::to_table`] print it as the `kvas map` contract says (see
//! `DESIGN.md`).

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::addr::{PageSize, VirtAddr};
use crate::arch::riscv::{Mode, Riscv};
use crate::linear::{LinearConfig, LinearMap};
use crate::paging::{Geometry, PageTable};
use crate::phys::{EarlyFrameAllocator, MemoryMap};
use crate::sim::Ram;
use crate::Error;

/// Leaves and bytes of one region of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionReport {
    /// The region's id (`linear`).
    pub name: &'static str,
    /// Leaves by level (index 0 = 4 KiB).
    pub leaves: [u64; Geometry::MAX_LEVELS],
    /// Bytes the region's leaves map.
    pub bytes: u64,
}

/// The page tables built for a memory map, counted.
#[derive(Clone, Debug)]
pub struct MapReport {
    /// The paging mode.
    pub mode: Mode,
    /// Table pages, the root included.
    pub pt_pages: u64,
    /// Leaves by level over the whole table.
    pub leaves: [u64; Geometry::MAX_LEVELS],
    /// Bytes mapped over the whole table.
    pub mapped_bytes: u64,
    /// One entry per region built.
    pub regions: Vec<RegionReport>,
    /// The linear map's placement.
    pub linear: LinearMap,
    /// Warnings: the memory map's notices and the linear map's cap.
    pub warnings: Vec<String>,
}

impl MapReport {
    /// Builds the linear map of `map` for `mode` as `cfg` says, in simulated RAM.
    pub fn build(mode: Mode, map: &MemoryMap, cfg: &LinearConfig) -> Result<MapReport, Error> {
        let ram = Ram::new();
        let mut alloc = EarlyFrameAllocator::new(map);
        let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut alloc)?;
        let (linear, flush) = super::build(&mut pt, map, cfg, &mut alloc)?;
        flush.ignore(); // simulated: no TLB holds these entries
        let stats = pt.stats()?;
        let window_end = linear.page_offset.as_u64().wrapping_add(linear.size);
        let mut region = RegionReport { name: "linear", leaves: [0; Geometry::MAX_LEVELS], bytes: 0 };
        for m in pt.mappings() {
            let m = m?;
            let va = m.va.as_u64();
            if va >= linear.page_offset.as_u64() && va < window_end {
                region.leaves[m.size.level() as usize] += 1;
                region.bytes += m.size.bytes();
            }
        }
        let mut warnings: Vec<String> = map.notices().iter().map(|n| format!("{n}")).collect();
        if map.dropped_notices() > 0 {
            warnings.push(format!("{} more memory-map notices not kept", map.dropped_notices()));
        }
        if let Some(c) = linear.capped {
            warnings.push(format!(
                "physical memory overflows the linear map: {:#x} bytes of RAM in {c} not mapped",
                linear.capped_bytes
            ));
        }
        Ok(MapReport {
            mode,
            pt_pages: stats.tables,
            leaves: stats.leaves,
            mapped_bytes: stats.mapped_bytes(),
            regions: std::vec![region],
            linear,
            warnings,
        })
    }

    fn sizes(&self) -> impl Iterator<Item = PageSize> {
        self.mode.geometry().page_sizes()
    }

    fn leaves_json(&self, leaves: &[u64; Geometry::MAX_LEVELS]) -> String {
        let items: Vec<String> =
            self.sizes().map(|s| format!("\"{}\": {}", s.name(), leaves[s.level() as usize])).collect();
        format!("{{ {} }}", items.join(", "))
    }

    /// The contract's JSON object, on one line.
    pub fn to_json(&self) -> String {
        let regions: Vec<String> = self
            .regions
            .iter()
            .map(|r| {
                format!(
                    "{{ \"name\": \"{}\", \"leaves\": {}, \"bytes\": {}, \"page_offset\": \"{:#018x}\", \"phys_base\": \"{:#x}\", \"capped_bytes\": {} }}",
                    r.name,
                    self.leaves_json(&r.leaves),
                    r.bytes,
                    self.linear.page_offset.as_u64(),
                    self.linear.base.as_u64(),
                    self.linear.capped_bytes
                )
            })
            .collect();
        format!(
            "{{ \"mode\": \"{}\", \"pt_pages\": {}, \"leaves\": {}, \"mapped_bytes\": {}, \"regions\": [ {} ] }}",
            self.mode.name(),
            self.pt_pages,
            self.leaves_json(&self.leaves),
            self.mapped_bytes,
            regions.join(", ")
        )
    }

    /// A human-readable table (warnings not included: they go to stderr).
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let va = |x: VirtAddr| format!("{:#018x}", x.as_u64());
        out += &format!(
            "mode {}: PAGE_OFFSET {} maps physical {:#x}\n",
            self.mode.name(),
            va(self.linear.page_offset),
            self.linear.base.as_u64()
        );
        let mut header = format!("{:<8} {:>20}", "region", "bytes");
        for s in self.sizes() {
            header += &format!(" {:>8}", s.name());
        }
        out += &header;
        out.push('\n');
        let mut row = |name: &str, bytes: u64, leaves: &[u64; Geometry::MAX_LEVELS]| {
            let mut line = format!("{name:<8} {bytes:>#20x}");
            for s in self.sizes() {
                line += &format!(" {:>8}", leaves[s.level() as usize]);
            }
            out += &line;
            out.push('\n');
        };
        for r in &self.regions {
            row(r.name, r.bytes, &r.leaves);
        }
        row("total", self.mapped_bytes, &self.leaves);
        out += &format!("table pages: {} (root included)\n", self.pt_pages);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_follows_the_contract() {
        let map = MemoryMap::from_text("0x80000000:2G").unwrap();
        let r = MapReport::build(Mode::Sv48, &map, &LinearConfig::riscv(Mode::Sv48)).unwrap();
        let json = r.to_json();
        assert!(json.starts_with("{ \"mode\": \"sv48\", \"pt_pages\": 2, \"leaves\": { \"4K\": 0, \"2M\": 0, \"1G\": 2, \"512G\": 0 }, \"mapped_bytes\": 2147483648, \"regions\": [ { \"name\": \"linear\""), "{json}");
        let table = r.to_table();
        assert!(table.contains("table pages: 2 (root included)"), "{table}");
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn capped_ram_is_a_warning() {
        let map = MemoryMap::from_text("0x80000000:130G").unwrap();
        let r = MapReport::build(Mode::Sv39, &map, &LinearConfig::riscv(Mode::Sv39)).unwrap();
        assert_eq!(r.mapped_bytes, 128 << 30);
        assert_eq!(r.warnings.len(), 1);
        assert!(
            r.warnings[0].contains("0x80000000 bytes of RAM in [0x2080000000, 0x2100000000) not mapped"),
            "{:?}",
            r.warnings
        );
    }
}

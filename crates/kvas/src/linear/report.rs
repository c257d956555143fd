//! What `kvas map` prints: the page tables a kvas kernel builds, in simulated
//! RAM, counted.
//!
//! [`MapReport::build_kernel`] does what the kvas kernel does at boot
//! (`kernel/src/early.rs`, `meminit.rs`, `vmalloc.rs`): it takes page-table
//! frames from the memory map's free RAM with the [`EarlyFrameAllocator`] (the
//! image reserved), maps the kernel image at `KERNEL_LINK_ADDR` with W^X (text
//! RX, the rest RW, leaves up to 2 MiB), the fixmap's window slot, the linear
//! map with [`super::build`], and preallocates the pinned tables right below the
//! root for vmalloc and the modules window. [`MapReport::build`] builds the
//! linear map alone (`--only linear`). [`MapReport::to_json`] and
//! [`MapReport::to_table`] print the result as the `kvas map` contract says
//! (see `DESIGN.md`).

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::arch::riscv::{Mode, Riscv};
use crate::layout::riscv64::{Riscv64Layout, KERNEL_LINK_ADDR};
use crate::layout::Kasan;
use crate::linear::{LinearConfig, LinearMap};
use crate::paging::{Attrs, Geometry, PageTable};
use crate::phys::{EarlyFrameAllocator, MemoryMap, PhysRange, ReserveKind, ReservedBy};
use crate::sim::Ram;
use crate::Error;

/// Where in the fixmap the kernel keeps its window slot (`kernel/src/fixmap.rs`).
const FIXMAP_SLOT_OFFSET: u64 = 0x1000;

/// Leaves and bytes of one region of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionReport {
    /// The region's id (`kernel`, `fixmap`, `vmalloc`, `modules`, `linear`).
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

/// The kernel image that [`MapReport::build_kernel`] maps, as the kvas kernel
/// lays it out: text first, then everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// Where the image is loaded (4 KiB aligned; the kvas kernel needs 2 MiB).
    pub load: PhysAddr,
    /// Bytes of text at the start of the image (mapped RX, its linear alias RO).
    pub text: u64,
    /// Bytes of the whole image (the rest after the text is mapped RW).
    pub size: u64,
}

impl MapReport {
    /// Builds the linear map of `map` for `mode` as `cfg` says, alone, in
    /// simulated RAM (`kvas map --only linear`).
    pub fn build(mode: Mode, map: &MemoryMap, cfg: &LinearConfig) -> Result<MapReport, Error> {
        Self::build_with(mode, map, cfg, None)
    }

    /// Builds every table the kvas kernel builds at boot for `map` with `image`
    /// loaded: the image, the fixmap's window slot, the linear map, and the
    /// pinned tables below the root for vmalloc and the modules window.
    pub fn build_kernel(
        mode: Mode,
        map: &MemoryMap,
        cfg: &LinearConfig,
        image: &KernelImage,
    ) -> Result<MapReport, Error> {
        Self::build_with(mode, map, cfg, Some(image))
    }

    fn build_with(
        mode: Mode,
        map: &MemoryMap,
        cfg: &LinearConfig,
        image: Option<&KernelImage>,
    ) -> Result<MapReport, Error> {
        let ram = Ram::new();
        let mut map = map.clone();
        let mut cfg = *cfg;
        let layout = match image {
            Some(k) => Some(Self::prepare_image(mode, &mut map, &mut cfg, k)?),
            None => None,
        };
        let mut alloc = EarlyFrameAllocator::new(&map);
        let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut alloc)?;
        if let (Some(k), Some(layout)) = (image, &layout) {
            let link = VirtAddr::new(KERNEL_LINK_ADDR);
            pt.map_range(link, k.load, k.text, Attrs::KERNEL_RX, PageSize::Size2M, &mut alloc)?.ignore();
            let data =
                k.load.checked_add(k.text).ok_or(Error::PhysAddrTooWide { raw: u64::MAX, max_bits: 56 })?;
            let rest = k.size - k.text;
            let data_va = link.wrapping_add(k.text);
            pt.map_range(data_va, data, rest, Attrs::KERNEL_RW, PageSize::Size2M, &mut alloc)?.ignore();
            // The fixmap's window slot, first aliasing a page of the image (as the kernel does).
            let slot = VirtAddr::new(layout.fixmap().start() + FIXMAP_SLOT_OFFSET);
            pt.map(slot, k.load, PageSize::Size4K, Attrs::KERNEL_RW, &mut alloc)?.ignore();
        }
        let (linear, flush) = super::build(&mut pt, &map, &cfg, &mut alloc)?;
        flush.ignore(); // simulated: no TLB holds these entries
        let mut regions = Vec::new();
        if let Some(layout) = &layout {
            let level = mode.levels() - 2;
            for span in [layout.vmalloc(), layout.modules_window()] {
                pt.populate(VirtAddr::new(span.start()), span.size(), level, &mut alloc)?;
            }
            let image_size = image.map_or(0, |k| k.size);
            regions.push(("kernel", KERNEL_LINK_ADDR, image_size));
            regions.push(("fixmap", layout.fixmap().start(), layout.fixmap().size()));
            regions.push(("vmalloc", layout.vmalloc().start(), layout.vmalloc().size()));
            regions.push(("modules", layout.modules_window().start(), layout.modules_window().size()));
        }
        regions.push(("linear", linear.page_offset.as_u64(), linear.size));
        let stats = pt.stats()?;
        let mut counted: Vec<RegionReport> = regions
            .iter()
            .map(|&(name, _, _)| RegionReport { name, leaves: [0; Geometry::MAX_LEVELS], bytes: 0 })
            .collect();
        for m in pt.mappings() {
            let m = m?;
            let va = m.va.as_u64();
            let found = regions.iter().position(|&(_, start, size)| va >= start && va - start < size);
            if let Some(i) = found {
                counted[i].leaves[m.size.level() as usize] += 1;
                counted[i].bytes += m.size.bytes();
            }
        }
        // Regions in address order, as a layout lists them.
        let mut order: Vec<usize> = (0..regions.len()).collect();
        order.sort_by_key(|&i| regions[i].1);
        let regions = order.into_iter().map(|i| counted[i].clone()).collect();
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
            regions,
            linear,
            warnings,
        })
    }

    /// Checks `k`, reserves its frames in `map`, points `cfg`'s read-only text
    /// alias at its text (unless set), and plans the kernel's layout.
    fn prepare_image(
        mode: Mode,
        map: &mut MemoryMap,
        cfg: &mut LinearConfig,
        k: &KernelImage,
    ) -> Result<Riscv64Layout, Error> {
        for (what, value) in
            [("kernel load address", k.load.as_u64()), ("kernel size", k.size), ("text size", k.text)]
        {
            if value % PAGE_SIZE != 0 {
                return Err(Error::Misaligned { what, value, align: PAGE_SIZE });
            }
        }
        if k.text == 0 || k.text > k.size {
            return Err(Error::InvalidOption {
                option: "--text-size",
                value: k.text,
                reason: "must be more than 0 and at most the kernel size",
            });
        }
        let range = PhysRange::new(k.load.as_u64(), k.size)?;
        if !map.mappable().any(|r| r.start_u64() <= range.start_u64() && range.end() <= r.end()) {
            return Err(Error::InvalidOption {
                option: "--load-addr",
                value: k.load.as_u64(),
                reason: "the kernel image must lie in mappable RAM",
            });
        }
        map.reserve(range.start_u64(), range.size(), ReserveKind::Reserved, ReservedBy::Kernel)?;
        if cfg.kernel_text.is_none() {
            cfg.kernel_text = Some(PhysRange::new(k.load.as_u64(), k.text)?);
        }
        Riscv64Layout::from_image(mode, Kasan::None, KERNEL_LINK_ADDR, KERNEL_LINK_ADDR + k.size, None)
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
                let placement = if r.name == "linear" {
                    format!(
                        ", \"page_offset\": \"{:#018x}\", \"phys_base\": \"{:#x}\", \"capped_bytes\": {}",
                        self.linear.page_offset.as_u64(),
                        self.linear.base.as_u64(),
                        self.linear.capped_bytes
                    )
                } else {
                    String::new()
                };
                format!(
                    "{{ \"name\": \"{}\", \"leaves\": {}, \"bytes\": {}{placement} }}",
                    r.name,
                    self.leaves_json(&r.leaves),
                    r.bytes
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
    fn the_kernel_build_maps_what_the_kernel_maps() {
        let map = MemoryMap::from_text("0x80000000:2G").unwrap();
        let image =
            KernelImage { load: PhysAddr::new(0x8020_0000).unwrap(), text: 0x10_0000, size: 0x40_0000 };
        for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
            let cfg = LinearConfig::riscv(mode);
            let r = MapReport::build_kernel(mode, &map, &cfg, &image).unwrap();
            let names: Vec<&str> = r.regions.iter().map(|r| r.name).collect();
            assert_eq!(names, ["fixmap", "vmalloc", "linear", "modules", "kernel"], "{mode}");
            let region = |n: &str| r.regions.iter().find(|r| r.name == n).unwrap().clone();
            // Text 1 MiB of 4 KiB pages; data 3 MiB: 1 MiB of 4 KiB up to the 2 MiB
            // boundary (image at 0x80200000 = link + 0), then one 2 MiB leaf.
            assert_eq!(region("kernel").bytes, 0x40_0000, "{mode}");
            assert_eq!(region("kernel").leaves[..2], [512, 1], "{mode}");
            assert_eq!(region("fixmap").leaves[0], 1);
            assert_eq!((region("vmalloc").bytes, region("modules").bytes), (0, 0));
            // The linear map alone, plus the image path, the fixmap path and 64 + the
            // modules window's pinned tables below the root.
            let alone = MapReport::build(mode, &map, &cfg).unwrap();
            assert!(r.pt_pages > alone.pt_pages + 64, "{mode}: {} vs {}", r.pt_pages, alone.pt_pages);
            assert!(r.to_json().contains("{ \"name\": \"kernel\", \"leaves\": {"), "{}", r.to_json());
        }
    }

    #[test]
    fn a_kernel_outside_ram_or_misaligned_is_refused() {
        let map = MemoryMap::from_text("0x80000000:1G").unwrap();
        let cfg = LinearConfig::riscv(Mode::Sv48);
        let outside = KernelImage { load: PhysAddr::new(0x1_0000_0000).unwrap(), text: 0x1000, size: 0x2000 };
        assert!(matches!(
            MapReport::build_kernel(Mode::Sv48, &map, &cfg, &outside),
            Err(Error::InvalidOption { option: "--load-addr", .. })
        ));
        let odd = KernelImage { load: PhysAddr::new(0x8020_0800).unwrap(), text: 0x1000, size: 0x2000 };
        assert!(matches!(
            MapReport::build_kernel(Mode::Sv48, &map, &cfg, &odd),
            Err(Error::Misaligned { what: "kernel load address", .. })
        ));
        let text = KernelImage { load: PhysAddr::new(0x8020_0000).unwrap(), text: 0x3000, size: 0x2000 };
        assert!(matches!(
            MapReport::build_kernel(Mode::Sv48, &map, &cfg, &text),
            Err(Error::InvalidOption { option: "--text-size", .. })
        ));
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

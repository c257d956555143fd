//! The kvas riscv32 kernel's address space (Sv32), as data, built in one place: one
//! [`Sv32KernelSpec`] per `vmsplit=` ([`Vmsplit`]), turned into Sv32 tables by
//! [`build_sv32`] for a [`MemoryMap`] — by the kernel, and on the host in the simulator.
//!
//! The layout is [`crate::layout::riscv32_split`]'s (seed 001's shape). What it maps:
//!
//! ```text
//!  below 0xf0000000: the split's lowmem window                  region `linear`
//!      [PAGE_OFFSET, 0xf0000000): RAM from the linear base, 4 MiB megapages where
//!      the alignment allows, RW never X; the image's text and rodata aliases R only.
//!      Global, but under 4G/4G, where it overlaps the user half (linear_global).
//!      RAM beyond the window is highmem (LinearMap::capped): not mapped here.
//!  0xf0000000 KERNEL_LINK_ADDR: the image with W^X               region `kernel`
//!      text RX, rodata R, data+bss RW (4 KiB leaves, megapages where aligned)
//!  image end rounded to 4 MiB .. 0xff400000: vmalloc             region `vmalloc`
//!      one second-level table per 4 MiB, preallocated and pinned (no leaves)
//!  0xff400000 pkmap: 1024 kmap slots, one pinned table           region `pkmap`
//!  0xff800000 fixmap (8 MiB - 4 KiB): two pinned tables          region `fixmap`
//!      +0 device page (the finisher), +4 KiB the window slot, +8 KiB
//!      KMAP_LOCAL_SLOTS kmap_local slots (unmapped), 0xffc00000 the DTB window
//!      (513 4 KiB pages from the DTB's page), 0xfffff000 never mapped
//! ```
//!
//! Every root entry from 0xf0000000 up (the top 256 MiB, entries 960..1023) is
//! then either a leaf of the image or a pointer to a pinned table, fixed at boot: a
//! user root whose top 64 entries are copies of the kernel's shares the kernel's top
//! (the kernel's image, vmalloc, pkmap and fixmap) exactly, in every split — under
//! 4G/4G too, where the kernel's own root maps the linear map at 0x00400000.
//! [`Sv32KernelSpec::shared_root_entries`] names those entries.
//!
//! ```
//! use kvas::kspace::sv32::{build_sv32, Sv32KernelSpec};
//! use kvas::kspace::{ImageSections, KernelImage};
//! use kvas::layout::Vmsplit;
//! use kvas::phys::MemoryMap;
//! use kvas::sim::Ram;
//! use kvas::PhysAddr;
//!
//! let mut map = MemoryMap::from_text("0x80000000:1536M")?;
//! let sections = ImageSections::contiguous(1 << 20, 256 << 10, 2 << 20);
//! let image = KernelImage { load: PhysAddr::new(0x8040_0000)?, sections };
//! let spec = Sv32KernelSpec::new(Vmsplit::G3, image)?;
//! spec.prepare(&mut map)?;
//! let ram = Ram::new();
//! let t = build_sv32(&spec, &map, &ram)?;
//! // 3G/1G: 768 MiB of lowmem, the other 768 MiB is highmem.
//! assert_eq!(t.built.linear.capped_bytes, 768 << 20);
//! let lines: Vec<String> = t.built.lines().map(|l| l.to_string()).collect();
//! // The image's 4 MiB in 4 KiB pages (its text and rodata aliases read-only), the rest megapages.
//! assert_eq!(lines[0], "kvas: built linear leaves 4K=1024 4M=191 tables 1");
//! # Ok::<(), kvas::Error>(())
//! ```

use core::fmt;

use crate::addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::arch::riscv32::{Sv32, GEOMETRY};
use crate::kspace::spec::{KernelImage, Rules};
use crate::layout::riscv32_split::{
    image_footprint, FIXADDR_START, FIXADDR_TOP, KERNEL_LINK_ADDR, PGDIR_SIZE, PKMAP_BASE, SHARED_START,
};
use crate::layout::Vmsplit;
use crate::linear::{self, BaseRule, LinearConfig, LinearMap, Piece};
use crate::paging::{Attrs, FrameAllocator, PageTable, PhysMemory};
use crate::phys::{EarlyFrameAllocator, MemoryMap, PhysRange};
use crate::range::VirtRange;
use crate::Error;

/// The fixmap's device page (the test finisher).
pub const FIX_DEVICE: u64 = FIXADDR_START;
/// The fixmap's window slot: the kernel's view of any frame while it builds tables.
pub const FIX_WINDOW: u64 = FIXADDR_START + PAGE_SIZE;
/// The first kmap_local slot (`KMAP_LOCAL_SLOTS` pages, left unmapped at boot).
pub const FIX_KMAP: u64 = FIXADDR_START + 2 * PAGE_SIZE;
/// How many kmap_local slots the fixmap has.
pub const KMAP_LOCAL_SLOTS: u64 = 16;
/// The DTB window: [`FIX_FDT_PAGES`] pages from the DTB's first page.
pub const FIX_FDT: u64 = 0xffc0_0000;
/// Pages of the DTB window: a DTB of up to 2 MiB (`MAX_FDT_SIZE`) wherever it starts.
pub const FIX_FDT_PAGES: u64 = 513;

/// The root entries every address space shares: the top 256 MiB, entries 960..1024.
pub const SHARED_ROOT_ENTRIES: core::ops::Range<usize> = (SHARED_START >> 22) as usize..1024;

/// The riscv32 kernel's address space for one split (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sv32KernelSpec {
    /// The split: where the linear map starts, and whether the kernel has its own
    /// address space (4G/4G).
    pub split: Vmsplit,
    /// The image, linked at `KERNEL_LINK_ADDR`.
    pub image: KernelImage,
    /// The page the fixmap's device slot maps (the finisher), if any.
    pub device: Option<PhysAddr>,
    /// The DTB, mapped read-only in the fixmap's DTB window, if any.
    pub dtb: Option<PhysRange>,
    /// Whether processes run in address spaces apart from the kernel's under a shared
    /// split too (`kvas.separate`): their roots then leave the linear map out, so it must
    /// not be global ([`Sv32KernelSpec::linear_global`]). 4G/4G is always separate.
    pub separate: bool,
}

impl Sv32KernelSpec {
    /// The space of `split` for `image`: refused if the image is not 4 MiB aligned
    /// physically (the boot tables map it with megapages) or would leave no vmalloc.
    pub fn new(split: Vmsplit, image: KernelImage) -> Result<Self, Error> {
        image.check()?;
        if !image.load.is_aligned(PGDIR_SIZE) {
            return Err(Error::Misaligned {
                what: "riscv32 kernel load address",
                value: image.load.as_u64(),
                align: PGDIR_SIZE,
            });
        }
        let max = PKMAP_BASE - PGDIR_SIZE - KERNEL_LINK_ADDR;
        if image.sections.end > max {
            return Err(Error::KernelTooLarge {
                size: image.sections.end,
                max,
                window: "shared top 256 MiB (the image, and at least 4 MiB of vmalloc)",
            });
        }
        Ok(Sv32KernelSpec { split, image, device: None, dtb: None, separate: false })
    }

    /// The linear map: lowmem from the split's `PAGE_OFFSET` up to the shared top, 4 MiB
    /// megapages where aligned, the image's text and rodata aliases read-only.
    pub fn linear_config(&self) -> Result<LinearConfig, Error> {
        let po = self.split.page_offset();
        let s = self.image.sections;
        Ok(LinearConfig {
            page_offset: VirtAddr::new(po),
            size: SHARED_START - po,
            max_leaf: PageSize::Size4M,
            base_rule: BaseRule::LargestLeaf,
            kernel_text: self.image.part(0, s.text_end)?,
            kernel_rodata: self.image.part(s.rodata_start, s.rodata_end)?,
            kfence: None,
        })
    }

    /// Whether the linear map's leaves are global: yes in the shared splits (every address
    /// space maps the linear map the same way), no under 4G/4G, where the kernel's linear map
    /// lies below the shared top, over addresses a process uses for its own pages — a global
    /// translation cached there could survive the trampoline's `satp` write and serve the
    /// process's access — and no with [`separate`](Self::separate), whose process roots leave
    /// the linear map out (a global mapping must exist in every address space). The shared
    /// top (image, pkmap, fixmap) is global in every split.
    pub fn linear_global(&self) -> bool {
        self.split != Vmsplit::G4G4 && !self.separate
    }

    /// The end of the image's megapages, where vmalloc starts.
    pub fn vmalloc_start(&self) -> u64 {
        KERNEL_LINK_ADDR + image_footprint(self.image.sections.end)
    }

    /// vmalloc: from the image's end (rounded up to 4 MiB) to the pkmap.
    pub fn vmalloc(&self) -> VirtRange {
        VirtRange::from_end(VirtAddr::new(self.vmalloc_start()), VirtAddr::new(PKMAP_BASE))
            .expect("the image leaves at least 4 MiB below the pkmap (checked by new)")
    }

    /// Checks that the image lies in mappable RAM of `map` and reserves it (the
    /// kernel's memory init and the host do the same).
    pub fn prepare(&self, map: &mut MemoryMap) -> Result<(), Error> {
        self.image.reserve_in(map, Rules::Kvas)
    }

    /// The root entries a user root copies to share the kernel's top 256 MiB.
    pub const fn shared_root_entries(&self) -> core::ops::Range<usize> {
        SHARED_ROOT_ENTRIES
    }
}

/// The regions [`build_sv32`] maps, in address order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sv32Region {
    /// The linear map of lowmem.
    Linear,
    /// The image at `KERNEL_LINK_ADDR`.
    Kernel,
    /// vmalloc's pinned tables.
    Vmalloc,
    /// The pkmap's pinned table.
    Pkmap,
    /// The fixmap's pinned tables and pages.
    Fixmap,
}

impl Sv32Region {
    /// Every region, in address order.
    pub const ALL: [Sv32Region; 5] =
        [Sv32Region::Linear, Sv32Region::Kernel, Sv32Region::Vmalloc, Sv32Region::Pkmap, Sv32Region::Fixmap];

    /// The region's name in serial lines.
    pub const fn name(self) -> &'static str {
        match self {
            Sv32Region::Linear => "linear",
            Sv32Region::Kernel => "kernel",
            Sv32Region::Vmalloc => "vmalloc",
            Sv32Region::Pkmap => "pkmap",
            Sv32Region::Fixmap => "fixmap",
        }
    }
}

/// One region built: its leaves by size and the tables its step added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sv32RegionBuilt {
    /// 4 KiB leaves, 4 MiB leaves.
    pub leaves: [u64; 2],
    /// Table pages the step added (the root excluded).
    pub tables: u64,
}

/// What [`build_sv32`] built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sv32Built {
    /// Per region, in the order of [`Sv32Region::ALL`].
    pub regions: [Sv32RegionBuilt; 5],
    /// Table pages, the root included.
    pub pt_pages: u64,
    /// The linear map's placement; its `capped` range is highmem.
    pub linear: LinearMap,
}

impl Sv32Built {
    /// What the region `r` holds.
    pub fn region(&self, r: Sv32Region) -> Sv32RegionBuilt {
        self.regions[r as usize]
    }

    /// One `kvas: built REGION leaves 4K=a 4M=b tables N` line per region, in address
    /// order: the riscv64 kernel's format with Sv32's leaf sizes.
    pub fn lines(&self) -> impl Iterator<Item = Sv32BuiltLine> + '_ {
        Sv32Region::ALL.into_iter().map(move |r| Sv32BuiltLine { region: r, built: self.region(r) })
    }
}

/// The serial line of one region (no trailing newline).
#[derive(Clone, Copy, Debug)]
pub struct Sv32BuiltLine {
    /// Which region.
    pub region: Sv32Region,
    /// What it holds.
    pub built: Sv32RegionBuilt,
}

impl fmt::Display for Sv32BuiltLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [k4, m4] = self.built.leaves;
        write!(f, "kvas: built {} leaves 4K={k4} 4M={m4} tables {}", self.region.name(), self.built.tables)
    }
}

/// The tables [`build_sv32`] made, the allocator their frames came from (free lowmem,
/// for the kernel's later tables), and what was built.
pub struct Sv32Tables<'m, M: PhysMemory> {
    /// The tables (not live anywhere yet).
    pub table: PageTable<Sv32, M>,
    /// Free RAM inside the linear window.
    pub frames: EarlyFrameAllocator<'m>,
    /// What was built.
    pub built: Sv32Built,
}

/// Counts the frames a step takes and gives back.
struct Counting<'a, A: FrameAllocator> {
    inner: &'a mut A,
    net: i64,
}

impl<A: FrameAllocator> FrameAllocator for Counting<'_, A> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let f = self.inner.allocate_frame()?;
        self.net += 1;
        Some(f)
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        self.net -= 1;
        self.inner.free_frame(frame);
    }
}

/// Builds `spec` for the RAM of `map` (the image already reserved:
/// [`Sv32KernelSpec::prepare`]) into new tables reached through `mem`, with frames
/// from `map`'s free RAM inside the linear window (lowmem), so the running kernel
/// reaches every table through the linear map. On failure every frame is given back.
pub fn build_sv32<'m, M: PhysMemory>(
    spec: &Sv32KernelSpec,
    map: &'m MemoryMap,
    mem: M,
) -> Result<Sv32Tables<'m, M>, Error> {
    let cfg = spec.linear_config()?;
    let base = cfg.choose_base(map, GEOMETRY)?;
    let mut frames = EarlyFrameAllocator::with_limit(map, cfg.limit(base));
    if frames.remaining() == 0 {
        return Err(Error::NoUsableRam { limit: cfg.limit(base) });
    }
    let mut counting = Counting { inner: &mut frames, net: 0 };
    let mut pt = PageTable::new(Sv32, mem, &mut counting)?;
    match steps(spec, map, &cfg, base, &mut pt, &mut counting) {
        Ok((regions, linear)) => {
            let pt_pages = counting.net.max(0) as u64;
            Ok(Sv32Tables { table: pt, frames, built: Sv32Built { regions, pt_pages, linear } })
        }
        Err(e) => {
            pt.destroy(&mut frames);
            Err(e)
        }
    }
}

/// Maps `len` bytes at `va` to `pa` (the engine's greedy largest leaves).
fn map_leaves<M: PhysMemory, A: FrameAllocator>(
    pt: &mut PageTable<Sv32, M>,
    frames: &mut A,
    (va, pa, len): (u64, u64, u64),
    attrs: Attrs,
    max_leaf: PageSize,
) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    let range = VirtRange::new(VirtAddr::new(va), len)?;
    pt.map_range(range, PhysAddr::new(pa)?, attrs, max_leaf, frames)?.ignore(); // not live
    Ok(())
}

type Regions = [Sv32RegionBuilt; 5];

fn steps<M: PhysMemory, A: FrameAllocator>(
    spec: &Sv32KernelSpec,
    ram: &MemoryMap,
    cfg: &LinearConfig,
    base: u64,
    pt: &mut PageTable<Sv32, M>,
    frames: &mut Counting<'_, A>,
) -> Result<(Regions, LinearMap), Error> {
    let mut regions = [Sv32RegionBuilt::default(); 5];
    let mut record = |r: Sv32Region, before: i64, now: i64| {
        regions[r as usize].tables = (now - before).max(0) as u64;
    };
    // The image, W^X, section by section.
    let before = frames.net;
    let (load, s) = (spec.image.load.as_u64(), spec.image.sections);
    for (from, to, attrs) in [
        (0, s.text_end, Attrs::KERNEL_RX),
        (s.rodata_start, s.rodata_end, Attrs::KERNEL_RO),
        (s.data_start, s.end, Attrs::KERNEL_RW),
    ] {
        map_leaves(pt, frames, (KERNEL_LINK_ADDR + from, load + from, to - from), attrs, PageSize::Size4M)?;
    }
    record(Sv32Region::Kernel, before, frames.net);
    // The fixmap: its two tables pinned, then its pages.
    let before = frames.net;
    let fixmap = VirtRange::from_end(VirtAddr::new(FIXADDR_START), VirtAddr::new(FIXADDR_TOP))?;
    pt.populate(fixmap, 0, frames)?;
    if let Some(dev) = spec.device {
        let page = dev.as_u64() & !(PAGE_SIZE - 1);
        map_leaves(pt, frames, (FIX_DEVICE, page, PAGE_SIZE), Attrs::KERNEL_RW, PageSize::Size4K)?;
    }
    // The window slot aliases the image's first data page until the kernel remaps it.
    let first_data = load + s.data_start;
    map_leaves(pt, frames, (FIX_WINDOW, first_data, PAGE_SIZE), Attrs::KERNEL_RW, PageSize::Size4K)?;
    if let Some(dtb) = spec.dtb {
        let pages = (dtb.start_u64() & (PAGE_SIZE - 1)).saturating_add(dtb.size()).div_ceil(PAGE_SIZE);
        if pages > FIX_FDT_PAGES {
            return Err(Error::InvalidOption {
                option: "dtb size",
                value: dtb.size(),
                reason: "larger than the fixmap's DTB window (MAX_FDT_SIZE, 2 MiB)",
            });
        }
        let first = dtb.start_u64() & !(PAGE_SIZE - 1);
        map_leaves(
            pt,
            frames,
            (FIX_FDT, first, FIX_FDT_PAGES * PAGE_SIZE),
            Attrs::KERNEL_RO,
            PageSize::Size4K,
        )?;
    }
    record(Sv32Region::Fixmap, before, frames.net);
    // The linear map of lowmem.
    let before = frames.net;
    let (lm, flush) = build_linear(spec, ram, cfg, base, pt, frames)?;
    flush.ignore(); // not live
    record(Sv32Region::Linear, before, frames.net);
    // vmalloc and the pkmap: every table below the root preallocated and pinned.
    for (r, span) in [
        (Sv32Region::Vmalloc, spec.vmalloc()),
        (Sv32Region::Pkmap, VirtRange::from_end(VirtAddr::new(PKMAP_BASE), VirtAddr::new(FIXADDR_START))?),
    ] {
        let before = frames.net;
        pt.populate(span, 0, frames).map(|_| ())?;
        record(r, before, frames.net);
    }
    // The leaves, from the tables themselves: each in the region its address lies in.
    for m in pt.mappings() {
        let m = m?;
        let r = region_of(spec, m.va.as_u64());
        regions[r as usize].leaves[usize::from(m.size.level().min(1))] += 1;
    }
    Ok((regions, lm))
}

/// `linear::build_at` with the spec's attributes: the pieces of `cfg` (read-write, the
/// image's aliases read-only), without [`Attrs::GLOBAL`] unless
/// [`Sv32KernelSpec::linear_global`].
fn build_linear<M: PhysMemory, A: FrameAllocator>(
    spec: &Sv32KernelSpec,
    ram: &MemoryMap,
    cfg: &LinearConfig,
    base: u64,
    pt: &mut PageTable<Sv32, M>,
    frames: &mut A,
) -> Result<(LinearMap, crate::paging::Flush), Error> {
    let limit = cfg.limit(base);
    let offset = cfg.page_offset.as_u64().wrapping_sub(base);
    let drop = if spec.linear_global() { Attrs::empty() } else { Attrs::GLOBAL };
    let (mapped, pieces, flush) = linear::map_pieces(pt, offset, frames, |each| {
        linear::for_each_piece(ram, base, limit, cfg, |p| each(Piece { attrs: p.attrs - drop, ..p }))
    })?;
    Ok((linear::placement(ram, cfg, base, mapped, pieces)?, flush))
}

/// The region `va` lies in.
fn region_of(spec: &Sv32KernelSpec, va: u64) -> Sv32Region {
    match va {
        _ if va < SHARED_START => Sv32Region::Linear,
        _ if va < spec.vmalloc_start() => Sv32Region::Kernel,
        _ if va < PKMAP_BASE => Sv32Region::Vmalloc,
        _ if va < FIXADDR_START => Sv32Region::Pkmap,
        _ => Sv32Region::Fixmap,
    }
}

#[cfg(test)]
#[path = "sv32_tests.rs"]
mod tests;

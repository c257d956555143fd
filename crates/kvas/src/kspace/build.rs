//! [`build`]: a [`KernelSpec`] into page tables, in one place for the kernel and `kvas map`.

use crate::addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::arch::riscv::Riscv;
use crate::kspace::built::{Built, BuiltRegion, RegionKind};
use crate::kspace::count;
use crate::kspace::spec::{
    KernelImage, KernelSpec, Kfence, Rules, FIX_FDT_OFFSET, FIX_FDT_SIZE, FIX_WINDOW_OFFSET,
    KFENCE_POOL_SIZE, MAX_FDT_SIZE,
};
use crate::layout::riscv64::{KERNEL_LINK_ADDR, PMD_SIZE};
use crate::linear::count::range_leaves;
use crate::linear::{self, BaseChoice, LinearConfig};
use crate::paging::{Attrs, FrameAllocator, Geometry, PageTable, PhysMemory, TableFormat};
use crate::phys::{EarlyFrameAllocator, MemoryMap, PhysRange, ReserveKind, ReservedBy};
use crate::range::VirtRange;
use crate::Error;

/// The tables [`build`] made, the allocator that holds their frames, and what was built.
pub struct KernelTables<'m, M: PhysMemory> {
    /// The tables (not live anywhere yet: no TLB holds their entries).
    pub table: PageTable<Riscv, M>,
    /// The allocator the frames came from (free RAM inside the linear window),
    /// for the kernel's later tables.
    pub frames: EarlyFrameAllocator<'m>,
    /// What was built, counted.
    pub built: Built,
}

/// Builds `spec` for the RAM of `map` into new tables reached through `mem`,
/// with frames from `map`'s free RAM that lie inside the linear window (so the
/// running kernel reaches them through the linear map): the linear map's base
/// is chosen once, and the frame limit follows from it.
///
/// `map` must already hold the image's and KFENCE's reservations
/// ([`KernelSpec::prepare`]). Fails with [`Error::NoUsableRam`] when no free
/// page is left for a table, and otherwise with the first step's error; on
/// failure every frame taken is given back.
pub fn build<'m, M: PhysMemory>(
    spec: &KernelSpec,
    map: &'m MemoryMap,
    mem: M,
) -> Result<KernelTables<'m, M>, Error> {
    let plan = Plan::new(spec, map)?;
    let mut frames = plan.frames();
    if frames.remaining() == 0 {
        return Err(Error::NoUsableRam { limit: plan.frame_limit() });
    }
    let (table, built) = plan.build(mem, &mut frames)?;
    Ok(KernelTables { table, frames, built })
}

/// [`build`] with the caller's frames (the kernel's MMU-off pool for the early
/// tables, which have no linear map). The frames must be reachable through `mem`.
pub fn build_with<M: PhysMemory>(
    spec: &KernelSpec,
    map: &MemoryMap,
    mem: M,
    frames: &mut impl FrameAllocator,
) -> Result<(PageTable<Riscv, M>, Built), Error> {
    Plan::new(spec, map)?.build(mem, frames)
}

/// The memory map of a build without a linear map.
static NO_RAM: MemoryMap = MemoryMap::new();

/// [`build_with`] for a spec without a linear map (the kernel's early tables,
/// [`KernelSpec::early`]), which needs no memory map.
pub fn build_early<M: PhysMemory>(
    spec: &KernelSpec,
    mem: M,
    frames: &mut impl FrameAllocator,
) -> Result<(PageTable<Riscv, M>, Built), Error> {
    build_with(spec, &NO_RAM, mem, frames)
}

/// A [`KernelSpec`] made concrete for one memory map: the linear map's base
/// (chosen here, once) and the KFENCE pool's place.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'m> {
    spec: KernelSpec,
    map: &'m MemoryMap,
    linear: Option<(LinearConfig, u64)>,
    base_choice: Option<BaseChoice>,
}

impl<'m> Plan<'m> {
    /// Chooses the linear map's base for `map` and places the KFENCE pool.
    pub fn new(spec: &KernelSpec, map: &'m MemoryMap) -> Result<Self, Error> {
        let mut base_choice = None;
        let linear = match spec.linear {
            None => None,
            Some(mut cfg) => {
                if map.mappable().next().is_none() {
                    return Err(Error::NoUsableRam { limit: u64::MAX });
                }
                let choice = cfg.choose(map, spec.mode.geometry())?;
                base_choice = Some(choice);
                let base = choice.base();
                cfg.kfence = match spec.kfence {
                    Kfence::Off => None,
                    Kfence::At(r) => Some(r),
                    Kfence::TopDown => Some(kfence_top_down(map, cfg.limit(base))?),
                };
                Some((cfg, base))
            }
        };
        Ok(Plan { spec: *spec, map, linear, base_choice })
    }

    /// How the linear map's base was chosen: the base, Linux's `phys_ram_base`
    /// and, when they differ, the leaves and table pages the move saves.
    pub fn base_choice(&self) -> Option<BaseChoice> {
        self.base_choice
    }

    /// The spec.
    pub fn spec(&self) -> &KernelSpec {
        &self.spec
    }

    /// The linear map's configuration, KFENCE placed, and its physical base.
    pub fn linear(&self) -> Option<(LinearConfig, u64)> {
        self.linear
    }

    /// Table frames must end at or below this address: the end of the linear
    /// window (no limit without a linear map).
    pub fn frame_limit(&self) -> u64 {
        self.linear.map_or(u64::MAX, |(cfg, base)| cfg.limit(base))
    }

    /// The allocator of table frames: `map`'s free RAM below [`Self::frame_limit`].
    pub fn frames(&self) -> EarlyFrameAllocator<'m> {
        EarlyFrameAllocator::with_limit(self.map, self.frame_limit())
    }

    /// Builds every region into new tables (see [`build`]).
    pub fn build<M: PhysMemory>(
        &self,
        mem: M,
        frames: &mut impl FrameAllocator,
    ) -> Result<(PageTable<Riscv, M>, Built), Error> {
        self.build_inner(mem, frames, false)
    }

    /// Like [`Plan::build`], but counts the linear map ([`super::count_linear`])
    /// instead of building it: for `kvas map` on maps whose linear tables would
    /// not fit in memory. The other regions are built.
    pub fn build_counting_linear<M: PhysMemory>(
        &self,
        mem: M,
        frames: &mut impl FrameAllocator,
    ) -> Result<(PageTable<Riscv, M>, Built), Error> {
        self.build_inner(mem, frames, true)
    }

    fn build_inner<M: PhysMemory, A: FrameAllocator>(
        &self,
        mem: M,
        frames: &mut A,
        count_linear: bool,
    ) -> Result<(PageTable<Riscv, M>, Built), Error> {
        let mut counter = Counting { inner: frames, net: 0 };
        let mut pt = PageTable::new(Riscv::new(self.spec.mode), mem, &mut counter)?;
        let mut built = Built::empty(self.spec.mode);
        match self.steps(&mut pt, &mut counter, &mut built, count_linear) {
            Ok(()) => {
                built.pt_pages = counter.net.max(0) as u64;
                if count_linear {
                    built.pt_pages += built.region(RegionKind::Linear).map_or(0, |r| r.tables);
                }
                built.regions_mut().sort_unstable_by_key(|r| r.range.start());
                Ok((pt, built))
            }
            Err(e) => {
                pt.destroy(counter.inner);
                Err(e)
            }
        }
    }

    /// Maps every region, in the fixed order, recording each one's leaves and tables.
    fn steps<M: PhysMemory, A: FrameAllocator>(
        &self,
        pt: &mut PageTable<Riscv, M>,
        frames: &mut Counting<'_, A>,
        built: &mut Built,
        count_linear: bool,
    ) -> Result<(), Error> {
        let spec = &self.spec;
        let layout = &spec.layout;
        let link = KERNEL_LINK_ADDR + layout.kaslr_offset();
        if let Some(image) = spec.image {
            let range = VirtRange::new(VirtAddr::new(link), image.footprint(spec.rules)?.size())?;
            step(built, RegionKind::Kernel, range, pt, frames, |s| map_image(s, spec, &image, link))?;
            if spec.trampoline {
                let load = image.load.as_u64();
                let text = image.sections.text_end;
                let range = VirtRange::new(VirtAddr::new(load), text)?;
                step(built, RegionKind::Trampoline, range, pt, frames, |s| {
                    s.map(load, load, text, Attrs::KERNEL_RX, PageSize::Size2M)
                })?;
            }
        }
        let fix = layout.fixmap();
        let fixmap = &spec.fixmap;
        if fixmap.device.is_some() || fixmap.window_slot || fixmap.dtb.is_some() {
            step(built, RegionKind::Fixmap, fix, pt, frames, |s| map_fixmap(s, spec, fix.start().as_u64()))?;
        }
        let mut linear_map = None;
        if let Some((cfg, base)) = self.linear {
            let window = VirtRange::new(cfg.page_offset, cfg.size)?;
            if count_linear {
                let counted = count::count_linear(self.map, &cfg, base, spec.mode.geometry())?;
                let mut region = BuiltRegion::new(RegionKind::Linear, window);
                region.leaves = counted.leaves;
                region.tables = counted.tables;
                built.push(region);
                built.linear_counted = true;
                linear_map = Some(linear::placement(self.map, &cfg, base, counted.bytes, counted.pieces)?);
            } else {
                step(built, RegionKind::Linear, window, pt, frames, |s| {
                    let (lm, flush) = linear::build_at(s.pt, self.map, &cfg, base, s.frames)?;
                    flush.ignore(); // not live: no TLB holds these entries
                    linear_map = Some(lm);
                    // Its pieces ascend into fresh tables: the count is the build's.
                    s.leaves = count::count_linear(self.map, &cfg, base, spec.mode.geometry())?.leaves;
                    Ok(())
                })?;
            }
            built.kfence = cfg.kfence;
        }
        built.linear = linear_map;
        if spec.pinned {
            let level = spec.mode.levels() - 2;
            for (kind, span) in
                [(RegionKind::Vmalloc, layout.vmalloc()), (RegionKind::Modules, layout.modules_window())]
            {
                step(built, kind, span, pt, frames, |s| s.pt.populate(span, level, s.frames).map(|_| ()))?;
            }
        }
        Ok(())
    }
}

/// One region's step: the tables, the frames, and the leaves it has mapped.
struct Step<'s, 'a, M: PhysMemory, A: FrameAllocator> {
    pt: &'s mut PageTable<Riscv, M>,
    frames: &'s mut Counting<'a, A>,
    /// Leaves by level, counted as they are mapped (the finished tables are
    /// never walked: through the kernel's fixmap window that costs one remap
    /// per table frame).
    leaves: [u64; Geometry::MAX_LEVELS],
}

impl<M: PhysMemory, A: FrameAllocator> Step<'_, '_, M, A> {
    /// One `map_range` with the TLB work dropped (the tables are not live),
    /// its leaves counted. Each step maps its ranges in ascending order, each
    /// range inside the step's region and into tables that hold nothing inside
    /// it (no region shares a leaf block with another; the pinned tables come
    /// last), so the engine's greedy choice is [`range_leaves`]'s.
    fn map(&mut self, va: u64, pa: u64, len: u64, attrs: Attrs, max_leaf: PageSize) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        let range = VirtRange::new(VirtAddr::new(va), len)?;
        let f = self.pt.map_range(range, PhysAddr::new(pa)?, attrs, max_leaf, self.frames)?;
        f.ignore();
        let cap = max_leaf.level().min(self.pt.format().geometry().max_leaf_level());
        range_leaves(&mut self.leaves, va, len, va.wrapping_sub(pa), cap);
        Ok(())
    }
}

/// Runs one region's step and records the region with the leaves it mapped
/// and the tables it added.
fn step<M: PhysMemory, A: FrameAllocator>(
    built: &mut Built,
    kind: RegionKind,
    range: VirtRange,
    pt: &mut PageTable<Riscv, M>,
    frames: &mut Counting<'_, A>,
    f: impl FnOnce(&mut Step<'_, '_, M, A>) -> Result<(), Error>,
) -> Result<(), Error> {
    let before = frames.net;
    let mut s = Step { pt, frames, leaves: [0; Geometry::MAX_LEVELS] };
    f(&mut s)?;
    let mut region = BuiltRegion::new(kind, range);
    region.tables = (s.frames.net - before).max(0) as u64;
    region.leaves = s.leaves;
    built.push(region);
    Ok(())
}

/// The image at `link`: section by section with W^X (kvas), or in whole 2 MiB
/// steps each with the protection of the section its first byte is in (Linux).
fn map_image<M: PhysMemory, A: FrameAllocator>(
    s: &mut Step<'_, '_, M, A>,
    spec: &KernelSpec,
    image: &KernelImage,
    link: u64,
) -> Result<(), Error> {
    let sec = image.sections;
    let load = image.load.as_u64();
    match spec.rules {
        Rules::Kvas => {
            for (from, to, attrs) in [
                (0, sec.text_end, Attrs::KERNEL_RX),
                (sec.rodata_start, sec.rodata_end, Attrs::KERNEL_RO),
                (sec.data_start, sec.end, Attrs::KERNEL_RW),
            ] {
                s.map(link + from, load + from, to - from, attrs, PageSize::Size2M)?;
            }
            Ok(())
        }
        Rules::Linux => {
            let size = image.footprint(Rules::Linux)?.size();
            for off in (0..size).step_by(PMD_SIZE as usize) {
                let attrs = if off < sec.text_end {
                    Attrs::KERNEL_RX
                } else if sec.rodata_start <= off && off < sec.rodata_end {
                    Attrs::KERNEL_RO
                } else {
                    Attrs::KERNEL_RW
                };
                s.map(link + off, load + off, PMD_SIZE, attrs, PageSize::Size2M)?;
            }
            Ok(())
        }
    }
}

/// The fixmap: device page, window slot (aliasing the image's first data page
/// until the kernel remaps it), the DTB window.
fn map_fixmap<M: PhysMemory, A: FrameAllocator>(
    s: &mut Step<'_, '_, M, A>,
    spec: &KernelSpec,
    fixmap: u64,
) -> Result<(), Error> {
    let f = &spec.fixmap;
    if let Some(dev) = f.device {
        let page = dev.as_u64() & !(PAGE_SIZE - 1);
        s.map(fixmap, page, PAGE_SIZE, Attrs::KERNEL_RW, PageSize::Size4K)?;
    }
    if f.window_slot {
        // The image's first data page (physical 0 without an image), until remapped.
        let first = spec.image.map_or(0, |i| i.load.as_u64() + i.sections.data_start);
        s.map(fixmap + FIX_WINDOW_OFFSET, first, PAGE_SIZE, Attrs::KERNEL_RW, PageSize::Size4K)?;
    }
    if let Some(dtb) = f.dtb {
        if dtb.size() > MAX_FDT_SIZE {
            return Err(Error::InvalidOption {
                option: "dtb size",
                value: dtb.size(),
                reason: "larger than the fixmap's DTB window (MAX_FDT_SIZE, 2 MiB)",
            });
        }
        let base = dtb.start_u64() & !(MAX_FDT_SIZE - 1);
        s.map(fixmap + FIX_FDT_OFFSET, base, FIX_FDT_SIZE, Attrs::KERNEL_RO, PageSize::Size2M)?;
    }
    Ok(())
}

/// Where Linux's top-down `memblock_phys_alloc(KFENCE_POOL_SIZE, PAGE_SIZE)`
/// puts the pool: the top of the highest free range below `limit` that holds it.
pub(crate) fn kfence_top_down(map: &MemoryMap, limit: u64) -> Result<PhysRange, Error> {
    let mut found = None;
    for r in map.free() {
        let end = r.end().min(limit) & !(PAGE_SIZE - 1);
        if end >= r.start_u64() + KFENCE_POOL_SIZE {
            found = Some(PhysRange::new(end - KFENCE_POOL_SIZE, KFENCE_POOL_SIZE)?);
        }
    }
    found.ok_or(Error::NoUsableRam { limit })
}

impl KernelSpec {
    /// Readies `map` for [`build`]: checks the image lies in mappable RAM and
    /// reserves it, places the KFENCE pool (where Linux's top-down allocation
    /// puts it, for [`Kfence::TopDown`]) and reserves it. Returns the spec with
    /// the pool's place fixed. The kernel and `kvas map` both call this, so the
    /// same image is refused or accepted by both.
    pub fn prepare(&self, map: &mut MemoryMap) -> Result<KernelSpec, Error> {
        let mut spec = *self;
        if let Some(image) = spec.image {
            image.reserve_in(map, spec.rules)?;
        }
        if let Some(cfg) = spec.linear {
            let pool = match spec.kfence {
                Kfence::Off => None,
                Kfence::At(r) => Some(r),
                Kfence::TopDown => {
                    let base = cfg.choose_base(map, spec.mode.geometry())?;
                    Some(kfence_top_down(map, cfg.limit(base))?)
                }
            };
            if let Some(pool) = pool {
                if !map.free().any(|r| r.start_u64() <= pool.start_u64() && pool.end() <= r.end()) {
                    return Err(Error::InvalidOption {
                        option: "--kfence",
                        value: pool.start_u64(),
                        reason: "the KFENCE pool must lie in free RAM (not the image, not reserved)",
                    });
                }
                map.reserve(pool.start_u64(), pool.size(), ReserveKind::Reserved, ReservedBy::Kernel)?;
                spec.kfence = Kfence::At(pool);
            }
        }
        Ok(spec)
    }
}

/// Counts the frames taken and given back, so each step knows its tables.
struct Counting<'a, A: FrameAllocator> {
    inner: &'a mut A,
    net: i64,
}

impl<A: FrameAllocator> FrameAllocator for Counting<'_, A> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let f = self.inner.allocate_frame();
        if f.is_some() {
            self.net += 1;
        }
        f
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        self.net -= 1;
        self.inner.free_frame(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfence_goes_to_the_top_of_the_highest_free_range_that_holds_it() {
        let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
        // A DTB-like reservation near the top leaves less than 2 MiB above it.
        map.reserve_text("0xbfe00000:0x2000:reserved").unwrap();
        // And one lower down: the pool goes in the highest range, not the first.
        map.reserve_text("0x90000000:0x1000:reserved").unwrap();
        assert_eq!(
            kfence_top_down(&map, u64::MAX),
            Ok(PhysRange::new(0xbfc0_0000, KFENCE_POOL_SIZE).unwrap())
        );
        // Below a limit (the end of the linear window): under it.
        assert_eq!(
            kfence_top_down(&map, 0x9000_1000),
            Ok(PhysRange::new(0x8fe0_0000, KFENCE_POOL_SIZE).unwrap())
        );
        map.reserve_text("0x80000000:1G:reserved").unwrap();
        assert_eq!(kfence_top_down(&map, u64::MAX), Err(Error::NoUsableRam { limit: u64::MAX }));
    }
}

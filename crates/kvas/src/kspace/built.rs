//! [`Built`]: what [`super::build`] built, counted, without a heap.

use crate::addr::VirtAddr;
use crate::arch::riscv::Mode;
use crate::kspace::line::BuiltLine;
use crate::linear::LinearMap;
use crate::paging::Geometry;
use crate::phys::PhysRange;
use crate::range::VirtRange;

/// The most regions one build has (one per [`RegionKind`]).
pub const MAX_BUILT_REGIONS: usize = 6;

/// A region of the kernel's address space that [`super::build`] maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// The image at `KERNEL_LINK_ADDR` (+ the KASLR offset).
    Kernel,
    /// The identity map of the image's text (early tables only).
    Trampoline,
    /// The fixmap: device page, window slot, DTB window.
    Fixmap,
    /// The linear map of all RAM.
    Linear,
    /// vmalloc's pinned tables.
    Vmalloc,
    /// The modules (and BPF) window's pinned tables.
    Modules,
}

impl RegionKind {
    /// The region's name in reports and serial lines.
    pub const fn name(self) -> &'static str {
        match self {
            RegionKind::Kernel => "kernel",
            RegionKind::Trampoline => "trampoline",
            RegionKind::Fixmap => "fixmap",
            RegionKind::Linear => "linear",
            RegionKind::Vmalloc => "vmalloc",
            RegionKind::Modules => "modules",
        }
    }
}

/// One region built: its virtual range, its leaves, and its tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltRegion {
    /// Which region.
    pub kind: RegionKind,
    /// Its virtual range (the window; not all of it need be mapped).
    pub range: VirtRange,
    /// Leaves inside `range`, by level (index 0 = 4 KiB).
    pub leaves: [u64; Geometry::MAX_LEVELS],
    /// Table pages this region's step added: frames the allocator gave during
    /// the step minus frames given back, the root excluded. Steps run in a
    /// fixed order (kernel, trampoline, fixmap, linear, vmalloc, modules), so a
    /// table shared by two regions is counted once, in the first; the root
    /// plus every region's `tables` is [`Built::pt_pages`].
    pub tables: u64,
}

impl BuiltRegion {
    /// An empty region over `range`.
    pub const fn new(kind: RegionKind, range: VirtRange) -> Self {
        BuiltRegion { kind, range, leaves: [0; Geometry::MAX_LEVELS], tables: 0 }
    }

    /// Whether `va` lies in the region's range.
    pub const fn contains(&self, va: VirtAddr) -> bool {
        self.range.contains(va)
    }

    /// Bytes the region's leaves map.
    pub fn bytes(&self) -> u64 {
        mapped_bytes(&self.leaves)
    }
}

/// Bytes that `leaves` (by level) map.
fn mapped_bytes(leaves: &[u64; Geometry::MAX_LEVELS]) -> u64 {
    (0u8..).zip(leaves).map(|(level, n)| n * Geometry::granularity(level)).sum()
}

/// What [`super::build`] built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    /// The paging mode.
    pub mode: Mode,
    regions: [BuiltRegion; MAX_BUILT_REGIONS],
    n_regions: usize,
    /// Table pages, the root included.
    pub pt_pages: u64,
    /// The linear map's placement, if built.
    pub linear: Option<LinearMap>,
    /// The KFENCE pool, if there is one.
    pub kfence: Option<PhysRange>,
    /// Whether the linear region was counted without being built
    /// ([`super::count_linear`], for maps too large to simulate).
    pub linear_counted: bool,
}

impl Built {
    /// Nothing built yet.
    pub(crate) const fn empty(mode: Mode) -> Self {
        Built {
            mode,
            regions: [BuiltRegion::new(RegionKind::Kernel, VirtRange::from_pages(0, 1)); MAX_BUILT_REGIONS],
            n_regions: 0,
            pt_pages: 0,
            linear: None,
            kfence: None,
            linear_counted: false,
        }
    }

    pub(crate) fn push(&mut self, region: BuiltRegion) {
        // At most one region of each kind: MAX_BUILT_REGIONS kinds.
        if self.n_regions < MAX_BUILT_REGIONS {
            self.regions[self.n_regions] = region;
            self.n_regions += 1;
        }
    }

    pub(crate) fn regions_mut(&mut self) -> &mut [BuiltRegion] {
        &mut self.regions[..self.n_regions]
    }

    /// The regions built, in address order.
    pub fn regions(&self) -> &[BuiltRegion] {
        &self.regions[..self.n_regions]
    }

    /// The region of `kind`, if built.
    pub fn region(&self, kind: RegionKind) -> Option<&BuiltRegion> {
        self.regions().iter().find(|r| r.kind == kind)
    }

    /// Leaves by level over the whole table: every leaf lies in the region
    /// whose step mapped it, so the sum of the regions' leaves.
    pub fn leaves(&self) -> [u64; Geometry::MAX_LEVELS] {
        let mut total = [0; Geometry::MAX_LEVELS];
        for r in self.regions() {
            for (t, l) in total.iter_mut().zip(r.leaves) {
                *t += l;
            }
        }
        total
    }

    /// Bytes mapped over the whole table.
    pub fn mapped_bytes(&self) -> u64 {
        mapped_bytes(&self.leaves())
    }

    /// The kernel's serial lines, one per region, in address order.
    pub fn lines(&self) -> impl Iterator<Item = BuiltLine<'_>> + '_ {
        self.regions().iter().map(move |region| BuiltLine { mode: self.mode, region })
    }
}

//! [`KernelSpace`]: the one owner of the kernel's live address space.
//!
//! kmain builds it once (mm/build.rs builds the final tables, [`Inactive::activate`] turns
//! them on) and passes it down by reference to everything that maps, unmaps or walks:
//! vmalloc (mm/vmalloc.rs), the module loader, the self-tests. It owns
//!
//! - the live page tables (reached through the linear map),
//! - the allocator their frames come from (kvas::phys's early allocator, limited to the
//!   linear window so every table frame stays reachable),
//! - the virtual-range allocators of the vmalloc region and the modules window (kvas::vm),
//! - the layout (kvas::layout) and the linear map (kvas::linear) it was built with.
//!
//! Every `satp` write and TLB flush goes through mm/mmu.rs, called from here: no table is
//! re-adopted from a global, and no global holds any of this.

use kvas::arch::riscv::{Mode, Riscv};
use kvas::kspace::Built;
use kvas::layout::Riscv64Layout;
use kvas::linear::LinearMap;
use kvas::paging::{Attrs, Flush, OffsetMemory, PageTable};
use kvas::phys::{EarlyFrameAllocator, MemoryMap};
use kvas::vm::{ModulesWindow, VmArea, Vmalloc};
use kvas::VirtRange;
use kvas::{Error, PhysAddr, VirtAddr};

use super::fixmap::{slot_va, FixmapWindow};
use super::mmu;

/// Tree nodes of each window's allocator (a window of k live areas needs at most 2k + 1).
const NODES: usize = 64;

/// The kernel's virtual-range allocators.
pub struct KernelVm {
    /// `[VMALLOC_START, VMALLOC_END)`.
    pub vmalloc: Vmalloc<NODES>,
    /// `[MODULES_VADDR, MODULES_END)`, BPF in its top 128 MiB.
    pub modules: ModulesWindow<NODES>,
}

impl KernelVm {
    /// The allocators over `layout`'s vmalloc region and modules window.
    pub fn new(layout: &Riscv64Layout) -> Result<Self, Error> {
        let (v, m) = (layout.vmalloc(), layout.modules_window());
        Ok(KernelVm {
            vmalloc: Vmalloc::new(v.start(), v.end())?,
            modules: ModulesWindow::new(m.start(), m.end())?,
        })
    }
}

/// The final tables, built (mm/build.rs) but not yet live.
pub struct Inactive<'m> {
    pub(super) root: PhysAddr,
    pub(super) satp: u64,
    pub(super) mode: Mode,
    pub(super) frames: EarlyFrameAllocator<'m>,
    pub(super) map: &'m MemoryMap,
    pub(super) layout: Riscv64Layout,
    pub(super) linear: LinearMap,
    pub(super) built: Built,
}

impl<'m> Inactive<'m> {
    /// Turns the tables on (`satp`, TLB flushed) and returns the live space, which from now
    /// on reaches its table frames through the linear map.
    pub fn activate(self, vm: KernelVm) -> KernelSpace<'m> {
        // SAFETY: an `Inactive` comes only from mm/build.rs, which mapped the image at the
        // addresses it runs at (so this code, its stack and the statics in use stay put),
        // the fixmap (finisher, DTB) and all RAM of the linear window, where the allocator
        // took every table frame.
        unsafe { mmu::activate(self.satp) };
        super::shootdown::kernel_harts().add(crate::smp::hart_id());
        // SAFETY: the tables are live and every one of their frames lies in the linear
        // window, mapped read-write at `va_pa_offset`; this value owns them from here on.
        let tables = unsafe {
            PageTable::from_root(
                Riscv::new(self.mode),
                OffsetMemory::new(self.linear.va_pa_offset()),
                self.root,
            )
        };
        KernelSpace {
            tables,
            frames: self.frames,
            map: self.map,
            layout: self.layout,
            linear: self.linear,
            vm,
            satp: self.satp,
            mode: self.mode,
            built: self.built,
        }
    }
}

/// The kernel's live address space (see the module doc).
pub struct KernelSpace<'m> {
    tables: PageTable<Riscv, OffsetMemory>,
    frames: EarlyFrameAllocator<'m>,
    map: &'m MemoryMap,
    layout: Riscv64Layout,
    linear: LinearMap,
    vm: KernelVm,
    satp: u64,
    mode: Mode,
    built: Built,
}

impl<'m> KernelSpace<'m> {
    /// What kvas::kspace built: regions, leaves by size, table pages.
    pub fn built(&self) -> &Built {
        &self.built
    }

    /// The paging mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The root table's physical address.
    pub fn root(&self) -> PhysAddr {
        self.tables.root()
    }

    /// The `satp` value that selects these tables.
    pub fn satp(&self) -> u64 {
        self.satp
    }

    /// The live tables, for walking.
    pub fn tables(&self) -> &PageTable<Riscv, OffsetMemory> {
        &self.tables
    }

    /// RAM and reservations (the kernel image reserved).
    pub fn map(&self) -> &'m MemoryMap {
        self.map
    }

    /// The layout the space was built with.
    pub fn layout(&self) -> &Riscv64Layout {
        &self.layout
    }

    /// The linear map.
    pub fn linear(&self) -> &LinearMap {
        &self.linear
    }

    /// Table frames handed out and not given back.
    pub fn frames_in_use(&self) -> u64 {
        self.frames.in_use()
    }

    /// The frame allocator, for frames the caller keeps (user space's pool): no mapping
    /// changes, so no window or flush is involved.
    pub fn frames(&mut self) -> &mut EarlyFrameAllocator<'m> {
        &mut self.frames
    }

    /// The virtual-range allocators.
    pub fn vm(&mut self) -> &mut KernelVm {
        &mut self.vm
    }

    /// Linux's `high_memory - PAGE_OFFSET`: from the linear map's base to the end of the
    /// last mappable RAM, capped to the window.
    pub fn lowmem_bytes(&self) -> u64 {
        let base = self.linear.base.as_u64();
        let end = self.map.mappable().last().map_or(base, |r| r.end());
        (end.saturating_sub(base) & !0xfff).min(self.linear.size)
    }

    /// Applies the TLB work an engine call left, on every hart (mm/shootdown.rs).
    pub fn flush(&self, flush: Flush) {
        super::shootdown::flush_kernel(flush);
    }

    /// The windows whose top tables are preallocated: vmalloc, and modules with BPF.
    pub fn preallocated_spans(&self) -> [VirtRange; 2] {
        [self.layout.vmalloc(), self.layout.modules_window()]
    }

    /// Populates the pinned windows (vmalloc, modules; kvas::kspace made their tables right
    /// below the root at boot) down to `level`; returns how many tables it created.
    pub fn populate(&mut self, level: u8) -> Result<u64, Error> {
        let mut made = 0;
        for span in self.preallocated_spans() {
            made += self.tables.populate(span, level, &mut self.frames)?;
        }
        // New entries in the live root, where there were invalid ones (which may be cached,
        // on any hart).
        super::shootdown::flush_kernel(Flush::all());
        Ok(made)
    }

    /// Runs `f` with a window onto any frame through the fixmap slot (mm/fixmap.rs), and the
    /// frame allocator.
    pub fn with_window<R>(
        &mut self,
        f: impl FnOnce(FixmapWindow<'_>, &mut EarlyFrameAllocator<'m>) -> R,
    ) -> R {
        let slot = slot_va(&self.layout);
        // SAFETY: these tables are live (`activate` made them so and nothing switches
        // away), the slot is mapped in them (mm/image_map.rs) and only windows use it, and
        // the window borrows the tables, so nothing else edits them while it lives.
        let window = unsafe { FixmapWindow::new(&mut self.tables, slot) };
        f(window, &mut self.frames)
    }

    /// Changes the attributes of `range` (whole pages), TLB flushed.
    pub fn protect(&mut self, range: VirtRange, attrs: Attrs) -> Result<(), Error> {
        let flush = self.tables.protect_range(range, attrs, &mut self.frames)?;
        self.flush(flush);
        Ok(())
    }

    /// The live vmalloc or module area whose guard page holds `addr`, if any.
    pub fn guard_hit(&self, addr: u64) -> Option<VmArea> {
        let va = VirtAddr::new(addr);
        self.vm.vmalloc.guard_hit(va).or_else(|| self.vm.modules.modules().guard_hit(va))
    }

    /// The tables and the allocator, for mm/vmalloc.rs.
    pub(super) fn parts(&mut self) -> (&mut PageTable<Riscv, OffsetMemory>, &mut EarlyFrameAllocator<'m>) {
        (&mut self.tables, &mut self.frames)
    }
}

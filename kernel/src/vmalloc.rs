//! vmalloc in the kernel: virtual ranges from kvas::vm ([`Vmalloc`] for the vmalloc region,
//! [`ModulesWindow`] for modules), frames from kvas::phys's allocator, mappings through the
//! kvas engine on the live tables. Every area ends with an unmapped guard page (kvas::vm), so
//! an overrun faults; the trap handler names the area ([`guard_hit`]). Unmapping flushes each
//! page from the TLB before its frame goes back.

use core::cell::UnsafeCell;

use kvas::arch::riscv::Riscv;
use kvas::paging::{Attrs, FrameAllocator, OffsetMemory, PageTable};
use kvas::phys::EarlyFrameAllocator;
use kvas::vm::{ModulesWindow, VmArea, Vmalloc};
use kvas::{Error, PageSize, VirtAddr, PAGE_SIZE};

use crate::early::Early;

/// Tree nodes of each window's allocator (a window of k live areas needs at most 2k + 1).
const NODES: usize = 64;

/// The kernel's virtual-range allocators.
pub struct KernelVm {
    /// `[VMALLOC_START, VMALLOC_END)`.
    pub vmalloc: Vmalloc<NODES>,
    /// `[MODULES_VADDR, MODULES_END)`, BPF in its top 128 MiB.
    pub modules: ModulesWindow<NODES>,
}

struct VmCell(UnsafeCell<KernelVm>);

// SAFETY: one hart; see `vm`.
unsafe impl Sync for VmCell {}

/// Placeholder windows until [`init`] gives the real ones (`reset` works in place: the
/// allocators are too big to build on the stack and copy).
static VM: VmCell = VmCell(UnsafeCell::new(KernelVm {
    vmalloc: match Vmalloc::new(VirtAddr::new(1 << 30), VirtAddr::new(2 << 30)) {
        Ok(v) => v,
        Err(_) => panic!("placeholder vmalloc window"),
    },
    modules: match ModulesWindow::new(VirtAddr::new(1 << 30), VirtAddr::new(2 << 30)) {
        Ok(m) => m,
        Err(_) => panic!("placeholder modules window"),
    },
}));

/// The allocators.
///
/// # Safety
///
/// One hart: no other reference from this function may be live while the returned one is
/// used (the trap handler only reads, and only while a probe of trap.rs is in flight, when
/// no caller holds one).
pub unsafe fn vm() -> &'static mut KernelVm {
    // SAFETY: the caller guarantees exclusivity.
    unsafe { &mut *VM.0.get() }
}

/// Gives the allocators the layout's windows and preallocates their top tables (after
/// memory init, on the final tables). Returns how many tables it created.
pub fn init(e: &Early) -> Result<u64, Error> {
    // SAFETY: nothing else uses the allocators yet.
    let vm = unsafe { vm() };
    let v = e.layout.vmalloc();
    vm.vmalloc.reset(VirtAddr::new(v.start()), VirtAddr::new(v.end()))?;
    let m = e.layout.modules_window();
    vm.modules.reset(VirtAddr::new(m.start()), VirtAddr::new(m.end()))?;
    preallocate_tables(e)
}

/// The windows whose top tables are preallocated: vmalloc, and modules with BPF.
pub fn preallocated_spans(e: &Early) -> [kvas::layout::Span; 2] {
    [e.layout.vmalloc(), e.layout.modules_window()]
}

/// Creates every table right below the root for the vmalloc region and the modules window,
/// pinned so the engine never frees them (Linux's `pgtable_cache_init`): the root's kernel
/// half then never changes after boot, so copies of it in other address spaces stay right.
/// Returns how many tables it created.
pub fn preallocate_tables(e: &Early) -> Result<u64, Error> {
    let mut t = live_tables();
    let level = e.mode().levels() - 2;
    let frames = frames();
    let mut made = 0;
    for span in preallocated_spans(e) {
        made += t.populate(VirtAddr::new(span.start()), span.size(), level, &mut *frames)?;
    }
    // New entries in the live root, where there were invalid ones (which may be cached).
    flush_all();
    Ok(made)
}

/// The live area (vmalloc or module) whose guard page holds `addr`, for the trap handler.
pub fn guard_hit(addr: u64) -> Option<VmArea> {
    // SAFETY: a read of the allocators from the trap handler (see `vm`).
    let vm = unsafe { &*VM.0.get() };
    let va = VirtAddr::new(addr);
    vm.vmalloc.guard_hit(va).or_else(|| vm.modules.modules().guard_hit(va))
}

/// Flushes one page from this hart's TLB.
pub fn flush_page(va: VirtAddr) {
    // SAFETY: `sfence.vma` only drops cached translations.
    unsafe { core::arch::asm!("sfence.vma {}, zero", in(reg) va.as_u64()) };
}

/// Flushes this hart's whole TLB.
pub fn flush_all() {
    // SAFETY: as above.
    unsafe { core::arch::asm!("sfence.vma") };
}

fn live_tables() -> PageTable<Riscv, OffsetMemory> {
    crate::early::get().tables()
}

fn frames() -> &'static mut EarlyFrameAllocator<'static> {
    // SAFETY: no reference from meminit::memory() is held across calls into this module.
    unsafe { &mut crate::meminit::memory_mut().frames }
}

/// Maps every page of `area` to a fresh frame with `attrs`. On failure unmaps and frees what
/// it mapped, and the tables are as before.
pub fn map_area(area: VmArea, attrs: Attrs) -> Result<(), Error> {
    let mut t = live_tables();
    let frames = frames();
    let pages = area.range().pages();
    for i in 0..pages {
        let va = VirtAddr::new(area.start().as_u64() + i * PAGE_SIZE);
        let mapped = match frames.allocate_frame() {
            Some(pa) => t.map(va, pa, PageSize::Size4K, attrs, frames).inspect_err(|_| frames.free_frame(pa)),
            None => Err(Error::OutOfFrames { va, needed: 1, got: 0 }),
        };
        match mapped {
            // RISC-V may cache invalid entries: flush the new one (Linux's flush_cache_vmap).
            Ok(flush) => flush.apply(flush_page, flush_all),
            Err(err) => {
                unmap_pages(&mut t, frames, area.start(), i);
                return Err(err);
            }
        }
    }
    Ok(())
}

/// Unmaps `pages` pages from `start`, flushing each from the TLB before its frame goes back.
fn unmap_pages(
    t: &mut PageTable<Riscv, OffsetMemory>,
    frames: &mut EarlyFrameAllocator,
    start: VirtAddr,
    pages: u64,
) {
    for i in 0..pages {
        let va = VirtAddr::new(start.as_u64() + i * PAGE_SIZE);
        let Ok(tr) = t.translate(va) else { continue };
        match t.unmap(va, PageSize::Size4K, frames) {
            Ok(flush) => {
                flush.apply(flush_page, flush_all);
                frames.free_frame(tr.pa);
            }
            Err(err) => crate::kprintln!("kvas: vfree: cannot unmap {va}: {err}"),
        }
    }
}

/// Unmaps every page of `area` and frees its frames, TLB flushed.
pub fn unmap_area(area: VmArea) {
    unmap_pages(&mut live_tables(), frames(), area.start(), area.range().pages());
}

/// Allocates `size` bytes (whole pages) of vmalloc space, mapped read-write to fresh frames,
/// followed by an unmapped guard page (Linux's `vmalloc`).
pub fn vmalloc(size: u64) -> Result<VmArea, Error> {
    // SAFETY: not held across the mapping below.
    let area = unsafe { vm() }.vmalloc.allocate(size)?;
    if let Err(err) = map_area(area, Attrs::KERNEL_RW) {
        // SAFETY: as above.
        let _ = unsafe { vm() }.vmalloc.free(area);
        return Err(err);
    }
    Ok(area)
}

/// Frees an area [`vmalloc`] handed out (Linux's `vfree`): unmaps it, TLB flushed, frees its
/// frames and its range. Refuses an area that is not live, and then changes nothing.
pub fn vfree(area: VmArea) -> Result<(), Error> {
    // SAFETY: not held across the unmapping below.
    let vm = unsafe { vm() };
    if vm.vmalloc.area_containing(area.start()) != Some(area) {
        return vm.vmalloc.free(area); // refused, with the allocator's reason
    }
    unmap_area(area);
    // SAFETY: as above.
    unsafe { self::vm() }.vmalloc.free(area)
}

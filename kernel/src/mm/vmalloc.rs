//! vmalloc in the kernel: virtual ranges from kvas::vm (the space's `Vmalloc` for the
//! vmalloc region, `ModulesWindow` for modules), frames from the space's allocator, mappings
//! through the kvas engine on the live tables. Every area ends with an unmapped guard page
//! (kvas::vm), so an overrun faults. Unmapping flushes each page from the TLB before its
//! frame goes back.

use kvas::paging::{Attrs, FrameAllocator};
use kvas::vm::VmArea;
use kvas::{Error, PageSize, VirtAddr, PAGE_SIZE};

use super::kspace::KernelSpace;
use super::mmu;

impl KernelSpace<'_> {
    /// Maps every page of `area` to a fresh frame with `attrs`. On failure unmaps and frees
    /// what it mapped, and the tables are as before.
    pub fn map_area(&mut self, area: VmArea, attrs: Attrs) -> Result<(), Error> {
        let pages = area.range().pages();
        for i in 0..pages {
            let va = VirtAddr::new(area.start().as_u64() + i * PAGE_SIZE);
            let (t, frames) = self.parts();
            let mapped = match frames.allocate_frame() {
                Some(pa) => {
                    t.map(va, pa, PageSize::Size4K, attrs, frames).inspect_err(|_| frames.free_frame(pa))
                }
                None => Err(Error::OutOfFrames { va, needed: 1, got: 0 }),
            };
            match mapped {
                // RISC-V may cache invalid entries: flush the new one (Linux's flush_cache_vmap).
                Ok(flush) => self.flush(flush),
                Err(err) => {
                    self.unmap_pages(area.start(), i);
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Unmaps `pages` pages from `start`, flushing each from the TLB before its frame goes
    /// back.
    fn unmap_pages(&mut self, start: VirtAddr, pages: u64) {
        let (t, frames) = self.parts();
        for i in 0..pages {
            let va = VirtAddr::new(start.as_u64() + i * PAGE_SIZE);
            let Ok(tr) = t.translate(va) else { continue };
            match t.unmap(va, PageSize::Size4K, frames) {
                Ok(flush) => {
                    flush.apply(mmu::flush_page, mmu::flush_all);
                    frames.free_frame(tr.pa);
                }
                Err(err) => crate::kprintln!("kvas: vfree: cannot unmap {va}: {err}"),
            }
        }
    }

    /// Unmaps every page of `area` and frees its frames, TLB flushed.
    pub fn unmap_area(&mut self, area: VmArea) {
        self.unmap_pages(area.start(), area.range().pages());
    }

    /// Allocates `size` bytes (whole pages) of vmalloc space, mapped read-write to fresh
    /// frames, followed by an unmapped guard page (Linux's `vmalloc`).
    pub fn vmalloc(&mut self, size: u64) -> Result<VmArea, Error> {
        let area = self.vm().vmalloc.allocate(size)?;
        if let Err(err) = self.map_area(area, Attrs::KERNEL_RW) {
            let _ = self.vm().vmalloc.free(area);
            return Err(err);
        }
        Ok(area)
    }

    /// Frees an area [`Self::vmalloc`] handed out (Linux's `vfree`): unmaps it, TLB flushed,
    /// frees its frames and its range. Refuses an area that is not live, and then changes
    /// nothing.
    pub fn vfree(&mut self, area: VmArea) -> Result<(), Error> {
        if self.vm().vmalloc.area_containing(area.start()) != Some(area) {
            return self.vm().vmalloc.free(area); // refused, with the allocator's reason
        }
        self.unmap_area(area);
        self.vm().vmalloc.free(area)
    }
}

//! vmalloc in the kernel: virtual ranges from kvas::vm (the space's `Vmalloc` for the
//! vmalloc region, `ModulesWindow` for modules), frames from the space's allocator, mappings
//! through the kvas engine on the live tables. Every area ends with an unmapped guard page
//! (kvas::vm), so an overrun faults. Every map and unmap of an area is flushed from every
//! hart's TLB as one batch (mm/shootdown.rs); an unmap's frames — the pages and the tables
//! it emptied — go back only after that flush.

use kvas::paging::{Attrs, Flush, FrameAllocator};
use kvas::vm::VmArea;
use kvas::{Error, PageSize, VirtAddr, PAGE_SIZE};

use super::kspace::KernelSpace;
use super::shootdown;
use crate::gather::Gather;

impl KernelSpace<'_> {
    /// Maps every page of `area` to a fresh frame with `attrs`. On failure unmaps and frees
    /// what it mapped, and the tables are as before.
    pub fn map_area(&mut self, area: VmArea, attrs: Attrs) -> Result<(), Error> {
        let pages = area.range().pages();
        let mut batch = Flush::none();
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
                Ok(flush) => batch.merge(flush),
                Err(err) => {
                    self.unmap_pages(area.start(), i);
                    return Err(err);
                }
            }
        }
        // RISC-V may cache invalid entries, on any hart: flush the new ones everywhere
        // (Linux's flush_cache_vmap).
        shootdown::flush_kernel(batch);
        Ok(())
    }

    /// Unmaps `pages` pages from `start`; their frames, and the tables the unmaps emptied,
    /// go back once every hart has flushed them (a [`Gather`]).
    fn unmap_pages(&mut self, start: VirtAddr, pages: u64) {
        let (t, frames) = self.parts();
        let mut gather = Gather::new(frames);
        for i in 0..pages {
            let va = VirtAddr::new(start.as_u64() + i * PAGE_SIZE);
            let Ok(tr) = t.translate(va) else { continue };
            match t.unmap(va, PageSize::Size4K, gather.alloc()) {
                Ok(flush) => gather.add(flush, Some(tr.pa)),
                Err(err) => crate::kprintln!("kvas: vfree: cannot unmap {va}: {err}"),
            }
        }
        gather.finish();
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

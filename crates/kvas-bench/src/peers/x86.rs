//! The x86_64 crate's `OffsetPageTable` (4-level, physical offset 0).
//!
//! The crate has no range API: it sits out `map-range-4k`, and
//! [`Ops::map_linear`] picks each page size with [`best_page`] and maps it
//! through the matching `Mapper<S>`.

use x86_64::structures::paging::mapper::{MapToError, Translate, TranslateResult};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags, PhysFrame, Size1GiB,
    Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

use crate::arena;
use crate::subject::{best_page, Ops, Plain, Subject};
use crate::workload::Workload;

/// Frames from the shared arena.
pub struct ArenaFrames;

// SAFETY: the arena hands out each frame once until it is freed or reset, and
// a reset only happens after the table using its frames has been dropped.
unsafe impl FrameAllocator<Size4KiB> for ArenaFrames {
    #[inline]
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        arena::alloc().map(|pa| PhysFrame::containing_address(PhysAddr::new_truncate(pa)))
    }
}

const FLAGS: PageTableFlags =
    PageTableFlags::PRESENT.union(PageTableFlags::WRITABLE).union(PageTableFlags::GLOBAL);

/// A 4-level table behind an `OffsetPageTable` with offset 0.
pub struct X86 {
    mapper: OffsetPageTable<'static>,
}

impl X86 {
    #[inline]
    fn map<S: PageSize>(&mut self, va: u64, pa: u64) -> bool
    where
        OffsetPageTable<'static>: Mapper<S>,
    {
        let (Ok(va), Ok(pa)) = (VirtAddr::try_new(va), PhysAddr::try_new(pa)) else {
            return false;
        };
        let (Ok(page), Ok(frame)) =
            (Page::<S>::from_start_address(va), PhysFrame::<S>::from_start_address(pa))
        else {
            return false;
        };
        // SAFETY: the table is not live on any CPU and the frame is a made-up
        // physical address that nothing dereferences.
        let result: Result<_, MapToError<S>> =
            unsafe { self.mapper.map_to(page, frame, FLAGS, &mut ArenaFrames) };
        result.map(|flush| flush.ignore()).is_ok()
    }
}

impl Subject for X86 {
    type Ops<'a> = &'a mut X86;

    fn new() -> Self {
        let root = arena::alloc_zeroed().expect("the arena has a frame for the root");
        // SAFETY: `root` is a zeroed 4 KiB arena frame (a valid empty level-4
        // table) that this value owns until it is dropped, before the arena is
        // reset; the arena's physical addresses are its virtual addresses, so
        // offset 0 reaches every table frame.
        let mapper = unsafe { OffsetPageTable::new(&mut *(root as *mut PageTable), VirtAddr::new(0)) };
        Self { mapper }
    }

    fn ops(&mut self) -> &mut X86 {
        self
    }

    fn supports(workload: Workload) -> bool {
        workload != Workload::MapRange4k
    }

    #[inline(always)]
    fn translate(&self, va: u64) -> Option<u64> {
        self.mapper.translate_addr(VirtAddr::try_new(va).ok()?).map(|pa| pa.as_u64())
    }

    type Translator<'a> = Plain<'a, Self>;

    fn translator(&self) -> Plain<'_, Self> {
        Plain(self)
    }
}

impl Ops for &mut X86 {
    #[inline]
    fn map_4k(&mut self, va: u64, pa: u64) -> bool {
        self.map::<Size4KiB>(va, pa)
    }

    #[inline]
    fn map_2m(&mut self, va: u64, pa: u64) -> bool {
        self.map::<Size2MiB>(va, pa)
    }

    #[inline]
    fn unmap_4k(&mut self, va: u64) -> bool {
        let Ok(page) = VirtAddr::try_new(va).map(Page::<Size4KiB>::from_start_address) else {
            return false;
        };
        let Ok(page) = page else {
            return false;
        };
        self.mapper.unmap(page).map(|(_, flush)| flush.ignore()).is_ok()
    }

    #[inline(always)]
    fn fault_in(&mut self, va: u64, pa: u64) -> bool {
        let Ok(addr) = VirtAddr::try_new(va) else {
            return false;
        };
        match self.mapper.translate(addr) {
            TranslateResult::NotMapped => self.map::<Size4KiB>(va, pa),
            _ => false,
        }
    }

    fn map_range_4k(&mut self, _va: u64, _pa: u64, _len: u64) -> bool {
        false
    }

    fn map_linear(&mut self, va: u64, pa: u64, len: u64) -> bool {
        let mut done = 0;
        while done < len {
            let (v, p) = (va + done, pa + done);
            let size = best_page(v, p, len - done);
            let ok = match size {
                Size1GiB::SIZE => self.map::<Size1GiB>(v, p),
                Size2MiB::SIZE => self.map::<Size2MiB>(v, p),
                _ => self.map::<Size4KiB>(v, p),
            };
            if !ok {
                return false;
            }
            done += size;
        }
        true
    }
}

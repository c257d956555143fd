//! A process's address space: one value owning its root table (built and freed with the kvas
//! engine), its ASID context and its areas. The root's kernel half is copied from the kernel's
//! root once, at creation: the kernel's root entries never change after boot (every table
//! right below the root over vmalloc and the modules window is preallocated and pinned,
//! mm/build.rs), so one copy stays right forever. The user half is exactly `[0, TASK_SIZE)`.

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::paging::{Attrs, FrameAllocator, OffsetMemory, PageTable};
use kvas::sizes::PAGE_SIZE;
use kvas::{Error, PageSize, PhysAddr, VirtAddr, VirtRange};
use kvas_kernel_core::user::asid::Asids;
use kvas_kernel_core::user::frames::FramePool;
use kvas_kernel_core::user::syscall::prot;
use kvas_kernel_core::user::vmas::{huge_block, Access, Area, Areas, Refusal, UserLayout};

use crate::mm::mmu;
use crate::mm::shootdown::{self, Gather, HartMask};
use kvas::paging::Flush;

/// The user frame pool: 32 MiB.
pub type Pool = FramePool<128>;

/// Root entries from this index up map the kernel half (bit 63 of the VA), in every mode.
const KERNEL_HALF_INDEX: usize = 256;

/// One process's address space.
pub struct AddressSpace {
    table: PageTable<Riscv, OffsetMemory>,
    mode: Mode,
    offset: u64,
    asid_ctx: u64,
    asid: u16,
    /// What is mapped where.
    pub areas: Areas,
    /// Demand-paging faults served with a 4 KiB leaf.
    pub faults_4k: u64,
    /// Demand-paging faults served with a 2 MiB leaf.
    pub faults_2m: u64,
    /// The harts that have run this space (Linux's `mm_cpumask`): its flushes go to them.
    pub harts: HartMask,
}

/// The user attributes of `PROT_*` bits (accessed and dirty preset: the kernel never relies on
/// the hardware to set them).
pub fn attrs(p: u64) -> Attrs {
    let mut a = Attrs::USER | Attrs::ACCESSED | Attrs::DIRTY;
    if p & prot::READ != 0 {
        a |= Attrs::READ;
    }
    if p & prot::WRITE != 0 {
        a |= Attrs::WRITE | Attrs::READ;
    }
    if p & prot::EXEC != 0 {
        a |= Attrs::EXECUTE;
    }
    a
}

impl AddressSpace {
    /// An empty user half of `task_size` with the kernel half of `kernel_root`; table frames
    /// from `pool`, reached through the linear map at `offset`.
    pub fn new(
        mode: Mode,
        kernel_root: PhysAddr,
        offset: u64,
        task_size: u64,
        pool: &mut Pool,
    ) -> Result<Self, Error> {
        // SAFETY: every pool frame lies in RAM the linear map covers read-write at `offset`
        // (the pool came from the kernel's allocator, limited to the linear window).
        let mem = unsafe { OffsetMemory::new(offset) };
        let table = PageTable::new(Riscv::new(mode), mem, pool)?;
        let space = AddressSpace {
            table,
            mode,
            offset,
            asid_ctx: 0,
            asid: 0,
            areas: Areas::new(UserLayout::new(task_size)),
            faults_4k: 0,
            faults_2m: 0,
            harts: HartMask::new(),
        };
        let (src, dst) = (space.root_ptr(kernel_root), space.root_ptr(space.table.root()));
        for i in KERNEL_HALF_INDEX..512 {
            // SAFETY: both roots are table frames mapped by the linear map, 512 entries each;
            // the new root is not live yet, the kernel's root half never changes.
            unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        }
        Ok(space)
    }

    fn root_ptr(&self, root: PhysAddr) -> *mut u64 {
        root.as_u64().wrapping_add(self.offset) as *mut u64
    }

    /// The first root entry of the kernel half that differs from `kernel_root`'s, if any.
    pub fn kernel_half_equals(&self, kernel_root: PhysAddr) -> Option<usize> {
        let (k, mine) = (self.root_ptr(kernel_root), self.root_ptr(self.table.root()));
        // SAFETY: both roots are table frames mapped by the linear map, 512 entries each.
        (KERNEL_HALF_INDEX..512).find(|&i| unsafe { k.add(i).read_volatile() != mine.add(i).read_volatile() })
    }

    /// The live tables, for walks.
    pub fn table(&self) -> &PageTable<Riscv, OffsetMemory> {
        &self.table
    }

    /// Makes this space current on this hart: an ASID from `asids` (Linux's context switch),
    /// `satp` written with it, and this hart's TLB flushed when the allocator says so (the
    /// first switch here since an ASID generation rolled over, on whichever hart; or no
    /// ASIDs). Other harts flush at their own next switch, and the ASIDs they run meanwhile
    /// stay theirs (asid.rs). Returns whether it flushed.
    pub fn activate(&mut self, asids: &mut Asids) -> bool {
        let s = asids.switch(crate::smp::hart_index(), &mut self.asid_ctx);
        self.asid = s.asid;
        self.harts.add(crate::smp::hart_id());
        let satp =
            Satp { mode: Some(self.mode), asid: s.asid, root: self.table.root() }.encode().unwrap_or(0);
        // SAFETY: the root's kernel half is the kernel's (copied at creation, never changed).
        unsafe { mmu::switch_user(satp, s.flush_all) };
        s.flush_all
    }

    fn flush_page(&self, va: VirtAddr) {
        self.flush(Flush::page(va));
    }

    /// Flushes `f` on every hart that has run this space (one RFENCE for the others).
    fn flush(&self, f: Flush) {
        shootdown::flush_asid(f, self.asid, &self.harts);
    }

    /// Maps a fresh zeroed frame (or 2 MiB block) at `va` with `p`; the pool's frames.
    fn map_fresh(&mut self, va: u64, size: PageSize, p: u64, pool: &mut Pool) -> Result<u64, Error> {
        let pa = match size {
            PageSize::Size2M => pool.alloc_block(),
            _ => pool.alloc_frame(),
        }
        .ok_or(Error::OutOfFrames { va: VirtAddr::new(va), needed: 1, got: 0 })?;
        // SAFETY: the frame(s) just came from the pool, are mapped by the linear map and are
        // used by nothing else.
        unsafe { core::ptr::write_bytes(pa.wrapping_add(self.offset) as *mut u8, 0, size.bytes() as usize) };
        let pa_addr = PhysAddr::new(pa)?;
        match self.table.map(VirtAddr::new(va), pa_addr, size, attrs(p), pool) {
            Ok(f) => {
                f.ignore(); // the entry was invalid; flushed below (RISC-V may cache invalid entries)
                self.flush_page(VirtAddr::new(va));
                Ok(pa)
            }
            Err(e) => {
                for i in 0..size.bytes() / PAGE_SIZE {
                    pool.free(pa + i * PAGE_SIZE);
                }
                Err(e)
            }
        }
    }

    /// Maps a page of an image segment with `bytes` at `va` (the rest zero).
    pub fn map_image_page(
        &mut self,
        va: u64,
        bytes: &[u8],
        off: usize,
        p: u64,
        pool: &mut Pool,
    ) -> Result<(), Error> {
        let pa = match self.table.translate(VirtAddr::new(va)) {
            Ok(t) => t.pa.as_u64(),
            Err(_) => self.map_fresh(va, PageSize::Size4K, p, pool)?,
        };
        let dst = pa.wrapping_add(self.offset) as *mut u8;
        // SAFETY: the page is a pool frame mapped by the linear map; off + len <= 4096.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.add(off), bytes.len().min(4096 - off)) };
        Ok(())
    }

    /// Serves a fault at `addr`: maps the page (2 MiB where the area covers the aligned block
    /// and a block is free) if the area allows `access`; else the reason to refuse.
    pub fn fault(&mut self, addr: u64, access: Access, pool: &mut Pool) -> Result<(), Refusal> {
        let area: Area = self.areas.check(addr, access)?;
        if self.table.translate(VirtAddr::new(addr)).is_ok() {
            // Mapped, and the area allows it: the page's rights are the area's, so this is a
            // stale TLB entry at most.
            self.flush_page(VirtAddr::new(addr));
            return Ok(());
        }
        if let Some(base) = huge_block(&area, addr) {
            if self.map_fresh(base, PageSize::Size2M, area.prot, pool).is_ok() {
                self.faults_2m += 1;
                return Ok(());
            }
        }
        let page = addr & !(PAGE_SIZE - 1);
        self.map_fresh(page, PageSize::Size4K, area.prot, pool).map_err(|_| Refusal::Unmapped)?;
        self.faults_4k += 1;
        Ok(())
    }

    /// Unmaps `[start, end)` (page aligned), TLB flushed, and gives every frame back to
    /// `pool` — only once the flush has reached every hart of the space (a [`Gather`], as
    /// vfree's: until then another hart may still translate to the frames, or walk the tables
    /// the unmap emptied). A leaf the engine cannot unmap (no frame to split it) stays mapped
    /// and keeps its frames.
    pub fn unmap(&mut self, start: u64, end: u64, pool: &mut impl FrameAllocator) {
        let mut gather = Gather::for_asid(pool, self.asid, &self.harts);
        let mut va = start;
        while va < end {
            let Ok(t) = self.table.translate(VirtAddr::new(va)) else {
                va += PAGE_SIZE;
                continue;
            };
            let leaf = t.size.bytes();
            let base = va & !(leaf - 1);
            let upto = (base + leaf).min(end);
            let pa0 = t.pa.as_u64() - (va - base);
            let range = VirtRange::new(VirtAddr::new(va), upto - va);
            match range.and_then(|r| self.table.unmap_range(r, gather.alloc())) {
                Ok(f) => {
                    gather.add(f, None);
                    for p in (va..upto).step_by(PAGE_SIZE as usize) {
                        // A full gather flushes and frees early, the flush first.
                        gather.add(Flush::none(), PhysAddr::new(pa0 + (p - base)).ok());
                    }
                }
                Err(e) => crate::kprintln!("kvas: user unmap {va:#x}-{upto:#x}: {e}"),
            }
            va = upto;
        }
        gather.finish();
    }

    fn flush_all(&self) {
        self.flush(Flush::all());
    }

    /// Gives `[start, end)`'s mapped pages the rights `p`, TLB flushed by what the engine
    /// asks (page by page, or the whole ASID past `Flush::THRESHOLD` pages); an engine
    /// refusal (no frame for a split) stops there and is returned.
    pub fn protect(&mut self, start: u64, end: u64, p: u64, pool: &mut Pool) -> Result<(), kvas::Error> {
        let mut va = start;
        let mut result = Ok(());
        let mut flush = Flush::none();
        while va < end {
            match self.table.translate(VirtAddr::new(va)) {
                Ok(t) => {
                    let leaf = t.size.bytes();
                    let upto = ((va & !(leaf - 1)) + leaf).min(end);
                    let range = VirtRange::new(VirtAddr::new(va), upto - va);
                    match range.and_then(|r| self.table.protect_range(r, attrs(p), pool)) {
                        Ok(f) => flush.merge(f),
                        Err(e) => {
                            // The pages before stay changed (as Linux may leave them on ENOMEM).
                            result = Err(e);
                            break;
                        }
                    }
                    va = upto;
                }
                Err(_) => va += PAGE_SIZE,
            }
        }
        self.flush(flush);
        result
    }

    /// Frees every user frame and table, the root included (the kernel half's entries are
    /// cleared first: those tables are the kernel's).
    pub fn destroy(mut self, pool: &mut Pool) {
        let mut areas = [(0u64, 0u64); kvas_kernel_core::user::vmas::MAX_AREAS];
        for (slot, a) in areas.iter_mut().zip(self.areas.iter()) {
            *slot = (a.start, a.end);
        }
        for &(s, e) in areas.iter().filter(|(s, e)| s < e) {
            self.unmap(s, e, pool);
        }
        let root = self.root_ptr(self.table.root());
        for i in KERNEL_HALF_INDEX..512 {
            // SAFETY: the root is this space's table frame, mapped by the linear map; the
            // space is not live (the caller switched away), so no walker reads it.
            unsafe { root.add(i).write_volatile(0) };
        }
        if self.asid != 0 {
            self.flush_all();
        }
        self.table.destroy(pool);
    }
}

//! A process's address space: one value owning its root table (built and freed with the kvas
//! engine), its ASID context and its areas. The root's kernel half is copied from the kernel's
//! root once, at creation: the kernel's root entries never change after boot (every table
//! right below the root over vmalloc and the modules window is preallocated and pinned,
//! mm/build.rs), so one copy stays right forever. The user half is exactly `[0, TASK_SIZE)`.
//!
//! Separate spaces ([`AddressSpace::separate`], 4G/4G's arrangement): the kernel keeps
//! running on its own root, [`AddressSpace::activate`] only picks the ASID and hands the
//! `satp` to the trap glue (entry.rs), and [`AddressSpace::copy_from_user`] /
//! [`AddressSpace::copy_to_user`] pin the user's pages with an engine walk
//! (`kvas_kernel_core::user::pin`) and copy through the kernel's mapping of each frame
//! (`arch::map_frame`: the linear map, or on riscv32 a kmap slot for a highmem frame),
//! faulting where the SUM copy (uaccess.rs) would.

use kvas::paging::{Attrs, FrameAllocator, OffsetMemory, PageTable, TableFormat};
use kvas::sizes::PAGE_SIZE;
use kvas::{Error, PageSize, PhysAddr, VirtAddr, VirtRange};
use kvas_kernel_core::user::asid::Asids;
use kvas_kernel_core::user::syscall::prot;
use kvas_kernel_core::user::vmas::{huge_block, Access, Area, Areas, Refusal, UserLayout};

use kvas_kernel_core::user::pin::{self, Direction, UserChunk};

use super::arch::{self as mmu, flush_asid, Format, Gather, HartMask, Mode};
use super::uaccess::{self, CopyFault};
use kvas::paging::Flush;

pub use super::pool::Pool;

/// A root table entry (64-bit on riscv64, 32-bit on riscv32).
type Entry = <Format as TableFormat>::Entry;

/// One process's address space.
pub struct AddressSpace {
    table: PageTable<Format, OffsetMemory>,
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
    /// Separate spaces: the kernel's own `satp`; `None`: the kernel runs on this root.
    kernel_satp: Option<u64>,
    /// Separate: the kernel-half root entries left out (the linear map's).
    omitted: core::ops::Range<usize>,
    /// This space's `satp` as the last [`AddressSpace::activate`] made it.
    satp: u64,
    task_size: u64,
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
        let table = PageTable::new(mmu::format(mode), mem, pool)?;
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
            kernel_satp: None,
            omitted: 0..0,
            satp: 0,
            task_size,
        };
        let (src, dst) = (space.root_ptr(kernel_root), space.root_ptr(space.table.root()));
        for i in space.kernel_half() {
            // SAFETY: both roots are table frames mapped by the linear map, `entries()` each;
            // the new root is not live yet, the kernel's root half never changes.
            unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        }
        Ok(space)
    }

    fn root_ptr(&self, root: PhysAddr) -> *mut Entry {
        root.as_u64().wrapping_add(self.offset) as usize as *mut Entry
    }

    /// The root entries of the kernel half: from TASK_SIZE's (bit 63 of the address in
    /// every riscv64 mode; riscv32: the split's PAGE_OFFSET, or 4G/4G's shared top) to the
    /// end.
    fn kernel_half(&self) -> core::ops::Range<usize> {
        let g = self.mode.geometry();
        g.index_of(self.task_size, g.root_level())..g.entries()
    }

    #[cfg(target_arch = "riscv64")]
    /// The first root entry of the kernel half that differs from `kernel_root`'s, if any
    /// (separate: but for the linear map's, which are left out).
    pub fn kernel_half_equals(&self, kernel_root: PhysAddr) -> Option<usize> {
        let (k, mine) = (self.root_ptr(kernel_root), self.root_ptr(self.table.root()));
        // SAFETY: both roots are table frames mapped by the linear map, `entries()` each.
        self.kernel_half()
            .filter(|i| !self.omitted.contains(i))
            .find(|&i| unsafe { k.add(i).read_volatile() != mine.add(i).read_volatile() })
    }

    /// The live tables, for walks.
    pub fn table(&self) -> &PageTable<Format, OffsetMemory> {
        &self.table
    }

    /// Makes the kernel run apart from this space (4G/4G's arrangement): on `kernel_satp`
    /// (its own root, ASID 0), with the trap glue switching to this space's `satp` and back,
    /// and copies pinned. The root entries that map only the linear map (`linear`: its
    /// virtual start and size) are cleared: as under riscv32's 4G/4G, the process's root
    /// keeps the kernel image, vmalloc (stacks), modules and fixmap — what the trampoline and
    /// the registers it saves need — and not the kernel's view of RAM.
    pub fn separate(&mut self, kernel_satp: u64, linear: (u64, u64)) {
        self.kernel_satp = Some(kernel_satp);
        self.omitted = self.linear_only_entries(linear);
        let root = self.root_ptr(self.table.root());
        for i in self.omitted.clone() {
            // SAFETY: the root is this space's table frame, mapped by the linear map, within
            // its entries; it is not live yet (the process has not run).
            unsafe { root.add(i).write_volatile(0) };
        }
    }

    /// The root entries of the kernel half whose whole span lies in `[start, start + size)`.
    fn linear_only_entries(&self, (start, size): (u64, u64)) -> core::ops::Range<usize> {
        let g = self.mode.geometry();
        let level = g.root_level();
        let span = g.granularity_of(level);
        let lo = start.div_ceil(span) * span;
        let hi = start.checked_add(size).map_or(0, |end| end / span * span);
        let first = g.index_of(lo, level);
        let half = self.kernel_half();
        if hi <= lo || first < half.start {
            return 0..0;
        }
        first..(first + ((hi - lo) / span) as usize).min(half.end)
    }

    /// The trap glue's `satp` pair (process, kernel): both 0 unless separate.
    pub fn trampoline_satps(&self) -> (u64, u64) {
        match self.kernel_satp {
            Some(k) => (self.satp, k),
            None => (0, 0),
        }
    }

    /// Whether the trap glue must flush the whole TLB at each `satp` write: separate, with
    /// no ASIDs (this space has the kernel's ASID 0, which the allocator hands out only when
    /// there are none).
    pub fn trampoline_flush(&self) -> bool {
        self.kernel_satp.is_some() && self.asid == 0
    }

    /// Makes this space current on this hart: an ASID from `asids` (Linux's context switch),
    /// `satp` written with it (separate: handed to the trap glue, which writes it on the way
    /// out), and this hart's TLB flushed when the allocator says so (the first switch here
    /// since an ASID generation rolled over, on whichever hart; or no ASIDs). Other harts
    /// flush at their own next switch, and the ASIDs they run meanwhile stay theirs
    /// (asid.rs). Returns whether it flushed.
    pub fn activate(&mut self, asids: &mut Asids) -> bool {
        let s = asids.switch(crate::smp::hart_index(), &mut self.asid_ctx);
        self.asid = s.asid;
        self.harts.add(crate::smp::hart_id());
        let satp = mmu::satp(self.mode, s.asid, self.table.root());
        self.satp = satp;
        // SAFETY: the root's kernel half is the kernel's (copied at creation, never changed);
        // separate, the kernel's own satp is written again (it is current), for the flush.
        unsafe { mmu::switch_user(self.kernel_satp.unwrap_or(satp), s.flush_all) };
        s.flush_all
    }

    fn flush_page(&self, va: VirtAddr) {
        self.flush(Flush::page(va));
    }

    /// Flushes `f` on every hart that has run this space (one RFENCE for the others).
    fn flush(&self, f: Flush) {
        flush_asid(f, self.asid, &self.harts);
    }

    /// Copies `dst.len()` bytes from user address `src` (range-checked by the caller): with
    /// SUM through this space when it is current (shared), or pinned (separate). Both use
    /// uaccess.rs's copy loop, so the two differ only in how the bytes are reached.
    pub fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), CopyFault> {
        if self.kernel_satp.is_none() {
            return uaccess::copy_from_user(dst, src);
        }
        self.pinned(src, dst.len(), Direction::FromUser, |c, kva| {
            uaccess::copy_from_user(&mut dst[c.offset..c.offset + c.len], kva)
        })
    }

    /// Copies `src` to user address `dst` (range-checked by the caller), as above.
    pub fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), CopyFault> {
        if self.kernel_satp.is_none() {
            return uaccess::copy_to_user(dst, src);
        }
        self.pinned(dst, src.len(), Direction::ToUser, |c, kva| {
            uaccess::copy_to_user(kva, &src[c.offset..c.offset + c.len])
        })
    }

    /// Runs `copy` on each pinned chunk of `[addr, addr + len)` with the chunk's address in
    /// the kernel (`arch::map_frame`: a kmap slot for a highmem frame, the linear map for a
    /// lowmem one, read-write while the chunk is copied); the first fault stops it, as it
    /// stops the SUM copy.
    fn pinned(
        &self,
        addr: u64,
        len: usize,
        dir: Direction,
        mut copy: impl FnMut(UserChunk, u64) -> Result<(), CopyFault>,
    ) -> Result<(), CopyFault> {
        let chunks = pin::pin(&self.table, addr, len, self.task_size, dir)
            .map_err(|_| CopyFault { addr, scause: dir.scause() })?;
        for chunk in chunks {
            let c = chunk.map_err(|f| CopyFault { addr: f.addr, scause: f.scause })?;
            // A chunk ends at its page's end: one frame, one mapping.
            let pa = c.pa.as_u64();
            let frame = mmu::map_frame(pa & !(PAGE_SIZE - 1), self.offset)
                .ok_or(CopyFault { addr: c.va, scause: dir.scause() })?;
            copy(c, frame.va() + (pa & (PAGE_SIZE - 1)))?;
        }
        Ok(())
    }

    /// Maps a fresh zeroed frame (highmem first, see pool.rs) or 2 MiB block (lowmem) at `va`
    /// with `p`; the pool's frames.
    fn map_fresh(&mut self, va: u64, size: PageSize, p: u64, pool: &mut Pool) -> Result<u64, Error> {
        let out = Error::OutOfFrames { va: VirtAddr::new(va), needed: 1, got: 0 };
        let pa = match size {
            PageSize::Size2M => {
                let pa = pool.alloc_block().ok_or(out)?;
                // SAFETY: the block just came from the pool's lowmem part, is mapped by the
                // linear map and is used by nothing else.
                unsafe {
                    core::ptr::write_bytes(pa.wrapping_add(self.offset) as *mut u8, 0, size.bytes() as usize)
                };
                pa
            }
            _ => {
                let pa = pool.alloc_user_page().ok_or(out)?;
                match mmu::map_frame(pa, self.offset) {
                    Some(mut frame) => frame.bytes().fill(0),
                    None => {
                        pool.free(pa);
                        return Err(Error::NotMapped { va: VirtAddr::new(va) });
                    }
                }
                pa
            }
        };
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
        let Some(mut frame) = mmu::map_frame(pa & !(PAGE_SIZE - 1), self.offset) else {
            return Err(Error::NotMapped { va: VirtAddr::new(va) });
        };
        let n = bytes.len().min(PAGE_SIZE as usize - off);
        frame.bytes()[off..off + n].copy_from_slice(&bytes[..n]);
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
        if let Some(base) = huge_block(&area, addr).filter(|_| mmu::HUGE) {
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
        for i in self.kernel_half() {
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

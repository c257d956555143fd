//! [`KernelSpace32`]: the riscv32 kernel's live address space, for one `vmsplit=`.
//!
//! Built once by kmain with kvas::kspace::sv32 (`build_sv32`, the builder the host tests
//! run against `sim::Sv32Mmu`) through the boot tables' window, then turned on. It owns
//! the live tables (reached through the linear map: every table frame is lowmem), the
//! lowmem frame allocator (tables), the highmem frame allocator, and the pkmap.
//!
//! What user space (and 4G/4G) needs from it:
//!
//! - [`KernelSpace32::root`]: the root whose kernel entries a process's root copies
//!   (user::space's `AddressSpace::new`: the top 256 MiB — image, vmalloc, pkmap, fixmap,
//!   root entries 960..1024, each a pinned table or an image leaf fixed since boot — and in
//!   the shared splits the linear map too);
//! - [`KernelSpace32::alloc_user_frame`] / [`KernelSpace32::free_user_frame`]: a frame for a
//!   user page, highmem first (reach it with [`KernelSpace32::kmap`]);
//! - [`KernelSpace32::kmap`]: a guard mapping any frame read-write.

use kvas::arch::riscv32::{Satp32, Sv32};
use kvas::kspace::sv32::{Sv32Built, Sv32KernelSpec, FIX_KMAP, KMAP_LOCAL_SLOTS};
use kvas::layout::riscv32_split::PKMAP_BASE;
use kvas::layout::Vmsplit;
use kvas::linear::LinearMap;
use kvas::paging::{FrameAllocator, OffsetMemory, PageTable, TableFormat};
use kvas::phys::{EarlyFrameAllocator, MemoryMap};
use kvas::{Error, PhysAddr, VirtAddr};

use super::highmem::HighFrames;
use super::kmap::{Kmap, Pkmap, PKMAP_SLOTS};
use super::mmu;

/// The riscv32 kernel's live address space (see the module doc).
pub struct KernelSpace32<'m> {
    tables: PageTable<Sv32, OffsetMemory>,
    frames: EarlyFrameAllocator<'m>,
    high: HighFrames<'m>,
    map: &'m MemoryMap,
    spec: Sv32KernelSpec,
    built: Sv32Built,
    satp: u32,
    pkmap: Pkmap,
    local: Pkmap,
}

/// The linear address of the leaf entry for `va` in the pinned table below `root` (read
/// through the linear map).
fn slot_entry(linear: &LinearMap, root: PhysAddr, va: u64) -> Result<u64, Error> {
    let not_mapped = Error::NotMapped { va: VirtAddr::new(va) };
    let root_va = linear.va_of(root).ok_or(not_mapped)?.as_u64();
    // SAFETY: the root is a lowmem frame of the live tables, read at its linear address,
    // entry va >> 22 < 1024.
    let raw = unsafe { core::ptr::read_volatile((root_va + (va >> 22) * 4) as usize as *const u32) };
    let table = Sv32.next_table(raw, 1).ok_or(not_mapped)?;
    Ok(linear.va_of(table).ok_or(not_mapped)?.as_u64() + ((va >> 12) & 0x3ff) * 4)
}

impl<'m> KernelSpace32<'m> {
    /// Turns on the tables `build_sv32` made (root `root`), which from now on are reached
    /// through the linear map.
    ///
    /// # Safety
    ///
    /// `root` is the root of tables built by `build_sv32` for `spec` and `map` with frames
    /// from `frames` (all lowmem), which map the running image, its stack and the fixmap
    /// at the addresses they have now; nothing else holds them.
    pub unsafe fn activate(
        root: PhysAddr,
        frames: EarlyFrameAllocator<'m>,
        map: &'m MemoryMap,
        spec: Sv32KernelSpec,
        built: Sv32Built,
    ) -> Result<Self, Error> {
        let satp = Satp32 { sv32: true, asid: 0, root }.encode()?;
        // SAFETY: the caller vouches for the tables (the image, stack, fixmap mapped).
        unsafe { mmu::activate(satp) };
        let linear = built.linear;
        // SAFETY: the tables are live and every frame of theirs lies in the linear window,
        // mapped read-write at `va_pa_offset`; this value owns them from here on.
        let tables = unsafe { PageTable::from_root(Sv32, OffsetMemory::new(linear.va_pa_offset()), root) };
        let pkmap_entries = slot_entry(&linear, root, PKMAP_BASE)?;
        let local_entries = slot_entry(&linear, root, FIX_KMAP)?;
        // SAFETY: the pkmap's table and the fixmap's first table are pinned in the live
        // tables (build_sv32 populated them); the pkmap's 1024 entries fill its table, the 16
        // kmap_local entries lie in the fixmap's first table (0xff802000.. < 0xffc00000), and
        // nothing else writes them (no mapping call covers these slots but kmap's).
        let (pkmap, local) = unsafe {
            (
                Pkmap::new(PKMAP_BASE, pkmap_entries, PKMAP_SLOTS, linear),
                Pkmap::new(FIX_KMAP, local_entries, KMAP_LOCAL_SLOTS as usize, linear),
            )
        };
        let floor = linear.base.as_u64() + linear.size;
        Ok(KernelSpace32 {
            tables,
            frames,
            high: HighFrames::new(map, floor),
            map,
            spec,
            built,
            satp,
            pkmap,
            local,
        })
    }

    /// The split.
    pub fn split(&self) -> Vmsplit {
        self.spec.split
    }

    /// vmalloc's range (its tables pinned since boot: mapping there never changes the root).
    pub fn vmalloc(&self) -> kvas::VirtRange {
        self.spec.vmalloc()
    }

    /// What was built, region by region.
    pub fn built(&self) -> &Sv32Built {
        &self.built
    }

    /// The kernel's root table.
    pub fn root(&self) -> PhysAddr {
        self.tables.root()
    }

    /// The `satp` value of the kernel's own address space (ASID 0).
    pub fn satp(&self) -> u32 {
        self.satp
    }

    /// The live tables.
    pub fn tables(&self) -> &PageTable<Sv32, OffsetMemory> {
        &self.tables
    }

    /// The live tables, to map and unmap kernel pages (vmalloc), with the lowmem frames.
    pub fn tables_mut(&mut self) -> (&mut PageTable<Sv32, OffsetMemory>, &mut EarlyFrameAllocator<'m>) {
        (&mut self.tables, &mut self.frames)
    }

    /// RAM and reservations.
    pub fn map(&self) -> &'m MemoryMap {
        self.map
    }

    /// The linear map (lowmem); its `capped` range is highmem.
    pub fn linear(&self) -> &LinearMap {
        &self.built.linear
    }

    /// Bytes of lowmem: the linear map's RAM.
    pub fn lowmem_bytes(&self) -> u64 {
        self.built.linear.mapped_bytes
    }

    /// Bytes of free highmem at boot (RAM past the linear window).
    pub fn highmem_bytes(&self) -> u64 {
        self.high.total_bytes()
    }

    /// A zeroed frame for a user page: highmem while there is some, lowmem after. Reach it
    /// with [`Self::kmap`].
    pub fn alloc_user_frame(&mut self) -> Option<PhysAddr> {
        let pa = self.high.allocate_frame().or_else(|| self.frames.allocate_frame())?;
        self.zero(pa);
        Some(pa)
    }

    /// Gives back a frame [`Self::alloc_user_frame`] handed out.
    pub fn free_user_frame(&mut self, pa: PhysAddr) {
        if self.built.linear.va_of(pa).is_some() {
            self.frames.free_frame(pa);
        } else {
            self.high.free_frame(pa);
        }
    }

    /// The highmem allocator itself (raw frames, not zeroed), for a pool of user pages.
    pub fn highmem_frames(&mut self) -> &mut HighFrames<'m> {
        &mut self.high
    }

    /// Takes the pkmap's last `n` slots for another owner (user space's copies; see
    /// `Pkmap::split_off`).
    pub fn take_kmap_slots(&mut self, n: usize) -> Option<Pkmap> {
        self.pkmap.split_off(n)
    }

    /// Highmem frames handed out and not given back.
    pub fn highmem_in_use(&self) -> u64 {
        self.high.in_use()
    }

    /// Maps any frame read-write until the guard drops (see super::kmap).
    pub fn kmap(&self, frame: PhysAddr) -> Option<Kmap<'_>> {
        self.pkmap.kmap(frame)
    }

    /// Like [`Self::kmap`], through the fixmap's 16 kmap_local slots (Linux's
    /// `kmap_local_page`: for short critical sections, such as a copy to or from a user page).
    pub fn kmap_local(&self, frame: PhysAddr) -> Option<Kmap<'_>> {
        self.local.kmap(frame)
    }

    /// The pkmap (slots in use).
    pub fn pkmap(&self) -> &Pkmap {
        &self.pkmap
    }

    /// The fixmap's kmap_local slots.
    pub fn kmap_local_slots(&self) -> &Pkmap {
        &self.local
    }

    fn zero(&self, pa: PhysAddr) {
        match self.kmap(pa) {
            Some(mut k) => k.bytes().fill(0),
            None => crate::power::fatal(format_args!("kmap: no pkmap slot left for {pa}")),
        }
    }
}

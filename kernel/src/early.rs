//! The early page tables, built with the MMU off by the kvas engine through the identity
//! view: the kernel image at its link address with W^X (text RX, rodata R, data and bss
//! RW), its text identity-mapped (the trampoline for the `satp` write), and the fixmap
//! (kvas::layout's window for the mode): the test finisher's page and the DTB.
//!
//! The fixmap, `[FIXADDR_START, FIXADDR_START + 6 MiB)`:
//!
//! ```text
//!  FIXADDR_START          device page (the test finisher)
//!  FIXADDR_START + 4 KiB  the window slot through which fixmap.rs reaches any frame
//!  FIXADDR_START + 2 MiB  DTB window: two 2 MiB leaves from the DTB's 2 MiB boundary, so a
//!                         DTB of up to 2 MiB (Linux's MAX_FDT_SIZE) is covered wherever it is
//!  FIXADDR_TOP
//! ```

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::layout::{Kasan, Riscv64Layout};
use kvas::paging::{Attrs, FrameAllocator, OffsetMemory, PageTable, PhysMemory};
use kvas::{Error, PageSize, PhysAddr, VirtAddr};

use crate::boot::KERNEL_LINK_ADDR;
use crate::devicetree::BootInfo;
use crate::frames::EarlyFrames;
use crate::image::Sections;
use crate::probe::{self, Probe};

/// Largest DTB the fixmap window maps (Linux's `MAX_FDT_SIZE`).
pub const MAX_FDT_SIZE: u64 = 2 << 20;
/// Offset of the DTB window in the fixmap.
const FIX_FDT_OFFSET: u64 = 2 << 20;
/// Size of the DTB window (Linux's `FIX_FDT_SIZE`).
const FIX_FDT_SIZE: u64 = 4 << 20;

/// What boot hands to the virtual kernel.
pub struct Early {
    /// What the device tree said.
    pub info: BootInfo,
    /// Physical load address of the image.
    pub load_pa: u64,
    /// The image's sections.
    pub sections: Sections,
    /// The probe's outcome.
    pub probe: Probe,
    /// The `satp` value of the early tables.
    pub satp: u64,
    /// The live tables' root: the early tables', then the final ones'.
    pub root: PhysAddr,
    /// `virtual - physical` through which the live tables' frames are reachable: the image
    /// offset for the early tables, the linear map's for the final ones.
    pub table_offset: u64,
    /// kvas::layout's plan for the image in this mode (its fixmap is used here).
    pub layout: Riscv64Layout,
    /// `instret` at `_start`.
    pub instret_at_entry: u64,
}

impl Early {
    /// The mode paging runs in.
    pub fn mode(&self) -> Mode {
        self.probe.mode
    }

    /// Where the finisher's register is mapped, if there is one.
    pub fn finisher_va(&self) -> Option<u64> {
        self.info.finisher.map(|pa| self.layout.fixmap().start() + (pa & 0xfff))
    }

    /// Where the DTB is mapped.
    pub fn dtb_va(&self) -> u64 {
        self.layout.fixmap().start() + FIX_FDT_OFFSET + (self.info.dtb.base & (MAX_FDT_SIZE - 1))
    }

    /// The live tables (`root`), reached at `table_offset`: the early tables through the
    /// image mapping (their frames are in .bss), the final ones through the linear map.
    pub fn tables(&self) -> PageTable<Riscv, OffsetMemory> {
        // SAFETY: every frame of the live tables is mapped read-write at physical +
        // table_offset (see the field), and nothing else references them.
        unsafe {
            PageTable::from_root(Riscv::new(self.mode()), OffsetMemory::new(self.table_offset), self.root)
        }
    }
}

/// Why the early tables could not be built.
pub enum EarlyError {
    /// The engine refused.
    Paging(Error),
    /// The hart took none of the allowed modes.
    NoMode(Mode),
    /// The DTB is larger than the fixmap window.
    DtbTooLarge(u64),
}

impl From<Error> for EarlyError {
    fn from(e: Error) -> Self {
        EarlyError::Paging(e)
    }
}

impl fmt::Display for EarlyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EarlyError::Paging(e) => write!(f, "early page tables: {e}"),
            EarlyError::NoMode(max) => write!(f, "the hart accepts no paging mode up to {max}"),
            EarlyError::DtbTooLarge(size) => {
                write!(f, "the DTB is {size:#x} bytes, larger than the fixmap window's {MAX_FDT_SIZE:#x}")
            }
        }
    }
}

/// What [`map_kernel`] maps besides the image.
pub struct KernelMaps<'a> {
    /// What the device tree said (the finisher, the DTB).
    pub info: &'a BootInfo,
    /// Physical load address of the image.
    pub load_pa: u64,
    /// The image's sections.
    pub sections: &'a Sections,
    /// The layout (for the fixmap).
    pub layout: &'a Riscv64Layout,
    /// Whether to identity-map the text (the early tables' trampoline).
    pub trampoline: bool,
}

/// Maps what every kvas address space holds: the image at its link address with W^X
/// (text RX, rodata R, data and bss RW), the fixmap (device page, window slot, DTB), and,
/// for the early tables, the identity trampoline. The early and the final tables both come
/// from here, each through its own view of physical memory.
pub fn map_kernel<M: PhysMemory>(
    t: &mut PageTable<Riscv, M>,
    k: &KernelMaps,
    frames: &mut impl FrameAllocator,
) -> Result<(), EarlyError> {
    let s = k.sections;
    let mut map = |va: u64, pa: u64, len: u64, attrs: Attrs| -> Result<(), Error> {
        t.map_range(VirtAddr::new(va), PhysAddr::new(pa)?, len, attrs, PageSize::Size2M, frames)
            .map(|f| f.ignore())
    };
    let image = |off: u64| (KERNEL_LINK_ADDR + off, k.load_pa + off);
    let (va, pa) = image(0);
    map(va, pa, s.text_end, Attrs::KERNEL_RX)?;
    let (va, pa) = image(s.rodata_start);
    map(va, pa, s.rodata_end - s.rodata_start, Attrs::KERNEL_RO)?;
    let (va, pa) = image(s.data_start);
    map(va, pa, s.end - s.data_start, Attrs::KERNEL_RW)?;
    if k.trampoline {
        map(k.load_pa, k.load_pa, s.text_end, Attrs::KERNEL_RX)?;
    }
    let fixmap = k.layout.fixmap().start();
    if let Some(fin) = k.info.finisher {
        map(fixmap, fin & !0xfff, 0x1000, Attrs::KERNEL_RW)?;
    }
    if k.info.dtb.size > MAX_FDT_SIZE {
        return Err(EarlyError::DtbTooLarge(k.info.dtb.size));
    }
    // The window slot (fixmap.rs), first aliasing a page of .data until its first use.
    let (_, data_pa) = image(s.data_start);
    map(fixmap + crate::fixmap::SLOT_OFFSET, data_pa, 0x1000, Attrs::KERNEL_RW)?;
    let dtb_base = k.info.dtb.base & !(MAX_FDT_SIZE - 1);
    map(fixmap + FIX_FDT_OFFSET, dtb_base, FIX_FDT_SIZE, Attrs::KERNEL_RO)?;
    Ok(())
}

/// Chooses the mode and builds the early tables (MMU off).
pub fn build(info: &BootInfo, load_pa: u64, frames: &mut EarlyFrames) -> Result<Early, EarlyError> {
    let s = crate::image::sections();
    let max = probe::cap(info);
    let probe = probe::probe(max, (load_pa, s.text_end), frames)?.ok_or(EarlyError::NoMode(max))?;
    // SAFETY: the MMU is off: every frame is at its physical address.
    let identity = unsafe { OffsetMemory::new(0) };
    let mut t = PageTable::new(Riscv::new(probe.mode), identity, frames)?;
    let layout =
        Riscv64Layout::from_image(probe.mode, Kasan::None, KERNEL_LINK_ADDR, KERNEL_LINK_ADDR + s.end, None)?;
    let k = KernelMaps { info, load_pa, sections: &s, layout: &layout, trampoline: true };
    map_kernel(&mut t, &k, frames)?;
    let root = t.root();
    let satp = Satp { mode: Some(probe.mode), asid: 0, root }.encode()?;
    Ok(Early {
        info: *info,
        load_pa,
        sections: s,
        probe,
        satp,
        root,
        table_offset: KERNEL_LINK_ADDR.wrapping_sub(load_pa),
        layout,
        instret_at_entry: 0,
    })
}

struct Slot(UnsafeCell<MaybeUninit<Early>>);

// SAFETY: one hart; written once before paging, read-only afterwards.
unsafe impl Sync for Slot {}

static EARLY: Slot = Slot(UnsafeCell::new(MaybeUninit::uninit()));

/// Stores the boot hand-off (once, MMU off, before the switch).
pub fn publish(early: Early) {
    // SAFETY: called once by boot_main before anything reads the slot.
    unsafe { (*EARLY.0.get()).write(early) };
}

/// The boot hand-off, mutable: for kmain, once, before anything reads it through [`get`].
///
/// # Safety
///
/// No other reference to the hand-off may be live while the returned one is used.
pub unsafe fn get_mut() -> &'static mut Early {
    // SAFETY: published before kmain runs; the caller guarantees exclusivity.
    unsafe { (*EARLY.0.get()).assume_init_mut() }
}

/// The boot hand-off.
pub fn get() -> &'static Early {
    // SAFETY: boot_main publishes before jumping to kmain, the only caller context, and
    // nothing writes the slot afterwards.
    unsafe { (*EARLY.0.get()).assume_init_ref() }
}

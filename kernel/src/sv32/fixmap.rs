//! The riscv32 fixmap, `[FIXADDR_START, FIXADDR_TOP)` = `[0xff800000, 0xfffff000)`
//! (kvas::layout::riscv32_split), the same in every split and in the boot and final tables:
//!
//! ```text
//!  0xff800000  device page (the test finisher)
//!  0xff801000  window slot: the boot tables' view of any frame (BootWindow)
//!  0xff802000  kmap_local slots (KMAP_LOCAL_SLOTS pages; super::kmap)
//!  0xffc00000  DTB window: 513 pages from the DTB's first page (a DTB of up to 2 MiB)
//!  0xfffff000  FIXADDR_TOP: never mapped
//! ```
//!
//! While the boot tables are live their fixmap entries are written here directly (the two
//! tables are in .bss, super::entry); the final tables map the same pages through the kvas
//! engine (kvas::kspace::sv32).

use core::cell::Cell;

use kvas::arch::riscv32::Sv32;
use kvas::layout::riscv32_split::FIXADDR_START;
use kvas::paging::{Attrs, PhysMemory, TableFormat};
use kvas::{PhysAddr, VirtAddr};

use super::entry::{BOOT_TABLES, ENTRIES};

use kvas::kspace::sv32::FIX_WINDOW;

/// Points the boot tables' fixmap page at `va` to `pa` with `attrs` and flushes it.
///
/// Fatal if `va` is outside the fixmap or `pa` cannot be mapped (Sv32: 34-bit addresses).
pub fn boot_set(va: u64, pa: u64, attrs: Attrs) {
    let index = va.wrapping_sub(FIXADDR_START) >> 12;
    if va & 0xfff != 0 || index >= 2 * ENTRIES as u64 - 1 {
        crate::power::fatal(format_args!("boot fixmap: {va:#x} is not a fixmap page"));
    }
    let pa = match PhysAddr::new(pa).and_then(|p| Sv32.check_leaf(p, 4096, attrs).map(|()| p)) {
        Ok(p) => p,
        Err(e) => crate::power::fatal(format_args!("boot fixmap: cannot map {pa:#x}: {e}")),
    };
    let raw = Sv32.encode_leaf(pa, attrs | Attrs::GLOBAL, 0);
    let (table, entry) = (1 + index as usize / ENTRIES, index as usize % ENTRIES);
    BOOT_TABLES.0[table][entry].store(raw, core::sync::atomic::Ordering::Relaxed);
    super::mmu::flush_page(VirtAddr::new(va));
}

/// The boot tables' window onto any frame (the engine's memory while it builds the final
/// tables): a frame other than the last one is reached by pointing the window slot at it.
pub struct BootWindow {
    current: Cell<Option<PhysAddr>>,
}

impl BootWindow {
    /// The window. Only one may exist (kmain makes it once, while the boot tables are live).
    ///
    /// # Safety
    ///
    /// The boot tables are live, and nothing else uses the window slot while it lives.
    pub unsafe fn new() -> Self {
        BootWindow { current: Cell::new(None) }
    }
}

// SAFETY: (1) after `boot_set` the slot maps exactly the frame at `pa` read-write, 4 KiB
// aligned, until the next call remaps it (only this window uses the slot); (2) no reference
// to the slot's memory is kept.
unsafe impl PhysMemory for BootWindow {
    fn frame_ptr(&self, pa: PhysAddr) -> *mut u64 {
        if self.current.get() != Some(pa) {
            boot_set(FIX_WINDOW, pa.as_u64(), Attrs::KERNEL_RW);
            self.current.set(Some(pa));
        }
        FIX_WINDOW as usize as *mut u64
    }
}

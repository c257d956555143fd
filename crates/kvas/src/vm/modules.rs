//! The modules window and the BPF JIT window at its top.
//!
//! On riscv64 Linux places modules in `[PFN_ALIGN(_end) - 2 GiB, PFN_ALIGN(_start))`
//! so that every module reaches every kernel symbol with a ±2 GiB `auipc`-based
//! sequence, and gives the BPF JIT the top 128 MiB of that window,
//! `[MODULES_END - 128 MiB, MODULES_END)` — the part nearest the kernel text.
//!
//! ```text
//!  MODULES_VADDR                           MODULES_END - 128M   MODULES_END = _start
//!  |  modules (allocate_module)                  | BPF (allocate_bpf) | kernel image ...
//! ```
//!
//! A [`ModulesWindow`] keeps the two parts apart, each its own guarded
//! [`Vmalloc`]: a module can never take BPF's room nor the reverse, and a
//! request that does not fit its part fails instead of spilling into the other.
//! (Linux ≥ 6.10's execmem lets modules use the whole window; kvas keeps the
//! split so that the BPF JIT always has its 128 MiB.) Both parts allocate whole
//! pages at page alignment — execmem's alignment 1 for modules, `PAGE_SIZE` for
//! BPF — with a guard page after each area, as every Linux vmalloc area has.

use crate::addr::{VirtAddr, PAGE_SIZE};
use crate::layout::Riscv64Layout;
use crate::range::VirtRange;
use crate::Error;

use super::range_alloc::{window_pages, WHOLE_SPACE};
use super::vmalloc::{VmArea, Vmalloc};

/// `BPF_JIT_REGION_SIZE`: the BPF window at the top of the modules window.
pub const BPF_WINDOW_SIZE: u64 = 128 << 20;

/// The modules window split into its modules part and its BPF part, each a
/// [`Vmalloc`] of `N` nodes.
#[derive(Clone, Debug)]
pub struct ModulesWindow<const N: usize> {
    modules: Vmalloc<N>,
    bpf: Vmalloc<N>,
}

impl<const N: usize> ModulesWindow<N> {
    /// The window `[modules_start, modules_end)` (Linux's `MODULES_VADDR` and
    /// `MODULES_END`), its top [`BPF_WINDOW_SIZE`] bytes for BPF.
    ///
    /// `modules_end == 0` stands for 2^64. Refuses misaligned bounds
    /// ([`Error::Misaligned`]) and a window that is empty, ends before it
    /// starts, covers all 2^64 bytes or leaves no room for modules below BPF
    /// ([`Error::VaWindowInvalid`]).
    pub const fn new(modules_start: VirtAddr, modules_end: VirtAddr) -> Result<Self, Error> {
        let bpf_start = match split(modules_start, modules_end) {
            Ok(b) => b,
            Err(e) => return Err(e),
        };
        let modules = match Vmalloc::with_name("modules", modules_start, bpf_start) {
            Ok(v) => v,
            Err(e) => return Err(e),
        };
        match Vmalloc::with_name("bpf", bpf_start, modules_end) {
            Ok(bpf) => Ok(ModulesWindow { modules, bpf }),
            Err(e) => Err(e),
        }
    }

    /// Starts over in place with the window `[modules_start, modules_end)`,
    /// every area forgotten. Refuses what [`Self::new`] refuses, and then changes
    /// nothing.
    pub fn reset(&mut self, modules_start: VirtAddr, modules_end: VirtAddr) -> Result<(), Error> {
        let bpf_start = split(modules_start, modules_end)?;
        // Both parts are checked before either changes.
        window_pages::<N>(modules_start, bpf_start)?;
        window_pages::<N>(bpf_start, modules_end)?;
        self.modules.reset(modules_start, bpf_start)?;
        self.bpf.reset(bpf_start, modules_end)
    }

    /// The whole modules window `window` (BPF included), as a layout gives it.
    pub const fn from_range(window: VirtRange) -> Result<Self, Error> {
        Self::new(window.start(), window.end())
    }

    /// The modules window of a riscv64 layout: [`Riscv64Layout::modules`] for
    /// modules, [`Riscv64Layout::bpf`] for BPF.
    pub fn from_layout(layout: &Riscv64Layout) -> Result<Self, Error> {
        Self::from_range(layout.modules_window())
    }

    /// Allocates at least `size` bytes (rounded up to pages) for a module, at the
    /// lowest address of the modules part that fits them and a guard page.
    /// Errors as [`Vmalloc::allocate_aligned`], naming the "modules" window.
    pub fn allocate_module(&mut self, size: u64) -> Result<VmArea, Error> {
        self.modules.allocate(size)
    }

    /// Allocates at least `size` bytes (rounded up to pages) for BPF JIT code in
    /// the BPF part. Errors as [`Vmalloc::allocate_aligned`], naming "bpf".
    pub fn allocate_bpf(&mut self, size: u64) -> Result<VmArea, Error> {
        self.bpf.allocate(size)
    }

    /// Frees a module area. Refuses ([`Error::VaBadFree`], nothing changed) an
    /// area that is not a live module area, a BPF one included.
    pub fn free_module(&mut self, area: VmArea) -> Result<(), Error> {
        self.modules.free(area)
    }

    /// Frees a BPF area. Refuses an area that is not a live BPF area.
    pub fn free_bpf(&mut self, area: VmArea) -> Result<(), Error> {
        self.bpf.free(area)
    }

    /// The modules part.
    pub const fn modules(&self) -> &Vmalloc<N> {
        &self.modules
    }

    /// The BPF part.
    pub const fn bpf(&self) -> &Vmalloc<N> {
        &self.bpf
    }

    /// The whole window, `[MODULES_VADDR, MODULES_END)`.
    pub const fn window(&self) -> VirtRange {
        let m = self.modules.window();
        VirtRange::from_pages(m.first_page(), m.pages() + self.bpf.window().pages())
    }
}

/// Checks the window `[s, e)` and returns where BPF's part starts.
const fn split(modules_start: VirtAddr, modules_end: VirtAddr) -> Result<VirtAddr, Error> {
    let (s, e) = (modules_start.as_u64(), modules_end.as_u64());
    // `e == 0` stands for 2^64, as in every window.
    let end = if e == 0 { 1u128 << 64 } else { e as u128 };
    if end == s as u128 {
        return Err(Error::VaWindowInvalid { start: s, end: e, reason: "the window is empty" });
    }
    if end < s as u128 {
        return Err(Error::VaWindowInvalid { start: s, end: e, reason: "the window ends before it starts" });
    }
    if s == 0 && e == 0 {
        return Err(Error::VaWindowInvalid { start: s, end: e, reason: WHOLE_SPACE });
    }
    if end - s as u128 <= BPF_WINDOW_SIZE as u128 {
        return Err(Error::VaWindowInvalid {
            start: s,
            end: e,
            reason: "the window leaves no room for modules below the 128 MiB BPF window",
        });
    }
    let bpf_start = VirtAddr::new(e.wrapping_sub(BPF_WINDOW_SIZE));
    if !bpf_start.is_aligned(PAGE_SIZE) {
        return Err(Error::Misaligned { what: "window end", value: e, align: PAGE_SIZE });
    }
    Ok(bpf_start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::riscv::Mode;
    use crate::layout::riscv64::KERNEL_LINK_ADDR;
    use crate::layout::Options;
    use crate::sizes::SZ_1M;

    const PAGE: u64 = PAGE_SIZE;
    const END: u64 = KERNEL_LINK_ADDR;

    fn window() -> ModulesWindow<16> {
        ModulesWindow::new(VirtAddr::new(END - 256 * SZ_1M), VirtAddr::new(END)).unwrap()
    }

    #[test]
    fn bpf_gets_the_top_128_mib_and_modules_the_rest() {
        let w = window();
        let m = w.modules().window();
        let b = w.bpf().window();
        assert_eq!((m.start().as_u64(), m.size()), (END - 256 * SZ_1M, 128 * SZ_1M));
        assert_eq!((b.start().as_u64(), b.size()), (END - 128 * SZ_1M, BPF_WINDOW_SIZE));
        assert_eq!(w.window(), VirtRange::new(VirtAddr::new(END - 256 * SZ_1M), 256 * SZ_1M).unwrap());
    }

    #[test]
    fn each_part_allocates_in_its_own_window_and_frees_only_its_own() {
        let mut w = window();
        let m = w.allocate_module(5000).unwrap();
        let b = w.allocate_bpf(1).unwrap();
        assert_eq!((m.start().as_u64(), m.size()), (END - 256 * SZ_1M, 2 * PAGE));
        assert_eq!((b.start().as_u64(), b.size()), (END - 128 * SZ_1M, PAGE));
        assert_eq!(b.guard_page().as_u64(), END - 128 * SZ_1M + PAGE);
        assert!(matches!(w.free_module(b), Err(Error::VaBadFree { window: "modules", .. })));
        assert!(matches!(w.free_bpf(m), Err(Error::VaBadFree { window: "bpf", .. })));
        w.free_module(m).unwrap();
        w.free_bpf(b).unwrap();
        assert_eq!(w.modules().free_bytes() + w.bpf().free_bytes(), 256 * SZ_1M);
    }

    #[test]
    fn a_part_that_is_full_does_not_spill_into_the_other() {
        let mut w = window();
        let all_bpf = w.allocate_bpf(BPF_WINDOW_SIZE - PAGE).unwrap();
        assert_eq!(all_bpf.guard_page().as_u64(), END - PAGE);
        assert_eq!(
            w.allocate_bpf(PAGE),
            Err(Error::VaExhausted { window: "bpf", size: 2 * PAGE, align: PAGE, largest_free: 0 })
        );
        assert!(matches!(w.allocate_module(128 * SZ_1M), Err(Error::VaExhausted { window: "modules", .. })));
        assert_eq!(w.modules().free_bytes(), 128 * SZ_1M);
    }

    #[test]
    fn refuses_windows_without_room_for_modules() {
        let s = VirtAddr::new(END - 128 * SZ_1M);
        assert_eq!(
            ModulesWindow::<4>::new(s, VirtAddr::new(END)).unwrap_err(),
            Error::VaWindowInvalid {
                start: END - 128 * SZ_1M,
                end: END,
                reason: "the window leaves no room for modules below the 128 MiB BPF window"
            }
        );
        assert_eq!(
            ModulesWindow::<4>::new(VirtAddr::new(END), s).unwrap_err().to_string(),
            format!(
                "virtual-range window [{END:#x}, {:#x}) refused: the window ends before it starts",
                s.as_u64()
            )
        );
        assert!(matches!(
            ModulesWindow::<4>::new(s, s),
            Err(Error::VaWindowInvalid { reason: "the window is empty", .. })
        ));
        // `end == 0` stands for 2^64: from 0 it is the whole space, not empty.
        assert!(matches!(
            ModulesWindow::<4>::new(VirtAddr::new(0), VirtAddr::new(0)),
            Err(Error::VaWindowInvalid { reason: WHOLE_SPACE, .. })
        ));
        assert!(matches!(
            ModulesWindow::<4>::new(VirtAddr::new(END - 256 * SZ_1M), VirtAddr::new(END + 8)),
            Err(Error::Misaligned { what: "window end", .. })
        ));
        assert!(matches!(
            ModulesWindow::<4>::new(VirtAddr::new(END - 256 * SZ_1M + 8), VirtAddr::new(END)),
            Err(Error::Misaligned { what: "window start", .. })
        ));
    }

    #[test]
    fn reset_moves_both_parts_or_neither() {
        let mut w = window();
        w.allocate_module(PAGE).unwrap();
        w.allocate_bpf(PAGE).unwrap();
        let before = (w.modules().window(), w.bpf().window(), w.modules().free_bytes());
        let bad = w.reset(VirtAddr::new(END - 256 * SZ_1M), VirtAddr::new(END - 200 * SZ_1M));
        assert!(matches!(bad, Err(Error::VaWindowInvalid { .. })));
        assert_eq!((w.modules().window(), w.bpf().window(), w.modules().free_bytes()), before);
        w.reset(VirtAddr::new(END - 512 * SZ_1M), VirtAddr::new(END - 128 * SZ_1M)).unwrap();
        assert_eq!(w.bpf().window().start().as_u64(), END - 256 * SZ_1M);
        assert_eq!(w.modules().free_bytes() + w.bpf().free_bytes(), 384 * SZ_1M);
        assert_eq!(w.allocate_bpf(1).unwrap().start().as_u64(), END - 256 * SZ_1M);
    }

    #[test]
    fn the_layout_windows_are_linux_modules_and_bpf() {
        for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
            for kernel_size in [0, 20 * SZ_1M] {
                let options = Options { kernel_size, ..Options::default() };
                let layout = Riscv64Layout::plan(mode, &options).unwrap();
                let w = ModulesWindow::<4>::from_layout(&layout).unwrap();
                for (part, span) in [(w.modules(), layout.modules()), (w.bpf(), layout.bpf())] {
                    let r = part.window();
                    assert_eq!(r, span);
                }
            }
        }
    }
}

//! What KASLR does to the rest of a layout: the modules windows it can give.
//!
//! On riscv64 the modules and BPF window is `[PFN_ALIGN(_end) - 2 GiB,
//! PFN_ALIGN(_start))`, so it moves with every KASLR offset Linux draws; on
//! x86-64 (and in kvas's arm64 model) it stays where it is. [`modules_windows`]
//! plans the two ends of the range of offsets and reports both windows.

use crate::layout::plan::{plan, Layout};
use crate::range::VirtRange;

/// The modules windows at the two ends of Linux's KASLR range for one image size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KaslrWindows {
    /// The largest offset Linux draws for the image size.
    pub max_offset: u64,
    /// The window with offset 0 (the image at its link address).
    pub lowest: VirtRange,
    /// The window with the largest offset.
    pub highest: VirtRange,
}

impl KaslrWindows {
    /// Whether the window moves with the offset at all.
    pub fn moves(&self) -> bool {
        self.lowest != self.highest
    }

    /// Every address some offset's window holds: from the lowest window's start
    /// to the highest window's last address (offsets move it in 2 MiB steps, and
    /// a window is 2 GiB, so there is no gap).
    pub fn union(&self) -> VirtRange {
        VirtRange::from_last(self.lowest.start(), self.highest.last()).unwrap_or(self.lowest)
    }

    /// The addresses every offset's window holds, if any.
    pub fn common(&self) -> Option<VirtRange> {
        VirtRange::from_last(self.highest.start(), self.lowest.last()).ok()
    }
}

/// The modules windows at offset 0 and at the largest offset Linux draws for
/// `layout`'s image size; `None` without KASLR, without a modules window, or when
/// either end cannot be planned.
pub fn modules_windows(layout: &Layout) -> Option<KaslrWindows> {
    let parts = layout.parts();
    if !parts.kaslr {
        return None;
    }
    let at = |offset: u64| {
        let options = crate::layout::Options { kaslr_offset: offset, ..*layout.options() };
        plan(layout.target(), &options).ok()?.modules_window()
    };
    Some(KaslrWindows { max_offset: parts.kaslr_max, lowest: at(0)?, highest: at(parts.kaslr_max)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::VirtAddr;
    use crate::arch::riscv::Mode;
    use crate::layout::{Options, Target, X86Mode};

    #[test]
    fn riscv64_windows_follow_the_image() {
        // A 20 MiB image: Linux draws offsets up to ((1G - 20M) / 2M - 1) * 2M =
        // 0x3ea00000. Offset 0: [0xffffffff81400000 - 2G, 0xffffffff80000000);
        // the largest: both ends 0x3ea00000 higher.
        let o = Options { kernel_size: 20 << 20, ..Options::default() };
        let l = plan(Target::Riscv64(Mode::Sv39), &o).unwrap();
        let w = modules_windows(&l).unwrap();
        assert_eq!(w.max_offset, 0x3ea0_0000);
        assert_eq!(
            w.lowest,
            VirtRange::from_last(VirtAddr::new(0xffff_ffff_0140_0000), VirtAddr::new(0xffff_ffff_7fff_ffff))
                .unwrap()
        );
        assert_eq!(
            w.highest,
            VirtRange::from_last(VirtAddr::new(0xffff_ffff_3fe0_0000), VirtAddr::new(0xffff_ffff_be9f_ffff))
                .unwrap()
        );
        assert!(w.moves());
        assert_eq!(
            w.union(),
            VirtRange::from_last(VirtAddr::new(0xffff_ffff_0140_0000), VirtAddr::new(0xffff_ffff_be9f_ffff))
                .unwrap()
        );
        assert_eq!(
            w.common(),
            Some(
                VirtRange::from_last(
                    VirtAddr::new(0xffff_ffff_3fe0_0000),
                    VirtAddr::new(0xffff_ffff_7fff_ffff)
                )
                .unwrap()
            )
        );
    }

    #[test]
    fn x86_64_windows_stay_and_kaslr_off_has_none() {
        let l = plan(Target::X86_64(X86Mode::Level4), &Options::default()).unwrap();
        assert!(!modules_windows(&l).unwrap().moves());
        let off = Options { kaslr: Some(false), ..Options::default() };
        assert_eq!(modules_windows(&plan(Target::X86_64(X86Mode::Level4), &off).unwrap()), None);
    }
}

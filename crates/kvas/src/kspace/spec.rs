//! [`KernelSpec`]: the kernel's address space as data.

use crate::addr::{PhysAddr, PAGE_SIZE};
use crate::arch::riscv::Mode;
use crate::layout::riscv64::{Riscv64Layout, KERNEL_LINK_ADDR, PMD_SIZE, PUD_SIZE};
use crate::layout::Kasan;
use crate::linear::LinearConfig;
use crate::phys::{MemoryMap, PhysRange, ReserveKind, ReservedBy};
use crate::sizes::{SZ_2M, SZ_4K, SZ_4M};
use crate::Error;

/// Offset of the fixmap's window slot (the page after the device page).
pub const FIX_WINDOW_OFFSET: u64 = SZ_4K;
/// Offset of the DTB window in the fixmap.
pub const FIX_FDT_OFFSET: u64 = SZ_2M;
/// Size of the DTB window (Linux's `FIX_FDT_SIZE`): two 2 MiB leaves.
pub const FIX_FDT_SIZE: u64 = SZ_4M;
/// Largest DTB the window covers wherever it lies (Linux's `MAX_FDT_SIZE`).
pub const MAX_FDT_SIZE: u64 = SZ_2M;
/// Linux's default KFENCE pool: `(CONFIG_KFENCE_NUM_OBJECTS + 1) * 2` pages for
/// the default 255 objects, 2 MiB.
pub const KFENCE_POOL_SIZE: u64 = (255 + 1) * 2 * PAGE_SIZE;

/// Whose rules the address space follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rules {
    /// What the kvas kernel builds: the image section by section with W^X
    /// (leaves up to 2 MiB), the linear map with [`LinearConfig::riscv`].
    Kvas,
    /// What Linux builds (`setup_vm_final`): the image in whole 2 MiB steps
    /// from `KERNEL_LINK_ADDR` (`create_kernel_page_table`, each step with the
    /// protection of the section its first byte lies in), the linear map with
    /// [`LinearConfig::riscv_linux`] and a KFENCE pool mapped with 4 KiB pages.
    Linux,
}

/// The image's sections, as byte offsets from its first byte (4 KiB aligned,
/// in this order): text `[0, text_end)` RX, rodata `[rodata_start, rodata_end)`
/// R, data and bss `[data_start, end)` RW. Gaps between them are not mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSections {
    /// End of text.
    pub text_end: u64,
    /// Start of read-only data.
    pub rodata_start: u64,
    /// End of read-only data.
    pub rodata_end: u64,
    /// Start of data and bss.
    pub data_start: u64,
    /// The image's size.
    pub end: u64,
}

impl ImageSections {
    /// Text, rodata and data back to back: `text` bytes, `rodata` bytes, and
    /// the rest of `size` (what `kvas map --text-size --rodata-size
    /// --kernel-size` describe).
    pub const fn contiguous(text: u64, rodata: u64, size: u64) -> Self {
        ImageSections {
            text_end: text,
            rodata_start: text,
            rodata_end: text.saturating_add(rodata),
            data_start: text.saturating_add(rodata),
            end: size,
        }
    }

    /// Refuses sections that are not 4 KiB aligned, out of order, or with no text.
    pub fn check(&self) -> Result<(), Error> {
        let s = self;
        for (what, value) in [
            ("text size", s.text_end),
            ("rodata start", s.rodata_start),
            ("rodata end", s.rodata_end),
            ("data start", s.data_start),
            ("kernel size", s.end),
        ] {
            if value % PAGE_SIZE != 0 {
                return Err(Error::Misaligned { what, value, align: PAGE_SIZE });
            }
        }
        if s.text_end == 0 || s.text_end > s.end {
            return Err(Error::InvalidOption {
                option: "--text-size",
                value: s.text_end,
                reason: "must be more than 0 and at most the kernel size",
            });
        }
        if s.rodata_start < s.text_end || s.rodata_end < s.rodata_start || s.data_start < s.rodata_end {
            return Err(Error::InvalidOption {
                option: "--rodata-size",
                value: s.rodata_end.wrapping_sub(s.rodata_start),
                reason: "sections must follow each other: text, rodata, data",
            });
        }
        if s.data_start > s.end {
            return Err(Error::InvalidOption {
                option: "--rodata-size",
                value: s.rodata_end.wrapping_sub(s.rodata_start),
                reason: "text and rodata together must fit in the kernel size",
            });
        }
        Ok(())
    }
}

/// The kernel image: where it is loaded and its sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// Physical load address (4 KiB aligned; the kvas kernel needs 2 MiB).
    pub load: PhysAddr,
    /// The sections, as offsets from `load` (and from `KERNEL_LINK_ADDR`).
    pub sections: ImageSections,
}

impl KernelImage {
    /// Checks the image: aligned, sections in order, not wrapping.
    pub fn check(&self) -> Result<(), Error> {
        if !self.load.is_aligned(PAGE_SIZE) {
            return Err(Error::Misaligned {
                what: "kernel load address",
                value: self.load.as_u64(),
                align: PAGE_SIZE,
            });
        }
        self.sections.check()?;
        self.phys().map(|_| ())
    }

    /// The image's physical range.
    pub fn phys(&self) -> Result<PhysRange, Error> {
        PhysRange::new(self.load.as_u64(), self.sections.end)
    }

    /// The physical range of bytes `[from, to)` of the image (empty: `None`).
    pub fn part(&self, from: u64, to: u64) -> Result<Option<PhysRange>, Error> {
        if to <= from {
            return Ok(None);
        }
        PhysRange::new(self.load.as_u64() + from, to - from).map(Some)
    }

    /// The physical range the image occupies under `rules`: Linux reserves
    /// (and maps) the image rounded up to 2 MiB (`setup_bootmem` with
    /// `STRICT_KERNEL_RWX`).
    pub fn footprint(&self, rules: Rules) -> Result<PhysRange, Error> {
        match rules {
            Rules::Kvas => self.phys(),
            Rules::Linux => {
                let size = self.sections.end.div_ceil(PMD_SIZE) * PMD_SIZE;
                PhysRange::new(self.load.as_u64(), size)
            }
        }
    }

    /// Checks that the image lies in mappable RAM of `map` (not in a hole nor
    /// in a `no-map` reservation) and reserves its [`footprint`](Self::footprint),
    /// as the kernel's memory init does. The same rule for the kernel and `kvas map`.
    pub fn reserve_in(&self, map: &mut MemoryMap, rules: Rules) -> Result<(), Error> {
        self.check()?;
        let range = self.footprint(rules)?;
        if !map.mappable().any(|r| r.start_u64() <= range.start_u64() && range.end() <= r.end()) {
            return Err(Error::InvalidOption {
                option: "--load-addr",
                value: self.load.as_u64(),
                reason: "the kernel image must lie in mappable RAM (RAM, not no-map)",
            });
        }
        map.reserve(range.start_u64(), range.size(), ReserveKind::Reserved, ReservedBy::Kernel)
    }
}

/// What the fixmap holds (see the module diagram).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixmapSpec {
    /// A device page at `FIXADDR_START` (the test finisher's register page).
    pub device: Option<PhysAddr>,
    /// The window slot at `FIXADDR_START + 4 KiB`, first aliasing the image's
    /// first data page (the kernel remaps it to reach any frame).
    pub window_slot: bool,
    /// The DTB window at `FIXADDR_START + 2 MiB`: two 2 MiB leaves, read-only,
    /// from the DTB's 2 MiB boundary (so a DTB of up to 2 MiB is covered).
    pub dtb: Option<PhysRange>,
}

/// Where the KFENCE pool is (its linear alias is mapped with 4 KiB pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kfence {
    /// No KFENCE.
    Off,
    /// Where Linux's top-down memblock allocation puts it: the highest
    /// [`KFENCE_POOL_SIZE`] bytes of free RAM (one free range, 4 KiB aligned)
    /// below the end of the linear window, after the image and every reservation.
    TopDown,
    /// At this physical range.
    At(PhysRange),
}

/// The kernel's address space as data: what [`super::build`] maps. Build one
/// with [`KernelSpec::new`] (the final tables of a kernel), [`KernelSpec::early`]
/// (the MMU-off tables) or [`KernelSpec::linear_only`], then adjust the fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSpec {
    /// The paging mode.
    pub mode: Mode,
    /// Whose rules.
    pub rules: Rules,
    /// The layout (fixmap, vmalloc, modules window, linear window).
    pub layout: Riscv64Layout,
    /// The image, mapped at `KERNEL_LINK_ADDR + kaslr offset` (none: not mapped).
    pub image: Option<KernelImage>,
    /// Identity-map the image's text (the early tables' trampoline for the `satp` write).
    pub trampoline: bool,
    /// The fixmap's contents.
    pub fixmap: FixmapSpec,
    /// The linear map (none: not built). Its read-only aliases (text, rodata)
    /// are filled from `image` by [`KernelSpec::new`].
    pub linear: Option<LinearConfig>,
    /// The KFENCE pool, kept out of large leaves (`rules` Linux only by default).
    pub kfence: Kfence,
    /// Preallocate the pinned tables right below the root for vmalloc and the
    /// modules window (Linux's `pgtable_cache_init`).
    pub pinned: bool,
}

impl KernelSpec {
    /// The final tables of a kernel with `image`: the image, the fixmap (the
    /// window slot; no device page or DTB until set), the linear map with the
    /// text and rodata aliases read-only, the pinned tables; with
    /// [`Rules::Linux`], also the KFENCE pool ([`Kfence::TopDown`]) and no window slot.
    pub fn new(mode: Mode, rules: Rules, image: KernelImage) -> Result<Self, Error> {
        image.check()?;
        let size = image.footprint(rules)?.size();
        // The image lives in the riscv64 kernel PUD above KERNEL_LINK_ADDR.
        if size > PUD_SIZE {
            return Err(Error::KernelTooLarge { size, max: PUD_SIZE, window: "riscv64 kernel PUD" });
        }
        let end = KERNEL_LINK_ADDR + size;
        let layout = Riscv64Layout::from_image(mode, Kasan::None, KERNEL_LINK_ADDR, end, None)?;
        let s = image.sections;
        let base = match rules {
            Rules::Kvas => LinearConfig::riscv(mode),
            Rules::Linux => LinearConfig::riscv_linux(mode),
        };
        let linear = LinearConfig {
            page_offset: crate::VirtAddr::new(layout.page_offset()),
            size: layout.linear().size(),
            kernel_text: image.part(0, s.text_end)?,
            kernel_rodata: image.part(s.rodata_start, s.rodata_end)?,
            ..base
        };
        Ok(KernelSpec {
            mode,
            rules,
            layout,
            image: Some(image),
            trampoline: false,
            fixmap: FixmapSpec { device: None, window_slot: rules == Rules::Kvas, dtb: None },
            linear: Some(linear),
            kfence: if rules == Rules::Linux { Kfence::TopDown } else { Kfence::Off },
            pinned: true,
        })
    }

    /// The same spec with the image moved `offset` bytes above `KERNEL_LINK_ADDR`
    /// (KASLR): the layout is re-planned, which refuses an offset Linux's range
    /// does not allow (a multiple of 2 MiB, image inside the kernel PUD).
    pub fn with_kaslr_offset(mut self, offset: u64) -> Result<Self, Error> {
        let size = match self.image {
            Some(image) => image.footprint(self.rules)?.size(),
            None => 0,
        };
        let start = KERNEL_LINK_ADDR.checked_add(offset);
        let start = start.ok_or(Error::RangeWraps { start: KERNEL_LINK_ADDR, len: offset })?;
        let end = start.checked_add(size).ok_or(Error::RangeWraps { start, len: size })?;
        self.layout = Riscv64Layout::from_image(self.mode, self.layout.kasan(), start, end, None)?;
        Ok(self)
    }

    /// The MMU-off tables of the kvas kernel: the image, its identity
    /// trampoline and the fixmap; no linear map, no pinned tables.
    pub fn early(mode: Mode, image: KernelImage, fixmap: FixmapSpec) -> Result<Self, Error> {
        let mut spec = Self::new(mode, Rules::Kvas, image)?;
        spec.trampoline = true;
        spec.fixmap = fixmap;
        spec.linear = None;
        spec.pinned = false;
        Ok(spec)
    }

    /// The linear map alone (`kvas map --only linear`).
    pub fn linear_only(mode: Mode, rules: Rules, linear: LinearConfig) -> Result<Self, Error> {
        let layout = Riscv64Layout::from_image(mode, Kasan::None, KERNEL_LINK_ADDR, KERNEL_LINK_ADDR, None)?;
        Ok(KernelSpec {
            mode,
            rules,
            layout,
            image: None,
            trampoline: false,
            fixmap: FixmapSpec::default(),
            linear: Some(linear),
            kfence: Kfence::Off,
            pinned: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_checked_in_order_and_aligned() {
        assert_eq!(ImageSections::contiguous(0x1000, 0x2000, 0x4000).check(), Ok(()));
        let e = ImageSections::contiguous(0x1800, 0, 0x4000).check().unwrap_err();
        assert_eq!(e, Error::Misaligned { what: "text size", value: 0x1800, align: PAGE_SIZE });
        let e = ImageSections::contiguous(0, 0x1000, 0x4000).check().unwrap_err();
        assert!(matches!(e, Error::InvalidOption { option: "--text-size", .. }), "{e}");
        let e = ImageSections::contiguous(0x2000, 0x3000, 0x4000).check().unwrap_err();
        assert!(matches!(e, Error::InvalidOption { option: "--rodata-size", .. }), "{e}");
        let out_of_order =
            ImageSections { rodata_start: 0, ..ImageSections::contiguous(0x2000, 0x1000, 0x4000) };
        assert!(out_of_order.check().is_err());
    }

    #[test]
    fn linux_reserves_and_maps_the_image_rounded_up_to_2m() {
        let image = KernelImage {
            load: PhysAddr::new(0x8020_0000).unwrap(),
            sections: ImageSections::contiguous(0xc0_0000, 0x60_0000, 0x1e6_c000),
        };
        assert_eq!(image.footprint(Rules::Kvas).unwrap().size(), 0x1e6_c000);
        assert_eq!(image.footprint(Rules::Linux).unwrap().size(), 16 * PMD_SIZE);
        let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
        image.reserve_in(&mut map, Rules::Linux).unwrap();
        assert_eq!(map.free().next().unwrap().end(), 0x8020_0000);
        assert_eq!(map.free().nth(1).unwrap().start_u64(), 0x8220_0000);
        // Outside mappable RAM: refused, the map unchanged.
        let mut small = MemoryMap::from_text("0x80000000:16M").unwrap();
        let e = image.reserve_in(&mut small, Rules::Kvas).unwrap_err();
        assert!(matches!(e, Error::InvalidOption { option: "--load-addr", .. }), "{e}");
        assert!(small.reservations().is_empty());
    }

    #[test]
    fn the_rodata_alias_is_read_only_in_every_rule() {
        let image = KernelImage {
            load: PhysAddr::new(0x8020_0000).unwrap(),
            sections: ImageSections::contiguous(0x10_0000, 0x4_0000, 0x40_0000),
        };
        for rules in [Rules::Kvas, Rules::Linux] {
            let spec = KernelSpec::new(Mode::Sv48, rules, image).unwrap();
            let cfg = spec.linear.unwrap();
            assert_eq!(cfg.kernel_text, Some(PhysRange::new(0x8020_0000, 0x10_0000).unwrap()));
            assert_eq!(cfg.kernel_rodata, Some(PhysRange::new(0x8030_0000, 0x4_0000).unwrap()));
        }
    }
}

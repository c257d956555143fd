//! RISC-V 64 (Sv39, Sv48, Sv57): Linux 6.17's layout, from the header formulas.
//!
//! This is the part the kvas kernel calls at boot: [`Riscv64Layout::plan`] (or
//! [`Riscv64Layout::from_image`] with the image's link-time bounds) costs a few
//! dozen integer operations and no allocation, and gives every range the kernel
//! needs (`page_offset`, vmalloc, the modules and BPF windows, the fixmap, ...).
//!
//! Every region is defined from its neighbour, as `arch/riscv/include/asm/pgtable.h`
//! does: `VMALLOC_END = PAGE_OFFSET`, `VMEMMAP_END = VMALLOC_START`,
//! `PCI_IO_END = VMEMMAP_START`, `FIXADDR_TOP = PCI_IO_START`; KASAN hangs below
//! `MODULES_LOWEST_VADDR`, and the modules window is
//! `[PFN_ALIGN(_end) - 2 GiB, PFN_ALIGN(_start))` with BPF in its top 128 MiB.

use crate::addr::VirtAddr;
use crate::arch::riscv::Mode;
use crate::layout::plan::{check_image, place_image, LayoutParts, Reach};
use crate::layout::region::{Region, RegionList};
use crate::layout::target::{Kasan, Options, Target};
use crate::range::VirtRange;
use crate::sizes::{PAGE_SIZE, SZ_128M, SZ_16M, SZ_1G, SZ_2G, SZ_2M};
use crate::Error;

/// `ADDRESS_SPACE_END`: the last address.
pub const ADDRESS_SPACE_END: u64 = u64::MAX;
/// `KERNEL_LINK_ADDR`: "leave 2GB for kernel and BPF at the end of the address space".
pub const KERNEL_LINK_ADDR: u64 = ADDRESS_SPACE_END - SZ_2G + 1;
/// `MODULES_LOWEST_VADDR`: the nominal bottom of the modules window, and the end of
/// the KASAN shadow.
pub const MODULES_LOWEST_VADDR: u64 = KERNEL_LINK_ADDR - SZ_2G;
/// `PMD_SIZE`: the KASLR step and the kernel image's mapping granule.
pub const PMD_SIZE: u64 = SZ_2M;
/// `PUD_SIZE`: the early page table maps the image with one PUD, so the image
/// never crosses a 1 GiB boundary.
pub const PUD_SIZE: u64 = SZ_1G;
/// `BPF_JIT_REGION_SIZE`.
pub const BPF_JIT_REGION_SIZE: u64 = SZ_128M;
/// `PCI_IO_SIZE`.
pub const PCI_IO_SIZE: u64 = SZ_16M;
/// `FIXADDR_SIZE` on 64-bit: `PMD_SIZE + FIX_FDT_SIZE` (`FIX_FDT_SIZE = MAX_FDT_SIZE + 2M`).
pub const FIXADDR_SIZE: u64 = PMD_SIZE + (PMD_SIZE + SZ_2M);
/// `STRUCT_PAGE_MAX_SHIFT` for a 64-byte `struct page`.
pub const STRUCT_PAGE_MAX_SHIFT: u32 = 6;
const PAGE_SHIFT: u32 = 12;

/// `PAGE_OFFSET_L3`, `_L4`, `_L5`: where the linear map starts in each mode.
pub const fn page_offset(mode: Mode) -> u64 {
    match mode {
        Mode::Sv39 => 0xffff_ffd6_0000_0000,
        Mode::Sv48 => 0xffff_af80_0000_0000,
        Mode::Sv57 => 0xff60_0000_0000_0000,
    }
}

/// `PGDIR_SIZE`: what one root entry maps (1 GiB, 512 GiB, 256 TiB).
pub const fn pgdir_size(mode: Mode) -> u64 {
    1 << (PAGE_SHIFT + 9 * (mode.levels() as u32 - 1))
}

/// `KERN_VIRT_SIZE`: a quarter of the root's entries, the linear map's capacity.
pub const fn kern_virt_size(mode: Mode) -> u64 {
    (512 / 2 * pgdir_size(mode)) / 2
}

/// The largest KASLR offset `setup_vm()` draws for an image of `size` bytes:
/// `nr_pos = (PUD_SIZE - kernel_size) / PMD_SIZE` positions, `offset = (seed % nr_pos) * PMD_SIZE`.
pub const fn kaslr_max(size: u64) -> u64 {
    (PUD_SIZE.saturating_sub(size) / PMD_SIZE).saturating_sub(1) * PMD_SIZE
}

/// Linux's riscv64 layout for one mode and set of options, every range computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Riscv64Layout {
    mode: Mode,
    kasan: Kasan,
    kaslr_offset: u64,
    kernel_size: u64,
    ram: Option<u64>,
    user: VirtRange,
    hole: VirtRange,
    fixmap: VirtRange,
    pci_io: VirtRange,
    vmemmap: VirtRange,
    vmalloc: VirtRange,
    linear: VirtRange,
    kasan_shadow: Option<VirtRange>,
    modules: VirtRange,
    bpf: VirtRange,
    kernel: VirtRange,
}

fn span(start: u64, end: u64) -> Result<VirtRange, Error> {
    VirtRange::from_end(VirtAddr::new(start), VirtAddr::new(end))
}

impl Riscv64Layout {
    /// Plans `mode` with `options` (`options.profile` does not matter on riscv64).
    ///
    /// Refuses, with the numbers: a kernel image that does not fit its 1 GiB PUD,
    /// a KASLR offset that is not a multiple of 2 MiB or lies beyond Linux's range
    /// `(PUD_SIZE - kernel_size) / PMD_SIZE` slots, and RAM that is zero, not a
    /// multiple of 4 KiB, or larger than the linear map.
    pub fn plan(mode: Mode, options: &Options) -> Result<Self, Error> {
        Self::build(mode, options, true)
    }

    /// Plans without refusing what the checker reports (a KASLR offset out of range
    /// or misaligned, an image too large, RAM beyond the linear map), for
    /// `kvas check`; still refuses values whose addresses would wrap.
    pub fn plan_unchecked(mode: Mode, options: &Options) -> Result<Self, Error> {
        Self::build(mode, options, false)
    }

    fn build(mode: Mode, options: &Options, validate: bool) -> Result<Self, Error> {
        if options.vmalloc.is_some() {
            return Err(Error::UnsupportedOption {
                option: "--vmalloc",
                reason: "only arm32 sizes vmalloc at boot; riscv64 fixes it per mode",
            });
        }
        let (size, off) = (options.kernel_size, options.kaslr_offset);
        options.kaslr_for(Target::Riscv64(mode))?;
        let max_off = kaslr_max(size);
        check_image(validate, size, PUD_SIZE, "riscv64 kernel PUD", off, max_off)?;
        let po = page_offset(mode);
        let kvs = kern_virt_size(mode);
        let va_bits = mode.va_bits();
        let pgdir = pgdir_size(mode);

        let task_size = pgdir * 512 / 2;
        let kern_virt_start = (1u64 << va_bits).wrapping_neg().wrapping_add(task_size);
        let vmalloc_start = po - (kvs >> 1);
        let vmemmap_start = vmalloc_start - (1u64 << (va_bits - PAGE_SHIFT - 1 + STRUCT_PAGE_MAX_SHIFT));
        let pci_io_start = vmemmap_start - PCI_IO_SIZE;
        let fixaddr_start = pci_io_start - FIXADDR_SIZE;

        let kasan_shadow = match options.kasan.scale_shift() {
            None => None,
            Some(scale) => {
                let shadow = 1u64 << ((va_bits - 1) - scale);
                let start = (MODULES_LOWEST_VADDR - shadow) & !(pgdir - 1);
                Some(span(start, MODULES_LOWEST_VADDR)?)
            }
        };
        // PAGE_END = KASAN_SHADOW_START: the shadow may clip the linear map (Sv57).
        let page_end = match kasan_shadow {
            Some(k) if k.start().as_u64() < po + kvs => k.start().as_u64(),
            _ => po + kvs,
        };
        let linear = span(po, page_end)?;
        if let Some(ram) = options.ram {
            if ram == 0 {
                return Err(Error::InvalidOption {
                    option: "RAM size",
                    value: 0,
                    reason: "must not be zero",
                });
            }
            if ram % PAGE_SIZE != 0 {
                return Err(Error::Misaligned { what: "RAM size", value: ram, align: PAGE_SIZE });
            }
            if validate && ram > linear.size() {
                return Err(Error::RamTooLarge { ram, max: linear.size(), window: "linear map" });
            }
        }

        // setup_vm() BUG()s on an image reaching into the last 4 KiB (IS_ERR_VALUE).
        let top = u128::from(ADDRESS_SPACE_END) + 1 - u128::from(PAGE_SIZE);
        let start = place_image(KERNEL_LINK_ADDR, "KERNEL_LINK_ADDR", off, size, top)?;
        let end = start + size;
        let pfn_align = |x: u64| (x + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        let modules_end = pfn_align(start);
        let modules_vaddr = pfn_align(end) - SZ_2G;
        // MODULES_VADDR = PFN_ALIGN(_end) - 2 GiB must stay below the BPF JIT
        // region, or the modules window is empty (any mode, checked or not).
        if pfn_align(end) - modules_end >= SZ_2G - BPF_JIT_REGION_SIZE {
            return Err(Error::KernelTooLarge {
                size,
                max: SZ_2G - BPF_JIT_REGION_SIZE - PAGE_SIZE,
                window: "riscv64 modules window (MODULES_VADDR = PFN_ALIGN(_end) - 2 GiB must lie below the BPF JIT region)",
            });
        }
        let bpf_start = modules_end - BPF_JIT_REGION_SIZE;
        Ok(Riscv64Layout {
            mode,
            kasan: options.kasan,
            kaslr_offset: off,
            kernel_size: size,
            ram: options.ram,
            user: span(0, task_size)?,
            hole: span(task_size, kern_virt_start)?,
            fixmap: span(fixaddr_start, pci_io_start)?,
            pci_io: span(pci_io_start, vmemmap_start)?,
            vmemmap: span(vmemmap_start, vmalloc_start)?,
            vmalloc: span(vmalloc_start, po)?,
            linear,
            kasan_shadow,
            modules: span(modules_vaddr, bpf_start)?,
            bpf: span(bpf_start, modules_end)?,
            kernel: span(start, 0)?,
        })
    }

    /// Plans from the image's bounds as the running kernel sees them (`_start`,
    /// `_end`): the KASLR offset is `_start - KERNEL_LINK_ADDR`.
    pub fn from_image(
        mode: Mode,
        kasan: Kasan,
        image_start: u64,
        image_end: u64,
        ram: Option<u64>,
    ) -> Result<Self, Error> {
        if image_start < KERNEL_LINK_ADDR {
            return Err(Error::InvalidOption {
                option: "_start",
                value: image_start,
                reason: "lies below KERNEL_LINK_ADDR 0xffffffff80000000",
            });
        }
        if image_end < image_start {
            return Err(Error::InvalidOption {
                option: "_end",
                value: image_end,
                reason: "lies below _start",
            });
        }
        let options = Options {
            kasan,
            kernel_size: image_end - image_start,
            kaslr_offset: image_start - KERNEL_LINK_ADDR,
            ram,
            ..Options::default()
        };
        Self::plan(mode, &options)
    }

    /// The paging mode.
    pub const fn mode(&self) -> Mode {
        self.mode
    }

    /// The KASAN flavour the layout reserves a shadow for.
    pub const fn kasan(&self) -> Kasan {
        self.kasan
    }

    /// `PAGE_OFFSET`: the start of the linear map.
    pub const fn page_offset(&self) -> u64 {
        self.linear.start().as_u64()
    }

    /// `kaslr_offset()`: the image's virtual offset from `KERNEL_LINK_ADDR`.
    pub const fn kaslr_offset(&self) -> u64 {
        self.kaslr_offset
    }

    /// The RAM the layout was planned for, if given.
    pub const fn ram(&self) -> Option<u64> {
        self.ram
    }

    /// User space, `[0, TASK_SIZE)`.
    pub const fn user(&self) -> VirtRange {
        self.user
    }

    /// The non-canonical hole, `[TASK_SIZE, KERN_VIRT_START)`.
    pub const fn hole(&self) -> VirtRange {
        self.hole
    }

    /// The fixmap, `[FIXADDR_START, FIXADDR_TOP)`.
    pub const fn fixmap(&self) -> VirtRange {
        self.fixmap
    }

    /// PCI I/O, `[PCI_IO_START, PCI_IO_END)`.
    pub const fn pci_io(&self) -> VirtRange {
        self.pci_io
    }

    /// The `struct page` array, `[VMEMMAP_START, VMEMMAP_END)`.
    pub const fn vmemmap(&self) -> VirtRange {
        self.vmemmap
    }

    /// vmalloc and ioremap, `[VMALLOC_START, VMALLOC_END)`.
    pub const fn vmalloc(&self) -> VirtRange {
        self.vmalloc
    }

    /// The linear-map window, `[PAGE_OFFSET, PAGE_END)`: its size bounds usable RAM.
    pub const fn linear(&self) -> VirtRange {
        self.linear
    }

    /// The part of the linear map RAM fills, `[PAGE_OFFSET, high_memory)`, if RAM was given.
    pub fn lowmem(&self) -> Option<VirtRange> {
        self.ram.and_then(|ram| VirtRange::new(VirtAddr::new(self.page_offset()), ram).ok())
    }

    /// The KASAN shadow, `[KASAN_SHADOW_START, KASAN_SHADOW_END)`, if KASAN is on.
    pub const fn kasan_shadow(&self) -> Option<VirtRange> {
        self.kasan_shadow
    }

    /// Modules without the BPF window: `[MODULES_VADDR, BPF_JIT_REGION_START)`.
    pub const fn modules(&self) -> VirtRange {
        self.modules
    }

    /// The BPF JIT window, the top 128 MiB of the modules window.
    pub const fn bpf(&self) -> VirtRange {
        self.bpf
    }

    /// The whole modules window, `[MODULES_VADDR, MODULES_END)`, BPF included.
    pub const fn modules_window(&self) -> VirtRange {
        match VirtRange::from_last(self.modules.start(), self.bpf.last()) {
            Ok(s) => s,
            Err(_) => self.modules,
        }
    }

    /// The kernel region as `print_vm_layout` shows it, `[virt_addr, ADDRESS_SPACE_END]`.
    pub const fn kernel(&self) -> VirtRange {
        self.kernel
    }

    /// The image itself, `[_start, _end)`, or `None` when its size is unknown (0).
    pub const fn image(&self) -> Option<VirtRange> {
        match VirtRange::new(self.kernel.start(), self.kernel_size) {
            Ok(s) => Some(s),
            Err(_) => None,
        }
    }

    /// `va_pa_offset` once `setup_bootmem()` ran: `PAGE_OFFSET - phys_ram_base`,
    /// with `phys_ram_base` the start of DRAM rounded down to 2 MiB.
    pub const fn va_pa_offset(&self, dram_start: u64) -> u64 {
        self.page_offset().wrapping_sub(dram_start & !(PMD_SIZE - 1))
    }

    /// `va_kernel_pa_offset`: `virt_addr - phys_addr` for an image loaded at `load_pa`.
    pub const fn va_kernel_pa_offset(&self, load_pa: u64) -> u64 {
        self.kernel.start().as_u64().wrapping_sub(load_pa)
    }
}

/// The riscv64 reach: `auipc+jalr` (and `auipc+ld`) span ±2 GiB.
pub const REACH: Reach =
    Reach { direct_insn: "auipc+jalr", direct: SZ_2G, far_insn: "auipc+jalr", far: SZ_2G };

/// The regions of a planned riscv64 layout, in the words of `vm-layout.rst`.
pub(crate) fn parts(mode: Mode, options: &Options, validate: bool) -> Result<LayoutParts, Error> {
    let l = Riscv64Layout::build(mode, options, validate)?;
    let kaslr = options.kaslr_for(Target::Riscv64(mode))?;
    let pgdir = pgdir_size(mode);
    let mut regions = RegionList::new();
    let mut add =
        |name, s: VirtRange, align, description| regions.push(Region::new(name, s, align, description));
    add("user", l.user(), pgdir, "user-space virtual memory, different per mm")?;
    add("hole", l.hole(), pgdir, "non-canonical hole up to the start of kernel mappings")?;
    add("fixmap", l.fixmap(), PMD_SIZE, "fixmap")?;
    add("pci-io", l.pci_io(), PMD_SIZE, "PCI io")?;
    add("vmemmap", l.vmemmap(), PMD_SIZE, "vmemmap")?;
    add("vmalloc", l.vmalloc(), pgdir, "vmalloc/ioremap space")?;
    add("linear", l.linear(), pgdir, "direct mapping of all physical memory")?;
    if let Some(k) = l.kasan_shadow() {
        add("kasan", k, PUD_SIZE, "kasan")?;
    }
    add("modules", l.modules(), PAGE_SIZE, "modules")?;
    add("bpf", l.bpf(), PAGE_SIZE, "BPF JIT (top 128 MiB of the modules window)")?;
    add("kernel", l.kernel(), PMD_SIZE, "kernel")?;
    let half =
        VirtRange::from_end(VirtAddr::new((1u64 << (mode.va_bits() - 1)).wrapping_neg()), VirtAddr::new(0))?;
    let image = l.image();
    Ok(LayoutParts {
        target: Target::Riscv64(mode),
        options: *options,
        va_bits: mode.va_bits(),
        page_offset: l.page_offset(),
        kernel_half: half,
        user_half: VirtRange::new(VirtAddr::new(0), 1 << (mode.va_bits() - 1))?,
        regions,
        text: image.unwrap_or(VirtRange::new(l.kernel().start(), 1)?),
        image,
        image_start: l.kernel().start().as_u64(),
        image_region: "kernel",
        image_window: VirtRange::new(VirtAddr::new(KERNEL_LINK_ADDR), PUD_SIZE)?,
        image_align: PMD_SIZE,
        kaslr,
        kaslr_max: if kaslr { kaslr_max(options.kernel_size) } else { 0 },
        linear_region: "linear",
        ram_limit: l.linear().size(),
        highmem_capable: false,
        lowmem: l.lowmem(),
        highmem: 0,
        user_bytes: l.user().size(),
        modules_regions: &["modules", "bpf"],
        reach: REACH,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_api_ranges_for_a_kaslr_image() {
        // A 20 MiB image moved 64 MiB up by KASLR, on 2 GiB of RAM.
        let l = Riscv64Layout::from_image(
            Mode::Sv39,
            Kasan::None,
            KERNEL_LINK_ADDR + (64 << 20),
            KERNEL_LINK_ADDR + (84 << 20),
            Some(2 << 30),
        )
        .unwrap();
        assert_eq!(l.kaslr_offset(), 64 << 20);
        assert_eq!(l.modules_window().end().as_u64(), KERNEL_LINK_ADDR + (64 << 20));
        assert_eq!(l.modules_window().start().as_u64(), KERNEL_LINK_ADDR + (84 << 20) - SZ_2G);
        assert_eq!(l.bpf().size(), 128 << 20);
        assert_eq!(l.lowmem().unwrap().last().as_u64(), 0xffff_ffd6_7fff_ffff);
        assert_eq!(l.va_pa_offset(0x8000_1000), 0xffff_ffd6_0000_0000 - 0x8000_0000);
        assert_eq!(l.va_kernel_pa_offset(0x8020_0000), KERNEL_LINK_ADDR + (64 << 20) - 0x8020_0000);
        assert!(l.kasan_shadow().is_none());
        assert_eq!(l.linear().size(), 128 << 30);
    }

    #[test]
    fn refuses_bad_options_with_numbers() {
        let o =
            |kernel_size, kaslr_offset, ram| Options { kernel_size, kaslr_offset, ram, ..Options::default() };
        assert_eq!(
            Riscv64Layout::plan(Mode::Sv39, &o(0, 0x10_0000, None)),
            Err(Error::Misaligned { what: "KASLR offset", value: 0x10_0000, align: PMD_SIZE })
        );
        // 20 MiB image: 502 slots, the last at 1002 MiB.
        assert_eq!(
            Riscv64Layout::plan(Mode::Sv48, &o(20 << 20, 1004 << 20, None)),
            Err(Error::KaslrOutOfRange { offset: 1004 << 20, max: 1002 << 20 })
        );
        assert!(Riscv64Layout::plan(Mode::Sv48, &o(20 << 20, 1002 << 20, None)).is_ok());
        assert_eq!(
            Riscv64Layout::plan(Mode::Sv57, &o(SZ_1G + 1, 0, None)),
            Err(Error::KernelTooLarge { size: SZ_1G + 1, max: SZ_1G, window: "riscv64 kernel PUD" })
        );
        assert_eq!(
            Riscv64Layout::plan(Mode::Sv39, &o(0, 0, Some(129 << 30))),
            Err(Error::RamTooLarge { ram: 129 << 30, max: 128 << 30, window: "linear map" })
        );
        assert!(matches!(
            Riscv64Layout::plan(Mode::Sv39, &o(0, 0, Some(4097))),
            Err(Error::Misaligned { what: "RAM size", .. })
        ));
        assert!(matches!(
            Riscv64Layout::plan(Mode::Sv39, &o(0, 0, Some(0))),
            Err(Error::InvalidOption { .. })
        ));
        assert!(Riscv64Layout::from_image(Mode::Sv39, Kasan::None, 0x8000_0000, 0x8100_0000, None).is_err());
        let e = Riscv64Layout::from_image(
            Mode::Sv39,
            Kasan::None,
            KERNEL_LINK_ADDR + SZ_2M,
            KERNEL_LINK_ADDR,
            None,
        );
        assert_eq!(e.unwrap_err().to_string(), "_end 0xffffffff80000000: lies below _start");
        // An image reaching into the last 4 KiB: setup_vm() BUG()s; kvas names both values.
        let e = Riscv64Layout::plan_unchecked(Mode::Sv39, &o(SZ_2M, SZ_2G - SZ_2M, None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--kaslr-offset 0x7fe00000 plus --kernel-size 0x200000 from KERNEL_LINK_ADDR 0xffffffff80000000 runs past the end of the address space"
        );
    }
}

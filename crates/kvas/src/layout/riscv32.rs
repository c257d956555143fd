//! RISC-V 32 (Sv32): Linux's formulas with 32-bit constants.
//!
//! `vm-layout.rst` has no Sv32 table ("TODO"), so every address here is derived:
//! `PAGE_OFFSET = 0xc0000000`, `KERN_VIRT_SIZE = 1 GiB` (half the PGD's 1024
//! entries of 4 MiB, halved), vmalloc the 512 MiB below `PAGE_OFFSET` (modules
//! live there too, and BPF in its top 128 MiB), vmemmap below vmalloc sized for a
//! 32-byte `struct page`, then PCI I/O and the 8 MiB fixmap; `TASK_SIZE =
//! FIXADDR_START`. The kernel image lives in the linear map at `PAGE_OFFSET`, and
//! `memory_limit = KERN_VIRT_SIZE` drops RAM beyond 1 GiB (there is no highmem), and
//! the page `__va()` would put at `(void *)-PAGE_SIZE` is reserved (ERR_PTR), so
//! lowmem is at most 1 GiB - 4 KiB, whatever the RAM.
//! There is no highmem, no KASAN and no KASLR on riscv32.
//!
//! With a split ([`Options::split`]) this plans the kvas riscv32 kernel instead:
//! see [`riscv32_split`].

use crate::addr::VirtAddr;
use crate::layout::plan::{check_ram, region, LayoutParts, Reach};
use crate::layout::region::RegionList;
use crate::layout::riscv32_split;
use crate::layout::target::{Kasan, Options, Target};
use crate::range::VirtRange;
use crate::sizes::PAGE_SIZE;
use crate::Error;

const PGDIR_SIZE: u64 = 4 << 20;

/// `PAGE_OFFSET` on riscv32.
pub const PAGE_OFFSET: u64 = 0xc000_0000;
/// `KERN_VIRT_SIZE` on riscv32, which `setup_vm()` makes the `memory_limit`: RAM beyond is dropped.
pub const MEMORY_LIMIT: u64 = 1 << 30;
/// Sv32 physical addresses are 34 bits wide: RAM beyond cannot exist.
pub const PHYS_LIMIT: u64 = 1 << 34;
/// `STRUCT_PAGE_MAX_SHIFT` for a 32-byte `struct page`.
pub const STRUCT_PAGE_MAX_SHIFT: u32 = 5;
/// `FIXADDR_SIZE` on 32-bit: `PGDIR_SIZE + FIX_FDT_SIZE` (4 MiB each).
pub const FIXADDR_SIZE: u64 = PGDIR_SIZE + PGDIR_SIZE;

/// riscv32 reach: `auipc+jalr` spans ±2 GiB, all of a 32-bit space.
pub const REACH: Reach =
    Reach { direct_insn: "auipc+jalr", direct: 2 << 30, far_insn: "auipc+jalr", far: 2 << 30 };

pub(crate) fn parts(options: &Options, validate: bool) -> Result<LayoutParts, Error> {
    if options.vmalloc.is_some() {
        return Err(Error::UnsupportedOption {
            option: "--vmalloc",
            reason: "only arm32 sizes vmalloc at boot; this mode fixes it",
        });
    }
    if options.kasan != Kasan::None {
        return Err(Error::UnsupportedOption {
            option: "--kasan",
            reason: "riscv32 has no KASAN (64BIT only)",
        });
    }
    if options.kaslr_offset != 0 {
        return Err(Error::UnsupportedOption {
            option: "--kaslr-offset",
            reason: "riscv32 has no KASLR (RANDOMIZE_BASE is 64BIT only)",
        });
    }
    let kaslr = options.kaslr_for(Target::Riscv32)?;
    if let Some(split) = options.split {
        return riscv32_split::parts(split, options, validate);
    }
    check_ram(options.ram, PAGE_SIZE)?;
    let kern_virt_size = (1024 / 2 * PGDIR_SIZE) / 2;
    let vmalloc_start = PAGE_OFFSET - (kern_virt_size >> 1);
    let vmemmap_start = vmalloc_start - (1 << (32 - 12 - 1 + STRUCT_PAGE_MAX_SHIFT));
    let pci_start = vmemmap_start - (16 << 20);
    let fixaddr_start = pci_start - FIXADDR_SIZE;
    let bpf_start = PAGE_OFFSET - (128 << 20);
    // setup_vm() sets memory_limit = KERN_VIRT_SIZE (1 GiB) and setup_bootmem()
    // enforces it: RAM beyond is dropped (no HIGHMEM on riscv32). It then reserves
    // what __va() would put at (void *)-PAGE_SIZE and above (ERR_PTR values), so
    // the top page never reaches the allocator: lowmem is at most 1 GiB - 4 KiB.
    let window = (1u64 << 32) - PAGE_SIZE - PAGE_OFFSET;
    let lowmem_size = match options.ram {
        Some(ram) if ram > PHYS_LIMIT && validate => {
            return Err(Error::RamTooLarge { ram, max: PHYS_LIMIT, window: "Sv32 physical address space" })
        }
        Some(ram) => ram.min(window),
        None => window,
    };
    if validate && options.kernel_size > lowmem_size {
        return Err(Error::KernelTooLarge { size: options.kernel_size, max: lowmem_size, window: "lowmem" });
    }
    let lowmem = VirtRange::new(VirtAddr::new(PAGE_OFFSET), lowmem_size)?;
    let mut r = RegionList::new();
    r.push(region("user", 0, fixaddr_start, PAGE_SIZE, "user-space virtual memory, different per mm")?)?;
    r.push(region("fixmap", fixaddr_start, pci_start, PAGE_SIZE, "fixmap")?)?;
    r.push(region("pci-io", pci_start, vmemmap_start, PAGE_SIZE, "PCI io")?)?;
    r.push(region("vmemmap", vmemmap_start, vmalloc_start, PAGE_SIZE, "vmemmap")?)?;
    r.push(region("vmalloc", vmalloc_start, bpf_start, PGDIR_SIZE, "vmalloc/ioremap space, modules")?)?;
    r.push(region("bpf", bpf_start, PAGE_OFFSET, PGDIR_SIZE, "BPF JIT (top 128 MiB of vmalloc)")?)?;
    r.push(region(
        "lowmem",
        PAGE_OFFSET,
        lowmem.end().as_u64(),
        PAGE_SIZE,
        "lowmem: linear map of RAM and the kernel",
    )?)?;
    let image = match options.kernel_size {
        0 => None,
        size if size > (1 << 32) - PAGE_OFFSET => {
            return Err(Error::InvalidOption {
                option: "--kernel-size",
                value: size,
                reason: "the image would run past the end of the 32-bit address space",
            })
        }
        size => Some(VirtRange::new(VirtAddr::new(PAGE_OFFSET), size)?),
    };
    Ok(LayoutParts {
        target: Target::Riscv32,
        options: *options,
        va_bits: 32,
        page_offset: PAGE_OFFSET,
        kernel_half: VirtRange::from_end(VirtAddr::new(fixaddr_start), VirtAddr::new(1 << 32))?,
        user_half: VirtRange::from_end(VirtAddr::new(0), VirtAddr::new(fixaddr_start))?,
        regions: r,
        text: image.unwrap_or(VirtRange::new(VirtAddr::new(PAGE_OFFSET), 1)?),
        image,
        image_start: PAGE_OFFSET,
        image_region: "lowmem",
        image_window: lowmem,
        image_align: PAGE_SIZE,
        kaslr,
        kaslr_max: 0,
        linear_region: "lowmem",
        ram_limit: PHYS_LIMIT,
        highmem_capable: false,
        lowmem: Some(lowmem),
        highmem: 0,
        user_bytes: fixaddr_start,
        modules_regions: &["vmalloc", "bpf"],
        reach: REACH,
    })
}

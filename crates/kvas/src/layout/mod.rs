//! The layout planner: every region of a kernel address space, per architecture,
//! mode and options, computed from Linux's formulas; and the invariant checker.
//!
//! [`plan`] gives a [`Layout`] for any [`Target`] (riscv64 Sv39/48/57, riscv32 —
//! Linux's, or the kvas kernel's under a [`Vmsplit`], see [`riscv32_split`] —,
//! x86-64 4/5-level with or without KASLR, arm64 in every granule and VA size,
//! arm32 splits); [`check()`] lists the
//! invariants it breaks; [`VmLayoutDump`] prints Linux's `print_vm_layout()` block.
//! Nothing here allocates: region lists are fixed-capacity arrays, so the kernel
//! uses the same code. The riscv64 kernel calls [`Riscv64Layout`] directly.
//!
//! ## riscv64 (Sv39 addresses; Sv48/Sv57 move everything below the modules)
//!
//! ```text
//!  0000000000000000 +---------------------------+
//!                   | user          (TASK_SIZE) |  256 GiB
//!  0000004000000000 +---------------------------+
//!                   | non-canonical hole        |
//!  ffffffc000000000 +---------------------------+ KERN_VIRT_START
//!                   :   (unused)                :
//!  ffffffc4fea00000 +---------------------------+ FIXADDR_START = FIXADDR_TOP - 6M
//!                   | fixmap                    |  6 MiB
//!  ffffffc4ff000000 +---------------------------+ PCI_IO_START = VMEMMAP_START - 16M
//!                   | PCI io                    |  16 MiB
//!  ffffffc500000000 +---------------------------+ VMEMMAP_START = VMALLOC_START - 2^VMEMMAP_SHIFT
//!                   | vmemmap                   |  4 GiB
//!  ffffffc600000000 +---------------------------+ VMALLOC_START = PAGE_OFFSET - KERN_VIRT_SIZE/2
//!                   | vmalloc / ioremap         |  64 GiB
//!  ffffffd600000000 +---------------------------+ PAGE_OFFSET (PAGE_OFFSET_L3)
//!                   | linear map of RAM         |  KERN_VIRT_SIZE = 128 GiB
//!  fffffff600000000 +---------------------------+
//!                   :   (unused, 4 GiB)         :
//!  fffffff700000000 +---------------------------+ KASAN_SHADOW_START (PGD-aligned)
//!                   | KASAN shadow (generic)    |  2^(VA_BITS-1-3) = 32 GiB
//!  ffffffff00000000 +---------------------------+ MODULES_LOWEST_VADDR = KASAN_SHADOW_END
//!                   | modules                   |  [PFN_ALIGN(_end) - 2G,
//!  ffffffff78000000 +- - - - - - - - - - - - - -+
//!                   | BPF JIT (128 MiB)         |        PFN_ALIGN(_start))
//!  ffffffff80000000 +---------------------------+ KERNEL_LINK_ADDR (+ KASLR offset)
//!                   | kernel image, 2 GiB       |
//!  ffffffffffffffff +---------------------------+ ADDRESS_SPACE_END
//! ```
//!
//! The modules window ends at the image's start and begins 2 GiB below its end,
//! so every module instruction reaches every kernel symbol with `auipc+jalr`.
//!
//! ## In the kernel
//!
//! ```
//! use core::fmt::Write;
//! use kvas::arch::riscv::Mode;
//! use kvas::layout::{plan, Kasan, Options, Riscv64Layout, Target, VmLayoutDump};
//!
//! // At boot: the image's bounds (_start, _end) and the RAM from the device tree.
//! let (start, end) = (0xffff_ffff_8400_0000, 0xffff_ffff_8540_0000);
//! let l = Riscv64Layout::from_image(Mode::Sv48, Kasan::None, start, end, Some(1 << 30))?;
//! assert_eq!(l.page_offset(), 0xffff_af80_0000_0000);
//! assert_eq!(l.modules_window().end().as_u64(), start); // modules end where the image starts
//! assert_eq!(l.bpf().size(), 128 << 20);
//!
//! // Linux's `Virtual kernel memory layout:` block, into any fmt::Write (a UART).
//! let options = Options { kernel_size: end - start, kaslr_offset: l.kaslr_offset(), ram: l.ram(), ..Options::default() };
//! let layout = plan(Target::Riscv64(Mode::Sv48), &options)?;
//! let mut console = String::new();
//! write!(console, "{}", VmLayoutDump(&layout)).unwrap();
//! assert!(console.contains("     modules : 0xffffffff05400000 - 0xffffffff84000000   (2028 MB)"));
//! # Ok::<(), kvas::Error>(())
//! ```

mod arm32;
mod arm64;
mod check;
mod dump;
pub mod kaslr;
mod plan;
mod region;
pub mod riscv32;
pub mod riscv32_split;
pub mod riscv64;
mod target;
mod x86_64;

pub use arm64::fixmap_pages as arm64_fixmap_pages;
pub use check::{check, direct_window, max_distance, Violation, Violations, MAX_VIOLATIONS};
pub use dump::{write_line, VmLayoutDump};
pub use kaslr::KaslrWindows;
pub use plan::{plan, plan_unchecked, Layout, LayoutParts, Reach};
pub use region::{Region, RegionList, MAX_REGIONS};
pub use riscv64::Riscv64Layout;
pub use target::{Arm32Split, Arm64Mode, Kasan, Options, Profile, Target, Vmsplit, X86Mode};

//! The kernel's address space, as data, built in one place.
//!
//! A [`KernelSpec`] says what a kvas kernel (or, with [`Rules::Linux`], Linux)
//! maps in its kernel half; [`build`] turns it into a [`PageTable`] for a
//! [`MemoryMap`], and returns what it built ([`Built`]: regions, leaves by
//! size, table pages). The kernel calls it for its early (MMU-off) and final
//! tables, and `kvas map` calls it in the simulator, so the prediction is the
//! machine: both print the same [`BuiltLine`]s.
//!
//! The kernel half it builds (Sv48 addresses; every region is the layout's,
//! [`Riscv64Layout`]):
//!
//! ```text
//!  +-------------------------+ 0xffff_8000_0000_0000  start of the kernel half
//!  |  ...                    |
//!  +-------------------------+ FIXADDR_START (6 MiB)                 region `fixmap`
//!  |  device page (4K, RW)   | +0        the test finisher (FixmapSpec::device)
//!  |  window slot (4K, RW)   | +4 KiB    the kernel's window onto any frame;
//!  |                         |           first aliases the image's first data page
//!  |  DTB window (2x2M, R)   | +2 MiB    from the DTB's 2 MiB boundary (MAX_FDT_SIZE)
//!  +-------------------------+ FIXADDR_TOP
//!  |  PCI I/O, vmemmap       |           not mapped at boot
//!  +-------------------------+ VMALLOC_START                         region `vmalloc`
//!  |  vmalloc                |           tables right below the root preallocated and
//!  |                         |           pinned (pgtable_cache_init); no leaves
//!  +-------------------------+ PAGE_OFFSET                           region `linear`
//!  |  linear map of all RAM  |           RW, never X; the aliases of the image's text
//!  |                         |           and rodata R only; KFENCE's pool 4 KiB pages;
//!  |                         |           base chosen once (LinearConfig::base_rule)
//!  +-------------------------+ PAGE_OFFSET + KERN_VIRT_SIZE
//!  |  ...                    |
//!  +-------------------------+ MODULES_VADDR                         region `modules`
//!  |  modules + BPF          |           pinned tables, like vmalloc
//!  +-------------------------+ KERNEL_LINK_ADDR 0xffff_ffff_8000_0000  region `kernel`
//!  |  text      RX           |           kvas: section by section, leaves up to 2 MiB;
//!  |  rodata    R            |           Linux: whole 2 MiB steps over the image
//!  |  data+bss  RW           |           rounded up to 2 MiB
//!  +-------------------------+
//!
//!  lower half, early tables only:                                  region `trampoline`
//!    the image's text at its physical address (identity, RX): the satp write's landing
//! ```
//!
//! Physically, the image sits at its load address inside RAM (reserved, so no
//! table frame lands in it); table frames come from free RAM below the end of
//! the linear window, so the running kernel reaches every table through the
//! linear map.
//!
//! How the kernel uses it:
//!
//! - early tables, MMU off: `KernelSpec::early(mode, image, fixmap)` and
//!   [`build_early`] with its `.bss` frame pool and an identity `PhysMemory`;
//! - final tables, early tables live: `KernelSpec::new(mode, Rules::Kvas, image)`
//!   with the fixmap set, [`KernelSpec::prepare`] on its memory map, then
//!   [`build`] through its fixmap window; print [`Built::lines`].
//!
//! On the host, with the simulator (what `kvas map` does):
//!
//! ```
//! use kvas::arch::riscv::Mode;
//! use kvas::kspace::{self, ImageSections, KernelImage, KernelSpec, Rules};
//! use kvas::phys::MemoryMap;
//! use kvas::sim::Ram;
//! use kvas::PhysAddr;
//!
//! let mut map = MemoryMap::from_text("0x80000000:1G")?;
//! // 1 MiB of text, 256 KiB of rodata, 4 MiB in all, loaded at 0x80200000.
//! let sections = ImageSections::contiguous(1 << 20, 256 << 10, 4 << 20);
//! let image = KernelImage { load: PhysAddr::new(0x8020_0000)?, sections };
//! let spec = KernelSpec::new(Mode::Sv39, Rules::Kvas, image)?.prepare(&mut map)?;
//! let ram = Ram::new();
//! let t = kspace::build(&spec, &map, &ram)?;
//! let lines: Vec<String> = t.built.lines().map(|l| l.to_string()).collect();
//! assert_eq!(lines[2], "kvas: built linear leaves 4K=512 2M=511 1G=0 tables 2");
//! assert_eq!(t.built.pt_pages, t.table.stats()?.tables);
//! # Ok::<(), kvas::Error>(())
//! ```
//!
//! `kvas map` does the same with the simulator's `Ram`, and for memory maps
//! whose linear tables would not fit in memory counts the linear map instead
//! ([`count_linear`], [`Plan::build_counting_linear`]).
//!
//! [`PageTable`]: crate::paging::PageTable
//! [`MemoryMap`]: crate::phys::MemoryMap
//! [`Riscv64Layout`]: crate::layout::Riscv64Layout

mod build;
mod built;
mod count;
mod line;
mod spec;
pub mod sv32;

pub use build::{build, build_early, build_with, KernelTables, Plan};
pub use built::{Built, BuiltRegion, RegionKind, MAX_BUILT_REGIONS};
pub use count::{count_linear, LinearCount};
pub use line::BuiltLine;
pub use spec::{
    FixmapSpec, ImageSections, KernelImage, KernelSpec, Kfence, Rules, FIX_FDT_OFFSET, FIX_FDT_SIZE,
    FIX_WINDOW_OFFSET, KFENCE_POOL_SIZE, MAX_FDT_SIZE,
};

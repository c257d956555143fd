//! The riscv32 kernel (Sv32): one image, linked at 0xf0000000 in the top 256 MiB that every
//! split shares, for every `vmsplit=` (3g, 2g, 1g, 4g4g). See docs/KERNEL.md, "riscv32".
//!
//! - [`entry`]: `_start`, which turns paging on in assembly (boot tables in .bss);
//! - [`kmain`]: the sequence and the serial report;
//! - [`fixmap`]: the fixmap's slots, and the boot tables' window onto any frame;
//! - [`space`]: `KernelSpace32`, the live kernel space (built by kvas::kspace::sv32);
//! - [`kmap`], [`highmem`]: reaching RAM beyond lowmem;
//! - [`mmu`]: `satp` and `sfence.vma`;
//! - [`hart`]: the one hart (what the shared console and trap code call `crate::smp`);
//! - [`selftest`]: the self-tests.
//!
//! Shared with riscv64: the console, power-off, traps, CSRs, the image's sections, and the
//! pure logic of kvas-kernel-core (device tree, command line).

pub mod entry;
pub mod fixmap;
pub mod hart;
pub mod highmem;
pub mod kmain;
pub mod kmap;
pub mod mmu;
pub mod selftest;
pub mod space;

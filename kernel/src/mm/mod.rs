//! Memory management after the switch: the kernel's address space, owned by one value.
//!
//! - [`kspace`]: `KernelSpace`, the owner of the live tables, their frames, the vm
//!   allocators, the layout and the linear map;
//! - [`build`]: where the kernel's address space is built (the final tables, by
//!   `kvas::kspace`, the builder `kvas map` uses too);
//! - [`mmu`]: every `satp` write and `sfence.vma`;
//! - [`shootdown`]: the same flush on every other hart (SBI RFENCE), and frames held until it is done;
//! - [`fixmap`]: the fixmap's slots and the window onto any frame;
//! - [`frames`]: the early tables' frame pool in .bss;
//! - [`vmalloc`]: vmalloc and vfree on the space.

pub mod build;
pub mod fixmap;
pub mod frames;
pub mod kspace;
pub mod mmu;
pub mod shootdown;
pub mod vmalloc;

pub use kspace::{KernelSpace, KernelVm};

//! # kvas — kernel virtual address space
//!
//! A `no_std` library for laying out and mapping a kernel's virtual memory, built
//! around one idea from Linux on RISC-V: a single kernel image runs on Sv39, Sv48
//! and Sv57 hardware because the paging depth is a *run-time value*.
//!
//! - [`addr`]: checked [`PhysAddr`] / [`VirtAddr`] newtypes and [`PageSize`].
//! - [`paging`]: the page-table engine. One compiled code path walks 3, 4 or 5
//!   levels; the depth comes from a [`paging::TableFormat`] value chosen at boot.
//! - [`arch`]: entry and control-register encodings (RISC-V Sv39/48/57, `satp`).
//! - [`layout`]: the layout planner (every region of a mode, Linux's formulas) and
//!   its invariant checker.
//! - [`phys`]: the physical memory map (banks, reservations, from a device tree)
//!   and the early frame allocator.
//! - [`linear`]: the linear-map builder.
//! - [`kspace`]: the kernel's address space as data ([`kspace::KernelSpec`]),
//!   built in one place for the kernel and `kvas map`.
//! - [`vm`]: virtual-range allocators (vmalloc, the modules window).
//! - `sim` (feature `std`): simulated RAM and a spec-exact software MMU, the
//!   oracle of the tests and a tool for checking tables on the host.
//!
//! ## Conventions
//!
//! Levels are numbered as in the RISC-V privileged spec: level 0 holds 4 KiB
//! leaves, level 1 2 MiB leaves, and the root is level `levels - 1`. Ranges are
//! half-open `[start, start + len)` in code; reports print inclusive ends, as
//! Linux's tables do. Every fallible call returns [`Error`], and an operation
//! that fails leaves the tables exactly as they were.

#![cfg_attr(not(test), no_std)]
// Each unsafe operation inside an unsafe fn needs its own justified block.
#![deny(unsafe_op_in_unsafe_fn)]
// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]
// Public items are the contract with kernels and tools: all documented.
#![warn(missing_docs)]
// Imports name what they bring in.
#![forbid(clippy::wildcard_imports)]

#[cfg(all(feature = "std", not(test)))]
extern crate std;

pub mod addr;
pub mod arch;
mod error;
pub mod kspace;
pub mod layout;
pub mod linear;
pub mod paging;
pub mod phys;
pub mod range;
#[cfg(feature = "std")]
pub mod sim;
pub mod size;
pub mod sizes;
pub mod vm;

pub use addr::{PageSize, PhysAddr, VirtAddr, PAGE_SIZE};
pub use error::{Error, Quoted, QUOTED_MAX};
pub use range::VirtRange;

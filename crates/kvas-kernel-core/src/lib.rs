//! The kvas kernel's pure logic, `no_std` and tested on the host (as Hubris keeps
//! `sys/kerncore` beside its kernel): what the kernel computes without touching the machine.
//!
//! - [`bootinfo`]: what the device tree says (RAM, reservations and their notices through
//!   `kvas::phys`, with its structural check; the harts' `mmu-type`, the finisher), the
//!   depth cap;
//! - [`cmdline`]: the command-line words the kernel honours;
//! - [`kaslr`]: where KASLR's seed comes from and the offset it gives;
//! - [`module`]: the module loader's ELF reading, layout and relocation over a byte slice;
//! - [`modreloc`]: the RISC-V relocation arithmetic;
//! - [`user`]: user space: system calls, ASIDs, areas and `mmap` placement, the user frame
//!   pool, user programs, the initrd.
//!
//! The kernel (kernel/) adds the machine: CSRs, `satp`, traps, the live page tables.

#![cfg_attr(not(test), no_std)]
// Nothing here touches memory it was not handed as a slice.
#![forbid(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod bootinfo;
pub mod cmdline;
pub mod kaslr;
pub mod modreloc;
pub mod module;
pub mod user;

pub use bootinfo::{BootError, BootInfo, DtbPlace};
pub use cmdline::Cmdline;

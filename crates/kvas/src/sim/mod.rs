//! The host simulator: simulated physical RAM and a software MMU that translates
//! exactly as the RISC-V privileged spec says.
//!
//! - [`Ram`]: the whole 56-bit physical space, sparse and zero-filled. It is a
//!   [`crate::paging::PhysMemory`], so the engine builds tables in it as it would
//!   in a kernel.
//! - [`TrackingAllocator`]: a [`crate::paging::FrameAllocator`] over a physical
//!   range that counts live frames, can run dry on demand, and records frees of
//!   frames it does not own ([`Misuse`]).
//! - [`Mmu`]: the oracle. Given a raw `satp` and a [`Ram`], it walks Sv39, Sv48
//!   or Sv57 tables from raw entry bits, independently of the engine, and returns
//!   the physical address or the exact [`Fault`] a hart would raise (with Svade:
//!   A = 0, or a store with D = 0, faults).
//!
//! # Checking tables on the host
//!
//! Put your tables in a [`Ram`] (by hand, with the engine, or by copying a dump
//! of a guest's memory with [`Ram::write_bytes`]), point an [`Mmu`] at the root
//! with the `satp` your kernel would write, and ask what a hart would do:
//!
//! ```
//! use kvas::sim::{Access, Context, FaultCause, Mmu, Ram};
//! use kvas::{PhysAddr, VirtAddr};
//!
//! // PTE bits: V R W X U G A D, then the PPN from bit 10.
//! const V: u64 = 1;
//! const R: u64 = 1 << 1;
//! const W: u64 = 1 << 2;
//! const A: u64 = 1 << 6;
//! const D: u64 = 1 << 7;
//! let pte = |pa: u64, flags: u64| (pa >> 12) << 10 | flags;
//! let at = |pa: u64| PhysAddr::new(pa).unwrap();
//!
//! // An Sv39 root at 0x8000_0000 whose entry 256 (the first of the kernel half)
//! // is a 1 GiB leaf for the RAM at 0x8000_0000, readable and writable.
//! let ram = Ram::new();
//! let root = 0x8000_0000;
//! ram.write_u64(at(root + 256 * 8), pte(0x8000_0000, V | R | W | A | D))?;
//!
//! let satp = 8 << 60 | root >> 12; // MODE = Sv39, PPN = root
//! let mmu = Mmu::from_satp(satp)?;
//! let kernel = VirtAddr::new(0xffff_ffc0_0000_0000);
//!
//! let t = mmu.translate(&ram, VirtAddr::new(0xffff_ffc0_1234_5678), Access::Store, Context::SUPERVISOR)?;
//! assert_eq!(t.pa.as_u64(), 0x9234_5678);
//! assert_eq!(t.leaf.map(|leaf| leaf.size()), Some(1 << 30));
//!
//! // Not executable: a fetch faults with scause 12, at the root level.
//! let fault = mmu.translate(&ram, kernel, Access::Fetch, Context::SUPERVISOR).unwrap_err();
//! assert_eq!((fault.kind.scause(), fault.cause, fault.level), (12, FaultCause::NotExecutable, Some(2)));
//! // Not a user page: user mode cannot load it.
//! let fault = mmu.translate(&ram, kernel, Access::Load, Context::USER).unwrap_err();
//! assert_eq!(fault.cause, FaultCause::SupervisorPage);
//! // Bit 38 clear but bit 39 set: not canonical for Sv39.
//! let fault = mmu.translate(&ram, VirtAddr::new(1 << 39), Access::Load, Context::SUPERVISOR).unwrap_err();
//! assert_eq!(fault.cause, FaultCause::NonCanonical);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To check the engine, build a table with [`crate::paging::PageTable`] over
//! `&Ram` and a [`TrackingAllocator`], then compare each of its answers with
//! [`Mmu::translate`]; after `destroy`, [`TrackingAllocator::live`] must be 0
//! and [`TrackingAllocator::misuse`] empty.

mod frames;
mod mmu;
mod ram;

pub use frames::{Misuse, TrackingAllocator};
pub use mmu::{Access, Context, Fault, FaultCause, FaultKind, Leaf, Mmu, Privilege, Translation};
pub use ram::Ram;

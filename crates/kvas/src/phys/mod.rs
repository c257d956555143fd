//! Physical memory: RAM banks and reservations (from a device tree or text), and
//! the early frame allocator.
//!
//! - [`PhysRange`]: a checked, non-empty physical range.
//! - [`MemoryMap`]: banks and reservations in normal form, fixed capacity, no
//!   `alloc` (the kernel uses it before it has a heap).
//! - [`DeviceTree::parse`]: the memory map of a flattened device tree.
//! - [`MemoryMap::from_text`]: the memory map of `BASE:SIZE,...`.
//! - [`EarlyFrameAllocator`]: page-table frames from free RAM only.

mod dtb;
pub mod dtb_check;
mod early_alloc;
mod memory_map;
mod range;
pub mod text;

pub use dtb::DeviceTree;
pub use early_alloc::{EarlyFrameAllocator, RETURNED_CAPACITY};
pub use memory_map::{
    MemoryMap, Notice, RamRanges, Reservation, ReserveKind, ReservedBy, MAX_BANKS, MAX_NOTICES,
    MAX_RESERVATIONS,
};
pub use range::{PhysRange, PHYS_END};

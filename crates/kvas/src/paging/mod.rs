//! The page-table engine: one code path for every depth.
//!
//! [`PageTable`] maps, unmaps, protects, translates and iterates a table whose
//! shape comes from a [`TableFormat`] value, reaching table frames through a
//! [`PhysMemory`] and taking new ones from a [`FrameAllocator`] passed to each
//! call. Every mutating call returns a [`Flush`] and either succeeds whole or
//! leaves the tables exactly as they were.

mod attrs;
mod chunks;
mod flush;
mod format;
mod frame;
pub(crate) mod geometry;
mod iter;
mod map;
mod memory;
mod protect;
mod reserve;
mod split;
mod table;
#[cfg(test)]
mod tests;
mod unmap;

pub use attrs::Attrs;
pub use flush::Flush;
pub use format::{Pte, TableFormat};
pub use frame::FrameAllocator;
pub use geometry::Geometry;
pub use memory::{OffsetMemory, PhysMemory};
pub use table::{Mapping, PageTable, TableStats, Translation};

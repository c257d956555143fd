//! The page-table engine: one code path for every depth.
//!
//! [`PageTable`] maps, unmaps, protects, translates (also through a
//! [`TranslateCursor`] for runs of neighbouring pages) and iterates a table whose
//! shape comes from a [`TableFormat`] value, reaching table frames through a
//! [`PhysMemory`] and taking new ones from a [`FrameAllocator`] passed to each
//! call. Every mutating call returns a [`Flush`] and either succeeds whole or
//! leaves the tables exactly as they were.
//!
//! ```
//! use kvas::arch::riscv::{Mode, Riscv};
//! use kvas::paging::{Attrs, PageTable};
//! use kvas::sim::{Ram, TrackingAllocator};
//! use kvas::{PageSize, PhysAddr, VirtAddr, VirtRange};
//!
//! let mode = Mode::Sv48; // chosen at run time, e.g. by the boot-time satp probe
//! let ram = Ram::new(); // the host simulator; a kernel passes an OffsetMemory instead
//! let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000)?, 1 << 20)?;
//! let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut frames)?;
//! let image = VirtRange::new(VirtAddr::new(0xffff_ffff_8000_0000), 8 << 20)?;
//! pt.map_range(image, PhysAddr::new(0x8020_0000)?, Attrs::KERNEL_RX, PageSize::Size2M, &mut frames)?
//!     .ignore(); // not live on any hart yet: no TLB to flush
//! let t = pt.translate(VirtAddr::new(0xffff_ffff_8000_1234))?;
//! assert_eq!((t.pa.as_u64(), t.size), (0x8020_1234, PageSize::Size2M));
//! assert_eq!(pt.stats()?.leaves_of(PageSize::Size2M), 4);
//! # Ok::<(), kvas::Error>(())
//! ```

mod attrs;
mod chunks;
mod cursor;
mod deferred;
mod entry;
mod flush;
mod format;
mod frame;
pub(crate) mod geometry;
mod iter;
mod map;
mod memory;
mod populate;
mod protect;
mod reserve;
mod split;
mod table;
#[cfg(test)]
mod tests;
mod unmap;

pub use attrs::Attrs;
pub use cursor::TranslateCursor;
pub use deferred::DeferredFree;
pub use entry::{Entry, LeafEntry, VacantEntry};
pub use flush::Flush;
#[cfg(test)]
pub(crate) use format::assert_fast_paths_agree;
pub use format::{EntryWord, Pte, TableFormat};
pub use frame::FrameAllocator;
pub use geometry::{Geometry, Space};
pub use memory::{OffsetMemory, PhysMemory};
pub use table::{Mapping, PageTable, TableStats, Translation};

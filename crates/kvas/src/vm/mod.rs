//! Virtual-range allocators: vmalloc with guard pages, and the modules/BPF window.
//!
//! Everything here works in whole 4 KiB pages, on half-open ranges, without a
//! heap: each allocator carries a pool of `N` tree nodes (a const generic), so the
//! riscv64 kernel can use them before it has an allocator of its own.
//!
//! - [`RangeAllocator`]: first fit in one window, O(log n) allocate and free,
//!   free ranges merged with their neighbours, every free checked against the
//!   live allocations.
//! - [`Vmalloc`]: a [`RangeAllocator`] that puts an unmapped guard page after
//!   every allocation ([`VmArea::guard_page`]).
//! - [`ModulesWindow`]: the modules window with the 128 MiB BPF window at its
//!   top, two guarded allocators that never lend each other room.
//!
//! ```
//! use kvas::arch::riscv::Mode;
//! use kvas::layout::{Options, Riscv64Layout};
//! use kvas::vm::{ModulesWindow, Vmalloc};
//!
//! let layout = Riscv64Layout::plan(Mode::Sv39, &Options::default())?;
//! let mut vmalloc = Vmalloc::<1024>::from_layout(&layout)?; // [VMALLOC_START, VMALLOC_END)
//! let area = vmalloc.allocate(5000)?; // 2 pages + an unmapped guard page
//! assert_eq!((area.size(), area.guard_page()), (8192, area.range().end()));
//! vmalloc.free(area)?; // merges with both neighbours
//! assert_eq!(vmalloc.allocator().free_range_count(), 1);
//!
//! let mut modules = ModulesWindow::<256>::from_layout(&layout)?; // BPF = the top 128 MiB
//! let m = modules.allocate_module(64 << 10)?;
//! let b = modules.allocate_bpf(4096)?;
//! assert_eq!(m.start(), layout.modules().start());
//! assert_eq!(b.start(), layout.bpf().start());
//!
//! let mut tiny = Vmalloc::<4>::new(area.start(), area.start().wrapping_add(0x4000))?;
//! let err = tiny.allocate(0x4000).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "vmalloc window exhausted: no free range holds 0x5000 bytes aligned to 0x1000; \
//!      the largest free range is 0x4000 bytes"
//! );
//! # Ok::<(), kvas::Error>(())
//! ```
//!
//! # The structure
//!
//! Linux keeps free vmap areas in an rbtree sorted by address, each node
//! augmented with the largest free size in its subtree (`subtree_max_size`), so
//! that the lowest fitting area is one walk from the root. kvas does the same
//! with an AVL tree in an index arena:
//!
//! ```text
//!   pool: [Node; N]   (indices, no pointers; spare nodes on a free list)
//!
//!   free tree, keyed by start,              busy tree, keyed by start:
//!   augmented with the longest range         every live allocation
//!   in each subtree (in pages):
//!             [40,44) max 8
//!            /             \
//!     [10,12) max 5       [60,68) max 8
//!       /      \                \
//!  [0,1) 1   [20,25) 5       [90,93) 3
//! ```
//!
//! - **allocate(size, align)**: find the lowest free range of at least
//!   `size + align - PAGE_SIZE` bytes — it fits at any offset — by going left
//!   while the left subtree's maximum is long enough, else taking this node, else
//!   going right (O(log n), no backtracking). For page alignment this is exact
//!   first fit. For a larger alignment, only if no range is that long, a second
//!   in-order search visits the subtrees holding a range of at least `size` and
//!   takes the lowest one that fits once aligned (O(log n) plus the number of
//!   such ranges that fail the alignment), so a request never fails while some
//!   range could hold it. The chosen range is shrunk in place, split in two, or
//!   removed; the allocation goes into the busy tree.
//! - **free(range)**: the busy tree must hold exactly this range (else
//!   [`crate::Error::VaBadFree`], nothing changed). The free tree's floor and
//!   ceiling of its start are its neighbours; it merges with each it touches by
//!   widening a node in place (order is kept, so only the path's augmentation is
//!   recomputed) or removing the upper one. O(log n), and never needs a new node.
//!
//! Invariants (checked by [`RangeAllocator::check`]): free and busy ranges tile
//! the window; no two free ranges touch; each tree is ordered and AVL-balanced
//! with exact augmentation. With `k` live allocations there are at most `k + 1`
//! free ranges, so a pool of `2k + 1` nodes is always enough; a request the pool
//! cannot record fails with [`crate::Error::VaNodePoolFull`] and changes nothing.

mod modules;
mod pool;
mod range_alloc;
mod tree;
mod vmalloc;

pub use modules::{ModulesWindow, BPF_WINDOW_SIZE};
pub use range_alloc::RangeAllocator;
pub use vmalloc::{VmArea, Vmalloc};

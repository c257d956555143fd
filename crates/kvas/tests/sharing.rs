//! A page table can be shared between threads (harts) exactly when its parts can: the
//! engine keeps no interior mutability of its own (issue 15; `translate` through `&self`
//! stores nothing). If a `Cell` came back into `PageTable`, this file would not compile.

use kvas::arch::riscv::Riscv;
use kvas::paging::{DeferredFree, FrameAllocator, OffsetMemory, PageTable, PhysMemory, TableFormat};

fn send_sync<T: Send + Sync>() {}

/// Every `PageTable` whose format and memory view are `Send + Sync` is `Send + Sync`.
#[allow(dead_code)]
fn every_shareable_table_is_shareable<F: TableFormat + Send + Sync, M: PhysMemory + Send + Sync>() {
    send_sync::<PageTable<F, M>>();
}

/// The deferred-free list is as shareable as the allocator it wraps.
#[allow(dead_code)]
fn deferred_free_is_shareable<A: FrameAllocator + Send + Sync>() {
    send_sync::<DeferredFree<A, 64>>();
}

#[test]
fn the_kernels_table_is_send_and_sync() {
    send_sync::<PageTable<Riscv, OffsetMemory>>();
}

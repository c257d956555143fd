//! Benchmarks of the kvas page-table engine against peer crates.
//!
//! Every implementation (kvas at each depth, page_table_multiarch, the x86_64
//! crate, aarch64-paging) is wrapped as a [`subject::Subject`] and runs the
//! same generic [`workload`] functions, taking table frames from one
//! pre-faulted [`arena`]. `kvas-bench --quick` ([`runner`]) and the criterion
//! benches (`benches/paging.rs`) both drive [`registry::all`].

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod arena;
pub mod clock;
pub mod engine;
pub mod engine_other;
pub mod peers;
pub mod registry;
pub mod runner;
pub mod subject;
pub mod workload;

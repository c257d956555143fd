//! Architecture files: entry encodings and control-register formats.
//!
//! An architecture file never walks a table; it implements
//! [`crate::paging::TableFormat`] and the engine does the walking.

pub mod aarch64;
pub mod riscv;
pub mod x86_64;

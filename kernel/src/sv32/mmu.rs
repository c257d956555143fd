//! Every `satp` write and `sfence.vma` of the riscv32 kernel (after `_start`'s): all of them
//! are the ones both widths share (kernel/src/satp.rs), named here as riscv64's mm/mmu.rs
//! names them.

pub use crate::satp::{activate, flush_all, flush_page, probe_asid_bits, read_satp};

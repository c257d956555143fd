//! The riscv32 kernel's harts: one (SMP is riscv64-only, see docs/KERNEL.md). The names are
//! those of riscv64's `smp` module, which the shared code (console, trap) calls as
//! `crate::smp`.

/// Harts the kernel keeps per-hart state for: the boot hart only.
pub const MAX_HARTS: usize = 1;

/// This hart's id (`tp`, set by `_start` and never used by Rust).
pub fn hart_id() -> u64 {
    let id: usize;
    // SAFETY: reads a register that entry code set to the hart id and Rust never uses.
    unsafe { core::arch::asm!("mv {}, tp", out(reg) id) };
    id as u64
}

/// This hart's slot in per-hart arrays.
pub fn hart_index() -> usize {
    0
}

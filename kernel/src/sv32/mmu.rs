//! Every `satp` write and `sfence.vma` of the riscv32 kernel (after `_start`'s): the ones
//! both widths share (kernel/src/satp.rs), named here as riscv64's mm/mmu.rs names them, and
//! a process's `satp` and ASID flushes on riscv32's one hart (what riscv64's
//! mm/shootdown.rs does across harts).

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use kvas::paging::Flush;

pub use crate::satp::{activate, flush_all, flush_page, probe_asid_bits, read_satp};

/// Writes `satp`, then flushes the whole TLB if asked.
///
/// # Safety
///
/// The new root maps the running code, its stack and what it touches next as now.
pub unsafe fn switch_user(satp: u64, flush_all: bool) {
    // SAFETY: the caller vouches for the new root.
    unsafe { asm!("csrw satp, {}", in(reg) satp as u32) };
    if flush_all {
        // SAFETY: only drops cached translations.
        unsafe { asm!("sfence.vma") };
    }
}

/// The harts that ran a space: one hart on riscv32, kept for the same bookkeeping.
pub struct HartMask(AtomicU32);

impl HartMask {
    /// No hart.
    pub const fn new() -> Self {
        HartMask(AtomicU32::new(0))
    }

    /// Adds hart `hart`.
    pub fn add(&self, hart: u64) {
        self.0.fetch_or(1 << (hart % 32), Ordering::Relaxed);
    }
}

/// Flushes `f` for `asid` on this hart (the only one).
pub fn flush_asid(f: Flush, asid: u16, _: &HartMask) {
    f.apply(
        // SAFETY: only drops cached translations.
        |va| unsafe { asm!("sfence.vma {}, {}", in(reg) va.as_u64() as u32, in(reg) u32::from(asid)) },
        // SAFETY: as above.
        || unsafe { asm!("sfence.vma zero, {}", in(reg) u32::from(asid)) },
    );
}

/// Flushes `f` in the kernel's half on this hart (the only one).
pub fn flush_kernel(f: Flush) {
    f.apply(flush_page, flush_all);
}

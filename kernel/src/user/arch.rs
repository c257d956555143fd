//! What user space needs from the kernel it runs in, one definition per architecture: the
//! table format and `satp`, the ABI, the TLB operations, the harts a flush reaches, and the
//! kernel space. riscv64: Sv39/48/57 with `mm/` (SMP shootdowns); riscv32: Sv32 with `sv32/`
//! (one hart: every flush is local).

#[cfg(target_arch = "riscv64")]
mod imp {
    pub use crate::mm::mmu::{flush_all, probe_asid_bits, read_satp, switch_user};
    pub use crate::mm::shootdown::{flush_asid, flush_kernel, HartMask};
    pub use crate::mm::KernelSpace;
    pub use kvas::arch::riscv::Mode;
    use kvas::arch::riscv::{Riscv, Satp};
    use kvas::PhysAddr;
    use kvas_kernel_core::user::elf::Class;
    use kvas_kernel_core::user::syscall::Abi;

    /// The user tables' format.
    pub type Format = Riscv;
    /// The system-call ABI.
    pub const ABI: Abi = Abi::Rv64;
    /// The programs' ELF class.
    pub const ELF_CLASS: Class = Class::Elf64;
    /// Whether demand paging maps 2 MiB leaves.
    pub const HUGE: bool = true;

    /// The format of `mode`.
    pub fn format(mode: Mode) -> Format {
        Riscv::new(mode)
    }

    /// `satp` for a root and ASID in `mode`.
    pub fn satp(mode: Mode, asid: u16, root: PhysAddr) -> u64 {
        Satp { mode: Some(mode), asid, root }.encode().unwrap_or(0)
    }
}

#[cfg(target_arch = "riscv32")]
mod imp {
    use core::arch::asm;
    use core::sync::atomic::{AtomicU32, Ordering};

    pub use crate::sv32::mmu::{flush_all, probe_asid_bits};
    pub use crate::sv32::space::KernelSpace32 as KernelSpace;
    use kvas::arch::riscv32::{Satp32, Sv32};
    use kvas::paging::{Flush, TableFormat};
    use kvas::PhysAddr;
    use kvas_kernel_core::user::elf::Class;
    use kvas_kernel_core::user::syscall::Abi;

    /// The user tables' format.
    pub type Format = Sv32;
    /// The system-call ABI.
    pub const ABI: Abi = Abi::Rv32;
    /// The programs' ELF class.
    pub const ELF_CLASS: Class = Class::Elf32;
    /// Whether demand paging maps 2 MiB leaves (Sv32 has 4 MiB ones; kvas maps 4 KiB).
    pub const HUGE: bool = false;

    /// RV32's one paging mode.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Mode;

    impl Mode {
        /// Sv32's geometry.
        pub fn geometry(self) -> kvas::paging::Geometry {
            Sv32.geometry()
        }
    }

    /// The format.
    pub fn format(_: Mode) -> Format {
        Sv32
    }

    /// `satp` for a root and ASID (ASIDs above 9 bits never come: the probe says 9 at most).
    pub fn satp(_: Mode, asid: u16, root: PhysAddr) -> u64 {
        Satp32 { sv32: true, asid, root }.encode().map_or(0, u64::from)
    }

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

    /// `satp` now.
    pub fn read_satp() -> u64 {
        u64::from(crate::sv32::mmu::read_satp())
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

    /// Flushes `f` of the kernel's mappings on this hart.
    pub fn flush_kernel(_: Flush) {
        flush_all();
    }
}

pub use imp::*;

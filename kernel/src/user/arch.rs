//! What user space needs from the kernel it runs in, one definition per architecture: the
//! table format and `satp`, the ABI, the TLB operations, the harts a flush reaches, and the
//! kernel space. riscv64: Sv39/48/57 with `mm/` (SMP shootdowns); riscv32: Sv32 with `sv32/`
//! (one hart: every flush is local).

#[cfg(target_arch = "riscv64")]
mod imp {
    pub use crate::gather::Gather;
    pub use crate::mm::mmu::{flush_all, probe_asid_bits, read_satp, switch_user};
    pub use crate::mm::shootdown::{flush_asid, HartMask};
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

    /// Drops every hart's cached translations (each hart flushes itself).
    pub fn flush_every_hart() {
        crate::smp::on_each_hart(&|_| flush_all());
    }

    /// `satp` for a root and ASID in `mode`.
    pub fn satp(mode: Mode, asid: u16, root: PhysAddr) -> u64 {
        Satp { mode: Some(mode), asid, root }.encode().unwrap_or(0)
    }

    /// A user frame as the kernel reaches it: through the linear map (riscv64 has no
    /// highmem; every pool frame is there).
    pub struct FrameMap(u64);

    impl FrameMap {
        /// The frame's virtual address.
        pub fn va(&self) -> u64 {
            self.0
        }

        /// The frame's bytes.
        pub fn bytes(&mut self) -> &mut [u8; 4096] {
            // SAFETY: `map_frame`'s caller owns a pool frame, mapped read-write by the linear
            // map at this address; borrowed mutably, this is the one reference made here.
            unsafe { &mut *(self.0 as usize as *mut [u8; 4096]) }
        }
    }

    /// The user frame `pa` (4 KiB aligned, a pool frame) at its linear address (`offset`).
    pub fn map_frame(pa: u64, offset: u64) -> Option<FrameMap> {
        Some(FrameMap(pa.wrapping_add(offset)))
    }
}

#[cfg(target_arch = "riscv32")]
mod imp {
    pub use crate::gather::Gather;
    use crate::sv32::kmap::{Kmap, Pkmap};
    pub use crate::sv32::mmu::{flush_all, flush_asid, probe_asid_bits, switch_user, HartMask};
    pub use crate::sv32::space::KernelSpace32 as KernelSpace;
    use kvas::arch::riscv32::{Satp32, Sv32};
    use kvas::paging::TableFormat;
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

    /// Drops the translations of the one hart.
    pub fn flush_every_hart() {
        flush_all();
    }

    /// The format.
    pub fn format(_: Mode) -> Format {
        Sv32
    }

    /// The kmap slots user space reaches its frames through: taken from the pkmap once, by
    /// `user::init` ([`install_kmap`]), and used by nothing else.
    struct UserKmap(Pkmap);

    // SAFETY: one hart on riscv32; the slots are taken with the pkmap's atomic bitmap and a
    // slot's entry is written only by the guard that took it.
    unsafe impl Sync for UserKmap {}
    // SAFETY: as above (the raw pointer is to a pinned kernel table, valid everywhere).
    unsafe impl Send for UserKmap {}

    static USER_KMAP: spin::Once<UserKmap> = spin::Once::new();

    /// Hands user space its kmap slots (once: `false` if it already had some).
    pub fn install_kmap(slots: Pkmap) -> bool {
        if USER_KMAP.is_completed() {
            return false;
        }
        USER_KMAP.call_once(|| UserKmap(slots));
        true
    }

    /// A user frame mapped into the kernel while the guard lives: a kmap slot.
    pub type FrameMap = Kmap<'static>;

    /// The user frame `pa` (4 KiB aligned) mapped read-write: its linear address for a lowmem
    /// frame, else one of user space's kmap slots; `None` before [`install_kmap`] or when
    /// every slot is taken.
    #[inline]
    pub fn map_frame(pa: u64, _offset: u64) -> Option<FrameMap> {
        USER_KMAP.get()?.0.kmap(PhysAddr::new(pa).ok()?)
    }

    /// `satp` for a root and ASID (ASIDs above 9 bits never come: the probe says 9 at most).
    pub fn satp(_: Mode, asid: u16, root: PhysAddr) -> u64 {
        Satp32 { sv32: true, asid, root }.encode().map_or(0, u64::from)
    }

    /// `satp` now.
    pub fn read_satp() -> u64 {
        u64::from(crate::sv32::mmu::read_satp())
    }
}

pub use imp::*;

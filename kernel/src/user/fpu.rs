//! A process's floating-point state (f0..f31 and `fcsr`), saved and restored when the kernel
//! switches processes, as Linux's `__switch_to` does: the outgoing state is saved only if
//! `sstatus.FS` says the process wrote it (Dirty), the incoming one is loaded, never on an
//! ordinary trap (the kernel itself uses no floating point, so the registers stay the
//! process's across its system calls and faults).
//!
//! The user entry (entry.rs) turns the FPU on by setting FS's low bit, which keeps Initial
//! (01) as it is but would turn Clean (10) into Dirty (11); so after loading a process's state
//! the kernel marks it Initial, and the hardware's move to Dirty on a write is all a save
//! needs to know. Only riscv64 has F and D here (the riscv32 kernel's processes have no FPU).

/// The floating-point registers of a process while it does not run (zero at exec, as Linux).
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct FpState {
    f: [u64; 32],
    fcsr: u64,
}

#[cfg(target_arch = "riscv64")]
mod imp {
    use super::FpState;
    use core::arch::asm;

    /// `sstatus.FS`.
    const FS: u64 = 3 << 13;
    const FS_INITIAL: u64 = 1 << 13;

    /// Loads `st` into this hart's FPU for the process about to run; FS becomes Initial.
    pub fn switch_in(st: &FpState) {
        // SAFETY: FS is set (Initial) before the loads, so they do not trap; `st` is 33
        // readable words; only the FPU's registers and FS change, and no kernel code keeps a
        // value in an f-register (the kernel uses no floating point), so they need no
        // clobber list.
        unsafe {
            asm!("csrc sstatus, {fs}", "csrs sstatus, {initial}", fs = in(reg) FS, initial = in(reg) FS_INITIAL);
            asm!(
                ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
                "fld f\\r, (\\r*8)({p})",
                ".endr",
                "ld {t}, 256({p})",
                "fscsr {t}",
                p = in(reg) st as *const FpState,
                t = out(reg) _,
                options(nostack, readonly),
            );
        }
    }

    /// Saves this hart's FPU into `st` if the process that just ran wrote it (FS Dirty), then
    /// turns the FPU off (FS Off) until the next [`switch_in`], so that a floating-point
    /// instruction in the kernel between slices traps instead of clobbering a process's
    /// registers. Returns whether it saved.
    pub fn switch_out(st: &mut FpState) -> bool {
        let sstatus: u64;
        // SAFETY: reading sstatus has no side effect.
        unsafe { asm!("csrr {}, sstatus", out(reg) sstatus) };
        if sstatus & FS != FS {
            off();
            return false;
        }
        // SAFETY: FS is Dirty (on), so the stores do not trap; `st` is 33 writable words.
        unsafe {
            asm!(
                ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
                "fsd f\\r, (\\r*8)({p})",
                ".endr",
                "frcsr {t}",
                "sd {t}, 256({p})",
                p = in(reg) st as *mut FpState,
                t = out(reg) _,
                options(nostack),
            );
        }
        off();
        true
    }

    fn off() {
        // SAFETY: only the FPU's enable changes; nothing in the kernel uses the FPU.
        unsafe { asm!("csrc sstatus, {}", in(reg) FS) };
    }
}

#[cfg(not(target_arch = "riscv64"))]
mod imp {
    use super::FpState;

    /// No FPU for processes on this architecture.
    pub fn switch_in(_: &FpState) {}

    /// No FPU for processes on this architecture.
    pub fn switch_out(_: &mut FpState) -> bool {
        false
    }
}

pub use imp::{switch_in, switch_out};

//! A process's floating-point state (f0..f31 and `fcsr`), saved and restored when the kernel
//! switches processes, as Linux's `__switch_to` does: the outgoing state is saved only if
//! `sstatus.FS` says the process wrote it (Dirty), the incoming one is loaded, never on an
//! ordinary trap (the kernel itself uses no floating point, so the registers stay the
//! process's across its system calls and faults).
//!
//! [`switch_in`] turns the FPU on (FS Initial) and loads the process's registers; the user
//! entry (entry.rs) leaves FS as it is, so the hardware's move to Dirty on a write is all a
//! save needs to know, and [`switch_out`] turns it off (FS Off) again. Both widths have F
//! and D here: riscv64gc always; riscv32 (a riscv32imac kernel) when every hart lists D in
//! the device tree ([`set_available`] from `BootInfo::fpu`; QEMU's rv32 harts are
//! `rv32imafdc…`): 64-bit `fld`/`fsd` save each register whole. A riscv32 hart without D
//! keeps FS Off, so a process's floating-point instruction traps and the process is killed.

/// The floating-point registers of a process while it does not run (zero at exec, as Linux).
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct FpState {
    f: [u64; 32],
    fcsr: u64,
}

/// The save and load, one source for both widths: `$ldw`/`$stw` move `fcsr`'s word, `$fs`
/// is `sstatus.FS`'s mask as a `usize`. `.option arch, +d` lets the riscv32imac kernel
/// assemble `fld`/`fsd` (used only when the hart has D).
macro_rules! fp_imp {
    ($ldw:literal, $stw:literal) => {
        use super::FpState;
        use core::arch::asm;

        /// `sstatus.FS`.
        const FS: usize = 3 << 13;
        const FS_INITIAL: usize = 1 << 13;

        /// Loads `st` into this hart's FPU for the process about to run; FS becomes Initial.
        pub fn switch_in(st: &FpState) {
            if !available() {
                return off();
            }
            // SAFETY: the hart has D (`available`); FS is set (Initial) before the loads, so
            // they do not trap; `st` is 33 readable 8-byte words; only the FPU's registers
            // and FS change, and no kernel code keeps a value in an f-register (the kernel
            // uses no floating point), so they need no clobber list.
            unsafe {
                asm!("csrc sstatus, {fs}", "csrs sstatus, {initial}", fs = in(reg) FS, initial = in(reg) FS_INITIAL);
                asm!(
                    ".option push",
                    ".option arch, +d",
                    ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
                    "fld f\\r, (\\r*8)({p})",
                    ".endr",
                    concat!($ldw, " {t}, 256({p})"),
                    "fscsr {t}",
                    ".option pop",
                    p = in(reg) st as *const FpState,
                    t = out(reg) _,
                    options(nostack, readonly),
                );
            }
        }

        /// Saves this hart's FPU into `st` if the process that just ran wrote it (FS Dirty),
        /// then turns the FPU off (FS Off) until the next [`switch_in`], so that a
        /// floating-point instruction in the kernel between slices traps instead of
        /// clobbering a process's registers. Returns whether it saved.
        pub fn switch_out(st: &mut FpState) -> bool {
            let sstatus: usize;
            // SAFETY: reading sstatus has no side effect.
            unsafe { asm!("csrr {}, sstatus", out(reg) sstatus) };
            if sstatus & FS != FS {
                off();
                return false;
            }
            // SAFETY: FS is Dirty (on), which only switch_in sets on a hart with D, so the
            // stores do not trap; `st` is 33 writable 8-byte words.
            unsafe {
                asm!(
                    ".option push",
                    ".option arch, +d",
                    ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
                    "fsd f\\r, (\\r*8)({p})",
                    ".endr",
                    "frcsr {t}",
                    concat!($stw, " {t}, 256({p})"),
                    ".option pop",
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
    };
}

#[cfg(target_arch = "riscv64")]
mod imp {
    fp_imp!("ld", "sd");

    /// riscv64gc: every hart has F and D.
    fn available() -> bool {
        true
    }
}

#[cfg(target_arch = "riscv32")]
mod imp {
    use core::sync::atomic::{AtomicBool, Ordering};

    fp_imp!("lw", "sw");

    /// Whether every hart has D (set once at boot, before any process runs).
    static AVAILABLE: AtomicBool = AtomicBool::new(false);

    /// Whether processes get the FPU (every hart has D).
    pub fn available() -> bool {
        AVAILABLE.load(Ordering::Relaxed)
    }

    /// Records whether every hart has D (`BootInfo::fpu`): without it processes run with
    /// FS Off, so a floating-point instruction traps and kills the process.
    pub fn set_available(fpu: bool) {
        AVAILABLE.store(fpu, Ordering::Relaxed);
    }
}

#[cfg(target_arch = "riscv32")]
pub use imp::{available, set_available};
pub use imp::{switch_in, switch_out};

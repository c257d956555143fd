//! Power-off: SBI SRST, plus QEMU's test finisher for a failing exit status; and the one
//! fatal path.
//!
//! OpenSBI turns any SRST shutdown into the finisher's "pass" write, so QEMU exits 0 even
//! with reason "system failure". When the device tree names a `sifive,test0` finisher, a
//! failing power-off first writes its FAIL code itself (QEMU then exits with status 1). The
//! finisher's address is the one valid in the current address space: physical with the MMU
//! off, its fixmap page from the first instruction of kmain on (both the early and the
//! final tables map it there).
//!
//! [`fatal`] prints one `kvas: fatal:` line and powers off failing. A trap taken while a
//! fatal error is being handled (the message's formatting faults, the finisher's store
//! faults) does not print again: the trap handler calls [`fail_again`], which goes straight
//! to the power-off (without the finisher if that was what faulted), never recursing.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The finisher's FAIL command; bits 16.. carry the exit code.
const FINISHER_FAIL: u32 = 0x3333;

/// How long a failing power-off waits for the finisher before it falls back to SRST: one
/// second of QEMU virt's 10 MHz timebase.
const FINISHER_GRACE_TICKS: usize = 10_000_000;

/// The finisher's address in the current address space (0: none).
static FINISHER: AtomicUsize = AtomicUsize::new(0);

/// Set when a fatal error (or a failing power-off) has begun.
static FAILING: AtomicBool = AtomicBool::new(false);

/// Set once the finisher's store has been tried.
static FINISHER_TRIED: AtomicBool = AtomicBool::new(false);

/// Tells where the finisher is reachable now (physical with the MMU off, mapped later).
pub fn set_finisher(addr: u64) {
    // An address of this XLEN (physical addresses of RV32 harts with the MMU off are below
    // 4 GiB, and mapped ones are virtual).
    FINISHER.store(addr as usize, Ordering::Relaxed);
}

/// Whether a fatal error is being handled (the trap handler asks, so as not to recurse).
pub fn is_failing() -> bool {
    FAILING.load(Ordering::Relaxed)
}

/// Powers the machine off: SRST with reason "no reason" when `success`, "system failure"
/// (and the finisher's FAIL, exit status 1) otherwise.
pub fn shutdown(success: bool) -> ! {
    if success {
        let _ = sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::NoReason);
    } else {
        FAILING.store(true, Ordering::Relaxed);
        let finisher = FINISHER.load(Ordering::Relaxed);
        if finisher != 0 && !FINISHER_TRIED.swap(true, Ordering::Relaxed) {
            // SAFETY: `set_finisher` was given an address that reaches the finisher's
            // register in the current address space; the write ends the machine. Should it
            // fault anyway, the trap handler comes back through `fail_again`, which does
            // not try it twice.
            unsafe { core::ptr::write_volatile(finisher as *mut u32, FINISHER_FAIL | 1 << 16) };
            // QEMU shuts down asynchronously: an SRST now would race it with a "pass".
            wait_ticks(FINISHER_GRACE_TICKS);
        }
        let _ = sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::SystemFailure);
    }
    // SRST missing or refused: the legacy call, which does not return.
    #[allow(deprecated)]
    sbi_rt::legacy::shutdown()
}

/// Spins for `ticks` of the `time` CSR (its low XLEN bits, compared wrapping).
fn wait_ticks(ticks: usize) {
    let now = || -> usize {
        let t: usize;
        // SAFETY: reading the time CSR has no side effect (OpenSBI lets S-mode read it).
        unsafe { core::arch::asm!("rdtime {}", out(reg) t) };
        t
    };
    let start = now();
    while now().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Idles forever with interrupts off.
pub fn halt() -> ! {
    loop {
        // SAFETY: `wfi` only waits; with interrupts disabled it may return at any time, and
        // the loop waits again.
        unsafe { core::arch::asm!("wfi") };
    }
}

/// Prints `kvas: fatal: WHAT` (one line) and powers off with failure. If a fatal error is
/// already being handled, prints nothing more and powers off.
pub fn fatal(what: core::fmt::Arguments) -> ! {
    if FAILING.swap(true, Ordering::Relaxed) {
        fail_again();
    }
    crate::kprintln!("kvas: fatal: {}", what);
    shutdown(false)
}

/// The value, or a fatal error `WHAT: ERROR` (both kernels' boot sequences).
pub fn or_fatal<T, E: core::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => fatal(format_args!("{what}{e}")),
    }
}

/// A value whose formatting faults: `kvas.fail=nested` (a trap inside the fatal path).
pub struct Faulting;

impl core::fmt::Display for Faulting {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", crate::trap::fault_on_purpose())
    }
}

/// A second failure inside the fatal path (a trap while printing or powering off): no
/// message, straight to the failing power-off.
pub fn fail_again() -> ! {
    crate::console::puts("\n");
    shutdown(false)
}

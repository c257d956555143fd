//! The serial console through SBI: the Debug Console extension (DBCN) when the firmware has
//! it, the legacy `console_putchar` otherwise. Works before and after paging is on, since
//! it only makes `ecall`s.
//!
//! Harts print through one lock ([`Console`] takes it per line), so that lines from several
//! harts never interleave. The lock is the hart's: a hart that traps while printing (the
//! fatal path) prints again without waiting for itself.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether the firmware implements DBCN; probed once by [`init`].
static HAS_DBCN: AtomicBool = AtomicBool::new(false);

/// Probes the SBI console extension. Until it runs, output goes through the legacy call.
pub fn init() {
    let dbcn = sbi_rt::probe_extension(sbi_rt::Console).is_available();
    HAS_DBCN.store(dbcn, Ordering::Relaxed);
}

/// Writes one byte to the console.
pub fn putb(byte: u8) {
    if HAS_DBCN.load(Ordering::Relaxed) {
        let _ = sbi_rt::console_write_byte(byte);
    } else {
        #[allow(deprecated)]
        sbi_rt::legacy::console_putchar(byte as usize);
    }
}

/// The hart holding the console (its hart id + 1; 0: free).
static OWNER: AtomicUsize = AtomicUsize::new(0);

/// Holds the console for this hart until dropped (nothing to release if it already held it).
struct Held(bool);

impl Held {
    fn take() -> Self {
        let me = crate::smp::hart_id() as usize + 1;
        if OWNER.load(Ordering::Relaxed) == me {
            return Held(false);
        }
        while OWNER.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        Held(true)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.0 {
            OWNER.store(0, Ordering::Release);
        }
    }
}

/// Writes a string to the console.
pub fn puts(s: &str) {
    let _held = Held::take();
    puts_held(s);
}

fn puts_held(s: &str) {
    for b in s.bytes() {
        putb(b);
    }
}

/// The console as a [`core::fmt::Write`] sink.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        puts_held(s);
        Ok(())
    }
}

/// Formats to the console, holding it throughout; used by [`kprint!`].
pub fn print_fmt(args: fmt::Arguments) {
    let _held = Held::take();
    let _ = Console.write_fmt(args);
}

/// Formats one line to the console, holding it throughout; used by [`kprintln!`].
pub fn print_line(args: fmt::Arguments) {
    let _held = Held::take();
    let _ = Console.write_fmt(args);
    puts_held("\n");
}

/// Prints to the SBI console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the SBI console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::puts("\n") };
    ($($arg:tt)*) => { $crate::console::print_line(format_args!($($arg)*)) };
}

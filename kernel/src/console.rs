//! The serial console through SBI: the Debug Console extension (DBCN) when the firmware has
//! it, the legacy `console_putchar` otherwise. Works before and after paging is on, since
//! it only makes `ecall`s.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

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

/// Writes a string to the console.
pub fn puts(s: &str) {
    for b in s.bytes() {
        putb(b);
    }
}

/// The console as a [`core::fmt::Write`] sink.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        puts(s);
        Ok(())
    }
}

/// Formats to the console; used by [`kprint!`] and [`kprintln!`].
pub fn print_fmt(args: fmt::Arguments) {
    let _ = Console.write_fmt(args);
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
    ($($arg:tt)*) => {{ $crate::console::print_fmt(format_args!($($arg)*)); $crate::console::puts("\n"); }};
}

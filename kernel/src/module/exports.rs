//! The kernel symbols modules may use (Linux's `EXPORT_SYMBOL`), by name.

use core::sync::atomic::{AtomicU64, Ordering};

/// A constant modules read (through absolute `HI20`/`LO12_I` and `PC`-relative addressing).
#[no_mangle]
pub static kvas_export_magic: u64 = 0x6b76_6173; // "kvas"

/// A word modules write (the test module stores through `HI20`/`LO12_S`).
#[no_mangle]
pub static kvas_export_mailbox: AtomicU64 = AtomicU64::new(0);

/// How many times a module called [`kvas_export_log`].
pub static LOG_CALLS: AtomicU64 = AtomicU64::new(0);

/// Adds two numbers (wrapping): a kernel function modules call.
#[no_mangle]
pub extern "C" fn kvas_export_add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// Prints `kvas: module says: MSG` (MSG: `len` bytes of UTF-8 at `msg`).
///
/// # Safety
///
/// `msg` must point at `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn kvas_export_log(msg: *const u8, len: usize) {
    // SAFETY: the caller vouches for the bytes.
    let bytes = unsafe { core::slice::from_raw_parts(msg, len) };
    LOG_CALLS.fetch_add(1, Ordering::Relaxed);
    match core::str::from_utf8(bytes) {
        Ok(s) => crate::kprintln!("kvas: module says: {s}"),
        Err(_) => crate::kprintln!("kvas: module says {len} bytes that are not UTF-8"),
    }
}

/// The address of the exported symbol `name`.
pub fn lookup(name: &[u8]) -> Option<u64> {
    let exports: [(&[u8], u64); 4] = [
        (b"kvas_export_add", kvas_export_add as extern "C" fn(u64, u64) -> u64 as usize as u64),
        (b"kvas_export_log", kvas_export_log as unsafe extern "C" fn(*const u8, usize) as usize as u64),
        (b"kvas_export_magic", core::ptr::addr_of!(kvas_export_magic) as u64),
        (b"kvas_export_mailbox", core::ptr::addr_of!(kvas_export_mailbox) as u64),
    ];
    exports.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
}

//! Standard output that never panics and never loses a failure.
//!
//! `kvas ... | head` closes stdout early: that ends the output quietly (the
//! reader wanted no more). Any other write error — a full disk, say — is
//! remembered, and [`finish`] turns it into `kvas: error: ...` and exit
//! status 2, so that output which never arrived is not reported as success.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Mutex;

/// The first write error other than a closed pipe.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

fn note(result: io::Result<()>) {
    if let Err(e) = result {
        if e.kind() != io::ErrorKind::BrokenPipe {
            let mut failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
            failed.get_or_insert(e);
        }
    }
}

/// Writes to stdout (what `out!` and `outln!` expand to).
pub fn emit(args: fmt::Arguments<'_>) {
    note(io::stdout().lock().write_fmt(args));
}

/// Flushes stdout; `status` unless some output could not be written, then 2
/// with the reason on stderr.
pub fn finish(status: ExitCode) -> ExitCode {
    note(io::stdout().lock().flush());
    let failed = FAILED.lock().unwrap_or_else(|p| p.into_inner()).take();
    match failed {
        Some(e) => {
            eprintln!("kvas: error: cannot write the output: {e}");
            ExitCode::from(2)
        }
        None => status,
    }
}

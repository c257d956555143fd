//! Input files, read with a bound: a path may name `/dev/zero`, a pipe that
//! never ends or a file far larger than anything kvas reads, and none of them
//! may take unbounded memory.

use std::io::Read;
use std::path::Path;

/// The bytes of the file at `path`, refused past `max` bytes. Errors start with
/// the path and say what went wrong (`Is a directory`, `No such file`, too large).
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{}: larger than {} MiB, too large for {what}", path.display(), max >> 20));
    }
    Ok(bytes)
}

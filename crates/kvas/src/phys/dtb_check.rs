//! A structural check of a flattened device tree, run before the `fdt` crate
//! sees the blob.
//!
//! The `fdt` crate trusts its input: on a truncated property, an unterminated
//! name, an out-of-range string offset or unbalanced nodes it indexes out of
//! bounds or unwraps, which in a kernel is a panic at boot. Device trees come
//! from firmware, files and fuzzers, so kvas walks the whole structure block
//! once, checking every bound the crate relies on, and only then hands the
//! blob over. What this check accepts, the parts of `fdt` that kvas calls
//! cannot panic on (the fuzz target in `fuzz/` holds it to that).

use crate::Error;

const MAGIC: u32 = 0xd00d_feed;
const HEADER_LEN: usize = 40;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// How deep nodes may nest (the `fdt` crate's own node iterator holds 64).
pub const MAX_DEPTH: usize = 32;

fn malformed(offset: usize, reason: &'static str) -> Error {
    Error::DtbMalformed { offset, reason }
}

fn be32(blob: &[u8], at: usize) -> Option<u32> {
    let bytes = blob.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The offset and length of a block inside `[0, total)`, checked.
fn block(blob: &[u8], field: usize, len_field: Option<usize>, total: usize) -> Result<(usize, usize), Error> {
    let start = be32(blob, field).ok_or(malformed(field, "header is truncated"))? as usize;
    let len = match len_field {
        Some(f) => be32(blob, f).ok_or(malformed(f, "header is truncated"))? as usize,
        None => 0,
    };
    match start.checked_add(len) {
        Some(end) if start >= HEADER_LEN && end <= total => Ok((start, len)),
        _ => Err(malformed(field, "a block lies outside the blob's total size")),
    }
}

/// A NUL-terminated UTF-8 string at `at` inside `[at, limit)`; returns its length.
fn c_str(blob: &[u8], at: usize, limit: usize, what: &'static str) -> Result<usize, Error> {
    let bytes = blob.get(at..limit).ok_or(malformed(at, what))?;
    let len = bytes.iter().position(|&b| b == 0).ok_or(malformed(at, what))?;
    core::str::from_utf8(&bytes[..len]).map_err(|_| malformed(at, what))?;
    Ok(len)
}

/// Checks `blob` as a version-17 flattened device tree (the format every
/// firmware and `dtc` writes). Returns the blob's total size.
pub fn check(blob: &[u8]) -> Result<usize, Error> {
    if blob.len() < HEADER_LEN {
        return Err(malformed(0, "shorter than a device-tree header"));
    }
    if be32(blob, 0) != Some(MAGIC) {
        return Err(malformed(0, "bad magic (not a flattened device tree)"));
    }
    let total = be32(blob, 4).unwrap_or(0) as usize;
    if total < HEADER_LEN || total > blob.len() {
        return Err(malformed(4, "total size is smaller than the header or larger than the blob"));
    }
    let version = be32(blob, 20).unwrap_or(0);
    let last_compatible = be32(blob, 24).unwrap_or(u32::MAX);
    if version < 17 || last_compatible > 17 {
        return Err(malformed(20, "unsupported version (kvas reads version 17 trees)"));
    }
    let (structs, structs_len) = block(blob, 8, Some(36), total)?;
    let (strings, strings_len) = block(blob, 12, Some(32), total)?;
    let (rsvmap, _) = block(blob, 16, None, total)?;
    if (structs | structs_len) & 3 != 0 {
        return Err(malformed(8, "structure block is not 4-byte aligned"));
    }
    check_rsvmap(blob, rsvmap, total)?;
    check_structure(blob, structs, structs + structs_len, strings, strings_len)?;
    Ok(total)
}

/// The memory reservation block: 16-byte pairs ending with a zero pair.
fn check_rsvmap(blob: &[u8], start: usize, total: usize) -> Result<(), Error> {
    if start & 7 != 0 {
        return Err(malformed(16, "memory reservation block is not 8-byte aligned"));
    }
    let mut at = start;
    loop {
        if at + 16 > total {
            return Err(malformed(at, "memory reservation block has no terminating entry"));
        }
        let zero = blob[at..at + 16].iter().all(|&b| b == 0);
        at += 16;
        if zero {
            return Ok(());
        }
    }
}

/// The entries of the memory reservation block (`/memreserve/`) of a blob
/// that passed [`check`], as 64-bit `(address, size)` pairs.
///
/// Read here rather than through the `fdt` crate, whose accessors return
/// `usize`: on a 32-bit target (the riscv32 kernel) an entry above 4 GiB would
/// be truncated silently to a low address, reserving the wrong memory.
pub fn memory_reservations(blob: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut at = be32(blob, 16).unwrap_or(0) as usize;
    core::iter::from_fn(move || {
        let entry = blob.get(at..at.checked_add(16)?)?;
        let be64 = |b: &[u8]| b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x));
        let (address, size) = (be64(&entry[..8]), be64(&entry[8..]));
        if address == 0 && size == 0 {
            return None;
        }
        at += 16;
        Some((address, size))
    })
}

fn check_structure(
    blob: &[u8],
    start: usize,
    end: usize,
    strings: usize,
    strings_len: usize,
) -> Result<(), Error> {
    let token = |at: usize| -> Result<u32, Error> {
        if at + 4 > end {
            return Err(malformed(at, "structure block ends inside a node"));
        }
        Ok(be32(blob, at).unwrap_or(0))
    };
    let mut at = start;
    let mut depth = 0usize;
    // Whether the current node has had a child yet (properties must come first).
    let mut had_child = [false; MAX_DEPTH + 1];
    let mut root_done = false;
    loop {
        let tok = token(at)?;
        match tok {
            FDT_BEGIN_NODE => {
                if root_done {
                    return Err(malformed(at, "a second root node"));
                }
                let name_len = c_str(blob, at + 4, end, "node name is unterminated or not UTF-8")?;
                if depth == 0 && name_len != 0 {
                    return Err(malformed(at, "the root node has a name"));
                }
                if depth > 0 && name_len == 0 {
                    return Err(malformed(at, "a node below the root has an empty name"));
                }
                if depth == MAX_DEPTH {
                    return Err(malformed(at, "nodes nest too deeply"));
                }
                had_child[depth] = true;
                depth += 1;
                had_child[depth] = false;
                at += 4 + ((name_len + 1 + 3) & !3);
            }
            FDT_END_NODE => {
                if depth == 0 {
                    return Err(malformed(at, "end of a node that was never begun"));
                }
                depth -= 1;
                if depth == 0 {
                    root_done = true;
                }
                at += 4;
            }
            FDT_PROP => {
                if depth == 0 {
                    return Err(malformed(at, "a property outside any node"));
                }
                if had_child[depth] {
                    return Err(malformed(at, "a property after a child node"));
                }
                let len = token(at + 4)? as usize;
                let name_off = token(at + 8)? as usize;
                let data = at + 12;
                if data.checked_add(len).is_none_or(|e| e > end) {
                    return Err(malformed(at, "a property's value runs past the structure block"));
                }
                if name_off >= strings_len {
                    return Err(malformed(at, "a property's name lies outside the strings block"));
                }
                let name_at = strings + name_off;
                let name_len = c_str(
                    blob,
                    name_at,
                    strings + strings_len,
                    "a property name is unterminated or not UTF-8",
                )?;
                let name = &blob[name_at..name_at + name_len];
                if (name == b"#address-cells" || name == b"#size-cells") && len != 4 {
                    return Err(malformed(at, "#address-cells or #size-cells is not one cell"));
                }
                at = data + ((len + 3) & !3);
            }
            FDT_NOP => return Err(malformed(at, "FDT_NOP tokens are not supported")),
            FDT_END => {
                if !root_done {
                    return Err(malformed(at, "the tree ends inside a node (or has no root)"));
                }
                return Ok(());
            }
            _ => return Err(malformed(at, "unknown structure token")),
        }
    }
}

//! Memory maps written as text: `BASE:SIZE[,BASE:SIZE...]`.
//!
//! Numbers are `0x` hex or decimal (`_` may separate digits), with an optional binary suffix `K`, `M`,
//! `G`, `T` or `P` (upper or lower case): `0x80000000:2G,0x100000000:512M`.
//! Reservations may add a kind, `BASE:SIZE:no-map` (the default),
//! `:reserved` or `:reusable`. Empty entries, zero sizes, overflow and junk are
//! refused with the entry's position, never guessed at; a range that wraps
//! past 2^64 or ends above 2^56 is [`Error::MemSpecRange`], with the entry and
//! its numbers.

use crate::phys::memory_map::{MemoryMap, ReserveKind, ReservedBy};
use crate::Error;

/// Parses a size or address: `0x` hex or decimal, optional `K/M/G/T/P` suffix
/// (powers of 1024). `entry` names the list entry in errors.
pub fn parse_size(text: &str, entry: usize) -> Result<u64, Error> {
    let err = |reason| Error::BadMemSpec { entry, reason };
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 20),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 30),
        Some(b't' | b'T') => (&text[..text.len() - 1], 40),
        Some(b'p' | b'P') => (&text[..text.len() - 1], 50),
        Some(_) => (text, 0),
        None => return Err(err("a number is missing")),
    };
    let (digits, radix) = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (digits, 10),
    };
    if digits.chars().all(|c| c == '_') {
        return Err(err("a number is missing its digits"));
    }
    let mut value: u64 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix).ok_or(err("not a number (use 0x hex or decimal, optional K/M/G/T/P)"))?;
        value = value
            .checked_mul(radix as u64)
            .and_then(|v| v.checked_add(d as u64))
            .ok_or(err("number does not fit in 64 bits"))?;
    }
    if shift > 0 && value.leading_zeros() < shift {
        return Err(err("number does not fit in 64 bits"));
    }
    Ok(value << shift)
}

/// One `BASE:SIZE[:KIND]` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecEntry {
    /// Where it starts.
    pub base: u64,
    /// Its length (never 0).
    pub size: u64,
    /// The kind, if the entry names one.
    pub kind: Option<ReserveKind>,
}

/// Parses a comma-separated list of `BASE:SIZE[:KIND]`, calling `each` per entry
/// with its position (1 = first).
pub fn parse_list(
    text: &str,
    mut each: impl FnMut(usize, SpecEntry) -> Result<(), Error>,
) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::BadMemSpec { entry: 1, reason: "the list is empty" });
    }
    for (i, item) in text.split(',').enumerate() {
        let entry = i + 1;
        let err = |reason| Error::BadMemSpec { entry, reason };
        let mut parts = item.split(':');
        let base = parts.next().unwrap_or("");
        if base.trim().is_empty() {
            return Err(err("the entry is empty (expected BASE:SIZE)"));
        }
        let size = parts.next().ok_or(err("SIZE is missing (expected BASE:SIZE)"))?;
        let kind = match parts.next().map(str::trim) {
            None => None,
            Some("no-map") => Some(ReserveKind::NoMap),
            Some("reserved") => Some(ReserveKind::Reserved),
            Some("reusable") => Some(ReserveKind::Reusable),
            Some(_) => return Err(err("unknown kind (expected no-map, reserved or reusable)")),
        };
        if parts.next().is_some() {
            return Err(err("too many ':' (expected BASE:SIZE[:KIND])"));
        }
        let base = parse_size(base, entry)?;
        let size = parse_size(size, entry)?;
        if size == 0 {
            return Err(err("SIZE is 0"));
        }
        if u128::from(base) + u128::from(size) > 1 << 64 {
            let reason = "it wraps past 2^64";
            return Err(Error::MemSpecRange { entry, start: base, size, reason });
        }
        // The map's own refusals (above 2^56, say), told with the entry.
        each(entry, SpecEntry { base, size, kind }).map_err(|e| match e {
            Error::BadPhysRange { start, size, reason } => Error::MemSpecRange { entry, start, size, reason },
            other => other,
        })?;
    }
    Ok(())
}

impl MemoryMap {
    /// A map of the RAM listed in `text` (`BASE:SIZE,...`; a kind is refused here).
    pub fn from_text(text: &str) -> Result<MemoryMap, Error> {
        let mut map = MemoryMap::new();
        parse_list(text, |entry, e| {
            if e.kind.is_some() {
                return Err(Error::BadMemSpec { entry, reason: "RAM banks take no kind" });
            }
            map.add_ram(e.base, e.size)
        })?;
        Ok(map)
    }

    /// Adds the reservations listed in `text` (`BASE:SIZE[:KIND],...`, kind
    /// `no-map` by default), on behalf of the user.
    pub fn reserve_text(&mut self, text: &str) -> Result<(), Error> {
        parse_list(text, |_, e| {
            self.reserve(e.base, e.size, e.kind.unwrap_or(ReserveKind::NoMap), ReservedBy::User)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phys::PhysRange;

    #[test]
    fn sizes_in_every_notation() {
        assert_eq!(parse_size("0x80000000", 1), Ok(0x8000_0000));
        assert_eq!(parse_size("4096", 1), Ok(4096));
        assert_eq!(parse_size("4K", 1), Ok(4096));
        assert_eq!(parse_size("2m", 1), Ok(2 << 20));
        assert_eq!(parse_size("0x10G", 1), Ok(16 << 30));
        assert_eq!(parse_size("1T", 1), Ok(1 << 40));
        assert_eq!(parse_size("2P", 1), Ok(2 << 50));
        assert_eq!(parse_size(" 0X1f ", 1), Ok(0x1f));
        assert_eq!(parse_size("0x1_0000_0000", 1), Ok(1 << 32));
        assert!(parse_size("0x_", 1).is_err());
    }

    #[test]
    fn bad_numbers_say_which_entry() {
        assert_eq!(parse_size("", 3), Err(Error::BadMemSpec { entry: 3, reason: "a number is missing" }));
        assert_eq!(
            parse_size("0x", 2),
            Err(Error::BadMemSpec { entry: 2, reason: "a number is missing its digits" })
        );
        assert!(matches!(
            parse_size("12Q", 1),
            Err(Error::BadMemSpec { reason: "not a number (use 0x hex or decimal, optional K/M/G/T/P)", .. })
        ));
        assert!(matches!(parse_size("0xg", 1), Err(Error::BadMemSpec { .. })));
        assert_eq!(
            parse_size("0x10000000000000000", 1),
            Err(Error::BadMemSpec { entry: 1, reason: "number does not fit in 64 bits" })
        );
        assert_eq!(
            parse_size("16384P", 1),
            Err(Error::BadMemSpec { entry: 1, reason: "number does not fit in 64 bits" })
        );
        assert_eq!(parse_size("16383P", 1), Ok(16383 << 50));
    }

    #[test]
    fn a_ram_list_builds_a_normalised_map() {
        let m = MemoryMap::from_text("0x100000000:1G, 0x80000000:2G").unwrap();
        assert_eq!(m.banks(), &[PhysRange::from_bounds(0x8000_0000, 0x1_4000_0000).unwrap()]);
    }

    #[test]
    fn malformed_lists_are_refused_with_the_entry() {
        let e = |entry, reason| Err(Error::BadMemSpec { entry, reason });
        assert_eq!(MemoryMap::from_text(""), e(1, "the list is empty"));
        assert_eq!(MemoryMap::from_text("0x1000"), e(1, "SIZE is missing (expected BASE:SIZE)"));
        assert_eq!(
            MemoryMap::from_text("0x0:4K,,0x2000:4K"),
            e(2, "the entry is empty (expected BASE:SIZE)")
        );
        assert_eq!(MemoryMap::from_text("0x0:4K,0x2000:0"), e(2, "SIZE is 0"));
        assert_eq!(
            MemoryMap::from_text("0xffffffffffff0000:1M").unwrap_err().to_string(),
            "memory list, entry 1: range of 0x100000 bytes at 0xffffffffffff0000 refused: it wraps past 2^64"
        );
        assert_eq!(MemoryMap::from_text("0:4K:no-map"), e(1, "RAM banks take no kind"));
        assert_eq!(
            MemoryMap::from_text("0:4K:1:2"),
            e(1, "unknown kind (expected no-map, reserved or reusable)")
        );
        assert_eq!(MemoryMap::from_text("0:4K:reserved:x"), e(1, "too many ':' (expected BASE:SIZE[:KIND])"));
        // Passes the text check, fails the map's (above 2^56, or ending at 2^64
        // exactly, which does not wrap): told with the entry and the numbers.
        assert_eq!(
            MemoryMap::from_text("0x80000000:1G,0x100000000000000:4K").unwrap_err().to_string(),
            "memory list, entry 2: range of 0x1000 bytes at 0x100000000000000 refused: it ends above the 56-bit physical address space"
        );
        assert_eq!(
            MemoryMap::from_text("0xfffffffffffff000:4K"),
            Err(Error::MemSpecRange {
                entry: 1,
                start: 0xffff_ffff_ffff_f000,
                size: 0x1000,
                reason: "it ends above the 56-bit physical address space"
            })
        );
        let mut m = MemoryMap::from_text("0x80000000:1G").unwrap();
        assert_eq!(
            m.reserve_text("0x80000000:4K,0xfffffffffffff000:8K").unwrap_err().to_string(),
            "memory list, entry 2: range of 0x2000 bytes at 0xfffffffffffff000 refused: it wraps past 2^64"
        );
    }

    #[test]
    fn reservations_default_to_no_map() {
        let mut m = MemoryMap::from_text("0x80000000:1G").unwrap();
        m.reserve_text("0x80000000:256K,0x90000000:1M:reusable").unwrap();
        let kinds: Vec<_> = m.reservations().iter().map(|r| (r.kind, r.by)).collect();
        assert_eq!(
            kinds,
            vec![(ReserveKind::NoMap, ReservedBy::User), (ReserveKind::Reusable, ReservedBy::User)]
        );
        assert!(m.reserve_text("0x1000").is_err());
    }
}

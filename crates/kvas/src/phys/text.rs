//! Memory maps written as text: `BASE:SIZE[,BASE:SIZE...]`.
//!
//! BASE and SIZE are in the one size grammar of [`crate::size`]: `0x` hex, or
//! decimal with an optional binary unit `K`, `M`, `G`, `T`, `P` or `E` (`iB`
//! may follow): `0x80000000:2G,0x100000000:512M`.
//! Reservations may add a kind, `BASE:SIZE:no-map` (the default),
//! `:reserved` or `:reusable`. Empty entries, zero sizes, overflow and junk are
//! refused with the entry's position and the text refused
//! ([`Error::MemSpecEntry`]), never guessed at; a range that wraps past 2^64 or
//! ends above 2^56 is [`Error::MemSpecRange`], with the entry and its numbers.

use crate::phys::memory_map::{MemoryMap, ReserveKind, ReservedBy};
use crate::size::parse_size;
use crate::{Error, Quoted};

/// Parses one BASE or SIZE of entry `entry`, quoting it when it is refused.
fn number(text: &str, entry: usize) -> Result<u64, Error> {
    parse_size(text).map_err(|e| match e {
        Error::BadSize { text, reason } => Error::MemSpecEntry { entry, text, reason },
        other => other,
    })
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
        let err = |reason| Error::MemSpecEntry { entry, text: Quoted::new(item.trim()), reason };
        let mut parts = item.split(':');
        let base = parts.next().unwrap_or("");
        if base.trim().is_empty() {
            return Err(err("the entry is empty or lacks BASE (expected BASE:SIZE)"));
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
        let base = number(base, entry)?;
        let size = number(size, entry)?;
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
            if let Some(kind) = e.kind {
                let text = Quoted::new(kind.name());
                return Err(Error::MemSpecEntry { entry, text, reason: "RAM banks take no kind" });
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

    fn refused(text: &str) -> String {
        MemoryMap::from_text(text).unwrap_err().to_string()
    }

    #[test]
    fn numbers_follow_the_one_size_grammar() {
        let m = MemoryMap::from_text("0x80000000:2G,0x1_0000_0000:512MiB, 0x200000000:1T").unwrap();
        assert_eq!(m.banks().iter().map(|b| b.size()).sum::<u64>(), (2 << 30) + (512 << 20) + (1 << 40));
        // E like every other option; no unit on hex, no bare B.
        assert!(refused("0:1E").contains("56-bit"));
        assert_eq!(
            refused("0x80000000:0x10G"),
            "memory list, entry 1: '0x10G': not a hex number (a 0x number takes no K/M/G/T/P/E unit)"
        );
        assert!(refused("0x80000000:1B").starts_with("memory list, entry 1: '1B': unknown unit"));
        assert!(refused("0x80000000:1iB").starts_with("memory list, entry 1: '1iB': unknown unit"));
    }

    #[test]
    fn bad_numbers_quote_the_entry_s_text() {
        assert_eq!(
            refused("0x80000000:1G,0x1g0000:4K"),
            "memory list, entry 2: '0x1g0000': not a hex number (a 0x number takes no K/M/G/T/P/E unit)"
        );
        assert_eq!(
            MemoryMap::from_text("0x80000000:12Q"),
            Err(Error::MemSpecEntry {
                entry: 1,
                text: Quoted::new("12Q"),
                reason: "unknown unit (expected K, M, G, T, P or E, optionally followed by iB)"
            })
        );
        assert_eq!(refused("0:0x"), "memory list, entry 1: '0x': a number is missing its digits (use 0x hex, or decimal with an optional unit)");
        assert_eq!(refused("0:16384P"), "memory list, entry 1: '16384P': it does not fit in 64 bits");
        assert_eq!(refused("0:-4K"), "memory list, entry 1: '-4K': a size cannot be negative");
    }

    #[test]
    fn a_ram_list_builds_a_normalised_map() {
        let m = MemoryMap::from_text("0x100000000:1G, 0x80000000:2G").unwrap();
        assert_eq!(m.banks(), &[PhysRange::from_bounds(0x8000_0000, 0x1_4000_0000).unwrap()]);
    }

    #[test]
    fn malformed_lists_are_refused_with_the_entry() {
        let e = |entry, text, reason| Err(Error::MemSpecEntry { entry, text: Quoted::new(text), reason });
        assert_eq!(
            MemoryMap::from_text(""),
            Err(Error::BadMemSpec { entry: 1, reason: "the list is empty" })
        );
        assert_eq!(MemoryMap::from_text("0x1000"), e(1, "0x1000", "SIZE is missing (expected BASE:SIZE)"));
        assert_eq!(
            MemoryMap::from_text("0x0:4K,,0x2000:4K"),
            e(2, "", "the entry is empty or lacks BASE (expected BASE:SIZE)")
        );
        assert_eq!(
            refused("0x0:4K, :4K"),
            "memory list, entry 2: ':4K': the entry is empty or lacks BASE (expected BASE:SIZE)"
        );
        assert_eq!(MemoryMap::from_text("0x0:4K,0x2000:0"), e(2, "0x2000:0", "SIZE is 0"));
        assert_eq!(
            MemoryMap::from_text("0xffffffffffff0000:1M").unwrap_err().to_string(),
            "memory list, entry 1: range of 0x100000 bytes at 0xffffffffffff0000 refused: it wraps past 2^64"
        );
        assert_eq!(MemoryMap::from_text("0:4K:no-map"), e(1, "no-map", "RAM banks take no kind"));
        assert_eq!(
            MemoryMap::from_text("0:4K:1:2"),
            e(1, "0:4K:1:2", "unknown kind (expected no-map, reserved or reusable)")
        );
        assert_eq!(
            MemoryMap::from_text("0:4K:reserved:x"),
            e(1, "0:4K:reserved:x", "too many ':' (expected BASE:SIZE[:KIND])")
        );
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

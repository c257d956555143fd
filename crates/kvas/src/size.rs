//! The one size grammar: every size and address `kvas` takes, on the command
//! line and in memory lists (`BASE:SIZE,...`), is read by [`parse_size`].
//!
//! A size is either
//! - `0x` (or `0X`) and hex digits, with no unit: `0x80200000`; or
//! - decimal digits and an optional binary unit `K`, `M`, `G`, `T`, `P` or `E`
//!   (powers of 1024, either case), optionally followed by `iB`: `2M`, `2MiB`, `16e`.
//!
//! `_` may separate digits (`0xffff_ffff_8000_0000`); spaces around are ignored.
//! Everything else is refused, the text quoted: a sign (`-1`), a hex number with
//! a unit (`0x10G`: `0x1E` is hex 0x1e), a bare `B` or `iB` (`1B`), a decimal
//! unit (`2MB`), junk, and values past 2^64 - 1.

use crate::error::Quoted;
use crate::Error;

/// Parses a size or address in the grammar above; refuses with
/// [`Error::BadSize`], which quotes `text` and says what is wrong.
pub fn parse_size(text: &str) -> Result<u64, Error> {
    let err = |reason| Error::BadSize { text: Quoted::new(text), reason };
    let s = text.trim();
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    if let Some(rest) = s.strip_prefix('-') {
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(err("a size cannot be negative"));
        }
        // `--ram --kernel-size 2M`: size options take a leading '-' as their value.
        return Err(err("it starts with '-' (an option where a value was expected?)"));
    }
    let (body, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    let digits_end = body.find(|c: char| !(c.is_digit(radix) || c == '_')).unwrap_or(body.len());
    let (digits, unit) = body.split_at(digits_end);
    if !digits.chars().any(|c| c != '_') {
        return Err(err("a number is missing its digits (use 0x hex, or decimal with an optional unit)"));
    }
    let shift = if radix == 16 {
        if !unit.is_empty() {
            return Err(err("not a hex number (a 0x number takes no K/M/G/T/P/E unit)"));
        }
        0
    } else {
        let letter = unit.chars().next().map(|c| c.to_ascii_uppercase());
        let rest = unit.get(1..).unwrap_or("");
        let shift = match letter {
            None => 0,
            Some('K') => 10,
            Some('M') => 20,
            Some('G') => 30,
            Some('T') => 40,
            Some('P') => 50,
            Some('E') => 60,
            Some(_) => {
                return Err(err("unknown unit (expected K, M, G, T, P or E, optionally followed by iB)"))
            }
        };
        if !(rest.is_empty() || rest.eq_ignore_ascii_case("ib")) {
            return Err(err("unknown unit (expected K, M, G, T, P or E, optionally followed by iB)"));
        }
        shift
    };
    let mut value: u64 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = u64::from(c.to_digit(radix).unwrap_or(0));
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(d))
            .ok_or(err("it does not fit in 64 bits"))?;
    }
    if shift > 0 && value.leading_zeros() < shift {
        return Err(err("it does not fit in 64 bits"));
    }
    Ok(value << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        parse_size(text).unwrap_err().to_string()
    }

    #[test]
    fn every_notation() {
        assert_eq!(parse_size("0x80000000"), Ok(0x8000_0000));
        assert_eq!(parse_size("0X1f"), Ok(0x1f));
        assert_eq!(parse_size("0x1E"), Ok(0x1e));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size(" 4K "), Ok(4096));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("2P"), Ok(2 << 50));
        assert_eq!(parse_size("15E"), Ok(15 << 60));
        assert_eq!(parse_size("0xffff_ffff_8000_0000"), Ok(0xffff_ffff_8000_0000));
        assert_eq!(parse_size("1_024"), Ok(1024));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn refusals_quote_the_text_and_say_why() {
        assert_eq!(
            refused("1B"),
            "'1B' is not a size: unknown unit (expected K, M, G, T, P or E, optionally followed by iB)"
        );
        assert!(refused("1iB").starts_with("'1iB' is not a size: unknown unit"));
        assert!(refused("2MB").starts_with("'2MB' is not a size: unknown unit"));
        assert!(refused("12Q").starts_with("'12Q' is not a size: unknown unit"));
        assert_eq!(refused("-1"), "'-1' is not a size: a size cannot be negative");
        assert_eq!(
            refused("--kernel-size"),
            "'--kernel-size' is not a size: it starts with '-' (an option where a value was expected?)"
        );
        assert_eq!(
            refused("0x10G"),
            "'0x10G' is not a size: not a hex number (a 0x number takes no K/M/G/T/P/E unit)"
        );
        assert!(refused("0x").contains("missing its digits"));
        assert!(refused("0x_").contains("missing its digits"));
        assert!(refused("G").contains("missing its digits"));
        assert_eq!(refused(""), "'' is not a size: it is empty");
        assert_eq!(refused("16E"), "'16E' is not a size: it does not fit in 64 bits");
        assert_eq!(refused("16384P"), "'16384P' is not a size: it does not fit in 64 bits");
        assert_eq!(parse_size("16383P"), Ok(16383 << 50));
        assert!(refused("0x10000000000000000").ends_with("it does not fit in 64 bits"));
        assert!(refused("18446744073709551616").ends_with("it does not fit in 64 bits"));
        assert!(refused("+1").contains("missing its digits"));
    }

    #[test]
    fn long_text_is_quoted_cut_and_marked() {
        let long = "9".repeat(100) + "x";
        let msg = refused(&long);
        assert!(
            msg.starts_with(&format!("'{}...' is not a size", "9".repeat(crate::error::QUOTED_MAX))),
            "{msg}"
        );
    }
}

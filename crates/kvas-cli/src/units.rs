//! Human-readable sizes and offsets for the table, svg and diff output.

const UNITS: [(&str, u32); 7] =
    [("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10), ("B", 0)];

/// `size` in the largest binary unit that shows it exactly with at most four
/// digits before the point and two after ("2 GiB", "16.5 TiB", "1920 MiB"), else
/// approximately in the largest unit ("~16 EiB").
pub fn human(size: u64) -> String {
    if size == 0 {
        return "0 B".into();
    }
    let fits: Vec<(&str, u32)> = UNITS.iter().copied().filter(|&(_, s)| size >> s != 0).collect();
    for &(name, shift) in &fits {
        let unit = 1u128 << shift;
        let (whole, rest) = (size as u128 / unit, size as u128 % unit);
        if whole >= 10_000 {
            break;
        }
        if rest == 0 {
            return format!("{whole} {name}");
        }
        if (rest * 100) % unit == 0 {
            let frac = format!("{:02}", rest * 100 / unit);
            return format!("{whole}.{} {name}", frac.trim_end_matches('0'));
        }
    }
    let (name, shift) = fits.first().copied().unwrap_or(("B", 0));
    let value = size as f64 / (1u128 << shift) as f64;
    if value >= 10.0 || value.fract() < 0.05 || value.fract() > 0.95 {
        format!("~{value:.0} {name}")
    } else {
        format!("~{value:.1} {name}")
    }
}

/// An address as an offset from 0 (`+256 GiB`) or from the top of the space (`-2 GiB`).
pub fn offset(addr: u64, is_64bit: bool) -> String {
    let top: u128 = if is_64bit { 1 << 64 } else { 1 << 32 };
    if addr == 0 {
        "0".into()
    } else if (addr as u128) < top / 2 || addr as u128 >= top {
        // (An address past a 32-bit space has no offset from its top: count from 0.)
        signed('+', human(addr))
    } else {
        signed('-', human((top - addr as u128) as u64))
    }
}

fn signed(sign: char, h: String) -> String {
    match h.strip_prefix('~') {
        Some(rest) => format!("~{sign}{rest}"),
        None => format!("{sign}{h}"),
    }
}

/// An address in the width of its space.
pub fn addr(a: u64, is_64bit: bool) -> String {
    if is_64bit {
        format!("{a:016x}")
    } else {
        format!("{a:08x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_the_docs() {
        assert_eq!(human(6 << 20), "6 MiB");
        assert_eq!(human(16 << 20), "16 MiB");
        assert_eq!(human(33 << 39), "16.5 TiB");
        assert_eq!(human(u64::MAX - (1 << 39) + 1 - (1 << 38)), "~16 EiB");
        assert_eq!(human(4096), "4 KiB");
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1920 << 20), "1920 MiB");
        assert_eq!(human((2 << 30) - (20 << 20) - (128 << 20)), "1900 MiB");
        assert_eq!(offset(0xffff_ffc4_fea0_0000, true), "~-236 GiB");
        assert_eq!(offset(0xffff_ffff_8000_0000, true), "-2 GiB");
        assert_eq!(offset(0x40_0000_0000, true), "+256 GiB");
        assert_eq!(offset(0xc000_0000, false), "-1 GiB");
        // Past the top of a 32-bit space: from 0, not a subtraction that overflows.
        assert_eq!(offset(0x1_4000_0000, false), "+5 GiB");
        assert_eq!(offset(u64::MAX, false), "~+16 EiB");
    }
}

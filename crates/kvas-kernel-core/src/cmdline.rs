//! The kernel command line (`/chosen/bootargs`): the words kvas honours.

use kvas::layout::Vmsplit;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cmdline {
    /// `no5lvl`: at most Sv48.
    pub no5lvl: bool,
    /// `no4lvl`: Sv39 only.
    pub no4lvl: bool,
    /// `hold`: print `kvas: holding` and idle instead of powering off.
    pub hold: bool,
    /// `nokaslr`: no randomized kernel placement: the image runs at its link address.
    pub nokaslr: bool,
    /// `kvas.dtb=ADDR` (hex with `0x`, or decimal): read the device tree at physical `ADDR`
    /// instead of the firmware's. For the boot test that feeds the kernel a blob that does
    /// not parse (QEMU's `-device loader` puts it there): QEMU refuses a broken `-dtb` and
    /// OpenSBI parses the real one first. A value that is not a number is ignored.
    pub dtb_at: Option<u64>,
    /// `kvas.fail=STAGE`: fail on purpose at `STAGE`, for the boot tests of the fatal paths.
    pub fail: Option<FailAt>,
    /// `kvas.asidbits=N`: use at most `N` ASID bits (0: none, every switch flushes), to force
    /// ASID rollovers in tests.
    pub asid_bits: Option<u32>,
    /// `vmsplit=3g|2g|1g|4g4g`: the riscv32 kernel's split of the 32-bit address space
    /// (`None`: not given, the default 3g). A value that names no split is kept as
    /// [`VmsplitArg::Bad`], never replaced by the default: the kernel refuses it with a
    /// fatal line.
    pub vmsplit: Option<VmsplitArg>,
}

/// The value of `vmsplit=`: a split, or the word that names none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmsplitArg {
    /// A split `kvas::layout::Vmsplit` knows.
    Split(Vmsplit),
    /// Anything else (its first [`BadWord::CAPACITY`] bytes, for the message).
    Bad(BadWord),
}

/// A command-line value kept for an error message: up to [`BadWord::CAPACITY`] bytes of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BadWord {
    bytes: [u8; BadWord::CAPACITY],
    len: u8,
    truncated: bool,
}

impl BadWord {
    /// How many bytes of the value are kept.
    pub const CAPACITY: usize = 24;

    fn new(word: &str) -> Self {
        let mut bytes = [0; Self::CAPACITY];
        // Cut on a character boundary, so the kept part is valid UTF-8.
        let mut len = word.len().min(Self::CAPACITY);
        while !word.is_char_boundary(len) {
            len -= 1;
        }
        bytes[..len].copy_from_slice(&word.as_bytes()[..len]);
        BadWord { bytes, len: len as u8, truncated: len < word.len() }
    }

    /// The kept text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl core::fmt::Debug for BadWord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl core::fmt::Display for BadWord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl Cmdline {
    /// The split the command line asks for: `vmsplit=`'s, 3g when it is absent, or an
    /// error naming the bad value (`vmsplit=VALUE`: expected 3g, 2g, 1g or 4g4g).
    pub fn split(&self) -> Result<Vmsplit, VmsplitError> {
        match self.vmsplit {
            None => Ok(Vmsplit::G3),
            Some(VmsplitArg::Split(s)) => Ok(s),
            Some(VmsplitArg::Bad(word)) => Err(VmsplitError(word)),
        }
    }
}

/// A `vmsplit=` value that names no split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmsplitError(pub BadWord);

impl core::fmt::Display for VmsplitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "vmsplit={}: not a split (expected 3g, 2g, 1g or 4g4g)", self.0)
    }
}

/// Where `kvas.fail=` makes the kernel fail, to test each fatal path (each must print one
/// `kvas: fatal:` line and power off with a failing status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailAt {
    /// `boot`: a fatal error with the MMU off.
    Boot,
    /// `kmain`: a fatal error right after paging is on, on the early tables.
    Kmain,
    /// `trap`: an unexpected page fault after the switch to the final tables.
    Trap,
    /// `nested`: a fatal error whose message traps while it is printed.
    Nested,
    /// `hart-mode`: the other harts are handed the kernel's root in a mode one level deeper
    /// than the probe chose; on harts capped at the probed mode (`-cpu`) they refuse it,
    /// which must stop the boot.
    HartMode,
}

impl FailAt {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "boot" => Some(FailAt::Boot),
            "kmain" => Some(FailAt::Kmain),
            "trap" => Some(FailAt::Trap),
            "nested" => Some(FailAt::Nested),
            "hart-mode" => Some(FailAt::HartMode),
            _ => None,
        }
    }
}

impl Cmdline {
    /// Parses whitespace-separated words; unknown words are ignored, as Linux does.
    pub fn parse(line: &str) -> Self {
        let mut c = Cmdline::default();
        for word in line.split_ascii_whitespace() {
            match word {
                "no5lvl" => c.no5lvl = true,
                "no4lvl" => c.no4lvl = true,
                "hold" => c.hold = true,
                "nokaslr" => c.nokaslr = true,
                w if w.starts_with("kvas.dtb=") => c.dtb_at = number(&w["kvas.dtb=".len()..]),
                w if w.starts_with("kvas.fail=") => c.fail = FailAt::parse(&w["kvas.fail=".len()..]),
                w if w.starts_with("kvas.asidbits=") => {
                    c.asid_bits = number(&w["kvas.asidbits=".len()..]).map(|n| n.min(16) as u32)
                }
                w if w.starts_with("vmsplit=") => {
                    let value = &w["vmsplit=".len()..];
                    c.vmsplit = Some(match Vmsplit::from_name(value) {
                        Some(split) => VmsplitArg::Split(split),
                        None => VmsplitArg::Bad(BadWord::new(value)),
                    })
                }
                _ => {}
            }
        }
        c
    }
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmsplit_names_every_split_and_defaults_to_3g() {
        assert_eq!(Cmdline::parse("hold").split(), Ok(Vmsplit::G3));
        for (word, split) in
            [("3g", Vmsplit::G3), ("2g", Vmsplit::G2), ("1g", Vmsplit::G1), ("4g4g", Vmsplit::G4G4)]
        {
            let c = Cmdline::parse(&format!("nokaslr vmsplit={word} hold"));
            assert_eq!(c.split(), Ok(split), "{word}");
            assert!(c.hold && c.nokaslr);
        }
        // The last one wins, as with any repeated word.
        assert_eq!(Cmdline::parse("vmsplit=1g vmsplit=2g").split(), Ok(Vmsplit::G2));
    }

    #[test]
    fn a_bad_vmsplit_is_an_error_naming_it_never_the_default() {
        for bad in ["3G", "", "4g", "0x3g", "3g4g"] {
            let e = Cmdline::parse(&format!("vmsplit={bad}")).split().unwrap_err();
            assert_eq!(e.to_string(), format!("vmsplit={bad}: not a split (expected 3g, 2g, 1g or 4g4g)"));
        }
        let long = "x".repeat(40);
        let e = Cmdline::parse(&format!("vmsplit={long}")).split().unwrap_err();
        assert_eq!(e.0.as_str().len(), BadWord::CAPACITY);
        assert!(e.to_string().starts_with(&format!("vmsplit={}...:", "x".repeat(24))));
        // A multi-byte character is never cut in half.
        let e = Cmdline::parse(&format!("vmsplit={}é", "y".repeat(23))).split().unwrap_err();
        assert_eq!(e.0.as_str(), "y".repeat(23));
    }
}

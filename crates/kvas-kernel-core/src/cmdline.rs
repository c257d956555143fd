//! The kernel command line (`/chosen/bootargs`): the words kvas honours.

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
    /// `kvas.separate`: user space in separate address spaces, as under 4G/4G — the kernel
    /// runs on its own root (no user half) with ASID 0, the trap entry and exit switch
    /// `satp`, and uaccess pins user pages through the engine instead of using SUM.
    pub separate: bool,
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
                "kvas.separate" => c.separate = true,
                w if w.starts_with("kvas.dtb=") => c.dtb_at = number(&w["kvas.dtb=".len()..]),
                w if w.starts_with("kvas.fail=") => c.fail = FailAt::parse(&w["kvas.fail=".len()..]),
                w if w.starts_with("kvas.asidbits=") => {
                    c.asid_bits = number(&w["kvas.asidbits=".len()..]).map(|n| n.min(16) as u32)
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

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
    /// `nokaslr`: no randomized kernel placement (kvas does not randomize yet).
    pub nokaslr: bool,
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
                _ => {}
            }
        }
        c
    }
}

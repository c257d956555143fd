//! Arguments shared by the subcommands: the target, the planner options, sizes.

use std::fmt::Display;
use std::process::ExitCode;

use clap::ValueEnum;
use kvas::layout::{plan, Kasan, Layout, Options, Profile, Target, Vmsplit};
use kvas::Error;

/// An architecture name on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// RISC-V 64: sv39, sv48, sv57.
    Riscv64,
    /// RISC-V 32: sv32.
    Riscv32,
    /// x86-64: 4level, 5level.
    #[value(name = "x86_64")]
    X86_64,
    /// arm64: 4k-39, 4k-48, 4k-52, 16k-36, 16k-47, 16k-48, 16k-52, 64k-42, 64k-48, 64k-52.
    Arm64,
    /// arm32: 3g, 3g-opt, 2g, 1g, 4g4g.
    Arm32,
}

impl Arch {
    /// The name kvas::layout uses.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Riscv64 => "riscv64",
            Arch::Riscv32 => "riscv32",
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
            Arch::Arm32 => "arm32",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KasanArg {
    None,
    Generic,
    SwTags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Linux 6.17's code.
    Linux,
    /// Linux's Documentation tables (differs on arm64).
    LinuxDoc,
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// The planner's options.
#[derive(clap::Args, Clone, Debug)]
pub struct OptionArgs {
    /// KASAN shadow to reserve.
    #[arg(long, value_enum, default_value = "none")]
    pub kasan: KasanArg,
    /// Kernel image size (_end - _start); 0 gives the documented nominal windows.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "0", allow_hyphen_values = true)]
    pub kernel_size: u64,
    /// KASLR virtual offset of the kernel image (a multiple of 2 MiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "0", allow_hyphen_values = true)]
    pub kaslr_offset: u64,
    /// RAM to map (sizes lowmem; highmem on 32-bit).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    pub ram: Option<u64>,
    /// arm32 only: the vmalloc reserve (Linux's vmalloc=, default 240M) that sets the lowmem ceiling.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, allow_hyphen_values = true)]
    pub vmalloc: Option<u64>,
    /// Source of truth: Linux 6.17's code or its documentation tables.
    #[arg(long, value_enum, default_value = "linux")]
    pub profile: ProfileArg,
    /// CONFIG_RANDOMIZE_BASE (default: what distribution kernels build: on for
    /// x86_64, arm64 and riscv64, off on 32-bit; off on x86_64 with --profile
    /// linux-doc, as mm.rst). On x86_64 it sets KERNEL_IMAGE_SIZE (1 GiB on,
    /// 512 MiB off) and so where modules start.
    #[arg(long, value_enum)]
    pub kaslr: Option<OnOff>,
    /// riscv32 only: plan the kvas riscv32 kernel booted with vmsplit=3g|2g|1g|4g4g
    /// (image outside the linear map, in the shared top 256 MiB); without it,
    /// Linux's riscv32. arm32 names its split in --mode.
    #[arg(long, value_name = "SPLIT", value_parser = parse_split)]
    pub split: Option<Vmsplit>,
}

/// Parses `3g`, `2g`, `1g` or `4g4g`.
pub fn parse_split(text: &str) -> Result<Vmsplit, String> {
    Vmsplit::from_name(text).ok_or_else(|| format!("unknown split '{text}' (expected 3g, 2g, 1g, 4g4g)"))
}

impl OptionArgs {
    /// The library's options.
    pub fn options(&self) -> Options {
        Options {
            kasan: match self.kasan {
                KasanArg::None => Kasan::None,
                KasanArg::Generic => Kasan::Generic,
                KasanArg::SwTags => Kasan::SwTags,
            },
            kernel_size: self.kernel_size,
            kaslr_offset: self.kaslr_offset,
            ram: self.ram,
            vmalloc: self.vmalloc,
            profile: match self.profile {
                ProfileArg::Linux => Profile::Linux,
                ProfileArg::LinuxDoc => Profile::LinuxDoc,
            },
            kaslr: self.kaslr.map(|k| k == OnOff::On),
            split: self.split,
        }
    }
}

/// `--arch` and `--mode` plus the options.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetArgs {
    /// Architecture.
    #[arg(long, value_enum)]
    pub arch: Arch,
    /// Paging mode or split (riscv64: sv39|sv48|sv57; x86_64: 4level|5level;
    /// arm64: 4k-39|4k-48|4k-52|16k-36|16k-47|16k-48|16k-52|64k-42|64k-48|64k-52;
    /// riscv32: sv32; arm32: 3g|3g-opt|2g|1g|4g4g);
    /// `kvas layout` also takes `all`: every mode of the architecture.
    #[arg(long)]
    pub mode: String,
    #[command(flatten)]
    pub opts: OptionArgs,
}

impl TargetArgs {
    /// The target named by `--arch` and `--mode`.
    pub fn target(&self) -> Result<Target, String> {
        target(self.arch.name(), &self.mode)
    }

    /// Plans the layout.
    pub fn plan(&self) -> Result<Layout, String> {
        let target = self.target()?;
        plan(target, &self.opts.options()).map_err(|e| plan_error(target, &e))
    }
}

/// A planner's refusal as `kvas` prints it: the target, then the option the
/// error is about with its value (`--kernel-size 0x...`, `--kaslr-offset`,
/// `--ram`) where the library's words name only the quantity, then the error.
pub fn plan_error(target: Target, e: &Error) -> String {
    let option = match *e {
        Error::KernelTooLarge { size, .. } => Some(("--kernel-size", size)),
        Error::KaslrOutOfRange { offset, .. } => Some(("--kaslr-offset", offset)),
        Error::Misaligned { what: "KASLR offset", value, .. } => Some(("--kaslr-offset", value)),
        Error::RamTooLarge { ram, .. } | Error::RamTooSmall { ram, .. } => Some(("--ram", ram)),
        Error::Misaligned { what: "RAM size", value, .. } => Some(("--ram", value)),
        Error::InvalidOption { option: "RAM size", value, .. } => Some(("--ram", value)),
        _ => None,
    };
    match option {
        Some((name, value)) => format!("{target}: {name} {value:#x}: {e}"),
        None => format!("{target}: {e}"),
    }
}

/// The target for `arch` and `mode`, or a message listing the valid modes.
pub fn target(arch: &str, mode: &str) -> Result<Target, String> {
    let Some(modes) = Target::modes_of(arch) else {
        return Err(format!(
            "unknown architecture '{arch}' (expected riscv64, riscv32, x86_64, arm64, arm32)"
        ));
    };
    let modes: Vec<_> = modes.collect();
    Target::parse(arch, mode)
        .ok_or_else(|| format!("unknown mode '{mode}' for {arch} (expected {})", modes.join(", ")))
}

/// Prints `kvas: error: MSG` on stderr; exit status 2.
pub fn fail(msg: impl Display) -> ExitCode {
    eprintln!("kvas: error: {msg}");
    ExitCode::from(2)
}

/// Parses a size or address in kvas's one size grammar ([`kvas::size`]): `0x`
/// hex, or decimal with an optional binary unit `K/M/G/T/P/E` (`iB` may follow);
/// `_` separators are allowed. The error quotes the text and says what is wrong.
pub fn parse_size(text: &str) -> Result<u64, String> {
    kvas::size::parse_size(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0x1000"), Ok(0x1000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("16E"), Err("'16E' is not a size: it does not fit in 64 bits".into()));
        assert_eq!(parse_size("15E"), Ok(15 << 60));
        assert_eq!(parse_size("0xffff_ffff_8000_0000"), Ok(0xffff_ffff_8000_0000));
        assert!(parse_size("12Q").unwrap_err().contains("unknown unit"));
        assert!(parse_size("1B").unwrap_err().contains("unknown unit"));
        assert!(parse_size("1iB").unwrap_err().contains("unknown unit"));
        assert_eq!(parse_size("-1"), Err("'-1' is not a size: a size cannot be negative".into()));
        assert!(parse_size("0x1g").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }

    #[test]
    fn targets() {
        assert!(target("riscv64", "sv48").is_ok());
        assert_eq!(
            target("riscv64", "sv40").unwrap_err(),
            "unknown mode 'sv40' for riscv64 (expected sv39, sv48, sv57)"
        );
        assert!(target("mips", "x").unwrap_err().starts_with("unknown architecture 'mips'"));
    }
}

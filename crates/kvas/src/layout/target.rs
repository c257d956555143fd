//! What a layout is planned for: the architecture and mode, and the options.

use core::fmt;

use crate::arch::riscv::Mode;

/// An x86-64 paging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum X86Mode {
    /// Four levels, 48-bit virtual addresses.
    Level4,
    /// Five levels (LA57), 57-bit virtual addresses.
    Level5,
}

/// An arm64 configuration: translation granule and virtual-address width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arm64Mode {
    /// 4 KiB pages, 4 levels, 48-bit VA.
    K4Va48,
    /// 64 KiB pages, 3 levels, 52-bit VA (ARMv8.2-LVA).
    K64Va52,
    /// 4 KiB pages, 5 levels, 52-bit VA (LPA2).
    K4Va52,
}

/// An arm32 user/kernel split (`CONFIG_VMSPLIT_*`), or the 4G/4G model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arm32Split {
    /// 3G/1G, `PAGE_OFFSET = 0xc0000000` (the default).
    G3,
    /// 3G/1G "for full 1G low memory", `PAGE_OFFSET = 0xb0000000`.
    G3Opt,
    /// 2G/2G, `PAGE_OFFSET = 0x80000000`.
    G2,
    /// 1G/3G, `PAGE_OFFSET = 0x40000000`.
    G1,
    /// 4G/4G: user space has all 4 GiB; the kernel runs in its own address space.
    G4G4,
}

/// An architecture and paging mode: what a layout is planned for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// RISC-V 64 in Sv39, Sv48 or Sv57.
    Riscv64(Mode),
    /// RISC-V 32 in Sv32.
    Riscv32,
    /// x86-64.
    X86_64(X86Mode),
    /// arm64 (AArch64).
    Arm64(Arm64Mode),
    /// arm32 (ARMv7 short descriptors).
    Arm32(Arm32Split),
}

impl Target {
    /// Every target kvas plans, in the order `kvas` lists them.
    pub const ALL: [Target; 14] = [
        Target::Riscv64(Mode::Sv39),
        Target::Riscv64(Mode::Sv48),
        Target::Riscv64(Mode::Sv57),
        Target::Riscv32,
        Target::X86_64(X86Mode::Level4),
        Target::X86_64(X86Mode::Level5),
        Target::Arm64(Arm64Mode::K4Va48),
        Target::Arm64(Arm64Mode::K64Va52),
        Target::Arm64(Arm64Mode::K4Va52),
        Target::Arm32(Arm32Split::G3),
        Target::Arm32(Arm32Split::G3Opt),
        Target::Arm32(Arm32Split::G2),
        Target::Arm32(Arm32Split::G1),
        Target::Arm32(Arm32Split::G4G4),
    ];

    /// The architecture's lowercase name (`riscv64`, `x86_64`, ...).
    pub const fn arch_name(self) -> &'static str {
        match self {
            Target::Riscv64(_) => "riscv64",
            Target::Riscv32 => "riscv32",
            Target::X86_64(_) => "x86_64",
            Target::Arm64(_) => "arm64",
            Target::Arm32(_) => "arm32",
        }
    }

    /// The mode's lowercase name (`sv39`, `4level`, `4k-48`, `3g-opt`, ...).
    pub const fn mode_name(self) -> &'static str {
        match self {
            Target::Riscv64(m) => m.name(),
            Target::Riscv32 => "sv32",
            Target::X86_64(X86Mode::Level4) => "4level",
            Target::X86_64(X86Mode::Level5) => "5level",
            Target::Arm64(Arm64Mode::K4Va48) => "4k-48",
            Target::Arm64(Arm64Mode::K64Va52) => "64k-52",
            Target::Arm64(Arm64Mode::K4Va52) => "4k-52",
            Target::Arm32(Arm32Split::G3) => "3g",
            Target::Arm32(Arm32Split::G3Opt) => "3g-opt",
            Target::Arm32(Arm32Split::G2) => "2g",
            Target::Arm32(Arm32Split::G1) => "1g",
            Target::Arm32(Arm32Split::G4G4) => "4g4g",
        }
    }

    /// The target named by `arch` and `mode` (the names above), if kvas plans it.
    pub fn parse(arch: &str, mode: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.arch_name() == arch && t.mode_name() == mode)
    }

    /// The mode names an architecture accepts, or `None` for an unknown architecture.
    pub fn modes_of(arch: &str) -> Option<impl Iterator<Item = &'static str>> {
        let arch = Target::ALL.iter().find(|t| t.arch_name() == arch)?.arch_name();
        Some(Target::ALL.into_iter().filter(move |t| t.arch_name() == arch).map(Target::mode_name))
    }

    /// Whether addresses are 64 bits wide.
    pub const fn is_64bit(self) -> bool {
        !matches!(self, Target::Riscv32 | Target::Arm32(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.arch_name(), self.mode_name())
    }
}

/// Which kind of KASAN shadow the layout reserves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kasan {
    /// No KASAN: no shadow region.
    #[default]
    None,
    /// Generic KASAN: one shadow byte per 8 bytes (`KASAN_SHADOW_SCALE_SHIFT = 3`).
    Generic,
    /// Software tag-based KASAN: one shadow byte per 16 bytes (scale shift 4).
    SwTags,
}

impl Kasan {
    /// The lowercase name: `none`, `generic`, `sw-tags`.
    pub const fn name(self) -> &'static str {
        match self {
            Kasan::None => "none",
            Kasan::Generic => "generic",
            Kasan::SwTags => "sw-tags",
        }
    }

    /// Parses a name printed by [`Kasan::name`].
    pub fn from_name(name: &str) -> Option<Kasan> {
        [Kasan::None, Kasan::Generic, Kasan::SwTags].into_iter().find(|k| k.name() == name)
    }

    /// `KASAN_SHADOW_SCALE_SHIFT`, or `None` without KASAN.
    pub const fn scale_shift(self) -> Option<u32> {
        match self {
            Kasan::None => None,
            Kasan::Generic => Some(3),
            Kasan::SwTags => Some(4),
        }
    }
}

/// Which source of truth the planner follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Linux 6.17's code (the headers' formulas). The default.
    #[default]
    Linux,
    /// The layouts Linux's Documentation tables print. Identical to [`Profile::Linux`]
    /// except on arm64, whose `memory.rst` predates the 6.9 move of vmemmap, PCI I/O
    /// and the fixmap to the top of the address space.
    LinuxDoc,
}

impl Profile {
    /// The lowercase name: `linux`, `linux-doc`.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Linux => "linux",
            Profile::LinuxDoc => "linux-doc",
        }
    }

    /// Parses a name printed by [`Profile::name`].
    pub fn from_name(name: &str) -> Option<Profile> {
        [Profile::Linux, Profile::LinuxDoc].into_iter().find(|p| p.name() == name)
    }
}

/// The knobs of a layout. The defaults give the documented tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// The KASAN shadow to reserve.
    pub kasan: Kasan,
    /// The kernel image size (`_end - _start`) in bytes; 0 for "unknown", which
    /// gives the nominal windows Linux documents.
    pub kernel_size: u64,
    /// The KASLR virtual offset of the kernel image (a multiple of 2 MiB).
    pub kaslr_offset: u64,
    /// The RAM to map, in bytes; `None` for "as much as the layout allows".
    pub ram: Option<u64>,
    /// arm32's `vmalloc=`: the vmalloc reserve that sets the lowmem ceiling
    /// (`None`: Linux's default 240 MiB). Other architectures fix vmalloc by mode.
    pub vmalloc: Option<u64>,
    /// The source of truth.
    pub profile: Profile,
}

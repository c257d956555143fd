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

/// An arm64 configuration: translation granule and virtual-address width, every
/// `CONFIG_ARM64_VA_BITS_*` choice `arch/arm64/Kconfig` offers for each granule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arm64Mode {
    /// 4 KiB pages, 3 levels, 39-bit VA.
    K4Va39,
    /// 4 KiB pages, 4 levels, 48-bit VA.
    K4Va48,
    /// 4 KiB pages, 5 levels, 52-bit VA (LPA2).
    K4Va52,
    /// 16 KiB pages, 2 levels, 36-bit VA.
    K16Va36,
    /// 16 KiB pages, 3 levels, 47-bit VA.
    K16Va47,
    /// 16 KiB pages, 4 levels, 48-bit VA.
    K16Va48,
    /// 16 KiB pages, 4 levels, 52-bit VA (LPA2).
    K16Va52,
    /// 64 KiB pages, 2 levels, 42-bit VA.
    K64Va42,
    /// 64 KiB pages, 3 levels, 48-bit VA.
    K64Va48,
    /// 64 KiB pages, 3 levels, 52-bit VA (ARMv8.2-LVA).
    K64Va52,
}

impl Arm64Mode {
    /// Every mode, in the order `kvas` lists them.
    pub const ALL: [Arm64Mode; 10] = [
        Arm64Mode::K4Va39,
        Arm64Mode::K4Va48,
        Arm64Mode::K4Va52,
        Arm64Mode::K16Va36,
        Arm64Mode::K16Va47,
        Arm64Mode::K16Va48,
        Arm64Mode::K16Va52,
        Arm64Mode::K64Va42,
        Arm64Mode::K64Va48,
        Arm64Mode::K64Va52,
    ];

    /// `(PAGE_SHIFT, VA_BITS)`.
    pub const fn geometry(self) -> (u32, u32) {
        match self {
            Arm64Mode::K4Va39 => (12, 39),
            Arm64Mode::K4Va48 => (12, 48),
            Arm64Mode::K4Va52 => (12, 52),
            Arm64Mode::K16Va36 => (14, 36),
            Arm64Mode::K16Va47 => (14, 47),
            Arm64Mode::K16Va48 => (14, 48),
            Arm64Mode::K16Va52 => (14, 52),
            Arm64Mode::K64Va42 => (16, 42),
            Arm64Mode::K64Va48 => (16, 48),
            Arm64Mode::K64Va52 => (16, 52),
        }
    }

    /// The name `kvas` uses: `4k-48`, `16k-36`, `64k-52`, ...
    pub const fn name(self) -> &'static str {
        match self {
            Arm64Mode::K4Va39 => "4k-39",
            Arm64Mode::K4Va48 => "4k-48",
            Arm64Mode::K4Va52 => "4k-52",
            Arm64Mode::K16Va36 => "16k-36",
            Arm64Mode::K16Va47 => "16k-47",
            Arm64Mode::K16Va48 => "16k-48",
            Arm64Mode::K16Va52 => "16k-52",
            Arm64Mode::K64Va42 => "64k-42",
            Arm64Mode::K64Va48 => "64k-48",
            Arm64Mode::K64Va52 => "64k-52",
        }
    }
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

/// A user/kernel split of the kvas riscv32 kernel (its `vmsplit=` command-line word).
///
/// The top 256 MiB (`0xf0000000` up) is the same in every split: the kernel image,
/// vmalloc, the pkmap and the fixmap, mapped alike in every address space, so one
/// image serves all four. Below it, user space ends and the linear map (lowmem)
/// begins at [`Vmsplit::page_offset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vmsplit {
    /// 3G/1G: `PAGE_OFFSET = 0xc0000000`, 768 MiB of lowmem (the default).
    G3,
    /// 2G/2G: `PAGE_OFFSET = 0x80000000`, 1792 MiB of lowmem.
    G2,
    /// 1G/3G: `PAGE_OFFSET = 0x40000000`, 2816 MiB of lowmem.
    G1,
    /// 4G/4G: user space has everything below the shared top 256 MiB (3840 MiB) in
    /// an address space of its own; the kernel's own address space maps lowmem from
    /// `0x00400000` (the first 4 MiB stay unmapped: a NULL trap) to `0xf0000000`.
    G4G4,
}

impl Vmsplit {
    /// Every split, in the order `kvas` lists them.
    pub const ALL: [Vmsplit; 4] = [Vmsplit::G3, Vmsplit::G2, Vmsplit::G1, Vmsplit::G4G4];

    /// The name on kvas's and the kernel's command line: `3g`, `2g`, `1g`, `4g4g`.
    pub const fn name(self) -> &'static str {
        match self {
            Vmsplit::G3 => "3g",
            Vmsplit::G2 => "2g",
            Vmsplit::G1 => "1g",
            Vmsplit::G4G4 => "4g4g",
        }
    }

    /// Parses a name printed by [`Vmsplit::name`].
    pub fn from_name(name: &str) -> Option<Vmsplit> {
        Vmsplit::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Where the linear map starts in the kernel's address space.
    pub const fn page_offset(self) -> u64 {
        match self {
            Vmsplit::G3 => 0xc000_0000,
            Vmsplit::G2 => 0x8000_0000,
            Vmsplit::G1 => 0x4000_0000,
            Vmsplit::G4G4 => 0x0040_0000,
        }
    }
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
    pub const ALL: [Target; 21] = [
        Target::Riscv64(Mode::Sv39),
        Target::Riscv64(Mode::Sv48),
        Target::Riscv64(Mode::Sv57),
        Target::Riscv32,
        Target::X86_64(X86Mode::Level4),
        Target::X86_64(X86Mode::Level5),
        Target::Arm64(Arm64Mode::K4Va39),
        Target::Arm64(Arm64Mode::K4Va48),
        Target::Arm64(Arm64Mode::K4Va52),
        Target::Arm64(Arm64Mode::K16Va36),
        Target::Arm64(Arm64Mode::K16Va47),
        Target::Arm64(Arm64Mode::K16Va48),
        Target::Arm64(Arm64Mode::K16Va52),
        Target::Arm64(Arm64Mode::K64Va42),
        Target::Arm64(Arm64Mode::K64Va48),
        Target::Arm64(Arm64Mode::K64Va52),
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
            Target::Arm64(m) => m.name(),
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

    /// The width of physical addresses: riscv64 56 (a 44-bit PPN), Sv32 34,
    /// x86-64 52, arm64 48 (52 in the 52-bit modes, with LPA/LPA2), arm32 32
    /// (short descriptors; LPAE is not modelled).
    pub const fn phys_bits(self) -> u32 {
        match self {
            Target::Riscv64(_) => 56,
            Target::Riscv32 => 34,
            Target::X86_64(_) => 52,
            Target::Arm64(m) => {
                if m.geometry().1 == 52 {
                    52
                } else {
                    48
                }
            }
            Target::Arm32(_) => 32,
        }
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
    /// and the fixmap to the top of the address space, and on x86-64, where KASLR
    /// defaults to off as in `mm.rst`'s table (512 MiB of kernel text mapping).
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
    /// `CONFIG_RANDOMIZE_BASE`: `None` for what distribution kernels build (on
    /// where the architecture has KASLR: x86-64, arm64, riscv64; off on 32-bit),
    /// except that [`Profile::LinuxDoc`] on x86-64 defaults to off, as mm.rst's table.
    /// On x86-64 it sets `KERNEL_IMAGE_SIZE` (1 GiB with KASLR, 512 MiB without),
    /// and so where the modules area starts; off, the KASLR offset must be 0.
    pub kaslr: Option<bool>,
    /// riscv32 only: `None` plans Linux's riscv32 (the image inside the linear map,
    /// 1 GiB of RAM at most); a [`Vmsplit`] plans the kvas riscv32 kernel booted with
    /// that `vmsplit=`, whose image lies outside the linear map in the shared top
    /// 256 MiB. arm32 names its split in the mode instead.
    pub split: Option<Vmsplit>,
}

impl Options {
    /// Whether KASLR is built in for `target`: [`Options::kaslr`], or the
    /// distribution default. Refuses KASLR on an architecture without it.
    pub fn kaslr_for(&self, target: Target) -> Result<bool, crate::Error> {
        let has = matches!(target, Target::Riscv64(_) | Target::X86_64(_) | Target::Arm64(_));
        // mm.rst's x86-64 table is a kernel without KASLR: the doc profile defaults to it.
        let doc_x86 = self.profile == Profile::LinuxDoc && matches!(target, Target::X86_64(_));
        let on = self.kaslr.unwrap_or(has && !doc_x86);
        if on && !has {
            return Err(crate::Error::UnsupportedOption {
                option: "--kaslr on",
                reason: "riscv32 and arm32 have no KASLR (RANDOMIZE_BASE)",
            });
        }
        if !on && self.kaslr_offset != 0 {
            return Err(crate::Error::InvalidOption {
                option: "--kaslr-offset",
                value: self.kaslr_offset,
                reason: "must be 0 without KASLR (--kaslr off)",
            });
        }
        Ok(on)
    }
}

//! [`Layout`]: one planned address space, whatever the architecture, and [`plan`].

use crate::addr::VirtAddr;
use crate::layout::region::{Region, RegionList};
use crate::layout::target::{Options, Target};
use crate::layout::{arm32, arm64, riscv32, riscv64, x86_64};
use crate::range::VirtRange;
use crate::sizes::SZ_2M;
use crate::Error;

/// How far a module's code can reach the kernel's, per architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// The direct call instruction sequence (`auipc+jalr`, `BL`, ...).
    pub direct_insn: &'static str,
    /// How far it reaches, in bytes, either way.
    pub direct: u64,
    /// The longest sequence module loaders fall back to (veneers, PLTs).
    pub far_insn: &'static str,
    /// How far that reaches, in bytes, either way.
    pub far: u64,
}

/// Everything a planner computes; [`Layout::from_parts`] checks nothing, so that
/// tools and tests can build broken layouts for the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutParts {
    /// What it was planned for.
    pub target: Target,
    /// With which options.
    pub options: Options,
    /// The virtual-address width.
    pub va_bits: u32,
    /// `PAGE_OFFSET`: the start of the linear map.
    pub page_offset: u64,
    /// Where kernel regions may lie (the canonical upper half on 64-bit).
    pub kernel_half: VirtRange,
    /// Where user space may lie (the lower half; all of TTBR0's range on arm64).
    pub user_half: VirtRange,
    /// The regions, sorted by start.
    pub regions: RegionList,
    /// Kernel text for the reachability check: the image, or its first byte.
    pub text: VirtRange,
    /// The kernel image, when its size is known.
    pub image: Option<VirtRange>,
    /// Where the image starts (`_start`), known even when its size is not.
    pub image_start: u64,
    /// The region that must hold the image.
    pub image_region: &'static str,
    /// Where the architecture lets the image lie (its KASLR window, or lowmem).
    pub image_window: VirtRange,
    /// The alignment the image's start needs.
    pub image_align: u64,
    /// Whether KASLR is built in (`CONFIG_RANDOMIZE_BASE`).
    pub kaslr: bool,
    /// The largest KASLR offset Linux draws for this image size (0 without KASLR).
    pub kaslr_max: u64,
    /// The region RAM is mapped into.
    pub linear_region: &'static str,
    /// The most RAM the layout can use (linear map, plus highmem on arm32).
    pub ram_limit: u64,
    /// Whether RAM beyond the linear map is usable as highmem.
    pub highmem_capable: bool,
    /// The mapped part of the linear map, when RAM is given (or assumed).
    pub lowmem: Option<VirtRange>,
    /// RAM left over as highmem, in bytes.
    pub highmem: u64,
    /// The bytes of virtual address space user space may use.
    pub user_bytes: u64,
    /// The regions that make up the modules window, bottom to top.
    pub modules_regions: &'static [&'static str],
    /// The reach of module code.
    pub reach: Reach,
}

/// One planned address space: regions sorted by start, and the facts around them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    parts: LayoutParts,
}

impl Layout {
    /// A layout from its parts, as given (the regions are sorted, nothing else is checked).
    pub fn from_parts(mut parts: LayoutParts) -> Self {
        parts.regions.sort();
        Layout { parts }
    }

    /// The parts, to copy and change.
    pub const fn parts(&self) -> &LayoutParts {
        &self.parts
    }

    /// The architecture and mode.
    pub const fn target(&self) -> Target {
        self.parts.target
    }

    /// The options it was planned with.
    pub const fn options(&self) -> &Options {
        &self.parts.options
    }

    /// The virtual-address width.
    pub const fn va_bits(&self) -> u32 {
        self.parts.va_bits
    }

    /// `PAGE_OFFSET`.
    pub const fn page_offset(&self) -> u64 {
        self.parts.page_offset
    }

    /// The range kernel regions must lie in.
    pub const fn kernel_half(&self) -> VirtRange {
        self.parts.kernel_half
    }

    /// The range user space must lie in.
    pub const fn user_half(&self) -> VirtRange {
        self.parts.user_half
    }

    /// The regions, sorted by start.
    pub fn regions(&self) -> &[Region] {
        self.parts.regions.as_slice()
    }

    /// The first region named `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.parts.regions.get(name)
    }

    /// The region holding `addr`.
    pub fn region_containing(&self, addr: u64) -> Option<&Region> {
        self.parts.regions.containing(addr)
    }

    /// The kernel image, when its size is known.
    pub const fn image(&self) -> Option<VirtRange> {
        self.parts.image
    }

    /// The mapped part of the linear map (`[PAGE_OFFSET, high_memory)`).
    pub const fn lowmem(&self) -> Option<VirtRange> {
        self.parts.lowmem
    }

    /// RAM beyond lowmem (32-bit highmem), in bytes.
    pub const fn highmem(&self) -> u64 {
        self.parts.highmem
    }

    /// The user address space, in bytes.
    pub const fn user_bytes(&self) -> u64 {
        self.parts.user_bytes
    }

    /// The vmalloc budget in bytes (the `vmalloc` region's size, 0 without one).
    pub fn vmalloc_bytes(&self) -> u64 {
        self.region("vmalloc").map_or(0, Region::size)
    }

    /// The modules window: the union of [`LayoutParts::modules_regions`], if they are adjacent.
    pub fn modules_window(&self) -> Option<VirtRange> {
        let names = self.parts.modules_regions;
        let first = self.region(names.first()?)?;
        let last = self.region(names.last()?)?;
        VirtRange::from_last(first.range().start(), last.range().last()).ok()
    }

    /// The module code reach.
    pub const fn reach(&self) -> Reach {
        self.parts.reach
    }
}

/// Plans the layout of `target` with `options`.
///
/// Errors name the option and the limit: a misaligned or out-of-range KASLR offset,
/// a kernel image larger than its window, RAM the layout cannot map, or an option
/// the architecture does not have (software-tag KASAN on x86-64, for example).
pub fn plan(target: Target, options: &Options) -> Result<Layout, Error> {
    build(target, options, true)
}

/// Plans like [`plan`] but leaves to [`crate::layout::check()`] what it can report
/// (a KASLR offset misaligned or out of range, an image too large for its window,
/// RAM beyond what the layout maps); refuses only options the architecture lacks
/// and values whose addresses would wrap. `kvas check` uses it.
pub fn plan_unchecked(target: Target, options: &Options) -> Result<Layout, Error> {
    build(target, options, false)
}

fn build(target: Target, options: &Options, validate: bool) -> Result<Layout, Error> {
    if options.split.is_some() && target != Target::Riscv32 {
        return Err(Error::UnsupportedOption {
            option: "--split",
            reason: "only riscv32 takes a split (arm32 names its split in --mode)",
        });
    }
    let parts = match target {
        Target::Riscv64(mode) => riscv64::parts(mode, options, validate)?,
        Target::Riscv32 => riscv32::parts(options, validate)?,
        Target::X86_64(mode) => x86_64::parts(mode, options, validate)?,
        Target::Arm64(mode) => arm64::parts(mode, options, validate)?,
        Target::Arm32(split) => arm32::parts(split, options, validate)?,
    };
    Ok(Layout::from_parts(parts))
}

/// A region from an exclusive end, for the planners.
pub(crate) fn region(
    name: &'static str,
    start: u64,
    end: u64,
    align: u64,
    description: &'static str,
) -> Result<Region, Error> {
    Ok(Region::new(name, VirtRange::from_end(VirtAddr::new(start), VirtAddr::new(end))?, align, description))
}

/// Refuses RAM that is zero or not a multiple of `page`.
/// Checks, when `validate`, a kernel image of `size` bytes against its window of
/// `window` bytes (named `what`), and a KASLR offset `off`: 2 MiB aligned and at most
/// `max_off`, which each architecture derives from its own rule.
pub(crate) fn check_image(
    validate: bool,
    size: u64,
    window: u64,
    what: &'static str,
    off: u64,
    max_off: u64,
) -> Result<(), Error> {
    if !validate {
        return Ok(());
    }
    if size > window {
        return Err(Error::KernelTooLarge { size, max: window, window: what });
    }
    if off % SZ_2M != 0 {
        return Err(Error::Misaligned { what: "KASLR offset", value: off, align: SZ_2M });
    }
    if off > max_off {
        return Err(Error::KaslrOutOfRange { offset: off, max: max_off });
    }
    Ok(())
}

/// Where an image of `size` bytes starts when placed `off` bytes above `base`
/// (named `base_name`), refusing, with both options named, an image that would
/// run past `top` (2^64, or 2^32 on 32-bit).
pub(crate) fn place_image(
    base: u64,
    base_name: &'static str,
    off: u64,
    size: u64,
    top: u128,
) -> Result<u64, Error> {
    let start = u128::from(base) + u128::from(off);
    if start >= top || start + u128::from(size) > top {
        return Err(Error::OptionsOverflow {
            base,
            base_name,
            option: "--kaslr-offset",
            value: off,
            other: "--kernel-size",
            other_value: size,
        });
    }
    Ok(base + off)
}

pub(crate) fn check_ram(ram: Option<u64>, page: u64) -> Result<(), Error> {
    match ram {
        Some(0) => Err(Error::InvalidOption { option: "RAM size", value: 0, reason: "must not be zero" }),
        Some(r) if r % page != 0 => Err(Error::Misaligned { what: "RAM size", value: r, align: page }),
        _ => Ok(()),
    }
}

//! The invariant checker: what every layout must satisfy, and what breaks it.
//!
//! [`check`] verifies that regions are disjoint and ordered, lie in the right half
//! of the address space, are aligned as their mode needs, that the linear map holds
//! the RAM, that the kernel image lies in its region and its window and that its
//! KASLR offset is one Linux draws, and that every address of the
//! modules window is within the architecture's call range of every byte of kernel
//! text. Each [`Violation`] prints one line naming the regions and the numbers.

use core::fmt;

use crate::addr::VirtAddr;
use crate::layout::plan::Layout;
use crate::layout::region::Region;
use crate::range::VirtRange;

/// One broken invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two regions share addresses.
    Overlap {
        /// The lower region.
        a: Region,
        /// The region that starts inside it.
        b: Region,
    },
    /// A kernel region outside the kernel half, or user space outside the lower half.
    OutsideHalf {
        /// The region.
        region: Region,
        /// Where it must lie.
        allowed: VirtRange,
    },
    /// A region whose start or end is not a multiple of its alignment.
    Misaligned {
        /// The region.
        region: Region,
    },
    /// More RAM than the layout can map.
    RamTooLarge {
        /// The linear-map region.
        linear: Region,
        /// The RAM, in bytes.
        ram: u64,
        /// The most the layout maps (the linear map, plus highmem on arm32).
        max: u64,
    },
    /// A region the layout needs is missing.
    Missing {
        /// The region's id.
        name: &'static str,
        /// What needs it.
        needed_for: &'static str,
    },
    /// The kernel image is not inside the region that should hold it.
    ImageOutside {
        /// The image.
        image: VirtRange,
        /// The region.
        region: Region,
    },
    /// The kernel image leaves the window the architecture keeps it in (the KASLR
    /// range, or lowmem).
    ImageOutsideWindow {
        /// The image.
        image: VirtRange,
        /// The window.
        window: VirtRange,
    },
    /// The kernel image (of unknown size) starts outside its window.
    ImageStartOutsideWindow {
        /// `_start`.
        start: u64,
        /// The window.
        window: VirtRange,
    },
    /// The kernel image starts on an address its mapping cannot use.
    ImageMisaligned {
        /// The image.
        image: VirtRange,
        /// The alignment it needs.
        align: u64,
    },
    /// A KASLR offset Linux never draws for this image size (or any offset without KASLR).
    KaslrOutOfRange {
        /// The offset.
        offset: u64,
        /// The largest offset Linux draws (0 without KASLR).
        max: u64,
        /// The kernel image size it was computed for (0: unknown).
        kernel_size: u64,
    },
    /// Some address of the modules window is out of call range of some kernel text.
    OutOfReach {
        /// The modules window.
        modules: VirtRange,
        /// Kernel text.
        text: VirtRange,
        /// The farthest distance between the two, in bytes.
        distance: u64,
        /// The longest reach the architecture has, in bytes.
        reach: u64,
        /// The instruction sequence behind that reach.
        insn: &'static str,
    },
}

fn r(f: &mut fmt::Formatter<'_>, region: &Region) -> fmt::Result {
    write!(f, "{} [{:#018x}-{:#018x}]", region.name(), region.start(), region.last())
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Overlap { a, b } => {
                f.write_str("overlap: ")?;
                r(f, a)?;
                f.write_str(" and ")?;
                r(f, b)?;
                write!(f, " share {:#x} bytes", a.last().min(b.last()) - b.start() + 1)
            }
            Violation::OutsideHalf { region, allowed } => {
                f.write_str("outside its half: ")?;
                r(f, region)?;
                write!(f, " must lie in [{:#018x}-{:#018x}]", allowed.start(), allowed.last())
            }
            Violation::Misaligned { region } => {
                f.write_str("misaligned: ")?;
                r(f, region)?;
                write!(f, " must start and end on a multiple of {:#x}", region.align())
            }
            Violation::RamTooLarge { linear, ram, max } => {
                f.write_str("linear map too small: ")?;
                r(f, linear)?;
                write!(f, " maps at most {max:#x} bytes, RAM is {ram:#x}")
            }
            Violation::Missing { name, needed_for } => {
                write!(f, "missing region: {name} (needed for {needed_for})")
            }
            Violation::ImageOutside { image, region } => {
                write!(f, "kernel image [{:#018x}-{:#018x}] is not inside ", image.start(), image.last())?;
                r(f, region)
            }
            Violation::ImageOutsideWindow { image, window } => write!(
                f,
                "kernel image [{:#018x}-{:#018x}] leaves its window [{:#018x}-{:#018x}] by {:#x} bytes",
                image.start(),
                image.last(),
                window.start(),
                window.last(),
                image.last().as_u64().saturating_sub(window.last().as_u64()).max(window.start().as_u64().saturating_sub(image.start().as_u64()))
            ),
            Violation::ImageStartOutsideWindow { start, window } => write!(
                f,
                "kernel image start {start:#018x} lies outside its window [{:#018x}-{:#018x}]",
                window.start(),
                window.last()
            ),
            Violation::ImageMisaligned { image, align } => write!(
                f,
                "kernel image [{:#018x}-{:#018x}] must start on a multiple of {align:#x}",
                image.start(),
                image.last()
            ),
            Violation::KaslrOutOfRange { offset, max, kernel_size } => write!(
                f,
                "KASLR offset {offset:#x} is out of range: Linux draws at most {max:#x} for a kernel of {kernel_size:#x} bytes"
            ),
            Violation::OutOfReach { modules, text, distance, reach, insn } => write!(
                f,
                "out of reach: modules window [{:#018x}-{:#018x}] and kernel text [{:#018x}-{:#018x}] are up to {distance:#x} bytes apart, beyond {insn} reach of {reach:#x}",
                modules.start(),
                modules.last(),
                text.start(),
                text.last()
            ),
        }
    }
}

/// The most violations [`check`] records; more are counted in [`Violations::dropped`].
pub const MAX_VIOLATIONS: usize = 32;

/// The violations of one layout (fixed capacity, no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violations {
    items: [Option<Violation>; MAX_VIOLATIONS],
    len: usize,
    dropped: usize,
}

impl Violations {
    const fn new() -> Self {
        Violations { items: [None; MAX_VIOLATIONS], len: 0, dropped: 0 }
    }

    fn push(&mut self, v: Violation) {
        if self.len == MAX_VIOLATIONS {
            self.dropped += 1;
        } else {
            self.items[self.len] = Some(v);
            self.len += 1;
        }
    }

    /// Whether the layout satisfies every invariant.
    pub const fn is_empty(&self) -> bool {
        self.len == 0 && self.dropped == 0
    }

    /// How many violations were recorded.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Violations found beyond [`MAX_VIOLATIONS`].
    pub const fn dropped(&self) -> usize {
        self.dropped
    }

    /// The recorded violations.
    pub fn iter(&self) -> impl Iterator<Item = &Violation> {
        self.items[..self.len].iter().flatten()
    }
}

/// The farthest apart two addresses of `a` and `b` can be.
pub const fn max_distance(a: VirtRange, b: VirtRange) -> u64 {
    let d1 = a.last().as_u64().abs_diff(b.start().as_u64());
    let d2 = b.last().as_u64().abs_diff(a.start().as_u64());
    if d1 > d2 {
        d1
    } else {
        d2
    }
}

/// The part of the modules window that every byte of kernel text reaches with the
/// direct call sequence (`None` if no part does).
pub fn direct_window(layout: &Layout) -> Option<VirtRange> {
    let window = layout.modules_window()?;
    let text = layout.parts().text;
    let reach = layout.reach().direct;
    let lo = text.last().as_u64().saturating_sub(reach).max(window.start().as_u64());
    let hi = text.start().as_u64().saturating_add(reach).min(window.last().as_u64());
    VirtRange::from_last(VirtAddr::new(lo), VirtAddr::new(hi)).ok()
}

/// Checks every invariant of `layout`.
pub fn check(layout: &Layout) -> Violations {
    let mut out = Violations::new();
    let regions = layout.regions();
    for (i, a) in regions.iter().enumerate() {
        for b in &regions[i + 1..] {
            if a.range().overlaps(b.range()) {
                out.push(Violation::Overlap { a: *a, b: *b });
            }
        }
    }
    let half = layout.kernel_half();
    let lower = Some(layout.user_half());
    for region in regions {
        let allowed = match region.name() {
            "hole" => None,
            "user" => lower,
            _ => Some(half),
        };
        if let Some(allowed) = allowed {
            if !allowed.contains_range(region.range()) {
                out.push(Violation::OutsideHalf { region: *region, allowed });
            }
        }
        let align = region.align().max(1);
        if region.start() % align != 0 || region.range().end().as_u64() % align != 0 {
            out.push(Violation::Misaligned { region: *region });
        }
    }
    let parts = layout.parts();
    match layout.region(parts.linear_region) {
        Some(linear) => {
            if let Some(ram) = layout.options().ram {
                if ram > parts.ram_limit {
                    out.push(Violation::RamTooLarge { linear: *linear, ram, max: parts.ram_limit });
                }
            }
        }
        None => out.push(Violation::Missing { name: parts.linear_region, needed_for: "the linear map" }),
    }
    let options = layout.options();
    if options.kaslr_offset > parts.kaslr_max {
        out.push(Violation::KaslrOutOfRange {
            offset: options.kaslr_offset,
            max: parts.kaslr_max,
            kernel_size: options.kernel_size,
        });
    }
    // Without a size, the image's first byte must still be where it may start.
    if layout.image().is_none() && !parts.image_window.contains(VirtAddr::new(parts.image_start)) {
        out.push(Violation::ImageStartOutsideWindow { start: parts.image_start, window: parts.image_window });
    }
    let placed = layout.image().or(VirtRange::new(VirtAddr::new(parts.image_start), 1).ok());
    if let Some(image) = placed.filter(|i| i.start().as_u64() % parts.image_align.max(1) != 0) {
        out.push(Violation::ImageMisaligned { image, align: parts.image_align });
    }
    if let Some(image) = layout.image() {
        if !parts.image_window.contains_range(image) {
            out.push(Violation::ImageOutsideWindow { image, window: parts.image_window });
        }
        match layout.region(parts.image_region) {
            Some(region) if !region.range().contains_range(image) => {
                out.push(Violation::ImageOutside { image, region: *region })
            }
            Some(_) => {}
            None => out.push(Violation::Missing { name: parts.image_region, needed_for: "the kernel image" }),
        }
    }
    match layout.modules_window() {
        Some(modules) => {
            let distance = max_distance(modules, parts.text);
            let reach = layout.reach();
            if distance > reach.far {
                out.push(Violation::OutOfReach {
                    modules,
                    text: parts.text,
                    distance,
                    reach: reach.far,
                    insn: reach.far_insn,
                });
            }
        }
        None => out.push(Violation::Missing { name: parts.modules_regions[0], needed_for: "modules" }),
    }
    out
}

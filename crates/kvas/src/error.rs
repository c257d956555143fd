//! The crate's one error type.
//!
//! Every fallible operation in kvas returns [`Error`]. Each variant carries the
//! data a kernel developer needs to find the problem (the address, the level,
//! the limit that was crossed), and `Display` says what failed and where.

use core::fmt;

use crate::addr::{PageSize, VirtAddr};

/// The most bytes of refused text an [`Error`] quotes ([`Quoted`]).
pub const QUOTED_MAX: usize = 48;

/// Text an error quotes (a size, a memory-list entry), copied so that [`Error`]
/// stays `Copy` and allocation-free: up to [`QUOTED_MAX`] bytes, cut on a
/// character boundary; `Display` shows it, with `...` when it was cut.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    bytes: [u8; QUOTED_MAX],
    len: u8,
    cut: bool,
}

impl Quoted {
    /// A copy of `text` (its first [`QUOTED_MAX`] bytes).
    pub fn new(text: &str) -> Self {
        let mut len = text.len().min(QUOTED_MAX);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; QUOTED_MAX];
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        Quoted { bytes, len: len as u8, cut: len < text.len() }
    }

    /// The quoted text (without the `...` mark).
    pub fn as_str(&self) -> &str {
        // The bytes are a prefix of a `str` cut on a character boundary.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.as_str(), if self.cut { "..." } else { "" })
    }
}

impl fmt::Debug for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// What went wrong, with the addresses and limits involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A physical address wider than [`crate::PhysAddr::MAX_BITS`].
    PhysAddrTooWide {
        /// The rejected value.
        raw: u64,
        /// The widest address allowed, in bits.
        max_bits: u32,
    },
    /// A physical address the page-table format cannot encode.
    PhysAddrUnencodable {
        /// The rejected address.
        raw: u64,
        /// How many bits of physical address the format carries.
        max_bits: u32,
    },
    /// A virtual address whose upper bits are not a sign extension of bit
    /// `va_bits - 1`.
    NonCanonical {
        /// The rejected address.
        va: VirtAddr,
        /// The width of the running mode's virtual addresses.
        va_bits: u32,
    },
    /// An address or length not aligned as required.
    Misaligned {
        /// What was misaligned ("virtual address", "length", ...).
        what: &'static str,
        /// The misaligned value.
        value: u64,
        /// The alignment required, in bytes.
        align: u64,
    },
    /// A range that wraps past the end of the address space, or leaves the
    /// canonical half it starts in.
    RangeWraps {
        /// Where the range starts.
        start: u64,
        /// Its length in bytes.
        len: u64,
    },
    /// A page size the paging mode cannot use as a leaf.
    UnsupportedPageSize {
        /// The requested size.
        size: PageSize,
        /// How many levels the mode has.
        levels: u8,
    },
    /// Attributes that no leaf may carry (for example writable but not readable).
    InvalidAttributes {
        /// Why the combination is refused.
        reason: &'static str,
    },
    /// A map request met a mapping that is already there.
    AlreadyMapped {
        /// The first address of the request that is already mapped.
        va: VirtAddr,
        /// The level of the entry in the way (0 = 4 KiB leaf).
        level: u8,
    },
    /// An operation that needs a mapping found none.
    NotMapped {
        /// The first address with no mapping.
        va: VirtAddr,
    },
    /// The frame allocator ran out while tables were needed; nothing was changed.
    OutOfFrames {
        /// Where the operation started.
        va: VirtAddr,
        /// How many table frames the operation needed.
        needed: u64,
        /// How many the allocator could give.
        got: u64,
    },
    /// A table entry whose encoding the privileged spec reserves, met while walking.
    CorruptEntry {
        /// The address being walked.
        va: VirtAddr,
        /// The level of the bad entry.
        level: u8,
        /// The entry's raw bits.
        raw: u64,
    },
    /// A page-table geometry that the engine cannot walk.
    InvalidGeometry {
        /// Why it was refused.
        reason: &'static str,
    },
    /// A layout needs more regions than a fixed-capacity region list holds.
    TooManyRegions {
        /// The list's capacity.
        max: usize,
    },
    /// A kernel image larger than the window the layout gives it.
    KernelTooLarge {
        /// The image size in bytes.
        size: u64,
        /// The largest image the window holds.
        max: u64,
        /// Which window.
        window: &'static str,
    },
    /// A KASLR offset beyond the range the architecture randomizes over.
    KaslrOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The largest offset allowed for this image size.
        max: u64,
    },
    /// More RAM than the layout can map.
    RamTooLarge {
        /// The RAM asked for, in bytes.
        ram: u64,
        /// The most the window maps.
        max: u64,
        /// Which window.
        window: &'static str,
    },
    /// An option value the planner refuses.
    InvalidOption {
        /// Which option.
        option: &'static str,
        /// The value given.
        value: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An option the architecture or mode does not have.
    UnsupportedOption {
        /// Which option.
        option: &'static str,
        /// Why it does not apply.
        reason: &'static str,
    },
    /// Two layout options whose sum, from the address they offset, runs past the
    /// end of the address space (a KASLR offset plus the kernel size, say).
    OptionsOverflow {
        /// The address they are added to, and its name.
        base: u64,
        /// What `base` is (`KERNEL_LINK_ADDR`, ...).
        base_name: &'static str,
        /// The first option and its value.
        option: &'static str,
        /// Its value.
        value: u64,
        /// The second option.
        other: &'static str,
        /// Its value.
        other_value: u64,
    },
    /// A physical range that is empty, wraps past 2^64 or ends above the 56-bit
    /// physical address space.
    BadPhysRange {
        /// Where it starts.
        start: u64,
        /// Its length in bytes.
        size: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A virtual range that is empty or wraps past 2^64 (a misaligned one is
    /// [`Error::Misaligned`]).
    BadVirtRange {
        /// Where it starts.
        start: u64,
        /// Its length in bytes.
        size: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A range given by its bounds whose end lies below its start.
    RangeReversed {
        /// What the range is ("physical range", ...).
        what: &'static str,
        /// The start given.
        start: u64,
        /// The (exclusive) end given.
        end: u64,
    },
    /// A range given by its bounds that is the whole 64-bit address space, whose
    /// size (2^64) no `u64` holds.
    WholeAddressSpace {
        /// What the range is ("virtual range", ...).
        what: &'static str,
    },
    /// RAM too small for what the layout must put in it.
    RamTooSmall {
        /// The RAM given, in bytes.
        ram: u64,
        /// The least RAM that works, in bytes.
        min: u64,
        /// What needs it.
        what: &'static str,
    },
    /// A fixed-capacity table (RAM banks, reservations) is full.
    TooManyRanges {
        /// What overflowed ("RAM banks", "reserved ranges").
        what: &'static str,
        /// Its capacity.
        max: usize,
    },
    /// A memory list in text form (`BASE:SIZE,...`) that does not parse.
    BadMemSpec {
        /// Which entry of the comma-separated list (1 = the first).
        entry: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry of a memory list in text form whose numbers parse but do not
    /// make a usable physical range.
    MemSpecRange {
        /// Which entry of the comma-separated list (1 = the first).
        entry: usize,
        /// Its BASE.
        start: u64,
        /// Its SIZE.
        size: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A size or address that is not in the size grammar ([`crate::size`]).
    BadSize {
        /// The text refused.
        text: Quoted,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry of a memory list in text form that does not parse, with the
    /// part of it that was refused.
    MemSpecEntry {
        /// Which entry of the comma-separated list (1 = the first).
        entry: usize,
        /// The text refused: a number, a kind, or the whole entry.
        text: Quoted,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A flattened device tree whose structure is broken.
    DtbMalformed {
        /// The byte offset in the blob where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A device-tree node whose contents kvas cannot use.
    DtbNode {
        /// Which node ("/memory", "/reserved-memory/*", "/chosen").
        node: &'static str,
        /// Which node of that name, counting from 1 in tree order.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A device-tree range (a `reg` entry, a `/memreserve/` entry, the initrd)
    /// that is not a usable physical range.
    DtbRange {
        /// Which node ("/memory", "/reserved-memory/*", "/memreserve/", "/chosen").
        node: &'static str,
        /// Which node (or entry) of that name, counting from 1 in tree order.
        index: usize,
        /// Where the range starts.
        start: u64,
        /// Its length in bytes.
        size: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A device tree whose memory nodes give no usable RAM, and why.
    DtbNoRam {
        /// Children of the root with `device_type = "memory"`.
        memory_nodes: usize,
        /// How many of them are disabled.
        disabled: usize,
        /// The `reg` (or `linux,usable-memory`) entries of the enabled ones,
        /// each empty or smaller than a page.
        entries: usize,
    },
    /// A memory map with no RAM in it.
    NoRam,
    /// RAM exists, but no free page of it is left for page tables (or a pool):
    /// all of it is reserved, `no-map`, or at or above `limit`.
    NoUsableRam {
        /// Frames must end at or below this address (`u64::MAX`: no limit).
        limit: u64,
    },
    /// A raw `satp` value whose MODE field is not Bare, Sv39, Sv48 or Sv57.
    UnsupportedSatpMode {
        /// The whole raw `satp` value.
        satp: u64,
    },
    /// A virtual-range allocator window that cannot be managed.
    VaWindowInvalid {
        /// The first address of the window.
        start: u64,
        /// Its exclusive end (0 stands for 2^64).
        end: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An allocation request a virtual-range allocator refuses before searching.
    VaRequestInvalid {
        /// Which window ("vmalloc", "modules", "bpf", ...).
        window: &'static str,
        /// The size asked for, in bytes.
        size: u64,
        /// The alignment asked for, in bytes.
        align: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// No free range of a virtual-range allocator's window fits the request.
    VaExhausted {
        /// Which window.
        window: &'static str,
        /// The size that was needed, in bytes (guard page included).
        size: u64,
        /// The alignment asked for, in bytes.
        align: u64,
        /// The largest free range left, in bytes.
        largest_free: u64,
    },
    /// The fixed-capacity node pool of a virtual-range allocator is full;
    /// nothing was changed.
    VaNodePoolFull {
        /// Which window.
        window: &'static str,
        /// How many nodes the pool holds.
        capacity: usize,
    },
    /// A free that does not match a live allocation; nothing was changed.
    VaBadFree {
        /// Which window.
        window: &'static str,
        /// The first address of the range given.
        addr: VirtAddr,
        /// Its size in bytes.
        size: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A virtual-range allocator whose internal invariants do not hold (found
    /// by its self-check).
    VaCorrupt {
        /// Which window.
        window: &'static str,
        /// Which invariant failed.
        reason: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::PhysAddrTooWide { raw, max_bits } => {
                write!(f, "physical address {raw:#x} is wider than {max_bits} bits")
            }
            Error::PhysAddrUnencodable { raw, max_bits } => write!(
                f,
                "physical address {raw:#x} does not fit the {max_bits}-bit physical addresses of this page-table format"
            ),
            Error::NonCanonical { va, va_bits } => write!(
                f,
                "virtual address {va} is not canonical for {va_bits}-bit virtual addresses (bits 63..{} must equal bit {})",
                va_bits - 1,
                va_bits - 1
            ),
            Error::Misaligned { what, value, align } => {
                write!(f, "{what} {value:#x} is not aligned to {align:#x}")
            }
            Error::RangeWraps { start, len } => write!(
                f,
                "range of {len:#x} bytes at {start:#x} wraps past the end of the address space or its canonical half"
            ),
            Error::UnsupportedPageSize { size, levels } => {
                write!(f, "a {levels}-level table cannot map a {size} page")
            }
            Error::InvalidAttributes { reason } => write!(f, "invalid page attributes: {reason}"),
            Error::AlreadyMapped { va, level } => {
                write!(f, "virtual address {va} is already mapped (entry at level {level})")
            }
            Error::NotMapped { va } => write!(f, "virtual address {va} is not mapped"),
            Error::OutOfFrames { va, needed, got } => write!(
                f,
                "out of page-table frames at {va}: needed {needed}, the allocator gave {got}; nothing was changed"
            ),
            Error::CorruptEntry { va, level, raw } => write!(
                f,
                "reserved page-table entry {raw:#018x} at level {level} while walking {va}"
            ),
            Error::InvalidGeometry { reason } => write!(f, "invalid page-table geometry: {reason}"),
            Error::TooManyRegions { max } => write!(f, "layout needs more than {max} regions"),
            Error::KernelTooLarge { size, max, window } => write!(
                f,
                "kernel image of {size:#x} bytes does not fit the {window}: at most {max:#x} bytes"
            ),
            Error::KaslrOutOfRange { offset, max } => write!(
                f,
                "KASLR offset {offset:#x} is out of range: at most {max:#x} for this kernel size"
            ),
            Error::RamTooLarge { ram, max, window } => {
                write!(f, "RAM of {ram:#x} bytes is larger than the {window}: at most {max:#x} bytes")
            }
            Error::InvalidOption { option, value, reason } => write!(f, "{option} {value:#x}: {reason}"),
            Error::UnsupportedOption { option, reason } => write!(f, "{option} is not supported: {reason}"),
            Error::OptionsOverflow { base, base_name, option, value, other, other_value } => write!(
                f,
                "{option} {value:#x} plus {other} {other_value:#x} from {base_name} {base:#x} runs past the end of the address space"
            ),
            Error::BadPhysRange { start, size, reason } => {
                write!(f, "physical range of {size:#x} bytes at {start:#x} refused: {reason}")
            }
            Error::BadVirtRange { start, size, reason } => {
                write!(f, "virtual range of {size:#x} bytes at {start:#x} refused: {reason}")
            }
            Error::RangeReversed { what, start, end } => {
                write!(f, "{what} [{start:#x}, {end:#x}) ends before it starts")
            }
            Error::WholeAddressSpace { what } => {
                write!(f, "{what} [0x0, 2^64) is the whole 64-bit address space, which no range holds")
            }
            Error::RamTooSmall { ram, min, what } => {
                write!(f, "RAM of {ram:#x} bytes is too small: {what} needs at least {min:#x} bytes")
            }
            Error::TooManyRanges { what, max } => write!(f, "too many {what}: at most {max} fit"),
            Error::BadMemSpec { entry, reason } => write!(f, "memory list, entry {entry}: {reason}"),
            Error::MemSpecRange { entry, start, size, reason } => write!(
                f,
                "memory list, entry {entry}: range of {size:#x} bytes at {start:#x} refused: {reason}"
            ),
            Error::BadSize { text, reason } => write!(f, "'{text}' is not a size: {reason}"),
            Error::MemSpecEntry { entry, text, reason } => {
                write!(f, "memory list, entry {entry}: '{text}': {reason}")
            }
            Error::DtbMalformed { offset, reason } => {
                write!(f, "malformed device tree at byte {offset:#x}: {reason}")
            }
            Error::DtbNode { node, index, reason } => {
                write!(f, "device tree node {node} (number {index} in the tree): {reason}")
            }
            Error::DtbRange { node, index, start, size, reason } => write!(
                f,
                "device tree node {node} (number {index} in the tree): range of {size:#x} bytes at {start:#x} refused: {reason}"
            ),
            Error::DtbNoRam { memory_nodes: 0, .. } => {
                write!(f, "the device tree has no memory node (no child of / has device_type = \"memory\")")
            }
            Error::DtbNoRam { memory_nodes, disabled, .. } if disabled == memory_nodes => write!(
                f,
                "the device tree's memory nodes ({memory_nodes}) are all disabled (status = \"disabled\")"
            ),
            Error::DtbNoRam { memory_nodes, disabled, entries } => write!(
                f,
                "the device tree's {} enabled memory node(s) hold no whole 4 KiB page: each of their {entries} reg entries is empty or smaller than a page",
                memory_nodes - disabled
            ),
            Error::NoRam => write!(f, "the memory map holds no RAM"),
            Error::NoUsableRam { limit: u64::MAX } => {
                write!(f, "no usable RAM is left: every bank was dropped, reserved or no-map")
            }
            Error::NoUsableRam { limit } => write!(
                f,
                "no usable RAM is left: every page of RAM below {limit:#x} (the end of the linear window) is reserved or no-map"
            ),
            Error::UnsupportedSatpMode { satp } => write!(
                f,
                "satp {satp:#018x} has MODE {}, not Bare (0), Sv39 (8), Sv48 (9) or Sv57 (10)",
                satp >> 60
            ),
            Error::VaWindowInvalid { start, end, reason } => {
                write!(f, "virtual-range window [{start:#x}, {end:#x}) refused: {reason}")
            }
            Error::VaRequestInvalid { window, size, align, reason } => write!(
                f,
                "{window} allocation of {size:#x} bytes aligned to {align:#x} refused: {reason}"
            ),
            Error::VaExhausted { window, size, align, largest_free } => write!(
                f,
                "{window} window exhausted: no free range holds {size:#x} bytes aligned to {align:#x}; the largest free range is {largest_free:#x} bytes"
            ),
            Error::VaNodePoolFull { window, capacity } => write!(
                f,
                "{window} allocator: all {capacity} range nodes are in use; nothing was changed"
            ),
            Error::VaBadFree { window, addr, size, reason } => {
                write!(f, "{window} free of {size:#x} bytes at {addr} refused: {reason}")
            }
            Error::VaCorrupt { window, reason } => write!(f, "{window} allocator is corrupt: {reason}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_and_where() {
        let e = Error::AlreadyMapped { va: VirtAddr::new(0xffff_ffc0_0000_0000), level: 1 };
        assert_eq!(e.to_string(), "virtual address 0xffffffc000000000 is already mapped (entry at level 1)");
        let e = Error::NonCanonical { va: VirtAddr::new(0x0000_8000_0000_0000), va_bits: 48 };
        assert!(e.to_string().contains("bits 63..47 must equal bit 47"));
        let e = Error::OutOfFrames { va: VirtAddr::new(0x1000), needed: 3, got: 1 };
        assert!(e.to_string().contains("needed 3, the allocator gave 1"));
        let e = Error::KaslrOutOfRange { offset: 0x4000_0000, max: 0x3fe0_0000 };
        assert_eq!(
            e.to_string(),
            "KASLR offset 0x40000000 is out of range: at most 0x3fe00000 for this kernel size"
        );
        let e = Error::RamTooLarge { ram: 1 << 38, max: 1 << 37, window: "linear map" };
        assert!(e.to_string().contains("larger than the linear map: at most 0x2000000000"));
    }
}

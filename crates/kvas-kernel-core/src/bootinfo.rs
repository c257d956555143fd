//! What the kernel learns from the flattened device tree, read through `kvas::phys`.
//!
//! One reader, used twice by the kernel: with the MMU off (the blob at its physical address)
//! and after paging (the blob through its fixmap window). Both go through
//! [`kvas::phys::DeviceTree::parse`], which runs the structural check
//! (`kvas::phys::dtb_check`) before the `fdt` crate sees the blob, so a corrupt tree is an
//! error with its reason, never a panic, and the kernel takes exactly the RAM banks,
//! reservations and notices `kvas map --dtb` takes for the same tree. What `kvas::phys` does
//! not read — the harts' `mmu-type` (the depth cap), what KASLR needs (Zkr on the harts,
//! `/chosen`'s seeds: crate::kaslr) and the `sifive,test0` finisher — is read here from the
//! same checked blob, through the parts of `fdt` the structural check
//! covers (a node's children and properties), with `reg` decoded by hand.

use core::fmt;

use fdt::node::FdtNode;
use fdt::Fdt;
use kvas::arch::riscv::Mode;
use kvas::phys::{dtb_check, DeviceTree, MemoryMap, PhysRange};

use crate::cmdline::Cmdline;
use crate::kaslr::{self, DtSeeds};

/// Largest device tree the kernel takes (Linux's `MAX_FDT_SIZE`): its fixmap window
/// (kvas::kspace) covers any blob up to this size wherever it lies.
pub use kvas::kspace::MAX_FDT_SIZE;

/// The blob's magic number.
const FDT_MAGIC: u32 = 0xd00d_feed;

/// Where the device tree is, and its size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DtbPlace {
    /// Its physical address.
    pub base: u64,
    /// Its size in bytes (the header's `totalsize`).
    pub size: u64,
}

/// What boot learned from the device tree.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// RAM, reservations and the notices of what was adjusted (kvas::phys).
    pub map: MemoryMap,
    /// The command line words kvas honours.
    pub cmdline: Cmdline,
    /// The shallowest mode some hart's `mmu-type` allows (`None`: no hart says).
    pub mmu_cap: Option<Mode>,
    /// Physical address of a `sifive,test0` finisher, which can end QEMU with a status.
    pub finisher: Option<u64>,
    /// Where the DTB is, and its size.
    pub dtb: DtbPlace,
    /// The initrd `/chosen` names, if any (reserved in `map`).
    pub initrd: Option<PhysRange>,
    /// What the tree offers KASLR: Zkr on every available hart, `/chosen`'s seeds and where
    /// their bytes lie in the blob (crate::kaslr).
    pub seeds: DtSeeds,
    /// Every available hart lists the D extension (double precision, which includes F) in
    /// `riscv,isa-extensions` or its `riscv,isa` string, and there is at least one hart: the
    /// FPU whose registers the kernel saves per process. The riscv32 kernel (riscv32imac)
    /// turns `sstatus.FS` on for processes only then.
    pub fpu: bool,
}

/// Why the device tree cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The first 8 bytes are not a device-tree header (magic, size).
    NotADtb {
        /// Where the blob was looked for.
        at: u64,
        /// The first word found there.
        magic: u32,
    },
    /// The header's size is beyond what the fixmap window maps.
    TooLarge {
        /// Where the blob is.
        at: u64,
        /// Its `totalsize`.
        size: u64,
    },
    /// `kvas::phys` refused the tree (structure, a node, the ranges).
    Refused {
        /// Where the blob is.
        at: u64,
        /// Why.
        err: kvas::Error,
    },
    /// A hart says `mmu-type = "riscv,none"` or something unknown.
    NoMmu {
        /// Which cpu node (in tree order, from 0).
        hart: usize,
    },
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BootError::NotADtb { at, magic } => {
                write!(f, "the device tree at {at:#x} does not parse: magic {magic:#010x}, not 0xd00dfeed")
            }
            BootError::TooLarge { at, size } => write!(
                f,
                "the device tree at {at:#x} is {size:#x} bytes, larger than the fixmap window's {MAX_FDT_SIZE:#x}"
            ),
            BootError::Refused { at, err } => write!(f, "the device tree at {at:#x}: {err}"),
            BootError::NoMmu { hart } => {
                write!(f, "cpu node {hart}'s mmu-type offers no Sv39, Sv48 or Sv57 paging")
            }
        }
    }
}

/// The blob's size from its first 8 bytes (magic, `totalsize`), checked against
/// [`MAX_FDT_SIZE`]: how many bytes the kernel may read at `at`.
pub fn total_size(header: [u8; 8], at: u64) -> Result<usize, BootError> {
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as u64;
    if magic != FDT_MAGIC {
        return Err(BootError::NotADtb { at, magic });
    }
    if size > MAX_FDT_SIZE {
        return Err(BootError::TooLarge { at, size });
    }
    Ok(size as usize)
}

/// `#address-cells` and `#size-cells` that `node` gives its children (2 and 1 when absent).
fn cells(node: &FdtNode<'_, '_>) -> (usize, usize) {
    let get = |name, default| {
        node.property(name)
            .and_then(|p| p.value.get(..4))
            .map_or(default, |v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as usize)
    };
    (get("#address-cells", 2), get("#size-cells", 1))
}

/// The first address of `node`'s `reg`, decoded with its parent's `address_cells`, if it
/// has one that fits in 64 bits.
fn first_reg_address(node: &FdtNode<'_, '_>, address_cells: usize) -> Option<u64> {
    let value = node.property("reg")?.value;
    if address_cells == 0 || address_cells > 4 {
        return None;
    }
    let mut addr: u64 = 0;
    for chunk in value.get(..address_cells * 4)?.chunks(4) {
        if addr >> 32 != 0 {
            return None;
        }
        addr = addr << 32 | u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as u64;
    }
    Some(addr)
}

/// A string property's value without its terminating NUL.
fn text<'a>(node: &FdtNode<'_, 'a>, name: &str) -> Option<&'a [u8]> {
    node.property(name).map(|p| p.value.strip_suffix(b"\0").unwrap_or(p.value))
}

fn is_compatible(node: &FdtNode<'_, '_>, want: &[u8]) -> bool {
    node.property("compatible").is_some_and(|p| p.value.split(|&b| b == 0).any(|s| s == want))
}

/// The finisher among `parent`'s children.
fn finisher_below(parent: &FdtNode<'_, '_>) -> Option<u64> {
    let (address_cells, _) = cells(parent);
    parent
        .children()
        .find(|n| is_compatible(n, b"sifive,test0"))
        .and_then(|n| first_reg_address(&n, address_cells))
}

/// The root node of a blob that passed the structural check.
fn root<'b, 'a>(fdt: &'b Fdt<'a>) -> Option<FdtNode<'b, 'a>> {
    fdt.all_nodes().next()
}

/// The physical address of a `sifive,test0` finisher (a child of the root or of `/soc`), if
/// the blob passes the structural check and has one. Read on its own, so that even a tree
/// the kernel cannot boot from ends in a failing power-off.
pub fn finisher(blob: &[u8]) -> Option<u64> {
    dtb_check::check(blob).ok()?;
    let fdt = Fdt::new(blob).ok()?;
    let root = root(&fdt)?;
    finisher_below(&root)
        .or_else(|| root.children().find(|n| n.name.starts_with("soc")).and_then(|soc| finisher_below(&soc)))
}

fn mode_of(mmu_type: &[u8]) -> Option<Mode> {
    match mmu_type {
        b"riscv,sv39" => Some(Mode::Sv39),
        b"riscv,sv48" => Some(Mode::Sv48),
        b"riscv,sv57" => Some(Mode::Sv57),
        _ => None,
    }
}

/// `/cpus`, and `/chosen` if `want_chosen`, found in one pass over the root's children (each
/// step of `children()` skips a whole subtree, which is what a device-tree walk costs).
fn cpus_and_chosen<'b, 'a>(
    root: &FdtNode<'b, 'a>,
    want_chosen: bool,
) -> (Option<FdtNode<'b, 'a>>, Option<FdtNode<'b, 'a>>) {
    let (mut cpus, mut chosen) = (None, None);
    for n in root.children() {
        match n.name {
            "cpus" => cpus = Some(n),
            "chosen" if want_chosen => chosen = Some(n),
            _ => continue,
        }
        if cpus.is_some() && (chosen.is_some() || !want_chosen) {
            break;
        }
    }
    (cpus, chosen)
}

/// The harts' nodes: the children of `/cpus` whose `device_type` is `cpu` (Linux's
/// `fdt_node_is_cpu`), in tree order. The one definition of a hart for every reader here.
fn harts<'b, 'a: 'b>(cpus: Option<FdtNode<'b, 'a>>) -> impl Iterator<Item = FdtNode<'b, 'a>> + 'b {
    cpus.into_iter().flat_map(|c| c.children()).filter(|c| text(c, "device_type") == Some(b"cpu"))
}

/// Whether a node is available (`status` absent, `okay` or `ok`).
fn available(node: &FdtNode<'_, '_>) -> bool {
    matches!(text(node, "status"), None | Some(b"okay" | b"ok"))
}

/// The shallowest mode the harts' `mmu-type` allow (`cpus`: the `/cpus` node).
fn mmu_cap(cpus: Option<FdtNode<'_, '_>>) -> Result<Option<Mode>, BootError> {
    let mut cap: Option<Mode> = None;
    for (hart, cpu) in harts(cpus).enumerate() {
        if let Some(t) = text(&cpu, "mmu-type") {
            // An RV32 hart's only mode: no depth to cap (the riscv32 kernel runs Sv32).
            if t == b"riscv,sv32" {
                continue;
            }
            let m = mode_of(t).ok_or(BootError::NoMmu { hart })?;
            cap = Some(cap.map_or(m, |c| if m.levels() < c.levels() { m } else { c }));
        }
    }
    Ok(cap)
}

/// Reads the device tree in `blob`, which lies at physical address `at` (see the module
/// doc). The blob's own pages are reserved in the map.
pub fn read(blob: &[u8], at: u64) -> Result<BootInfo, BootError> {
    let refused = |err| BootError::Refused { at, err };
    // The library names what is wrong, "no usable RAM" included (Error::DtbNoRam says how
    // many memory nodes there are, how many are disabled, how many entries were too small).
    let dt = DeviceTree::parse(blob, Some(at)).map_err(refused)?;
    // The structural check passed (DeviceTree::parse ran it), so `fdt` may read the blob.
    let fdt = Fdt::new(blob)
        .map_err(|_| refused(kvas::Error::DtbMalformed { offset: 0, reason: "rejected by the fdt crate" }))?;
    let root = root(&fdt).ok_or(refused(kvas::Error::DtbMalformed { offset: 0, reason: "no root node" }))?;
    let cmdline = dt.bootargs.map(Cmdline::parse).unwrap_or_default();
    let (cpus, chosen) = cpus_and_chosen(&root, !cmdline.nokaslr);
    let mmu_cap = mmu_cap(cpus)?;
    // `nokaslr` reads no seed (as Linux): not even where they are.
    let seeds = match cmdline.nokaslr {
        true => DtSeeds::default(),
        false => kaslr::dt_seeds(blob, chosen, harts(cpus).filter(available)),
    };
    let mut any_hart = false;
    let fpu = harts(cpus).filter(available).all(|cpu| {
        any_hart = true;
        kaslr::hart_has(&cpu, "d")
    }) && any_hart;
    Ok(BootInfo {
        fpu,
        map: dt.map,
        cmdline,
        mmu_cap,
        finisher: finisher(blob),
        dtb: DtbPlace { base: at, size: dt.total_size as u64 },
        initrd: dt.initrd,
        seeds,
    })
}

impl BootInfo {
    /// The deepest mode the command line and the device tree allow: Sv57, lowered by
    /// `no5lvl` to Sv48 and by `no4lvl` to Sv39, and by the shallowest hart's `mmu-type`.
    pub fn depth_cap(&self) -> Mode {
        depth_cap(&self.cmdline, self.mmu_cap)
    }
}

/// See [`BootInfo::depth_cap`].
pub fn depth_cap(cmdline: &Cmdline, mmu_cap: Option<Mode>) -> Mode {
    let mut max = Mode::Sv57;
    if cmdline.no5lvl {
        max = Mode::Sv48;
    }
    if cmdline.no4lvl {
        max = Mode::Sv39;
    }
    match mmu_cap {
        Some(m) if m.levels() < max.levels() => m,
        _ => max,
    }
}

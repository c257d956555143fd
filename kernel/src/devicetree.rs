//! What boot needs from the flattened device tree with the MMU off (with the `fdt` crate):
//! the command line and the harts' `mmu-type` (the depth caps), the test finisher device,
//! the DTB's size (for its fixmap window) and the RAM banks (to fail early and clearly when
//! there are none). Everything is copied into a [`BootInfo`] of plain numbers. The memory
//! map proper — RAM and every reservation — is kvas::phys's, read later through the fixmap
//! (meminit.rs).

use core::fmt;

use fdt::node::FdtNode;
use fdt::Fdt;
use kvas::arch::riscv::Mode;

use super::cmdline::Cmdline;

/// Most RAM banks kept; more is an error, never a silent truncation.
pub const MAX_BANKS: usize = 16;

/// A physical range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

/// What boot learned from the device tree.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// RAM banks, in device-tree order.
    pub banks: [Range; MAX_BANKS],
    /// How many of `banks` are used.
    pub nbanks: usize,
    /// The command line words kvas honours.
    pub cmdline: Cmdline,
    /// The deepest mode every hart's `mmu-type` allows (`None`: no property, no cap).
    pub mmu_cap: Option<Mode>,
    /// Physical address of a `sifive,test0` finisher, which can end QEMU with a status.
    pub finisher: Option<u64>,
    /// Where the DTB is, and its size.
    pub dtb: Range,
}

/// Why the device tree cannot be used.
#[derive(Debug)]
pub enum DtError {
    /// The blob does not parse.
    Parse(u64, fdt::FdtError),
    /// No node with `device_type = "memory"` and a `reg`.
    NoMemory,
    /// More banks than kvas keeps.
    TooMany(&'static str, usize),
    /// A hart says `mmu-type = "riscv,none"` or something unknown.
    NoMmu,
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtError::Parse(pa, e) => write!(f, "the device tree at {pa:#x} does not parse: {e}"),
            DtError::NoMemory => f.write_str("the device tree has no memory node (device_type = \"memory\")"),
            DtError::TooMany(what, max) => write!(f, "the device tree has more than {max} {what}"),
            DtError::NoMmu => f.write_str("a hart's mmu-type offers no Sv39, Sv48 or Sv57 paging"),
        }
    }
}

fn regs<'a>(node: &FdtNode<'_, 'a>) -> impl Iterator<Item = Range> + 'a {
    node.reg()
        .into_iter()
        .flatten()
        .map(|r| Range { base: r.starting_address as u64, size: r.size.unwrap_or(0) as u64 })
}

fn find_finisher(fdt: &Fdt) -> Option<u64> {
    fdt.all_nodes()
        .find(|n| n.compatible().is_some_and(|c| c.all().any(|s| s == "sifive,test0")))
        .and_then(|n| regs(&n).next())
        .map(|r| r.base)
}

/// The physical address of a `sifive,test0` finisher, if the DTB parses and has one; read
/// first, so that even a device tree boot cannot use can end in a failing power-off.
///
/// # Safety
///
/// As for [`parse`].
pub unsafe fn finisher(dtb_pa: u64) -> Option<u64> {
    // SAFETY: as for `parse`, which the caller vouches for.
    let fdt = unsafe { Fdt::from_ptr(dtb_pa as *const u8) }.ok()?;
    find_finisher(&fdt)
}

fn mode_of(mmu_type: &str) -> Result<Mode, DtError> {
    match mmu_type {
        "riscv,sv39" => Ok(Mode::Sv39),
        "riscv,sv48" => Ok(Mode::Sv48),
        "riscv,sv57" => Ok(Mode::Sv57),
        _ => Err(DtError::NoMmu),
    }
}

/// Parses the DTB at physical address `dtb_pa` (reachable at that address).
///
/// # Safety
///
/// `dtb_pa` must be readable (MMU off, or identity-mapped) for the blob's whole size.
pub unsafe fn parse(dtb_pa: u64) -> Result<BootInfo, DtError> {
    // SAFETY: the caller vouches that the blob is readable at dtb_pa; `from_ptr` checks the
    // magic and the header before it trusts the size.
    let fdt = unsafe { Fdt::from_ptr(dtb_pa as *const u8) }.map_err(|e| DtError::Parse(dtb_pa, e))?;
    let mut info = BootInfo {
        banks: [Range::default(); MAX_BANKS],
        nbanks: 0,
        cmdline: Cmdline::default(),
        mmu_cap: None,
        finisher: None,
        dtb: Range { base: dtb_pa, size: fdt.total_size() as u64 },
    };
    for node in fdt.all_nodes() {
        let is_memory = node.property("device_type").and_then(|p| p.as_str()) == Some("memory");
        if is_memory {
            for r in regs(&node).filter(|r| r.size > 0) {
                *info.banks.get_mut(info.nbanks).ok_or(DtError::TooMany("RAM banks", MAX_BANKS))? = r;
                info.nbanks += 1;
            }
        }
    }
    info.finisher = find_finisher(&fdt);
    if info.nbanks == 0 {
        return Err(DtError::NoMemory);
    }
    if let Some(chosen) = fdt.find_node("/chosen") {
        if let Some(args) = chosen.property("bootargs").and_then(|p| p.as_str()) {
            info.cmdline = Cmdline::parse(args);
        }
    }
    if let Some(cpus) = fdt.find_node("/cpus") {
        for cpu in cpus.children() {
            if cpu.property("device_type").and_then(|p| p.as_str()) != Some("cpu") {
                continue;
            }
            if let Some(t) = cpu.property("mmu-type").and_then(|p| p.as_str()) {
                let m = mode_of(t)?;
                info.mmu_cap =
                    Some(info.mmu_cap.map_or(m, |c: Mode| if m.levels() < c.levels() { m } else { c }));
            }
        }
    }
    Ok(info)
}

impl BootInfo {
    /// The RAM banks.
    pub fn banks(&self) -> &[Range] {
        &self.banks[..self.nbanks]
    }
}

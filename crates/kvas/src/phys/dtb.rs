//! The memory map of a flattened device tree.
//!
//! What is read, following the Devicetree Specification (v0.4) and what Linux
//! does with it (`drivers/of/fdt.c`):
//!
//! - every child of the root whose `device_type` is `"memory"` and whose
//!   `status` is not `"disabled"`: each entry of its `reg` (or, when present,
//!   `linux,usable-memory`), decoded with the root's `#address-cells` and
//!   `#size-cells` (2 and 1 when absent, as the specification says);
//! - `/reserved-memory`: each enabled child with `reg` (decoded with the cells
//!   of `/reserved-memory` itself) is `no-map`, `reusable` or plain reserved;
//!   children without `reg` (dynamic reservations) have no address yet and are
//!   skipped with a notice;
//! - the memory reservation block (`/memreserve/`): reserved;
//! - `/chosen`: `bootargs`, and the initrd from `linux,initrd-start` and
//!   `linux,initrd-end` (one or two cells each), reserved;
//! - the blob itself, when the caller says where it lies: reserved.
//!
//! The blob is checked structurally first ([`crate::phys::dtb_check`]), so a
//! corrupt tree is an [`Error`], never a panic.

use fdt::node::FdtNode;
use fdt::Fdt;

use crate::phys::dtb_check;
use crate::phys::memory_map::{MemoryMap, Notice, ReserveKind, ReservedBy};
use crate::phys::range::PhysRange;
use crate::Error;

/// What kvas takes from a device tree.
#[derive(Clone, Debug)]
pub struct DeviceTree<'a> {
    /// RAM and reservations.
    pub map: MemoryMap,
    /// `/chosen/bootargs`, if present.
    pub bootargs: Option<&'a str>,
    /// The initrd named by `/chosen`, if any.
    pub initrd: Option<PhysRange>,
    /// The blob's total size in bytes (from its header).
    pub total_size: usize,
}

fn node_err(node: &'static str, index: usize, reason: &'static str) -> Error {
    Error::DtbNode { node, index, reason }
}

/// `#address-cells` and `#size-cells` that `node` gives its children.
fn cells(node: FdtNode<'_, '_>) -> (usize, usize) {
    // The structural check guarantees both properties are one cell when present.
    let get = |name, default| {
        node.property(name)
            .and_then(|p| p.value.get(..4))
            .map_or(default, |v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as usize)
    };
    (get("#address-cells", 2), get("#size-cells", 1))
}

/// A big-endian number of `cells` 32-bit cells, if it fits in 64 bits.
fn read_cells(bytes: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for chunk in bytes.chunks(4) {
        if value >> 32 != 0 {
            return None;
        }
        let cell = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        value = (value << 32) | cell as u64;
    }
    Some(value)
}

/// Calls `each(base, size)` for each entry of a `reg`-like property.
fn each_reg(
    value: &[u8],
    (address_cells, size_cells): (usize, usize),
    node: &'static str,
    index: usize,
    mut each: impl FnMut(u64, u64) -> Result<(), Error>,
) -> Result<(), Error> {
    if address_cells == 0 || address_cells > 4 || size_cells == 0 || size_cells > 4 {
        return Err(node_err(node, index, "#address-cells must be 1..4 and #size-cells 1..4 for reg"));
    }
    let entry = (address_cells + size_cells) * 4;
    if value.is_empty() || !value.chunks_exact(entry).remainder().is_empty() {
        return Err(node_err(node, index, "reg is empty or not a whole number of (address, size) entries"));
    }
    for chunk in value.chunks(entry) {
        let (a, s) = chunk.split_at(address_cells * 4);
        let base = read_cells(a).ok_or(node_err(node, index, "a reg address is wider than 64 bits"))?;
        let size = read_cells(s).ok_or(node_err(node, index, "a reg size is wider than 64 bits"))?;
        each(base, size).map_err(|e| in_node(e, node, index))?;
    }
    Ok(())
}

/// A range error met while reading `node`, told with the node's name.
fn in_node(e: Error, node: &'static str, index: usize) -> Error {
    match e {
        Error::BadPhysRange { start, size, reason } => Error::DtbRange { node, index, start, size, reason },
        other => other,
    }
}

fn is_disabled(node: FdtNode<'_, '_>) -> bool {
    node.property("status").is_some_and(|p| p.value.strip_suffix(b"\0").unwrap_or(p.value) == b"disabled")
}

fn has(node: FdtNode<'_, '_>, name: &str) -> bool {
    node.property(name).is_some()
}

fn base_name<'a>(node: &FdtNode<'_, 'a>) -> &'a str {
    node.name.split('@').next().unwrap_or(node.name)
}

impl<'a> DeviceTree<'a> {
    /// Reads the memory map of the flattened device tree in `blob`. If
    /// `blob_pa` says where the blob lies in physical memory, its pages are
    /// reserved too. A tree without usable RAM is [`Error::DtbNoRam`], saying
    /// whether it has no memory node, only disabled ones, or only entries too
    /// small for a page; a range that wraps or ends above 2^56 is
    /// [`Error::DtbRange`], naming the node.
    pub fn parse(blob: &'a [u8], blob_pa: Option<u64>) -> Result<DeviceTree<'a>, Error> {
        let total_size = dtb_check::check(blob)?;
        let fdt = Fdt::new(blob)
            .map_err(|_| Error::DtbMalformed { offset: 0, reason: "rejected by the fdt crate" })?;
        // The structural check proved there is exactly one root.
        let root = fdt.all_nodes().next().ok_or(Error::DtbMalformed { offset: 0, reason: "no root node" })?;
        let root_cells = cells(root);
        let mut map = MemoryMap::new();
        let mut bootargs = None;
        let mut initrd = None;
        let (mut n_memory, mut n_reserved) = (0, 0);
        let (mut n_disabled, mut n_entries) = (0, 0);

        for node in root.children() {
            let is_memory = node
                .property("device_type")
                .is_some_and(|p| p.value.strip_suffix(b"\0").unwrap_or(p.value) == b"memory");
            if is_memory {
                n_memory += 1;
                if is_disabled(node) {
                    n_disabled += 1;
                    continue;
                }
                let reg = node.property("linux,usable-memory").or_else(|| node.property("reg"));
                let reg = reg.ok_or(node_err("/memory", n_memory, "has no reg"))?;
                each_reg(reg.value, root_cells, "/memory", n_memory, |base, size| {
                    n_entries += 1;
                    map.add_ram(base, size)
                })?;
            } else if node.name == "reserved-memory" {
                let cells = cells(node);
                for child in node.children() {
                    n_reserved += 1;
                    if is_disabled(child) {
                        continue;
                    }
                    let Some(reg) = child.property("reg") else {
                        map.notice(Notice::DynamicReservation);
                        continue;
                    };
                    let (no_map, reusable) = (has(child, "no-map"), has(child, "reusable"));
                    let kind = match (no_map, reusable) {
                        (true, _) => ReserveKind::NoMap,
                        (false, true) => ReserveKind::Reusable,
                        (false, false) => ReserveKind::Reserved,
                    };
                    each_reg(reg.value, cells, "/reserved-memory/*", n_reserved, |base, size| {
                        if no_map && reusable && size != 0 {
                            map.notice(Notice::NoMapAndReusable { range: PhysRange::new(base, size)? });
                        }
                        map.reserve(base, size, kind, ReservedBy::ReservedMemoryNode)
                    })?;
                }
            } else if base_name(&node) == "chosen" {
                if let Some(p) = node.property("bootargs") {
                    let text = p.value.strip_suffix(b"\0").unwrap_or(p.value);
                    let text = core::str::from_utf8(text)
                        .map_err(|_| node_err("/chosen", 1, "bootargs is not UTF-8 text"))?;
                    bootargs = Some(text);
                }
                initrd = chosen_initrd(node)?;
            }
        }

        for (i, (address, size)) in dtb_check::memory_reservations(blob).enumerate() {
            map.reserve(address, size, ReserveKind::Reserved, ReservedBy::MemReserve)
                .map_err(|e| in_node(e, "/memreserve/", i + 1))?;
        }
        if let Some(range) = initrd {
            map.reserve(range.start_u64(), range.size(), ReserveKind::Reserved, ReservedBy::Initrd)?;
        }
        if let Some(pa) = blob_pa {
            map.reserve(pa, total_size as u64, ReserveKind::Reserved, ReservedBy::DeviceTree)?;
        }
        if map.banks().is_empty() {
            return Err(Error::DtbNoRam { memory_nodes: n_memory, disabled: n_disabled, entries: n_entries });
        }
        Ok(DeviceTree { map, bootargs, initrd, total_size })
    }
}

/// The initrd range from `/chosen`, if both ends are given and it is not empty.
fn chosen_initrd(chosen: FdtNode<'_, '_>) -> Result<Option<PhysRange>, Error> {
    let read = |name| -> Result<Option<u64>, Error> {
        match chosen.property(name) {
            None => Ok(None),
            Some(p) if p.value.len() == 4 || p.value.len() == 8 => Ok(read_cells(p.value)),
            Some(_) => Err(node_err("/chosen", 1, "linux,initrd-start/end must be one or two cells")),
        }
    };
    match (read("linux,initrd-start")?, read("linux,initrd-end")?) {
        (Some(start), Some(end)) if end > start => {
            PhysRange::from_bounds(start, end).map(Some).map_err(|e| in_node(e, "/chosen", 1))
        }
        (Some(start), Some(end)) if end == start => Ok(None),
        (Some(_), Some(_)) => Err(node_err("/chosen", 1, "linux,initrd-end lies below linux,initrd-start")),
        (None, None) => Ok(None),
        _ => Err(node_err("/chosen", 1, "only one of linux,initrd-start and linux,initrd-end is given")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phys::memory_map::Reservation;

    const VIRT_1G: &[u8] = include_bytes!("../../tests/data/qemu-virt-1g.dtb");
    const VIRT_1537M: &[u8] = include_bytes!("../../tests/data/qemu-virt-1537m.dtb");
    const VIRT_8G: &[u8] = include_bytes!("../../tests/data/qemu-virt-8g.dtb");
    const VIRT_NUMA2: &[u8] = include_bytes!("../../tests/data/qemu-virt-numa2.dtb");
    const VIRT_NUMA4: &[u8] = include_bytes!("../../tests/data/qemu-virt-numa4.dtb");
    const VIRT_INITRD: &[u8] = include_bytes!("../../tests/data/qemu-virt-initrd.dtb");
    const HAND_GAPS: &[u8] = include_bytes!("../../tests/data/hand-gaps.dtb");
    const HAND_CELLS32: &[u8] = include_bytes!("../../tests/data/hand-cells32.dtb");
    const HAND_NO_MEMORY: &[u8] = include_bytes!("../../tests/data/hand-no-memory.dtb");
    const HAND_BAD_REG: &[u8] = include_bytes!("../../tests/data/hand-bad-reg.dtb");
    const HAND_NO_MEMORY_NODE: &[u8] = include_bytes!("../../tests/data/hand-no-memory-node.dtb");
    const HAND_TINY_BANKS: &[u8] = include_bytes!("../../tests/data/hand-tiny-banks.dtb");
    const HAND_WRAPPING_BANK: &[u8] = include_bytes!("../../tests/data/hand-wrapping-bank.dtb");
    const HAND_MEMRESERVE_HIGH: &[u8] = include_bytes!("../../tests/data/hand-memreserve-high.dtb");
    const HAND_MEMRESERVE_WIDE: &[u8] = include_bytes!("../../tests/data/hand-memreserve-wide.dtb");

    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange::from_bounds(start, end).unwrap()
    }

    fn res(start: u64, end: u64, kind: ReserveKind, by: ReservedBy) -> Reservation {
        Reservation { range: r(start, end), kind, by }
    }

    #[test]
    fn qemu_virt_single_bank_sizes() {
        for (blob, size) in [(VIRT_1G, 1u64 << 30), (VIRT_1537M, 1537 << 20), (VIRT_8G, 8 << 30)] {
            let dt = DeviceTree::parse(blob, None).unwrap();
            assert_eq!(dt.map.banks(), &[r(0x8000_0000, 0x8000_0000 + size)]);
            assert!(dt.map.reservations().is_empty());
            assert!(dt.map.notices().is_empty());
            assert_eq!(dt.bootargs, None);
            assert_eq!(dt.total_size, blob.len());
        }
    }

    #[test]
    fn qemu_numa_nodes_touch_and_merge() {
        let dt = DeviceTree::parse(VIRT_NUMA2, None).unwrap();
        assert_eq!(dt.map.banks(), &[r(0x8000_0000, 0x8000_0000 + (1537 << 20))]);
        let dt = DeviceTree::parse(VIRT_NUMA4, None).unwrap();
        assert_eq!(dt.map.banks(), &[r(0x8000_0000, 0x8000_0000 + (6 << 30))]);
        assert!(dt.map.notices().is_empty(), "touching is normal, not worth a notice");
    }

    #[test]
    fn qemu_initrd_bootargs_and_the_blob_itself_are_read_and_reserved() {
        let dt = DeviceTree::parse(VIRT_INITRD, Some(0xbfe0_0000)).unwrap();
        assert_eq!(dt.bootargs, Some("console=ttyS0 no4lvl"));
        assert_eq!(dt.initrd, Some(r(0xa020_0000, 0xa024_93e0)));
        let dtb_end = (0xbfe0_0000 + VIRT_INITRD.len() as u64).next_multiple_of(4096);
        assert_eq!(
            dt.map.reservations(),
            &[
                res(0xa020_0000, 0xa024_a000, ReserveKind::Reserved, ReservedBy::Initrd),
                res(0xbfe0_0000, dtb_end, ReserveKind::Reserved, ReservedBy::DeviceTree),
            ]
        );
    }

    #[test]
    fn hand_made_gaps_every_reservation_kind() {
        let dt = DeviceTree::parse(HAND_GAPS, None).unwrap();
        let m = &dt.map;
        assert_eq!(
            m.banks(),
            &[
                r(0x8000_0000, 0x9000_0000),
                r(0xa000_0000, 0xb000_0000),
                r(0x1_0000_0000, 0x1_4000_0000),
                r(0x2_0000_1000, 0x2_0fff_f000),
            ]
        );
        assert_eq!(
            m.reservations(),
            &[
                res(0x8000_0000, 0x8004_0000, ReserveKind::NoMap, ReservedBy::ReservedMemoryNode),
                res(0x8010_0000, 0x8010_1000, ReserveKind::Reserved, ReservedBy::MemReserve),
                res(0x8800_0000, 0x8810_0000, ReserveKind::Reserved, ReservedBy::Initrd),
                res(0xa800_0000, 0xac00_0000, ReserveKind::Reusable, ReservedBy::ReservedMemoryNode),
                res(0x1_3ff0_0000, 0x1_4000_0000, ReserveKind::Reserved, ReservedBy::ReservedMemoryNode),
            ]
        );
        assert_eq!(dt.bootargs, Some("console=ttyS0 nokaslr"));
        assert!(matches!(m.notices()[0], Notice::BankTrimmed { .. }));
        assert!(m.notices().contains(&Notice::DynamicReservation));
    }

    #[test]
    fn hand_made_one_cell_overlaps_and_usable_memory() {
        let dt = DeviceTree::parse(HAND_CELLS32, None).unwrap();
        assert_eq!(dt.map.banks(), &[r(0x4000_0000, 0x6800_0000), r(0x8000_0000, 0x8800_0000)]);
        assert_eq!(dt.map.notices(), &[Notice::BanksOverlap { overlap: r(0x5800_0000, 0x6000_0000) }]);
        assert_eq!(dt.initrd, Some(r(0x4800_0000, 0x4801_0000)));
        assert_eq!(dt.map.reservation_at(0x5ff0_0000).map(|r| r.kind), Some(ReserveKind::NoMap));
    }

    #[test]
    fn trees_without_ram_or_with_bad_reg_are_refused() {
        let no_ram = DeviceTree::parse(HAND_NO_MEMORY, None).unwrap_err();
        assert_eq!(no_ram, Error::DtbNoRam { memory_nodes: 1, disabled: 1, entries: 0 });
        assert_eq!(
            no_ram.to_string(),
            "the device tree's memory nodes (1) are all disabled (status = \"disabled\")"
        );
        assert_eq!(
            DeviceTree::parse(HAND_BAD_REG, None).map(|_| ()),
            Err(Error::DtbNode {
                node: "/memory",
                index: 1,
                reason: "reg is empty or not a whole number of (address, size) entries"
            })
        );
    }

    /// Trees without usable RAM say which of three reasons it is; ranges that
    /// cannot be physical name their node and their numbers.
    #[test]
    fn refusals_name_the_real_reason_and_the_node() {
        let err = |blob: &[u8]| DeviceTree::parse(blob, None).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            err(HAND_NO_MEMORY_NODE),
            "the device tree has no memory node (no child of / has device_type = \"memory\")"
        );
        assert_eq!(
            err(HAND_TINY_BANKS),
            "the device tree's 1 enabled memory node(s) hold no whole 4 KiB page: each of their 2 reg entries is empty or smaller than a page"
        );
        assert_eq!(
            err(HAND_WRAPPING_BANK),
            "device tree node /memory (number 1 in the tree): range of 0x2000 bytes at 0xfffffffffffff000 refused: it wraps past 2^64"
        );
        assert_eq!(
            err(HAND_MEMRESERVE_HIGH),
            "device tree node /memreserve/ (number 2 in the tree): range of 0x1000 bytes at 0x100000000000000 refused: it ends above the 56-bit physical address space"
        );
    }

    /// `/memreserve/` entries are 64-bit in the blob and stay 64-bit, whatever
    /// the width of `usize` (the `fdt` crate's accessors would cut them to 32
    /// bits on a 32-bit target).
    #[test]
    fn memreserve_entries_are_read_as_64_bit_values() {
        let pairs: Vec<_> = dtb_check::memory_reservations(HAND_MEMRESERVE_WIDE).collect();
        assert_eq!(pairs, vec![(0x8010_0000, 0x1000), (0x10_8000_2000, 0x1_0000_0000)]);
        let dt = DeviceTree::parse(HAND_MEMRESERVE_WIDE, None).unwrap();
        let wide = res(0x10_8000_2000, 0x11_8000_2000, ReserveKind::Reserved, ReservedBy::MemReserve);
        assert_eq!(dt.map.reservations()[1], wide);
    }

    #[test]
    fn broken_headers_are_refused() {
        let err = |blob: &[u8]| DeviceTree::parse(blob, None).map(|_| ()).unwrap_err();
        assert!(matches!(err(&VIRT_1G[..39]), Error::DtbMalformed { offset: 0, .. }));
        let mut bad = VIRT_1G.to_vec();
        bad[0] = 0;
        assert_eq!(
            err(&bad),
            Error::DtbMalformed { offset: 0, reason: "bad magic (not a flattened device tree)" }
        );
        assert!(matches!(err(&VIRT_1G[..VIRT_1G.len() - 1]), Error::DtbMalformed { offset: 4, .. }));
        let mut bad = VIRT_1G.to_vec();
        bad[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(err(&bad), Error::DtbMalformed { offset: 8, .. }));
    }

    /// A deterministic cousin of the fuzz target: every truncation and every
    /// single-byte corruption of real trees is an answer, never a panic.
    #[test]
    fn corruptions_never_panic() {
        for blob in [VIRT_1G, HAND_GAPS, HAND_CELLS32] {
            for len in 0..blob.len() {
                let _ = DeviceTree::parse(&blob[..len], None);
            }
            let mut copy = blob.to_vec();
            for i in 0..blob.len() {
                for x in [0xff, 0x01, 0x80] {
                    copy[i] ^= x;
                    let _ = DeviceTree::parse(&copy, None);
                    copy[i] ^= x;
                }
            }
        }
    }
}

//! Host tests of the kernel's device-tree reader (kernel/src/devicetree.rs, compiled here as
//! is), on blobs built by a small FDT writer: the bad-input paths that QEMU cannot feed the
//! kernel (OpenSBI parses the DTB first and QEMU refuses a broken `-dtb`).

#[path = "../../kernel/src/cmdline.rs"]
mod cmdline;
#[allow(dead_code)]
#[path = "../../kernel/src/devicetree.rs"]
mod devicetree;

use devicetree::{parse, DtError, Range, MAX_BANKS};
use kvas::arch::riscv::Mode;

/// Builds a flattened device tree (version 17).
#[derive(Default)]
struct Blob {
    structs: Vec<u8>,
    strings: Vec<u8>,
    reservations: Vec<(u64, u64)>,
}

impl Blob {
    fn pad(&mut self) {
        while self.structs.len() & 3 != 0 {
            self.structs.push(0);
        }
    }

    fn begin(&mut self, name: &str) -> &mut Self {
        self.structs.extend(1u32.to_be_bytes());
        self.structs.extend(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    fn end(&mut self) -> &mut Self {
        self.structs.extend(2u32.to_be_bytes());
        self
    }

    fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let off = self.strings.len() as u32;
        self.strings.extend(name.as_bytes());
        self.strings.push(0);
        self.structs.extend(3u32.to_be_bytes());
        self.structs.extend((value.len() as u32).to_be_bytes());
        self.structs.extend(off.to_be_bytes());
        self.structs.extend(value);
        self.pad();
        self
    }

    fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.prop(name, format!("{value}\0").as_bytes())
    }

    fn u32(&mut self, name: &str, value: u32) -> &mut Self {
        self.prop(name, &value.to_be_bytes())
    }

    /// `reg` with two address and two size cells.
    fn reg(&mut self, ranges: &[(u64, u64)]) -> &mut Self {
        let v: Vec<u8> =
            ranges.iter().flat_map(|(b, s)| [b.to_be_bytes(), s.to_be_bytes()].concat()).collect();
        self.prop("reg", &v)
    }

    fn cells(&mut self) -> &mut Self {
        self.u32("#address-cells", 2).u32("#size-cells", 2)
    }

    fn finish(&mut self) -> Vec<u8> {
        self.structs.extend(9u32.to_be_bytes());
        let rsv_off = 40usize;
        let rsv_len = 16 * (self.reservations.len() + 1);
        let struct_off = rsv_off + rsv_len;
        let strings_off = struct_off + self.structs.len();
        let total = strings_off + self.strings.len();
        let mut out = Vec::with_capacity(total);
        for v in [
            0xd00d_feed,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ] {
            out.extend(u32::to_be_bytes(v));
        }
        for (b, s) in self.reservations.iter().chain(std::iter::once(&(0, 0))) {
            out.extend(b.to_be_bytes());
            out.extend(s.to_be_bytes());
        }
        out.extend(&self.structs);
        out.extend(&self.strings);
        out
    }
}

/// A tree shaped like QEMU virt's, with `banks` as memory nodes and `mmu` per hart.
fn virt(banks: &[(u64, u64)], mmu: &[&str], bootargs: Option<&str>) -> Vec<u8> {
    let mut b = Blob::default();
    b.begin("").cells();
    for (i, bank) in banks.iter().enumerate() {
        b.begin(&format!("memory@{i:x}")).str("device_type", "memory").reg(&[*bank]).end();
    }
    b.begin("reserved-memory").cells().prop("ranges", &[]);
    b.begin("mmode_resv0@80000000").reg(&[(0x8000_0000, 0x40000)]).prop("no-map", &[]).end();
    b.begin("cma@90000000").reg(&[(0x9000_0000, 0x100_0000)]).prop("reusable", &[]).end();
    b.begin("plain@91000000").reg(&[(0x9100_0000, 0x1000)]).end();
    b.end();
    b.begin("chosen");
    if let Some(args) = bootargs {
        b.str("bootargs", args);
    }
    b.end();
    b.begin("cpus").u32("#address-cells", 1).u32("#size-cells", 0);
    for (i, m) in mmu.iter().enumerate() {
        b.begin(&format!("cpu@{i}")).str("device_type", "cpu").u32("reg", i as u32).str("mmu-type", m).end();
    }
    b.end();
    b.begin("soc").cells();
    b.begin("test@100000")
        .prop("compatible", b"sifive,test1\0sifive,test0\0syscon\0")
        .reg(&[(0x10_0000, 0x1000)]);
    b.end().end();
    b.end();
    b.reservations.push((0x9f00_0000, 0x2000));
    b.finish()
}

fn parse_blob(blob: &[u8]) -> Result<devicetree::BootInfo, DtError> {
    // SAFETY: the blob is a live, readable buffer for the whole call.
    unsafe { parse(blob.as_ptr() as u64) }
}

#[test]
fn reads_banks_cmdline_caps_and_finisher() {
    let blob = virt(
        &[(0x8000_0000, 0x1000_0000), (0xc000_0000, 0x4000_0000)],
        &["riscv,sv48", "riscv,sv39"],
        Some("quiet no5lvl hold"),
    );
    let info = parse_blob(&blob).unwrap();
    assert_eq!(
        info.banks(),
        &[Range { base: 0x8000_0000, size: 0x1000_0000 }, Range { base: 0xc000_0000, size: 0x4000_0000 }]
    );
    assert!(info.cmdline.no5lvl && info.cmdline.hold && !info.cmdline.no4lvl && !info.cmdline.nokaslr);
    assert_eq!(info.mmu_cap, Some(Mode::Sv39), "the shallowest hart caps the mode");
    assert_eq!(info.finisher, Some(0x10_0000));
    assert_eq!(info.dtb.size, blob.len() as u64);
}

#[test]
fn no_bootargs_and_no_mmu_type_mean_no_caps() {
    let info = parse_blob(&virt(&[(0x8000_0000, 0x1000_0000)], &[], None)).unwrap();
    assert_eq!(info.cmdline, cmdline::Cmdline::default());
    assert_eq!(info.mmu_cap, None);
}

#[test]
fn a_blob_that_does_not_parse_is_an_error_naming_its_address() {
    let mut blob = virt(&[(0x8000_0000, 0x1000_0000)], &["riscv,sv57"], None);
    blob[0] = 0;
    let e = parse_blob(&blob).unwrap_err();
    assert!(matches!(e, DtError::Parse(..)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("does not parse") && msg.contains(&format!("{:#x}", blob.as_ptr() as u64)), "{msg}");
    // SAFETY: as in parse_blob.
    assert_eq!(unsafe { devicetree::finisher(blob.as_ptr() as u64) }, None);
}

#[test]
fn no_memory_node_is_an_error() {
    let blob = virt(&[], &["riscv,sv57"], None);
    let e = parse_blob(&blob).unwrap_err();
    assert!(matches!(e, DtError::NoMemory), "{e:?}");
    assert!(e.to_string().contains("no memory node"));
    // The finisher is still found, so the failing power-off can say so.
    // SAFETY: as in parse_blob.
    assert_eq!(unsafe { devicetree::finisher(blob.as_ptr() as u64) }, Some(0x10_0000));
}

#[test]
fn too_many_banks_is_an_error_not_a_truncation() {
    let banks: Vec<_> = (0..=MAX_BANKS as u64).map(|i| (0x8000_0000 + (i << 30), 1 << 20)).collect();
    let e = parse_blob(&virt(&banks, &["riscv,sv57"], None)).unwrap_err();
    assert!(matches!(e, DtError::TooMany("RAM banks", MAX_BANKS)), "{e:?}");
    assert!(parse_blob(&virt(&banks[..MAX_BANKS], &["riscv,sv57"], None)).is_ok());
}

#[test]
fn a_hart_without_paging_is_an_error() {
    let e = parse_blob(&virt(&[(0x8000_0000, 1 << 28)], &["riscv,none"], None)).unwrap_err();
    assert!(matches!(e, DtError::NoMmu), "{e:?}");
}

#[test]
fn cmdline_dtb_address_word() {
    let c = cmdline::Cmdline::parse("no5lvl kvas.dtb=0x88000000 hold");
    assert_eq!(c.dtb_at, Some(0x8800_0000));
    assert!(c.no5lvl && c.hold);
    assert_eq!(cmdline::Cmdline::parse("kvas.dtb=2281701376").dtb_at, Some(0x8800_0000));
    assert_eq!(cmdline::Cmdline::parse("kvas.dtb=0xzz").dtb_at, None);
    assert_eq!(cmdline::Cmdline::parse("kvas.dtbx=0x1 dtb=0x1").dtb_at, None);
}

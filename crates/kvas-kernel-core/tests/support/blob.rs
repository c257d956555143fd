//! A small flattened-device-tree (version 17) writer for the host tests: the bad-input
//! blobs QEMU cannot feed the kernel, and trees with exactly the properties a test needs.
#![allow(dead_code)] // Each test binary uses the part it needs.

/// Builds a flattened device tree (version 17).
#[derive(Default)]
pub struct Blob {
    structs: Vec<u8>,
    strings: Vec<u8>,
    pub reservations: Vec<(u64, u64)>,
}

impl Blob {
    pub fn pad(&mut self) {
        while self.structs.len() & 3 != 0 {
            self.structs.push(0);
        }
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.structs.extend(1u32.to_be_bytes());
        self.structs.extend(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.structs.extend(2u32.to_be_bytes());
        self
    }

    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
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

    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.prop(name, format!("{value}\0").as_bytes())
    }

    pub fn u32(&mut self, name: &str, value: u32) -> &mut Self {
        self.prop(name, &value.to_be_bytes())
    }

    /// `reg` with two address and two size cells.
    pub fn reg(&mut self, ranges: &[(u64, u64)]) -> &mut Self {
        let v: Vec<u8> =
            ranges.iter().flat_map(|(b, s)| [b.to_be_bytes(), s.to_be_bytes()].concat()).collect();
        self.prop("reg", &v)
    }

    pub fn cells(&mut self) -> &mut Self {
        self.u32("#address-cells", 2).u32("#size-cells", 2)
    }

    pub fn finish(&mut self) -> Vec<u8> {
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

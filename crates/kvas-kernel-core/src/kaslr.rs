//! KASLR's pure logic, as Linux riscv64 does it (`setup_vm`, `arch/riscv/kernel/pi/`): where
//! the seed comes from, and which 2 MiB-aligned offset of the kernel's virtual base it gives.
//!
//! - The seed: the Zkr `seed` CSR when every available hart lists `zkr` in its
//!   `riscv,isa-extensions` (or its `riscv,isa` string) — [`DtSeeds::zkr`], read with the
//!   rest of the tree by [`crate::bootinfo::read`] — then [`zkr_seed`] over the CSR reads; else `/chosen/kaslr-seed` (exactly 8 bytes, zeroed by
//!   the kernel after use, as Linux does); else `/chosen/rng-seed` (any length, folded into
//!   64 bits; zeroed too, as Linux removes it once read). A seed of 0 is no seed.
//! - The offset: `(seed % nr_pos) * 2 MiB` with `nr_pos = (1 GiB - kernel_size) / 2 MiB`
//!   ([`offset`]): the image stays inside the one 1 GiB PUD of the early tables, so the
//!   kernel lies in `[KERNEL_LINK_ADDR, KERNEL_LINK_ADDR + 1 GiB - kernel_size]`.
//! - `nokaslr`, or no seed at all: offset 0, the link address.
//!
//! The kernel (kernel/src/boot/kaslr.rs) adds the machine: the CSR itself, and the stores
//! that zero the property in the blob at the byte range [`SeedProp::bytes`] names.

use core::ops::Range;

use fdt::node::FdtNode;
use kvas::sizes::{SZ_1G, SZ_2M};

/// The KASLR step (Linux's `PMD_SIZE`): every offset is a multiple of it.
pub const KASLR_ALIGN: u64 = SZ_2M;

/// The span the image may move in (Linux's `PUD_SIZE`: the early tables' one PUD).
pub const KASLR_SPAN: u64 = SZ_1G;

/// How many reads of the `seed` CSR [`zkr_seed`] makes at most (Linux's `SEED_RETRY_LOOPS`).
pub const SEED_RETRY_LOOPS: usize = 100;

/// Where the seed came from: the word the serial contract prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedSource {
    /// The Zkr `seed` CSR.
    Zkr,
    /// `/chosen/kaslr-seed`.
    KaslrSeed,
    /// `/chosen/rng-seed`.
    RngSeed,
    /// No seed (or `nokaslr`): the image stays at its link address.
    None,
}

impl SeedSource {
    /// `zkr`, `kaslr-seed`, `rng-seed` or `none`.
    pub const fn name(self) -> &'static str {
        match self {
            SeedSource::Zkr => "zkr",
            SeedSource::KaslrSeed => "kaslr-seed",
            SeedSource::RngSeed => "rng-seed",
            SeedSource::None => "none",
        }
    }
}

/// Linux's `nr_pos`: how many 2 MiB positions an image of `kernel_size` bytes has in the
/// 1 GiB span (0 if it does not fit).
pub const fn positions(kernel_size: u64) -> u64 {
    KASLR_SPAN.saturating_sub(kernel_size) / KASLR_ALIGN
}

/// The largest offset an image of `kernel_size` bytes can get (0 if it has one position or
/// none).
pub const fn max_offset(kernel_size: u64) -> u64 {
    positions(kernel_size).saturating_sub(1) * KASLR_ALIGN
}

/// The offset `seed` gives an image of `kernel_size` bytes: `(seed % nr_pos) * 2 MiB`
/// (0 when the image has no position to move to).
pub const fn offset(seed: u64, kernel_size: u64) -> u64 {
    match positions(kernel_size) {
        0 => 0,
        n => (seed % n) * KASLR_ALIGN,
    }
}

/// A seed property of `/chosen`: its value, and where its bytes lie in the blob (what the
/// kernel zeroes after use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedProp {
    /// The seed (0: the property holds no seed).
    pub seed: u64,
    /// The property's value, as a byte range of the blob.
    pub bytes: Range<usize>,
}

/// What the device tree offers KASLR.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DtSeeds {
    /// Every available hart has Zkr (so the `seed` CSR may be read).
    pub zkr: bool,
    /// `/chosen/kaslr-seed`, if it is exactly 8 bytes (Linux ignores any other length).
    pub kaslr_seed: Option<SeedProp>,
    /// `/chosen/rng-seed`, if it is not empty.
    pub rng_seed: Option<SeedProp>,
}

/// The seed KASLR uses, and the device-tree bytes to zero now that it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The seed (0 with [`SeedSource::None`]).
    pub seed: u64,
    /// Where it came from.
    pub source: SeedSource,
    /// The property the seed came from, to be zeroed (Linux zeroes `kaslr-seed`).
    pub zero: Option<Range<usize>>,
}

impl Choice {
    /// The offset of an image of `kernel_size` bytes.
    pub const fn offset(&self, kernel_size: u64) -> u64 {
        offset(self.seed, kernel_size)
    }
}

/// Chooses the seed: none under `nokaslr` (the command line's, [`crate::cmdline::Cmdline`]),
/// and then no source is even read, as Linux; else the Zkr seed `read_zkr` gives (called only
/// when `dt.zkr`: the `seed` CSR traps on a hart without Zkr), else `kaslr-seed`, else
/// `rng-seed`, each only if not 0.
pub fn choose(nokaslr: bool, dt: &DtSeeds, read_zkr: impl FnOnce() -> Option<u64>) -> Choice {
    let none = Choice { seed: 0, source: SeedSource::None, zero: None };
    if nokaslr {
        return none;
    }
    if let Some(seed) = dt.zkr.then(read_zkr).flatten().filter(|&s| s != 0) {
        return Choice { seed, source: SeedSource::Zkr, zero: None };
    }
    for (prop, source) in [(&dt.kaslr_seed, SeedSource::KaslrSeed), (&dt.rng_seed, SeedSource::RngSeed)] {
        if let Some(p) = prop.as_ref().filter(|p| p.seed != 0) {
            return Choice { seed: p.seed, source, zero: Some(p.bytes.clone()) };
        }
    }
    none
}

/// What one read of the `seed` CSR says (its `OPST` field, bits 31:30).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedRead {
    /// `ES16`: 16 bits of entropy (bits 15:0).
    Entropy(u16),
    /// `BIST` or `WAIT`: nothing yet, read again.
    Retry,
    /// `DEAD`: the source has failed; no seed.
    Dead,
}

impl SeedRead {
    /// Decodes a value read from the `seed` CSR.
    pub const fn decode(csr: u64) -> Self {
        match (csr >> 30) & 3 {
            0b10 => SeedRead::Entropy(csr as u16),
            0b11 => SeedRead::Dead,
            _ => SeedRead::Retry,
        }
    }
}

/// A 64-bit seed from four 16-bit `ES16` reads of the `seed` CSR (`read` makes one read),
/// in at most [`SEED_RETRY_LOOPS`] reads; `None` if the source is dead or too slow.
pub fn zkr_seed(mut read: impl FnMut() -> u64) -> Option<u64> {
    let (mut seed, mut got) = (0u64, 0);
    for _ in 0..SEED_RETRY_LOOPS {
        match SeedRead::decode(read()) {
            SeedRead::Entropy(bits) => {
                seed |= (bits as u64) << (16 * got);
                got += 1;
                if got == 4 {
                    return Some(seed);
                }
            }
            SeedRead::Retry => {}
            SeedRead::Dead => return None,
        }
    }
    None
}

/// Whether an ISA string (`rv64imafdc_zicsr_zkr`) names `ext`: a single letter among the
/// letters after `rv32`/`rv64`, or a multi-letter extension between underscores, with or
/// without a version number (Linux's `isa_string_contains`; case-insensitive).
pub fn isa_string_contains(isa: &[u8], ext: &str) -> bool {
    let ext = ext.as_bytes();
    let isa = isa.strip_suffix(b"\0").unwrap_or(isa);
    if isa.len() < 4 || ext.is_empty() {
        return false;
    }
    let multi = |b: &u8| matches!(b.to_ascii_lowercase(), b's' | b'x' | b'z');
    let singles_end = isa.iter().position(multi).unwrap_or(isa.len());
    if let [letter] = ext {
        return isa.get(4..singles_end).is_some_and(|s| s.iter().any(|b| b.to_ascii_lowercase() == *letter));
    }
    isa[singles_end..].split(|&b| b == b'_').any(|word| {
        word.len() >= ext.len()
            && word[..ext.len()].eq_ignore_ascii_case(ext)
            && word[ext.len()..].iter().all(|b| b.is_ascii_digit() || *b == b'p')
    })
}

/// Whether a string list property (`"i\0m\0zkr\0"`) holds `ext` exactly.
pub fn stringlist_contains(list: &[u8], ext: &str) -> bool {
    list.split(|&b| b == 0).any(|s| s == ext.as_bytes())
}

/// Folds any number of bytes into 64 bits: the XOR of their big-endian 8-byte words (the
/// last one zero-padded).
pub fn fold(bytes: &[u8]) -> u64 {
    bytes.chunks(8).fold(0, |acc, chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        acc ^ u64::from_be_bytes(word)
    })
}

/// Whether a hart's node lists `ext` in `riscv,isa-extensions` or its `riscv,isa` string
/// (Linux's `early_cpu_isa_ext_available`).
pub(crate) fn hart_has(cpu: &FdtNode<'_, '_>, ext: &str) -> bool {
    cpu.property("riscv,isa-extensions").is_some_and(|p| stringlist_contains(p.value, ext))
        || cpu.property("riscv,isa").is_some_and(|p| isa_string_contains(p.value, ext))
}

/// What the device tree in `blob` (already checked and parsed) offers KASLR, with `chosen`
/// its `/chosen` node and `harts` its available harts' nodes: part of
/// [`crate::bootinfo::read`], which walks the tree once for everything boot needs
/// ([`crate::bootinfo::BootInfo::seeds`]). Zkr needs every available hart to have it (Linux's
/// `fdt_early_match_extension_isa`), and at least one hart.
pub(crate) fn dt_seeds<'b, 'a: 'b>(
    blob: &[u8],
    chosen: Option<FdtNode<'b, 'a>>,
    mut harts: impl Iterator<Item = FdtNode<'b, 'a>>,
) -> DtSeeds {
    let mut out = DtSeeds::default();
    let mut any = false;
    out.zkr = harts.all(|cpu| {
        any = true;
        hart_has(&cpu, "zkr")
    }) && any;
    let Some(chosen) = chosen else { return out };
    // Where a property's value lies in the blob: the `fdt` crate hands out sub-slices of it.
    let base = blob.as_ptr() as usize;
    let bytes = |v: &[u8]| {
        let start = v.as_ptr() as usize - base;
        start..start + v.len()
    };
    if let Some(p) = chosen.property("kaslr-seed").filter(|p| p.value.len() == 8) {
        out.kaslr_seed = Some(SeedProp { seed: fold(p.value), bytes: bytes(p.value) });
    }
    if let Some(p) = chosen.property("rng-seed").filter(|p| !p.value.is_empty()) {
        out.rng_seed = Some(SeedProp { seed: fold(p.value), bytes: bytes(p.value) });
    }
    out
}

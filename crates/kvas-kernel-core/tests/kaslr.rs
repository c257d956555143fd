//! Host tests of KASLR's pure logic (src/kaslr.rs): Linux's range and step for the image
//! size, the seed's sources in order, the Zkr CSR's states, the ISA strings, and the seed
//! properties found in a blob (where the kernel zeroes them) by the boot-info reader.

use kvas_kernel_core::bootinfo;
use kvas_kernel_core::kaslr::{
    self, choose, fold, isa_string_contains, max_offset, offset, positions, stringlist_contains, zkr_seed,
    SeedProp, SeedRead, SeedSource, KASLR_ALIGN,
};

mod support;
use support::blob::Blob;

/// What the boot-info reader finds for KASLR in `blob` (it must read).
fn dt_seeds(blob: &[u8]) -> kaslr::DtSeeds {
    bootinfo::read(blob, 0x8800_0000).expect("the test tree reads").seeds
}

/// A tree with a memory node, harts with `isa` (`(isa-extensions, isa string, status)`)
/// and `/chosen` with `chosen`'s properties.
fn tree(harts: &[(Option<&str>, Option<&str>, Option<&str>)], chosen: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = Blob::default();
    b.begin("");
    b.prop("#address-cells", &2u32.to_be_bytes()).prop("#size-cells", &2u32.to_be_bytes());
    b.begin("chosen");
    for (name, value) in chosen {
        b.prop(name, value);
    }
    b.end();
    b.begin("memory@80000000").str("device_type", "memory");
    b.prop("reg", &[0x8000_0000u64.to_be_bytes(), (512u64 << 20).to_be_bytes()].concat()).end();
    b.begin("cpus");
    b.prop("#address-cells", &1u32.to_be_bytes()).prop("#size-cells", &0u32.to_be_bytes());
    for (i, (exts, isa, status)) in harts.iter().enumerate() {
        b.begin(&format!("cpu@{i}")).str("device_type", "cpu");
        if let Some(e) = exts {
            b.prop("riscv,isa-extensions", format!("{}\0", e.replace(' ', "\0")).as_bytes());
        }
        if let Some(s) = isa {
            b.str("riscv,isa", s);
        }
        if let Some(s) = status {
            b.str("status", s);
        }
        b.end();
    }
    b.end().end();
    b.finish()
}

#[test]
fn range_and_step_follow_the_image_size() {
    // (1 GiB - 0x8a000) / 2 MiB = 511 positions, the last at 510 * 2 MiB.
    assert_eq!(positions(0x8a000), 511);
    assert_eq!(max_offset(0x8a000), 510 << 21);
    // An image of exactly 2 MiB: 511 positions; 20 MiB: 502.
    assert_eq!(positions(2 << 20), 511);
    assert_eq!(positions(20 << 20), 502);
    assert_eq!(max_offset(20 << 20), 501 << 21);
    // An image as large as the span has no position: no move, whatever the seed.
    assert_eq!(positions(1 << 30), 0);
    assert_eq!(offset(12345, 1 << 30), 0);
    assert_eq!(offset(u64::MAX, (1 << 30) - (2 << 20)), 0);
}

#[test]
fn offsets_are_seed_mod_positions_in_2mib_steps() {
    let size = 0x8a000;
    assert_eq!(offset(0, size), 0);
    assert_eq!(offset(5, size), 5 << 21);
    assert_eq!(offset(511, size), 0);
    assert_eq!(offset(515, size), 4 << 21);
    assert_eq!(offset(u64::MAX, size), (u64::MAX % 511) << 21);
    for seed in [1u64, 7, 0xdead_beef, 0x1234_5678_9abc_def1, u64::MAX] {
        for size in [0x8a000u64, 20 << 20, 100 << 20, (1 << 30) - 4096] {
            let o = offset(seed, size);
            assert_eq!(o % KASLR_ALIGN, 0, "seed {seed:#x} size {size:#x}: {o:#x}");
            assert!(o <= max_offset(size), "seed {seed:#x} size {size:#x}: {o:#x}");
            // The image stays in the 1 GiB span.
            assert!(o + size <= 1 << 30);
        }
    }
}

fn prop(seed: u64, at: usize) -> Option<SeedProp> {
    Some(SeedProp { seed, bytes: at..at + 8 })
}

#[test]
fn seeds_in_linuxs_order_and_zero_is_no_seed() {
    let dt = kaslr::DtSeeds { zkr: true, kaslr_seed: prop(7, 100), rng_seed: prop(9, 200) };
    let c = choose(false, &dt, || Some(3));
    assert_eq!((c.seed, c.source, c.zero), (3, SeedSource::Zkr, None));
    let c = choose(false, &dt, || None);
    assert_eq!((c.seed, c.source, c.zero), (7, SeedSource::KaslrSeed, Some(100..108)));
    let c = choose(false, &dt, || Some(0));
    assert_eq!(c.source, SeedSource::KaslrSeed);
    let no_kaslr_seed = kaslr::DtSeeds { kaslr_seed: prop(0, 100), ..dt.clone() };
    let c = choose(false, &no_kaslr_seed, || None);
    assert_eq!((c.seed, c.source, c.zero), (9, SeedSource::RngSeed, Some(200..208)));
    let c = choose(false, &kaslr::DtSeeds::default(), || None);
    assert_eq!((c.offset(0x8a000), c.seed, c.source, c.zero), (0, 0, SeedSource::None, None));
    // nokaslr: nothing is used, nothing zeroed.
    let c = choose(true, &dt, || Some(3));
    assert_eq!((c.offset(0x8a000), c.seed, c.source, c.zero), (0, 0, SeedSource::None, None));
    assert_eq!(
        [SeedSource::Zkr, SeedSource::KaslrSeed, SeedSource::RngSeed, SeedSource::None].map(SeedSource::name),
        ["zkr", "kaslr-seed", "rng-seed", "none"]
    );
}

#[test]
fn the_seed_csr_gives_four_es16_reads() {
    const ES16: u64 = 0b10 << 30;
    const WAIT: u64 = 0b01 << 30;
    const DEAD: u64 = 0b11 << 30;
    assert_eq!(SeedRead::decode(ES16 | 0xbeef), SeedRead::Entropy(0xbeef));
    assert_eq!(SeedRead::decode(WAIT | 0xbeef), SeedRead::Retry);
    assert_eq!(SeedRead::decode(0), SeedRead::Retry);
    assert_eq!(SeedRead::decode(DEAD), SeedRead::Dead);
    // Waits in between are skipped; the first read is the low 16 bits.
    let mut reads = [ES16 | 0x1111, WAIT, ES16 | 0x2222, 0, ES16 | 0x3333, ES16 | 0x4444].into_iter();
    assert_eq!(zkr_seed(|| reads.next().unwrap()), Some(0x4444_3333_2222_1111));
    // A dead source, or one that never delivers in 100 reads: no seed.
    let mut reads = [ES16 | 1, DEAD].into_iter();
    assert_eq!(zkr_seed(|| reads.next().unwrap()), None);
    let mut n = 0;
    assert_eq!(
        zkr_seed(|| {
            n += 1;
            WAIT
        }),
        None
    );
    assert_eq!(n, kaslr::SEED_RETRY_LOOPS);
}

#[test]
fn isa_strings_and_lists() {
    assert!(isa_string_contains(b"rv64imafdc_zicsr_zkr", "zkr"));
    assert!(isa_string_contains(b"rv64imafdc_zkr1p0_zicsr\0", "zkr"));
    assert!(isa_string_contains(b"RV64IMAFDC_ZKR", "zkr"));
    assert!(!isa_string_contains(b"rv64imafdc_zkrx", "zkr"));
    assert!(!isa_string_contains(b"rv64imafdc_zk_zicsr", "zkr"));
    assert!(!isa_string_contains(b"rv64imafdc", "zkr"));
    assert!(isa_string_contains(b"rv64imafdc_zkr", "c"));
    assert!(!isa_string_contains(b"rv64imafd_zicsr", "c"), "the c of zicsr is not the C extension");
    assert!(!isa_string_contains(b"rv6", "zkr"));
    assert!(stringlist_contains(b"i\0m\0zkr\0", "zkr"));
    assert!(!stringlist_contains(b"i\0m\0zkrx\0zk\0", "zkr"));
}

#[test]
fn rng_seed_folds_every_byte() {
    assert_eq!(fold(&[]), 0);
    assert_eq!(fold(&0x0102_0304_0506_0708u64.to_be_bytes()), 0x0102_0304_0506_0708);
    assert_eq!(fold(&[0xff]), 0xff00_0000_0000_0000);
    let two = [1u64.to_be_bytes(), 3u64.to_be_bytes()].concat();
    assert_eq!(fold(&two), 2);
}

#[test]
fn seeds_and_zkr_from_a_blob() {
    let seed = 0x1122_3344_5566_7788u64.to_be_bytes();
    let rng = [0xabu8; 32];
    let zkr = (Some("i m zkr"), None, None);
    let blob = tree(&[zkr, zkr], &[("kaslr-seed", &seed), ("rng-seed", &rng)]);
    let dt = dt_seeds(&blob);
    assert!(dt.zkr);
    let k = dt.kaslr_seed.clone().unwrap();
    assert_eq!(k.seed, 0x1122_3344_5566_7788);
    // The range is the property's value in the blob: what the kernel zeroes.
    assert_eq!(&blob[k.bytes.clone()], &seed);
    let r = dt.rng_seed.clone().unwrap();
    assert_eq!((&blob[r.bytes.clone()], r.seed), (&rng[..], 0));
    // Zeroed, the blob gives no kaslr-seed: the next source is used.
    let mut zeroed = blob.clone();
    zeroed[k.bytes.clone()].fill(0);
    assert_eq!(dt_seeds(&zeroed).kaslr_seed.unwrap().seed, 0);
    let rng2: Vec<u8> = (1..=16).collect();
    let blob = tree(&[zkr], &[("kaslr-seed", &[0; 8]), ("rng-seed", &rng2)]);
    let c = choose(false, &dt_seeds(&blob), || None);
    assert_eq!((c.source, c.seed), (SeedSource::RngSeed, fold(&rng2)));
}

/// The `seed` CSR is read only when KASLR is on and every hart has Zkr: under `nokaslr` no
/// source is read at all (as Linux), and on a hart without Zkr the CSR would trap.
#[test]
fn the_seed_csr_is_read_only_when_allowed() {
    let dt = kaslr::DtSeeds { zkr: true, kaslr_seed: prop(7, 100), rng_seed: None };
    for (nokaslr, zkr, read, source) in [
        (false, true, true, SeedSource::Zkr),
        (true, true, false, SeedSource::None),
        (false, false, false, SeedSource::KaslrSeed),
        (true, false, false, SeedSource::None),
    ] {
        let mut reads = 0;
        let c = choose(nokaslr, &kaslr::DtSeeds { zkr, ..dt.clone() }, || {
            reads += 1;
            Some(5)
        });
        assert_eq!((reads > 0, c.source), (read, source), "nokaslr {nokaslr}, zkr {zkr}");
    }
}

/// Under `nokaslr` the reader does not even look for the seeds (and the boot uses none).
#[test]
fn nokaslr_reads_no_seed() {
    let seed = 5u64.to_be_bytes();
    let zkr = (Some("i m zkr"), None, None);
    let blob = tree(&[zkr], &[("bootargs", b"nokaslr\0"), ("kaslr-seed", &seed)]);
    assert_eq!(dt_seeds(&blob), kaslr::DtSeeds::default());
    let blob = tree(&[zkr], &[("bootargs", b"no5lvl\0"), ("kaslr-seed", &seed)]);
    assert_eq!(dt_seeds(&blob).kaslr_seed.map(|p| p.seed), Some(5));
}

#[test]
fn a_kaslr_seed_of_another_length_is_ignored() {
    let blob = tree(&[(Some("i zkr"), None, None)], &[("kaslr-seed", &[1, 2, 3, 4])]);
    assert_eq!(dt_seeds(&blob).kaslr_seed, None);
    let blob = tree(&[(Some("i zkr"), None, None)], &[("rng-seed", &[])]);
    assert_eq!(dt_seeds(&blob).rng_seed, None);
}

#[test]
fn zkr_only_when_every_available_hart_has_it() {
    let with = (Some("i m zkr"), None, None);
    let without = (Some("i m"), None, None);
    let by_string = (None, Some("rv64imac_zkr"), None);
    let disabled_without = (Some("i m"), None, Some("disabled"));
    assert!(dt_seeds(&tree(&[with, by_string], &[])).zkr);
    assert!(!dt_seeds(&tree(&[with, without], &[])).zkr);
    assert!(dt_seeds(&tree(&[with, disabled_without], &[])).zkr);
    assert!(!dt_seeds(&tree(&[], &[])).zkr, "no hart at all");
    assert!(!dt_seeds(&tree(&[disabled_without], &[])).zkr);
}

/// The FPU (D, which includes F) counts only when every available hart has it, from either
/// property; QEMU's rv32 harts say `rv32imafdc…`.
#[test]
fn fpu_only_when_every_available_hart_has_d() {
    let fpu = |harts: &[(Option<&str>, Option<&str>, Option<&str>)]| {
        bootinfo::read(&tree(harts, &[]), 0x8800_0000).expect("the test tree reads").fpu
    };
    let by_list = (Some("i m a f d c"), None, None);
    let by_string = (None, Some("rv32imafdch_zicsr"), None);
    let f_only = (None, Some("rv32imafc"), None);
    let no_fpu = (None, Some("rv32imac"), None);
    let disabled_without = (None, Some("rv32imac"), Some("disabled"));
    assert!(fpu(&[by_list, by_string]));
    assert!(!fpu(&[by_string, no_fpu]));
    assert!(!fpu(&[f_only]), "F without D: the kernel saves with fsd");
    assert!(!fpu(&[(None, Some("rv32imac_zdinx"), None)]), "a multi-letter extension starting with d");
    assert!(fpu(&[by_string, disabled_without]));
    assert!(!fpu(&[]), "no hart at all");
}

#[test]
fn a_broken_blob_offers_nothing() {
    assert!(bootinfo::read(b"not a device tree at all, not at all", 0x8800_0000).is_err());
    let mut blob = tree(&[(Some("zkr"), None, None)], &[("kaslr-seed", &[0, 0, 0, 0, 0, 0, 0, 5])]);
    blob.truncate(blob.len() - 10);
    assert!(bootinfo::read(&blob, 0x8800_0000).is_err());
}

/// A hart is a `/cpus` child whose `device_type` is `cpu`, for Zkr as for the mmu-type cap
/// (one definition): a `cpu-map` node or a node named `cpu@…` without that type is no hart.
#[test]
fn zkr_counts_the_harts_the_mmu_cap_counts() {
    let mut b = Blob::default();
    b.begin("");
    b.prop("#address-cells", &2u32.to_be_bytes()).prop("#size-cells", &2u32.to_be_bytes());
    b.begin("memory@80000000").str("device_type", "memory");
    b.prop("reg", &[0x8000_0000u64.to_be_bytes(), (512u64 << 20).to_be_bytes()].concat()).end();
    b.begin("cpus");
    b.begin("cpu@0").str("device_type", "cpu").str("riscv,isa", "rv64imac_zkr").str("mmu-type", "riscv,sv48");
    b.end();
    // Not a hart: no device_type, no Zkr, and an mmu-type that would cap the depth.
    b.begin("cpu@1").str("riscv,isa", "rv64imac").str("mmu-type", "riscv,sv39").end();
    b.begin("cpu-map").end();
    b.end();
    b.end();
    let info = bootinfo::read(&b.finish(), 0x8800_0000).expect("the tree reads");
    assert_eq!(info.mmu_cap, Some(kvas::arch::riscv::Mode::Sv48));
    assert!(info.seeds.zkr, "cpu@1 has no device_type: not a hart");
}

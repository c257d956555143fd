//! Arbitrary bytes → the kernel's boot-info reader (kvas_kernel_core::bootinfo), as the
//! kernel runs it with the MMU off and again through the fixmap: the header's size check,
//! the finisher lookup, the full read (kvas::phys's structural check, then the harts'
//! mmu-type and KASLR's seeds, whose byte ranges must lie in the blob) and the depth cap. Any answer is fine (most inputs are refused with an error); a
//! panic is a bug — in the kernel it would be a panic at boot.
#![no_main]

use kvas_kernel_core::bootinfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let at = 0x8800_0000;
    if let Some(header) = data.get(..8) {
        let header: [u8; 8] = header.try_into().expect("8 bytes");
        // The kernel reads only what the header's size says (and at most MAX_FDT_SIZE).
        if let Ok(size) = bootinfo::total_size(header, at) {
            let blob = &data[..size.min(data.len())];
            let _ = bootinfo::finisher(blob);
            if let Ok(info) = bootinfo::read(blob, at) {
                let _ = info.depth_cap();
                // The kernel zeroes a seed's bytes in the blob: they must be inside it.
                for p in [&info.seeds.kaslr_seed, &info.seeds.rng_seed].into_iter().flatten() {
                    assert!(p.bytes.end <= blob.len(), "seed bytes {:?} past the blob", p.bytes);
                }
                let _ = info.map.mappable().count();
            }
        }
    }
    // And the whole input, whatever its header says.
    let _ = bootinfo::finisher(data);
    let _ = bootinfo::read(data, at);
});

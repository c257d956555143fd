//! KASLR's self-tests: the image runs where boot put it, everything planned from the image
//! follows it, and the device-tree seed that placed it is gone.

use core::fmt::Write;

use kvas::VirtAddr;
use kvas_kernel_core::bootinfo;
use kvas_kernel_core::kaslr::{self, SeedSource};

use super::Reason;
use crate::boot::{dtb, KERNEL_LINK_ADDR};
use crate::kmain::Boot;
use crate::mm::{fixmap, KernelSpace};

/// Linux's `PFN_ALIGN`.
const fn pfn_align(x: u64) -> u64 {
    (x + 0xfff) & !0xfff
}

/// The image runs at `KERNEL_LINK_ADDR` + the printed offset, which is 2 MiB aligned and in
/// Linux's range for the image size; the modules window is `[PFN_ALIGN(_end) - 2 GiB,
/// PFN_ALIGN(_start))` with BPF its top 128 MiB, and the image's mapping has
/// `va_kernel_pa_offset = virt_addr - phys_addr`.
pub fn image_follows(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let off = boot.handoff.kaslr_offset;
    let size = boot.sections.end;
    if !off.is_multiple_of(kaslr::KASLR_ALIGN) || off > kaslr::max_offset(size) {
        fail!("KASLR offset {off:#x}: not 2 MiB aligned or beyond {:#x}", kaslr::max_offset(size));
    }
    let start = crate::image::start();
    if start != KERNEL_LINK_ADDR + off || start != boot.image_va() {
        fail!("the image runs at {start:#x}, not at the link address + {off:#x}");
    }
    let l = space.layout();
    if l.kaslr_offset() != off || l.kernel().start().as_u64() != start {
        fail!("the layout has offset {:#x} and kernel {:?}", l.kaslr_offset(), l.kernel());
    }
    let (m, bpf) = (l.modules_window(), l.bpf());
    if m.start().as_u64() != pfn_align(start + size) - (2 << 30) || m.end().as_u64() != pfn_align(start) {
        fail!(
            "modules window {m:?}, not [PFN_ALIGN(_end) - 2 GiB, PFN_ALIGN(_start)) for {start:#x}+{size:#x}"
        );
    }
    if bpf.end().as_u64() != pfn_align(start) || bpf.size() != 128 << 20 {
        fail!("BPF window {bpf:?} is not the top 128 MiB below the image at {start:#x}");
    }
    // va_kernel_pa_offset: any image address minus its physical address.
    let va_kernel_pa_offset = start.wrapping_sub(boot.load_pa());
    let sym = image_follows as super::Test as usize as u64;
    match space.tables().translate(VirtAddr::new(sym)) {
        Ok(tr) if sym.wrapping_sub(tr.pa.as_u64()) == va_kernel_pa_offset => Ok(()),
        other => {
            fail!("{sym:#x} translates to {other:?}: not at va_kernel_pa_offset {va_kernel_pa_offset:#x}")
        }
    }
}

/// The device-tree seed that placed the image reads 0 now (Linux zeroes `kaslr-seed`; kvas
/// `rng-seed` too): read again through the fixmap.
pub fn seed_zeroed(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let source = boot.handoff.seed_source();
    if !matches!(source, SeedSource::KaslrSeed | SeedSource::RngSeed) {
        return Ok(()); // no device-tree seed was used
    }
    let d = boot.info.dtb;
    // SAFETY: the final tables map the DTB's window read-only in the fixmap, and nothing
    // writes the blob after boot.
    let blob = unsafe { dtb::blob(fixmap::dtb_va(space.layout(), d.base), d.base) };
    let Ok(blob) = blob else { fail!("the device tree no longer reads through the fixmap") };
    let Ok(seeds) = bootinfo::read(blob, d.base).map(|i| i.seeds) else {
        fail!("the device tree no longer reads through the fixmap")
    };
    let left = match source {
        SeedSource::KaslrSeed => seeds.kaslr_seed.map(|p| p.seed),
        _ => seeds.rng_seed.map(|p| p.seed),
    };
    match left {
        Some(0) => Ok(()),
        other => fail!("/chosen/{} still holds {other:x?} after use", source.name()),
    }
}

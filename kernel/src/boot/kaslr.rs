//! KASLR with the MMU off (Linux riscv64's, `setup_vm`): chooses the seed and the offset of
//! the kernel's virtual base (the logic is `kvas_kernel_core::kaslr`'s, host-tested), reads
//! the Zkr `seed` CSR when the device tree says every hart has Zkr, and zeroes the
//! device-tree seed it used. Everything after follows the offset: the early and final
//! tables map the image at `KERNEL_LINK_ADDR + offset` (kvas::kspace's
//! `with_kaslr_offset`), the relocation before the switch moves the image's pointers there,
//! and the layout (modules window, BPF, the dump) is planned from the image's bounds.

use kvas_kernel_core::bootinfo::BootInfo;
use kvas_kernel_core::kaslr::{self, SeedSource};

use super::KERNEL_LINK_ADDR;

/// Where the image runs, virtually.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kaslr {
    /// The offset from `KERNEL_LINK_ADDR`, a multiple of 2 MiB (Linux's `kaslr_offset()`).
    pub offset: u64,
    /// Where the seed came from.
    pub source: SeedSource,
}

impl Kaslr {
    /// The image's virtual base (Linux's `kernel_map.virt_addr`).
    pub const fn virt_base(&self) -> u64 {
        KERNEL_LINK_ADDR + self.offset
    }
}

/// One read of the `seed` CSR (number 0x015), with the read-write access the Zkr
/// specification requires (a plain read traps).
fn read_seed_csr() -> u64 {
    let v: u64;
    // SAFETY: only called when the device tree says every hart has Zkr, whose `seed` CSR
    // OpenSBI opens to S-mode (mseccfg.SSEED); writing it has no effect.
    unsafe { core::arch::asm!("csrrw {}, 0x015, zero", out(reg) v) };
    v
}

/// Chooses the offset for an image of `kernel_size` bytes from what `info` (the device tree
/// just read, with the MMU off) offers, unless its command line says `nokaslr`; zeroes the
/// device-tree seed it used in the blob.
///
/// # Safety
///
/// The MMU is off, `info.dtb` is the device tree `info` was read from, in RAM, and nothing
/// else reads or writes it during the call.
pub unsafe fn choose(info: &BootInfo, kernel_size: u64) -> Kaslr {
    // The non-relocatable build (`xtask reloc-cost`, `--cfg kvas_static`) has no KASLR.
    if cfg!(kvas_static) {
        return Kaslr { offset: 0, source: SeedSource::None };
    }
    // `nokaslr` reads no seed at all (as Linux), the CSR only if every hart has Zkr.
    let choice = kaslr::choose(info.cmdline.nokaslr, &info.seeds, || kaslr::zkr_seed(read_seed_csr));
    if let Some(bytes) = choice.zero.clone().filter(|b| b.end as u64 <= info.dtb.size) {
        // SAFETY: the range lies inside the blob (bootinfo::read found the property there),
        // RAM writable with the MMU off, and no reference to the blob is live.
        unsafe { core::ptr::write_bytes((info.dtb.base as usize + bytes.start) as *mut u8, 0, bytes.len()) };
    }
    Kaslr { offset: choice.offset(kernel_size), source: choice.source }
}

//! Boot, MMU off: from firmware to the virtual kernel.
//!
//! 1. `_start` ([`entry`]): finds the physical load address PC-relatively, zeroes bss, sets
//!    up the boot stack, moves the image's pointers to the load address ([`reloc`]) and
//!    calls `boot_main`.
//! 2. `boot_main` ([`entry`]): reads the device tree through `kvas_kernel_core::bootinfo`
//!    (`kvas::phys`, structural check first, [`dtb`]), checks the load address and that the
//!    image lies in mappable RAM, chooses the depth ([`probe`]) and the KASLR offset
//!    ([`kaslr`]), builds the early tables ([`early`]: the image at its link address plus
//!    the offset), writes the hand-off ([`handoff`]: plain numbers) and turns paging on
//!    (`crate::mm::mmu::enter_virtual`, which moves the image's pointers to the virtual
//!    base first), jumping to `crate::kmain::kmain` at its virtual address.

pub mod dtb;
pub mod early;
pub mod entry;
pub mod handoff;
pub mod kaslr;
pub mod probe;
pub mod reloc;

/// The virtual address the image is linked at (Linux's `KERNEL_LINK_ADDR`; kvas::layout's).
pub use kvas::layout::riscv64::KERNEL_LINK_ADDR;

/// The image must start on a 2 MiB boundary (it is mapped with 2 MiB alignment, as Linux's
/// `setup_vm` requires of `phys_addr`).
pub const LOAD_ALIGN: u64 = kvas::sizes::SZ_2M;

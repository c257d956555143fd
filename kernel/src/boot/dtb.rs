//! The device-tree blob as a byte slice, wherever the kernel can see it: at its physical
//! address with the MMU off, through its fixmap window after. What it says is read by one
//! reader, `kvas_kernel_core::bootinfo` (through `kvas::phys`, structural check first), in
//! both places.

use kvas_kernel_core::bootinfo::{self, BootError};

/// The blob whose header is at `va` in the current address space, `at` its physical address
/// (for messages and for reserving it): its first 8 bytes give its size, checked against
/// the fixmap window's before anything else is read.
///
/// # Safety
///
/// `va` and the [`bootinfo::MAX_FDT_SIZE`] bytes after it are mapped readable (MMU off: any
/// RAM address; after: the fixmap's DTB window), and nothing writes them while the returned
/// slice lives.
pub unsafe fn blob<'a>(va: u64, at: u64) -> Result<&'a [u8], BootError> {
    // SAFETY: the caller vouches that the header's 8 bytes are readable at `va`.
    let header = unsafe { core::ptr::read_unaligned(va as *const [u8; 8]) };
    let size = bootinfo::total_size(header, at)?;
    // SAFETY: `size` is at most MAX_FDT_SIZE (checked just above), all readable at `va`.
    Ok(unsafe { core::slice::from_raw_parts(va as *const u8, size) })
}

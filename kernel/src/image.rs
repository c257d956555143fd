//! The kernel image's sections, as offsets from its start (the same in every address space),
//! from the linker script's symbols.

use core::ptr::addr_of;

use kvas::kspace::{ImageSections, KernelImage};
use kvas::PhysAddr;

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
    static __boot_stack_top: u8;
}

/// The image's layout: byte offsets from its first byte, each 4 KiB aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sections {
    /// End of text (RX) = offset 0 .. text_end.
    pub text_end: u64,
    /// Read-only data (R): rodata_start .. rodata_end.
    pub rodata_start: u64,
    /// End of read-only data.
    pub rodata_end: u64,
    /// Data and bss (RW): data_start .. end.
    pub data_start: u64,
    /// The image's size.
    pub end: u64,
    /// Top of the boot stack.
    pub stack_top: u64,
}

#[cfg(target_arch = "riscv32")]
extern "C" {
    static __boot_stack_guard: u8;
}

/// The riscv32 boot stack's guard page (kernel/linker32.ld), as an offset from the image's
/// start: the page just below the stack, left unmapped in the kernel space.
#[cfg(target_arch = "riscv32")]
pub fn stack_guard() -> u64 {
    addr_of!(__boot_stack_guard) as u64 - start()
}

/// Where the image starts in the current address space (physical with the MMU off).
pub fn start() -> u64 {
    addr_of!(__kernel_start) as u64
}

/// The image's sections.
pub fn sections() -> Sections {
    let base = start();
    let off = |p: *const u8| p as u64 - base;
    Sections {
        text_end: off(addr_of!(__text_end)),
        rodata_start: off(addr_of!(__rodata_start)),
        rodata_end: off(addr_of!(__rodata_end)),
        data_start: off(addr_of!(__data_start)),
        end: off(addr_of!(__kernel_end)),
        stack_top: off(addr_of!(__boot_stack_top)),
    }
}

impl Sections {
    /// The image as kvas::kspace describes it, loaded at physical `load_pa`.
    pub fn image(&self, load_pa: u64) -> Result<KernelImage, kvas::Error> {
        Ok(KernelImage {
            load: PhysAddr::new(load_pa)?,
            sections: ImageSections {
                text_end: self.text_end,
                rodata_start: self.rodata_start,
                rodata_end: self.rodata_end,
                data_start: self.data_start,
                end: self.end,
            },
        })
    }
}

//! The kvas riscv64 kernel: one image that boots on Sv57, Sv48 and Sv39 at any 2 MiB aligned
//! load address, with every page table built by the kvas engine. See docs/KERNEL.md.

#![no_std]
#![no_main]
// Each unsafe operation inside an unsafe fn needs its own justified block.
#![deny(unsafe_op_in_unsafe_fn)]

mod boot;
mod cmdline;
mod console;
mod csr;
mod devicetree;
mod early;
mod fixmap;
mod frames;
mod image;
mod kmain;
mod meminit;
mod power;
mod probe;
mod reloc;
mod selftest;
mod trap;
mod vmalloc;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    kprintln!("kvas: panic: {}", info);
    power::shutdown(false)
}

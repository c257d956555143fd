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
mod exports;
mod fixmap;
mod frames;
mod image;
mod kmain;
mod meminit;
mod modreloc;
mod module;
mod power;
mod probe;
mod reloc;
mod selftest;
mod trap;
mod vmalloc;

/// The kernel has no heap. The `object` crate (module loader) links `alloc`, but the loader
/// uses none of its allocating paths; should one ever run, the allocation fails (null) and
/// the kernel stops with a panic rather than corrupt memory.
struct NoHeap;

// SAFETY: `alloc` never hands out memory (null is the documented failure), so no
// allocation can be misused; `dealloc` is never given a pointer this allocator made.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}

#[global_allocator]
static NO_HEAP: NoHeap = NoHeap;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    kprintln!("kvas: panic: {}", info);
    power::shutdown(false)
}

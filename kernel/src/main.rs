//! The kvas kernel: on riscv64 one image that boots on Sv57, Sv48 and Sv39 at any 2 MiB
//! aligned load address; on riscv32 ([`sv32`]) one image for every `vmsplit=`; every page
//! table built by the kvas engine. See docs/KERNEL.md.
//!
//! Laid out by boot phase:
//!
//! - [`boot`]: MMU off — entry, relocation, device tree, depth probe, early tables, hand-off;
//! - [`kmain`]: the virtual kernel's sequence;
//! - [`mm`]: the kernel's address space (`KernelSpace`, built in mm/build.rs), `satp` and
//!   TLB maintenance, the fixmap, vmalloc;
//! - [`module`]: the module loader and the kernel's exports;
//! - [`smp`]: the other harts, started through SBI HSM, and running a function on each;
//! - [`selftest`]: the self-tests;
//! - [`user`]: user space: processes, system calls, uaccess, ASIDs, the user tests;
//! - the machine: [`console`], [`csr`], [`power`], [`trap`], [`image`].
//!
//! The pure logic (boot info, command line, module ELF planning and relocation) lives in
//! `kvas_kernel_core` (crates/kvas-kernel-core), tested on the host.

#![no_std]
#![no_main]
// Each unsafe operation inside an unsafe fn needs its own justified block.
#![deny(unsafe_op_in_unsafe_fn)]
// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

// Assembly text both `_start`s open with (a macro: declared before its users).
#[macro_use]
mod start;
// riscv64: self-relocating boot, depth probe, KASLR, modules, SMP, user space.
#[cfg(target_arch = "riscv64")]
mod boot;
mod console;
mod csr;
mod gather;
mod image;
#[cfg(target_arch = "riscv64")]
mod kmain;
#[cfg(target_arch = "riscv64")]
mod mm;
#[cfg(target_arch = "riscv64")]
mod module;
mod power;
mod satp;
#[cfg(target_arch = "riscv64")]
mod selftest;
#[cfg(target_arch = "riscv64")]
mod smp;
// riscv32: Sv32, every vmsplit=, highmem (docs/KERNEL.md, "riscv32").
#[cfg(target_arch = "riscv32")]
mod sv32;
#[cfg(target_arch = "riscv32")]
use sv32::hart as smp;
mod tally;
mod trap;
mod user;

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
    power::fatal(format_args!("panic: {info}"))
}

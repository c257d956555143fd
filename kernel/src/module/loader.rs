//! The module loader, kernel side: allocates the module's area in the modules window of the
//! [`KernelSpace`], maps it RW (never executable), lets `kvas_kernel_core::module` copy the
//! sections in and relocate them (undefined symbols resolved against
//! [`super::exports`]), then gives text RX and read-only data R with the TLB flushed and
//! `fence.i` (Linux's `module_enable_rox`), and calls `kvas_module_init`. [`unload`] calls
//! `kvas_module_exit` if there is one, unmaps and frees. Any failure unmaps and frees
//! everything the load took.

use kvas::paging::Attrs;
use kvas::vm::VmArea;
use kvas::{VirtAddr, VirtRange, PAGE_SIZE};
use kvas_kernel_core::module::{ModError, Plan};

use crate::mm::KernelSpace;

/// An 8-byte aligned byte string (the `object` crate reads ELF headers in place).
#[repr(C, align(8))]
pub struct Aligned<T: ?Sized>(pub T);

/// The `hello` module (kernel/modules/hello), built into a relocatable object by xtask
/// before the kernel.
pub static HELLO: &Aligned<[u8]> = &Aligned(*include_bytes!("../../target/modules/hello.o"));

/// Where to put a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The modules window (always, outside tests).
    ModulesWindow,
    /// The vmalloc region: out of the kernel's ±2 GiB reach, for the test that checks the
    /// refusal of relocations that do not reach.
    Vmalloc,
}

/// A loaded module.
#[derive(Debug)]
pub struct Module {
    /// Its pages (and guard page).
    pub area: VmArea,
    /// Where it was put.
    pub placement: Placement,
    /// `[start, end)` of its text (RX), read-only data (R) and data (RW).
    pub parts: [(u64, u64); 3],
    /// The address of `kvas_module_init`.
    pub init: u64,
    /// The address of `kvas_module_exit`, if any.
    pub exit: Option<u64>,
    /// How many relocations were applied, by psABI type number (0..64).
    pub applied: [u32; 64],
}

fn allocate(space: &mut KernelSpace, placement: Placement, size: u64) -> Result<VmArea, kvas::Error> {
    match placement {
        Placement::ModulesWindow => space.vm().modules.allocate_module(size),
        Placement::Vmalloc => space.vm().vmalloc.allocate(size),
    }
}

fn release(space: &mut KernelSpace, placement: Placement, area: VmArea) -> Result<(), kvas::Error> {
    match placement {
        Placement::ModulesWindow => space.vm().modules.free_module(area),
        Placement::Vmalloc => space.vm().vmalloc.free(area),
    }
}

/// Loads `data` (see the module doc) at `placement`, and calls its init with `arg`; returns
/// the module and what init returned.
pub fn load<'a>(
    space: &mut KernelSpace,
    data: &'a [u8],
    placement: Placement,
    arg: u64,
) -> Result<(Module, u64), ModError<'a>> {
    let plan = Plan::new(data)?;
    let area = allocate(space, placement, plan.size()).map_err(ModError::Vm)?;
    if let Err(e) = space.map_area(area, Attrs::KERNEL_RW) {
        let _ = release(space, placement, area);
        return Err(ModError::Vm(e));
    }
    let base = area.start().as_u64();
    // SAFETY: the area is mapped read-write (just above), at least `plan.size()` bytes, and
    // only this load uses it until it returns.
    let mem = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, area.size() as usize) };
    let placed = match plan.place(mem, base, &super::exports::lookup) {
        Ok(p) => p,
        Err(e) => {
            space.unmap_area(area);
            let _ = release(space, placement, area);
            return Err(e);
        }
    };
    protect(space, placed.parts);
    let m = Module {
        area,
        placement,
        parts: placed.parts,
        init: placed.init,
        exit: placed.exit,
        applied: placed.applied,
    };
    // SAFETY: `init` is `kvas_module_init`, a function of the module's text, now mapped RX
    // and relocated; the module's ABI is `extern "C" fn(u64) -> u64`.
    let f: extern "C" fn(u64) -> u64 = unsafe { core::mem::transmute(m.init as usize) };
    let ret = f(arg);
    Ok((m, ret))
}

/// Gives text RX and read-only data R (data stays RW), flushes, and syncs the I-cache.
fn protect(space: &mut KernelSpace, parts: [(u64, u64); 3]) {
    for ((start, end), attrs) in parts.into_iter().zip([Attrs::KERNEL_RX, Attrs::KERNEL_RO]) {
        let len = (end - start).next_multiple_of(PAGE_SIZE);
        if len == 0 {
            continue;
        }
        if let Err(e) = VirtRange::new(VirtAddr::new(start), len).and_then(|r| space.protect(r, attrs)) {
            crate::power::fatal(format_args!("module: protecting {start:#x}: {e}"));
        }
    }
    // SAFETY: `fence.i` only orders instruction fetches after the stores above.
    unsafe { core::arch::asm!("fence.i") };
}

/// Calls the module's exit (if any), unmaps it (TLB flushed) and frees its frames and range.
pub fn unload(space: &mut KernelSpace, m: Module) -> Result<(), kvas::Error> {
    if let Some(exit) = m.exit {
        // SAFETY: `kvas_module_exit` of a loaded module, `extern "C" fn()`.
        let f: extern "C" fn() = unsafe { core::mem::transmute(exit as usize) };
        f();
    }
    space.unmap_area(m.area);
    release(space, m.placement, m.area)
}

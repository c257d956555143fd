//! Self-tests of vmalloc in the kernel (mm/vmalloc.rs): mapping, guard pages, vfree.

use core::fmt::Write;

use kvas::arch::riscv::Riscv;
use kvas::paging::{Attrs, Geometry, Pte, TableFormat};
use kvas::VirtAddr;

use super::Reason;
use crate::kmain::Boot;
use crate::mm::KernelSpace;
use crate::trap::{probe_load, probe_store};

/// Allocates 4 pages (for 3 pages and 100 bytes), checks where and how they are mapped,
/// writes every byte with a pattern, reads it back, frees; every frame comes back.
pub fn write_read(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let before = space.frames_in_use();
    let area = match space.vmalloc(3 * 4096 + 100) {
        Ok(a) => a,
        Err(err) => fail!("vmalloc: {err}"),
    };
    let (start, size) = (area.start().as_u64(), area.size());
    let region = space.layout().vmalloc();
    if size != 4 * 4096 || !region.contains(area.start()) || !region.contains(area.guard_page()) {
        fail!(
            "area {start:#x} size {size:#x} (guard {}) is not 4 pages inside {region:?}",
            area.guard_page()
        );
    }
    let t = space.tables();
    let mut last_pa = 0;
    for page in 0..4 {
        let va = start + page * 4096;
        match t.translate(VirtAddr::new(va)) {
            Ok(tr) if tr.attrs == Attrs::KERNEL_RW && tr.pa.as_u64() != last_pa => last_pa = tr.pa.as_u64(),
            other => fail!("page {va:#x}: {other:?}, expected a fresh frame, read-write"),
        }
    }
    let words = size / 8;
    let p = start as *mut u64;
    for i in 0..words {
        // SAFETY: the area is mapped read-write (just checked) and only this test uses it.
        unsafe { p.add(i as usize).write_volatile(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ start) };
    }
    for i in 0..words {
        // SAFETY: as above.
        let v = unsafe { p.add(i as usize).read_volatile() };
        if v != i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ start {
            fail!("word {i} of the area at {start:#x} read back {v:#x}");
        }
    }
    if let Err(err) = space.vfree(area) {
        fail!("vfree: {err}");
    }
    if space.frames_in_use() != before {
        fail!("{} frames out after vfree, {before} before vmalloc", space.frames_in_use());
    }
    Ok(())
}

/// The page after an area is its guard: a load and a store there fault, the space names
/// the area whose guard it is, and the test goes on.
pub fn guard_page(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let area = match space.vmalloc(2 * 4096) {
        Ok(a) => a,
        Err(err) => fail!("vmalloc: {err}"),
    };
    let (start, end) = (area.start().as_u64(), area.start().as_u64() + area.size());
    let guard = area.guard_page().as_u64();
    let result = (|| {
        if guard != end {
            fail!("the guard page {guard:#x} is not right after the area's end {end:#x}");
        }
        if let Err(f) = probe_store(end - 1, 0x5a).and_then(|()| probe_load(end - 1)) {
            fail!("the area's last byte {:#x} faulted: scause {:#x}", end - 1, f.scause);
        }
        for (what, cause, fault) in
            [("load", 13, probe_load(guard + 8).map(|_| ())), ("store", 15, probe_store(guard + 8, 1))]
        {
            match fault {
                Ok(()) => fail!("a {what} at the guard page {:#x} did not fault", guard + 8),
                Err(f) if f.scause != cause || f.stval != guard + 8 => {
                    fail!("{what} at the guard page: scause {:#x} stval {:#x}", f.scause, f.stval)
                }
                Err(f) if space.guard_hit(f.stval) != Some(area) => {
                    fail!(
                        "the space names {:?} for the guard page, not {start:#x}-{end:#x}",
                        space.guard_hit(f.stval)
                    )
                }
                Err(_) => {}
            }
        }
        Ok(())
    })();
    if let Err(err) = space.vfree(area) {
        fail!("vfree: {err}");
    }
    result
}

/// After vfree the pages are gone from the tables and from the TLB (a load faults), and a
/// second vfree of the same area is refused.
pub fn vfree_unmaps(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let area = match space.vmalloc(4096) {
        Ok(a) => a,
        Err(err) => fail!("vmalloc: {err}"),
    };
    let va = area.start().as_u64();
    // Load it once so the TLB holds the translation.
    if let Err(f) = probe_load(va) {
        fail!("the fresh area at {va:#x} faulted: scause {:#x}", f.scause);
    }
    if let Err(err) = space.vfree(area) {
        fail!("vfree: {err}");
    }
    if let Ok(tr) = space.tables().translate(VirtAddr::new(va)) {
        fail!("{va:#x} still maps to {:#x} after vfree", tr.pa.as_u64());
    }
    match probe_load(va) {
        Ok(_) => fail!("a load at {va:#x} succeeded after vfree: stale TLB entry"),
        Err(f) if f.scause != 13 || f.stval != va || space.guard_hit(f.stval).is_some() => {
            fail!(
                "load after vfree: scause {:#x} stval {:#x} guard {:?}",
                f.scause,
                f.stval,
                space.guard_hit(f.stval)
            )
        }
        Err(_) => {}
    }
    match space.vfree(area) {
        Ok(()) => fail!("a second vfree of {va:#x} was accepted"),
        Err(kvas::Error::VaBadFree { .. }) => Ok(()),
        Err(err) => fail!("a second vfree failed with {err}, not a refused free"),
    }
}

/// Every root entry over the vmalloc region and the modules window points at a pinned
/// table; populating again creates none, also after a vmalloc/vfree cycle that emptied
/// the tables below them.
pub fn tables_preallocated(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let format = Riscv::new(space.mode());
    let root_level = format.geometry().root_level();
    let step = Geometry::granularity(root_level);
    let Some(root) = space.linear().va_of(space.root()) else {
        fail!("the root table has no linear address")
    };
    let root = root.as_u64() as *const u64;
    let mut entries = 0;
    for span in space.preallocated_spans() {
        let mut va = span.start().as_u64() & !(step - 1);
        while va < span.end().as_u64() {
            let idx = Geometry::index(va, root_level);
            // SAFETY: the live root is mapped read-write at its linear address (every table
            // frame lies in the linear window), and idx < 512.
            let raw = unsafe { root.add(idx).read_volatile() };
            let is_table = format.is_valid(raw) && matches!(format.decode(raw, root_level), Pte::Table(_));
            if !is_table || !format.is_pinned(raw) {
                fail!("root entry {idx} (for {va:#x}) is {raw:#x}: not a pinned table");
            }
            entries += 1;
            match va.checked_add(step) {
                Some(next) => va = next,
                None => break,
            }
        }
    }
    if entries == 0 {
        fail!("no root entry covers the vmalloc region or the modules window");
    }
    let cycle = space.vmalloc(4096).map_err(|err| format_reason(format_args!("vmalloc: {err}")))?;
    if let Err(err) = space.vfree(cycle) {
        fail!("vfree: {err}");
    }
    match space.populate(root_level - 1) {
        Ok(0) => Ok(()),
        other => fail!("populating the windows again gave {other:?}: their tables were not all there"),
    }
}

fn format_reason(args: core::fmt::Arguments) -> Reason {
    let mut r = Reason::new();
    let _ = r.write_fmt(args);
    r
}

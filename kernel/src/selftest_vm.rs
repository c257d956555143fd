//! Self-tests of vmalloc in the kernel (vmalloc.rs): mapping, guard pages, vfree.

use core::fmt::Write;

use kvas::arch::riscv::Riscv;
use kvas::paging::{Attrs, Geometry, Pte, TableFormat};
use kvas::VirtAddr;

use super::Reason;
use crate::early::Early;
use crate::trap::{probe_load, probe_store};
use crate::vmalloc::{preallocated_spans, vfree, vmalloc};

fn in_use() -> u64 {
    crate::meminit::memory().frames.in_use()
}

/// Allocates 4 pages (for 3 pages and 100 bytes), checks where and how they are mapped,
/// writes every byte with a pattern, reads it back, frees; every frame comes back.
pub fn write_read(e: &Early) -> Result<(), Reason> {
    let before = in_use();
    let area = match vmalloc(3 * 4096 + 100) {
        Ok(a) => a,
        Err(err) => fail!("vmalloc: {err}"),
    };
    let (start, size) = (area.start().as_u64(), area.size());
    let region = e.layout.vmalloc();
    if size != 4 * 4096 || !region.contains(start) || !region.contains(area.guard_page().as_u64()) {
        fail!(
            "area {start:#x} size {size:#x} (guard {}) is not 4 pages inside {region:?}",
            area.guard_page()
        );
    }
    let t = e.tables();
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
    if let Err(err) = vfree(area) {
        fail!("vfree: {err}");
    }
    if in_use() != before {
        fail!("{} frames out after vfree, {before} before vmalloc", in_use());
    }
    Ok(())
}

/// The page after an area is its guard: a load and a store there fault, the trap handler
/// names the area, and the test goes on.
pub fn guard_page(_: &Early) -> Result<(), Reason> {
    let area = match vmalloc(2 * 4096) {
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
                Err(f) if f.guard_of != Some((start, end)) => {
                    fail!(
                        "the trap handler named {:?} for the guard page, not {start:#x}-{end:#x}",
                        f.guard_of
                    )
                }
                Err(_) => {}
            }
        }
        Ok(())
    })();
    if let Err(err) = vfree(area) {
        fail!("vfree: {err}");
    }
    result
}

/// After vfree the pages are gone from the tables and from the TLB (a load faults), and a
/// second vfree of the same area is refused.
pub fn vfree_unmaps(e: &Early) -> Result<(), Reason> {
    let area = match vmalloc(4096) {
        Ok(a) => a,
        Err(err) => fail!("vmalloc: {err}"),
    };
    let va = area.start().as_u64();
    // Load it once so the TLB holds the translation.
    if let Err(f) = probe_load(va) {
        fail!("the fresh area at {va:#x} faulted: scause {:#x}", f.scause);
    }
    if let Err(err) = vfree(area) {
        fail!("vfree: {err}");
    }
    if let Ok(tr) = e.tables().translate(VirtAddr::new(va)) {
        fail!("{va:#x} still maps to {:#x} after vfree", tr.pa.as_u64());
    }
    match probe_load(va) {
        Ok(_) => fail!("a load at {va:#x} succeeded after vfree: stale TLB entry"),
        Err(f) if f.scause != 13 || f.stval != va || f.guard_of.is_some() => {
            fail!("load after vfree: scause {:#x} stval {:#x} guard {:?}", f.scause, f.stval, f.guard_of)
        }
        Err(_) => {}
    }
    match vfree(area) {
        Ok(()) => fail!("a second vfree of {va:#x} was accepted"),
        Err(kvas::Error::VaBadFree { .. }) => Ok(()),
        Err(err) => fail!("a second vfree failed with {err}, not a refused free"),
    }
}

/// Every root entry over the vmalloc region and the modules window points at a pinned
/// table; populating again creates none, also after a vmalloc/vfree cycle that emptied
/// the tables below them.
pub fn tables_preallocated(e: &Early) -> Result<(), Reason> {
    let format = Riscv::new(e.mode());
    let root_level = format.geometry().root_level();
    let step = Geometry::granularity(root_level);
    let root = (e.root.as_u64().wrapping_add(e.table_offset)) as *const u64;
    let mut entries = 0;
    for span in preallocated_spans(e) {
        let mut va = span.start() & !(step - 1);
        while va < span.end() {
            let idx = Geometry::index(va, root_level);
            // SAFETY: the live root is mapped at its physical address + table_offset, and
            // idx < 512.
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
    let cycle = vmalloc(4096).map_err(|err| format_reason(format_args!("vmalloc: {err}")))?;
    if let Err(err) = vfree(cycle) {
        fail!("vfree: {err}");
    }
    let mut t = e.tables();
    // SAFETY: no reference from meminit::memory() is live in this test.
    let frames = unsafe { &mut crate::meminit::memory_mut().frames };
    for span in preallocated_spans(e) {
        match t.populate(VirtAddr::new(span.start()), span.size(), root_level - 1, &mut *frames) {
            Ok(0) => {}
            other => fail!("populating {span:?} again gave {other:?}: its tables were not all there"),
        }
    }
    Ok(())
}

fn format_reason(args: core::fmt::Arguments) -> Reason {
    let mut r = Reason::new();
    let _ = r.write_fmt(args);
    r
}

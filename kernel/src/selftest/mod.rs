//! Self-tests inside the kernel, each able to fail; one line each:
//! `selftest NAME ... ok` or `selftest NAME ... FAILED: reason`.

// The kernel has no heap: a failure reason is a fixed 200-byte buffer, returned by value.
#![allow(clippy::result_large_err)]

use core::fmt::{self, Write};

use kvas::arch::riscv::{Riscv, Satp};
use kvas::layout::{check, plan, Options, Target};
use kvas::paging::{Attrs, PageTable, PhysMemory};
use kvas::{PageSize, PhysAddr, VirtAddr, VirtRange};

use crate::kmain::Boot;
use crate::mm::{fixmap, mmu, KernelSpace};
use crate::trap::{probe_load, probe_store};

/// A failure reason, formatted into a fixed buffer (no allocator).
pub struct Reason {
    buf: [u8; 200],
    len: usize,
}

impl Write for Reason {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reason {
    fn new() -> Self {
        Reason { buf: [0; 200], len: 0 }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("(reason not UTF-8)")
    }
}

/// Fails the current test with a formatted reason.
macro_rules! fail {
    ($($arg:tt)*) => {{
        let mut r = Reason { buf: [0; 200], len: 0 };
        let _ = write!(r, $($arg)*);
        return Err(r);
    }};
}

pub mod cost;
mod kaslr;
mod modules;
mod smp;
mod vm;

type Test = fn(&mut KernelSpace, &Boot) -> Result<(), Reason>;

const TESTS: &[(&str, Test)] = &[
    ("satp-mode", satp_mode),
    ("image-mapping", image_mapping),
    ("text-write-faults", text_write_faults),
    ("rodata-write-faults", rodata_write_faults),
    ("rodata-alias-write-faults", rodata_alias_write_faults),
    ("data-writable", data_writable),
    ("relocated-pointers", relocated_pointers),
    ("table-frames", table_frames),
    ("dtb-in-ram", dtb_in_ram),
    ("dtb-through-fixmap", dtb_through_fixmap),
    ("layout-matches-kernel", layout_matches_kernel),
    ("kaslr-image-follows", kaslr::image_follows),
    ("kaslr-seed-zeroed", kaslr::seed_zeroed),
    ("no-writable-executable-page", no_writable_executable_page),
    ("trampoline-removed", trampoline_removed),
    ("fixmap-window-tables", fixmap_window_tables),
    ("linear-first-last-page", linear_first_last_page),
    ("virt-phys-round-trip", virt_phys_round_trip),
    ("vmalloc-tables-preallocated", vm::tables_preallocated),
    ("vmalloc-write-read", vm::write_read),
    ("vmalloc-guard-page-faults", vm::guard_page),
    ("vfree-unmaps-and-flushes", vm::vfree_unmaps),
    ("module-load-call-unload", modules::load_call_unload),
    ("module-out-of-reach-refused", modules::out_of_reach_refused),
    ("module-malformed-refused", modules::malformed_refused),
    ("smp-harts-share-tables", smp::harts_share_tables),
    ("smp-vfree-reaches-every-hart", smp::vfree_reaches_every_hart),
    ("smp-parallel-vmalloc", smp::parallel_vmalloc),
];

/// Runs every test; returns (passed, failed).
pub fn run_all(space: &mut KernelSpace, boot: &Boot) -> (u32, u32) {
    cost::print(space);
    let mut tally = (0, 0);
    for (name, test) in TESTS {
        crate::tally::record("selftest", name, test(space, boot), &mut tally);
    }
    tally
}

fn satp_mode(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let raw = mmu::read_satp();
    match Satp::decode(raw) {
        Some(s) if s.mode == Some(space.mode()) && s.root == space.root() && raw == space.satp() => Ok(()),
        _ => fail!("satp is {raw:#x}, expected mode {} with root {:#x}", space.mode(), space.root().as_u64()),
    }
}

fn image_mapping(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let t = space.tables();
    let s = &boot.sections;
    let load_pa = boot.load_pa();
    for (what, off, want) in [
        ("text", 0, Attrs::KERNEL_RX),
        ("rodata", s.rodata_start, Attrs::KERNEL_RO),
        ("data", s.data_start, Attrs::KERNEL_RW),
        ("bss end", s.end - 1, Attrs::KERNEL_RW),
    ] {
        let va = boot.image_va() + off;
        match t.translate(VirtAddr::new(va)) {
            Ok(tr) if tr.pa.as_u64() != load_pa + off => {
                fail!("{what} {va:#x} maps to {:#x}, not {:#x}", tr.pa.as_u64(), load_pa + off)
            }
            Ok(tr) if tr.attrs != want => fail!("{what} {va:#x} has {:?}, expected {:?}", tr.attrs, want),
            Ok(_) => {}
            Err(err) => fail!("{what} {va:#x}: {err}"),
        }
    }
    Ok(())
}

fn expect_write_fault(what: &str, va: u64) -> Result<(), Reason> {
    let Ok(before) = probe_load(va) else { fail!("{what} at {va:#x} is not readable") };
    match probe_store(va, before ^ 0xff) {
        Ok(()) => fail!("a store to {what} at {va:#x} succeeded"),
        Err(f) if f.scause != 15 || f.stval != va => {
            fail!("store to {what}: scause {:#x} stval {:#x}, expected 0xf and {va:#x}", f.scause, f.stval)
        }
        Err(_) => {}
    }
    match probe_load(va) {
        Ok(after) if after == before => Ok(()),
        after => fail!("{what} at {va:#x} changed from {before:#x} to {after:x?} despite the fault"),
    }
}

fn text_write_faults(_: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    expect_write_fault("kernel text", text_write_faults as Test as usize as u64)
}

fn rodata_write_faults(_: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    expect_write_fault("kernel rodata", boot.image_va() + boot.sections.rodata_start)
}

/// W^X for the linear aliases: the image's rodata is read-only through the linear map too
/// (Linux's `mark_rodata_ro` makes `lm_alias(rodata)` read-only), as its text is.
fn rodata_alias_write_faults(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let s = &boot.sections;
    for (what, off) in
        [("text", 0), ("rodata", s.rodata_start), ("rodata's last page", s.rodata_end - 0x1000)]
    {
        let pa = boot.load_pa() + off;
        let Some(va) = PhysAddr::new(pa).ok().and_then(|p| space.linear().va_of(p)) else {
            fail!("the kernel {what} at {pa:#x} has no linear alias")
        };
        expect_write_fault(what, va.as_u64())?;
    }
    Ok(())
}

static mut SCRATCH: u8 = 0x5a;

fn data_writable(_: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let va = core::ptr::addr_of_mut!(SCRATCH) as u64;
    if let Err(f) = probe_store(va, 0xa5) {
        fail!("store to .data at {va:#x} faulted: scause {:#x}", f.scause);
    }
    // SAFETY: a plain read of a byte only this test touches.
    let v = unsafe { core::ptr::read_volatile(va as *const u8) };
    if v != 0xa5 {
        fail!("store to .data at {va:#x} did not stick: read {v:#x}");
    }
    Ok(())
}

static GREETING: &str = "kvas";

fn relocated_pointers(_: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let image = boot.image_va()..boot.image_va() + boot.sections.end;
    let p = GREETING.as_ptr() as u64;
    if !image.contains(&p) {
        fail!("a &'static str in a static points to {p:#x}, outside the image at its virtual base");
    }
    let named: &dyn Fn() -> &'static str = &|| GREETING;
    if named() != "kvas" {
        fail!("a call through a vtable returned the wrong string");
    }
    Ok(())
}

fn table_frames(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let tables = match space.tables().stats() {
        Ok(st) => st.tables,
        Err(err) => fail!("walking the live tables: {err}"),
    };
    // Besides tables, the allocator has given the pages of the live vmalloc areas (the
    // other harts' stacks).
    let pages: u64 = space.vm().vmalloc.areas().map(|a| a.range().pages()).sum();
    let in_use = space.frames_in_use();
    if in_use != tables + pages {
        fail!("the allocator has {in_use} frames out but the live tables hold {tables} and vmalloc {pages} pages");
    }
    Ok(())
}

fn dtb_in_ram(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let d = boot.info.dtb;
    if d.size == 0
        || !space.map().banks().iter().any(|b| d.base >= b.start_u64() && d.base + d.size <= b.end())
    {
        fail!("the DTB at {:#x} size {:#x} lies in no RAM bank", d.base, d.size);
    }
    Ok(())
}

fn dtb_through_fixmap(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let va = fixmap::dtb_va(space.layout(), boot.info.dtb.base);
    if !space.layout().fixmap().contains(VirtAddr::new(va)) {
        fail!("the DTB window {va:#x} is outside the fixmap {:?}", space.layout().fixmap());
    }
    // SAFETY: the early tables map the DTB's 2 MiB-aligned 4 MiB window read-only here, and
    // the header's 8 bytes lie inside it.
    let (magic, size) = unsafe {
        let p = va as *const u32;
        (u32::from_be(core::ptr::read_volatile(p)), u32::from_be(core::ptr::read_volatile(p.add(1))))
    };
    if magic != 0xd00d_feed || size as u64 != boot.info.dtb.size {
        fail!(
            "at {va:#x}: magic {magic:#x} size {size:#x}, expected 0xd00dfeed and {:#x}",
            boot.info.dtb.size
        );
    }
    Ok(())
}

fn layout_matches_kernel(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let options = Options {
        kernel_size: boot.sections.end,
        kaslr_offset: boot.handoff.kaslr_offset,
        ram: Some(space.lowmem_bytes()),
        ..Options::default()
    };
    let layout = match plan(Target::Riscv64(space.mode()), &options) {
        Ok(l) => l,
        Err(err) => fail!("kvas::layout refuses this kernel: {err}"),
    };
    let violations = check(&layout);
    if let Some(v) = violations.iter().next() {
        fail!("{} invariant(s) broken, first: {v:?}", violations.len());
    }
    let start = crate::image::start();
    match layout.region("kernel") {
        Some(k) if k.start() == start => {}
        k => fail!("the image runs at {start:#x} but the layout's kernel region is {k:?}"),
    }
    match layout.modules_window() {
        Some(m) if m.end().as_u64() == start => {}
        m => fail!("the modules window {m:?} does not end at the image start {start:#x}"),
    }
    let fix = space.layout().fixmap();
    match layout.region("fixmap") {
        Some(f) if f.range() == fix => {}
        f => fail!("the kernel space used fixmap {fix:?}, the layout says {f:?}"),
    }
    if boot.handoff.finisher_pa != 0 {
        let va = fixmap::finisher_va(space.layout(), boot.handoff.finisher_pa);
        if !fix.contains(VirtAddr::new(va)) {
            fail!("the finisher is mapped at {va:#x}, outside the fixmap");
        }
    }
    Ok(())
}

fn no_writable_executable_page(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let mut leaves = 0;
    for m in space.tables().mappings() {
        match m {
            Ok(m) if m.attrs.is_writable_and_executable() => {
                fail!(
                    "{:#x} -> {:#x} ({}) is writable and executable",
                    m.va.as_u64(),
                    m.pa.as_u64(),
                    m.size.name()
                )
            }
            Ok(_) => leaves += 1,
            Err(err) => fail!("walking the tables: {err}"),
        }
    }
    if leaves == 0 {
        fail!("the walk found no leaf at all");
    }
    Ok(())
}

fn trampoline_removed(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let t = space.tables();
    let load_pa = boot.load_pa();
    if let Ok(tr) = t.translate(VirtAddr::new(load_pa)) {
        fail!("the identity mapping of the text is still there: {load_pa:#x} -> {:#x}", tr.pa.as_u64());
    }
    match t.translate(VirtAddr::new(boot.image_va())) {
        Ok(tr) if tr.pa.as_u64() == load_pa => Ok(()),
        other => fail!("the image at its virtual base no longer translates to {load_pa:#x}: {other:?}"),
    }
}

fn fixmap_window_tables(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let before = space.frames_in_use();
    let mode = space.mode();
    // 4 MiB + 4 KiB of 4 KiB pages in vmalloc: three leaf tables and their parents.
    let va = space.layout().vmalloc().start().as_u64();
    space.with_window(|window, frames| {
        let mut t = match PageTable::new(Riscv::new(mode), window, &mut *frames) {
            Ok(t) => t,
            Err(err) => fail!("a root through the window: {err}"),
        };
        let len = (4 << 20) + 0x1000;
        let pa = match PhysAddr::new(0x1_0000_0000) {
            Ok(pa) => pa,
            Err(err) => fail!("{err}"),
        };
        let range = match VirtRange::new(VirtAddr::new(va), len) {
            Ok(range) => range,
            Err(err) => fail!("{err}"),
        };
        if let Err(err) = t.map_range(range, pa, Attrs::KERNEL_RW, PageSize::Size4K, &mut *frames) {
            fail!("mapping through the window: {err}");
        }
        for off in [0, 0x1000, 2 << 20, len - 0x1000] {
            match t.translate(VirtAddr::new(va + off)) {
                Ok(tr) if tr.pa.as_u64() == pa.as_u64() + off => {}
                other => fail!("{:#x} translates to {other:?}, not {:#x}", va + off, pa.as_u64() + off),
            }
        }
        let leaves = match t.stats() {
            Ok(st) => st.leaves[0],
            Err(err) => fail!("stats through the window: {err}"),
        };
        if leaves != len / 0x1000 {
            fail!("{leaves} 4 KiB leaves, expected {}", len / 0x1000);
        }
        t.destroy(&mut *frames);
        Ok(())
    })?;
    if space.frames_in_use() != before {
        fail!("{} frames out after destroy, {before} before the test", space.frames_in_use());
    }
    Ok(())
}

/// Checks that `pa` is reachable through the linear map with content written through
/// another mapping: the engine translates its linear address back to `pa`; a word written
/// through the fixmap window (which maps `pa` on its own) reads back through the linear
/// address and, outside the kernel text's read-only alias, a word written through the
/// linear address reads back through the window. The page's first word is restored.
fn check_linear_page(space: &mut KernelSpace, boot: &Boot, pa: u64) -> Result<(), Reason> {
    let Some(phys) = kvas::PhysAddr::new(pa).ok() else { fail!("{pa:#x} is not a physical address") };
    let Some(va) = space.linear().va_of(phys) else {
        fail!("RAM at {pa:#x} has no linear address");
    };
    let va = va.as_u64();
    match space.tables().translate(VirtAddr::new(va)) {
        Ok(tr) if tr.pa.as_u64() == pa => {}
        other => fail!("linear {va:#x} translates to {other:?}, not {pa:#x}"),
    }
    let read_only = boot.load_pa()..boot.load_pa() + boot.sections.rodata_end;
    space.with_window(|window, _| {
        check_through_window(window.frame_ptr(phys), va, pa, read_only.contains(&pa))
    })
}

/// The word at `fix` (the fixmap window's view of `pa`) and at `va` (its linear alias) are
/// the same memory; writes through the alias are tried only where it is writable.
fn check_through_window(fix: *mut u64, va: u64, pa: u64, read_only: bool) -> Result<(), Reason> {
    let lin = va as *mut u64;
    // SAFETY: `fix` maps the frame at `pa` read-write until the next frame_ptr call (none
    // follows); `lin` is its linear alias, mapped (checked above). Both are 8-byte aligned.
    // The kernel is alone on one hart with interrupts off, so nothing else reads the word
    // while it holds the pattern, and it is restored before the test returns.
    unsafe {
        let saved = core::ptr::read_volatile(fix);
        if core::ptr::read_volatile(lin) != saved {
            fail!("pa {pa:#x} reads differently through the linear map and the fixmap");
        }
        if read_only {
            // The linear alias of the kernel's text and rodata is read-only: compare only.
            return Ok(());
        }
        let pattern = pa ^ 0x6b76_6173_2d6c_696e; // "kvas-lin"
        core::ptr::write_volatile(fix, pattern);
        let through_linear = core::ptr::read_volatile(lin);
        core::ptr::write_volatile(lin, !pattern);
        let through_fixmap = core::ptr::read_volatile(fix);
        core::ptr::write_volatile(fix, saved);
        if through_linear != pattern {
            fail!("wrote {pattern:#x} at pa {pa:#x} through the fixmap, read {through_linear:#x} at linear {va:#x}");
        }
        if through_fixmap != !pattern {
            fail!("wrote through linear {va:#x}, the fixmap read {through_fixmap:#x} at pa {pa:#x}");
        }
        if core::ptr::read_volatile(lin) != saved {
            fail!("pa {pa:#x} did not keep its restored word");
        }
    }
    Ok(())
}

fn linear_first_last_page(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let mut pages = 0;
    let (base, size) = (space.linear().base.as_u64(), space.linear().size);
    let window_end = base.saturating_add(size);
    let map = space.map();
    for r in map.mappable() {
        // Only what the window holds (the rest is reported as capped).
        let (start, end) = (r.start_u64().max(base), r.end().min(window_end));
        if start >= end {
            continue;
        }
        for pa in [start, end - 0x1000] {
            check_linear_page(space, boot, pa)?;
            pages += 1;
        }
    }
    if pages == 0 {
        fail!("the memory map has no mappable RAM");
    }
    Ok(())
}

fn virt_phys_round_trip(space: &mut KernelSpace, boot: &Boot) -> Result<(), Reason> {
    let lm = space.linear();
    let load_pa = boot.load_pa();
    // Through the linear map: every bank's first and last byte, the image, the DTB.
    let mut pas = [0u64; 8];
    let mut n = 0;
    for p in [load_pa, load_pa + boot.sections.end - 1, boot.info.dtb.base]
        .into_iter()
        .chain(space.map().banks().iter().take(2).flat_map(|b| [b.start_u64(), b.end() - 1]))
    {
        pas[n] = p;
        n += 1;
    }
    for &pa in &pas[..n] {
        let Ok(p) = kvas::PhysAddr::new(pa) else { fail!("{pa:#x} is not a physical address") };
        let Some(va) = lm.va_of(p) else { continue };
        if lm.pa_of(va) != Some(p) {
            fail!("phys_to_virt({pa:#x}) = {:#x} but virt_to_phys of it is {:?}", va.as_u64(), lm.pa_of(va));
        }
        if va.as_u64().wrapping_sub(pa) != lm.va_pa_offset() {
            fail!("{pa:#x} -> {:#x} is not at va_pa_offset {:#x}", va.as_u64(), lm.va_pa_offset());
        }
    }
    // Through the image mapping: a symbol's virtual address and its physical one.
    let sym = relocated_pointers as Test as usize as u64;
    let off = sym - boot.image_va();
    match space.tables().translate(VirtAddr::new(sym)) {
        Ok(tr) if tr.pa.as_u64() == load_pa + off => Ok(()),
        other => fail!("kernel symbol {sym:#x} translates to {other:?}, not {:#x}", load_pa + off),
    }
}

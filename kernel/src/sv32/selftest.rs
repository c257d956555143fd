//! The riscv32 kernel's self-tests: one `selftest NAME ... ok|FAILED: why` line each.

// A reason is formatted into a fixed buffer (no heap), returned by value from each test.
#![allow(clippy::result_large_err)]

use kvas::layout::riscv32_split::{KERNEL_LINK_ADDR, PKMAP_BASE};
use kvas::{PhysAddr, VirtAddr, PAGE_SIZE};

use super::space::KernelSpace32;
use crate::image::Sections;
use crate::trap::{probe_load, probe_store};

type Outcome = Result<(), alloc_free::Why>;

/// A reason, formatted into a fixed buffer (the kernel has no heap).
mod alloc_free {
    use core::fmt::{self, Write};

    /// Up to 160 bytes of a failure's reason.
    pub struct Why {
        buf: [u8; 160],
        len: usize,
    }

    impl Why {
        /// The reason `args` formats to (cut at 160 bytes).
        pub fn new(args: fmt::Arguments) -> Self {
            let mut w = Why { buf: [0; 160], len: 0 };
            let _ = w.write_fmt(args);
            w
        }
    }

    impl Write for Why {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for &b in s.as_bytes() {
                if self.len < self.buf.len() {
                    self.buf[self.len] = b;
                    self.len += 1;
                }
            }
            Ok(())
        }
    }

    impl fmt::Display for Why {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?"))
        }
    }
}

macro_rules! fail {
    ($($arg:tt)*) => { return Err(alloc_free::Why::new(format_args!($($arg)*))) };
}

/// A byte the `linear-alias` test writes through the image and reads through the linear map.
static SCRATCH32: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Runs every self-test; returns (passed, failed).
pub fn run_all(space: &mut KernelSpace32, sections: &Sections, load_pa: u64) -> (u32, u32) {
    type Test<'a> = &'a dyn Fn(&mut KernelSpace32) -> Outcome;
    let tests: [(&str, Test); 8] = [
        ("wx", &|s| wx(s, sections, load_pa)),
        ("linear-alias", &|s| linear_alias(s, load_pa)),
        ("vmsplit", &|s| vmsplit(s)),
        ("null-trap", &|_| null_trap()),
        ("highmem-kmap", &|s| highmem_kmap(s)),
        ("user-frames", &|s| user_frames(s)),
        ("vmalloc-map", &|s| vmalloc_map(s)),
        ("stack-guard", &|s| stack_guard(s)),
    ];
    let mut tally = (0, 0);
    for (name, test) in tests {
        crate::tally::record("selftest", name, test(space), &mut tally);
    }
    tally
}

/// The image's text and rodata refuse stores, at the link address and in the linear map.
fn wx(space: &mut KernelSpace32, s: &Sections, load_pa: u64) -> Outcome {
    let alias =
        |off: u64| space.linear().va_of(PhysAddr::new_truncate(load_pa + off)).map_or(0, |v| v.as_u64());
    for (what, va) in [
        ("text", KERNEL_LINK_ADDR),
        ("rodata", KERNEL_LINK_ADDR + s.rodata_start),
        ("text's linear alias", alias(0)),
        ("rodata's linear alias", alias(s.rodata_start)),
    ] {
        let before = probe_load(va).unwrap_or(0);
        if probe_store(va, before).is_ok() {
            fail!("a store to the {what} at {va:#x} succeeded");
        }
    }
    let t = space.tables().translate(VirtAddr::new(KERNEL_LINK_ADDR + s.data_start));
    match t {
        Ok(t) if !t.attrs.contains(kvas::paging::Attrs::EXECUTE) => Ok(()),
        other => fail!("the image's data: {other:?}"),
    }
}

/// A static written at its link address reads back through its linear alias.
fn linear_alias(space: &mut KernelSpace32, load_pa: u64) -> Outcome {
    let va = &SCRATCH32 as *const _ as u64;
    let pa = PhysAddr::new_truncate(load_pa + (va - KERNEL_LINK_ADDR));
    let Some(alias) = space.linear().va_of(pa) else { fail!("the image at {pa} is not in the linear map") };
    SCRATCH32.store(0x5a5a_1234, core::sync::atomic::Ordering::SeqCst);
    // SAFETY: the alias maps the same 4 bytes read-write (data is never aliased RO).
    let got = unsafe { core::ptr::read_volatile(alias.as_u64() as usize as *const u32) };
    if got != 0x5a5a_1234 {
        fail!("read {got:#x} through the alias {alias}");
    }
    Ok(())
}

/// The linear map starts at the split's PAGE_OFFSET with the linear base, and lowmem ends
/// at the shared top at the latest.
fn vmsplit(space: &mut KernelSpace32) -> Outcome {
    let po = space.split().page_offset();
    let lm = space.linear();
    // The first mappable byte of RAM (no-map reservations, OpenSBI's, are holes).
    let first = space.map().mappable().next().map_or(0, |r| r.start_u64());
    let va = po + (first - lm.base.as_u64());
    match space.tables().translate(VirtAddr::new(va)) {
        Ok(t) if t.pa.as_u64() == first => {}
        other => fail!(
            "{va:#x} (PAGE_OFFSET {po:#x} + {:#x}) translates to {other:?}, not {first:#x}",
            first - lm.base.as_u64()
        ),
    }
    let end = space.map().mappable().last().map_or(0, |r| r.end()).min(lm.base.as_u64() + lm.size);
    let last = po + (end - lm.base.as_u64()) - 1;
    if last >= 0xf000_0000 {
        fail!("lowmem runs to {last:#x}, into the shared top");
    }
    match space.tables().translate(VirtAddr::new(last)) {
        Ok(t) if t.pa.as_u64() == end - 1 => Ok(()),
        other => fail!("lowmem's last byte {last:#x}: {other:?}"),
    }
}

/// Address 0x1000 is not mapped in the kernel's space (user space empty; 4G/4G's NULL trap).
fn null_trap() -> Outcome {
    match probe_load(0x1000) {
        Err(f) if f.scause == 13 && f.stval == 0x1000 => Ok(()),
        other => fail!("a load from 0x1000: {other:?}"),
    }
}

/// A highmem frame mapped in vmalloc (whose tables were pinned at boot: no table is made,
/// none freed), written there, read through kmap, unmapped again.
fn vmalloc_map(space: &mut KernelSpace32) -> Outcome {
    let Some(pa) = space.alloc_user_frame() else { fail!("no frame") };
    let va = space.vmalloc().start().as_u64() + 16 * PAGE_SIZE;
    let result = vmalloc_roundtrip(space, va, pa);
    space.free_user_frame(pa);
    result
}

fn vmalloc_roundtrip(space: &mut KernelSpace32, va: u64, pa: PhysAddr) -> Outcome {
    let (tables, frames) = space.tables_mut();
    let before = tables.stats().map(|s| s.tables).unwrap_or(0);
    match tables.map(VirtAddr::new(va), pa, kvas::PageSize::Size4K, kvas::paging::Attrs::KERNEL_RW, frames) {
        Ok(flush) => flush.apply(super::mmu::flush_page, super::mmu::flush_all),
        Err(e) => fail!("mapping {va:#x}: {e}"),
    }
    // SAFETY: `va` maps the frame this test owns, read-write, until the unmap below.
    unsafe { core::ptr::write_volatile(va as usize as *mut u32, 0x0bad_cafe) };
    let seen = match space.kmap(pa) {
        Some(mut k) => u32::from_le_bytes([k.bytes()[0], k.bytes()[1], k.bytes()[2], k.bytes()[3]]),
        None => fail!("no kmap for {pa}"),
    };
    let (tables, frames) = space.tables_mut();
    match tables.unmap(VirtAddr::new(va), kvas::PageSize::Size4K, frames) {
        Ok(flush) => flush.apply(super::mmu::flush_page, super::mmu::flush_all),
        Err(e) => fail!("unmapping {va:#x}: {e}"),
    }
    let after = tables.stats().map(|s| s.tables).unwrap_or(0);
    if seen != 0x0bad_cafe || before != after {
        fail!("read {seen:#x} through kmap; tables {before} before, {after} after (pinned: no change)");
    }
    match probe_load(va) {
        Err(_) => Ok(()),
        Ok(_) => fail!("{va:#x} still mapped after the unmap"),
    }
}

/// The page below the boot stack is unmapped (a load there faults, the engine finds no
/// leaf), the stack's lowest page is mapped read-write.
fn stack_guard(space: &mut KernelSpace32) -> Outcome {
    let guard = KERNEL_LINK_ADDR + crate::image::stack_guard();
    if let Ok(t) = space.tables().translate(VirtAddr::new(guard)) {
        fail!("the guard page {guard:#x} is mapped: {t:?}");
    }
    if probe_load(guard).is_ok() {
        fail!("a load from the guard page {guard:#x} succeeded");
    }
    // Its own byte written back: the stack's lowest page is far below what kmain uses.
    let bottom = guard + PAGE_SIZE;
    match probe_load(bottom).and_then(|b| probe_store(bottom, b)) {
        Ok(()) => Ok(()),
        Err(f) => fail!("the stack's lowest page {bottom:#x} faults (scause {:#x})", f.scause),
    }
}

/// User frames come from highmem first, zeroed, reached through kmap, and go back.
fn user_frames(space: &mut KernelSpace32) -> Outcome {
    let floor = space.linear().base.as_u64() + space.linear().size;
    let mut got = [PhysAddr::ZERO; 8];
    for slot in got.iter_mut() {
        let Some(pa) = space.alloc_user_frame() else { fail!("no frame for user space") };
        *slot = pa;
        let Some(mut k) = space.kmap(pa) else { fail!("no kmap for {pa}") };
        if k.bytes().iter().any(|&b| b != 0) {
            fail!("user frame {pa} is not zeroed");
        }
        k.bytes()[0] = 0xa5;
    }
    let high = got.iter().filter(|p| p.as_u64() >= floor).count() as u64;
    let want = if space.highmem_bytes() >= 8 * PAGE_SIZE { 8 } else { 0 };
    let in_use = space.highmem_in_use();
    for pa in got {
        space.free_user_frame(pa);
    }
    if high != want || in_use != want {
        fail!("{high} of 8 user frames from highmem ({in_use} counted), expected {want}");
    }
    if space.highmem_in_use() != 0 {
        fail!("{} highmem frames still counted in use after freeing", space.highmem_in_use());
    }
    Ok(())
}

/// Highmem frames written through kmap and read back through kmap, with slots released;
/// a frame Sv32 cannot encode (2^34: the PPN field would wrap to frame 0) is refused.
fn highmem_kmap(space: &mut KernelSpace32) -> Outcome {
    let beyond = PhysAddr::new_truncate(1 << kvas::arch::riscv32::PA_BITS);
    if let Some(k) = space.kmap(beyond) {
        fail!("kmap of {beyond} (beyond 34 bits) gave {:#x}", k.va());
    }
    if let Some(k) = space.kmap_local(beyond) {
        fail!("kmap_local of {beyond} (beyond 34 bits) gave {:#x}", k.va());
    }
    let Some(high) = space.linear().capped else {
        return if space.highmem_bytes() == 0 {
            Ok(())
        } else {
            fail!("highmem bytes without a capped range")
        };
    };
    // The first frames past lowmem and the last one of RAM.
    let last = space.map().free().last().map_or(0, |r| r.end() - PAGE_SIZE);
    let frames = [high.start_u64(), high.start_u64() + PAGE_SIZE, high.start_u64() + 64 * PAGE_SIZE, last];
    for (i, &pa) in frames.iter().enumerate() {
        if space.map().reservation_at(pa).is_some() {
            continue;
        }
        let Some(mut k) = space.kmap(PhysAddr::new_truncate(pa)) else { fail!("no kmap slot for {pa:#x}") };
        if !(PKMAP_BASE..PKMAP_BASE + 1024 * PAGE_SIZE).contains(&k.va()) {
            fail!("highmem {pa:#x} kmapped at {:#x}, not in the pkmap", k.va());
        }
        for (j, b) in k.bytes().iter_mut().enumerate() {
            *b = (i * 31 + j) as u8;
        }
    }
    if space.pkmap().in_use() != 0 {
        fail!("{} pkmap slots still in use after the guards dropped", space.pkmap().in_use());
    }
    // kmap_local: all 16 fixmap slots at once, the 17th refused, each frame's bytes seen.
    let fix = kvas::kspace::sv32::FIX_KMAP;
    let mut held: [Option<super::kmap::Kmap>; 16] = Default::default();
    for slot in held.iter_mut() {
        *slot = space.kmap_local(PhysAddr::new_truncate(frames[1]));
    }
    let vas: [u64; 16] = core::array::from_fn(|i| held[i].as_ref().map_or(0, |k| k.va()));
    if vas.iter().enumerate().any(|(i, &va)| va != fix + i as u64 * PAGE_SIZE) {
        fail!("kmap_local slots at {vas:#x?}, not the fixmap's 16 from {fix:#x}");
    }
    if space.kmap_local(PhysAddr::new_truncate(frames[1])).is_some() {
        fail!("a 17th kmap_local slot was handed out");
    }
    if let Some(k) = held[15].as_mut() {
        if k.bytes()[5] != (31 + 5) as u8 {
            fail!("kmap_local of {:#x} reads {:#x} at byte 5", frames[1], k.bytes()[5]);
        }
    }
    drop(held);
    if space.kmap_local_slots().in_use() != 0 {
        fail!("kmap_local slots still in use after the guards dropped");
    }
    // Two at once, then read every frame back (a slot reused for another frame must show
    // that frame's bytes: the flush on release works).
    let (a, b) =
        (space.kmap(PhysAddr::new_truncate(frames[0])), space.kmap(PhysAddr::new_truncate(frames[1])));
    match (&a, &b) {
        (Some(a), Some(b)) if a.va() != b.va() => {}
        _ => fail!("two guards at once did not get two slots"),
    }
    drop((a, b));
    for (i, &pa) in frames.iter().enumerate().rev() {
        if space.map().reservation_at(pa).is_some() {
            continue;
        }
        let Some(mut k) = space.kmap(PhysAddr::new_truncate(pa)) else { fail!("no kmap slot for {pa:#x}") };
        if let Some(j) = k.bytes().iter().enumerate().position(|(j, &b)| b != (i * 31 + j) as u8) {
            fail!("highmem {pa:#x} byte {j} reads {:#x} through kmap", k.bytes()[j]);
        }
    }
    Ok(())
}

//! The user-space tests: one line each, `usertest NAME ... ok` or `... FAILED: reason`,
//! counted in the closing line. Most run `ut TEST TASK_SIZE KERNEL_TEXT` (user/src/bin/ut.rs) and check
//! how it ended; the kernel-side ones check what a program cannot see (leaf sizes, frames,
//! SUM, ASIDs).

// The kernel has no heap: a failure reason is a fixed buffer, returned by value.
#![allow(clippy::result_large_err)]

use core::fmt::Write;

use kvas::sizes::PAGE_SIZE;
use kvas::VirtAddr;
use kvas_kernel_core::user::asid::Asids;
use kvas_kernel_core::user::syscall::{map, prot};
use kvas_kernel_core::user::vmas::{Access, Refusal};

use super::arch::KernelSpace;
use super::process::{Exit, User};
use super::programs::UT;
use super::uaccess;
use crate::kprintln;
use crate::trap::probe_load;

/// A failure reason in a fixed buffer.
pub struct Reason {
    buf: [u8; 160],
    len: usize,
}

impl Write for Reason {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?"))
    }
}

macro_rules! fail {
    ($($arg:tt)*) => {{
        let mut r = Reason { buf: [0; 160], len: 0 };
        let _ = write!(r, $($arg)*);
        return Err(r);
    }};
}

mod separate;
#[cfg(target_arch = "riscv64")]
mod smp;

type Test = fn(&mut User, &mut KernelSpace) -> Result<(), Reason>;

const TESTS: &[(&str, Test)] = &[
    ("user-half-is-task-size", user_half),
    ("syscalls", |u, _| expect_exit(u, "syscalls", 0)),
    ("isolation", isolation),
    ("fpu-per-process", fpu_per_process),
    ("top-page-and-task-size", |u, _| expect_exit(u, "top", 0)),
    ("mmap-placement", |u, _| expect_exit(u, "mmap", 0)),
    ("demand-paging-2m-4k", demand),
    ("efault", |u, _| expect_exit(u, "efault", 0)),
    ("kill-load-kernel-text", |u, _| {
        let text = Some(super::entry::kernel_text());
        expect_kill_at(u, "kill-kernel-load", "load from a kernel address", text)
    }),
    ("kill-store-read-only", |u, _| expect_kill(u, "kill-ro-store", "store to a read-only page")),
    ("kill-fetch-data-page", |u, _| {
        expect_kill(u, "kill-fetch-data", "instruction fetch from a non-executable page")
    }),
    ("kill-after-munmap", |u, _| expect_kill(u, "kill-munmap", "load from an unmapped address")),
    ("kill-after-mprotect", |u, _| expect_kill(u, "kill-mprotect", "store to a read-only page")),
    ("sum-only-during-copies", sum_only_during_copies),
    ("trap-satp", separate::trap_satp),
    ("no-frame-leaked", no_frame_leaked),
    ("asid-rollover", asid_rollover),
    ("init-program", init_program),
    ("cost", |u, _| expect_exit(u, "cost", 0)),
    ("split-cost", separate::split_cost),
];

/// The riscv64 kernel's own: vmalloc after a space was made, the shootdown counters, and
/// several harts.
#[cfg(target_arch = "riscv64")]
const ARCH_TESTS: &[(&str, Test)] = &[
    ("kernel-half-shared", kernel_half_shared),
    ("unmap-frees-after-flush", unmap_frees_after_flush),
    ("mprotect-flushes-its-pages", mprotect_flushes_its_pages),
    ("smp-processes-at-once", smp::processes_at_once),
    ("smp-munmap-reaches-other-hart", smp::munmap_reaches_other_hart),
    ("smp-fpu-follows-process", smp::fpu_follows_process),
    ("smp-asid-rollover-keeps-live-asids", smp::asid_rollover_keeps_live_asids),
];
/// riscv32's own: under 4G/4G the kernel's linear map is not global; a process's root
/// shares the kernel's top.
#[cfg(target_arch = "riscv32")]
const ARCH_TESTS: &[(&str, Test)] = &[
    ("linear-not-global-when-separate", separate::linear_not_global),
    ("process-root-shares-top", separate::shared_top),
    ("write-across-pages", |u, _| expect_exit(u, "cross-write", 0)),
    ("user-pages-in-highmem", user_pages_in_highmem),
];

/// Runs every test; returns (passed, failed).
pub fn run_all(user: &mut User, space: &mut KernelSpace) -> (u32, u32) {
    let mut tally = (0, 0);
    for (name, test) in TESTS.iter().chain(ARCH_TESTS) {
        let r = test(user, space);
        // Whatever the test left behind goes.
        for pid in 1..user.next_pid {
            let _ = user.reap(pid);
        }
        crate::tally::record("usertest", name, r, &mut tally);
    }
    tally
}

fn hex(v: u64) -> HexArg {
    let mut h = HexArg { buf: [0; 18], len: 0 };
    let _ = write!(h, "{v:#x}");
    h
}

struct HexArg {
    buf: [u8; 18],
    len: usize,
}

impl Write for HexArg {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl HexArg {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("0")
    }
}

/// Starts `ut TEST TASK_SIZE KERNEL_TEXT` (an address in the kernel's text as it runs).
fn spawn_ut(u: &mut User, test: &str) -> Result<u64, Reason> {
    let ts = hex(u.task_size);
    let kt = hex(super::entry::kernel_text());
    match u.spawn(&UT.0, &["ut", test, ts.as_str(), kt.as_str()]) {
        Ok(pid) => Ok(pid),
        Err(e) => fail!("ut {test} does not start: {e}"),
    }
}

fn ended(u: &mut User, pid: u64) -> Option<Exit> {
    u.procs.iter().flatten().find(|p| p.pid == pid).and_then(|p| p.exit)
}

fn expect_exit(u: &mut User, test: &str, status: u64) -> Result<(), Reason> {
    let pid = spawn_ut(u, test)?;
    u.run_all();
    match ended(u, pid) {
        Some(Exit::Status(s)) if s == status => Ok(()),
        Some(Exit::Status(s)) => fail!("ut {test} exited with status {s}"),
        Some(Exit::Killed(cause, addr)) => fail!("ut {test} was killed: {cause} at {addr:#x}"),
        None => fail!("ut {test} did not end"),
    }
}

fn expect_kill(u: &mut User, test: &str, want: &str) -> Result<(), Reason> {
    expect_kill_at(u, test, want, None)
}

/// `ut TEST` must be killed for `want`, at `at` if given.
fn expect_kill_at(u: &mut User, test: &str, want: &str, at: Option<u64>) -> Result<(), Reason> {
    let pid = spawn_ut(u, test)?;
    u.run_all();
    match ended(u, pid) {
        Some(Exit::Killed(cause, addr)) if cause == want && at.is_none_or(|a| a == addr) => Ok(()),
        Some(Exit::Killed(cause, addr)) => fail!("killed for `{cause}` at {addr:#x}, expected `{want}`"),
        Some(Exit::Status(s)) => fail!("ut {test} exited with status {s} instead of being killed"),
        None => fail!("ut {test} did not end"),
    }
}

/// TASK_SIZE is kvas::layout's user region, the engine's lower half in Sv39, Sv48 and Sv57
/// (each the mode's lower half); on riscv32 where the kernel's own root starts mapping what
/// processes must not own ([`kernel_floor`]); and the areas refuse TASK_SIZE itself and take
/// the page below.
fn user_half(u: &mut User, space: &mut KernelSpace) -> Result<(), Reason> {
    #[cfg(target_arch = "riscv64")]
    let half = super::expected_task_size(space);
    #[cfg(target_arch = "riscv32")]
    let Some(half) = kernel_floor(space) else {
        fail!("the kernel's root maps nothing of its own")
    };
    if u.task_size != half {
        fail!("TASK_SIZE {:#x} is not the lower half's end {half:#x}", u.task_size);
    }
    let pid = spawn_ut(u, "none")?;
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    let ts = u.task_size;
    let anon = map::PRIVATE | map::ANONYMOUS | map::FIXED;
    match p.space.areas.place(ts - PAGE_SIZE, PAGE_SIZE, prot::READ, anon) {
        Ok(pl) if pl.start == ts - PAGE_SIZE => {}
        other => fail!("the highest page: {other:?}"),
    }
    if p.space.areas.place(ts, PAGE_SIZE, prot::READ, anon).is_ok() {
        fail!("TASK_SIZE itself accepted");
    }
    if p.space.areas.check(ts, Access::Load) != Err(Refusal::KernelAddress) {
        fail!("a fault at TASK_SIZE is not refused as a kernel address");
    }
    // The stack's top page is the window's last page and is mapped.
    let top = p.space.areas.layout.stack_top - PAGE_SIZE;
    if p.space.table().translate(VirtAddr::new(top)).is_err() {
        fail!("the stack's top page {top:#x} is not mapped");
    }
    p.exit = Some(Exit::Status(0));
    Ok(())
}

/// Where `ut isolation` maps its page: 0x70000000, or mid-way below a smaller TASK_SIZE.
fn isolation_at(task_size: u64) -> u64 {
    if task_size > 0x8000_0000 {
        0x7000_0000
    } else {
        task_size / 2
    }
}

fn isolation(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let (a, b) = (spawn_ut(u, "isolation")?, spawn_ut(u, "isolation")?);
    u.run_all();
    for pid in [a, b] {
        match ended(u, pid) {
            Some(Exit::Status(0)) => {}
            other => fail!("pid {pid} ended {other:?}"),
        }
    }
    // Same VA, different frames.
    let pa = |u: &User, pid| {
        u.procs
            .iter()
            .flatten()
            .find(|p| p.pid == pid)
            .and_then(|p| p.space.table().translate(VirtAddr::new(isolation_at(u.task_size))).ok())
    };
    match (pa(u, a), pa(u, b)) {
        (Some(x), Some(y)) if x.pa != y.pa => Ok(()),
        (x, y) => fail!("0x70000000 maps to {x:?} and {y:?}"),
    }
}

/// Where user space must end on riscv32, read from the kernel's root as kvas::kspace built
/// it (not from kvas::layout or the split): the first valid 4 MiB root entry that is the
/// kernel's alone — in the shared splits the first valid one at all (the linear map starts at
/// PAGE_OFFSET), under 4G/4G the first past the kernel's linear map (the shared top: image,
/// vmalloc, pkmap, fixmap).
#[cfg(target_arch = "riscv32")]
fn kernel_floor(space: &KernelSpace) -> Option<u64> {
    let lm = space.linear();
    let root = lm.va_of(space.root())?.as_u64() as usize as *const u32;
    let own_from = match space.split() {
        kvas::layout::Vmsplit::G4G4 => lm.page_offset.as_u64() + lm.size,
        _ => 0,
    };
    (0..1024u64).map(|i| i << 22).filter(|&va| va >= own_from).find(|&va| {
        // SAFETY: the kernel's root is a lowmem frame of 1024 entries, read through the
        // linear map; its entries change only at boot.
        let e = unsafe { root.add((va >> 22) as usize).read_volatile() };
        e & 1 != 0
    })
}

/// Three `ut fpu` processes, round-robin: each keeps values naming it in every f-register
/// and in `frm` across four yields to the others (the FPU state switches with the process).
/// On riscv32 harts without D, FS stays Off: each is killed at its first `fld`, and the
/// kernel's switches touch no f-register.
fn fpu_per_process(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let pids = [spawn_ut(u, "fpu")?, spawn_ut(u, "fpu")?, spawn_ut(u, "fpu")?];
    u.run_all();
    #[cfg(target_arch = "riscv32")]
    if !super::fpu::available() {
        for pid in pids {
            match ended(u, pid) {
                Some(Exit::Killed("illegal instruction", _)) => {}
                other => fail!("ut fpu (pid {pid}) on harts without D ended {other:?}, not killed"),
            }
        }
        return Ok(());
    }
    for pid in pids {
        match ended(u, pid) {
            Some(Exit::Status(0)) => {}
            other => fail!("ut fpu (pid {pid}) ended {other:?}: another process's FPU state?"),
        }
    }
    Ok(())
}

fn demand(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let pid = spawn_ut(u, "demand")?;
    u.run_all();
    let Some(p) = u.procs.iter().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    if p.exit != Some(Exit::Status(0)) {
        fail!("ut demand ended {:?}", p.exit);
    }
    // 512 touches of the 2 MiB block: one fault, one 2 MiB leaf; then two 4 KiB faults (and
    // the stack's).
    if !super::arch::HUGE {
        // Sv32: 4 KiB pages only (a 4 MiB megapage per fault is not done), 1024 of them.
        if p.space.faults_2m != 0 || p.space.faults_4k < 1024 + 2 {
            fail!(
                "faults: {} large, {} of 4 KiB (expected 0 and >= 1026)",
                p.space.faults_2m,
                p.space.faults_4k
            );
        }
        return Ok(());
    }
    if p.space.faults_2m != 1 || p.space.faults_4k < 2 {
        fail!(
            "faults: {} of 2 MiB (expected 1), {} of 4 KiB (expected >= 2)",
            p.space.faults_2m,
            p.space.faults_4k
        );
    }
    Ok(())
}

fn no_frame_leaked(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let before = u.pool.free_frames();
    for test in ["demand", "mmap", "syscalls", "kill-munmap"] {
        let pid = spawn_ut(u, test)?;
        u.run_all();
        let _ = u.reap(pid);
    }
    let after = u.pool.free_frames();
    if after != before {
        fail!("{before} frames free before, {after} after the processes exited");
    }
    if after != u.pool.total_frames() {
        fail!("{after} of {} pool frames free with no process", u.pool.total_frames());
    }
    Ok(())
}

/// With a process's space live and one of its pages mapped, a plain kernel load from it
/// faults (SUM is clear), a copy reads it (SUM set for the copy), and SUM is clear after it.
fn sum_only_during_copies(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let pid = spawn_ut(u, "none")?;
    let task_size = u.task_size;
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    p.space.activate(&mut u.asids);
    let addr = p.space.areas.layout.stack_top - 16;
    let direct = probe_load(addr);
    let reaches = separate::kernel_load_reaches_user(&p.space, addr);
    let mut word = [0u8; 8];
    let copied = p.space.copy_from_user(&mut word, addr);
    let sum_after = uaccess::sum_is_set();
    let beyond = uaccess::in_user_half(task_size - 4, 8, task_size);
    p.exit = Some(Exit::Status(0));
    u.back_to_kernel();
    match (u.separate, direct) {
        (_, _) if reaches => {
            fail!("the kernel's plain load of user address {addr:#x} reads the process's page")
        }
        // Separate: the kernel's own root may map that address (4G/4G's linear map covers
        // the user range when RAM is large): it is the kernel's memory, not the process's.
        (true, _) => {}
        (false, Ok(_)) => fail!("the kernel read user address {addr:#x} with SUM clear"),
        (false, Err(f)) if f.scause != 13 => {
            fail!("scause {:#x} for the kernel's load of a user page", f.scause)
        }
        (false, Err(_)) => {}
    }
    if let Err(f) = copied {
        fail!("copy_from_user faulted at {:#x}", f.addr);
    }
    if sum_after {
        fail!("SUM still set after the copy");
    }
    if beyond {
        fail!("a range across TASK_SIZE passed the check");
    }
    Ok(())
}

/// Five processes with the same VA and different data, run round-robin with the ASID width
/// capped at 2 bits (ASIDs 1..3): the generation rolls over while they run, and each still
/// sees only its own data. The allocator is this test's, on this hart only; every hart
/// forgets the ASIDs of the one it replaces, and of itself after.
fn asid_rollover(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let bits = u.asids.bits();
    u.asids = Asids::new(bits.min(2), 1);
    super::arch::flush_every_hart();
    let flushes = u.flushes;
    let mut pids = [0; 5];
    for p in pids.iter_mut() {
        *p = spawn_ut(u, "isolation")?;
    }
    u.run_all();
    let rollovers = u.asids.rollovers();
    u.asids = super::new_asids(bits);
    super::arch::flush_every_hart();
    for pid in pids {
        match ended(u, pid) {
            Some(Exit::Status(0)) => {}
            other => fail!("pid {pid} ended {other:?} (a stale translation?)"),
        }
    }
    if bits > 0 && rollovers == 0 {
        fail!("no rollover with 5 processes on 3 ASIDs");
    }
    if u.flushes == flushes {
        fail!("no full flush while switching");
    }
    kprintln!(
        "kvas: asid-rollover: {rollovers} rollovers, {} full flushes, {} asid bits",
        u.flushes - flushes,
        bits.min(2)
    );
    Ok(())
}

/// The initrd's test program, run from the image: it writes its line and its exit status
/// reaches the kernel.
fn init_program(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let pid = match u.spawn(&super::programs::INIT.0, &["/init"]) {
        Ok(pid) => pid,
        Err(e) => fail!("init does not start: {e}"),
    };
    u.run_all();
    match ended(u, pid) {
        Some(Exit::Status(7)) => Ok(()),
        other => fail!("init ended {other:?}, expected status 7"),
    }
}

#[cfg(target_arch = "riscv64")]
/// A frame allocator that counts the frames given back before any by-ASID flush since it
/// was made (a frame another hart may still translate to).
struct FreeAfterFlush<'a> {
    pool: &'a mut super::space::Pool,
    flushes: u64,
    freed: u64,
    early: u64,
}

#[cfg(target_arch = "riscv64")]
impl kvas::paging::FrameAllocator for FreeAfterFlush<'_> {
    fn allocate_frame(&mut self) -> Option<kvas::PhysAddr> {
        self.pool.allocate_frame()
    }

    fn free_frame(&mut self, frame: kvas::PhysAddr) {
        self.freed += 1;
        if crate::mm::shootdown::asid_flushes().0 == self.flushes {
            self.early += 1;
        }
        self.pool.free_frame(frame);
    }
}

#[cfg(target_arch = "riscv64")]
/// An unmap gives its frames back only after its TLB flush: a live space with a 2 MiB leaf
/// and two 4 KiB pages faulted in is unmapped through an allocator that counts the frames
/// freed before any flush.
fn unmap_frees_after_flush(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    use kvas::sizes::SZ_2M;
    use kvas_kernel_core::user::vmas::{Area, Kind};
    let pid = spawn_ut(u, "none")?;
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    p.exit = Some(Exit::Status(0));
    let (base, len) = (0x4000_0000u64, SZ_2M + 2 * PAGE_SIZE);
    let area = Area { start: base, end: base + len, prot: prot::READ | prot::WRITE, kind: Kind::Anon };
    if p.space.areas.insert(area).is_err() {
        fail!("no room for an area at {base:#x}");
    }
    p.space.activate(&mut u.asids);
    for a in [base, base + SZ_2M, base + SZ_2M + PAGE_SIZE] {
        if let Err(r) = p.space.fault(a, Access::Store, &mut u.pool) {
            fail!("fault at {a:#x} refused: {r:?}");
        }
    }
    let mut spy = FreeAfterFlush {
        pool: &mut u.pool,
        flushes: crate::mm::shootdown::asid_flushes().0,
        freed: 0,
        early: 0,
    };
    p.space.unmap(base, base + len, &mut spy);
    let (freed, early, leaf) = (spy.freed, spy.early, p.space.faults_2m);
    u.back_to_kernel();
    let want = if leaf == 1 { 514 } else { 3 };
    if freed < want {
        fail!("{freed} frames freed, fewer than the {want} unmapped");
    }
    if early > 0 {
        fail!("{early} of {freed} frames freed before the TLB flush");
    }
    Ok(())
}

#[cfg(target_arch = "riscv64")]
/// `mprotect` flushes what the engine asks: one page by page (the rest of the ASID's
/// translations stay cached), more than `Flush::THRESHOLD` pages the whole ASID.
fn mprotect_flushes_its_pages(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    use crate::mm::shootdown::asid_flushes;
    use kvas_kernel_core::user::vmas::{Area, Kind};
    let pid = spawn_ut(u, "none")?;
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    p.exit = Some(Exit::Status(0));
    let (base, pages) = (0x4000_0000u64, 80u64);
    let rw = prot::READ | prot::WRITE;
    let area = Area { start: base, end: base + pages * PAGE_SIZE, prot: rw, kind: Kind::Anon };
    if p.space.areas.insert(area).is_err() {
        fail!("no room for an area at {base:#x}");
    }
    p.space.activate(&mut u.asids);
    let mut result = Ok(());
    for i in 0..pages {
        if let Err(r) = p.space.fault(base + i * PAGE_SIZE, Access::Store, &mut u.pool) {
            result = result.and_then(|()| fail!("fault at page {i} refused: {r:?}"));
        }
    }
    let mut counted = [(0, 0); 2];
    for (n, c) in [(1u64, 0usize), (pages, 1)] {
        let before = asid_flushes();
        if let Err(e) = p.space.protect(base, base + n * PAGE_SIZE, prot::READ, &mut u.pool) {
            result = result.and_then(|()| fail!("protect of {n} pages: {e}"));
        }
        let after = asid_flushes();
        counted[c] = (after.0 - before.0, after.1 - before.1);
    }
    u.back_to_kernel();
    result?;
    match counted {
        [(1, 0), (1, 1)] => Ok(()),
        [(1, 1), _] => fail!("protecting one page flushed the whole ASID"),
        c => fail!("flushes (calls, whole ASID) for 1 and {pages} pages: {c:?}, not [(1, 0), (1, 1)]"),
    }
}

#[cfg(target_arch = "riscv64")]
/// One copy of the kernel half is enough: after a process's space was made, a vmalloc area
/// mapped later (new tables below a pinned root entry) reads back through the process's
/// space, and its root's kernel half still equals the kernel's, entry for entry.
fn kernel_half_shared(u: &mut User, space: &mut KernelSpace) -> Result<(), Reason> {
    let pid = spawn_ut(u, "none")?;
    let area = match space.vmalloc(3 << 20) {
        Ok(a) => a,
        Err(e) => fail!("vmalloc: {e}"),
    };
    let last = area.start().as_u64() + (3 << 20) - 8;
    // SAFETY: the area was just mapped read-write for 3 MiB; nothing else uses it.
    unsafe { core::ptr::write_volatile(last as *mut u64, 0x5eed_cafe) };
    let root = space.root();
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    let same = p.space.kernel_half_equals(root);
    p.space.activate(&mut u.asids);
    let seen = probe_load(last);
    p.exit = Some(Exit::Status(0));
    u.back_to_kernel();
    let _ = space.vfree(area);
    match seen {
        Ok(0xfe) => {}
        Ok(b) => fail!("{last:#x} reads {b:#x} through the process's space"),
        Err(f) => fail!("{last:#x} faults through the process's space (scause {:#x})", f.scause),
    }
    match same {
        Some(i) => fail!("root entry {i} of the kernel half differs from the kernel's"),
        None => Ok(()),
    }
}

#[cfg(target_arch = "riscv32")]
/// With highmem, user pages come from it first (and without, never): two pages faulted in
/// are highmem frames, 200 bytes copied to user memory across their boundary and back
/// (pinned through kmap slots when separate, through the process's mapping with SUM when
/// shared) read the same and lie in those frames as the kernel sees them through kmap. Last
/// of the tests, it prints the pool's count of user pages from highmem since boot.
fn user_pages_in_highmem(u: &mut User, space: &mut KernelSpace) -> Result<(), Reason> {
    use kvas_kernel_core::user::vmas::{Area, Kind};
    let pid = spawn_ut(u, "none")?;
    let Some(p) = u.procs.iter_mut().flatten().find(|p| p.pid == pid) else { fail!("no process") };
    p.exit = Some(Exit::Status(0));
    let base = (u.task_size / 4) & !(PAGE_SIZE - 1);
    let area =
        Area { start: base, end: base + 2 * PAGE_SIZE, prot: prot::READ | prot::WRITE, kind: Kind::Anon };
    if p.space.areas.insert(area).is_err() {
        fail!("no room for an area at {base:#x}");
    }
    p.space.activate(&mut u.asids);
    let mut result = Ok(());
    for a in [base, base + PAGE_SIZE] {
        if let Err(r) = p.space.fault(a, Access::Store, &mut u.pool) {
            result = result.and_then(|()| fail!("fault at {a:#x} refused: {r:?}"));
        }
    }
    let at = base + PAGE_SIZE - 100;
    let pattern: [u8; 200] = core::array::from_fn(|i| (i * 7 + 3) as u8);
    let mut back = [0u8; 200];
    let to = p.space.copy_to_user(at, &pattern);
    let from = p.space.copy_from_user(&mut back, at);
    // SAFETY: the kernel's satp maps the kernel half every process shares.
    unsafe { super::arch::switch_user(u.kernel_satp, u.asids.bits() == 0) };
    result?;
    if let Err(f) = to.and(from) {
        fail!("a copy across {:#x} faulted at {:#x}", base + PAGE_SIZE, f.addr);
    }
    if back != pattern {
        fail!("copy_from_user read back other bytes than copy_to_user wrote across a page boundary");
    }
    let highmem = u.pool.high().is_some();
    for (page, off, bytes) in
        [(base, PAGE_SIZE as usize - 100, &pattern[..100]), (base + PAGE_SIZE, 0, &pattern[100..])]
    {
        let pa = match p.space.table().translate(VirtAddr::new(page)) {
            Ok(t) => t.pa,
            Err(e) => fail!("{page:#x} is not mapped: {e}"),
        };
        let in_high = space.linear().va_of(pa).is_none();
        if in_high != highmem {
            fail!("user page {page:#x} is frame {pa} (highmem: {in_high}) with a highmem pool: {highmem}");
        }
        let Some(mut frame) = super::arch::map_frame(pa.as_u64(), u.offset) else {
            fail!("no kmap slot for {pa}")
        };
        if &frame.bytes()[off..off + bytes.len()] != bytes {
            fail!("frame {pa} (user page {page:#x}) does not hold the bytes copied there");
        }
    }
    let (pages, high) = u.pool.user_pages();
    kprintln!("kvas: user pages {pages}, from highmem {high}");
    if highmem && high == 0 {
        fail!("no user page from highmem (of {pages}) with a highmem pool");
    }
    if !highmem && (high != 0 || space.highmem_bytes() != 0) {
        fail!(
            "{high} user pages from highmem with no highmem pool ({:#x} bytes of highmem)",
            space.highmem_bytes()
        );
    }
    Ok(())
}

//! Every hart: started through SBI HSM, each on its own stack, all in the same kernel tables.
//!
//! Whichever hart OpenSBI entered `_start` with is the boot hart; it alone probes the depth,
//! builds the tables and runs the sequence of kmain. Then [`start_secondaries`] asks SBI HSM
//! to start every other hart (`hart_get_status` says which ids exist), one at a time, at
//! `kvas_secondary_start` (mm/mmu.rs) with the MMU off and `opaque` = the physical address of its
//! [`StartBlock`]: the kernel's `satp`, its entry and its stack (64 KiB of vmalloc, so
//! every hart traps on its own stack: its own trap frames). The assembly points `stvec` at the
//! virtual address of the instruction after its `satp` write and writes `satp`: the fetch at
//! the old physical PC faults into that very instruction, now virtual (Linux's
//! `relocate_enable_mmu`), so no identity mapping is needed. The hart then reads `satp`
//! back: the boot hart's probe chose the mode, and a hart that does not take it keeps Bare
//! and says so through its block (the boot hart stops the boot with the value it read).
//!
//! A started hart prints `kvas: hart N up (satp mode svNN)`, joins the kernel's hart mask
//! (mm/shootdown.rs) and idles in `wfi` with only the software interrupt enabled (never
//! taken: `sstatus.SIE` stays off). [`on_each_hart`] runs a function on every hart: it
//! publishes the function, sends an SBI IPI, runs it itself, and waits until each hart has
//! run it — the kernel's `smp_call_function`.
//!
//! `tp` holds the hart id from the first instruction on every hart ([`hart_id`]).

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kvas::arch::riscv::{Mode, Satp};

use crate::mm::{mmu, shootdown, KernelSpace};
use crate::{kprintln, power};

/// Harts the kernel can run on (ids 0..MAX_HARTS; a hart mask is one u64).
pub const MAX_HARTS: usize = 8;

/// Each secondary's stack.
const STACK_SIZE: u64 = 64 << 10;

/// How long the boot hart waits for a hart to come up or to run a job: 30 s of QEMU virt's
/// 10 MHz timebase (under a boot test's time limit of 60 s; four boots of four harts each
/// on a two-core host make a job of many shootdowns take seconds).
const WAIT_TICKS: u64 = 300_000_000;

/// This hart's id (`tp`, set at entry).
pub fn hart_id() -> u64 {
    let id: u64;
    // SAFETY: reads a register that entry code set to the hart id and Rust never uses.
    unsafe { core::arch::asm!("mv {}, tp", out(reg) id) };
    id
}

/// This hart's slot in per-hart arrays (a hart id past them shares the last: kmain refuses
/// to run on such a boot hart, and such a secondary is never started).
pub fn hart_index() -> usize {
    (hart_id() as usize).min(MAX_HARTS - 1)
}

/// What a secondary reads at its start, with the MMU off, at its physical address.
/// Words: `satp`, entry, stack top, the image's virtual base − load address, and then the
/// hart's answer: [`UP`] or `satp` as it read it back after a refused write.
#[repr(C, align(64))]
struct StartBlock([AtomicU64; 6]);

const SATP: usize = 0;
const ENTRY: usize = 1;
const STACK: usize = 2;
const DELTA: usize = 3;
const ANSWER: usize = 4;

/// Not answered yet.
const WAITING: u64 = u64::MAX;
/// The hart runs in the kernel's tables.
const UP: u64 = u64::MAX - 1;

static START: [StartBlock; MAX_HARTS] = [const { StartBlock([const { AtomicU64::new(0) }; 6]) }; MAX_HARTS];

/// The job [`on_each_hart`] published: the address of a `&(dyn Fn(u64) + Sync)` on the
/// caller's stack (0: none), and its generation.
static JOB: AtomicUsize = AtomicUsize::new(0);
static JOB_GEN: AtomicU64 = AtomicU64::new(0);
/// The last generation each hart has run.
static DONE: [AtomicU64; MAX_HARTS] = [const { AtomicU64::new(0) }; MAX_HARTS];

/// The physical address of a static of the image running at `virt_base`.
fn image_pa<T>(v: &T, virt_base: u64, load_pa: u64) -> u64 {
    (v as *const T as u64).wrapping_sub(virt_base).wrapping_add(load_pa)
}

/// Spins until `done` or the wait runs out; whether `done` came true.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let start = now();
    while !done() {
        if now().wrapping_sub(start) > WAIT_TICKS {
            return done();
        }
        core::hint::spin_loop();
    }
    true
}

fn now() -> u64 {
    let t: u64;
    // SAFETY: reading the time CSR has no side effect (OpenSBI lets S-mode read it).
    unsafe { core::arch::asm!("rdtime {}", out(reg) t) };
    t
}

/// Reports the boot hart and starts every other hart SBI knows of, one at a time; each
/// reports itself. A hart that cannot take the kernel's mode, or does not come up, stops
/// the boot. `deeper` (`kvas.fail=hart-mode`, for the boot test of that stop) hands the
/// harts the kernel's root in the mode one level deeper than the probe chose.
pub fn start_secondaries(space: &mut KernelSpace, virt_base: u64, load_pa: u64, deeper: bool) {
    let me = hart_id();
    if me as usize >= MAX_HARTS {
        power::fatal(format_args!("the boot hart's id {me} is past the {MAX_HARTS} harts the kernel keeps"));
    }
    report_up();
    let mode = match space.mode() {
        Mode::Sv39 if deeper => Mode::Sv48,
        Mode::Sv48 if deeper => Mode::Sv57,
        m => m,
    };
    let satp = match (Satp { mode: Some(mode), asid: 0, root: space.root() }).encode() {
        Ok(v) => v,
        Err(e) => power::fatal(format_args!("the other harts' satp: {e}")),
    };
    for hart in 0..MAX_HARTS as u64 {
        if hart == me || sbi_rt::hart_get_status(hart as usize).is_err() {
            continue; // no such hart
        }
        let stack = match space.vmalloc(STACK_SIZE) {
            Ok(area) => area.start().as_u64() + area.size(),
            Err(e) => power::fatal(format_args!("hart {hart}: no stack: {e}")),
        };
        let block = &START[hart as usize].0;
        let entry = secondary_main as extern "C" fn(u64) -> ! as usize as u64;
        for (i, v) in [
            (SATP, satp),
            (ENTRY, entry),
            (STACK, stack),
            (DELTA, virt_base.wrapping_sub(load_pa)),
            (ANSWER, WAITING),
        ] {
            block[i].store(v, Ordering::Relaxed);
        }
        let start_pa = mmu::secondary_start_pa(virt_base, load_pa);
        // The block's words are visible to the hart before it starts (SBI's ecall orders).
        core::sync::atomic::fence(Ordering::SeqCst);
        let started = sbi_rt::hart_start(
            hart as usize,
            start_pa as usize,
            image_pa(block, virt_base, load_pa) as usize,
        );
        if let Err(e) = started.into_result() {
            power::fatal(format_args!("hart {hart}: SBI hart_start failed: {e:?}"));
        }
        if !wait_until(|| block[ANSWER].load(Ordering::Acquire) != WAITING) {
            power::fatal(format_args!("hart {hart} did not come up"));
        }
        match block[ANSWER].load(Ordering::Acquire) {
            UP => {}
            back => power::fatal(format_args!(
                "hart {hart} does not take the kernel's paging mode {mode}: satp read back {back:#x}"
            )),
        }
    }
}

/// `kvas: hart N up (satp mode svNN)`, from `satp` as this hart reads it.
fn report_up() {
    let satp = mmu::read_satp();
    match Satp::decode(satp).and_then(|s| s.mode) {
        Some(mode) => kprintln!("kvas: hart {} up (satp mode {mode})", hart_id()),
        None => power::fatal(format_args!("hart {}: satp {satp:#x} names no Sv mode", hart_id())),
    }
}

/// A secondary's first Rust code, on its own stack, in the kernel's tables.
extern "C" fn secondary_main(hart: u64) -> ! {
    crate::trap::init();
    report_up();
    shootdown::kernel_harts().add(hart);
    // Only the software interrupt may end a `wfi`; it is never taken (SIE off).
    // SAFETY: enabling one interrupt source in `sie` while `sstatus.SIE` is off only lets
    // `wfi` return on it.
    unsafe { core::arch::asm!("csrs sie, {}", in(reg) 1u64 << 1) };
    let idx = hart as usize;
    let last = JOB_GEN.load(Ordering::Acquire);
    DONE[idx].store(last, Ordering::Release);
    START[idx].0[ANSWER].store(UP, Ordering::Release);
    let mut last = last;
    loop {
        // An IPI that comes after this check leaves SSIP pending, so the `wfi` returns.
        let gen = JOB_GEN.load(Ordering::Acquire);
        if gen == last {
            // SAFETY: waits for an interrupt, then clears this hart's pending software
            // interrupt (set by the IPI that woke it) before the next check.
            unsafe { core::arch::asm!("wfi", "csrc sip, {}", in(reg) 1u64 << 1) };
            continue;
        }
        let job = JOB.load(Ordering::Acquire);
        if job != 0 {
            // SAFETY: `on_each_hart` stored the address of a `&(dyn Fn(u64) + Sync)` that
            // lives on its stack until every hart of the kernel mask has stored this
            // generation in DONE, which this hart does only after the call.
            let f = unsafe { *(job as *const &(dyn Fn(u64) + Sync)) };
            f(hart);
        }
        last = gen;
        DONE[idx].store(gen, Ordering::Release);
    }
}

/// The harts up (the kernel's hart mask).
pub fn harts() -> u64 {
    shootdown::kernel_harts().bits()
}

/// Runs `f(hart)` on every hart that is up, this one included (last), and returns once all
/// have returned. Not reentrant; only the boot hart calls it.
pub fn on_each_hart(f: &(dyn Fn(u64) + Sync)) {
    let me = hart_id();
    let others = harts() & !(1 << me);
    JOB.store(&f as *const &(dyn Fn(u64) + Sync) as usize, Ordering::Release);
    let gen = JOB_GEN.fetch_add(1, Ordering::AcqRel) + 1;
    if others != 0 {
        let sent = sbi_rt::send_ipi(sbi_rt::HartMask::from_mask_base(others as usize, 0));
        if let Err(e) = sent.into_result() {
            power::fatal(format_args!("SBI send_ipi to harts {others:#x} failed: {e:?}"));
        }
    }
    f(me);
    for hart in (0..MAX_HARTS).filter(|h| others & (1 << h) != 0) {
        if !wait_until(|| DONE[hart].load(Ordering::Acquire) == gen) {
            power::fatal(format_args!("hart {hart} did not run job {gen}"));
        }
    }
    JOB.store(0, Ordering::Release);
}

//! User processes on several harts (issue 15): processes running at once, each on its own
//! hart with its own ASID, and a munmap on one hart that must reach the TLB of another hart
//! that ran the process (the space's hart mask, `mm_cpumask`). With one hart both run on it.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use kvas_kernel_core::user::asid::Asids;

use super::super::process::{Exit, PoolAccess, Process, User};
use super::super::space::Pool;
use super::{spawn_ut, Reason};
use crate::kprintln;
use crate::mm::{mmu, KernelSpace};
use crate::smp::{self, MAX_HARTS};

/// What the harts share while they run processes: the pool and the ASID allocator.
struct Shared<'a> {
    pool: &'a mut Pool,
    asids: &'a mut Asids,
}

/// The pool through the shared lock, for the kernel side of a slice.
struct Locked<'l, 'a>(&'l spin::Mutex<Shared<'a>>);

impl PoolAccess for Locked<'_, '_> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Pool) -> R) -> R {
        f(self.0.lock().pool)
    }
}

/// One slot per hart, for the process it runs.
type Slots = [spin::Mutex<Option<Process>>; MAX_HARTS];

/// Takes the process `pid` out of the table.
fn take(u: &mut User, pid: u64) -> Option<Process> {
    u.procs.iter_mut().find(|p| p.as_ref().is_some_and(|p| p.pid == pid))?.take()
}

/// Puts processes back into the table (for `reap`).
fn put_back(u: &mut User, slots: &Slots) {
    for slot in slots {
        if let Some(p) = slot.lock().take() {
            if let Some(free) = u.procs.iter_mut().find(|p| p.is_none()) {
                *free = Some(p);
            }
        }
    }
}

/// Runs the process in `slot` on this hart until it yields (`once`) or ends.
fn run_here(slot: &spin::Mutex<Option<Process>>, shared: &spin::Mutex<Shared>, task_size: u64, once: bool) {
    crate::csr::allow_user_counters();
    let mut guard = slot.lock();
    let Some(p) = guard.as_mut() else { return };
    while p.exit.is_none() {
        p.space.activate(shared.lock().asids);
        User::run_slice(p, &mut Locked(shared), task_size);
        if once {
            break;
        }
    }
}

/// Switches every hart back to the kernel's own `satp` (ASID 0).
fn all_back_to_kernel(u: &User) {
    let (satp, no_asids) = (u.kernel_satp, u.asids.bits() == 0);
    // SAFETY: the kernel's satp maps the kernel half every process shares.
    smp::on_each_hart(&|_| unsafe { mmu::switch_user(satp, no_asids) });
}

fn harts() -> impl Iterator<Item = usize> {
    let mask = smp::harts();
    (0..MAX_HARTS).filter(move |h| mask & (1 << h) != 0)
}

/// One `ut isolation` per hart, all at once (each fills the same fixed address with its pid
/// and checks it across yields): every one exits 0, each ran on its hart only, and the live
/// ASIDs differ.
pub fn processes_at_once(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let slots: Slots = [const { spin::Mutex::new(None) }; MAX_HARTS];
    let mut pids = [0u64; MAX_HARTS];
    for h in harts() {
        pids[h] = spawn_ut(u, "isolation")?;
        *slots[h].lock() = take(u, pids[h]);
    }
    let task_size = u.task_size;
    let asid = [const { AtomicU64::new(u64::MAX) }; MAX_HARTS];
    {
        let shared = spin::Mutex::new(Shared { pool: &mut u.pool, asids: &mut u.asids });
        smp::on_each_hart(&|h| {
            run_here(&slots[h as usize], &shared, task_size, false);
            asid[h as usize].store(mmu::read_satp() >> 44 & 0xffff, Ordering::Relaxed);
        });
    }
    let mut result = Ok(());
    for h in harts() {
        let slot = slots[h].lock();
        let Some(p) = slot.as_ref() else { continue };
        let mine = asid[h].load(Ordering::Relaxed);
        let clash = harts().any(|o| o != h && asid[o].load(Ordering::Relaxed) == mine && mine != 0);
        result = result.and_then(|()| match p.exit {
            Some(Exit::Status(0)) if p.space.harts.bits() == 1 << h && !clash => Ok(()),
            Some(Exit::Status(0)) if clash => fail!("hart {h}'s process ran with ASID {mine}, as another"),
            Some(Exit::Status(0)) => {
                fail!("pid {} on hart {h}: its space's harts are {:#x}", p.pid, p.space.harts.bits())
            }
            e => fail!("ut isolation (pid {}) on hart {h} ended {e:?}", p.pid),
        });
    }
    all_back_to_kernel(u);
    put_back(u, &slots);
    result
}

/// `ut kill-munmap-other-hart`: it touches a fresh page on hart A, munmaps it on hart B, and
/// loads it again on A, which still runs the process's `satp` (never switched away, so the
/// TLB has no reason to forget): only the flush B sends to A by ASID makes that load fault.
pub fn munmap_reaches_other_hart(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let (a, b) = (smp::hart_id() as usize, harts().last().unwrap_or(0));
    let slots: Slots = [const { spin::Mutex::new(None) }; MAX_HARTS];
    let pid = spawn_ut(u, "kill-munmap-other-hart")?;
    *slots[0].lock() = take(u, pid);
    let task_size = u.task_size;
    {
        let shared = spin::Mutex::new(Shared { pool: &mut u.pool, asids: &mut u.asids });
        for (hart, once) in [(a, true), (b, true), (a, false)] {
            smp::on_each_hart(&|h| {
                if h as usize == hart {
                    run_here(&slots[0], &shared, task_size, once);
                }
            });
        }
    }
    let ended = slots[0].lock().as_ref().map(|p| p.exit);
    all_back_to_kernel(u);
    put_back(u, &slots);
    match ended {
        Some(Some(Exit::Killed("load from an unmapped address", _))) => Ok(()),
        Some(Some(Exit::Status(7))) => {
            fail!("hart {a} still read the page hart {b} unmapped: stale TLB entry (ASID)")
        }
        e => fail!("ut kill-munmap-other-hart (harts {a}, {b}) ended {e:?}"),
    }
}

/// Two `ut fpu` processes, their slices alternating between two harts (each process moves
/// to the other hart at every yield): each keeps its f-registers and `frm` wherever it runs,
/// so the FPU state travels with the process, not with the hart.
pub fn fpu_follows_process(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    let (a, b) = (smp::hart_id() as usize, harts().last().unwrap_or(0));
    let slots: Slots = [const { spin::Mutex::new(None) }; MAX_HARTS];
    let pids = [spawn_ut(u, "fpu")?, spawn_ut(u, "fpu")?];
    *slots[0].lock() = take(u, pids[0]);
    *slots[1].lock() = take(u, pids[1]);
    let task_size = u.task_size;
    {
        let shared = spin::Mutex::new(Shared { pool: &mut u.pool, asids: &mut u.asids });
        for round in 0..8 {
            let (h0, h1) = if round % 2 == 0 { (a, b) } else { (b, a) };
            for (slot, hart) in [(0, h0), (1, h1)] {
                smp::on_each_hart(&|h| {
                    if h as usize == hart {
                        run_here(&slots[slot], &shared, task_size, true);
                    }
                });
            }
        }
    }
    let ended = [0, 1].map(|i| slots[i].lock().as_ref().and_then(|p| p.exit));
    all_back_to_kernel(u);
    put_back(u, &slots);
    match ended {
        [Some(Exit::Status(0)), Some(Exit::Status(0))] => Ok(()),
        e => fail!("ut fpu on harts {a} and {b} (pids {}, {}) ended {e:?}", pids[0], pids[1]),
    }
}

/// What two harts share while they switch among their processes on a small ASID width: the
/// pool, the allocator, the ASID each hart runs now, and the first clash seen.
struct Live<'a> {
    pool: &'a mut Pool,
    asids: &'a mut Asids,
    /// (ASID, pid) each hart runs now.
    running: [(u64, u64); MAX_HARTS],
    /// The first time two harts ran one ASID for two processes: (hart, pid, other hart, pid, ASID).
    clash: Option<(usize, u64, usize, u64, u64)>,
}

/// The pool through the lock of [`Live`].
struct LiveLocked<'l, 'a>(&'l spin::Mutex<Live<'a>>);

impl PoolAccess for LiveLocked<'_, '_> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Pool) -> R) -> R {
        f(self.0.lock().pool)
    }
}

/// Three processes per hart on two harts at once, round-robin on each, with the ASID width
/// capped at 2 bits (three ASIDs for six processes): the generation rolls over on both harts
/// while the other runs, and at every switch the ASID taken must not be the one the other
/// hart is running for another process (a rollover keeps the other harts' live ASIDs). With
/// one hart it runs the six on that hart.
pub fn asid_rollover_keeps_live_asids(u: &mut User, _: &mut KernelSpace) -> Result<(), Reason> {
    const EACH: usize = 3;
    let (a, b) = (smp::hart_id() as usize, harts().last().unwrap_or(0));
    let two = if a == b { 1 } else { 2 };
    let procs: [[spin::Mutex<Option<Process>>; EACH]; 2] = Default::default();
    for list in procs.iter() {
        for slot in list {
            let pid = spawn_ut(u, "isolation")?;
            *slot.lock() = take(u, pid);
        }
    }
    let bits = u.asids.bits();
    let mut small = Asids::new(2, two);
    crate::smp::on_each_hart(&|_| mmu::flush_all());
    let task_size = u.task_size;
    let (clash, rollovers) = {
        let live = spin::Mutex::new(Live {
            pool: &mut u.pool,
            asids: &mut small,
            running: [(0, 0); MAX_HARTS],
            clash: None,
        });
        smp::on_each_hart(&|h| {
            let h = h as usize;
            let lists: &[usize] = match (h == a, h == b) {
                (true, true) => &[0, 1],
                (true, false) => &[0],
                (false, true) => &[1],
                _ => &[],
            };
            crate::csr::allow_user_counters();
            while lists
                .iter()
                .any(|&l| procs[l].iter().any(|s| s.lock().as_ref().is_some_and(|p| p.exit.is_none())))
            {
                for slot in lists.iter().flat_map(|&l| procs[l].iter()) {
                    let mut guard = slot.lock();
                    let Some(p) = guard.as_mut().filter(|p| p.exit.is_none()) else { continue };
                    {
                        let mut l = live.lock();
                        p.space.activate(l.asids);
                        let asid = mmu::read_satp() >> 44 & 0xffff;
                        l.running[h] = (asid, p.pid);
                        let other = (0..MAX_HARTS).find(|&o| o != h && l.running[o].0 == asid && asid != 0);
                        if let (Some(o), None) = (other, l.clash) {
                            l.clash = Some((h, p.pid, o, l.running[o].1, asid));
                        }
                    }
                    User::run_slice(p, &mut LiveLocked(&live), task_size);
                }
            }
            live.lock().running[h] = (0, 0);
        });
        let l = live.into_inner();
        (l.clash, l.asids.rollovers())
    };
    u.asids = super::super::new_asids(bits);
    crate::smp::on_each_hart(&|_| mmu::flush_all());
    let mut ended = [[None; EACH]; 2];
    for (l, list) in procs.iter().enumerate() {
        for (i, slot) in list.iter().enumerate() {
            ended[l][i] = slot.lock().as_ref().and_then(|p| p.exit);
        }
    }
    all_back_to_kernel(u);
    for list in procs.iter() {
        for slot in list {
            if let Some(p) = slot.lock().take() {
                if let Some(free) = u.procs.iter_mut().find(|p| p.is_none()) {
                    *free = Some(p);
                }
            }
        }
    }
    if let Some((h, pid, o, other, asid)) = clash {
        fail!("hart {h} took ASID {asid} for pid {pid} while hart {o} ran pid {other} on it");
    }
    if ended.iter().flatten().any(|e| *e != Some(Exit::Status(0))) {
        fail!("ended {ended:?}");
    }
    if rollovers == 0 {
        fail!("no rollover with six processes on three ASIDs");
    }
    kprintln!("kvas: asid rollovers on {two} harts at once: {rollovers}");
    Ok(())
}

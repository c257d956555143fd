//! Self-tests on every hart (smp.rs, mm/shootdown.rs): the harts share the kernel's tables,
//! a vfree on one hart reaches every other hart's TLB, and vmalloc/vfree from all harts at
//! once leave the allocators consistent. With one hart they run on that hart alone.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use kvas::vm::VmArea;

use super::Reason;
use crate::kmain::Boot;
use crate::mm::{mmu, shootdown, KernelSpace};
use crate::smp::{self, MAX_HARTS};
use crate::trap::probe_load;

/// One value per hart.
type PerHart = [AtomicU64; MAX_HARTS];

const UNSET: u64 = u64::MAX;

fn per_hart() -> PerHart {
    [const { AtomicU64::new(UNSET) }; MAX_HARTS]
}

/// The harts up, as ids.
fn harts() -> impl Iterator<Item = usize> {
    let mask = smp::harts();
    (0..MAX_HARTS).filter(move |h| mask & (1 << h) != 0)
}

/// Every hart runs in the boot hart's tables: the same `satp`, mode and root.
pub fn harts_share_tables(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let satp = per_hart();
    smp::on_each_hart(&|h| satp[h as usize].store(mmu::read_satp(), Ordering::Relaxed));
    for h in harts() {
        let got = satp[h].load(Ordering::Relaxed);
        if got != space.satp() {
            fail!("hart {h} runs with satp {got:#x}, the kernel's is {:#x}", space.satp());
        }
    }
    Ok(())
}

/// Each hart reads a fresh vmalloc page (so its TLB holds the translation); one hart — the
/// highest up, not the boot hart when there are others — vfrees it; then a load on every
/// hart must fault: a stale translation left anywhere fails the test. Prints what the one
/// vfree cost: `kvas: vfree of one page on hart F: I instructions, R rfence calls, H harts`
/// and the instructions of those I retired inside the RFENCE calls (in OpenSBI).
pub fn vfree_reaches_every_hart(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    const PATTERN: u8 = 0xa5;
    let area = match space.vmalloc(4096) {
        Ok(a) => a,
        Err(err) => fail!("vmalloc: {err}"),
    };
    let va = area.start().as_u64();
    // SAFETY: the area is one page mapped read-write, used by this test only.
    unsafe { (va as *mut u8).write_volatile(PATTERN) };
    let seen = per_hart();
    smp::on_each_hart(&|h| {
        let v = probe_load(va).map_or(UNSET - 1, u64::from);
        seen[h as usize].store(v, Ordering::Relaxed);
    });
    for h in harts() {
        let v = seen[h].load(Ordering::Relaxed);
        if v != u64::from(PATTERN) {
            fail!("hart {h} read {v:#x} at {va:#x}, not {PATTERN:#x} (faulted: {})", v == UNSET - 1);
        }
    }
    let freer = 63 - u64::from(smp::harts().leading_zeros());
    let (instructions, rfences, freed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(UNSET));
    let in_sbi = AtomicU64::new(0);
    let space_lock = spin::Mutex::new(&mut *space);
    smp::on_each_hart(&|h| {
        if h != freer {
            return;
        }
        let mut space = space_lock.lock();
        let ((r0, s0), i0) = (shootdown::rfence_calls(), crate::csr::read_instret());
        let r = space.vfree(area);
        instructions.store(crate::csr::read_instret().wrapping_sub(i0), Ordering::Relaxed);
        let (r1, s1) = shootdown::rfence_calls();
        rfences.store(r1 - r0, Ordering::Relaxed);
        in_sbi.store(s1 - s0, Ordering::Relaxed);
        freed.store(u64::from(r.is_ok()), Ordering::Relaxed);
    });
    if freed.load(Ordering::Relaxed) != 1 {
        fail!("hart {freer} could not vfree {va:#x}");
    }
    crate::kprintln!(
        "kvas: vfree of one page on hart {freer}: {} instructions, {} rfence calls, {} harts ({} of the \
         instructions inside the rfence calls)",
        instructions.load(Ordering::Relaxed),
        rfences.load(Ordering::Relaxed),
        harts().count(),
        in_sbi.load(Ordering::Relaxed)
    );
    let after = per_hart();
    smp::on_each_hart(&|h| {
        let v = match probe_load(va) {
            Ok(b) => u64::from(b),
            Err(f) if f.stval == va => 0x1000 | f.scause,
            Err(f) => 0x2000 | f.scause,
        };
        after[h as usize].store(v, Ordering::Relaxed);
    });
    for h in harts() {
        match after[h].load(Ordering::Relaxed) {
            0x100d => {}
            v if v < 0x100 => {
                fail!("hart {h} still read {v:#x} at {va:#x} after hart {freer}'s vfree: stale TLB entry")
            }
            v => fail!("hart {h}: a load at {va:#x} after vfree ended with {v:#x}, not a load page fault"),
        }
    }
    Ok(())
}

/// Rounds of each hart's vmallocs.
const ROUNDS: u64 = 6;
/// Areas each hart holds at once.
const AREAS: usize = 3;

/// Every hart at once: vmalloc a few areas (under the space's lock), fill them with a
/// pattern naming the hart (outside it), check the pattern (another hart's area over ours
/// would break it), vfree; several rounds. Then the allocators and the free-frame count
/// must be as before, and every frame out must be a table or a live area's page.
pub fn parallel_vmalloc(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let before = space.frames_in_use();
    let areas_before = space.vm().vmalloc.areas().count();
    let errors = per_hart();
    let space_lock = spin::Mutex::new(&mut *space);
    smp::on_each_hart(&|h| {
        let fail = |code: u64| errors[h as usize].store(code, Ordering::Relaxed);
        for round in 0..ROUNDS {
            let mut held: [Option<VmArea>; AREAS] = [None; AREAS];
            for (k, slot) in held.iter_mut().enumerate() {
                let size = (1 + (h + k as u64 + round) % 3) * 4096;
                match space_lock.lock().vmalloc(size) {
                    Ok(a) => *slot = Some(a),
                    Err(_) => return fail(1),
                }
            }
            let word = |k: usize, i: u64| (h << 56) | ((k as u64) << 48) | (round << 40) | i;
            for (k, a) in held.iter().enumerate().filter_map(|(k, a)| a.map(|a| (k, a))) {
                let p = a.start().as_u64() as *mut u64;
                for i in 0..a.size() / 8 {
                    // SAFETY: the area is mapped read-write and this hart's alone.
                    unsafe { p.add(i as usize).write_volatile(word(k, i)) };
                }
            }
            for (k, a) in held.iter().enumerate().filter_map(|(k, a)| a.map(|a| (k, a))) {
                let p = a.start().as_u64() as *const u64;
                for i in 0..a.size() / 8 {
                    // SAFETY: as above.
                    if unsafe { p.add(i as usize).read_volatile() } != word(k, i) {
                        return fail(2);
                    }
                }
            }
            for a in held.into_iter().flatten() {
                if space_lock.lock().vfree(a).is_err() {
                    return fail(3);
                }
            }
        }
        fail(0);
    });
    for h in harts() {
        match errors[h].load(Ordering::Relaxed) {
            0 => {}
            1 => fail!("hart {h}: vmalloc failed"),
            2 => fail!("hart {h}: its area did not keep its pattern (shared with another hart?)"),
            3 => fail!("hart {h}: vfree refused one of its areas"),
            e => fail!("hart {h} did not finish (state {e:#x})"),
        }
    }
    let areas_after = space.vm().vmalloc.areas().count();
    if space.frames_in_use() != before || areas_after != areas_before {
        fail!(
            "after the harts' vmalloc/vfree: {} frames out (before {before}), {areas_after} areas (before {areas_before})",
            space.frames_in_use()
        );
    }
    let tables = match space.tables().stats() {
        Ok(st) => st.tables,
        Err(err) => fail!("walking the live tables: {err}"),
    };
    let pages: u64 = space.vm().vmalloc.areas().map(|a| a.range().pages()).sum();
    if space.frames_in_use() != tables + pages {
        fail!("{} frames out, but the tables hold {tables} and vmalloc {pages} pages", space.frames_in_use());
    }
    Ok(())
}

//! How a change to the live tables reaches every hart's TLB (the remote half of mm/mmu.rs).
//!
//! Each address space keeps a [`HartMask`] of the harts that have run in it — Linux's
//! `mm_cpumask` — and a hart joins the mask when it switches to the space. After an engine
//! call, the caller hands its [`Flush`] to [`flush_kernel`] (the kernel half) or
//! [`flush_asid`] (one ASID): the calling hart flushes itself with `sfence.vma`, and the
//! other harts of the mask get *one* SBI RFENCE call for the whole batch,
//! `remote_sfence_vma(_asid)(mask, start, size)` over the batch's hull, or the whole TLB
//! (size `usize::MAX`) once the batch is past [`Flush::THRESHOLD`] pages (Linux's
//! `tlb_flush_all_threshold`). Harts outside the mask — never started, or never in that
//! space — get nothing. SBI returns once the fence is done on every hart of the mask.
//!
//! Frames must outlive the shootdown: [`crate::gather::Gather`] (shared with riscv32) holds
//! the tables an unmap emptied and the pages behind the unmapped leaves and frees them only
//! after its flush has reached every hart (Linux's `tlb_remove_table` / `mmu_gather`).

use core::sync::atomic::{AtomicU64, Ordering};

use kvas::paging::Flush;

use super::mmu;

/// A set of harts, one bit per hart id (see the module doc).
pub struct HartMask(AtomicU64);

impl HartMask {
    /// No hart.
    pub const fn new() -> Self {
        HartMask(AtomicU64::new(0))
    }

    /// Adds `hart` (a hart that switches to the space).
    pub fn add(&self, hart: u64) {
        self.0.fetch_or(1 << hart, Ordering::AcqRel);
    }

    /// The harts, as a bit mask.
    pub fn bits(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The harts running in the kernel's tables.
static KERNEL_HARTS: HartMask = HartMask::new();

/// RFENCE calls made so far, and the instructions retired inside them (in OpenSBI, which
/// sends the IPIs and waits for every hart's answer), for the measurements in
/// docs/KERNEL.md.
static RFENCE_CALLS: AtomicU64 = AtomicU64::new(0);
static RFENCE_INSTRUCTIONS: AtomicU64 = AtomicU64::new(0);
/// [`flush_asid`] calls with something to flush (the user tests order frees after them).
static ASID_FLUSHES: AtomicU64 = AtomicU64::new(0);

/// The [`flush_asid`] calls that flushed the whole ASID.
static ASID_FLUSHES_ALL: AtomicU64 = AtomicU64::new(0);

/// How many [`flush_asid`] calls had something to flush, on any hart, and how many of them
/// flushed the whole ASID.
pub fn asid_flushes() -> (u64, u64) {
    (ASID_FLUSHES.load(Ordering::Relaxed), ASID_FLUSHES_ALL.load(Ordering::Relaxed))
}

/// The harts running in the kernel's tables (every hart that is up).
pub fn kernel_harts() -> &'static HartMask {
    &KERNEL_HARTS
}

/// RFENCE calls made since boot, and the instructions retired inside them (exact under
/// QEMU's `-icount`).
pub fn rfence_calls() -> (u64, u64) {
    (RFENCE_CALLS.load(Ordering::Relaxed), RFENCE_INSTRUCTIONS.load(Ordering::Relaxed))
}

/// Flushes `flush` from every hart running in the kernel's tables: this one with
/// `sfence.vma`, the others with one RFENCE call.
pub fn flush_kernel(flush: Flush) {
    if flush.is_empty() {
        return;
    }
    flush.apply(mmu::flush_page, mmu::flush_all);
    remote(KERNEL_HARTS.bits(), flush, None);
}

/// Flushes `flush` for `asid` from every hart of `harts` (the space's mask): this one
/// locally if it is in the mask, the others with one RFENCE call. ASID 0 (no ASIDs) flushes
/// everything the harts hold for the range, as without ASIDs there is nothing to tell the
/// spaces apart.
pub fn flush_asid(flush: Flush, asid: u16, harts: &HartMask) {
    if flush.is_empty() {
        return;
    }
    ASID_FLUSHES.fetch_add(1, Ordering::Relaxed);
    if flush.is_all() {
        ASID_FLUSHES_ALL.fetch_add(1, Ordering::Relaxed);
    }
    let mask = harts.bits();
    if mask & (1 << crate::smp::hart_id()) != 0 {
        if asid == 0 {
            flush.apply(mmu::flush_page, mmu::flush_all);
        } else {
            flush.apply(|va| mmu::flush_page_asid(va, asid), || mmu::flush_asid(asid));
        }
    }
    remote(mask, flush, (asid != 0).then_some(asid));
}

/// The other harts of `mask` forget `flush` (one SBI RFENCE call, none if no other hart).
fn remote(mask: u64, flush: Flush, asid: Option<u16>) {
    let others = mask & !(1 << crate::smp::hart_id());
    if others == 0 {
        return;
    }
    let (start, size) = hull(&flush);
    let harts = sbi_rt::HartMask::from_mask_base(others as usize, 0);
    let before = crate::csr::read_instret();
    let ret = match asid {
        None => sbi_rt::remote_sfence_vma(harts, start, size),
        Some(asid) => sbi_rt::remote_sfence_vma_asid(harts, start, size, asid as usize),
    };
    RFENCE_INSTRUCTIONS.fetch_add(crate::csr::read_instret().wrapping_sub(before), Ordering::Relaxed);
    RFENCE_CALLS.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = ret.into_result() {
        // A hart would keep stale translations: nothing after this can be trusted.
        crate::power::fatal(format_args!("SBI remote sfence.vma on harts {others:#x} failed: {e:?}"))
    }
}

/// `(start, size)` for SBI: the batch's hull, or the whole address space (`size` all ones,
/// SBI's "flush all") past the threshold.
fn hull(flush: &Flush) -> (usize, usize) {
    if flush.is_all() {
        return (0, usize::MAX);
    }
    let mut pages = flush.addresses();
    let first = pages.next().map_or(0, |va| va.as_u64());
    let last = pages.last().map_or(first, |va| va.as_u64());
    // One 4 KiB page past the last address: an sfence.vma at any address of a leaf drops
    // the whole leaf, whatever its size.
    (first as usize, (last - first + 4096) as usize)
}

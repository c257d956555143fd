//! kmap: a window onto any frame, highmem included, through a run of slots in a pinned
//! table kvas::kspace::sv32 made at boot: the pkmap's 1024 (`[PKMAP_BASE, FIXADDR_START)`,
//! Linux's `kmap`) or the fixmap's 16 kmap_local slots (`FIX_KMAP`, Linux's
//! `kmap_local_page`, for short critical sections).
//!
//! [`Pkmap::kmap`] returns a [`Kmap`] guard: while it lives, the frame is mapped read-write
//! at [`Kmap::va`]; dropping it clears the slot and flushes that page. A lowmem frame needs
//! no slot: its guard points into the linear map (Linux's `kmap` of a lowmem page). Slots
//! are taken with an atomic bitmap, so guards may be held at the same time (a copy between
//! two highmem frames holds two).

use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};

use kvas::arch::riscv32::Sv32;
use kvas::linear::LinearMap;
use kvas::paging::{Attrs, TableFormat};
use kvas::{PhysAddr, VirtAddr, PAGE_SIZE};

use super::mmu;

/// The pkmap's slots: one Sv32 table.
pub const PKMAP_SLOTS: usize = 1024;

/// A run of kmap slots: the first slot's address, its entry (reached through the linear
/// map), how many, and which are taken.
pub struct Pkmap {
    /// The virtual address of slot 0.
    base: u64,
    /// The entry of slot 0 in its (pinned) table, at the table's linear address.
    entries: *const AtomicU32,
    /// How many slots (at most [`PKMAP_SLOTS`]).
    slots: usize,
    /// One bit per slot.
    used: [AtomicU32; PKMAP_SLOTS / 32],
    linear: LinearMap,
}

impl Pkmap {
    /// The `slots` slots from virtual address `base`, whose entries start at linear address
    /// `entries_va` (all in one table).
    ///
    /// # Safety
    ///
    /// `entries_va` is the linear address of `base`'s entry in a pinned table of the live
    /// kernel tables (it never goes away), the next `slots` entries are in the same table and
    /// map `base` onwards, and nothing else writes them.
    pub unsafe fn new(base: u64, entries_va: u64, slots: usize, linear: LinearMap) -> Self {
        Pkmap {
            base,
            entries: entries_va as usize as *const AtomicU32,
            slots: slots.min(PKMAP_SLOTS),
            used: [const { AtomicU32::new(0) }; PKMAP_SLOTS / 32],
            linear,
        }
    }

    /// Gives the last `n` slots to a run of their own (for an owner apart from the kernel
    /// space, such as user space's copies): this run keeps the others. `None` if `n` is 0 or
    /// not fewer than the slots. No guard can be alive (`&mut self`), so the slots are free.
    pub fn split_off(&mut self, n: usize) -> Option<Pkmap> {
        if n == 0 || n >= self.slots {
            return None;
        }
        self.slots -= n;
        Some(Pkmap {
            base: self.base + self.slots as u64 * PAGE_SIZE,
            // SAFETY: `self.slots` < the original count, all in the one pinned table.
            entries: unsafe { self.entries.add(self.slots) },
            slots: n,
            used: [const { AtomicU32::new(0) }; PKMAP_SLOTS / 32],
            linear: self.linear,
        })
    }

    /// Slots in use.
    pub fn in_use(&self) -> u32 {
        self.used.iter().map(|w| w.load(Ordering::Relaxed).count_ones()).sum()
    }

    /// Maps `frame` (4 KiB aligned) read-write until the guard is dropped; `None` if every
    /// slot is taken, the frame is not 4 KiB aligned or Sv32 cannot encode it (at or above
    /// 2^34).
    #[inline]
    pub fn kmap(&self, frame: PhysAddr) -> Option<Kmap<'_>> {
        if !frame.is_aligned(PAGE_SIZE) {
            return None;
        }
        if let Some(va) = self.linear.va_of(frame) {
            return Some(Kmap { pkmap: self, slot: None, va: va.as_u64(), _frame: PhantomData });
        }
        Sv32.check_leaf(frame, PAGE_SIZE, Attrs::KERNEL_RW).ok()?;
        let slot = self.take_slot()?;
        let raw = Sv32.encode_leaf(frame, Attrs::KERNEL_RW, 0);
        // SAFETY: `slot` < 1024 entries of the pinned pkmap table (constructor contract);
        // the slot was free, so no other guard uses its entry.
        unsafe { (*self.entries.add(slot)).store(raw, Ordering::Relaxed) };
        let va = self.base + slot as u64 * PAGE_SIZE;
        // The entry was invalid: a stale translation may still be cached.
        mmu::flush_page(VirtAddr::new(va));
        Some(Kmap { pkmap: self, slot: Some(slot), va, _frame: PhantomData })
    }

    fn take_slot(&self) -> Option<usize> {
        for (w, word) in self.used.iter().enumerate().take(self.slots.div_ceil(32)) {
            // Bits past the last slot count as taken.
            let beyond = match self.slots - w * 32 {
                n if n >= 32 => 0,
                n => u32::MAX << n,
            };
            let mut cur = word.load(Ordering::Relaxed);
            while cur | beyond != u32::MAX {
                let bit = (!(cur | beyond)).trailing_zeros();
                match word.compare_exchange_weak(cur, cur | 1 << bit, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return Some(w * 32 + bit as usize),
                    Err(now) => cur = now,
                }
            }
        }
        None
    }

    fn release(&self, slot: usize) {
        // SAFETY: as in `kmap`: the guard owned this slot's entry.
        unsafe { (*self.entries.add(slot)).store(0, Ordering::Relaxed) };
        mmu::flush_page(VirtAddr::new(self.base + slot as u64 * PAGE_SIZE));
        self.used[slot / 32].fetch_and(!(1 << (slot % 32)), Ordering::Release);
    }
}

/// A frame mapped by [`Pkmap::kmap`], until dropped.
pub struct Kmap<'p> {
    pkmap: &'p Pkmap,
    slot: Option<usize>,
    va: u64,
    _frame: PhantomData<*mut u8>,
}

impl Kmap<'_> {
    /// The frame's virtual address while the guard lives.
    pub fn va(&self) -> u64 {
        self.va
    }

    /// The frame's bytes.
    pub fn bytes(&mut self) -> &mut [u8; PAGE_SIZE as usize] {
        // SAFETY: the page at `va` maps the frame read-write while the guard lives (a
        // pkmap slot only this guard owns, or the frame's linear alias); the guard is
        // borrowed mutably, so this is the only reference made through it. The caller
        // owns the frame (kmap's contract is Linux's: the frame is yours to touch).
        unsafe { &mut *(self.va as usize as *mut [u8; PAGE_SIZE as usize]) }
    }
}

impl Drop for Kmap<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.pkmap.release(slot);
        }
    }
}

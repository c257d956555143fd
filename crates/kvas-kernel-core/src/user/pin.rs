//! Pinned uaccess: reaching a user range through the user's page table instead of through
//! the user's address space.
//!
//! Under the shared-space splits the kernel copies with `sstatus.SUM` set and lets the MMU
//! check each byte (kernel/src/user/uaccess.rs). Under 4G/4G the user's pages are not in the
//! kernel's address space at all, so the kernel walks the user's table with the engine
//! ([`PageTable::translate`]), checks what the MMU would have checked, and copies each frame
//! through its own mappings (the linear map, or a kmap slot for a highmem frame).
//! [`pin`] hands out those frames one [`UserChunk`] at a time, each inside one 4 KiB page
//! (one kmap at most), in address order.
//!
//! The `-EFAULT` behaviour is the SUM path's, fault for fault:
//! - a range that leaves `[0, TASK_SIZE)` (or wraps) is refused before any byte moves
//!   ([`OutsideUserHalf`], what `in_user_half` refuses);
//! - otherwise the chunks stop at the first byte the MMU would fault on, with the fault
//!   ([`UserFault`]: `stval` and `scause`, 13 for a load, 15 for a store) that a byte copy
//!   under SUM takes there, so the caller maps the page on demand and copies again, or
//!   returns `-EFAULT`, exactly as with the SUM copy.
//!
//! A byte may be copied when its leaf has `U`, `A`, and `R` (the kernel reads user memory:
//! `copy_from_user`) or `W` and `D` (the kernel writes it: `copy_to_user`) — Sv32's and
//! Sv39's rules for a supervisor access with `SUM = 1`, `MXR = 0` and no hardware A/D
//! updates (Svade). One rule is stricter than the MMU: a leaf without `U` faults. Below
//! TASK_SIZE there is none under any split (the kernel maps nothing of its own there), and
//! under 4G/4G the user's table may hold anything.

use core::fmt;

use kvas::paging::{Attrs, PageTable, PhysMemory, TableFormat};
use kvas::sizes::PAGE_SIZE;
use kvas::{PhysAddr, VirtAddr};

/// Which way the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `copy_from_user`: the kernel loads from user pages.
    FromUser,
    /// `copy_to_user`: the kernel stores to user pages.
    ToUser,
}

impl Direction {
    /// The page fault a byte copy under SUM takes: 13 (load) or 15 (store).
    pub const fn scause(self) -> u64 {
        match self {
            Direction::FromUser => 13,
            Direction::ToUser => 15,
        }
    }

    /// The leaf bits the access needs.
    const fn needs(self) -> Attrs {
        match self {
            Direction::FromUser => Attrs::USER.union(Attrs::ACCESSED).union(Attrs::READ),
            Direction::ToUser => Attrs::USER.union(Attrs::ACCESSED).union(Attrs::WRITE).union(Attrs::DIRTY),
        }
    }
}

/// One piece of a pinned range: `len` bytes at user address `va`, which are the bytes at
/// physical address `pa`, inside one 4 KiB page; `offset` is where they sit in the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserChunk {
    /// The user address of the first byte.
    pub va: u64,
    /// Its physical address.
    pub pa: PhysAddr,
    /// Bytes, at most to the end of `va`'s page.
    pub len: usize,
    /// Bytes of the range before this chunk.
    pub offset: usize,
}

/// Where a byte copy under SUM would fault: the first byte that cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserFault {
    /// `stval`: that byte's address.
    pub addr: u64,
    /// `scause`: 13 (load page fault) or 15 (store page fault).
    pub scause: u64,
}

impl fmt::Display for UserFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.scause == 15 { "store to" } else { "load from" };
        write!(f, "user page fault: {what} {:#x}", self.addr)
    }
}

/// A range that is not all below TASK_SIZE: `-EFAULT` before any byte moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsideUserHalf {
    /// The range's first byte.
    pub addr: u64,
    /// Its length.
    pub len: usize,
    /// TASK_SIZE.
    pub task_size: u64,
}

impl fmt::Display for OutsideUserHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "user range {:#x} + {:#x} leaves the user half [0, {:#x})",
            self.addr, self.len, self.task_size
        )
    }
}

/// The chunks of a pinned range, in address order; see [`pin`].
pub struct Pinned<'t, F: TableFormat, M: PhysMemory> {
    table: &'t PageTable<F, M>,
    start: u64,
    next: u64,
    end: u64,
    dir: Direction,
    done: bool,
}

/// Pins `[addr, addr + len)` of the user address space whose table is `table`, for a copy
/// in direction `dir`; the range must lie in `[0, task_size)`. The chunks come one page at
/// a time, so a caller copies each as it comes (and a fault leaves the bytes before it
/// copied, as the SUM copy does).
pub fn pin<F: TableFormat, M: PhysMemory>(
    table: &PageTable<F, M>,
    addr: u64,
    len: usize,
    task_size: u64,
    dir: Direction,
) -> Result<Pinned<'_, F, M>, OutsideUserHalf> {
    let end = match addr.checked_add(len as u64) {
        Some(end) if end <= task_size => end,
        _ => return Err(OutsideUserHalf { addr, len, task_size }),
    };
    Ok(Pinned { table, start: addr, next: addr, end, dir, done: false })
}

impl<F: TableFormat, M: PhysMemory> Pinned<'_, F, M> {
    /// The fault at `self.next`, after which the iterator ends.
    fn fault(&mut self) -> Option<Result<UserChunk, UserFault>> {
        self.done = true;
        Some(Err(UserFault { addr: self.next, scause: self.dir.scause() }))
    }
}

impl<F: TableFormat, M: PhysMemory> Iterator for Pinned<'_, F, M> {
    type Item = Result<UserChunk, UserFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.end {
            return None;
        }
        let va = self.next;
        let t = match self.table.translate(VirtAddr::new(va)) {
            Ok(t) => t,
            // Not mapped, or an entry the MMU would refuse (`Error::NotMapped`,
            // `CorruptEntry`): the byte copy faults here.
            Err(_) => return self.fault(),
        };
        if !t.attrs.contains(self.dir.needs()) {
            return self.fault();
        }
        let page_end = (va | (PAGE_SIZE - 1)) + 1;
        let len = (page_end.min(self.end) - va) as usize;
        let chunk = UserChunk { va, pa: t.pa, len, offset: (va - self.start) as usize };
        self.next = va + len as u64;
        Some(Ok(chunk))
    }
}

/// Runs `copy` on each chunk of the pinned range (it moves `chunk.len` bytes between the
/// kernel's buffer at `chunk.offset` and the kernel's mapping of `chunk.pa`), stopping at
/// the first fault, which it returns: the outer error is the range check, the inner one
/// the fault a caller maps on demand or turns into `-EFAULT`.
pub fn copy_pinned<F: TableFormat, M: PhysMemory>(
    table: &PageTable<F, M>,
    addr: u64,
    len: usize,
    task_size: u64,
    dir: Direction,
    mut copy: impl FnMut(UserChunk),
) -> Result<Result<(), UserFault>, OutsideUserHalf> {
    for chunk in pin(table, addr, len, task_size, dir)? {
        match chunk {
            Ok(c) => copy(c),
            Err(f) => return Ok(Err(f)),
        }
    }
    Ok(Ok(()))
}

//! A process's user address space as areas (Linux's VMAs), and where `mmap` and `brk` put
//! things. Pure bookkeeping: the kernel maps and unmaps the pages the answers name.
//!
//! The placement follows Linux's riscv64: `DEFAULT_MAP_WINDOW` is `min(TASK_SIZE, 2^47)`
//! (`MMAP_VA_BITS` is 48 once Sv48 or Sv57 is on), `STACK_TOP` is that window's end, and
//! `mmap` without a hint searches top down below `mmap_base` (a gap under the stack); only a
//! hint whose range ends above the window opens the rest of the space up to `TASK_SIZE`
//! (so on Sv57 nothing lands above 2^47 unless the hint asks).

use kvas::sizes::{PAGE_SIZE, SZ_128M, SZ_256K};

use super::syscall::{map, prot, Errno};

/// Linux's `mmap_min_addr` default (the lowest page is never mapped).
pub const MMAP_MIN_ADDR: u64 = 0x10000;
/// The user stack's size (its pages come on demand), below it one guard page.
pub const STACK_SIZE: u64 = SZ_256K;
/// Between the stack's guard page and `mmap_base` (Linux's minimum gap, 128 MiB).
pub const STACK_GAP: u64 = SZ_128M;
/// How many areas a process may have.
pub const MAX_AREAS: usize = 64;

/// Where a process's address space puts things, for one `TASK_SIZE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserLayout {
    /// The end of the user half: `[0, TASK_SIZE)`.
    pub task_size: u64,
    /// `DEFAULT_MAP_WINDOW`: `min(TASK_SIZE, 2^47)`.
    pub map_window: u64,
    /// The stack's top (`STACK_TOP`, the window's end).
    pub stack_top: u64,
    /// Top-down `mmap` starts below this.
    pub mmap_base: u64,
}

impl UserLayout {
    /// The layout for `task_size` (from `kvas::layout`'s user region).
    pub fn new(task_size: u64) -> Self {
        let map_window = task_size.min(1 << 47);
        let stack_top = map_window;
        UserLayout {
            task_size,
            map_window,
            stack_top,
            mmap_base: stack_top - STACK_SIZE - PAGE_SIZE - STACK_GAP,
        }
    }

    /// The stack area and its guard page.
    pub fn stack(&self) -> (u64, u64) {
        (self.stack_top - STACK_SIZE, self.stack_top)
    }
}

/// What an area is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A segment of the executable, mapped at load.
    Image,
    /// Anonymous memory from `mmap`, mapped on first touch.
    Anon,
    /// The heap (`brk`), mapped on first touch.
    Heap,
    /// The stack, mapped on first touch.
    Stack,
    /// The page under the stack: never mapped.
    Guard,
}

/// One area, `[start, end)`, with `PROT_*` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// `PROT_READ | PROT_WRITE | PROT_EXEC`.
    pub prot: u64,
    /// What it is.
    pub kind: Kind,
}

/// How a page was touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Load,
    /// A store.
    Store,
    /// An instruction fetch.
    Fetch,
}

impl Access {
    fn needs(self) -> u64 {
        match self {
            Access::Load => prot::READ,
            Access::Store => prot::WRITE,
            Access::Fetch => prot::EXEC,
        }
    }

    /// "load", "store", "instruction fetch".
    pub fn name(self) -> &'static str {
        match self {
            Access::Load => "load",
            Access::Store => "store",
            Access::Fetch => "instruction fetch",
        }
    }
}

/// Why a user access cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// At or above `TASK_SIZE` (the kernel half, or the hole).
    KernelAddress,
    /// No area holds it.
    Unmapped,
    /// The stack's guard page.
    Guard,
    /// The area does not allow it.
    Permission,
}

impl Refusal {
    /// The cause for the kill line: "store to a read-only page", ...
    pub fn cause(self, access: Access) -> &'static str {
        match (self, access) {
            (Refusal::KernelAddress, Access::Load) => "load from a kernel address",
            (Refusal::KernelAddress, Access::Store) => "store to a kernel address",
            (Refusal::KernelAddress, Access::Fetch) => "instruction fetch from a kernel address",
            (Refusal::Unmapped, Access::Load) => "load from an unmapped address",
            (Refusal::Unmapped, Access::Store) => "store to an unmapped address",
            (Refusal::Unmapped, Access::Fetch) => "instruction fetch from an unmapped address",
            (Refusal::Guard, _) => "stack overflow into the guard page",
            (Refusal::Permission, Access::Load) => "load from an unreadable page",
            (Refusal::Permission, Access::Store) => "store to a read-only page",
            (Refusal::Permission, Access::Fetch) => "instruction fetch from a non-executable page",
        }
    }
}

/// What `mmap` decided: map `[start, start + len)`; `replace` if a `MAP_FIXED` must first
/// unmap what is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Where.
    pub start: u64,
    /// Bytes (whole pages).
    pub len: u64,
    /// Unmap `[start, start + len)` first.
    pub replace: bool,
}

/// The areas of one process, sorted, never overlapping.
#[derive(Clone, Debug)]
pub struct Areas {
    areas: [Option<Area>; MAX_AREAS],
    /// The layout.
    pub layout: UserLayout,
    brk_start: u64,
    brk: u64,
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

impl Areas {
    /// No areas, for `layout`.
    pub fn new(layout: UserLayout) -> Self {
        Areas { areas: [None; MAX_AREAS], layout, brk_start: 0, brk: 0 }
    }

    /// The areas in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Area> {
        self.areas.iter().flatten()
    }

    /// The area holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&Area> {
        self.iter().find(|a| a.start <= addr && addr < a.end)
    }

    /// Whether no area touches `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.iter().all(|a| a.end <= start || a.start >= end)
    }

    /// Adds an area over free space (merged with an equal neighbour below it).
    pub fn insert(&mut self, area: Area) -> Result<(), Errno> {
        if area.start >= area.end || area.end > self.layout.task_size || !self.is_free(area.start, area.end) {
            return Err(Errno::Enomem);
        }
        if let Some(prev) = self
            .areas
            .iter_mut()
            .flatten()
            .find(|a| a.end == area.start && a.prot == area.prot && a.kind == area.kind)
        {
            prev.end = area.end;
            return Ok(());
        }
        let slot = self.areas.iter_mut().find(|s| s.is_none()).ok_or(Errno::Enomem)?;
        *slot = Some(area);
        self.areas.sort_unstable_by_key(|a| a.map_or(u64::MAX, |a| a.start));
        Ok(())
    }

    /// Removes `[start, end)` from every area, splitting those that straddle an end; calls
    /// `removed` with each piece that goes. Refused (nothing changed) if a split needs more
    /// areas than there are.
    pub fn remove(&mut self, start: u64, end: u64, mut removed: impl FnMut(Area)) -> Result<(), Errno> {
        let splits = self.iter().filter(|a| a.start < start && a.end > end).count();
        if splits > 0 && self.areas.iter().all(Option::is_some) {
            return Err(Errno::Enomem);
        }
        let mut extra = None;
        for slot in self.areas.iter_mut() {
            let Some(a) = slot else { continue };
            if a.end <= start || a.start >= end {
                continue;
            }
            let cut = Area { start: a.start.max(start), end: a.end.min(end), ..*a };
            removed(cut);
            match (a.start < start, a.end > end) {
                (true, true) => {
                    extra = Some(Area { start: end, ..*a });
                    a.end = start;
                }
                (true, false) => a.end = start,
                (false, true) => a.start = end,
                (false, false) => *slot = None,
            }
        }
        if let Some(e) = extra {
            if let Some(slot) = self.areas.iter_mut().find(|s| s.is_none()) {
                *slot = Some(e);
            }
        }
        self.areas.sort_unstable_by_key(|a| a.map_or(u64::MAX, |a| a.start));
        Ok(())
    }

    /// `mprotect`: every page of `[start, end)` must lie in an area (else `-ENOMEM`, as
    /// Linux), which takes `prot` (split as needed).
    pub fn protect(&mut self, start: u64, end: u64, prot: u64) -> Result<(), Errno> {
        let mut at = start;
        for a in self.iter() {
            if a.end <= at || a.start >= end {
                continue;
            }
            if a.start > at || a.kind == Kind::Guard {
                return Err(Errno::Enomem);
            }
            at = a.end;
        }
        if at < end {
            return Err(Errno::Enomem);
        }
        let mut pieces = [None; MAX_AREAS];
        let mut n = 0;
        self.remove(start, end, |a| {
            pieces[n] = Some(a);
            n += 1;
        })?;
        for p in pieces.iter().flatten() {
            self.insert(Area { prot, ..*p })?;
        }
        Ok(())
    }

    /// Where `mmap(hint, len, prot, flags)` of anonymous private memory goes (see the module
    /// doc), or the errno Linux gives.
    pub fn place(&self, hint: u64, len: u64, prot_bits: u64, flags: u64) -> Result<Placement, Errno> {
        let l = &self.layout;
        if flags & map::ANONYMOUS == 0 || flags & map::SHARED != 0 || flags & map::PRIVATE == 0 {
            return Err(Errno::Einval);
        }
        if prot_bits & !(prot::READ | prot::WRITE | prot::EXEC) != 0 {
            return Err(Errno::Einval);
        }
        let len = match page_up(len) {
            Some(0) => return Err(Errno::Einval),
            Some(len) if len <= l.task_size => len,
            _ => return Err(Errno::Enomem),
        };
        let fixed = flags & (map::FIXED | map::FIXED_NOREPLACE) != 0;
        if fixed {
            if !hint.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::Einval);
            }
            if hint.checked_add(len).is_none_or(|e| e > l.task_size) || hint < MMAP_MIN_ADDR {
                return Err(Errno::Enomem);
            }
            let free = self.is_free(hint, hint + len);
            if flags & map::FIXED_NOREPLACE != 0 && !free {
                return Err(Errno::Eexist);
            }
            return Ok(Placement { start: hint, len, replace: !free });
        }
        // The window: the default one, or all of TASK_SIZE if the hint's range ends above it.
        let wide = hint.checked_add(len).is_some_and(|e| e > l.map_window);
        let (top, end) = if wide {
            (l.mmap_base + (l.task_size - l.map_window), l.task_size)
        } else {
            (l.mmap_base, l.map_window)
        };
        let hint = hint & !(PAGE_SIZE - 1);
        if hint >= MMAP_MIN_ADDR
            && hint.checked_add(len).is_some_and(|e| e <= end)
            && self.is_free(hint, hint + len)
        {
            return Ok(Placement { start: hint, len, replace: false });
        }
        // Top down: the highest gap below `top` that fits; a mapping of 2 MiB or more starts
        // on a 2 MiB boundary (as Linux aligns anonymous mappings for huge pages).
        let align = if len >= 2 << 20 { 2 << 20 } else { PAGE_SIZE };
        let fit = |low: u64, high: u64| high.checked_sub(len).map(|s| s & !(align - 1)).filter(|&s| s >= low);
        let mut high = top;
        for a in self.areas.iter().rev().flatten() {
            if a.start >= high {
                continue;
            }
            if let Some(start) = fit(a.end, high) {
                return Ok(Placement { start, len, replace: false });
            }
            high = a.start;
        }
        if let Some(start) = fit(MMAP_MIN_ADDR, high) {
            return Ok(Placement { start, len, replace: false });
        }
        Err(Errno::Enomem)
    }

    /// Sets the heap's start (the page after the image's last segment).
    pub fn set_brk_start(&mut self, start: u64) {
        self.brk_start = start;
        self.brk = start;
    }

    /// `brk(addr)`: the heap's new end, or the old one if `addr` is refused (Linux's
    /// convention); the heap area grows or shrinks, calling `removed` for what goes.
    pub fn brk(&mut self, addr: u64, removed: impl FnMut(Area)) -> u64 {
        if addr < self.brk_start || addr > self.layout.mmap_base {
            return self.brk;
        }
        let (Some(old_end), Some(new_end)) = (page_up(self.brk), page_up(addr)) else { return self.brk };
        if new_end > old_end {
            let grown = self.insert(Area {
                start: old_end,
                end: new_end,
                prot: prot::READ | prot::WRITE,
                kind: Kind::Heap,
            });
            if grown.is_err() {
                return self.brk;
            }
        } else if new_end < old_end && self.remove(new_end, old_end, removed).is_err() {
            return self.brk;
        }
        self.brk = addr;
        addr
    }

    /// Whether `access` at `addr` may be served (mapping the page if it is not yet), or why not.
    pub fn check(&self, addr: u64, access: Access) -> Result<Area, Refusal> {
        if addr >= self.layout.task_size {
            return Err(Refusal::KernelAddress);
        }
        let a = *self.find(addr).ok_or(Refusal::Unmapped)?;
        if a.kind == Kind::Guard {
            return Err(Refusal::Guard);
        }
        if a.prot & access.needs() == 0 {
            return Err(Refusal::Permission);
        }
        Ok(a)
    }
}

/// The 2 MiB-aligned block around `addr`, if `area` covers all of it (a 2 MiB leaf fits).
pub fn huge_block(area: &Area, addr: u64) -> Option<u64> {
    let block = 2u64 << 20;
    let base = addr & !(block - 1);
    (base >= area.start && base + block <= area.end).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANON: u64 = map::PRIVATE | map::ANONYMOUS;
    const RW: u64 = prot::READ | prot::WRITE;
    const SV39: u64 = 1 << 38;
    const SV57: u64 = 1 << 56;

    fn anon(start: u64, end: u64) -> Area {
        Area { start, end, prot: RW, kind: Kind::Anon }
    }

    #[test]
    fn the_window_is_47_bits_only_on_sv57() {
        assert_eq!(UserLayout::new(SV39).map_window, SV39);
        assert_eq!(UserLayout::new(1 << 47).map_window, 1 << 47);
        let l = UserLayout::new(SV57);
        assert_eq!((l.map_window, l.stack_top), (1 << 47, 1 << 47));
    }

    #[test]
    fn mmap_goes_top_down_below_mmap_base() {
        let mut a = Areas::new(UserLayout::new(SV39));
        let p = a.place(0, 8192, RW, ANON).unwrap();
        assert_eq!(p, Placement { start: a.layout.mmap_base - 8192, len: 8192, replace: false });
        a.insert(anon(p.start, p.start + p.len)).unwrap();
        let q = a.place(0, 100, RW, ANON).unwrap();
        assert_eq!(q.start, p.start - PAGE_SIZE);
        let big = a.place(0, 4 << 20, RW, ANON).unwrap();
        assert_eq!(big.start % (2 << 20), 0);
        assert!(big.start + big.len <= q.start);
    }

    #[test]
    fn sv57_stays_below_2_pow_47_unless_the_hint_asks() {
        let a = Areas::new(UserLayout::new(SV57));
        let p = a.place(0, 1 << 30, RW, ANON).unwrap();
        assert!(p.start + p.len <= 1 << 47);
        // A hint below the window that is free is taken as is.
        assert_eq!(a.place(0x1000_0000, 4096, RW, ANON).unwrap().start, 0x1000_0000);
        // A hint above 2^47 opens the whole space.
        let high = a.place(1 << 50, 4096, RW, ANON).unwrap();
        assert_eq!(high.start, 1 << 50);
    }

    #[test]
    fn fixed_and_noreplace() {
        let mut a = Areas::new(UserLayout::new(SV39));
        a.insert(anon(0x20_0000, 0x40_0000)).unwrap();
        assert_eq!(a.place(0x30_0000, 4096, RW, ANON | map::FIXED_NOREPLACE), Err(Errno::Eexist));
        assert_eq!(
            a.place(0x30_0000, 4096, RW, ANON | map::FIXED),
            Ok(Placement { start: 0x30_0000, len: 4096, replace: true })
        );
        assert_eq!(a.place(0x30_0001, 4096, RW, ANON | map::FIXED), Err(Errno::Einval));
        // The last page below TASK_SIZE is mappable, TASK_SIZE itself is not.
        assert_eq!(
            a.place(SV39 - PAGE_SIZE, PAGE_SIZE, RW, ANON | map::FIXED).map(|p| p.start),
            Ok(SV39 - PAGE_SIZE)
        );
        assert_eq!(a.place(SV39, PAGE_SIZE, RW, ANON | map::FIXED), Err(Errno::Enomem));
        assert_eq!(a.place(SV39 - PAGE_SIZE, 2 * PAGE_SIZE, RW, ANON | map::FIXED), Err(Errno::Enomem));
        assert_eq!(a.place(0, 0, RW, ANON), Err(Errno::Einval));
        assert_eq!(a.place(0, PAGE_SIZE, RW, map::SHARED | map::ANONYMOUS), Err(Errno::Einval));
    }

    #[test]
    fn remove_splits_and_protect_needs_every_page() {
        let mut a = Areas::new(UserLayout::new(SV39));
        a.insert(anon(0x10_0000, 0x20_0000)).unwrap();
        let mut gone = 0;
        a.remove(0x14_0000, 0x15_0000, |p| gone += p.end - p.start).unwrap();
        assert_eq!(gone, 0x1_0000);
        assert_eq!(a.iter().count(), 2);
        assert_eq!(a.find(0x14_0000), None);
        assert_eq!(a.protect(0x13_0000, 0x16_0000, prot::READ), Err(Errno::Enomem));
        a.protect(0x10_0000, 0x11_0000, prot::READ).unwrap();
        assert_eq!(a.find(0x10_0000).unwrap().prot, prot::READ);
        assert_eq!(a.find(0x11_0000).unwrap().prot, RW);
        assert_eq!(a.check(0x10_0000, Access::Store), Err(Refusal::Permission));
        assert_eq!(a.check(0x11_0000, Access::Store).map(|x| x.start), Ok(0x11_0000));
        assert_eq!(a.check(SV39, Access::Load), Err(Refusal::KernelAddress));
        assert_eq!(a.check(0x14_0000, Access::Load), Err(Refusal::Unmapped));
    }

    #[test]
    fn brk_grows_shrinks_and_refuses() {
        let mut a = Areas::new(UserLayout::new(SV39));
        a.set_brk_start(0x40_0000);
        assert_eq!(a.brk(0, |_| {}), 0x40_0000);
        assert_eq!(a.brk(0x40_2001, |_| {}), 0x40_2001);
        assert_eq!(a.find(0x40_2000).map(|x| x.kind), Some(Kind::Heap));
        let mut gone = 0;
        assert_eq!(a.brk(0x40_1000, |p| gone += p.end - p.start), 0x40_1000);
        assert_eq!(gone, 0x2000);
        assert_eq!(a.brk(0x3f_0000, |_| {}), 0x40_1000, "below the start: refused");
    }

    #[test]
    fn huge_blocks_need_the_whole_aligned_block() {
        let a = anon(0x20_0000, 0x60_0000);
        assert_eq!(huge_block(&a, 0x30_1234), Some(0x20_0000));
        assert_eq!(huge_block(&anon(0x20_1000, 0x60_0000), 0x20_1000), None);
    }
}

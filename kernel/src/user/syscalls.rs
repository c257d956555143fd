//! The system calls, by Linux's riscv64 ABI (decoded in kvas_kernel_core::user::syscall):
//! `write` to the console, `exit`/`exit_group`, `getpid`, `brk`, `mmap` (anonymous private),
//! `munmap`, `mprotect`, `sched_yield`, `clock_gettime`, `uname`; anything else `-ENOSYS`.
//! User pointers go through uaccess only, with demand paging on a fault and `-EFAULT` when
//! the page cannot be had.

use kvas::sizes::PAGE_SIZE;
use kvas_kernel_core::user::syscall::{self, ret, timespec, utsname_abi, Errno, Syscall};
use kvas_kernel_core::user::vmas::Access;

use super::process::Process;
use super::space::AddressSpace;
use super::space::Pool;
use super::uaccess::{in_user_half, CopyFault};

/// QEMU virt's timebase (the `time` CSR's rate).
pub const TIMEBASE_HZ: u64 = 10_000_000;

/// What the process does after the call.
pub enum Next {
    /// Resume with this `a0`.
    Return(u64),
    /// Give the hart to the next process (`a0` = 0).
    Yield,
    /// End with this status.
    Exit(u64),
}

/// Runs `copy` (a copy from or to user memory), mapping pages on demand when it faults and
/// trying again; `-EFAULT` if the range leaves the user half or a page cannot be had.
fn with_user(
    p: &mut Process,
    pool: &mut Pool,
    addr: u64,
    len: usize,
    task_size: u64,
    mut copy: impl FnMut(&AddressSpace) -> Result<(), CopyFault>,
) -> Result<(), Errno> {
    if !in_user_half(addr, len, task_size) {
        return Err(Errno::Efault);
    }
    for _ in 0..len as u64 / PAGE_SIZE + 3 {
        match copy(&p.space) {
            Ok(()) => return Ok(()),
            Err(f) => {
                let access = if f.scause == 15 { Access::Store } else { Access::Load };
                p.space.fault(f.addr, access, pool).map_err(|_| Errno::Efault)?;
            }
        }
    }
    Err(Errno::Efault)
}

/// Serves one call.
pub fn dispatch(p: &mut Process, call: Syscall, pool: &mut Pool, task_size: u64) -> Next {
    let r = match call {
        Syscall::Write { fd, buf, len } => write(p, pool, fd, buf, len, task_size),
        Syscall::Exit { status } | Syscall::ExitGroup { status } => return Next::Exit(status),
        Syscall::Getpid => Ok(p.pid),
        Syscall::SchedYield => return Next::Yield,
        Syscall::Brk { addr } => {
            let space = &mut p.space;
            // The heap's areas a shrink removes, however many mprotect split it into: their
            // hull is all heap, and `unmap` steps over what was never touched.
            let mut gone: Option<(u64, u64)> = None;
            let b = space.areas.brk(addr, |a| {
                gone = Some(gone.map_or((a.start, a.end), |(s, e)| (s.min(a.start), e.max(a.end))));
            });
            if let Some((s, e)) = gone {
                space.unmap(s, e, pool);
            }
            Ok(b)
        }
        Syscall::Mmap { addr, len, prot, flags, .. } => mmap(p, pool, addr, len, prot, flags),
        Syscall::Munmap { addr, len } => munmap(p, pool, addr, len),
        Syscall::Mprotect { addr, len, prot } => mprotect(p, pool, addr, len, prot),
        Syscall::ClockGettime { clock, tp } => {
            if clock != syscall::CLOCK_REALTIME && clock != syscall::CLOCK_MONOTONIC {
                Err(Errno::Einval)
            } else {
                let t = timespec(read_time(), TIMEBASE_HZ);
                with_user(p, pool, tp, t.len(), task_size, |s| s.copy_to_user(tp, &t)).map(|()| 0)
            }
        }
        Syscall::Uname { buf } => {
            let u = utsname_abi("6.17.0-kvas", super::arch::ABI);
            with_user(p, pool, buf, u.len(), task_size, |s| s.copy_to_user(buf, &u)).map(|()| 0)
        }
        Syscall::Unknown { .. } => Err(Errno::Enosys),
    };
    Next::Return(ret(r))
}

/// The `time` CSR.
#[cfg(target_arch = "riscv64")]
pub fn read_time() -> u64 {
    let t: u64;
    // SAFETY: reading the time CSR has no side effect (OpenSBI lets S-mode read it).
    unsafe { core::arch::asm!("rdtime {}", out(reg) t) };
    t
}

/// The `time` CSR: `timeh:time`, read again if the low half wrapped between.
#[cfg(target_arch = "riscv32")]
pub fn read_time() -> u64 {
    loop {
        let (hi, lo, again): (u32, u32, u32);
        // SAFETY: reading the time CSRs has no side effect (OpenSBI lets S-mode read them).
        unsafe {
            core::arch::asm!("rdtimeh {}", "rdtime {}", "rdtimeh {}", out(reg) hi, out(reg) lo, out(reg) again)
        };
        if hi == again {
            return u64::from(hi) << 32 | u64::from(lo);
        }
    }
}

/// The null sink's file descriptor.
const NULL_FD: u64 = 3;

fn write(
    p: &mut Process,
    pool: &mut Pool,
    fd: u64,
    buf: u64,
    len: u64,
    task_size: u64,
) -> Result<u64, Errno> {
    // fd 3 is a null sink every process has (as if started with `3>/dev/null`): the copy
    // from user space without the console, for the split costs (docs/PERFORMANCE.md).
    if !(1..=NULL_FD).contains(&fd) {
        return Err(Errno::Ebadf);
    }
    let mut done = 0u64;
    let mut chunk = [0u8; 256];
    if !in_user_half(buf, len as usize, task_size) {
        return Err(Errno::Efault);
    }
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        let at = buf + done;
        with_user(p, pool, at, n, task_size, |s| s.copy_from_user(&mut chunk[..n], at))?;
        if fd != NULL_FD {
            chunk[..n].iter().for_each(|&b| crate::console::putb(b));
        }
        done += n as u64;
    }
    Ok(len)
}

fn mmap(p: &mut Process, pool: &mut Pool, addr: u64, len: u64, prot: u64, flags: u64) -> Result<u64, Errno> {
    if prot & syscall::prot::WRITE != 0 && prot & syscall::prot::EXEC != 0 {
        // W^X in user space too.
        return Err(Errno::Einval);
    }
    let place = p.space.areas.place(addr, len, prot, flags)?;
    let end = place.start + place.len;
    if place.replace {
        munmap(p, pool, place.start, place.len)?;
    }
    let kind = kvas_kernel_core::user::vmas::Kind::Anon;
    p.space.areas.insert(kvas_kernel_core::user::vmas::Area { start: place.start, end, prot, kind })?;
    Ok(place.start)
}

fn munmap(p: &mut Process, pool: &mut Pool, addr: u64, len: u64) -> Result<u64, Errno> {
    let end = addr.checked_add(len.div_ceil(PAGE_SIZE) * PAGE_SIZE).ok_or(Errno::Einval)?;
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 || end > p.space.areas.layout.task_size {
        return Err(Errno::Einval);
    }
    let mut gone = [(0u64, 0u64); kvas_kernel_core::user::vmas::MAX_AREAS + 1];
    let mut n = 0;
    p.space.areas.remove(addr, end, |a| {
        if n < gone.len() {
            gone[n] = (a.start, a.end);
            n += 1;
        }
    })?;
    gone[..n].iter().for_each(|&(s, e)| p.space.unmap(s, e, pool));
    Ok(0)
}

fn mprotect(p: &mut Process, pool: &mut Pool, addr: u64, len: u64, prot: u64) -> Result<u64, Errno> {
    let end = addr.checked_add(len.div_ceil(PAGE_SIZE) * PAGE_SIZE).ok_or(Errno::Enomem)?;
    if !addr.is_multiple_of(PAGE_SIZE) || prot & !7 != 0 {
        return Err(Errno::Einval);
    }
    if prot & syscall::prot::WRITE != 0 && prot & syscall::prot::EXEC != 0 {
        // W^X in user space too.
        return Err(Errno::Einval);
    }
    if prot == 0 {
        // PROT_NONE: a leaf with no rights is no leaf in the engine's formats, and kvas
        // keeps no non-present entries that remember their frames; refused rather than
        // left accessible (Linux makes the pages inaccessible and keeps their contents).
        return Err(Errno::Einval);
    }
    p.space.areas.protect(addr, end, prot)?;
    p.space.protect(addr, end, prot, pool).map_err(|_| Errno::Enomem)?;
    Ok(0)
}

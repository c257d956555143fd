//! The user half of the kernel's user-space tests: `ut TEST TASK_SIZE KERNEL_TEXT`. Each test exits 0 when
//! every check holds, or prints what failed and exits 1; the `kill-*` tests end by faulting on
//! purpose (the kernel checks that it killed them for the right cause, at the right address).

#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use kvas::sizes::PAGE_SIZE;
use kvas_user::*;

const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;

static RODATA: [u8; 16] = [1; 16];
#[link_section = ".data"]
static mut DATA_CODE: [u32; 4] = [0x0000_8067; 4]; // `ret`

macro_rules! check {
    ($cond:expr, $($t:tt)*) => {
        if !$cond {
            println!("ut: check failed: {}", format_args!($($t)*));
            return 1;
        }
    };
}

fn touch(addr: u64, v: u64) {
    // SAFETY: the caller mapped `addr` (or wants the fault).
    unsafe { write_volatile(addr as *mut u64, v) }
}

fn peek(addr: u64) -> u64 {
    // SAFETY: as above.
    unsafe { read_volatile(addr as *const u64) }
}

#[no_mangle]
fn user_main(args: Args) -> u64 {
    let test = args.get(1).unwrap_or(b"");
    let task_size = args.get(2).map(number).unwrap_or(0);
    // An address in the kernel's text as it runs (KASLR moves it).
    let kernel_text = args.get(3).map(number).unwrap_or(0xffff_ffff_8000_0000);
    match test {
        b"syscalls" => syscalls(),
        b"isolation" => isolation(task_size),
        b"fpu" => fpu(),
        b"top" => top(task_size),
        b"mmap" => mmap_test(task_size),
        b"demand" => demand(),
        b"efault" => efault(task_size, kernel_text),
        b"cost" => cost(),
        b"cross-write" => cross_write(),
        b"split-cost" => split_cost(),
        b"yielder" => {
            // The other side of split-cost's context switches: yields as often as it does.
            for _ in 0..SWITCH_YIELDS {
                sched_yield();
            }
            0
        }
        b"kill-kernel-load" => {
            // One register-wide load, so the fault is at exactly `kernel_text` (a u64 load
            // is two on riscv32, and either may come first).
            // SAFETY: not safe at all: the kernel kills us for it.
            unsafe { read_volatile(kernel_text as usize as *const usize) as u64 }
        }
        b"kill-ro-store" => {
            touch(RODATA.as_ptr() as u64, 2);
            0
        }
        b"kill-fetch-data" => {
            // SAFETY: not safe at all: the page is not executable, the kernel kills us.
            let f: extern "C" fn() = unsafe { core::mem::transmute(core::ptr::addr_of!(DATA_CODE)) };
            f();
            0
        }
        b"kill-munmap" => {
            let a = mmap(0, PAGE_SIZE, RW, ANON) as u64;
            touch(a, 1);
            check!(munmap(a, PAGE_SIZE) == 0, "munmap");
            peek(a)
        }
        b"kill-munmap-other-hart" => {
            // The kernel runs each slice on the hart it chooses (user/tests/smp.rs): the
            // first here, the munmap on another, the load back on the first.
            let a = mmap(0, PAGE_SIZE, RW, ANON) as u64;
            touch(a, 7);
            sched_yield();
            check!(munmap(a, PAGE_SIZE) == 0, "munmap");
            sched_yield();
            peek(a)
        }
        b"kill-mprotect" => {
            let a = mmap(0, PAGE_SIZE, RW, ANON) as u64;
            touch(a, 5);
            check!(mprotect(a, PAGE_SIZE, PROT_READ) == 0, "mprotect");
            check!(peek(a) == 5, "still readable");
            touch(a, 6);
            0
        }
        _ => {
            println!("ut: unknown test");
            2
        }
    }
}

/// The line `cross-write` writes from two fresh pages (highmem ones on riscv32 when there is
/// highmem): the boot tests look for it whole.
const CROSS_LINE: &[u8] = b"ut: a write across a page boundary arrives whole\n";

/// A `write` whose buffer crosses a page boundary, and a `uname` whose buffer does: both
/// pages faulted in by the process first, so the kernel's copies meet two frames.
fn cross_write() -> u64 {
    let a = mmap(0, 2 * PAGE_SIZE, RW, ANON);
    check!(a > 0, "mmap {a}");
    let boundary = a as u64 + PAGE_SIZE;
    touch(a as u64, 1);
    touch(boundary, 2);
    let at = boundary - 20;
    for (i, &b) in CROSS_LINE.iter().enumerate() {
        // SAFETY: [at, at + len) lies in the two pages just mapped.
        unsafe { write_volatile((at + i as u64) as *mut u8, b) };
    }
    check!(write(1, at as *const u8, CROSS_LINE.len()) == CROSS_LINE.len() as i64, "write's count");
    let u = boundary - 200;
    check!(syscall(nr::UNAME, [u, 0, 0, 0, 0, 0]) == 0, "uname across the boundary");
    // SAFETY: [u, u + 390) lies in the two pages.
    let field = |off: u64, len: usize| unsafe { core::slice::from_raw_parts((u + off) as *const u8, len) };
    check!(field(0, 6) == b"Linux\0" && field(260, 7) == MACHINE, "uname's fields across the boundary");
    0
}

fn syscalls() -> u64 {
    let pid = getpid();
    check!(pid > 0, "getpid {pid}");
    let msg = "ut: write works\n";
    check!(write(1, msg.as_ptr(), msg.len()) == msg.len() as i64, "write's count");
    check!(write(2, msg.as_ptr(), 0) == 0, "write to stderr");
    check!(write(7, msg.as_ptr(), 1) == -9, "write to a bad fd");
    let mut u = [0u8; 390];
    check!(syscall(nr::UNAME, [u.as_mut_ptr() as u64, 0, 0, 0, 0, 0]) == 0, "uname");
    check!(&u[..6] == b"Linux\0" && &u[260..267] == MACHINE && u[267] == 0, "uname fields");
    let (mut t1, mut t2) = ([0u64; 2], [0u64; 2]);
    check!(syscall(nr::CLOCK_GETTIME, [1, t1.as_mut_ptr() as u64, 0, 0, 0, 0]) == 0, "clock_gettime");
    check!(sched_yield() == 0, "sched_yield");
    check!(syscall(nr::CLOCK_GETTIME, [1, t2.as_mut_ptr() as u64, 0, 0, 0, 0]) == 0, "clock_gettime");
    check!(t1[1] < 1_000_000_000 && (t2[0], t2[1]) >= (t1[0], t1[1]), "time goes forward {t1:?} {t2:?}");
    check!(syscall(nr::CLOCK_GETTIME, [99, t1.as_mut_ptr() as u64, 0, 0, 0, 0]) == EINVAL, "bad clock");
    let b0 = brk(0) as u64;
    check!(b0 > 0x10000 && b0.is_multiple_of(PAGE_SIZE), "brk(0) {b0:#x}");
    check!(brk(b0 + 3 * PAGE_SIZE + 5) as u64 == b0 + 3 * PAGE_SIZE + 5, "brk grows");
    touch(b0 + 3 * PAGE_SIZE - 8, 0x1234);
    check!(peek(b0 + 3 * PAGE_SIZE - 8) == 0x1234, "heap memory");
    check!(brk(b0) as u64 == b0, "brk shrinks");
    check!(brk(1) as u64 == b0, "brk below the start is refused");
    // A heap split into many areas by mprotect is all unmapped when brk shrinks: grown
    // again, every page is fresh (zero), none still holds what was written before.
    check!(brk(b0 + 8 * PAGE_SIZE) as u64 == b0 + 8 * PAGE_SIZE, "brk grows to 8 pages");
    for i in 0..8 {
        touch(b0 + i * PAGE_SIZE, 0xa5a5 + i);
    }
    for i in (1..8).step_by(2) {
        check!(mprotect(b0 + i * PAGE_SIZE, PAGE_SIZE, PROT_READ) == 0, "mprotect heap page {i}");
    }
    check!(brk(b0) as u64 == b0, "brk shrinks a split heap");
    check!(brk(b0 + 8 * PAGE_SIZE) as u64 == b0 + 8 * PAGE_SIZE, "brk grows again");
    for i in 0..8 {
        check!(peek(b0 + i * PAGE_SIZE) == 0, "heap page {i} is fresh after brk shrank");
    }
    check!(brk(b0) as u64 == b0, "brk shrinks again");
    check!(syscall(56, [0; 6]) == ENOSYS, "openat is ENOSYS");
    check!(syscall(9999, [0; 6]) == ENOSYS, "9999 is ENOSYS");
    syscall(nr::EXIT_GROUP, [0; 6]);
    1
}

fn isolation(task_size: u64) -> u64 {
    // Below TASK_SIZE in every split (riscv32's 1g has 0x40000000).
    let at = if task_size > 0x8000_0000 { 0x7000_0000 } else { task_size / 2 };
    let pid = getpid() as u64;
    check!(mmap(at, PAGE_SIZE, RW, ANON | MAP_FIXED) == at as i64, "mmap fixed");
    for i in 0..PAGE_SIZE / 8 {
        touch(at + 8 * i, pid << 32 | i);
    }
    for _ in 0..4 {
        sched_yield();
        for i in 0..PAGE_SIZE / 8 {
            check!(peek(at + 8 * i) == pid << 32 | i, "pid {pid} sees {:#x} at word {i}", peek(at + 8 * i));
        }
    }
    0
}

/// Every f-register and `fcsr`'s rounding mode hold values naming this process; they must
/// survive four yields to the other processes doing the same (the kernel switches the FPU
/// state with the process). The same code on riscv32: its harts have D (the kernel checks),
/// so `fld`/`fsd` move each register whole; `.option arch, +d` lets riscv32imac assemble them.
fn fpu() -> u64 {
    let pid = getpid() as u64;
    let want: [u64; 32] = core::array::from_fn(|i| pid << 32 | 0xf00 | i as u64);
    // RNE, RTZ, RDN, RUP, RMM: each a valid rounding mode.
    let frm = (pid % 5) as usize;
    // SAFETY: loads 32 readable words into the FPU (sstatus.FS is on in U-mode); this
    // program uses no floating point of its own, so nothing else touches these registers.
    unsafe {
        core::arch::asm!(
            ".option push",
            ".option arch, +d",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "fld f\\r, (\\r*8)({p})",
            ".endr",
            "fsrm {m}",
            ".option pop",
            p = in(reg) want.as_ptr(),
            m = in(reg) frm,
            options(nostack, readonly),
        );
    }
    for round in 0..4 {
        sched_yield();
        let mut got = [0u64; 32];
        let m: usize;
        // SAFETY: stores the FPU's 32 registers into 32 writable words.
        unsafe {
            core::arch::asm!(
                ".option push",
                ".option arch, +d",
                ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
                "fsd f\\r, (\\r*8)({p})",
                ".endr",
                "frrm {m}",
                ".option pop",
                p = in(reg) got.as_mut_ptr(),
                m = out(reg) m,
                options(nostack),
            );
        }
        for i in 0..32 {
            check!(
                got[i] == want[i],
                "pid {pid}: f{i} is {:#x} after yield {round}, not {:#x}",
                got[i],
                want[i]
            );
        }
        check!(m == frm, "pid {pid}: frm is {m} after yield {round}, not {frm}");
    }
    0
}

fn top(task_size: u64) -> u64 {
    check!(task_size > 0, "TASK_SIZE argument");
    check!(mmap(task_size, PAGE_SIZE, RW, ANON | MAP_FIXED) == ENOMEM, "TASK_SIZE itself");
    check!(mmap(task_size - PAGE_SIZE, 2 * PAGE_SIZE, RW, ANON | MAP_FIXED) == ENOMEM, "across TASK_SIZE");
    let r = mmap(task_size - PAGE_SIZE, PAGE_SIZE, RW, ANON | MAP_FIXED_NOREPLACE);
    // On Sv39 and Sv48 the stack holds the top page already.
    check!(r == (task_size - PAGE_SIZE) as i64 || r == EEXIST, "top page {r}");
    let last = task_size - 8;
    let old = peek(last);
    touch(last, 0x5a5a);
    check!(peek(last) == 0x5a5a, "the highest word");
    touch(last, old);
    println!(
        "ut: highest page {:#x} {}",
        task_size - PAGE_SIZE,
        if r == EEXIST { "(the stack's)" } else { "(mmap)" }
    );
    0
}

fn mmap_test(task_size: u64) -> u64 {
    let window = task_size.min(1 << 47);
    let a = mmap(0, 1 << 20, RW, ANON);
    check!(a > 0 && a as u64 + (1 << 20) <= window, "mmap below the window {a:#x}");
    let a = a as u64;
    touch(a, 9);
    check!(mmap(a, PAGE_SIZE, RW, ANON | MAP_FIXED_NOREPLACE) == EEXIST, "NOREPLACE over a mapping");
    check!(mmap(a, PAGE_SIZE, RW, ANON | MAP_FIXED) == a as i64, "FIXED over a mapping");
    check!(peek(a) == 0, "FIXED replaced the page");
    let hint = if task_size > 0x8000_0000 { 0x5000_0000 } else { task_size / 4 };
    check!(mmap(hint, PAGE_SIZE, RW, ANON) == hint as i64, "a free hint is taken");
    check!(mmap(a + 1, PAGE_SIZE, RW, ANON | MAP_FIXED) == EINVAL, "FIXED unaligned");
    check!(mmap(0, 0, RW, ANON) == EINVAL, "length 0");
    if task_size > 1 << 47 {
        let high = mmap(1 << 50, PAGE_SIZE, RW, ANON);
        check!(high == 1 << 50, "a hint above 2^47 {high:#x}");
        touch(high as u64, 3);
        check!(peek(high as u64) == 3, "memory above 2^47");
        for _ in 0..8 {
            let low = mmap(0, 2 << 20, RW, ANON);
            check!(low > 0 && (low as u64) < (1 << 47), "no hint stays below 2^47 {low:#x}");
        }
    }
    check!(munmap(a, 1 << 20) == 0, "munmap");
    check!(munmap(a + 1, PAGE_SIZE) == EINVAL, "munmap unaligned");
    0
}

fn demand() -> u64 {
    let big = mmap(0, 2 * LARGE_PAGE, RW, ANON);
    // The kernel places a mapping of 2 MiB or more on a 2 MiB boundary (Linux's rule).
    check!(big > 0 && (big as u64).is_multiple_of(2 << 20), "2 MiB-aligned mapping {big:#x}");
    let big = big as u64;
    let pages = LARGE_PAGE / PAGE_SIZE;
    for i in 0..pages {
        touch(big + i * PAGE_SIZE, i);
    }
    for i in 0..pages {
        check!(peek(big + i * PAGE_SIZE) == i, "page {i} of the large block");
    }
    let small = mmap(0, 2 * PAGE_SIZE, RW, ANON);
    check!(small > 0, "8 KiB mapping");
    check!(peek(small as u64) == 0, "fresh memory is zero");
    touch(small as u64 + PAGE_SIZE, 7);
    check!(peek(small as u64 + PAGE_SIZE) == 7, "second page");
    0
}

fn efault(task_size: u64, kernel_text: u64) -> u64 {
    check!(write(1, kernel_text as *const u8, 8) == EFAULT, "write from kernel text");
    check!(write(1, task_size as *const u8, 8) == EFAULT, "write from TASK_SIZE");
    check!(write(1, (task_size - 4) as *const u8, 8) == EFAULT, "write across TASK_SIZE");
    check!(write(1, 0x1000 as *const u8, 8) == EFAULT, "write from an unmapped page");
    check!(syscall(nr::CLOCK_GETTIME, [1, kernel_text, 0, 0, 0, 0]) == EFAULT, "clock_gettime to kernel");
    check!(syscall(nr::UNAME, [0x2000, 0, 0, 0, 0, 0]) == EFAULT, "uname to an unmapped page");
    // Untouched anonymous memory is mapped when the kernel copies into it.
    let p = mmap(0, PAGE_SIZE, RW, ANON) as u64;
    check!(syscall(nr::CLOCK_GETTIME, [1, p, 0, 0, 0, 0]) == 0, "clock_gettime to untouched memory");
    check!(peek(p + 8) < 1_000_000_000, "nanoseconds");
    // A read-only page is no target for a copy to user space.
    // PROT_NONE is refused (kvas keeps no inaccessible-but-kept pages), never left as it was.
    check!(mprotect(p, PAGE_SIZE, 0) == EINVAL, "mprotect PROT_NONE");
    check!(mprotect(p, PAGE_SIZE, PROT_READ) == 0, "mprotect");
    check!(syscall(nr::CLOCK_GETTIME, [1, p, 0, 0, 0, 0]) == EFAULT, "clock_gettime to a read-only page");
    0
}

/// Instructions for a `getpid` round trip (ecall, the kernel's trap glue and dispatch, sret)
/// and for one demand-paging fault of 4 KiB and of 2 MiB (the first store to a fresh page:
/// trap, area check, a zeroed frame, the engine's map, return), each the least of 5 tries,
/// less the cost of the same code with no trap (reading instret twice; a store to a mapped
/// page). Exact under QEMU's `-icount` (docs/PERFORMANCE.md).
fn cost() -> u64 {
    let base = (0..5)
        .map(|_| {
            let t = instret();
            instret() - t
        })
        .min()
        .unwrap_or(0);
    let getpid_cost = (0..5)
        .map(|_| {
            let t = instret();
            getpid();
            instret() - t
        })
        .min()
        .unwrap_or(0);
    let fault = |len: u64| {
        (0..5)
            .map(|_| {
                let a = mmap(0, len, RW, ANON) as u64;
                let t = instret();
                touch(a, 1);
                let faulted = instret() - t;
                let t = instret();
                touch(a + 8, 2);
                let mapped = instret() - t;
                munmap(a, len);
                faulted - mapped
            })
            .min()
            .unwrap_or(0)
    };
    let (f4k, flarge) = (fault(PAGE_SIZE), fault(LARGE_PAGE));
    let large = if LARGE_PAGE == 2 << 20 { "2m" } else { "4m" };
    println!("ut: cost getpid {} fault-4k {f4k} fault-{large} {flarge}", getpid_cost - base);
    0
}

/// Batches of `sched_yield` split-cost times, and yields per batch.
const SWITCH_BATCHES: u64 = 5;
const SWITCH_BATCH: u64 = 16;
/// How often `yielder` yields: as often as split-cost does, so the two alternate throughout.
const SWITCH_YIELDS: u64 = SWITCH_BATCHES * SWITCH_BATCH + 2;

/// Nanoseconds from `clock_gettime(CLOCK_MONOTONIC)`: the `time` CSR (10 MHz on QEMU's virt).
fn now_ns() -> u64 {
    let mut t = [0u64; 2];
    syscall(nr::CLOCK_GETTIME, [1, t.as_mut_ptr() as u64, 0, 0, 0, 0]);
    t[0] * 1_000_000_000 + t[1]
}

/// Instructions and nanoseconds of one batch: `n` runs of `op`, in total.
fn batch(n: u64, mut op: impl FnMut(u64)) -> (u64, u64) {
    let (t, c) = (now_ns(), instret());
    for k in 0..n {
        op(k);
    }
    let (c1, t1) = (instret(), now_ns());
    (c1 - c, t1 - t)
}

/// Per run of `op`: the least of 5 batches of `n` runs, less an empty batch (the measuring).
fn per_op(n: u64, mut op: impl FnMut(u64)) -> (u64, u64) {
    let empty = (0..5).map(|_| batch(0, |_| {})).fold((u64::MAX, u64::MAX), min2);
    let best = (0..5).map(|_| batch(n, &mut op)).fold((u64::MAX, u64::MAX), min2);
    (best.0.saturating_sub(empty.0) / n, best.1.saturating_sub(empty.1) / n)
}

fn min2(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0.min(b.0), a.1.min(b.1))
}

/// docs/PERFORMANCE.md's split costs, per operation: a null system call (`getpid`), `write`
/// of 4 KiB and of 64 KiB from user memory to fd 3 (the kernel's null sink: the copy from
/// user space, no console), a demand-paging fault of 4 KiB (a fresh page of a fresh
/// mapping), and a context switch (half of a `sched_yield` round trip with a `yielder`
/// process: one `sched_yield` that switches, its system call included). Instructions are `instret`'s (exact under `-icount`), times
/// the `time` CSR's through `clock_gettime`.
fn split_cost() -> u64 {
    let buf = mmap(0, 64 << 10, RW, ANON);
    check!(buf > 0, "mmap the buffer");
    let buf = buf as u64;
    for i in 0..16 {
        touch(buf + i * PAGE_SIZE, i);
    }
    check!(write(3, buf as *const u8, 1) == 1, "fd 3 takes writes");
    // Every timed call's result is kept and checked after the measurement: a failed call
    // (an -EFAULT write returns early) would look cheaper, so it fails the test instead.
    let mut wrong: Option<(&str, i64)> = None;
    let mut expect = |what: &'static str, got: i64, ok: bool| {
        if !ok && wrong.is_none() {
            wrong = Some((what, got));
        }
    };
    let null = per_op(8, |_| {
        let pid = getpid();
        expect("getpid", pid, pid > 0);
    });
    let w4 = per_op(4, |_| {
        let n = write(3, buf as *const u8, 4096);
        expect("write(3, buf, 4096)", n, n == 4096);
    });
    let w64 = per_op(2, |_| {
        let n = write(3, buf as *const u8, 64 << 10);
        expect("write(3, buf, 65536)", n, n == 64 << 10);
    });
    // Each batch of 8 faults touches a fresh mapping of 8 pages, made and unmade outside it.
    let empty = (0..5).map(|_| batch(0, |_| {})).fold((u64::MAX, u64::MAX), min2);
    let mut fault = (u64::MAX, u64::MAX);
    for _ in 0..5 {
        let area = mmap(0, 8 * PAGE_SIZE, RW, ANON);
        check!(area > 0, "mmap for the faults");
        fault = min2(fault, batch(8, |k| touch(area as u64 + k * PAGE_SIZE, 1)));
        munmap(area as u64, 8 * PAGE_SIZE);
    }
    let fault = (fault.0.saturating_sub(empty.0) / 8, fault.1.saturating_sub(empty.1) / 8);
    sched_yield(); // the yielder has started
    let round = per_op(SWITCH_BATCH, |_| {
        let r = sched_yield();
        expect("sched_yield", r, r == 0);
    });
    if let Some((what, got)) = wrong {
        check!(false, "split-cost: a timed {what} returned {got}: no numbers from a failed run");
    }
    // A round trip is two yields, each a system call that switches to the other process.
    let switch = (round.0 / 2, round.1 / 2);
    println!(
        "ut: split-cost insns null {} write-4k {} write-64k {} fault-4k {} switch {}",
        null.0, w4.0, w64.0, fault.0, switch.0
    );
    println!(
        "ut: split-cost ns null {} write-4k {} write-64k {} fault-4k {} switch {}",
        null.1, w4.1, w64.1, fault.1, switch.1
    );
    0
}

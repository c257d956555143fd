//! The runtime of kvas's user programs: the entry point (Linux's initial stack: `argc`,
//! `argv`, `envp`, `auxv`), system calls by Linux's riscv64 or riscv32 ABI (`ecall` with the
//! number in `a7`, arguments in `a0..a5`, `-errno` in `a0`), and a console writer. No `std`,
//! no libc.
//!
//! One source for both widths: the API speaks `u64` (addresses, lengths), and [`syscall`]
//! narrows the arguments to registers and widens the result back, so a riscv32 address at or
//! above 2 GiB (4G/4G's user half reaches 0xefffffff) stays positive. riscv32's differences
//! are asm-generic's 32-bit ones: `clock_gettime` is `clock_gettime64` (403, the same 16-byte
//! timespec), `mmap` is `mmap2` (offset in pages; kvas maps anonymous memory only).

#![no_std]
#![warn(missing_docs)]

use core::arch::asm;

/// System-call numbers (asm-generic).
pub mod nr {
    #![allow(missing_docs)] // the names are Linux's
    pub const WRITE: u64 = 64;
    pub const EXIT: u64 = 93;
    pub const EXIT_GROUP: u64 = 94;
    pub const SCHED_YIELD: u64 = 124;
    /// riscv64's `clock_gettime`; riscv32 has only `clock_gettime64`.
    #[cfg(target_pointer_width = "64")]
    pub const CLOCK_GETTIME: u64 = 113;
    #[cfg(target_pointer_width = "32")]
    pub const CLOCK_GETTIME: u64 = 403;
    pub const UNAME: u64 = 160;
    pub const GETPID: u64 = 172;
    pub const BRK: u64 = 214;
    pub const MUNMAP: u64 = 215;
    pub const MMAP: u64 = 222;
    pub const MPROTECT: u64 = 226;
}

/// `PROT_READ`.
pub const PROT_READ: u64 = 1;
/// `PROT_WRITE`.
pub const PROT_WRITE: u64 = 2;
/// `PROT_EXEC`.
pub const PROT_EXEC: u64 = 4;
/// `MAP_PRIVATE`.
pub const MAP_PRIVATE: u64 = 2;
/// `MAP_FIXED`.
pub const MAP_FIXED: u64 = 0x10;
/// `MAP_ANONYMOUS`.
pub const MAP_ANONYMOUS: u64 = 0x20;
/// `MAP_FIXED_NOREPLACE`.
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// `-ENOMEM`.
pub const ENOMEM: i64 = -12;
/// `-EFAULT`.
pub const EFAULT: i64 = -14;
/// `-EEXIST`.
pub const EEXIST: i64 = -17;
/// `-EINVAL`.
pub const EINVAL: i64 = -22;
/// `-ENOSYS`.
pub const ENOSYS: i64 = -38;

/// `uname`'s machine field on this target.
#[cfg(target_pointer_width = "64")]
pub const MACHINE: &[u8] = b"riscv64";
/// `uname`'s machine field on this target.
#[cfg(target_pointer_width = "32")]
pub const MACHINE: &[u8] = b"riscv32";

/// The largest leaf the kernel maps on demand: a 2 MiB megapage (Sv39 and up).
#[cfg(target_pointer_width = "64")]
pub const LARGE_PAGE: u64 = 2 << 20;
/// The largest leaf the kernel maps on demand: a 4 MiB megapage (Sv32).
#[cfg(target_pointer_width = "32")]
pub const LARGE_PAGE: u64 = 4 << 20;

/// A raw system call. The arguments are narrowed to the register width (on riscv32 a value
/// past 32 bits is the caller's error); the result is `-errno` for -4095..=-1 and otherwise
/// the register zero-extended (an address is never negative).
#[inline(always)]
pub fn syscall(n: u64, a: [u64; 6]) -> i64 {
    let r: usize;
    // SAFETY: `ecall` traps to the kernel, which follows Linux's ABI: it changes only `a0`.
    unsafe {
        asm!("ecall", inlateout("a0") a[0] as usize => r, in("a1") a[1] as usize,
             in("a2") a[2] as usize, in("a3") a[3] as usize, in("a4") a[4] as usize,
             in("a5") a[5] as usize, in("a7") n as usize, options(nostack));
    }
    if r > (-4096isize) as usize {
        r as isize as i64
    } else {
        r as u64 as i64
    }
}

/// `write(fd, buf, len)`.
pub fn write(fd: u64, buf: *const u8, len: usize) -> i64 {
    syscall(nr::WRITE, [fd, buf as u64, len as u64, 0, 0, 0])
}

/// Writes `s` to standard output.
pub fn print(s: &str) {
    write(1, s.as_ptr(), s.len());
}

/// `exit(status)`.
pub fn exit(status: u64) -> ! {
    syscall(nr::EXIT, [status, 0, 0, 0, 0, 0]);
    // `exit` does not return; should it, stop in a breakpoint (the kernel kills the process).
    loop {
        // SAFETY: `ebreak` traps to the kernel.
        unsafe { asm!("ebreak") };
    }
}

/// `getpid()`.
pub fn getpid() -> i64 {
    syscall(nr::GETPID, [0; 6])
}

/// `sched_yield()`.
pub fn sched_yield() -> i64 {
    syscall(nr::SCHED_YIELD, [0; 6])
}

/// `mmap(addr, len, prot, flags, -1, 0)`.
pub fn mmap(addr: u64, len: u64, prot: u64, flags: u64) -> i64 {
    syscall(nr::MMAP, [addr, len, prot, flags, u64::MAX, 0])
}

/// `munmap(addr, len)`.
pub fn munmap(addr: u64, len: u64) -> i64 {
    syscall(nr::MUNMAP, [addr, len, 0, 0, 0, 0])
}

/// `mprotect(addr, len, prot)`.
pub fn mprotect(addr: u64, len: u64, prot: u64) -> i64 {
    syscall(nr::MPROTECT, [addr, len, prot, 0, 0, 0])
}

/// `brk(addr)`.
pub fn brk(addr: u64) -> i64 {
    syscall(nr::BRK, [addr, 0, 0, 0, 0, 0])
}

/// Instructions retired (`rdinstret`; the kernel allows U-mode to read it).
#[cfg(target_pointer_width = "64")]
#[inline(always)]
pub fn instret() -> u64 {
    let v: u64;
    // SAFETY: reading instret has no side effect.
    unsafe { asm!("rdinstret {}", out(reg) v, options(nomem, nostack)) };
    v
}

/// Instructions retired: `instreth:instret`, read again if the low half wrapped between.
#[cfg(target_pointer_width = "32")]
#[inline(always)]
pub fn instret() -> u64 {
    let (mut hi, mut lo, mut again): (u32, u32, u32);
    loop {
        // SAFETY: reading instret and instreth has no side effect.
        unsafe {
            asm!("rdinstreth {0}", "rdinstret {1}", "rdinstreth {2}", out(reg) hi, out(reg) lo,
                 out(reg) again, options(nomem, nostack));
        }
        if hi == again {
            return u64::from(hi) << 32 | u64::from(lo);
        }
    }
}

/// A fixed buffer that formats into itself (no allocation), written with [`Buf::flush`].
pub struct Buf {
    bytes: [u8; 256],
    len: usize,
}

impl Buf {
    /// An empty buffer.
    pub const fn new() -> Self {
        Buf { bytes: [0; 256], len: 0 }
    }

    /// Writes what it holds to standard output and empties it.
    pub fn flush(&mut self) {
        write(1, self.bytes.as_ptr(), self.len);
        self.len = 0;
    }
}

impl Default for Buf {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints a formatted line to the console.
#[macro_export]
macro_rules! println {
    ($($t:tt)*) => {{
        let mut b = $crate::Buf::new();
        let _ = core::fmt::Write::write_fmt(&mut b, format_args!($($t)*));
        let _ = core::fmt::Write::write_str(&mut b, "\n");
        b.flush();
    }};
}

/// The initial stack Linux's ELF loader builds: `argc`, then `argc` pointers, NULL, the
/// environment, NULL, the auxiliary vector.
pub struct Args {
    sp: *const usize,
}

impl Args {
    /// `argc`.
    pub fn count(&self) -> usize {
        // SAFETY: the kernel put argc at the stack pointer.
        unsafe { *self.sp }
    }

    /// Argument `i` as bytes, if there is one.
    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.count() {
            return None;
        }
        // SAFETY: argv[i] (i < argc) points to a NUL-terminated string on the stack.
        unsafe {
            let p = *self.sp.add(1 + i) as *const u8;
            let mut n = 0;
            while *p.add(n) != 0 {
                n += 1;
            }
            Some(core::slice::from_raw_parts(p, n))
        }
    }
}

/// Parses `0x...` or decimal.
pub fn number(s: &[u8]) -> u64 {
    let (digits, radix) = match s.strip_prefix(b"0x") {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    digits.iter().fold(0u64, |v, &c| v * radix + (c as char).to_digit(radix as u32).unwrap_or(0) as u64)
}

extern "Rust" {
    fn user_main(args: Args) -> u64;
}

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
_start:
    mv      a0, sp
    andi    sp, sp, -16
    call    {start}
    "#,
    start = sym start,
);

extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: the program defines `user_main` (each binary's `main!`).
    let status = unsafe { user_main(Args { sp }) };
    exit(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("user panic: {}", info.message());
    exit(101)
}

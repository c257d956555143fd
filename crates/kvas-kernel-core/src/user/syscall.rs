//! Linux's riscv64 system-call ABI (the asm-generic numbers): the number in `a7`, the
//! arguments in `a0..a5`, the result in `a0`, an error as a negative errno.
//!
//! riscv32 ([`Abi::Rv32`]) has the same numbers with 32-bit registers and asm-generic's
//! 32-bit rules: number 222 is `mmap2` (its offset counts 4 KiB pages), and there is no
//! 32-bit time — `clock_gettime` is number 403 (`clock_gettime64`, the same 16-byte
//! `struct __kernel_timespec` as riscv64's), and 113 does not exist.

/// System-call numbers (asm-generic/unistd.h), the ones kvas implements.
pub mod nr {
    /// `clock_gettime(clockid, *timespec)`.
    pub const CLOCK_GETTIME: u64 = 113;
    /// `sched_yield()`.
    pub const SCHED_YIELD: u64 = 124;
    /// `uname(*new_utsname)`.
    pub const UNAME: u64 = 160;
    /// `getpid()`.
    pub const GETPID: u64 = 172;
    /// `brk(addr)`.
    pub const BRK: u64 = 214;
    /// `munmap(addr, len)`.
    pub const MUNMAP: u64 = 215;
    /// `mmap(addr, len, prot, flags, fd, off)`.
    pub const MMAP: u64 = 222;
    /// `mprotect(addr, len, prot)`.
    pub const MPROTECT: u64 = 226;
    /// `write(fd, buf, count)`.
    pub const WRITE: u64 = 64;
    /// `exit(status)`.
    pub const EXIT: u64 = 93;
    /// `exit_group(status)`.
    pub const EXIT_GROUP: u64 = 94;
    /// `clock_gettime64(clockid, *__kernel_timespec)`: 32-bit ABIs only.
    pub const CLOCK_GETTIME64: u64 = 403;
}

/// Which Linux system-call ABI a process speaks: its kernel's register width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    /// riscv64.
    Rv64,
    /// riscv32 (every argument zero-extended from 32 bits by the caller).
    Rv32,
}

impl Abi {
    /// `uname`'s machine field.
    pub const fn machine(self) -> &'static str {
        match self {
            Abi::Rv64 => "riscv64",
            Abi::Rv32 => "riscv32",
        }
    }
}

/// The errno values kvas returns (asm-generic/errno-base.h, errno.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Errno {
    /// Bad file descriptor.
    Ebadf = 9,
    /// Out of memory (or no room in the address space).
    Enomem = 12,
    /// Bad address.
    Efault = 14,
    /// Already exists (`MAP_FIXED_NOREPLACE` over a mapping).
    Eexist = 17,
    /// Invalid argument.
    Einval = 22,
    /// Function not implemented.
    Enosys = 38,
}

impl Errno {
    /// The value user space sees in `a0`: `-errno`.
    pub const fn to_ret(self) -> u64 {
        (self as u64).wrapping_neg()
    }
}

/// The `a0` of a result: the value, or `-errno`.
pub fn ret(r: Result<u64, Errno>) -> u64 {
    r.unwrap_or_else(Errno::to_ret)
}

/// `PROT_*` bits.
pub mod prot {
    /// Readable.
    pub const READ: u64 = 1;
    /// Writable.
    pub const WRITE: u64 = 2;
    /// Executable.
    pub const EXEC: u64 = 4;
}

/// `MAP_*` bits.
pub mod map {
    /// Shared (refused: kvas has no shared memory).
    pub const SHARED: u64 = 0x01;
    /// Private.
    pub const PRIVATE: u64 = 0x02;
    /// At exactly this address, replacing what is there.
    pub const FIXED: u64 = 0x10;
    /// Not backed by a file.
    pub const ANONYMOUS: u64 = 0x20;
    /// At exactly this address, or `-EEXIST` if anything is there.
    pub const FIXED_NOREPLACE: u64 = 0x10_0000;
}

/// `CLOCK_REALTIME`.
pub const CLOCK_REALTIME: u64 = 0;
/// `CLOCK_MONOTONIC`.
pub const CLOCK_MONOTONIC: u64 = 1;

/// One decoded system call (fields named as Linux's arguments).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// `write(fd, buf, len)`.
    Write { fd: u64, buf: u64, len: u64 },
    /// `exit(status)` (the low 8 bits are the status).
    Exit { status: u64 },
    /// `exit_group(status)`.
    ExitGroup { status: u64 },
    /// `getpid()`.
    Getpid,
    /// `brk(addr)`.
    Brk { addr: u64 },
    /// `mmap(addr, len, prot, flags, fd, off)`.
    Mmap { addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64 },
    /// `munmap(addr, len)`.
    Munmap { addr: u64, len: u64 },
    /// `mprotect(addr, len, prot)`.
    Mprotect { addr: u64, len: u64, prot: u64 },
    /// `sched_yield()`.
    SchedYield,
    /// `clock_gettime(clock, tp)`.
    ClockGettime { clock: u64, tp: u64 },
    /// `uname(buf)`.
    Uname { buf: u64 },
    /// Anything else: `-ENOSYS`.
    Unknown { nr: u64 },
}

impl Syscall {
    /// Decodes `a7` and `a0..a5` of riscv64.
    pub fn decode(nr: u64, a: [u64; 6]) -> Syscall {
        Self::decode_abi(Abi::Rv64, nr, a)
    }

    /// Decodes `a7` and `a0..a5` by `abi`'s rules.
    pub fn decode_abi(abi: Abi, nr: u64, a: [u64; 6]) -> Syscall {
        match (abi, nr) {
            (Abi::Rv32, nr::CLOCK_GETTIME) | (Abi::Rv64, nr::CLOCK_GETTIME64) => Syscall::Unknown { nr },
            (Abi::Rv32, nr::CLOCK_GETTIME64) => Syscall::ClockGettime { clock: a[0], tp: a[1] },
            (Abi::Rv32, nr::MMAP) => {
                Syscall::Mmap { addr: a[0], len: a[1], prot: a[2], flags: a[3], fd: a[4], off: a[5] << 12 }
            }
            (_, nr) => Self::decode_common(nr, a),
        }
    }

    /// The numbers both ABIs share.
    fn decode_common(nr: u64, a: [u64; 6]) -> Syscall {
        match nr {
            nr::WRITE => Syscall::Write { fd: a[0], buf: a[1], len: a[2] },
            nr::EXIT => Syscall::Exit { status: a[0] & 0xff },
            nr::EXIT_GROUP => Syscall::ExitGroup { status: a[0] & 0xff },
            nr::GETPID => Syscall::Getpid,
            nr::BRK => Syscall::Brk { addr: a[0] },
            nr::MMAP => Syscall::Mmap { addr: a[0], len: a[1], prot: a[2], flags: a[3], fd: a[4], off: a[5] },
            nr::MUNMAP => Syscall::Munmap { addr: a[0], len: a[1] },
            nr::MPROTECT => Syscall::Mprotect { addr: a[0], len: a[1], prot: a[2] },
            nr::SCHED_YIELD => Syscall::SchedYield,
            nr::CLOCK_GETTIME => Syscall::ClockGettime { clock: a[0], tp: a[1] },
            nr::UNAME => Syscall::Uname { buf: a[0] },
            nr => Syscall::Unknown { nr },
        }
    }
}

/// Linux's `struct new_utsname`: six fields of 65 bytes.
pub const UTSNAME_FIELD: usize = 65;

/// The riscv64 `uname` answer: sysname, nodename, release, version, machine, domainname.
pub fn utsname(release: &str) -> [u8; 6 * UTSNAME_FIELD] {
    utsname_abi(release, Abi::Rv64)
}

/// The `uname` answer for `abi`'s machine.
pub fn utsname_abi(release: &str, abi: Abi) -> [u8; 6 * UTSNAME_FIELD] {
    let mut out = [0u8; 6 * UTSNAME_FIELD];
    for (i, s) in ["Linux", "kvas", release, "#1 kvas", abi.machine(), "(none)"].iter().enumerate() {
        let n = s.len().min(UTSNAME_FIELD - 1);
        out[i * UTSNAME_FIELD..i * UTSNAME_FIELD + n].copy_from_slice(&s.as_bytes()[..n]);
    }
    out
}

/// A `struct timespec` (two little-endian 64-bit words) for `ticks` of a `freq` Hz clock.
pub fn timespec(ticks: u64, freq: u64) -> [u8; 16] {
    let freq = freq.max(1);
    let secs = ticks / freq;
    let nanos = ((ticks % freq) as u128 * 1_000_000_000 / freq as u128) as u64;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&secs.to_le_bytes());
    out[8..].copy_from_slice(&nanos.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_linuxs() {
        assert_eq!(Syscall::decode(64, [1, 2, 3, 0, 0, 0]), Syscall::Write { fd: 1, buf: 2, len: 3 });
        assert_eq!(Syscall::decode(93, [0x1ff, 0, 0, 0, 0, 0]), Syscall::Exit { status: 0xff });
        assert_eq!(Syscall::decode(172, [0; 6]), Syscall::Getpid);
        assert_eq!(
            Syscall::decode(222, [1, 2, 3, 4, 5, 6]),
            Syscall::Mmap { addr: 1, len: 2, prot: 3, flags: 4, fd: 5, off: 6 }
        );
        assert_eq!(Syscall::decode(215, [7, 8, 0, 0, 0, 0]), Syscall::Munmap { addr: 7, len: 8 });
        assert_eq!(Syscall::decode(226, [7, 8, 1, 0, 0, 0]), Syscall::Mprotect { addr: 7, len: 8, prot: 1 });
        assert_eq!(Syscall::decode(214, [9, 0, 0, 0, 0, 0]), Syscall::Brk { addr: 9 });
        assert_eq!(Syscall::decode(124, [0; 6]), Syscall::SchedYield);
        assert_eq!(Syscall::decode(113, [1, 2, 0, 0, 0, 0]), Syscall::ClockGettime { clock: 1, tp: 2 });
        assert_eq!(Syscall::decode(160, [5, 0, 0, 0, 0, 0]), Syscall::Uname { buf: 5 });
        assert_eq!(Syscall::decode(94, [3, 0, 0, 0, 0, 0]), Syscall::ExitGroup { status: 3 });
        // openat is not implemented.
        assert_eq!(Syscall::decode(56, [0; 6]), Syscall::Unknown { nr: 56 });
    }

    #[test]
    fn rv32_has_mmap2_and_only_64_bit_time() {
        let d = |nr, a| Syscall::decode_abi(Abi::Rv32, nr, a);
        assert_eq!(
            d(222, [1, 2, 3, 4, 0xffff_ffff, 6]),
            Syscall::Mmap { addr: 1, len: 2, prot: 3, flags: 4, fd: 0xffff_ffff, off: 6 * 4096 }
        );
        assert_eq!(d(403, [1, 2, 0, 0, 0, 0]), Syscall::ClockGettime { clock: 1, tp: 2 });
        assert_eq!(d(113, [1, 2, 0, 0, 0, 0]), Syscall::Unknown { nr: 113 });
        assert_eq!(Syscall::decode(403, [1, 2, 0, 0, 0, 0]), Syscall::Unknown { nr: 403 });
        // The rest is riscv64's.
        for nr in [64, 93, 94, 124, 160, 172, 214, 215, 226, 56] {
            assert_eq!(d(nr, [9, 8, 7, 6, 5, 4]), Syscall::decode(nr, [9, 8, 7, 6, 5, 4]), "nr {nr}");
        }
        assert_eq!(&utsname_abi("r", Abi::Rv32)[4 * 65..4 * 65 + 8], b"riscv32\0");
    }

    #[test]
    fn errors_are_negative_errno() {
        assert_eq!(ret(Err(Errno::Enosys)) as i64, -38);
        assert_eq!(ret(Err(Errno::Efault)) as i64, -14);
        assert_eq!(ret(Err(Errno::Eexist)) as i64, -17);
        assert_eq!(ret(Ok(5)), 5);
    }

    #[test]
    fn utsname_fields_are_nul_terminated_at_65_bytes() {
        let u = utsname("6.17.0-kvas");
        assert_eq!(&u[..6], b"Linux\0");
        assert_eq!(&u[4 * 65..4 * 65 + 8], b"riscv64\0");
        assert_eq!(&u[2 * 65..2 * 65 + 12], b"6.17.0-kvas\0");
    }

    #[test]
    fn timespec_splits_seconds_and_nanoseconds() {
        let t = timespec(10_000_000 * 3 + 5_000_000, 10_000_000);
        assert_eq!(u64::from_le_bytes(t[..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(t[8..].try_into().unwrap()), 500_000_000);
    }
}

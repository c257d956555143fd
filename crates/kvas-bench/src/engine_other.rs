//! kvas on x86-64 and arm64: the same `PageTable` as [`crate::engine`], with
//! the x86-64 format (`kvas-x86-4level`, `kvas-x86-5level`) and the arm64
//! `TTBR1` format (`kvas-arm64-3level`, `kvas-arm64-4level`), depth chosen at
//! run time. Each runs against its own architecture's peer: the x86_64 crate
//! and aarch64-paging.

use std::hint::black_box;

use kvas::arch::aarch64::{self, Aarch64, Range};
use kvas::arch::x86_64::{self, X86_64};

use crate::engine::MakeFormat;

/// The x86-64 format with `LEVELS` (4 or 5) levels, chosen at run time.
pub struct X86RunTime<const LEVELS: u8>;

impl<const LEVELS: u8> MakeFormat for X86RunTime<LEVELS> {
    type Format = X86_64;
    fn make() -> X86_64 {
        let mode = match LEVELS {
            4 => x86_64::Mode::Level4,
            5 => x86_64::Mode::Level5,
            _ => panic!("no x86-64 mode has {LEVELS} levels"),
        };
        X86_64::new(black_box(mode))
    }
}

/// The arm64 `TTBR1` format with `LEVELS` (3 or 4) levels, chosen at run time.
pub struct Arm64RunTime<const LEVELS: u8>;

impl<const LEVELS: u8> MakeFormat for Arm64RunTime<LEVELS> {
    type Format = Aarch64;
    fn make() -> Aarch64 {
        let mode = match LEVELS {
            3 => aarch64::Mode::Va39,
            4 => aarch64::Mode::Va48,
            5 => aarch64::Mode::Va52,
            _ => panic!("no arm64 4 KiB-granule mode has {LEVELS} levels"),
        };
        Aarch64::new(black_box(mode), black_box(Range::Ttbr1))
    }
}

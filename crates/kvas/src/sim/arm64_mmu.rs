//! An oracle for arm64: a software MMU that translates as the Arm ARM
//! (VMSAv8-64, stage 1 of the EL1&0 regime, 4 KiB granule) says, on raw bits.
//!
//! 1. Range: with `TBI = 0`, bits 63..(64 − T1SZ) all ones select `TTBR1_EL1`,
//!    bits 63..(64 − T0SZ) all zeros `TTBR0_EL1`; anything else is a
//!    Translation fault at level 0.
//! 2. The walk starts at level `4 − ⌈(64 − TxSZ − 12) / 9⌉` (1 for 39 bits, 0
//!    for 48, −1 for 52 with `TCR_EL1.DS = 1`) at the table `TTBR.BADDR`
//!    (bits 47..1, and BADDR\[51:48\] from bits 5..2 when DS = 1); each level
//!    reads one descriptor, indexed by nine VA bits (fewer at the start level).
//! 3. Descriptor bit 0 clear → Translation fault. At level 3, bits 1..0 must
//!    be `0b11` (a page); above it `0b11` is a table and `0b01` a block, which
//!    the 4 KiB granule allows at levels 1 and 2, and at level 0 only with
//!    DS = 1; any other block is a Translation fault.
//! 4. Without DS, output-address bits 51..48 must be zero (a 48-bit physical
//!    range), or the walk stops with an Address size fault. With DS, the
//!    address has 52 bits: 49..12 in place and 51..50 in bits 9..8.
//! 5. Tables pass restrictions down: APTable\[0\] (bit 61) denies EL0, APTable\[1\]
//!    (bit 62) denies writes, UXNTable (60) and PXNTable (59) deny execution.
//! 6. AF = 0 → Access flag fault (no hardware AF management).
//! 7. Permissions from AP\[2:1\], UXN, PXN: EL1 may read everything, write if
//!    AP\[2\] = 0, execute if PXN = 0 and the page is not writable at EL0; EL0
//!    needs AP\[1\] = 1 to read, also AP\[2\] = 0 to write, and UXN = 0 to
//!    execute. With `PSTATE.PAN = 1`, EL1 loads and stores to EL0-accessible
//!    pages fault. Otherwise a Permission fault.
//! 8. The output address is the block's or page's address joined with the
//!    low VA bits. Bits below the block size in a block's address field are
//!    RES0; this model ignores them, as hardware may.
//!
//! This file reads no code of [`crate::arch::aarch64`].

use core::fmt;

use crate::addr::{PhysAddr, VirtAddr};
use crate::sim::{Access, Ram};
use crate::Error;

/// The translation-control fields the walk depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tcr {
    /// `TCR_EL1.T0SZ`: the TTBR0 range is `2^(64 − t0sz)` bytes.
    pub t0sz: u8,
    /// `TCR_EL1.T1SZ`.
    pub t1sz: u8,
    /// `TCR_EL1.DS`: 52-bit addresses with `FEAT_LPA2`.
    pub ds: bool,
}

/// The exception level and the PAN state of an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arm64Context {
    /// An EL0 (user) access rather than EL1.
    pub el0: bool,
    /// `PSTATE.PAN`.
    pub pan: bool,
}

impl Arm64Context {
    /// EL1 with PAN clear.
    pub const EL1: Arm64Context = Arm64Context { el0: false, pan: false };
    /// EL0.
    pub const EL0: Arm64Context = Arm64Context { el0: true, pan: false };
}

/// The fault kinds of stage 1, with their fault status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arm64FaultKind {
    /// Address size fault.
    AddressSize,
    /// Translation fault.
    Translation,
    /// Access flag fault.
    AccessFlag,
    /// Permission fault.
    Permission,
}

/// A refused access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arm64Fault {
    /// The faulting address (`FAR_EL1`).
    pub va: VirtAddr,
    /// What kind of fault.
    pub kind: Arm64FaultKind,
    /// The Arm lookup level (−1..=3) where it happened.
    pub level: i8,
    /// The descriptor that stopped the walk, if one was read.
    pub descriptor: Option<u64>,
}

impl Arm64Fault {
    /// The `ESR_EL1` DFSC/IFSC fault status code.
    pub const fn status_code(&self) -> u8 {
        let base = match self.kind {
            Arm64FaultKind::AddressSize => 0x00,
            Arm64FaultKind::Translation => 0x04,
            Arm64FaultKind::AccessFlag => 0x08,
            Arm64FaultKind::Permission => 0x0c,
        };
        match (self.level, self.kind) {
            (-1, Arm64FaultKind::AddressSize) => 0x29,
            (-1, _) => 0x2b,
            (level, _) => base + level as u8,
        }
    }
}

impl fmt::Display for Arm64Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} fault, level {}, at {} (FSC {:#04x})",
            self.kind,
            self.level,
            self.va,
            self.status_code()
        )
    }
}

impl std::error::Error for Arm64Fault {}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arm64Translation {
    /// The output address.
    pub pa: PhysAddr,
    /// The Arm level of the block or page (3: 4 KiB, 2: 2 MiB, 1: 1 GiB, 0: 512 GiB).
    pub level: i8,
    /// Its raw descriptor.
    pub descriptor: u64,
}

/// A PE's stage-1 EL1&0 state: `TCR_EL1` and both TTBRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arm64Mmu {
    tcr: Tcr,
    ttbr0: u64,
    ttbr1: u64,
}

impl Arm64Mmu {
    /// The MMU for `tcr` and the two TTBR values. T0SZ and T1SZ must be
    /// 16..=39 (12..=39 with DS), as the 4 KiB granule allows.
    pub fn new(tcr: Tcr, ttbr0: u64, ttbr1: u64) -> Result<Self, Error> {
        let min = if tcr.ds { 12 } else { 16 };
        for sz in [tcr.t0sz, tcr.t1sz] {
            if !(min..=39).contains(&sz) {
                return Err(Error::InvalidGeometry { reason: "TxSZ out of range for the 4 KiB granule" });
            }
        }
        Ok(Arm64Mmu { tcr, ttbr0, ttbr1 })
    }

    /// The address held by a table or block descriptor (before size masking).
    fn output(&self, desc: u64) -> u64 {
        if self.tcr.ds {
            (desc & 0x0003_ffff_ffff_f000) | ((desc >> 8) & 0b11) << 50
        } else {
            desc & 0x0000_ffff_ffff_f000
        }
    }

    /// Translates `va` for `access` in `ctx`, reading the tables in `ram`.
    pub fn translate(
        &self,
        ram: &Ram,
        va: VirtAddr,
        access: Access,
        ctx: Arm64Context,
    ) -> Result<Arm64Translation, Arm64Fault> {
        let v = va.as_u64();
        let fault = |kind, level, descriptor| Err(Arm64Fault { va, kind, level, descriptor });
        // Step 1.
        let (txsz, ttbr) = if v >> (64 - self.tcr.t1sz) == u64::MAX >> (64 - self.tcr.t1sz) {
            (self.tcr.t1sz, self.ttbr1)
        } else if v >> (64 - self.tcr.t0sz) == 0 {
            (self.tcr.t0sz, self.ttbr0)
        } else {
            return fault(Arm64FaultKind::Translation, 0, None);
        };
        // Step 2.
        let va_bits = 64 - u32::from(txsz);
        let levels = (va_bits - 12).div_ceil(9) as i8;
        let mut level: i8 = 4 - levels;
        let mut table = if self.tcr.ds {
            (ttbr & 0x0000_ffff_ffff_ffc0) | ((ttbr >> 2) & 0xf) << 48
        } else {
            ttbr & 0x0000_ffff_ffff_fffe
        };
        let (mut ap_no_el0, mut ap_no_write, mut uxn_t, mut pxn_t) = (false, false, false, false);
        let (desc, block_bits) = loop {
            let shift = 12 + 9 * (3 - level) as u32;
            let width = (va_bits - shift).min(9);
            // The start table is aligned to its own size.
            if level == 4 - levels {
                table &= !((8u64 << width) - 1);
            }
            let index = (v >> shift) & ((1 << width) - 1);
            let desc = ram.read_pte(table + index * 8);
            // Step 3.
            if desc & 1 == 0 {
                return fault(Arm64FaultKind::Translation, level, Some(desc));
            }
            let typed = desc & 0b10 != 0;
            let block_ok = level == 1 || level == 2 || (level == 0 && self.tcr.ds);
            if (level == 3 && !typed) || (level < 3 && !typed && !block_ok) {
                return fault(Arm64FaultKind::Translation, level, Some(desc));
            }
            // Step 4.
            if !self.tcr.ds && desc & 0x000f_0000_0000_0000 != 0 {
                return fault(Arm64FaultKind::AddressSize, level, Some(desc));
            }
            if level == 3 || !typed {
                break (desc, shift);
            }
            // Step 5.
            ap_no_el0 |= desc & 1 << 61 != 0;
            ap_no_write |= desc & 1 << 62 != 0;
            uxn_t |= desc & 1 << 60 != 0;
            pxn_t |= desc & 1 << 59 != 0;
            table = self.output(desc);
            level += 1;
        };
        // Step 6.
        if desc & 1 << 10 == 0 {
            return fault(Arm64FaultKind::AccessFlag, level, Some(desc));
        }
        // Step 7.
        let el0_access = desc & 1 << 6 != 0 && !ap_no_el0;
        let read_only = desc & 1 << 7 != 0 || ap_no_write;
        let uxn = desc & 1 << 54 != 0 || uxn_t;
        let pxn = desc & 1 << 53 != 0 || pxn_t;
        let allowed = if ctx.el0 {
            el0_access
                && match access {
                    Access::Load => true,
                    Access::Store => !read_only,
                    Access::Fetch => !uxn,
                }
        } else {
            match access {
                // Writable at EL0 implies PXN.
                Access::Fetch => !pxn && (!el0_access || read_only),
                _ if ctx.pan && el0_access => false,
                Access::Load => true,
                Access::Store => !read_only,
            }
        };
        if !allowed {
            return fault(Arm64FaultKind::Permission, level, Some(desc));
        }
        // Step 8.
        let mask = (1u64 << block_bits) - 1;
        let pa = (self.output(desc) & !mask) | (v & mask);
        Ok(Arm64Translation { pa: PhysAddr::new_truncate(pa), level, descriptor: desc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: u64 = 0x8000_0000;
    const PAGE: u64 = 0b11;
    const BLOCK: u64 = 0b01;
    const AF: u64 = 1 << 10;
    const UXN: u64 = 1 << 54;
    const PXN: u64 = 1 << 53;

    fn tcr(va_bits: u8) -> Tcr {
        Tcr { t0sz: 64 - va_bits, t1sz: 64 - va_bits, ds: va_bits > 48 }
    }

    /// Writes a chain of table descriptors for `va` from Arm level `start` down
    /// to `leaf_level`, then `leaf`; `start_index_bits` is the root's width.
    fn build(ram: &Ram, va_bits: u32, va: u64, leaf_level: i8, table_bits: u64, leaf: u64) {
        let levels = (va_bits - 12).div_ceil(9) as i8;
        let mut table = ROOT;
        for level in (4 - levels)..leaf_level {
            let shift = 12 + 9 * (3 - level) as u32;
            let width = (va_bits - shift).min(9);
            let next = ROOT + 0x1000 * (level + 2) as u64;
            let slot = table + ((va >> shift) & ((1 << width) - 1)) * 8;
            ram.write_u64(PhysAddr::new(slot).unwrap(), next | PAGE | table_bits).unwrap();
            table = next;
        }
        let shift = 12 + 9 * (3 - leaf_level) as u32;
        let slot = table + ((va >> shift) & 0x1ff) * 8;
        ram.write_u64(PhysAddr::new(slot).unwrap(), leaf).unwrap();
    }

    fn kind(r: Result<Arm64Translation, Arm64Fault>) -> Option<(Arm64FaultKind, i8)> {
        r.err().map(|f| (f.kind, f.level))
    }

    #[test]
    fn a_48_bit_kernel_block_and_its_faults() {
        let ram = Ram::new();
        let va = 0xffff_0000_4000_0000u64;
        build(&ram, 48, va, 2, 0, 0x4020_0000 | AF | 0b11 << 8 | UXN | BLOCK);
        let mmu = Arm64Mmu::new(tcr(48), 0, ROOT).unwrap();
        let t = mmu.translate(&ram, VirtAddr::new(va + 0x1234), Access::Store, Arm64Context::EL1).unwrap();
        assert_eq!((t.pa.as_u64(), t.level), (0x4020_1234, 2));
        assert_eq!(
            kind(mmu.translate(&ram, VirtAddr::new(va), Access::Load, Arm64Context::EL0)),
            Some((Arm64FaultKind::Permission, 2))
        );
        let f =
            mmu.translate(&ram, VirtAddr::new(va + (2 << 20)), Access::Load, Arm64Context::EL1).unwrap_err();
        assert_eq!((f.kind, f.level, f.status_code()), (Arm64FaultKind::Translation, 2, 0x06));
        // Between the ranges: a level-0 Translation fault.
        assert_eq!(
            kind(mmu.translate(&ram, VirtAddr::new(0xfffe_0000_0000_0000), Access::Load, Arm64Context::EL1)),
            Some((Arm64FaultKind::Translation, 0))
        );
        // Output bits above 48 without DS: an Address size fault.
        build(&ram, 48, va, 2, 0, 1 << 48 | AF | BLOCK);
        assert_eq!(
            kind(mmu.translate(&ram, VirtAddr::new(va), Access::Load, Arm64Context::EL1)),
            Some((Arm64FaultKind::AddressSize, 2))
        );
        // AF clear: an Access flag fault, before permissions.
        build(&ram, 48, va, 2, 0, 0x4020_0000 | BLOCK);
        assert_eq!(
            kind(mmu.translate(&ram, VirtAddr::new(va), Access::Load, Arm64Context::EL0)),
            Some((Arm64FaultKind::AccessFlag, 2))
        );
        // A block at level 3 is a Translation fault.
        build(&ram, 48, va, 3, 0, 0x4020_0000 | AF | BLOCK);
        assert_eq!(
            kind(mmu.translate(&ram, VirtAddr::new(va), Access::Load, Arm64Context::EL1)),
            Some((Arm64FaultKind::Translation, 3))
        );
    }

    #[test]
    fn permissions_and_table_restrictions() {
        let ram = Ram::new();
        let va = 0x40_0000u64;
        // EL0 read-write page, executable at EL0.
        build(&ram, 39, va, 3, 0, 0x9000_0000 | AF | 1 << 6 | PXN | PAGE);
        let mmu = Arm64Mmu::new(tcr(39), ROOT, 0).unwrap();
        let at = VirtAddr::new(va);
        assert_eq!(kind(mmu.translate(&ram, at, Access::Store, Arm64Context::EL0)), None);
        assert_eq!(kind(mmu.translate(&ram, at, Access::Fetch, Arm64Context::EL0)), None);
        assert_eq!(
            kind(mmu.translate(&ram, at, Access::Fetch, Arm64Context::EL1)),
            Some((Arm64FaultKind::Permission, 3))
        );
        assert_eq!(kind(mmu.translate(&ram, at, Access::Load, Arm64Context::EL1)), None);
        let pan = Arm64Context { el0: false, pan: true };
        assert_eq!(kind(mmu.translate(&ram, at, Access::Load, pan)), Some((Arm64FaultKind::Permission, 3)));
        // Writable at EL0 means never executable at EL1, even with PXN clear.
        build(&ram, 39, va, 3, 0, 0x9000_0000 | AF | 1 << 6 | UXN | PAGE);
        assert_eq!(
            kind(mmu.translate(&ram, at, Access::Fetch, Arm64Context::EL1)),
            Some((Arm64FaultKind::Permission, 3))
        );
        // APTable[1] in a table makes everything below read-only.
        build(&ram, 39, va, 3, 1 << 62, 0x9000_0000 | AF | 1 << 6 | PXN | PAGE);
        assert_eq!(
            kind(mmu.translate(&ram, at, Access::Store, Arm64Context::EL0)),
            Some((Arm64FaultKind::Permission, 3))
        );
        assert_eq!(kind(mmu.translate(&ram, at, Access::Load, Arm64Context::EL0)), None);
    }

    #[test]
    fn lpa2_52_bit_walk_from_level_minus_one() {
        let ram = Ram::new();
        let va = 0xfff8_0000_0000_0000u64;
        // A 512 GiB block at level 0, output address 0xa_0080_0000_0000 (bits 51..50 in 9..8).
        let oa = 0xa_0080_0000_0000u64;
        build(&ram, 52, va, 0, 0, (oa & 0x0003_ffff_ffff_f000) | (oa >> 50) << 8 | AF | UXN | BLOCK);
        let mmu = Arm64Mmu::new(tcr(52), 0, ROOT).unwrap();
        let t =
            mmu.translate(&ram, VirtAddr::new(va + 0x12_3456_789a), Access::Load, Arm64Context::EL1).unwrap();
        assert_eq!((t.pa.as_u64(), t.level), (oa + 0x12_3456_789a, 0));
        // The level -1 table has 16 entries: VA bits 51..48.
        assert_eq!(ram.read_u64(PhysAddr::new(ROOT + 8 * 8).unwrap()).unwrap() & 0b11, 0b11);
        let f = mmu
            .translate(&ram, VirtAddr::new(0xfff0_0000_0000_0000), Access::Load, Arm64Context::EL1)
            .unwrap_err();
        assert_eq!((f.kind, f.level, f.status_code()), (Arm64FaultKind::Translation, -1, 0x2b));
        // Without DS no block at level 0, and no 52-bit range.
        assert!(Arm64Mmu::new(Tcr { ds: false, ..tcr(52) }, 0, ROOT).is_err());
        let mmu48 = Arm64Mmu::new(tcr(48), 0, ROOT).unwrap();
        build(&ram, 48, 0xffff_0000_0000_0000, 0, 0, 0x80_0000_0000 | AF | BLOCK);
        assert_eq!(
            kind(mmu48.translate(
                &ram,
                VirtAddr::new(0xffff_0000_0000_0000),
                Access::Load,
                Arm64Context::EL1
            )),
            Some((Arm64FaultKind::Translation, 0))
        );
    }
}

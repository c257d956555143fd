//! An oracle for x86-64: a software MMU that translates as the Intel SDM
//! (volume 3, sections 4.5 "4-level paging and 5-level paging" and 4.6
//! "access rights") says, on raw bits.
//!
//! 1. The linear address must be canonical (bits 63..47, or 63..56 with
//!    `CR4.LA57`, all equal), or the access raises `#GP`, not a page fault.
//! 2. The walk starts at `CR3[51:12]` and reads one 8-byte entry per level,
//!    indexed by nine address bits: PML5E (LA57 only), PML4E, PDPTE, PDE, PTE.
//! 3. `P = 0` → `#PF` (not present). A reserved bit set → `#PF` with RSVD:
//!    address bits at or above `MAXPHYADDR`; XD when `EFER.NXE = 0`; PS in a
//!    PML5E or PML4E; bits 29..13 of a 1 GiB page, 20..13 of a 2 MiB page.
//! 4. A PDPTE or PDE with `PS = 1`, and every PTE, maps a page; other entries
//!    point to the next table.
//! 5. Access rights combine over the whole walk: writes need RW in every
//!    entry, user accesses US in every entry, and XD in any entry forbids
//!    fetches. Supervisor writes ignore RW when `CR0.WP = 0`; supervisor
//!    fetches from a user page fault under `CR4.SMEP`; supervisor data
//!    accesses to a user page fault under `CR4.SMAP` unless `EFLAGS.AC = 1`.
//! 6. The physical address is the page's address (bits 51..12, 51..21 or
//!    51..30) joined with the low bits of the linear address.
//!
//! The CPU sets A and D itself, so neither faults; this model does not write
//! them (the engine presets them). Bits 52..62 are ignored (`CR4.PKE = 0`),
//! and so are PWT, PCD and PAT, which choose the memory type only. This file
//! reads no code of [`crate::arch::x86_64`].

use core::fmt;

use crate::addr::{PhysAddr, VirtAddr};
use crate::sim::{Access, Ram};

const P: u64 = 1;
const RW: u64 = 1 << 1;
const US: u64 = 1 << 2;
const PS: u64 = 1 << 7;
const XD: u64 = 1 << 63;

/// The processor state that changes translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct X86Context {
    /// CPL 3: a user-mode access.
    pub user: bool,
    /// `CR0.WP`: supervisor writes honour RW.
    pub wp: bool,
    /// `CR4.SMEP`: supervisor fetches from user pages fault.
    pub smep: bool,
    /// `CR4.SMAP`: supervisor data accesses to user pages fault (unless `ac`).
    pub smap: bool,
    /// `EFLAGS.AC`: lifts SMAP for explicit supervisor data accesses.
    pub ac: bool,
}

impl X86Context {
    /// A kernel as Linux runs one: CPL 0, WP, SMEP and SMAP on, AC clear.
    pub const SUPERVISOR: X86Context =
        X86Context { user: false, wp: true, smep: true, smap: true, ac: false };
    /// CPL 3.
    pub const USER: X86Context = X86Context { user: true, ..Self::SUPERVISOR };
}

/// Why an access faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum X86FaultCause {
    /// The linear address is not canonical: `#GP(0)`.
    NonCanonical,
    /// An entry with P = 0.
    NotPresent,
    /// An entry with a reserved bit set.
    ReservedBit,
    /// A write where some entry has RW = 0.
    ReadOnly,
    /// A user access where some entry has US = 0.
    SupervisorPage,
    /// A fetch where some entry has XD = 1.
    ExecuteDisabled,
    /// A supervisor fetch from a user page under SMEP.
    Smep,
    /// A supervisor data access to a user page under SMAP with AC = 0.
    Smap,
}

/// A refused access: `#GP` or `#PF`, with the page-fault error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct X86Fault {
    /// The faulting linear address (`CR2` for a page fault).
    pub va: VirtAddr,
    /// The failed check.
    pub cause: X86FaultCause,
    /// What was accessed.
    pub access: Access,
    /// Whether the access was from user mode.
    pub user: bool,
    /// The level (kvas numbering, 0 = PTE) of the entry that stopped the walk.
    pub level: Option<u8>,
}

impl X86Fault {
    /// The exception vector: 13 (`#GP`) or 14 (`#PF`).
    pub const fn vector(&self) -> u8 {
        match self.cause {
            X86FaultCause::NonCanonical => 13,
            _ => 14,
        }
    }

    /// The `#PF` error code: P, W/R, U/S, RSVD and I/D (bits 0..4).
    pub const fn error_code(&self) -> u32 {
        let present = !matches!(self.cause, X86FaultCause::NotPresent) as u32;
        let write = matches!(self.access, Access::Store) as u32;
        let rsvd = matches!(self.cause, X86FaultCause::ReservedBit) as u32;
        let fetch = matches!(self.access, Access::Fetch) as u32;
        present | write << 1 | (self.user as u32) << 2 | rsvd << 3 | fetch << 4
    }
}

impl fmt::Display for X86Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} at {}: {:?}", if self.vector() == 13 { "GP" } else { "PF" }, self.va, self.cause)?;
        if self.vector() == 14 {
            write!(f, " (error code {:#x})", self.error_code())?;
        }
        Ok(())
    }
}

impl std::error::Error for X86Fault {}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct X86Translation {
    /// The physical address.
    pub pa: PhysAddr,
    /// The level of the entry that mapped the page (0: 4 KiB, 1: 2 MiB, 2: 1 GiB).
    pub level: u8,
    /// That entry's raw bits.
    pub entry: u64,
}

/// A logical processor's paging state: `CR3`, `CR4.LA57`, `EFER.NXE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct X86Mmu {
    cr3: u64,
    la57: bool,
    nxe: bool,
    maxphyaddr: u32,
}

impl X86Mmu {
    /// The MMU with `CR3 = cr3`, 5-level paging if `la57`, `EFER.NXE = 1`,
    /// `MAXPHYADDR = 52`.
    pub const fn new(cr3: u64, la57: bool) -> Self {
        X86Mmu { cr3, la57, nxe: true, maxphyaddr: 52 }
    }

    /// The same MMU with `EFER.NXE = nxe`.
    pub const fn with_nxe(self, nxe: bool) -> Self {
        X86Mmu { nxe, ..self }
    }

    /// The same MMU with a narrower `MAXPHYADDR` (36..=52).
    pub const fn with_maxphyaddr(self, bits: u32) -> Self {
        X86Mmu { maxphyaddr: bits, ..self }
    }

    /// Translates `va` for `access` in `ctx`, reading the tables in `ram`.
    pub fn translate(
        &self,
        ram: &Ram,
        va: VirtAddr,
        access: Access,
        ctx: X86Context,
    ) -> Result<X86Translation, X86Fault> {
        let fault = |cause, level| Err(X86Fault { va, cause, access, user: ctx.user, level });
        let lin = va.as_u64();
        let levels: u8 = if self.la57 { 5 } else { 4 };
        let width = 12 + 9 * u32::from(levels);
        let unused = 64 - width;
        if (((lin << unused) as i64) >> unused) as u64 != lin {
            return fault(X86FaultCause::NonCanonical, None);
        }
        let addr_mask = ((1u64 << self.maxphyaddr) - 1) & !0xfff;
        let above_maxphy = ((1u64 << 52) - 1) & !((1u64 << self.maxphyaddr) - 1);

        let mut table = self.cr3 & addr_mask;
        let (mut rw, mut us, mut xd) = (true, true, false);
        let mut level = levels - 1;
        let (entry, page_bits) = loop {
            let index = (lin >> (12 + 9 * u32::from(level))) & 0x1ff;
            let entry = ram.read_pte(table + index * 8);
            if entry & P == 0 {
                return fault(X86FaultCause::NotPresent, Some(level));
            }
            let large = level > 0 && entry & PS != 0;
            let mut reserved = above_maxphy;
            if !self.nxe {
                reserved |= XD;
            }
            if level >= 3 {
                reserved |= PS;
            } else if large {
                // Bits 13.. up to the page size (bit 12 is PAT).
                reserved |= ((1u64 << (12 + 9 * u32::from(level))) - 1) & !0x1fff;
            }
            if entry & reserved != 0 {
                return fault(X86FaultCause::ReservedBit, Some(level));
            }
            rw &= entry & RW != 0;
            us &= entry & US != 0;
            xd |= self.nxe && entry & XD != 0;
            if level == 0 || large {
                break (entry, 12 + 9 * u32::from(level));
            }
            table = entry & addr_mask;
            level -= 1;
        };

        let denied = if ctx.user {
            match access {
                _ if !us => Some(X86FaultCause::SupervisorPage),
                Access::Store if !rw => Some(X86FaultCause::ReadOnly),
                Access::Fetch if xd => Some(X86FaultCause::ExecuteDisabled),
                _ => None,
            }
        } else {
            match access {
                Access::Fetch if us && ctx.smep => Some(X86FaultCause::Smep),
                Access::Fetch if xd => Some(X86FaultCause::ExecuteDisabled),
                Access::Load | Access::Store if us && ctx.smap && !ctx.ac => Some(X86FaultCause::Smap),
                Access::Store if !rw && ctx.wp => Some(X86FaultCause::ReadOnly),
                _ => None,
            }
        };
        if let Some(cause) = denied {
            return fault(cause, Some(level));
        }
        let page = entry & addr_mask & !((1u64 << page_bits) - 1);
        let pa = page | (lin & ((1u64 << page_bits) - 1));
        Ok(X86Translation { pa: PhysAddr::new_truncate(pa), level, entry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: u64 = 0x10_0000;

    /// Writes a 4-level chain for `va` down to `leaf_level` with `flags` on
    /// every pointer, and `leaf` as the leaf entry.
    fn build(ram: &Ram, levels: u8, va: u64, leaf_level: u8, pointer_flags: u64, leaf: u64) {
        let mut table = ROOT;
        for level in (leaf_level + 1..levels).rev() {
            let next = ROOT + 0x1000 * u64::from(level + 1);
            let slot = table + ((va >> (12 + 9 * u32::from(level))) & 0x1ff) * 8;
            ram.write_u64(PhysAddr::new(slot).unwrap(), next | pointer_flags).unwrap();
            table = next;
        }
        let slot = table + ((va >> (12 + 9 * u32::from(leaf_level))) & 0x1ff) * 8;
        ram.write_u64(PhysAddr::new(slot).unwrap(), leaf).unwrap();
    }

    fn cause(r: Result<X86Translation, X86Fault>) -> Option<X86FaultCause> {
        r.err().map(|f| f.cause)
    }

    #[test]
    fn a_2m_kernel_page_translates_and_refuses_as_the_sdm_says() {
        let ram = Ram::new();
        let va = 0xffff_8880_0020_0000u64;
        build(&ram, 4, va, 1, P | RW | US, 0x4020_0000 | PS | RW | P | XD);
        let mmu = X86Mmu::new(ROOT, false);
        let k = X86Context::SUPERVISOR;
        let t = mmu.translate(&ram, VirtAddr::new(va + 0x1234), Access::Store, k).unwrap();
        assert_eq!((t.pa.as_u64(), t.level), (0x4020_1234, 1));
        let f = mmu.translate(&ram, VirtAddr::new(va), Access::Fetch, k).unwrap_err();
        assert_eq!((f.cause, f.error_code(), f.vector()), (X86FaultCause::ExecuteDisabled, 0b10001, 14));
        let f = mmu.translate(&ram, VirtAddr::new(va), Access::Load, X86Context::USER).unwrap_err();
        assert_eq!((f.cause, f.error_code()), (X86FaultCause::SupervisorPage, 0b101));
        let f = mmu.translate(&ram, VirtAddr::new(va + (2 << 20)), Access::Load, k).unwrap_err();
        assert_eq!((f.cause, f.error_code(), f.level), (X86FaultCause::NotPresent, 0, Some(1)));
        let f = mmu.translate(&ram, VirtAddr::new(0x0000_8000_0000_0000), Access::Load, k).unwrap_err();
        assert_eq!((f.cause, f.vector()), (X86FaultCause::NonCanonical, 13));
        // Without NXE, XD is a reserved bit.
        let f = mmu.with_nxe(false).translate(&ram, VirtAddr::new(va), Access::Load, k).unwrap_err();
        assert_eq!((f.cause, f.error_code() & 0b1000), (X86FaultCause::ReservedBit, 0b1000));
    }

    #[test]
    fn rights_combine_over_the_walk() {
        let ram = Ram::new();
        let va = 0x40_0000u64;
        // RW and US in the leaf, but the PDE pointer lacks RW.
        let mut table = ROOT;
        for (level, flags) in [(3u8, P | RW | US), (2, P | RW | US), (1, P | US)] {
            let next = ROOT + 0x1000 * u64::from(level + 1);
            let slot = table + ((va >> (12 + 9 * u32::from(level))) & 0x1ff) * 8;
            ram.write_u64(PhysAddr::new(slot).unwrap(), next | flags).unwrap();
            table = next;
        }
        ram.write_u64(PhysAddr::new(table + ((va >> 12) & 0x1ff) * 8).unwrap(), 0x9000_0000 | P | RW | US)
            .unwrap();
        let mmu = X86Mmu::new(ROOT, false);
        let at = VirtAddr::new(va);
        assert_eq!(
            cause(mmu.translate(&ram, at, Access::Store, X86Context::USER)),
            Some(X86FaultCause::ReadOnly)
        );
        assert_eq!(cause(mmu.translate(&ram, at, Access::Fetch, X86Context::USER)), None);
        let k = X86Context::SUPERVISOR;
        assert_eq!(cause(mmu.translate(&ram, at, Access::Fetch, k)), Some(X86FaultCause::Smep));
        assert_eq!(cause(mmu.translate(&ram, at, Access::Load, k)), Some(X86FaultCause::Smap));
        let ac = X86Context { ac: true, ..k };
        assert_eq!(cause(mmu.translate(&ram, at, Access::Load, ac)), None);
        assert_eq!(cause(mmu.translate(&ram, at, Access::Store, ac)), Some(X86FaultCause::ReadOnly));
        let no_wp = X86Context { wp: false, ..ac };
        assert_eq!(cause(mmu.translate(&ram, at, Access::Store, no_wp)), None);
    }

    #[test]
    fn reserved_bits_by_level_and_five_levels() {
        let ram = Ram::new();
        let va = 0xff11_0000_0000_0000u64;
        // 5-level: a 1 GiB page whose bit 13 is set is reserved.
        build(&ram, 5, va, 2, P | RW | US, 0x4000_0000 | 1 << 13 | PS | P);
        let mmu = X86Mmu::new(ROOT, true);
        let k = X86Context::SUPERVISOR;
        let f = mmu.translate(&ram, VirtAddr::new(va), Access::Load, k).unwrap_err();
        assert_eq!((f.cause, f.level), (X86FaultCause::ReservedBit, Some(2)));
        // PAT (bit 12) is not reserved.
        build(&ram, 5, va, 2, P | RW | US, 0x4000_0000 | 1 << 12 | PS | P);
        assert_eq!(
            mmu.translate(&ram, VirtAddr::new(va + 5), Access::Load, k).unwrap().pa.as_u64(),
            0x4000_0005
        );
        // PS in a PML4E is reserved.
        build(&ram, 5, va, 3, P | RW | US, 0x80_0000_0000 | PS | P);
        assert_eq!(
            cause(mmu.translate(&ram, VirtAddr::new(va), Access::Load, k)),
            Some(X86FaultCause::ReservedBit)
        );
        // 57-bit canonical form; the same address is not canonical for 4 levels.
        assert_eq!(
            cause(X86Mmu::new(ROOT, false).translate(&ram, VirtAddr::new(va), Access::Load, k)),
            Some(X86FaultCause::NonCanonical)
        );
        // Address bits above MAXPHYADDR are reserved.
        build(&ram, 5, va, 0, P | RW | US, 1 << 40 | P);
        assert_eq!(cause(mmu.translate(&ram, VirtAddr::new(va), Access::Load, k)), None);
        assert_eq!(
            cause(mmu.with_maxphyaddr(40).translate(&ram, VirtAddr::new(va), Access::Load, k)),
            Some(X86FaultCause::ReservedBit)
        );
    }
}

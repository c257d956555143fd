//! The oracle: a software MMU that translates as the RISC-V privileged spec says.
//!
//! [`Mmu::translate`] follows the spec's "Virtual Address Translation Process"
//! (section "Sv32", generalised to Sv39/Sv48/Sv57) step by step, on raw bits:
//!
//! 0. The address must be canonical: bits 63..VA_BITS-1 all equal bit
//!    VA_BITS-1, or a page fault.
//! 1. `a = satp.PPN × 4096`, `i = LEVELS - 1`.
//! 2. `pte` = the eight bytes at `a + va.VPN[i] × 8`.
//! 3. `V = 0`, or `R = 0 and W = 1`, or a reserved bit set → page fault. Bits
//!    54–63 are reserved (kvas enables neither Svnapot nor Svpbmt), and in a
//!    pointer to the next level so are D, A and U.
//! 4. `R = 0 and X = 0`: a pointer. `i = i - 1`; below level 0 → page fault;
//!    otherwise `a = pte.PPN × 4096`, back to step 2.
//! 5. A leaf: the access must be allowed by R/W/X/U, the privilege, `SUM` and
//!    `MXR`, or a page fault.
//! 6. `i > 0` and `pte.PPN[i-1:0] ≠ 0`: a misaligned superpage → page fault.
//! 7. `A = 0`, or a store and `D = 0` → page fault (Svade: hardware never sets
//!    A or D itself).
//! 8. `pa = pte.PPN[LEVELS-1:i] : va.VPN[i-1:0] : va.offset`.
//!
//! This file decodes every bit itself and calls none of the engine's code
//! (`TableFormat`, `PteFlags`, `Geometry`): it is what the engine is checked
//! against. A physical address never exceeds 56 bits here (PPNs are 44 bits),
//! and [`Ram`] covers all of them, so no walk raises an access fault; only Bare
//! mode does, for an address wider than 56 bits.

use core::fmt;

use crate::addr::{PhysAddr, VirtAddr};
use crate::sim::Ram;
use crate::Error;

const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_U: u64 = 1 << 4;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;
/// Bits 54–63: N (Svnapot), PBMT (Svpbmt) and bits reserved for future use.
const PTE_RESERVED: u64 = !0 << 54;
/// Bits reserved in a pointer to the next level, on top of [`PTE_RESERVED`].
const PTE_RESERVED_NON_LEAF: u64 = PTE_D | PTE_A | PTE_U;
/// PTE.PPN: bits 10..54.
const fn pte_ppn(pte: u64) -> u64 {
    (pte >> 10) & ((1 << 44) - 1)
}

const PAGE_SHIFT: u32 = 12;
const VPN_BITS: u32 = 9;

/// What the access is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// An instruction fetch: needs X.
    Fetch,
    /// A load: needs R, or X when `MXR` is set.
    Load,
    /// A store or an AMO: needs W (and D = 1).
    Store,
}

impl Access {
    /// Every access type.
    pub const ALL: [Access; 3] = [Access::Fetch, Access::Load, Access::Store];

    /// The page fault this access raises.
    pub const fn page_fault(self) -> FaultKind {
        match self {
            Access::Fetch => FaultKind::InstructionPageFault,
            Access::Load => FaultKind::LoadPageFault,
            Access::Store => FaultKind::StorePageFault,
        }
    }

    /// The access fault this access raises.
    pub const fn access_fault(self) -> FaultKind {
        match self {
            Access::Fetch => FaultKind::InstructionAccessFault,
            Access::Load => FaultKind::LoadAccessFault,
            Access::Store => FaultKind::StoreAccessFault,
        }
    }
}

/// The privilege mode the access is made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Privilege {
    /// Supervisor mode: the kernel.
    Supervisor,
    /// User mode.
    User,
}

/// The privilege and the `sstatus` bits that change what a leaf allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Context {
    /// The mode the access is made in.
    pub privilege: Privilege,
    /// `sstatus.SUM`: supervisor loads and stores may reach U pages (never
    /// fetches). Ignored in user mode.
    pub sum: bool,
    /// `sstatus.MXR`: loads may read pages that are executable but not readable.
    pub mxr: bool,
}

impl Context {
    /// Supervisor mode, `SUM = 0`, `MXR = 0`.
    pub const SUPERVISOR: Context = Context { privilege: Privilege::Supervisor, sum: false, mxr: false };
    /// User mode, `MXR = 0`.
    pub const USER: Context = Context { privilege: Privilege::User, sum: false, mxr: false };

    /// The same context with `SUM` set to `sum`.
    pub const fn with_sum(self, sum: bool) -> Self {
        Context { sum, ..self }
    }

    /// The same context with `MXR` set to `mxr`.
    pub const fn with_mxr(self, mxr: bool) -> Self {
        Context { mxr, ..self }
    }
}

/// The exception an access raises, with its `scause` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Instruction access fault (`scause` 1).
    InstructionAccessFault,
    /// Load access fault (`scause` 5).
    LoadAccessFault,
    /// Store/AMO access fault (`scause` 7).
    StoreAccessFault,
    /// Instruction page fault (`scause` 12).
    InstructionPageFault,
    /// Load page fault (`scause` 13).
    LoadPageFault,
    /// Store/AMO page fault (`scause` 15).
    StorePageFault,
}

impl FaultKind {
    /// The exception code the hart writes to `scause`.
    pub const fn scause(self) -> u64 {
        match self {
            FaultKind::InstructionAccessFault => 1,
            FaultKind::LoadAccessFault => 5,
            FaultKind::StoreAccessFault => 7,
            FaultKind::InstructionPageFault => 12,
            FaultKind::LoadPageFault => 13,
            FaultKind::StorePageFault => 15,
        }
    }

    /// The spec's name of the exception.
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::InstructionAccessFault => "instruction access fault",
            FaultKind::LoadAccessFault => "load access fault",
            FaultKind::StoreAccessFault => "store/AMO access fault",
            FaultKind::InstructionPageFault => "instruction page fault",
            FaultKind::LoadPageFault => "load page fault",
            FaultKind::StorePageFault => "store/AMO page fault",
        }
    }
}

/// Which check of the translation process stopped the access. The hardware
/// reports only the [`FaultKind`]; the cause is for the developer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultCause {
    /// Bare mode: the address has bits set above the 56-bit physical space.
    PhysAddrTooWide,
    /// Bits 63..VA_BITS-1 are not all equal to bit VA_BITS-1.
    NonCanonical,
    /// Step 3: `V = 0`.
    Invalid,
    /// Step 3: `R = 0` and `W = 1`, a reserved encoding.
    WritableNotReadable,
    /// Step 3: a reserved bit is set (54–63; or D, A, U in a pointer).
    ReservedBits,
    /// Step 4: a pointer to a next level at level 0.
    NoLeaf,
    /// Step 5: a fetch from a page without X.
    NotExecutable,
    /// Step 5: a load from a page without R (and without X under `MXR`).
    NotReadable,
    /// Step 5: a store to a page without W.
    NotWritable,
    /// Step 5: a supervisor load or store to a U page with `SUM = 0`.
    UserPageWithoutSum,
    /// Step 5: a supervisor fetch from a U page (never allowed).
    UserPageFetch,
    /// Step 5: a user-mode access to a page without U.
    SupervisorPage,
    /// Step 6: a superpage leaf whose PPN is not aligned to its size.
    MisalignedSuperpage,
    /// Step 7: `A = 0`.
    NotAccessed,
    /// Step 7: a store to a page with `D = 0`.
    NotDirty,
}

impl FaultCause {
    /// A short description of the failed check.
    pub const fn describe(self) -> &'static str {
        match self {
            FaultCause::PhysAddrTooWide => "address wider than the 56-bit physical space",
            FaultCause::NonCanonical => "non-canonical address",
            FaultCause::Invalid => "entry not valid (V=0)",
            FaultCause::WritableNotReadable => "reserved encoding W=1 R=0",
            FaultCause::ReservedBits => "reserved bits set",
            FaultCause::NoLeaf => "pointer entry at level 0",
            FaultCause::NotExecutable => "page not executable",
            FaultCause::NotReadable => "page not readable",
            FaultCause::NotWritable => "page not writable",
            FaultCause::UserPageWithoutSum => "user page from supervisor mode without SUM",
            FaultCause::UserPageFetch => "fetch from a user page in supervisor mode",
            FaultCause::SupervisorPage => "supervisor page from user mode",
            FaultCause::MisalignedSuperpage => "misaligned superpage",
            FaultCause::NotAccessed => "accessed bit clear (A=0)",
            FaultCause::NotDirty => "store to a page with D=0",
        }
    }
}

/// An access the MMU refused: the exception a hart would raise, and where the
/// walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The exception (`scause` through [`FaultKind::scause`]).
    pub kind: FaultKind,
    /// The faulting address (what the hart writes to `stval`).
    pub va: VirtAddr,
    /// The check that failed.
    pub cause: FaultCause,
    /// The level of the entry that stopped the walk; `None` if it stopped
    /// before reading any entry.
    pub level: Option<u8>,
    /// The raw entry that stopped the walk, if any.
    pub pte: Option<u64>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (scause {}) at {}: {}",
            self.kind.name(),
            self.kind.scause(),
            self.va,
            self.cause.describe()
        )?;
        if let (Some(level), Some(pte)) = (self.level, self.pte) {
            write!(f, " (entry {pte:#018x} at level {level})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Fault {}

/// The leaf a translation went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Leaf {
    /// Its level: 0 for a 4 KiB page, 1 for a 2 MiB megapage, ...
    pub level: u8,
    /// Its raw bits.
    pub pte: u64,
    /// The physical address of the entry itself.
    pub pte_addr: PhysAddr,
}

impl Leaf {
    /// The size of the page it maps, in bytes: `4096 << (9 × level)`.
    pub const fn size(&self) -> u64 {
        1 << (PAGE_SHIFT + VPN_BITS * self.level as u32)
    }
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Translation {
    /// The physical address.
    pub pa: PhysAddr,
    /// The leaf that mapped it; `None` in Bare mode.
    pub leaf: Option<Leaf>,
}

/// A hart's translation state as set by one `satp` value: the mode and the root.
///
/// The ASID field is kept but does not change translation (the oracle has no TLB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mmu {
    satp: u64,
    /// 0 for Bare, else 3, 4 or 5.
    levels: u8,
}

impl Mmu {
    /// The MMU a hart has with `satp = raw`. A MODE other than Bare (0), Sv39
    /// (8), Sv48 (9) or Sv57 (10) is an error: a hart would refuse to write it.
    pub const fn from_satp(raw: u64) -> Result<Self, Error> {
        let levels = match raw >> 60 {
            0 => 0,
            8 => 3,
            9 => 4,
            10 => 5,
            _ => return Err(Error::UnsupportedSatpMode { satp: raw }),
        };
        Ok(Mmu { satp: raw, levels })
    }

    /// Bare mode: no translation, no protection.
    pub const fn bare() -> Self {
        Mmu { satp: 0, levels: 0 }
    }

    /// The raw `satp` value.
    pub const fn satp(&self) -> u64 {
        self.satp
    }

    /// How many levels a walk has (3 for Sv39, 4 for Sv48, 5 for Sv57); `None`
    /// in Bare mode.
    pub const fn levels(&self) -> Option<u8> {
        match self.levels {
            0 => None,
            levels => Some(levels),
        }
    }

    /// The width of a virtual address (39, 48 or 57); `None` in Bare mode.
    pub const fn va_bits(&self) -> Option<u32> {
        match self.levels {
            0 => None,
            levels => Some(PAGE_SHIFT + VPN_BITS * levels as u32),
        }
    }

    /// The root table's physical address (`satp.PPN × 4096`).
    pub const fn root(&self) -> PhysAddr {
        PhysAddr::new_truncate((self.satp & ((1 << 44) - 1)) << PAGE_SHIFT)
    }

    /// The ASID field (16 bits).
    pub const fn asid(&self) -> u16 {
        ((self.satp >> 44) & 0xffff) as u16
    }

    /// Translates `va` for `access` in `ctx`, reading the tables in `ram`, as a
    /// hart implementing Svade (no hardware A/D updates) would. See the module
    /// documentation for the steps and [`FaultCause`] for what each refuses.
    pub fn translate(
        &self,
        ram: &Ram,
        va: VirtAddr,
        access: Access,
        ctx: Context,
    ) -> Result<Translation, Fault> {
        let raw = va.as_u64();
        let fault = |cause, level, pte| Err(Fault { kind: access.page_fault(), va, cause, level, pte });
        if self.levels == 0 {
            return match PhysAddr::new(raw) {
                Ok(pa) => Ok(Translation { pa, leaf: None }),
                Err(_) => Err(Fault {
                    kind: access.access_fault(),
                    va,
                    cause: FaultCause::PhysAddrTooWide,
                    level: None,
                    pte: None,
                }),
            };
        }

        // Step 0: canonical form.
        let unused = 64 - (PAGE_SHIFT + VPN_BITS * self.levels as u32);
        if (((raw << unused) as i64) >> unused) as u64 != raw {
            return fault(FaultCause::NonCanonical, None, None);
        }

        // Step 1.
        let mut table = self.root().as_u64();
        let mut level = self.levels - 1;
        let (pte, pte_addr) = loop {
            // Step 2.
            let vpn = (raw >> (PAGE_SHIFT + VPN_BITS * level as u32)) & ((1 << VPN_BITS) - 1);
            let pte_addr = table + vpn * 8;
            let pte = ram.read_pte(pte_addr);
            // Step 3.
            if pte & PTE_V == 0 {
                return fault(FaultCause::Invalid, Some(level), Some(pte));
            }
            if pte & PTE_R == 0 && pte & PTE_W != 0 {
                return fault(FaultCause::WritableNotReadable, Some(level), Some(pte));
            }
            if pte & PTE_RESERVED != 0 {
                return fault(FaultCause::ReservedBits, Some(level), Some(pte));
            }
            // Step 4.
            if pte & (PTE_R | PTE_X) != 0 {
                break (pte, pte_addr);
            }
            if pte & PTE_RESERVED_NON_LEAF != 0 {
                return fault(FaultCause::ReservedBits, Some(level), Some(pte));
            }
            if level == 0 {
                return fault(FaultCause::NoLeaf, Some(level), Some(pte));
            }
            level -= 1;
            table = pte_ppn(pte) << PAGE_SHIFT;
        };

        // Step 5: the privilege first, then the access type.
        let user_page = pte & PTE_U != 0;
        let denied = match (ctx.privilege, user_page) {
            (Privilege::User, false) => Some(FaultCause::SupervisorPage),
            (Privilege::Supervisor, true) if access == Access::Fetch => Some(FaultCause::UserPageFetch),
            (Privilege::Supervisor, true) if !ctx.sum => Some(FaultCause::UserPageWithoutSum),
            _ => match access {
                Access::Fetch if pte & PTE_X == 0 => Some(FaultCause::NotExecutable),
                Access::Load if pte & PTE_R == 0 && !(ctx.mxr && pte & PTE_X != 0) => {
                    Some(FaultCause::NotReadable)
                }
                Access::Store if pte & PTE_W == 0 => Some(FaultCause::NotWritable),
                _ => None,
            },
        };
        if let Some(cause) = denied {
            return fault(cause, Some(level), Some(pte));
        }

        // Step 6.
        let ppn = pte_ppn(pte);
        let low_ppn_bits = VPN_BITS * level as u32;
        if ppn & ((1 << low_ppn_bits) - 1) != 0 {
            return fault(FaultCause::MisalignedSuperpage, Some(level), Some(pte));
        }

        // Step 7 (Svade).
        if pte & PTE_A == 0 {
            return fault(FaultCause::NotAccessed, Some(level), Some(pte));
        }
        if access == Access::Store && pte & PTE_D == 0 {
            return fault(FaultCause::NotDirty, Some(level), Some(pte));
        }

        // Step 8.
        let offset_mask = (1u64 << (PAGE_SHIFT + low_ppn_bits)) - 1;
        let pa = (ppn << PAGE_SHIFT) | (raw & offset_mask);
        Ok(Translation {
            pa: PhysAddr::new_truncate(pa),
            leaf: Some(Leaf { level, pte, pte_addr: PhysAddr::new_truncate(pte_addr) }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const G: u64 = 1 << 5;
    /// A readable, writable, accessed, dirty leaf: the baseline that translates.
    const RW: u64 = PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
    const ROOT: u64 = 0x8000_0000;

    /// A hand-built table in one mode: entries written as raw bits.
    struct Table {
        ram: Ram,
        levels: u8,
        next: u64,
    }

    /// Every paging mode: (satp MODE field, levels).
    const MODES: [(u64, u8); 3] = [(8, 3), (9, 4), (10, 5)];

    fn modes() -> impl Iterator<Item = Table> {
        MODES.iter().map(|&(_, levels)| Table { ram: Ram::new(), levels, next: ROOT + 0x1000 })
    }

    fn va_bits(levels: u8) -> u32 {
        12 + 9 * levels as u32
    }

    /// The lowest address of the kernel (upper) half.
    fn kernel_base(levels: u8) -> u64 {
        !0 << (va_bits(levels) - 1)
    }

    fn size(level: u8) -> u64 {
        1 << (12 + 9 * level as u32)
    }

    fn leaf(pa: u64, flags: u64) -> u64 {
        (pa >> 12) << 10 | flags
    }

    fn pointer(pa: u64) -> u64 {
        (pa >> 12) << 10 | PTE_V
    }

    impl Table {
        fn mmu(&self) -> Mmu {
            let field = MODES.iter().find(|m| m.1 == self.levels).unwrap().0;
            Mmu::from_satp(field << 60 | ROOT >> 12).unwrap()
        }

        /// Writes `pte` as the entry for `va` at `level`, creating pointer
        /// entries (fresh zeroed tables) above it; returns the entry's address.
        fn put(&mut self, va: u64, level: u8, pte: u64) -> u64 {
            let mut table = ROOT;
            for i in (level + 1..self.levels).rev() {
                let slot = table + ((va >> (12 + 9 * i as u32)) & 0x1ff) * 8;
                let entry = self.ram.read_pte(slot);
                if entry & PTE_V == 0 {
                    let fresh = self.next;
                    self.next += 0x1000;
                    self.ram.write_u64(PhysAddr::new(slot).unwrap(), pointer(fresh)).unwrap();
                    table = fresh;
                } else {
                    table = pte_ppn(entry) << 12;
                }
            }
            let slot = table + ((va >> (12 + 9 * level as u32)) & 0x1ff) * 8;
            self.ram.write_u64(PhysAddr::new(slot).unwrap(), pte).unwrap();
            slot
        }

        fn go(&self, va: u64, access: Access, ctx: Context) -> Result<u64, Fault> {
            self.mmu().translate(&self.ram, VirtAddr::new(va), access, ctx).map(|t| t.pa.as_u64())
        }

        /// The cause and level of a fault, checking its kind matches the access.
        fn fault(&self, va: u64, access: Access, ctx: Context) -> (FaultCause, Option<u8>) {
            let fault = self.mmu().translate(&self.ram, VirtAddr::new(va), access, ctx).unwrap_err();
            assert_eq!(fault.kind, access.page_fault(), "{fault}");
            assert_eq!(fault.va.as_u64(), va);
            (fault.cause, fault.level)
        }
    }

    #[test]
    fn a_4k_page_translates_with_its_offset_and_reports_its_leaf() {
        for mut t in modes() {
            let va = kernel_base(t.levels) + 0x1234_5000;
            let slot = t.put(va, 0, leaf(0x9000_0000, RW | PTE_X));
            let got = t.mmu().translate(&t.ram, VirtAddr::new(va + 0xabc), Access::Load, Context::SUPERVISOR);
            let leaf =
                Leaf { level: 0, pte: leaf(0x9000_0000, RW | PTE_X), pte_addr: PhysAddr::new(slot).unwrap() };
            assert_eq!(got, Ok(Translation { pa: PhysAddr::new(0x9000_0abc).unwrap(), leaf: Some(leaf) }));
            assert_eq!(leaf.size(), 4096);
            for access in Access::ALL {
                assert_eq!(t.go(va + 0xfff, access, Context::SUPERVISOR), Ok(0x9000_0fff));
            }
            // The next page has no entry.
            assert_eq!(
                t.fault(va + 0x1000, Access::Load, Context::SUPERVISOR),
                (FaultCause::Invalid, Some(0))
            );
        }
    }

    #[test]
    fn first_and_last_byte_of_a_leaf_at_every_level() {
        for mut t in modes() {
            for level in 0..t.levels {
                let mut t2 = Table { ram: Ram::new(), levels: t.levels, next: ROOT + 0x1000 };
                let span = size(level);
                // A kernel-half address aligned to the leaf, and a physical
                // address aligned to it but not to the next size up.
                let va = kernel_base(t.levels) + span * 3;
                let pa = span * 5;
                t2.put(va, level, leaf(pa, RW));
                let mmu = t2.mmu();
                let first =
                    mmu.translate(&t2.ram, VirtAddr::new(va), Access::Store, Context::SUPERVISOR).unwrap();
                assert_eq!(first.pa.as_u64(), pa, "level {level} of {}", t.levels);
                assert_eq!(first.leaf.map(|l| (l.level, l.size())), Some((level, span)));
                assert_eq!(t2.go(va + span - 1, Access::Load, Context::SUPERVISOR), Ok(pa + span - 1));
                // One byte before and one past: no entry.
                assert_eq!(
                    t2.fault(va - 1, Access::Load, Context::SUPERVISOR),
                    (FaultCause::Invalid, Some(level))
                );
                assert_eq!(
                    t2.fault(va + span, Access::Load, Context::SUPERVISOR),
                    (FaultCause::Invalid, Some(level))
                );
            }
            // A 2 MiB megapage and a 1 GiB gigapage side by side in the lower half.
            t.put(0x4000_0000, 2, leaf(0x1_0000_0000, RW));
            t.put(0x20_0000, 1, leaf(0x8020_0000, RW));
            let s = Context::SUPERVISOR;
            assert_eq!(t.go(0x20_0000, Access::Load, s), Ok(0x8020_0000));
            assert_eq!(t.go(0x3f_ffff, Access::Load, s), Ok(0x803f_ffff));
            assert_eq!(t.fault(0x40_0000, Access::Load, s), (FaultCause::Invalid, Some(1)));
            assert_eq!(t.go(0x4000_0000, Access::Load, s), Ok(0x1_0000_0000));
            assert_eq!(t.go(0x7fff_ffff, Access::Load, s), Ok(0x1_3fff_ffff));
            assert_eq!(t.fault(0x8000_0000, Access::Load, s), (FaultCause::Invalid, Some(2)));
        }
    }

    #[test]
    fn the_highest_physical_page_is_reachable() {
        for mut t in modes() {
            let top_page = (1 << 56) - 0x1000;
            t.put(0x1000, 0, leaf(top_page, RW));
            assert_eq!(t.go(0x1fff, Access::Store, Context::SUPERVISOR), Ok((1 << 56) - 1));
        }
    }

    #[test]
    fn canonical_form_is_checked_before_any_entry_is_read() {
        for mut t in modes() {
            let bits = va_bits(t.levels);
            let highest = !0u64;
            let lowest_kernel = kernel_base(t.levels);
            let highest_user = (1 << (bits - 1)) - 1;
            t.put(highest, 0, leaf(0x8000_0000, RW));
            t.put(lowest_kernel, 0, leaf(0x8000_1000, RW));
            t.put(highest_user, 0, leaf(0x8000_2000, RW));
            let s = Context::SUPERVISOR;
            assert_eq!(t.go(highest, Access::Load, s), Ok(0x8000_0fff));
            assert_eq!(t.go(lowest_kernel, Access::Load, s), Ok(0x8000_1000));
            assert_eq!(t.go(highest_user, Access::Load, s), Ok(0x8000_2fff));
            // Each of these has the same table indices as an address above but
            // breaks the sign extension; the walk must not reach those leaves.
            for va in [highest_user + 1, lowest_kernel - 1, highest ^ (1 << 63), highest_user | 1 << bits] {
                for access in Access::ALL {
                    assert_eq!(
                        t.fault(va, access, s),
                        (FaultCause::NonCanonical, None),
                        "{va:#x} in {bits}-bit"
                    );
                }
            }
        }
    }

    #[test]
    fn invalid_entries_fault_where_the_walk_stopped() {
        for mut t in modes() {
            let root = t.levels - 1;
            assert_eq!(t.fault(0x5000, Access::Load, Context::SUPERVISOR), (FaultCause::Invalid, Some(root)));
            // A complete walk whose leaf lacks V, with otherwise good bits.
            t.put(0x5000, 0, leaf(0x8000_0000, RW & !PTE_V));
            assert_eq!(t.fault(0x5000, Access::Store, Context::SUPERVISOR), (FaultCause::Invalid, Some(0)));
            // A pointer that lacks V, one level below the root.
            t.put(kernel_base(t.levels), root - 1, pointer(0x8100_0000) & !PTE_V);
            let kernel = kernel_base(t.levels);
            assert_eq!(
                t.fault(kernel, Access::Fetch, Context::SUPERVISOR),
                (FaultCause::Invalid, Some(root - 1))
            );
        }
    }

    #[test]
    fn writable_without_readable_is_reserved_at_any_level() {
        for mut t in modes() {
            for (level, flags) in
                [(0, PTE_V | PTE_W | PTE_A | PTE_D), (1, PTE_V | PTE_W | PTE_X | PTE_A | PTE_D)]
            {
                let va = size(level) * 7;
                t.put(va, level, leaf(0, flags));
                for access in Access::ALL {
                    let got = t.fault(va, access, Context::SUPERVISOR);
                    assert_eq!(got, (FaultCause::WritableNotReadable, Some(level)));
                }
            }
            // Even as a would-be pointer (R = X = 0).
            let root = t.levels - 1;
            t.put(kernel_base(t.levels), root, pointer(0x8100_0000) | PTE_W);
            let got = t.fault(kernel_base(t.levels), Access::Load, Context::SUPERVISOR);
            assert_eq!(got, (FaultCause::WritableNotReadable, Some(root)));
        }
    }

    #[test]
    fn reserved_bits_fault_in_leaves_and_pointers() {
        for mut t in modes() {
            let va = 0x1000;
            for bit in 54..64 {
                t.put(va, 0, leaf(0x8000_0000, RW) | 1 << bit);
                assert_eq!(
                    t.fault(va, Access::Load, Context::SUPERVISOR),
                    (FaultCause::ReservedBits, Some(0))
                );
            }
            // A pointer at level 1 to a table whose entry 1 is a good leaf.
            let table_below = t.next;
            t.next += 0x1000;
            t.ram.write_u64(PhysAddr::new(table_below + 8).unwrap(), leaf(0x8000_0000, RW)).unwrap();
            let slot = PhysAddr::new(t.put(va, 1, 0)).unwrap();
            for (extra, ok) in [(0, true), (G, true), (1 << 8 | 1 << 9, true), (PTE_U, false), (PTE_A, false)]
                .into_iter()
                .chain([(PTE_D, false), (1 << 54, false), (1 << 61, false), (1 << 63, false)])
            {
                t.ram.write_u64(slot, pointer(table_below) | extra).unwrap();
                let got = t.go(va, Access::Load, Context::SUPERVISOR);
                if ok {
                    assert_eq!(got, Ok(0x8000_0000), "pointer bits {extra:#x}");
                } else {
                    assert_eq!(
                        t.fault(va, Access::Load, Context::SUPERVISOR),
                        (FaultCause::ReservedBits, Some(1))
                    );
                }
            }
            // In a leaf, U, A, D, G and the software bits are not reserved.
            t.put(0x4000_7000, 0, leaf(0x8000_0000, RW | PTE_U | G | 1 << 8 | 1 << 9));
            assert_eq!(t.go(0x4000_7000, Access::Load, Context::SUPERVISOR.with_sum(true)), Ok(0x8000_0000));
        }
    }

    #[test]
    fn a_pointer_at_level_0_faults() {
        for mut t in modes() {
            t.put(0x3000, 0, pointer(0x8100_0000));
            for access in Access::ALL {
                assert_eq!(t.fault(0x3000, access, Context::SUPERVISOR), (FaultCause::NoLeaf, Some(0)));
            }
        }
    }

    #[test]
    fn misaligned_superpages_fault_at_every_superpage_level() {
        for mut t in modes() {
            for level in 1..t.levels {
                let va = kernel_base(t.levels) + size(level);
                // Off by one 4 KiB page, and off by one page of the size below.
                for pa in [size(level) + 0x1000, size(level) + size(level - 1)] {
                    t.put(va, level, leaf(pa, RW));
                    let got = t.fault(va + 5, Access::Load, Context::SUPERVISOR);
                    assert_eq!(got, (FaultCause::MisalignedSuperpage, Some(level)), "pa {pa:#x}");
                }
                t.put(va, level, leaf(size(level) * 2, RW));
                assert_eq!(t.go(va + 5, Access::Load, Context::SUPERVISOR), Ok(size(level) * 2 + 5));
            }
        }
    }

    /// (leaf flags, access, context, expected cause or None for success).
    fn permission_cases() -> Vec<(u64, Access, Context, Option<FaultCause>)> {
        use Access::{Fetch, Load, Store};
        use FaultCause::{
            NotExecutable, NotReadable, NotWritable, SupervisorPage, UserPageFetch, UserPageWithoutSum,
        };
        let s = Context::SUPERVISOR;
        let u = Context::USER;
        let (r, w, x, us) = (PTE_R, PTE_W, PTE_X, PTE_U);
        vec![
            // Supervisor pages from supervisor mode.
            (r, Load, s, None),
            (r, Store, s, Some(NotWritable)),
            (r, Fetch, s, Some(NotExecutable)),
            (r | w, Store, s, None),
            (r | w, Fetch, s, Some(NotExecutable)),
            (x, Fetch, s, None),
            (x, Load, s, Some(NotReadable)),
            (x, Load, s.with_mxr(true), None),
            (x, Store, s.with_mxr(true), Some(NotWritable)),
            (r | x, Load, s, None),
            (r | x, Store, s, Some(NotWritable)),
            (r | w | x, Fetch, s, None),
            (r | w | x, Store, s, None),
            // SUM does not matter for supervisor pages.
            (r, Load, s.with_sum(true), None),
            // User pages from supervisor mode.
            (us | r | w, Load, s, Some(UserPageWithoutSum)),
            (us | r | w, Store, s, Some(UserPageWithoutSum)),
            (us | r | w, Load, s.with_sum(true), None),
            (us | r | w, Store, s.with_sum(true), None),
            (us | r, Store, s.with_sum(true), Some(NotWritable)),
            (us | x, Fetch, s, Some(UserPageFetch)),
            (us | x, Fetch, s.with_sum(true), Some(UserPageFetch)),
            (us | x, Load, s.with_sum(true), Some(NotReadable)),
            (us | x, Load, s.with_sum(true).with_mxr(true), None),
            // Supervisor pages from user mode: never, whatever SUM and MXR say.
            (r | w | x, Load, u, Some(SupervisorPage)),
            (r | w | x, Store, u, Some(SupervisorPage)),
            (r | w | x, Fetch, u, Some(SupervisorPage)),
            (r | w | x, Load, u.with_sum(true).with_mxr(true), Some(SupervisorPage)),
            // User pages from user mode.
            (us | r, Load, u, None),
            (us | r, Store, u, Some(NotWritable)),
            (us | r, Fetch, u, Some(NotExecutable)),
            (us | r | w, Store, u, None),
            (us | x, Fetch, u, None),
            (us | x, Load, u, Some(NotReadable)),
            (us | x, Load, u.with_mxr(true), None),
        ]
    }

    #[test]
    fn permissions_follow_rwx_u_sum_and_mxr() {
        for mut t in modes() {
            for (i, (flags, access, ctx, expected)) in permission_cases().into_iter().enumerate() {
                // Each case at a 4 KiB page and at a megapage of its own.
                for level in [0, 1] {
                    let va = (i as u64 + 1) * size(1) + if level == 0 { 0x3000 } else { 0 };
                    let pa = 0x4000_0000 + size(1) * i as u64;
                    t.put(va, level, leaf(pa, flags | PTE_V | PTE_A | PTE_D));
                    let got = t.mmu().translate(&t.ram, VirtAddr::new(va + 0x10), access, ctx);
                    match expected {
                        None => assert_eq!(got.map(|t| t.pa.as_u64()), Ok(pa + 0x10), "case {i}"),
                        Some(cause) => {
                            let fault = got.unwrap_err();
                            assert_eq!(
                                (fault.kind, fault.cause, fault.level),
                                (access.page_fault(), cause, Some(level)),
                                "case {i}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn accessed_and_dirty_bits_are_not_set_by_hardware() {
        for mut t in modes() {
            let s = Context::SUPERVISOR;
            t.put(0x1000, 0, leaf(0x8000_0000, PTE_V | PTE_R | PTE_W | PTE_X | PTE_D));
            for access in Access::ALL {
                assert_eq!(t.fault(0x1000, access, s), (FaultCause::NotAccessed, Some(0)));
            }
            let clean = leaf(0x8000_0000, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A);
            let slot = t.put(0x1000, 0, clean);
            assert_eq!(t.go(0x1000, Access::Load, s), Ok(0x8000_0000));
            assert_eq!(t.go(0x1000, Access::Fetch, s), Ok(0x8000_0000));
            assert_eq!(t.fault(0x1000, Access::Store, s), (FaultCause::NotDirty, Some(0)));
            // The walk left the entry alone: no D set behind our back.
            assert_eq!(t.ram.read_pte(slot), clean);
            // A gigapage without A.
            t.put(kernel_base(t.levels), 2, leaf(0x4000_0000, PTE_V | PTE_R));
            assert_eq!(t.fault(kernel_base(t.levels), Access::Load, s), (FaultCause::NotAccessed, Some(2)));
        }
    }

    #[test]
    fn checks_run_in_the_spec_order() {
        for mut t in modes() {
            let s = Context::SUPERVISOR;
            // Misaligned, not accessed, and not writable: step 5 wins.
            t.put(0x20_0000, 1, leaf(0x1000, PTE_V | PTE_R));
            assert_eq!(t.fault(0x20_0000, Access::Store, s), (FaultCause::NotWritable, Some(1)));
            // Misaligned and not accessed: step 6 before step 7.
            assert_eq!(t.fault(0x20_0000, Access::Load, s), (FaultCause::MisalignedSuperpage, Some(1)));
            // A user page from user mode that is neither accessed nor dirty, stored to.
            t.put(0x1000, 0, leaf(0x8000_0000, PTE_V | PTE_R | PTE_W | PTE_U));
            assert_eq!(t.fault(0x1000, Access::Store, Context::USER), (FaultCause::NotAccessed, Some(0)));
            // Reserved bits outrank permissions.
            t.put(0x1000, 0, leaf(0x8000_0000, PTE_V | PTE_R | 1 << 60));
            assert_eq!(t.fault(0x1000, Access::Store, Context::USER), (FaultCause::ReservedBits, Some(0)));
        }
    }

    #[test]
    fn satp_modes_bare_and_unsupported() {
        for field in (1..8).chain(11..16) {
            let raw = field << 60 | ROOT >> 12;
            assert_eq!(Mmu::from_satp(raw), Err(Error::UnsupportedSatpMode { satp: raw }));
        }
        let msg = Error::UnsupportedSatpMode { satp: 11 << 60 }.to_string();
        assert_eq!(msg, "satp 0xb000000000000000 has MODE 11, not Bare (0), Sv39 (8), Sv48 (9) or Sv57 (10)");
        let ram = Ram::new();
        let bare = Mmu::from_satp(0).unwrap();
        assert_eq!(bare, Mmu::bare());
        assert_eq!((bare.levels(), bare.va_bits()), (None, None));
        for access in Access::ALL {
            let top = (1 << 56) - 1;
            let got = bare.translate(&ram, VirtAddr::new(top), access, Context::USER);
            assert_eq!(got, Ok(Translation { pa: PhysAddr::new(top).unwrap(), leaf: None }));
            let fault =
                bare.translate(&ram, VirtAddr::new(1 << 56), access, Context::SUPERVISOR).unwrap_err();
            assert_eq!((fault.kind, fault.cause), (access.access_fault(), FaultCause::PhysAddrTooWide));
        }
        assert_eq!(
            [Access::Fetch, Access::Load, Access::Store]
                .map(|a| (a.access_fault().scause(), a.page_fault().scause())),
            [(1, 12), (5, 13), (7, 15)]
        );
    }

    #[test]
    fn satp_fields_decode_and_the_asid_does_not_change_translation() {
        for (mut t, &(field, levels)) in modes().zip(MODES.iter()) {
            t.put(0x1000, 0, leaf(0x8000_0000, RW));
            let mmu = Mmu::from_satp(field << 60 | 0xbeef << 44 | ROOT >> 12).unwrap();
            assert_eq!(
                (mmu.levels(), mmu.va_bits(), mmu.asid()),
                (Some(levels), Some(va_bits(levels)), 0xbeef)
            );
            assert_eq!(mmu.root().as_u64(), ROOT);
            let got = mmu.translate(&t.ram, VirtAddr::new(0x1008), Access::Load, Context::SUPERVISOR);
            assert_eq!(got.map(|t| t.pa.as_u64()), Ok(0x8000_0008));
        }
    }

    #[test]
    fn the_oracle_agrees_with_the_arch_constants() {
        // The oracle decodes satp on its own; the engine's Mode must say the same.
        for mode in crate::arch::riscv::Mode::PROBE_ORDER {
            let mmu = Mmu::from_satp(mode.satp_mode() << 60).unwrap();
            assert_eq!(mmu.levels(), Some(mode.levels()), "{mode}");
            assert_eq!(mmu.va_bits(), Some(mode.va_bits()), "{mode}");
        }
    }

    #[test]
    fn faults_print_what_and_where() {
        let mut t = modes().next().unwrap();
        t.put(0x20_0000, 1, leaf(0x1000, RW));
        let fault = t
            .mmu()
            .translate(&t.ram, VirtAddr::new(0x20_0010), Access::Store, Context::SUPERVISOR)
            .unwrap_err();
        assert_eq!(
            fault.to_string(),
            "store/AMO page fault (scause 15) at 0x0000000000200010: misaligned superpage \
             (entry 0x00000000000004c7 at level 1)"
        );
        let fault =
            t.mmu().translate(&t.ram, VirtAddr::new(1 << 40), Access::Fetch, Context::USER).unwrap_err();
        assert_eq!(
            fault.to_string(),
            "instruction page fault (scause 12) at 0x0000010000000000: non-canonical address"
        );
    }
}

//! The Sv32 oracle: a software MMU for RV32, from the privileged spec's Sv32 section.
//!
//! [`Sv32Mmu::translate`] follows "Virtual Address Translation Process" with
//! the spec's Sv32 constants, `PAGESIZE = 2^12`, `LEVELS = 2`, `PTESIZE = 4`:
//!
//! 1. `a = satp.PPN × PAGESIZE`, `i = LEVELS - 1`.
//! 2. `pte` = the four bytes at `a + va.VPN[i] × PTESIZE`.
//! 3. `pte.V = 0`, or `pte.R = 0 and pte.W = 1` → page fault. (Sv32 entries
//!    have no reserved high bits.)
//! 4. `pte.R = 1 or pte.X = 1`: a leaf, go to step 5. Otherwise a pointer:
//!    D, A and U are reserved in it (fault, as the 64-bit oracle does);
//!    `i = i - 1`, below 0 → page fault; `a = pte.PPN × PAGESIZE`, step 2.
//! 5. The leaf must allow the access under the privilege, `SUM` and `MXR`.
//! 6. `i > 0` and `pte.PPN[0] ≠ 0`: a misaligned megapage → page fault.
//! 7. `A = 0`, or a store with `D = 0` → page fault (Svade).
//! 8. `pa.pgoff = va.pgoff`; if `i > 0`, `pa.PPN[0] = va.VPN[0]`;
//!    `pa.PPN[1] = pte.PPN[1]` (and `pa.PPN[0] = pte.PPN[0]` when `i = 0`).
//!
//! The fields, straight from the spec's figures: a virtual address is
//! `VPN[1]` = bits 31..22, `VPN[0]` = 21..12, offset 11..0; a PTE is
//! `PPN[1]` = bits 31..20 (12 bits), `PPN[0]` = 19..10 (10 bits), RSW 9..8,
//! then D A G U X W R V; `satp` is MODE (bit 31), ASID (30..22), PPN (21..0).
//! Physical addresses are 34 bits. A virtual address is 32 bits: a
//! [`VirtAddr`] with any of bits 63..32 set cannot come from an RV32 hart and
//! faults as [`FaultCause::NonCanonical`].
//!
//! Like [`crate::sim::Mmu`], this file uses none of the engine's code.

use crate::addr::{PhysAddr, VirtAddr};
use crate::sim::{Access, Context, Fault, FaultCause, Privilege, Ram};

// The PTE bits of the spec's Figure "Sv32 page table entry".
const V: u32 = 1;
const R: u32 = 1 << 1;
const W: u32 = 1 << 2;
const X: u32 = 1 << 3;
const U: u32 = 1 << 4;
const A: u32 = 1 << 6;
const D: u32 = 1 << 7;

/// The leaf an Sv32 translation went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sv32Leaf {
    /// 0 for a 4 KiB page, 1 for a 4 MiB megapage.
    pub level: u8,
    /// Its raw bits.
    pub pte: u32,
    /// The physical address of the entry itself.
    pub pte_addr: PhysAddr,
}

impl Sv32Leaf {
    /// The size of the page it maps: 4 KiB, or 4 MiB for a megapage.
    pub const fn size(&self) -> u64 {
        if self.level == 0 {
            1 << 12
        } else {
            1 << 22
        }
    }
}

/// A successful Sv32 translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sv32Translation {
    /// The 34-bit physical address.
    pub pa: PhysAddr,
    /// The leaf that mapped it; `None` in Bare mode.
    pub leaf: Option<Sv32Leaf>,
}

/// An RV32 hart's translation state as set by one 32-bit `satp` value.
///
/// The ASID is kept but does not change translation (no TLB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sv32Mmu {
    satp: u32,
}

impl Sv32Mmu {
    /// The MMU a hart has with `satp = raw`. Every value is legal on RV32:
    /// MODE 0 is Bare, 1 is Sv32.
    pub const fn from_satp(raw: u32) -> Self {
        Sv32Mmu { satp: raw }
    }

    /// The raw `satp` value.
    pub const fn satp(&self) -> u32 {
        self.satp
    }

    /// Whether translation is on (`satp.MODE` = 1).
    pub const fn is_sv32(&self) -> bool {
        self.satp >> 31 == 1
    }

    /// The root table: `satp.PPN × 4096` (a 34-bit address).
    pub const fn root(&self) -> PhysAddr {
        PhysAddr::new_truncate(((self.satp & 0x3f_ffff) as u64) << 12)
    }

    /// The ASID field (9 bits).
    pub const fn asid(&self) -> u16 {
        ((self.satp >> 22) & 0x1ff) as u16
    }

    /// Translates `va` for `access` in `ctx`, reading four-byte entries from
    /// `ram`. See the module documentation for the steps.
    pub fn translate(
        &self,
        ram: &Ram,
        va: VirtAddr,
        access: Access,
        ctx: Context,
    ) -> Result<Sv32Translation, Fault> {
        let fault = |cause, level, pte: Option<u32>| {
            Err(Fault { kind: access.page_fault(), va, cause, level, pte: pte.map(u64::from) })
        };
        let Ok(va32) = u32::try_from(va.as_u64()) else {
            return fault(FaultCause::NonCanonical, None, None);
        };
        if !self.is_sv32() {
            return Ok(Sv32Translation { pa: PhysAddr::new_truncate(u64::from(va32)), leaf: None });
        }
        let vpn = [(va32 >> 12) & 0x3ff, va32 >> 22];

        // Step 1.
        let mut a = self.root().as_u64();
        let mut i = 1u8;
        let (pte, pte_addr) = loop {
            // Step 2.
            let pte_addr = a + u64::from(vpn[i as usize]) * 4;
            let pte = read_u32(ram, pte_addr);
            // Step 3.
            if pte & V == 0 {
                return fault(FaultCause::Invalid, Some(i), Some(pte));
            }
            if pte & R == 0 && pte & W != 0 {
                return fault(FaultCause::WritableNotReadable, Some(i), Some(pte));
            }
            // Step 4.
            if pte & (R | X) != 0 {
                break (pte, pte_addr);
            }
            if pte & (D | A | U) != 0 {
                return fault(FaultCause::ReservedBits, Some(i), Some(pte));
            }
            if i == 0 {
                return fault(FaultCause::NoLeaf, Some(i), Some(pte));
            }
            i -= 1;
            a = u64::from(pte >> 10) * 4096;
        };

        // Step 5.
        let denied = match (ctx.privilege, pte & U != 0) {
            (Privilege::User, false) => Some(FaultCause::SupervisorPage),
            (Privilege::Supervisor, true) if access == Access::Fetch => Some(FaultCause::UserPageFetch),
            (Privilege::Supervisor, true) if !ctx.sum => Some(FaultCause::UserPageWithoutSum),
            _ => match access {
                Access::Fetch if pte & X == 0 => Some(FaultCause::NotExecutable),
                Access::Load if pte & R == 0 && !(ctx.mxr && pte & X != 0) => Some(FaultCause::NotReadable),
                Access::Store if pte & W == 0 => Some(FaultCause::NotWritable),
                _ => None,
            },
        };
        if let Some(cause) = denied {
            return fault(cause, Some(i), Some(pte));
        }

        // Step 6: PPN[0] is bits 19..10.
        let ppn0 = (pte >> 10) & 0x3ff;
        let ppn1 = pte >> 20;
        if i > 0 && ppn0 != 0 {
            return fault(FaultCause::MisalignedSuperpage, Some(i), Some(pte));
        }

        // Step 7 (Svade).
        if pte & A == 0 {
            return fault(FaultCause::NotAccessed, Some(i), Some(pte));
        }
        if access == Access::Store && pte & D == 0 {
            return fault(FaultCause::NotDirty, Some(i), Some(pte));
        }

        // Step 8.
        let pa_ppn0 = if i > 0 { vpn[0] } else { ppn0 };
        let pa = u64::from(ppn1) << 22 | u64::from(pa_ppn0) << 12 | u64::from(va32 & 0xfff);
        Ok(Sv32Translation {
            pa: PhysAddr::new_truncate(pa),
            leaf: Some(Sv32Leaf { level: i, pte, pte_addr: PhysAddr::new_truncate(pte_addr) }),
        })
    }
}

/// The little-endian word at `pa` (RISC-V is little-endian).
fn read_u32(ram: &Ram, pa: u64) -> u32 {
    let mut bytes = [0u8; 4];
    // The address is below 2^34 + 2^12: always inside the simulated space.
    for (k, b) in bytes.iter_mut().enumerate() {
        *b = ram.read_u8(PhysAddr::new_truncate(pa + k as u64));
    }
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: u64 = 0x8000_0000;
    const RW: u32 = V | R | W | A | D;
    const SATP: u32 = 1 << 31 | (ROOT >> 12) as u32;

    fn write(ram: &Ram, pa: u64, pte: u32) {
        ram.write_bytes(PhysAddr::new(pa).unwrap(), &pte.to_le_bytes()).unwrap();
    }

    fn pte(pa: u64, flags: u32) -> u32 {
        ((pa >> 12) << 10) as u32 | flags
    }

    fn load(ram: &Ram, va: u64) -> Result<Sv32Translation, Fault> {
        Sv32Mmu::from_satp(SATP).translate(ram, VirtAddr::new(va), Access::Load, Context::SUPERVISOR)
    }

    #[test]
    fn satp_fields_are_the_rv32_ones() {
        let mmu = Sv32Mmu::from_satp(1 << 31 | 0x1ff << 22 | 0x3f_ffff);
        assert!(mmu.is_sv32());
        assert_eq!((mmu.asid(), mmu.root().as_u64()), (0x1ff, 0x3_ffff_f000));
        assert!(!Sv32Mmu::from_satp(0x7fff_ffff).is_sv32());
    }

    #[test]
    fn a_megapage_maps_4_mib_above_4_gib() {
        let ram = Ram::new();
        // Root entry 0x300 (VA 0xc000_0000) → a megapage at PA 0x2_0040_0000.
        write(&ram, ROOT + 0x300 * 4, pte(0x2_0040_0000, RW));
        let t = load(&ram, 0xc012_3456).unwrap();
        assert_eq!(t.pa.as_u64(), 0x2_0052_3456);
        assert_eq!(t.leaf.map(|l| (l.level, l.size())), Some((1, 4 << 20)));
        // The entry below is not valid.
        assert_eq!(load(&ram, 0xbfff_ffff).unwrap_err().cause, FaultCause::Invalid);
        // 2 MiB-aligned is not enough: PPN[0] must be zero.
        write(&ram, ROOT + 0x301 * 4, pte(0x2_0020_0000, RW));
        assert_eq!(load(&ram, 0xc040_0000).unwrap_err().cause, FaultCause::MisalignedSuperpage);
    }

    #[test]
    fn a_4k_page_through_a_pointer() {
        let ram = Ram::new();
        let leaf_table = 0x3_0000_1000u64;
        write(&ram, ROOT + 0x3ff * 4, pte(leaf_table, V));
        write(&ram, leaf_table + 0x3fe * 4, pte(0x1234_5000, V | R | X | A | U));
        let va = VirtAddr::new(0xffff_e678);
        let user = Sv32Mmu::from_satp(SATP).translate(&ram, va, Access::Fetch, Context::USER).unwrap();
        assert_eq!(user.pa.as_u64(), 0x1234_5678);
        assert_eq!(user.leaf.map(|l| (l.level, l.pte_addr.as_u64())), Some((0, leaf_table + 0x3fe * 4)));
        let kernel = Sv32Mmu::from_satp(SATP).translate(&ram, va, Access::Load, Context::SUPERVISOR);
        assert_eq!(kernel.unwrap_err().cause, FaultCause::UserPageWithoutSum);
        // A pointer with A set is reserved; a pointer at level 0 has no leaf.
        write(&ram, ROOT + 0x3ff * 4, pte(leaf_table, V | A));
        assert_eq!(load(&ram, 0xffff_e000).unwrap_err().cause, FaultCause::ReservedBits);
        write(&ram, ROOT + 0x3ff * 4, pte(leaf_table, V));
        write(&ram, leaf_table + 0x3fe * 4, pte(leaf_table, V));
        assert_eq!(load(&ram, 0xffff_e000).unwrap_err().cause, FaultCause::NoLeaf);
    }

    #[test]
    fn wider_than_32_bits_and_bare() {
        let ram = Ram::new();
        assert_eq!(load(&ram, 1 << 32).unwrap_err().cause, FaultCause::NonCanonical);
        let bare = Sv32Mmu::from_satp(0);
        let t = bare.translate(&ram, VirtAddr::new(0xdead_beef), Access::Store, Context::USER).unwrap();
        assert_eq!((t.pa.as_u64(), t.leaf), (0xdead_beef, None));
    }

    #[test]
    fn svade_and_permissions() {
        let ram = Ram::new();
        write(&ram, ROOT, pte(0x40_0000, V | R | A));
        let mmu = Sv32Mmu::from_satp(SATP);
        let store = mmu.translate(&ram, VirtAddr::new(0x1000), Access::Store, Context::SUPERVISOR);
        assert_eq!(store.unwrap_err().cause, FaultCause::NotWritable);
        write(&ram, ROOT, pte(0x40_0000, V | R | W | A));
        let store = mmu.translate(&ram, VirtAddr::new(0x1000), Access::Store, Context::SUPERVISOR);
        assert_eq!(store.unwrap_err().cause, FaultCause::NotDirty);
        write(&ram, ROOT, pte(0x40_0000, V | R));
        assert_eq!(load(&ram, 0x1000).unwrap_err().cause, FaultCause::NotAccessed);
        write(&ram, ROOT, pte(0x40_0000, V | W | A));
        assert_eq!(load(&ram, 0x1000).unwrap_err().cause, FaultCause::WritableNotReadable);
    }
}

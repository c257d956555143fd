//! The host simulator: simulated physical RAM and software MMUs that translate
//! exactly as the RISC-V privileged spec, the Intel SDM and the Arm ARM say.
//!
//! - [`Ram`]: the whole 56-bit physical space, sparse and zero-filled. It is a
//!   [`crate::paging::PhysMemory`], so the engine builds tables in it as it would
//!   in a kernel.
//! - [`TrackingAllocator`]: a [`crate::paging::FrameAllocator`] over a physical
//!   range that counts live frames, can run dry on demand, and records frees of
//!   frames it does not own ([`Misuse`]).
//! - [`Mmu`]: the oracle. Given a raw `satp` and a [`Ram`], it walks Sv39, Sv48
//!   or Sv57 tables from raw entry bits, independently of the engine, and returns
//!   the physical address or the exact [`Fault`] a hart would raise (with Svade:
//!   A = 0, or a store with D = 0, faults).
//! - [`X86Mmu`] and [`Arm64Mmu`]: the same kind of oracle for x86-64 (4-level
//!   and 5-level, from the Intel SDM) and arm64 (4 KiB granule, 39/48/52-bit,
//!   both TTBRs, from the Arm ARM), written without the engine's formats.
//! - [`Break`]: every break-before-make step the engine takes in a [`Ram`] is
//!   recorded with a copy of memory at that moment ([`Ram::take_breaks`]).
//!
//! # Checking tables on the host
//!
//! Put your tables in a [`Ram`] (by hand, with the engine, or by copying a dump
//! of a guest's memory with [`Ram::write_bytes`]), point an [`Mmu`] at the root
//! with the `satp` your kernel would write, and ask what a hart would do:
//!
//! ```
//! use kvas::sim::{Access, Context, FaultCause, Mmu, Ram};
//! use kvas::{PhysAddr, VirtAddr};
//!
//! // PTE bits: V R W X U G A D, then the PPN from bit 10.
//! const V: u64 = 1;
//! const R: u64 = 1 << 1;
//! const W: u64 = 1 << 2;
//! const A: u64 = 1 << 6;
//! const D: u64 = 1 << 7;
//! let pte = |pa: u64, flags: u64| (pa >> 12) << 10 | flags;
//! let at = |pa: u64| PhysAddr::new(pa).unwrap();
//!
//! // An Sv39 root at 0x8000_0000 whose entry 256 (the first of the kernel half)
//! // is a 1 GiB leaf for the RAM at 0x8000_0000, readable and writable.
//! let ram = Ram::new();
//! let root = 0x8000_0000;
//! ram.write_u64(at(root + 256 * 8), pte(0x8000_0000, V | R | W | A | D))?;
//!
//! let satp = 8 << 60 | root >> 12; // MODE = Sv39, PPN = root
//! let mmu = Mmu::from_satp(satp)?;
//! let kernel = VirtAddr::new(0xffff_ffc0_0000_0000);
//!
//! let t = mmu.translate(&ram, VirtAddr::new(0xffff_ffc0_1234_5678), Access::Store, Context::SUPERVISOR)?;
//! assert_eq!(t.pa.as_u64(), 0x9234_5678);
//! assert_eq!(t.leaf.map(|leaf| leaf.size()), Some(1 << 30));
//!
//! // Not executable: a fetch faults with scause 12, at the root level.
//! let fault = mmu.translate(&ram, kernel, Access::Fetch, Context::SUPERVISOR).unwrap_err();
//! assert_eq!((fault.kind.scause(), fault.cause, fault.level), (12, FaultCause::NotExecutable, Some(2)));
//! // Not a user page: user mode cannot load it.
//! let fault = mmu.translate(&ram, kernel, Access::Load, Context::USER).unwrap_err();
//! assert_eq!(fault.cause, FaultCause::SupervisorPage);
//! // Bit 38 clear but bit 39 set: not canonical for Sv39.
//! let fault = mmu.translate(&ram, VirtAddr::new(1 << 39), Access::Load, Context::SUPERVISOR).unwrap_err();
//! assert_eq!(fault.cause, FaultCause::NonCanonical);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To check the engine, build a table with [`crate::paging::PageTable`] over
//! `&Ram` and a [`TrackingAllocator`], then compare each of its answers with
//! [`Mmu::translate`]; after `destroy`, [`TrackingAllocator::live`] must be 0
//! and [`TrackingAllocator::misuse`] empty.

mod arm64_mmu;
mod frames;
mod mmu;
mod ram;
mod x86_mmu;

pub use arm64_mmu::{Arm64Context, Arm64Fault, Arm64FaultKind, Arm64Mmu, Arm64Translation, Tcr};
pub use frames::{Misuse, TrackingAllocator};
pub use mmu::{Access, Context, Fault, FaultCause, FaultKind, Leaf, Mmu, Privilege, Translation};
pub use ram::{Break, Ram};
pub use x86_mmu::{X86Context, X86Fault, X86FaultCause, X86Mmu, X86Translation};

#[cfg(test)]
mod tests {
    //! The engine checked by the oracle: what `PageTable` says it mapped is what
    //! a hart would see, in every mode, and its frame bookkeeping is exact.

    use std::vec::Vec;

    use super::{Access, Context, FaultCause, Mmu, Ram, TrackingAllocator};
    use crate::arch::riscv::{Mode, Riscv, Satp};
    use crate::paging::{Attrs, PageTable};
    use crate::{PageSize, PhysAddr, VirtAddr, VirtRange};

    fn mmu_for(mode: Mode, root: PhysAddr) -> Mmu {
        Mmu::from_satp(Satp { mode: Some(mode), asid: 0, root }.encode().unwrap()).unwrap()
    }

    /// Compares every byte boundary of every mapping the engine reports with
    /// the oracle, returning how many mappings were checked.
    fn check_against_oracle(pt: &PageTable<Riscv, &Ram>, mode: Mode) -> usize {
        let mmu = mmu_for(mode, pt.root());
        let mappings: Vec<_> = pt.mappings().collect::<Result<_, _>>().unwrap();
        for m in &mappings {
            let access = if m.attrs.contains(Attrs::EXECUTE) { Access::Fetch } else { Access::Store };
            let ctx = if m.attrs.contains(Attrs::USER) { Context::USER } else { Context::SUPERVISOR };
            for offset in [0, m.size.bytes() - 1] {
                let va = VirtAddr::new(m.va.as_u64() + offset);
                let hw = mmu.translate(pt.memory(), va, access, ctx).unwrap();
                assert_eq!(hw.pa.as_u64(), m.pa.as_u64() + offset, "{mode} {va}");
                assert_eq!(hw.leaf.map(|l| l.level), Some(m.size.level()), "{mode} {va}");
                assert_eq!(pt.translate(va).map(|t| t.pa), Ok(hw.pa));
            }
        }
        mappings.len()
    }

    #[test]
    fn the_engine_builds_what_the_oracle_translates_in_every_mode() {
        for mode in Mode::PROBE_ORDER {
            let ram = Ram::new();
            let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 24).unwrap();
            let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut frames).unwrap();
            let base = mode.geometry().kernel_half_start().as_u64();
            // 1 GiB + 2 MiB + 4 KiB, 4 KiB-aligned start: every leaf size appears.
            let (va, pa, len) =
                (base + (1 << 30) - 0x1000, 0x8000_0000 - 0x1000, (1 << 30) + (2 << 20) + 0x2000);
            let flush = pt.map_range(
                VirtRange::new(VirtAddr::new(va), len).unwrap(),
                PhysAddr::new(pa).unwrap(),
                Attrs::KERNEL_RW,
                PageSize::Size1G,
                &mut frames,
            );
            flush.unwrap().ignore();
            let user = Attrs::READ | Attrs::EXECUTE | Attrs::USER | Attrs::ACCESSED;
            pt.map(
                VirtAddr::new(0x40_0000),
                PhysAddr::new(0x9000_0000).unwrap(),
                PageSize::Size4K,
                user,
                &mut frames,
            )
            .unwrap()
            .ignore();
            let stats = pt.stats().unwrap();
            assert_eq!(&stats.leaves[..3], &[3, 1, 1], "{mode}");
            assert_eq!(check_against_oracle(&pt, mode), 5);

            // What the engine did not grant, the oracle refuses.
            let mmu = mmu_for(mode, pt.root());
            let kernel = VirtAddr::new(va);
            let refuse = |va, access, ctx| mmu.translate(&ram, va, access, ctx).unwrap_err().cause;
            assert_eq!(refuse(kernel, Access::Fetch, Context::SUPERVISOR), FaultCause::NotExecutable);
            assert_eq!(refuse(kernel, Access::Load, Context::USER), FaultCause::SupervisorPage);
            let user_va = VirtAddr::new(0x40_0000);
            assert_eq!(refuse(user_va, Access::Load, Context::SUPERVISOR), FaultCause::UserPageWithoutSum);
            assert_eq!(refuse(user_va, Access::Store, Context::USER), FaultCause::NotWritable);
            assert_eq!(refuse(VirtAddr::new(va - 1), Access::Load, Context::SUPERVISOR), FaultCause::Invalid);

            // Unmapping the middle splits the gigapage; the rest still agrees.
            pt.unmap_range(
                VirtRange::new(VirtAddr::new(va + 0x1000 + (4 << 20)), 2 << 20).unwrap(),
                &mut frames,
            )
            .unwrap()
            .ignore();
            assert!(check_against_oracle(&pt, mode) > 5);
            let hole = VirtAddr::new(va + 0x1000 + (5 << 20));
            assert_eq!(refuse(hole, Access::Load, Context::SUPERVISOR), FaultCause::Invalid);

            pt.destroy(&mut frames);
            assert_eq!((frames.live(), frames.misuse()), (0, &[][..]), "{mode}");
        }
    }
}

//! The architectures and depths the engine's property tests run in, each with
//! its table format and the simulator's MMU model of it as the oracle.
//!
//! What a target must say is what the hardware would do: for a probed address,
//! the physical address a kernel load, store or fetch reaches (or nothing), and
//! the leaf the walk ended on. How kvas attributes map to each architecture's
//! permissions is spelled out in [`Target::allows`].

#![allow(dead_code)] // each test binary uses its own part of it

use std::fmt::Debug;

use kvas::arch::aarch64::{Aarch64, Mode as ArmMode, Range, Ttbr};
use kvas::arch::riscv::{Mode as RvMode, Riscv, Satp};
use kvas::arch::x86_64::{Cr3, Mode as X86Mode, X86_64};
use kvas::paging::{Attrs, Geometry, Space, TableFormat};
use kvas::sim::{Access, Arm64Context, Arm64Mmu, Context, Mmu, Ram, Tcr, X86Context, X86Mmu};
use kvas::{PhysAddr, VirtAddr};

/// One architecture and depth under test.
pub trait Target: Copy + Debug {
    /// The engine's format for it.
    type F: TableFormat + Debug;

    /// The format value.
    fn format(&self) -> Self::F;

    /// What the model expects a kernel (supervisor / EL1) access to a page of
    /// `attrs` to do: succeed or fault.
    fn allows(&self, attrs: Attrs, access: Access) -> bool;

    /// What the model expects a user-mode access to do: the kernel's rule,
    /// plus the page must be a user page, and user code may run it.
    fn allows_user(&self, attrs: Attrs, access: Access) -> bool {
        attrs.contains(Attrs::USER)
            && match access {
                Access::Fetch => self.allows(attrs - Attrs::USER, access),
                _ => self.allows(attrs, access),
            }
    }

    /// The oracle: where an `access` to `va` from the kernel (or from user
    /// mode, if `user`) lands with the table rooted at `root` in `ram`, with
    /// the level and raw bits of the leaf; `None` if it faults. Kernel accesses
    /// to user data are allowed (SUM, no SMAP, no PAN).
    fn hw_in(&self, ram: &Ram, root: PhysAddr, va: u64, access: Access, user: bool)
        -> Option<(u64, u8, u64)>;

    /// [`Target::hw_in`] from the kernel.
    fn hw(&self, ram: &Ram, root: PhysAddr, va: u64, access: Access) -> Option<(u64, u8, u64)> {
        self.hw_in(ram, root, va, access, false)
    }

    /// Whether replacing leaf `old` at level `old_level` by `new` at
    /// `new_level`, both live, needs break-before-make by the architecture's rules.
    fn needs_break(&self, old: (u8, u64), new: (u8, u64)) -> bool {
        let _ = (old, new);
        false
    }

    /// The geometry.
    fn geometry(&self) -> Geometry {
        self.format().geometry()
    }

    /// Where the tests put their mappings: the kernel half, or 0 for a
    /// lower-range-only table.
    fn base(&self) -> u64 {
        let g = self.geometry();
        if g.space() == Space::Lower {
            0
        } else {
            g.kernel_half_start().as_u64()
        }
    }
}

impl Target for RvMode {
    type F = Riscv;

    fn format(&self) -> Riscv {
        Riscv::new(*self)
    }

    fn allows(&self, a: Attrs, access: Access) -> bool {
        match access {
            Access::Load => a.contains(Attrs::READ),
            // Svade: a store to a page with D = 0 faults.
            Access::Store => a.contains(Attrs::WRITE | Attrs::DIRTY),
            Access::Fetch => a.contains(Attrs::EXECUTE) && !a.contains(Attrs::USER),
        }
    }

    fn hw_in(
        &self,
        ram: &Ram,
        root: PhysAddr,
        va: u64,
        access: Access,
        user: bool,
    ) -> Option<(u64, u8, u64)> {
        let satp = Satp { mode: Some(*self), asid: 0, root }.encode().unwrap();
        let ctx = if user { Context::USER } else { Context::SUPERVISOR.with_sum(true) };
        let t = Mmu::from_satp(satp).unwrap().translate(ram, VirtAddr::new(va), access, ctx).ok()?;
        let leaf = t.leaf.unwrap();
        Some((t.pa.as_u64(), leaf.level, leaf.pte))
    }
}

impl Target for X86Mode {
    type F = X86_64;

    fn format(&self) -> X86_64 {
        X86_64::new(*self)
    }

    fn allows(&self, a: Attrs, access: Access) -> bool {
        match access {
            Access::Load => a.contains(Attrs::READ),
            // The CPU sets D itself.
            Access::Store => a.contains(Attrs::WRITE),
            // SMEP: the kernel never runs user pages.
            Access::Fetch => a.contains(Attrs::EXECUTE) && !a.contains(Attrs::USER),
        }
    }

    fn hw_in(
        &self,
        ram: &Ram,
        root: PhysAddr,
        va: u64,
        access: Access,
        user: bool,
    ) -> Option<(u64, u8, u64)> {
        let cr3 = Cr3 { root, pcid: None, no_flush: false }.encode().unwrap();
        let mmu = X86Mmu::new(cr3, *self == X86Mode::Level5);
        let ctx = if user { X86Context::USER } else { X86Context { smap: false, ..X86Context::SUPERVISOR } };
        let t = mmu.translate(ram, VirtAddr::new(va), access, ctx).ok()?;
        Some((t.pa.as_u64(), t.level, t.entry))
    }
}

/// An arm64 mode and the TTBR range its table serves.
#[derive(Clone, Copy, Debug)]
pub struct Arm(pub ArmMode, pub Range);

impl Target for Arm {
    type F = Aarch64;

    fn format(&self) -> Aarch64 {
        Aarch64::new(self.0, self.1)
    }

    fn allows(&self, a: Attrs, access: Access) -> bool {
        // AF = 0 faults (no hardware access-flag management).
        a.contains(Attrs::ACCESSED)
            && match access {
                Access::Load => a.contains(Attrs::READ),
                Access::Store => a.contains(Attrs::WRITE),
                Access::Fetch => a.contains(Attrs::EXECUTE) && !a.contains(Attrs::USER),
            }
    }

    fn hw_in(
        &self,
        ram: &Ram,
        root: PhysAddr,
        va: u64,
        access: Access,
        user: bool,
    ) -> Option<(u64, u8, u64)> {
        let Arm(mode, range) = *self;
        let ttbr = Ttbr { root, asid: 0 }.encode(mode, range).unwrap();
        let txsz = 64 - mode.va_bits() as u8;
        let tcr = Tcr { t0sz: txsz, t1sz: txsz, ds: mode == ArmMode::Va52 };
        let (t0, t1) = if range == Range::Ttbr0 { (ttbr, 0) } else { (0, ttbr) };
        let mmu = Arm64Mmu::new(tcr, t0, t1).unwrap();
        let ctx = if user { Arm64Context::EL0 } else { Arm64Context::EL1 };
        let t = mmu.translate(ram, VirtAddr::new(va), access, ctx).ok()?;
        Some((t.pa.as_u64(), (3 - t.level) as u8, t.descriptor))
    }

    /// The Arm ARM asks for break-before-make when the size (and so the
    /// level), the output address, the memory type (AttrIndx, bits 4..2), the
    /// shareability (bits 9..8), NS (bit 5) or nG (bit 11) changes.
    fn needs_break(&self, (old_level, old): (u8, u64), (new_level, new): (u8, u64)) -> bool {
        let oa = ((1u64 << 50) - 1) & !0xfff;
        old_level != new_level || (old ^ new) & (oa | 0b111 << 2 | 1 << 5 | 0b11 << 8 | 1 << 11) != 0
    }
}

/// Every arm64 mode in both ranges.
pub const ARM: [Arm; 6] = [
    Arm(ArmMode::Va39, Range::Ttbr1),
    Arm(ArmMode::Va48, Range::Ttbr1),
    Arm(ArmMode::Va52, Range::Ttbr1),
    Arm(ArmMode::Va39, Range::Ttbr0),
    Arm(ArmMode::Va48, Range::Ttbr0),
    Arm(ArmMode::Va52, Range::Ttbr0),
];

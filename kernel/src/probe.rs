//! Choosing the paging depth: caps from the command line and the device tree, then a probe
//! of the hart from the deepest allowed mode down (Linux's `set_satp_mode`).
//!
//! Each probe builds, with the kvas engine through the identity view, a table that
//! identity-maps the kernel's text (so the instructions after the `satp` write still
//! fetch), writes `satp`, reads it back and writes Bare again. A hart that does not
//! implement the mode leaves `satp` unchanged; only the MODE field is compared, since some
//! cores change ASID or PPN even when they reject a mode.

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::paging::{Attrs, OffsetMemory, PageTable};
use kvas::{Error, PageSize, PhysAddr, VirtAddr};

use crate::devicetree::BootInfo;
use crate::frames::EarlyFrames;

/// The deepest mode the command line and the device tree allow.
pub fn cap(info: &BootInfo) -> Mode {
    let mut max = Mode::Sv57;
    if info.cmdline.no5lvl {
        max = Mode::Sv48;
    }
    if info.cmdline.no4lvl {
        max = Mode::Sv39;
    }
    match info.mmu_cap {
        Some(m) if m.levels() < max.levels() => m,
        _ => max,
    }
}

/// Writes `satp`, reads it back and writes Bare, with no memory access in between.
///
/// # Safety
///
/// The table in `value` must map the code of this function at its current address.
unsafe fn try_satp(value: u64) -> u64 {
    let back: u64;
    // SAFETY: the caller's table maps this code, so the fetches between the two writes
    // translate; nothing else is touched while the mode is on.
    unsafe {
        core::arch::asm!(
            "sfence.vma",
            "csrw satp, {v}",
            "csrr {b}, satp",
            "csrw satp, zero",
            "sfence.vma",
            v = in(reg) value,
            b = out(reg) back,
        )
    };
    back
}

/// The result of the probe.
pub struct Probe {
    /// The mode the hart accepted.
    pub mode: Mode,
    /// Modes tried first and rejected, with what `satp` read back.
    pub rejected: [Option<(Mode, u64)>; 2],
}

/// Probes from `max` down, with the MMU off; `text` is the physical range of the kernel's
/// text. `Ok(None)` if the hart takes no mode at all.
pub fn probe(max: Mode, text: (u64, u64), frames: &mut EarlyFrames) -> Result<Option<Probe>, Error> {
    let mut rejected = [None; 2];
    let mut n = 0;
    for mode in Mode::PROBE_ORDER.into_iter().filter(|m| m.levels() <= max.levels()) {
        // SAFETY: the MMU is off, so every frame is at its physical address.
        let identity = unsafe { OffsetMemory::new(0) };
        let mut table = PageTable::new(Riscv::new(mode), identity, frames)?;
        let (start, len) = text;
        let mapped = table.map_range(
            VirtAddr::new(start),
            PhysAddr::new(start)?,
            len,
            Attrs::KERNEL_RX,
            PageSize::Size2M,
            frames,
        );
        let want = Satp { mode: Some(mode), asid: 0, root: table.root() }.encode();
        let result = match (mapped, want) {
            (Ok(flush), Ok(want)) => {
                flush.ignore(); // no translation is on; try_satp fences
                                // SAFETY: the table identity-maps the whole text, this function included.
                Ok((want, unsafe { try_satp(want) }))
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        table.destroy(frames);
        let (want, back) = result?;
        if Satp::mode_field(back) == Satp::mode_field(want) {
            return Ok(Some(Probe { mode, rejected }));
        }
        if n < rejected.len() {
            rejected[n] = Some((mode, back));
            n += 1;
        }
    }
    Ok(None)
}

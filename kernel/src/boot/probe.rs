//! Choosing the paging depth: the cap from the command line and the device tree
//! (`kvas_kernel_core::bootinfo::depth_cap`, host-tested), then a probe of the hart from the deepest allowed mode down (Linux's `set_satp_mode`).
//!
//! Each probe builds, with the kvas engine through the identity view, a table that
//! identity-maps the kernel's text (so the instructions after the `satp` write still
//! fetch), writes `satp`, reads it back and writes Bare again. A hart that does not
//! implement the mode leaves `satp` unchanged; only the MODE field is compared, since some
//! cores change ASID or PPN even when they reject a mode.

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::paging::{Attrs, OffsetMemory, PageTable};
use kvas::{Error, PageSize, PhysAddr, VirtAddr, VirtRange};

use crate::mm::frames::EarlyFrames;
use crate::mm::mmu;

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
        let range = VirtRange::new(VirtAddr::new(start), len)?;
        let mapped =
            table.map_range(range, PhysAddr::new(start)?, Attrs::KERNEL_RX, PageSize::Size2M, frames);
        let want = Satp { mode: Some(mode), asid: 0, root: table.root() }.encode();
        let result = match (mapped, want) {
            (Ok(flush), Ok(want)) => {
                flush.ignore(); // no translation is on; try_mode fences
                                // SAFETY: the MMU is off and the table identity-maps the whole text,
                                // mmu::try_mode included.
                Ok((want, unsafe { mmu::try_mode(want) }))
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

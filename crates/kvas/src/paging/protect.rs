//! Changing the attributes of a mapped range.

use crate::addr::{PhysAddr, VirtAddr, PAGE_SIZE};
use crate::paging::chunks::Chunks;
use crate::paging::geometry::check_range;
use crate::paging::reserve::Reserve;
use crate::paging::split::Holes;
use crate::paging::{Attrs, Flush, FrameAllocator, PageTable, PhysMemory, Pte, TableFormat};
use crate::range::VirtRange;
use crate::Error;

impl<F: TableFormat, M: PhysMemory> PageTable<F, M> {
    /// Gives every page of `range` the attributes `attrs`, keeping its
    /// physical page. Leaves that straddle an end are split first.
    ///
    /// The whole range must be mapped ([`Error::NotMapped`] names the first
    /// hole); if splits need frames that cannot be had, nothing changes.
    pub fn protect_range(
        &mut self,
        range: VirtRange,
        attrs: Attrs,
        alloc: &mut impl FrameAllocator,
    ) -> Result<Flush, Error> {
        let (va, len) = (range.start(), range.size());
        let g = self.format.geometry();
        check_range(g, va, len)?;
        self.format.check_leaf(PhysAddr::ZERO, PAGE_SIZE, attrs)?;
        if len == 0 {
            return Ok(Flush::none());
        }
        let needed = self.plan_splits(self.root, g.root_level(), va.as_u64(), len, Holes::Refuse, true)?;
        let mut reserve =
            Reserve::take(&self.mem, alloc, needed).map_err(|got| Error::OutOfFrames { va, needed, got })?;
        let mut flush = Flush::none();
        let done =
            self.reprotect(self.root, g.root_level(), va.as_u64(), len, attrs, &mut reserve, &mut flush);
        reserve.release(&self.mem, alloc);
        done.map(|()| flush)
    }

    /// Rewrites the leaves of the range below `table`; the plan has vouched for every step.
    #[allow(clippy::too_many_arguments)]
    fn reprotect(
        &self,
        table: PhysAddr,
        level: u8,
        va: u64,
        len: u64,
        attrs: Attrs,
        reserve: &mut Reserve,
        flush: &mut Flush,
    ) -> Result<(), Error> {
        for c in Chunks::<F::Entry>::new(va, len, level) {
            let raw = self.entry(table, c.idx);
            let at = VirtAddr::new(c.va);
            match self.format.decode(raw, level) {
                Pte::Leaf { pa, .. } if c.full => {
                    let new = self.format.encode_leaf(pa, attrs, level);
                    self.replace_entry(table, c.idx, at, level, raw, new);
                    flush.add(at);
                }
                Pte::Leaf { pa, attrs: old } => {
                    let next = self.split_leaf(table, c.idx, at, level, raw, pa, old, reserve)?;
                    flush.add(at);
                    self.reprotect(next, level - 1, c.va, c.len, attrs, reserve, flush)?;
                }
                Pte::Table(next) if level > 0 => {
                    self.reprotect(next, level - 1, c.va, c.len, attrs, reserve, flush)?;
                }
                Pte::Absent => return Err(Error::NotMapped { va: at }),
                _ => return Err(Error::CorruptEntry { va: at, level, raw: raw.into() }),
            }
        }
        Ok(())
    }
}

//! What the TLB must forget after a change to the tables.

use crate::addr::VirtAddr;

/// The addresses whose translations a change made stale, or "everything".
///
/// Every mutating engine call returns one. The engine never flushes by itself:
/// on RISC-V the caller issues `sfence.vma` for each address, or one global
/// `sfence.vma` when the batch has overflowed, because only the caller knows
/// whether the table is live and on which harts.
#[must_use = "the TLB may still hold the old translations: apply() or ignore() the flush"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flush {
    addrs: [VirtAddr; Flush::BATCH],
    len: u8,
    all: bool,
}

impl Flush {
    /// How many single-address flushes a batch holds before it turns into "all".
    pub const BATCH: usize = 16;

    /// Nothing to flush.
    pub const fn none() -> Self {
        Self { addrs: [VirtAddr::ZERO; Self::BATCH], len: 0, all: false }
    }

    /// Flush everything.
    pub const fn all() -> Self {
        Self { addrs: [VirtAddr::ZERO; Self::BATCH], len: 0, all: true }
    }

    /// Adds one address (any address inside the changed page).
    #[inline]
    pub fn add(&mut self, va: VirtAddr) {
        if self.all {
            return;
        }
        if (self.len as usize) < Self::BATCH {
            self.addrs[self.len as usize] = va;
            self.len += 1;
        } else {
            self.all = true;
            self.len = 0;
        }
    }

    /// Adds `count` pages of `stride` bytes from `va`, or "all" if they overflow the batch.
    #[inline]
    pub fn add_run(&mut self, va: VirtAddr, count: u64, stride: u64) {
        if self.all {
            return;
        }
        if self.len as u64 + count > Self::BATCH as u64 {
            self.all = true;
            self.len = 0;
            return;
        }
        for k in 0..count {
            self.add(va.wrapping_add(k * stride));
        }
    }

    /// Adds everything `other` asks for.
    pub fn merge(&mut self, other: Flush) {
        if other.all {
            self.all = true;
            self.len = 0;
        } else {
            other.addresses().iter().for_each(|&va| self.add(va));
        }
    }

    /// Whether nothing needs flushing.
    pub const fn is_empty(&self) -> bool {
        !self.all && self.len == 0
    }

    /// Whether the whole TLB must be flushed.
    pub const fn is_all(&self) -> bool {
        self.all
    }

    /// The single addresses to flush (empty when [`Flush::is_all`]).
    pub fn addresses(&self) -> &[VirtAddr] {
        &self.addrs[..self.len as usize]
    }

    /// Calls `page` for each address, or `all` once if the batch overflowed.
    pub fn apply(self, mut page: impl FnMut(VirtAddr), all: impl FnOnce()) {
        if self.all {
            all();
        } else {
            self.addresses().iter().for_each(|&va| page(va));
        }
    }

    /// Drops the flush on purpose: the table is not live on any hart (being built,
    /// or simulated), so no TLB holds its entries.
    pub fn ignore(self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflows_into_all() {
        let mut f = Flush::none();
        assert!(f.is_empty());
        for i in 0..Flush::BATCH as u64 {
            f.add(VirtAddr::new(i << 12));
        }
        assert_eq!(f.addresses().len(), Flush::BATCH);
        assert!(!f.is_all());
        f.add(VirtAddr::new(0xdead_0000));
        assert!(f.is_all());
        assert!(f.addresses().is_empty());
        let mut pages = 0;
        let mut alls = 0;
        f.apply(|_| pages += 1, || alls += 1);
        assert_eq!((pages, alls), (0, 1));
    }

    #[test]
    fn merge_keeps_both() {
        let mut a = Flush::none();
        a.add(VirtAddr::new(0x1000));
        let mut b = Flush::none();
        b.add(VirtAddr::new(0x2000));
        a.merge(b);
        assert_eq!(a.addresses(), &[VirtAddr::new(0x1000), VirtAddr::new(0x2000)]);
        a.merge(Flush::all());
        assert!(a.is_all());
    }
}

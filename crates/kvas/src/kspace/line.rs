//! The kernel's serial line for one built region, byte for byte the same in the
//! kernel and in `kvas map --format built`.

use core::fmt;

use crate::arch::riscv::Mode;
use crate::kspace::built::BuiltRegion;

/// `kvas: built REGION leaves 4K=a 2M=b 1G=c ... tables N`: the leaf sizes are
/// the mode's (`512G` from Sv48, `256T` in Sv57), each count the leaves of that
/// size inside the region's virtual range, and `tables N` the table pages that
/// the region's step of [`super::build`] added (see [`BuiltRegion::tables`]).
/// No trailing newline.
#[derive(Clone, Copy, Debug)]
pub struct BuiltLine<'a> {
    /// The mode (which leaf sizes are printed).
    pub mode: Mode,
    /// The region.
    pub region: &'a BuiltRegion,
}

impl fmt::Display for BuiltLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kvas: built {} leaves", self.region.kind.name())?;
        for size in self.mode.geometry().page_sizes() {
            write!(f, " {}={}", size.name(), self.region.leaves[size.level() as usize])?;
        }
        write!(f, " tables {}", self.region.tables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kspace::RegionKind;
    use crate::{VirtAddr, VirtRange};

    #[test]
    fn one_count_per_leaf_size_of_the_mode() {
        let range = VirtRange::new(VirtAddr::new(0xff60_0000_0000_0000), 1 << 40).unwrap();
        let mut region = BuiltRegion::new(RegionKind::Linear, range);
        region.leaves = [1, 2, 3, 4, 5];
        region.tables = 7;
        let line = |mode| BuiltLine { mode, region: &region }.to_string();
        assert_eq!(line(Mode::Sv39), "kvas: built linear leaves 4K=1 2M=2 1G=3 tables 7");
        assert_eq!(line(Mode::Sv48), "kvas: built linear leaves 4K=1 2M=2 1G=3 512G=4 tables 7");
        assert_eq!(line(Mode::Sv57), "kvas: built linear leaves 4K=1 2M=2 1G=3 512G=4 256T=5 tables 7");
    }
}

//! kvas itself: `PageTable<Riscv, OffsetMemory>` with the depth chosen at run
//! time (`kvas-sv39`, `kvas-sv48`, `kvas-sv57`), and `RiscvFixed<4>` with the
//! depth fixed at compile time (`kvas-sv48-fixed`).

use std::hint::black_box;

use kvas::arch::riscv::{Mode, Riscv, RiscvFixed};
use kvas::paging::{Attrs, Entry, FrameAllocator, OffsetMemory, PageTable, TableFormat, TranslateCursor};
use kvas::{PageSize, PhysAddr, VirtAddr};

use crate::arena;
use crate::subject::{Ops, Subject, Translator};

/// Frames from the shared arena.
pub struct ArenaFrames;

impl FrameAllocator for ArenaFrames {
    #[inline]
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        arena::alloc().map(PhysAddr::new_truncate)
    }

    #[inline]
    fn free_frame(&mut self, frame: PhysAddr) {
        arena::free(frame.as_u64())
    }
}

/// How a subject gets its format.
pub trait MakeFormat {
    /// The format type.
    type Format: TableFormat;
    /// A format value.
    fn make() -> Self::Format;
}

/// The run-time format for the mode with `LEVELS` levels. The mode passes
/// through [`black_box`], so the compiler cannot specialise the workload
/// loops for one depth: what runs is the engine every kernel runs.
pub struct RunTime<const LEVELS: u8>;

impl<const LEVELS: u8> MakeFormat for RunTime<LEVELS> {
    type Format = Riscv;
    fn make() -> Riscv {
        let mode = match LEVELS {
            3 => Mode::Sv39,
            4 => Mode::Sv48,
            5 => Mode::Sv57,
            _ => panic!("no RISC-V mode has {LEVELS} levels"),
        };
        Riscv::new(black_box(mode))
    }
}

/// The compile-time format with `LEVELS` levels.
pub struct CompileTime<const LEVELS: u8>;

impl<const LEVELS: u8> MakeFormat for CompileTime<LEVELS> {
    type Format = RiscvFixed<LEVELS>;
    fn make() -> RiscvFixed<LEVELS> {
        RiscvFixed
    }
}

/// A kvas table whose frames come from the arena, reached at offset 0.
pub struct Kvas<K: MakeFormat> {
    table: PageTable<K::Format, OffsetMemory>,
}

impl<K: MakeFormat> Kvas<K> {
    #[inline]
    fn range(&mut self, va: u64, pa: u64, len: u64, max: PageSize) -> bool {
        let (Ok(pa), Ok(range)) = (PhysAddr::new(pa), kvas::VirtRange::new(VirtAddr::new(va), len)) else {
            return false;
        };
        self.table.map_range(range, pa, Attrs::KERNEL_RW, max, &mut ArenaFrames).map(|f| f.ignore()).is_ok()
    }

    #[inline]
    fn map(&mut self, va: u64, pa: u64, size: PageSize) -> bool {
        let Ok(pa) = PhysAddr::new(pa) else {
            return false;
        };
        self.table
            .map(VirtAddr::new(va), pa, size, Attrs::KERNEL_RW, &mut ArenaFrames)
            .map(|f| f.ignore())
            .is_ok()
    }
}

impl<K: MakeFormat> Subject for Kvas<K> {
    type Ops<'a>
        = &'a mut Self
    where
        K: 'a;

    fn new() -> Self {
        // SAFETY: the arena's physical addresses are its virtual addresses, every
        // table frame comes from the arena, and no Rust reference to a frame is
        // live while the engine uses it (the arena only writes a frame's first
        // word after the frame was freed).
        let mem = unsafe { OffsetMemory::new(0) };
        let table =
            PageTable::new(K::make(), mem, &mut ArenaFrames).expect("the arena has a frame for the root");
        Self { table }
    }

    fn ops(&mut self) -> &mut Self {
        self
    }

    #[inline(always)]
    fn translate(&self, va: u64) -> Option<u64> {
        self.table.translate(VirtAddr::new(va)).ok().map(|t| t.pa.as_u64())
    }

    type Translator<'a>
        = KvasCursor<'a, K>
    where
        K: 'a;

    fn translator(&self) -> KvasCursor<'_, K> {
        KvasCursor(self.table.translate_cursor())
    }
}

impl<K: MakeFormat> Ops for &mut Kvas<K> {
    #[inline]
    fn map_4k(&mut self, va: u64, pa: u64) -> bool {
        self.map(va, pa, PageSize::Size4K)
    }

    #[inline]
    fn map_2m(&mut self, va: u64, pa: u64) -> bool {
        self.map(va, pa, PageSize::Size2M)
    }

    #[inline]
    fn unmap_4k(&mut self, va: u64) -> bool {
        self.table.unmap(VirtAddr::new(va), PageSize::Size4K, &mut ArenaFrames).map(|f| f.ignore()).is_ok()
    }

    #[inline(always)]
    fn fault_in(&mut self, va: u64, pa: u64) -> bool {
        // kvas's API for exactly this: one walk, which the map goes on from.
        let Ok(pa) = PhysAddr::new(pa) else { return false };
        match self.table.entry_at(VirtAddr::new(va)) {
            Ok(Entry::Vacant(entry)) => entry
                .map(pa, Attrs::KERNEL_RW, PageSize::Size4K, &mut ArenaFrames)
                .map(|f| f.ignore())
                .is_ok(),
            _ => false,
        }
    }

    fn map_range_4k(&mut self, va: u64, pa: u64, len: u64) -> bool {
        self.range(va, pa, len, PageSize::Size4K)
    }

    fn map_linear(&mut self, va: u64, pa: u64, len: u64) -> bool {
        self.range(va, pa, len, PageSize::Size1G)
    }
}

/// kvas's translation cursor ([`TranslateCursor`]), for runs of translations.
pub struct KvasCursor<'a, K: MakeFormat>(TranslateCursor<'a, K::Format, OffsetMemory>);

impl<K: MakeFormat> Translator for KvasCursor<'_, K> {
    #[inline(always)]
    fn translate(&mut self, va: u64) -> Option<u64> {
        self.0.translate(VirtAddr::new(va)).ok().map(|t| t.pa.as_u64())
    }
}

//! Engine tests: every behaviour and error path, in every RISC-V mode.

use std::vec::Vec;

use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::arch::riscv::{Mode, Riscv};
use crate::paging::{Attrs, FrameAllocator, Mapping, OffsetMemory, PageTable, TableStats};
use crate::range::VirtRange;
use crate::Error;

const MODES: [Mode; 3] = [Mode::Sv39, Mode::Sv48, Mode::Sv57];
const ARENA_FRAMES: usize = 256;
/// The fake physical address of the arena's first frame.
const ARENA_BASE: u64 = 0x8000_0000;

/// Table frames backed by a heap arena, with a limit to make allocation fail.
struct Arena {
    mem: Vec<[u64; 512]>,
    free: Vec<PhysAddr>,
    live: usize,
    limit: usize,
}

impl Arena {
    fn new() -> Self {
        let free =
            (0..ARENA_FRAMES).rev().map(|i| PhysAddr::new(ARENA_BASE + i as u64 * 4096).unwrap()).collect();
        Self { mem: vec![[0xdead_beef; 512]; ARENA_FRAMES], free, live: 0, limit: usize::MAX }
    }

    fn view(&mut self) -> OffsetMemory {
        let host = self.mem.as_mut_ptr() as u64;
        // SAFETY: every frame the allocator hands out lies in `mem`, which outlives
        // the page table in each test and is not otherwise referenced meanwhile.
        unsafe { OffsetMemory::new(host.wrapping_sub(ARENA_BASE)) }
    }
}

impl FrameAllocator for Arena {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        if self.live >= self.limit {
            return None;
        }
        let f = self.free.pop()?;
        self.live += 1;
        Some(f)
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        assert!(!self.free.contains(&frame), "double free of {frame}");
        self.live -= 1;
        self.free.push(frame);
    }
}

fn table(mode: Mode, arena: &mut Arena) -> PageTable<Riscv, OffsetMemory> {
    let view = arena.view();
    PageTable::new(Riscv::new(mode), view, arena).unwrap()
}

fn kva(mode: Mode, offset: u64) -> VirtAddr {
    VirtAddr::new(mode.geometry().kernel_half_start().as_u64() + offset)
}

/// The range `[va, va + len)`.
fn vr(va: VirtAddr, len: u64) -> VirtRange {
    VirtRange::new(va, len).unwrap()
}

fn pa(raw: u64) -> PhysAddr {
    PhysAddr::new(raw).unwrap()
}

type Snapshot = (Vec<Mapping>, TableStats, usize);

fn snapshot(pt: &PageTable<Riscv, OffsetMemory>, arena: &Arena) -> Snapshot {
    (pt.mappings().collect::<Result<_, _>>().unwrap(), pt.stats().unwrap(), arena.live)
}

mod mapping {
    use super::*;

    #[test]
    fn a_new_table_needs_an_aligned_root_frame() {
        let mut arena = Arena::new();
        let view = arena.view();
        arena.limit = 0;
        assert_eq!(
            PageTable::new(Riscv::new(Mode::Sv39), view, &mut arena).err(),
            Some(Error::OutOfFrames { va: VirtAddr::ZERO, needed: 1, got: 0 })
        );
        struct Odd;
        impl FrameAllocator for Odd {
            fn allocate_frame(&mut self) -> Option<PhysAddr> {
                PhysAddr::new(0x8000_0800).ok()
            }
            fn free_frame(&mut self, frame: PhysAddr) {
                assert_eq!(frame.as_u64(), 0x8000_0800, "the refused root goes back");
            }
        }
        assert_eq!(
            PageTable::new(Riscv::new(Mode::Sv39), view, &mut Odd).err(),
            Some(Error::Misaligned { what: "root table frame", value: 0x8000_0800, align: 4096 })
        );
    }

    #[test]
    fn every_page_size_translates_at_its_first_and_last_byte() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            for (i, size) in mode.geometry().page_sizes().enumerate() {
                let va = kva(mode, size.bytes() * (2 * i as u64 + 2));
                let target = pa(size.bytes() * (i as u64 + 1));
                pt.map(va, target, size, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
                for off in [0, size.bytes() - 1] {
                    let t = pt.translate(va.wrapping_add(off)).unwrap();
                    assert_eq!(
                        (t.pa.as_u64(), t.size, t.attrs),
                        (target.as_u64() + off, size, Attrs::KERNEL_RW)
                    );
                }
                assert_eq!(
                    pt.translate(va.wrapping_add(size.bytes())),
                    Err(Error::NotMapped { va: va.wrapping_add(size.bytes()) })
                );
            }
            assert_eq!(mode.geometry().page_sizes().count(), mode.levels() as usize);
        }
    }

    #[test]
    fn the_lower_half_maps_too() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = VirtAddr::new(0x1000);
            pt.map(
                va,
                pa(0x9000_0000),
                PageSize::Size4K,
                Attrs::READ | Attrs::USER | Attrs::ACCESSED,
                &mut arena,
            )
            .unwrap()
            .ignore();
            assert_eq!(pt.translate(VirtAddr::new(0x1234)).unwrap().pa.as_u64(), 0x9000_0234);
            assert_eq!(pt.mappings().next().unwrap().unwrap().va, va);
        }
    }

    #[test]
    fn bad_requests_are_refused_with_what_and_where() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0);
            let rw = Attrs::KERNEL_RW;
            let err = |r: Result<crate::paging::Flush, Error>| r.unwrap_err();
            assert_eq!(
                err(pt.map(va.wrapping_add(0x1000), pa(0), PageSize::Size2M, rw, &mut arena)),
                Error::Misaligned { what: "virtual address", value: va.as_u64() + 0x1000, align: 0x20_0000 }
            );
            assert_eq!(
                err(pt.map(va, pa(0x1000), PageSize::Size2M, rw, &mut arena)),
                Error::Misaligned { what: "physical address", value: 0x1000, align: 0x20_0000 }
            );
            let hole = VirtAddr::new(mode.geometry().user_half_end());
            assert_eq!(
                err(pt.map(hole, pa(0), PageSize::Size4K, rw, &mut arena)),
                Error::NonCanonical { va: hole, va_bits: mode.va_bits() }
            );
            assert_eq!(
                err(pt.map(va, pa(0), PageSize::Size4K, Attrs::WRITE, &mut arena)),
                Error::InvalidAttributes { reason: "a RISC-V leaf must be readable or executable" }
            );
            if mode == Mode::Sv39 {
                assert_eq!(
                    err(pt.map(va, pa(0), PageSize::Size512G, rw, &mut arena)),
                    Error::UnsupportedPageSize { size: PageSize::Size512G, levels: 3 }
                );
            }
            assert_eq!(arena.live, 1, "refusals take no frames");
        }
    }

    #[test]
    fn a_mapping_in_the_way_is_reported_and_nothing_changes() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0x4000_0000);
            pt.map(va.wrapping_add(0x3000), pa(0x8000_0000), PageSize::Size4K, Attrs::KERNEL_RO, &mut arena)
                .unwrap()
                .ignore();
            let before = snapshot(&pt, &arena);
            assert_eq!(
                pt.map(va, pa(0), PageSize::Size2M, Attrs::KERNEL_RW, &mut arena).unwrap_err(),
                Error::AlreadyMapped { va, level: 1 }
            );
            assert_eq!(
                pt.map(va.wrapping_add(0x3000), pa(0), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena)
                    .unwrap_err(),
                Error::AlreadyMapped { va: va.wrapping_add(0x3000), level: 0 }
            );
            // A 4 KiB page inside an existing 2 MiB leaf meets the leaf one level up.
            let big = kva(mode, 0x8000_0000);
            pt.map(big, pa(0x4000_0000), PageSize::Size2M, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
            let before_big = snapshot(&pt, &arena);
            assert_eq!(
                pt.map(big.wrapping_add(0x5000), pa(0), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena)
                    .unwrap_err(),
                Error::AlreadyMapped { va: big.wrapping_add(0x5000), level: 1 }
            );
            assert_eq!(snapshot(&pt, &arena), before_big);
            assert_ne!(before, before_big);
        }
    }

    #[test]
    fn running_out_of_frames_half_way_down_undoes_the_new_tables() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let before = snapshot(&pt, &arena);
            arena.limit = 2; // the root and one more: not enough for a 4 KiB leaf
            let va = kva(mode, 0x1234_5000);
            let needed = u64::from(mode.levels() - 1);
            assert_eq!(
                pt.map(va, pa(0x8000_0000), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena).unwrap_err(),
                Error::OutOfFrames { va, needed, got: 1 }
            );
            assert_eq!(snapshot(&pt, &arena), before);
        }
    }
}

mod ranges {
    use super::*;

    #[test]
    fn the_largest_leaf_that_alignment_and_length_allow() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            // 4 KiB short of 2 MiB boundary, then 2 MiB pieces, then a 1 GiB leaf, then a 4 KiB tail.
            let va = kva(mode, 0x3fe0_0000 - 0x1000);
            let len = 0x1000 + 0x20_0000 + (1 << 30) + 0x1000;
            pt.map_range(
                vr(va, len),
                pa(0x7fe0_0000 - 0x1000),
                Attrs::KERNEL_RW,
                PageSize::Size256T,
                &mut arena,
            )
            .unwrap()
            .ignore();
            let stats = pt.stats().unwrap();
            assert_eq!(stats.leaves[..3], [2, 1, 1], "{mode}");
            assert_eq!(stats.mapped_bytes(), len);
            let t = pt.translate(va.wrapping_add(len - 1)).unwrap();
            assert_eq!(t.pa.as_u64(), 0x7fe0_0000 - 0x1000 + len - 1);
        }
    }

    #[test]
    fn the_cap_and_a_misaligned_physical_address_force_smaller_leaves() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0);
            pt.map_range(vr(va, 4 << 20), pa(0x8000_0000), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
                .unwrap()
                .ignore();
            assert_eq!(pt.stats().unwrap().leaves[..2], [1024, 0]);
            let va2 = kva(mode, 1 << 30);
            pt.map_range(vr(va2, 4 << 20), pa(0x8010_0000), Attrs::KERNEL_RW, PageSize::Size1G, &mut arena)
                .unwrap()
                .ignore();
            assert_eq!(pt.stats().unwrap().leaves[..2], [2048, 0]);
        }
    }

    #[test]
    fn a_conflict_half_way_leaves_everything_as_it_was() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0x4000_0000);
            let blocker = va.wrapping_add(0x30_0000);
            pt.map(blocker, pa(0), PageSize::Size4K, Attrs::KERNEL_RO, &mut arena).unwrap().ignore();
            let before = snapshot(&pt, &arena);
            assert_eq!(
                pt.map_range(
                    vr(va, 8 << 20),
                    pa(0x1_0000_0000),
                    Attrs::KERNEL_RW,
                    PageSize::Size1G,
                    &mut arena
                )
                .unwrap_err(),
                Error::AlreadyMapped { va: blocker, level: 0 }
            );
            assert_eq!(snapshot(&pt, &arena), before);
        }
    }

    #[test]
    fn running_out_of_frames_changes_nothing_and_returns_every_frame() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let before = snapshot(&pt, &arena);
            // 8 MiB at 4 KiB: 4 leaf tables plus the path: more than 3 frames.
            arena.limit = 4;
            let va = kva(mode, 0);
            let needed = 4 + u64::from(mode.levels() - 2);
            assert_eq!(
                pt.map_range(
                    vr(va, 8 << 20),
                    pa(0x8000_0000),
                    Attrs::KERNEL_RW,
                    PageSize::Size4K,
                    &mut arena
                )
                .unwrap_err(),
                Error::OutOfFrames { va, needed, got: 3 }
            );
            assert_eq!(snapshot(&pt, &arena), before);
            arena.limit = usize::MAX;
            pt.map_range(vr(va, 8 << 20), pa(0x8000_0000), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
                .unwrap()
                .ignore();
            assert_eq!(arena.live as u64, 1 + needed, "the plan counts exactly");
        }
    }

    #[test]
    fn ranges_are_checked_before_anything_happens() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            // Wrapping past 2^64 is not a range at all; leaving the lower half is the mode's refusal.
            let top = VirtAddr::new(u64::MAX - 0xfff);
            assert!(matches!(VirtRange::new(top, 0x2000), Err(Error::BadVirtRange { .. })));
            let edge = VirtAddr::new(mode.geometry().user_half_end() - 0x1000);
            assert_eq!(
                pt.map_range(vr(edge, 0x2000), pa(0), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
                    .unwrap_err(),
                Error::RangeWraps { start: edge.as_u64(), len: 0x2000 }
            );
            let va = kva(mode, 0);
            assert_eq!(
                pt.map_range(vr(va, 0x1000), pa(0x800), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
                    .unwrap_err(),
                Error::Misaligned { what: "physical address", value: 0x800, align: 0x1000 }
            );
            let wide = PhysAddr::new((1 << 56) - 0x1000).unwrap();
            assert!(matches!(
                pt.map_range(vr(va, 0x2000), wide, Attrs::KERNEL_RW, PageSize::Size4K, &mut arena),
                Err(Error::PhysAddrUnencodable { .. })
            ));
            // An empty range cannot be asked for.
            assert!(matches!(VirtRange::new(va, 0), Err(Error::BadVirtRange { .. })));
            assert_eq!(arena.live, 1);
        }
    }

    #[test]
    fn flushes_name_each_page_until_the_batch_overflows() {
        let mode = Mode::Sv48;
        let mut arena = Arena::new();
        let mut pt = table(mode, &mut arena);
        let va = kva(mode, 0);
        let f =
            pt.map_range(vr(va, 3 * 4096), pa(0), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena).unwrap();
        assert_eq!(f.addresses().collect::<Vec<_>>(), [va, va.wrapping_add(0x1000), va.wrapping_add(0x2000)]);
        let f = pt.map_range(
            vr(va.wrapping_add(1 << 30), 1 << 20),
            pa(0),
            Attrs::KERNEL_RW,
            PageSize::Size4K,
            &mut arena,
        );
        assert!(f.unwrap().is_all());
    }
}

mod unmapping {
    use super::*;

    #[test]
    fn unmapping_everything_returns_every_frame_but_the_root() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0x1_0000_0000);
            let len = (1 << 30) + (6 << 20) + 0x3000;
            pt.map_range(vr(va, len), pa(0x4000_0000), Attrs::KERNEL_RW, PageSize::Size256T, &mut arena)
                .unwrap()
                .ignore();
            assert!(arena.live > 1);
            pt.unmap_range(vr(va, len), &mut arena).unwrap().ignore();
            assert_eq!(arena.live, 1);
            assert_eq!(pt.stats().unwrap(), TableStats { tables: 1, leaves: [0; 5], bytes: 0 });
        }
    }

    #[test]
    fn single_pages_go_and_empty_tables_with_them() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0x20_0000);
            pt.map(va, pa(0x8000_0000), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
            pt.map(va.wrapping_add(0x1000), pa(0x8000_1000), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena)
                .unwrap()
                .ignore();
            let tables = arena.live;
            assert_eq!(
                pt.unmap(va, PageSize::Size4K, &mut arena).unwrap().addresses().collect::<Vec<_>>(),
                [va]
            );
            assert_eq!(arena.live, tables, "the leaf table still holds a page");
            assert_eq!(pt.unmap(va, PageSize::Size4K, &mut arena).unwrap_err(), Error::NotMapped { va });
            pt.unmap(va.wrapping_add(0x1000), PageSize::Size4K, &mut arena).unwrap().ignore();
            assert_eq!(arena.live, 1);
        }
    }

    #[test]
    fn a_page_inside_a_huge_leaf_splits_it() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 1 << 30);
            pt.map(va, pa(1 << 30), PageSize::Size1G, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
            let hole = va.wrapping_add(0x12_3000);
            pt.unmap(hole, PageSize::Size4K, &mut arena).unwrap().ignore();
            assert_eq!(pt.translate(hole), Err(Error::NotMapped { va: hole }));
            let stats = pt.stats().unwrap();
            assert_eq!(stats.leaves[..3], [511, 511, 0]);
            assert_eq!(stats.mapped_bytes(), (1 << 30) - 4096);
            let next = hole.wrapping_add(0x1000);
            assert_eq!(pt.translate(next).unwrap().pa.as_u64(), (1 << 30) + 0x12_4000);
        }
    }

    #[test]
    fn holes_are_skipped_and_splits_that_cannot_get_frames_change_nothing() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0);
            pt.map(va, pa(0), PageSize::Size2M, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
            pt.map(va.wrapping_add(8 << 20), pa(8 << 20), PageSize::Size2M, Attrs::KERNEL_RW, &mut arena)
                .unwrap()
                .ignore();
            let before = snapshot(&pt, &arena);
            arena.limit = arena.live; // no frame for the split
            let cut = va.wrapping_add(0x1000);
            assert_eq!(
                pt.unmap_range(vr(cut, 9 << 20), &mut arena).unwrap_err(),
                Error::OutOfFrames { va: cut, needed: 2, got: 0 }
            );
            assert_eq!(snapshot(&pt, &arena), before);
            arena.limit = usize::MAX;
            pt.unmap_range(vr(cut, 9 << 20), &mut arena).unwrap().ignore();
            let left: Vec<_> = pt.mappings().map(|m| m.unwrap().va).collect();
            assert_eq!(left.first(), Some(&va));
            assert_eq!(
                pt.stats().unwrap().mapped_bytes(),
                0x1000 + (2 << 20) - (0x1000 + (1 << 20)) + 0x1000 - 0x1000
            );
        }
    }
}

mod protecting {
    use super::*;

    #[test]
    fn protect_changes_attributes_and_splits_edges() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0);
            pt.map_range(vr(va, 4 << 20), pa(0x8000_0000), Attrs::KERNEL_RW, PageSize::Size2M, &mut arena)
                .unwrap()
                .ignore();
            let part = va.wrapping_add(0x1f_f000);
            pt.protect_range(vr(part, 0x2000), Attrs::KERNEL_RO, &mut arena).unwrap().ignore();
            assert_eq!(pt.translate(part).unwrap().attrs, Attrs::KERNEL_RO);
            assert_eq!(pt.translate(part.wrapping_add(0x1000)).unwrap().attrs, Attrs::KERNEL_RO);
            assert_eq!(pt.translate(part.wrapping_add(0x2000)).unwrap().attrs, Attrs::KERNEL_RW);
            assert_eq!(pt.translate(part.wrapping_add(0x2000)).unwrap().pa.as_u64(), 0x8020_1000);
            assert_eq!(pt.stats().unwrap().leaves[..2], [1024, 0]);
        }
    }

    #[test]
    fn a_hole_refuses_the_whole_range() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0);
            pt.map(va, pa(0), PageSize::Size2M, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
            let before = snapshot(&pt, &arena);
            let hole = va.wrapping_add(2 << 20);
            assert_eq!(
                pt.protect_range(vr(va.wrapping_add(0x1000), 4 << 20), Attrs::KERNEL_RO, &mut arena)
                    .unwrap_err(),
                Error::NotMapped { va: hole }
            );
            assert_eq!(snapshot(&pt, &arena), before);
            assert!(matches!(
                pt.protect_range(vr(va, 4096), Attrs::WRITE, &mut arena),
                Err(Error::InvalidAttributes { .. })
            ));
        }
    }
}

mod walking {
    use super::*;

    #[test]
    fn mappings_come_in_address_order_with_sign_extended_addresses() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let wanted = [
                (VirtAddr::new(0x40_0000), PageSize::Size2M),
                (kva(mode, 0), PageSize::Size4K),
                (VirtAddr::new(u64::MAX - 0xfff), PageSize::Size4K),
            ];
            for (i, (va, size)) in wanted.iter().rev().enumerate() {
                pt.map(*va, pa(0x20_0000 * i as u64), *size, Attrs::KERNEL_RO, &mut arena).unwrap().ignore();
            }
            let got: Vec<_> =
                pt.mappings().map(|m| m.map(|m| (m.va, m.size))).collect::<Result<_, _>>().unwrap();
            assert_eq!(got, wanted);
        }
    }

    #[test]
    fn a_reserved_entry_is_reported_by_every_walk() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let va = kva(mode, 0);
            pt.map(va, pa(0), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
            // Corrupt the leaf: W without R is reserved.
            let leaf_table = {
                let mut t = pt.root();
                for level in (1..mode.levels()).rev() {
                    let raw = pt.entry(t, crate::paging::Geometry::index(va.as_u64(), level));
                    t = PhysAddr::new_truncate((raw >> 10) << 12);
                }
                t
            };
            let idx = crate::paging::Geometry::index(va.as_u64(), 0);
            let raw = 0b101; // V | W
            pt.set_entry(leaf_table, idx, raw);
            let corrupt = Error::CorruptEntry { va, level: 0, raw };
            assert_eq!(pt.translate(va), Err(corrupt));
            assert_eq!(pt.mappings().next(), Some(Err(corrupt)));
            assert_eq!(pt.protect_range(vr(va, 4096), Attrs::KERNEL_RO, &mut arena).unwrap_err(), corrupt);
            assert_eq!(pt.unmap_range(vr(va, 4096), &mut arena).unwrap_err(), corrupt);
            assert!(pt.stats().is_err());
        }
    }

    #[test]
    fn destroy_frees_every_table() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            pt.map_range(vr(kva(mode, 0), 8 << 20), pa(0), Attrs::KERNEL_RW, PageSize::Size4K, &mut arena)
                .unwrap()
                .ignore();
            pt.map(VirtAddr::new(0x1000), pa(0), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena)
                .unwrap()
                .ignore();
            pt.destroy(&mut arena);
            assert_eq!(arena.live, 0);
        }
    }
}

mod pinning {
    use super::*;

    #[test]
    fn populated_tables_exist_up_front_and_survive_every_unmap() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let top = mode.geometry().root_level() - 1;
            let span = crate::paging::Geometry::granularity(top + 1);
            // Four root entries' worth, as a kernel does for vmalloc.
            let va = kva(mode, 0);
            assert_eq!(pt.populate(vr(va, 4 * span), top, &mut arena), Ok(4));
            assert_eq!(arena.live, 5);
            assert_eq!(pt.populate(vr(va, 4 * span), top, &mut arena), Ok(0), "idempotent");
            // An empty pinned table maps nothing: unmapping a root-sized page there
            // is still NotMapped (the range path removes nothing).
            let root_size = PageSize::from_level(top + 1).unwrap();
            assert_eq!(pt.unmap(va, root_size, &mut arena).unwrap_err(), Error::NotMapped { va });
            // Mapping below them needs no new table at the top level.
            pt.map(va.wrapping_add(span), pa(0), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena)
                .unwrap()
                .ignore();
            let below = arena.live - 5;
            assert_eq!(below as u8, top, "only the levels below the pinned table");
            pt.unmap(va.wrapping_add(span), PageSize::Size4K, &mut arena).unwrap().ignore();
            assert_eq!(arena.live, 5, "the single-page path keeps pinned tables");
            // Largest leaves over a pinned table: one level down, inside it.
            pt.map_range(
                vr(va.wrapping_add(3 * span), span),
                pa(0),
                Attrs::KERNEL_RW,
                PageSize::Size256T,
                &mut arena,
            )
            .unwrap()
            .ignore();
            let stats = pt.stats().unwrap();
            assert_eq!((stats.tables, stats.leaves[top as usize]), (5, 512));
            pt.map(va.wrapping_add(0x20_0000), pa(0), PageSize::Size2M, Attrs::KERNEL_RW, &mut arena)
                .unwrap()
                .ignore();
            pt.unmap_range(vr(va, 4 * span), &mut arena).unwrap().ignore();
            assert_eq!(arena.live, 5, "the range path keeps pinned tables too");
            assert_eq!(pt.stats().unwrap().tables, 5);
            pt.destroy(&mut arena);
            assert_eq!(arena.live, 0, "destroy frees pinned tables");
        }
    }

    #[test]
    fn populate_refuses_leaves_in_the_way_and_changes_nothing() {
        for mode in MODES {
            let mut arena = Arena::new();
            let mut pt = table(mode, &mut arena);
            let root_level = mode.geometry().root_level();
            let top = root_level - 1;
            let va = kva(mode, 0);
            let span = crate::paging::Geometry::granularity(top + 1);
            // A root-level leaf in the range.
            let big = PageSize::from_level(root_level).unwrap();
            pt.map(va.wrapping_add(span), pa(0), big, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
            let before = snapshot(&pt, &arena);
            assert_eq!(
                pt.populate(vr(va, 2 * span), top, &mut arena),
                Err(Error::AlreadyMapped { va: va.wrapping_add(span), level: root_level })
            );
            assert_eq!(snapshot(&pt, &arena), before);
            // Out of frames: nothing changes either.
            arena.limit = arena.live;
            assert_eq!(
                pt.populate(vr(va, span), top, &mut arena),
                Err(Error::OutOfFrames { va, needed: 1, got: 0 })
            );
            assert_eq!(snapshot(&pt, &arena), before);
            assert_eq!(
                pt.populate(vr(va, span), root_level, &mut arena),
                Err(Error::InvalidGeometry { reason: "populate needs a level below the root" })
            );
        }
    }
}

mod hints {
    use super::*;

    #[test]
    fn a_freed_table_is_never_written_through_a_stale_hint() {
        for mode in MODES {
            for size in [PageSize::Size4K, PageSize::Size2M] {
                let mut arena = Arena::new();
                let mut pt = table(mode, &mut arena);
                let va = kva(mode, 0x4000_0000);
                // Remember the table, free it (single page, then range), map next door.
                pt.map(va, pa(0), size, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
                pt.unmap(va, size, &mut arena).unwrap().ignore();
                assert_eq!(arena.live, 1);
                let next = va.wrapping_add(size.bytes());
                pt.map(next, pa(size.bytes()), size, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
                assert_eq!(pt.translate(next).map(|t| t.pa.as_u64()), Ok(size.bytes()), "{mode} {size}");
                pt.unmap_range(vr(next, size.bytes()), &mut arena).unwrap().ignore();
                assert_eq!(arena.live, 1);
                pt.map(va, pa(0), size, Attrs::KERNEL_RW, &mut arena).unwrap().ignore();
                assert_eq!(pt.translate(va).map(|t| t.size), Ok(size), "{mode} {size}");
            }
        }
    }

    /// The three ways a single page gets new tables (`map` from the root, `map`
    /// from the level-1 hint over an empty level-1 entry, `VacantEntry::map`
    /// from where `entry_at` stopped) go through `fill_hole`: each takes every
    /// table it needs or none (the frames it took go back), and afterwards the
    /// level-0 and level-1 hints name the tables the new leaf lives in.
    #[test]
    fn every_way_to_new_tables_takes_them_all_or_none_and_leaves_the_hints_on_them() {
        use crate::paging::Entry;
        #[derive(Clone, Copy, Debug)]
        enum Way {
            MapFromRoot,
            MapFromLevel1Hint,
            VacantEntry,
        }
        for mode in MODES {
            for way in [Way::MapFromRoot, Way::MapFromLevel1Hint, Way::VacantEntry] {
                let mut arena = Arena::new();
                let mut pt = table(mode, &mut arena);
                let first = kva(mode, 0x4000_0000);
                // Another 2 MiB of the same 1 GiB: a level-1 table exists, no level-0 one.
                let va = first.wrapping_add(0x20_0000 * 7 + 0x3000);
                let needed = match way {
                    Way::MapFromRoot => u64::from(mode.levels() - 1),
                    Way::MapFromLevel1Hint | Way::VacantEntry => {
                        pt.map(first, pa(0x10_0000), PageSize::Size4K, Attrs::KERNEL_RW, &mut arena)
                            .unwrap()
                            .ignore();
                        1
                    }
                };
                let map = |pt: &mut PageTable<Riscv, OffsetMemory>, arena: &mut Arena| match way {
                    Way::MapFromRoot | Way::MapFromLevel1Hint => {
                        pt.map(va, pa(0x20_0000), PageSize::Size4K, Attrs::KERNEL_RW, arena)
                    }
                    Way::VacantEntry => match pt.entry_at(va) {
                        Ok(Entry::Vacant(entry)) => {
                            entry.map(pa(0x20_0000), Attrs::KERNEL_RW, PageSize::Size4K, arena)
                        }
                        Ok(Entry::Occupied(t)) => panic!("{t:?}"),
                        Err(e) => Err(e),
                    },
                };
                let before = snapshot(&pt, &arena);
                let live = arena.live;
                arena.limit = live + needed as usize - 1;
                assert_eq!(
                    map(&mut pt, &mut arena).unwrap_err(),
                    Error::OutOfFrames { va, needed, got: needed - 1 },
                    "{mode} {way:?}"
                );
                assert_eq!((snapshot(&pt, &arena), arena.live), (before, live), "{mode} {way:?}");
                arena.limit = usize::MAX;
                map(&mut pt, &mut arena).unwrap().ignore();
                assert_eq!(arena.live, live + needed as usize, "{mode} {way:?}");
                assert_eq!(pt.translate(va).map(|t| t.pa.as_u64()), Ok(0x20_0000), "{mode} {way:?}");
                let leaf = pt.leaf_entry_at(va).unwrap();
                assert_eq!(pt.hints[0].lookup::<u64>(0, va), Some(leaf.table), "{mode} {way:?}");
                let path = pt.path(va, 0);
                assert_eq!(path[0].0, leaf.table);
                assert_eq!(pt.hints[1].lookup::<u64>(1, va), Some(path[1].0), "{mode} {way:?}");
            }
        }
    }
}

mod translating;

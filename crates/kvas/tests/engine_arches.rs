//! The engine on every format, scenario by scenario, each answer checked by
//! that architecture's MMU model (see `engine_targets`): every leaf size, a
//! user page, a split by a partial unmap, a protect, and no leaked frame; on
//! arm64 also which changes go through break-before-make and which do not.

use kvas::arch::aarch64::{Mode as ArmMode, Range};
use kvas::arch::riscv::Mode;
use kvas::arch::riscv32::Sv32;
use kvas::arch::x86_64::Mode as X86Mode;
use kvas::paging::{Attrs, EntryWord, PageTable, TableFormat};
use kvas::sim::{Access, Ram, TrackingAllocator};
use kvas::{Error, PageSize, PhysAddr, VirtAddr, VirtRange};

#[path = "engine_targets/mod.rs"]
mod engine_targets;
use engine_targets::{Arm, Target, ARM};

const USER_RW: Attrs =
    Attrs::READ.union(Attrs::WRITE).union(Attrs::USER).union(Attrs::ACCESSED).union(Attrs::DIRTY);

/// Maps 1 GiB + 2 MiB + 8 KiB starting one page below a 1 GiB boundary, so
/// that every leaf size up to 1 GiB appears; checks all of it with the oracle,
/// splits the middle, checks again, and frees everything.
fn scenario<T: Target>(target: T) {
    let ram = Ram::new();
    let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 24).unwrap();
    let mut pt = PageTable::new(target.format(), &ram, &mut frames).unwrap();
    let base = target.base();
    let (va, pa, len) = (base + (1 << 30) - 0x1000, 0x8000_0000 - 0x1000, (1 << 30) + (2 << 20) + 0x2000);
    pt.map_range(
        VirtRange::new(VirtAddr::new(va), len).unwrap(),
        PhysAddr::new(pa).unwrap(),
        Attrs::KERNEL_RW,
        PageSize::Size1G,
        &mut frames,
    )
    .unwrap()
    .ignore();
    let user = base + 0x40_0000;
    pt.map(VirtAddr::new(user), PhysAddr::new(0x9000_0000).unwrap(), PageSize::Size4K, USER_RW, &mut frames)
        .unwrap()
        .ignore();
    assert_eq!(&pt.stats().unwrap().leaves[..3], &[3, 1, 1], "{target:?}");
    // The entries say what was asked, so the oracle below judges the right thing.
    for m in pt.mappings().map(Result::unwrap) {
        let asked = if m.va.as_u64() == user { USER_RW } else { Attrs::KERNEL_RW };
        assert_eq!(m.attrs, asked, "{target:?} {}", m.va);
    }
    let root = pt.root();
    let check = |pt: &PageTable<T::F, &Ram>| {
        let mut n = 0;
        for m in pt.mappings() {
            let m = m.unwrap();
            for off in [0, m.size.bytes() - 1] {
                let at = m.va.as_u64() + off;
                for access in Access::ALL {
                    for user in [false, true] {
                        let hw = target.hw_in(&ram, root, at, access, user);
                        let allowed = if user {
                            target.allows_user(m.attrs, access)
                        } else {
                            target.allows(m.attrs, access)
                        };
                        let want = allowed.then_some(m.pa.as_u64() + off);
                        assert_eq!(hw.map(|h| h.0), want, "{target:?} {at:#x} {access:?} user {user}");
                    }
                }
                assert_eq!(target.hw(&ram, root, at, Access::Load).map(|h| h.1), Some(m.size.level()));
            }
            n += 1;
        }
        n
    };
    assert_eq!(check(&pt), 5);
    assert_eq!(target.hw(&ram, root, va - 1, Access::Load), None, "{target:?}: below the range");
    // Unmapping 2 MiB inside the gigabyte splits it; the rest still translates.
    pt.unmap_range(VirtRange::new(VirtAddr::new(va + 0x1000 + (4 << 20)), 2 << 20).unwrap(), &mut frames)
        .unwrap()
        .ignore();
    assert!(check(&pt) > 5);
    assert_eq!(target.hw(&ram, root, va + 0x1000 + (5 << 20), Access::Load), None);
    // Read-only now: stores fault, loads still land.
    pt.protect_range(VirtRange::new(VirtAddr::new(va), 0x1000).unwrap(), Attrs::KERNEL_RO, &mut frames)
        .unwrap()
        .ignore();
    assert_eq!(target.hw(&ram, root, va, Access::Store), None, "{target:?}");
    assert_eq!(target.hw(&ram, root, va, Access::Load).map(|h| h.0), Some(pa));
    pt.destroy(&mut frames);
    assert_eq!((frames.live(), frames.misuse()), (0, &[][..]), "{target:?}");
}

#[test]
fn every_depth_of_every_architecture_builds_what_its_mmu_translates() {
    for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
        scenario(mode);
    }
    for mode in X86Mode::ALL {
        scenario(mode);
    }
    for arm in ARM {
        scenario(arm);
    }
}

/// Each format's geometry has the index width of its entry word (the
/// contract `PageTable::new` asserts only in debug builds).
#[test]
fn every_format_s_geometry_matches_its_entry_width() {
    fn width<T: Target>(target: T) {
        let bits = <<T::F as TableFormat>::Entry as EntryWord>::INDEX_BITS;
        assert_eq!(target.geometry().index_bits(), bits, "{target:?}");
        assert_eq!(target.geometry().entries(), <<T::F as TableFormat>::Entry as EntryWord>::ENTRIES);
    }
    [Mode::Sv39, Mode::Sv48, Mode::Sv57].into_iter().for_each(width);
    X86Mode::ALL.into_iter().for_each(width);
    ARM.into_iter().for_each(width);
    width(Sv32);
    assert_eq!(kvas::arch::riscv32::GEOMETRY.index_bits(), 10);
}

/// Sv32: 4 MiB megapages and 1024-entry tables, above 4 GiB of physical
/// memory, every leaf checked by the Sv32 oracle.
#[test]
fn sv32_builds_what_its_mmu_translates() {
    let ram = Ram::new();
    let mut frames = TrackingAllocator::new(PhysAddr::new(0x3_0000_0000).unwrap(), 1 << 24).unwrap();
    let mut pt = PageTable::new(Sv32, &ram, &mut frames).unwrap();
    let (va, pa, len) = (0xc000_0000 - 0x1000, 0x2_0000_0000 - 0x1000, (4 << 20) + 0x2000);
    let pa_at = PhysAddr::new(pa).unwrap();
    pt.map_range(
        VirtRange::new(VirtAddr::new(va), len).unwrap(),
        pa_at,
        Attrs::KERNEL_RW,
        PageSize::Size4M,
        &mut frames,
    )
    .unwrap()
    .ignore();
    pt.map(
        VirtAddr::new(0x40_0000),
        PhysAddr::new(0x9000_0000).unwrap(),
        PageSize::Size4K,
        USER_RW,
        &mut frames,
    )
    .unwrap()
    .ignore();
    let stats = pt.stats().unwrap();
    assert_eq!((&stats.leaves[..2], stats.tables), (&[3, 1][..], 4), "the root and three level-0 tables");
    assert_eq!(stats.mapped_bytes(), len + 0x1000);
    let root = pt.root();
    let check = |pt: &PageTable<Sv32, &Ram>| {
        let mut sizes = Vec::new();
        for m in pt.mappings().map(Result::unwrap) {
            for off in [0, m.size.bytes() - 1] {
                let at = m.va.as_u64() + off;
                for (access, user) in Access::ALL.into_iter().flat_map(|a| [(a, false), (a, true)]) {
                    let allowed =
                        if user { Sv32.allows_user(m.attrs, access) } else { Sv32.allows(m.attrs, access) };
                    let hw = Sv32.hw_in(&ram, root, at, access, user).map(|h| (h.0, h.1));
                    assert_eq!(
                        hw,
                        allowed.then_some((m.pa.as_u64() + off, m.size.level())),
                        "{at:#x} {access:?}"
                    );
                }
                assert_eq!(pt.translate(VirtAddr::new(at)).map(|t| t.pa.as_u64()), Ok(m.pa.as_u64() + off));
            }
            sizes.push(m.size);
        }
        sizes
    };
    use PageSize::{Size4K as K, Size4M as M};
    assert_eq!(check(&pt), [K, K, M, K]);
    // No 2 MiB leaves in Sv32; a range capped at 2 MiB gets 4 KiB leaves.
    let free = VirtAddr::new(0x8000_0000);
    assert!(matches!(
        pt.map(free, PhysAddr::new(0x20_0000).unwrap(), PageSize::Size2M, Attrs::KERNEL_RW, &mut frames),
        Err(Error::UnsupportedPageSize { .. })
    ));
    pt.map_range(
        VirtRange::new(free, 4 << 20).unwrap(),
        PhysAddr::ZERO,
        Attrs::KERNEL_RO,
        PageSize::Size2M,
        &mut frames,
    )
    .unwrap()
    .ignore();
    assert_eq!(pt.stats().unwrap().leaves[..2], [3 + 1024, 1]);
    pt.unmap_range(VirtRange::new(free, 4 << 20).unwrap(), &mut frames).unwrap().ignore();
    // 32-bit virtual and 34-bit physical addresses.
    let high = VirtAddr::new(1 << 32);
    assert_eq!(
        pt.map(high, pa_at, PageSize::Size4K, Attrs::KERNEL_RW, &mut frames),
        Err(Error::NonCanonical { va: high, va_bits: 32 })
    );
    let past = PhysAddr::new(1 << 34).unwrap();
    assert!(matches!(
        pt.map(free, past, PageSize::Size4K, Attrs::KERNEL_RW, &mut frames),
        Err(Error::PhysAddrUnencodable { max_bits: 34, .. })
    ));
    // A 4 KiB hole in the megapage splits it into 1023 pages and a hole.
    let hole = 0xc000_0000 + (1 << 20);
    pt.unmap_range(VirtRange::new(VirtAddr::new(hole), 0x1000).unwrap(), &mut frames).unwrap().ignore();
    assert_eq!(pt.stats().unwrap().leaves[..2], [3 + 1023, 0]);
    assert_eq!(check(&pt).len(), 3 + 1023);
    assert_eq!(Sv32.hw(&ram, root, hole, Access::Load), None);
    pt.destroy(&mut frames);
    assert_eq!((frames.live(), frames.misuse()), (0, &[][..]));
}

#[test]
fn addresses_outside_the_tables_range_are_refused() {
    let ram = Ram::new();
    let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 20).unwrap();
    let pa = PhysAddr::new(0x8000_0000).unwrap();
    // A TTBR1 table does not take TTBR0 addresses, and the reverse.
    let mut k = PageTable::new(Arm(ArmMode::Va48, Range::Ttbr1).format(), &ram, &mut frames).unwrap();
    let low = VirtAddr::new(0x40_0000);
    assert_eq!(
        k.map(low, pa, PageSize::Size4K, Attrs::KERNEL_RW, &mut frames),
        Err(Error::NonCanonical { va: low, va_bits: 48 })
    );
    let mut u = PageTable::new(Arm(ArmMode::Va48, Range::Ttbr0).format(), &ram, &mut frames).unwrap();
    let high = VirtAddr::new(0xffff_0000_0000_0000);
    assert!(u.map(high, pa, PageSize::Size4K, Attrs::KERNEL_RW, &mut frames).is_err());
    // x86-64 4-level: 48-bit canonical form; 5-level takes 57 bits.
    let mut x = PageTable::new(X86Mode::Level4.format(), &ram, &mut frames).unwrap();
    let l5 = VirtAddr::new(0xff11_0000_0000_0000);
    assert_eq!(
        x.map(l5, pa, PageSize::Size4K, Attrs::KERNEL_RW, &mut frames),
        Err(Error::NonCanonical { va: l5, va_bits: 48 })
    );
    // A 1 GiB page needs a PDPTE; x86-64 has no 512 GiB pages.
    assert!(matches!(
        x.map(VirtAddr::new(0xffff_8000_0000_0000), pa, PageSize::Size512G, Attrs::KERNEL_RW, &mut frames),
        Err(Error::UnsupportedPageSize { .. })
    ));
    // x86-64 cannot map a page that is not readable.
    assert!(matches!(
        x.map(VirtAddr::new(0xffff_8000_0000_0000), pa, PageSize::Size4K, Attrs::EXECUTE, &mut frames),
        Err(Error::InvalidAttributes { .. })
    ));
}

#[test]
fn arm64_breaks_before_making_only_where_the_arm_arm_asks() {
    let target = ARM[1];
    let ram = Ram::new();
    let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 20).unwrap();
    let mut pt = PageTable::new(target.format(), &ram, &mut frames).unwrap();
    let va = VirtAddr::new(0xffff_0000_4000_0000);
    let pa = PhysAddr::new(0x4000_0000).unwrap();
    pt.map(va, pa, PageSize::Size1G, Attrs::KERNEL_RW, &mut frames).unwrap().ignore();
    assert!(ram.take_breaks().is_empty(), "mapping into an empty slot breaks nothing");
    let root = pt.root();
    let leaf = |ram: &Ram| target.hw(ram, root, va.as_u64(), Access::Load).map(|h| (h.1, h.2)).unwrap();
    // A permission change: no break, and the Arm ARM asks for none.
    let old = leaf(&ram);
    pt.protect_range(VirtRange::new(va, 1 << 30).unwrap(), Attrs::KERNEL_RO, &mut frames).unwrap().ignore();
    assert!(!target.needs_break(old, leaf(&ram)));
    assert!(ram.take_breaks().is_empty(), "AP changes need no break-before-make");
    // nG changes: a break on the block.
    let old = leaf(&ram);
    pt.protect_range(VirtRange::new(va, 1 << 30).unwrap(), Attrs::KERNEL_RO - Attrs::GLOBAL, &mut frames)
        .unwrap()
        .ignore();
    assert!(target.needs_break(old, leaf(&ram)));
    let breaks = ram.take_breaks();
    assert_eq!(breaks.iter().map(|b| (b.va, b.level)).collect::<Vec<_>>(), [(va, 2)]);
    // Splitting the live block for a 4 KiB unmap: the 1 GiB block, then the
    // new 2 MiB block, each invalid when the TLB would be invalidated.
    let hole = VirtAddr::new(va.as_u64() + (3 << 20));
    pt.unmap(hole, PageSize::Size4K, &mut frames).unwrap().ignore();
    let breaks = ram.take_breaks();
    let first_2m = VirtAddr::new(va.as_u64() + (2 << 20));
    assert_eq!(breaks.iter().map(|b| (b.va, b.level)).collect::<Vec<_>>(), [(va, 2), (first_2m, 1)]);
    for b in &breaks {
        assert_eq!(target.hw(&b.memory, pt.root(), b.va.as_u64(), Access::Load), None, "{:?}", b.va);
    }
    // x86-64 and RISC-V never break.
    fn split_without_breaks<T: Target>(target: T, ram: &Ram, frames: &mut TrackingAllocator) {
        let mut x = PageTable::new(target.format(), ram, frames).unwrap();
        let (xva, pa) = (VirtAddr::new(0xffff_8000_4000_0000), PhysAddr::new(0x4000_0000).unwrap());
        x.map(xva, pa, PageSize::Size1G, Attrs::KERNEL_RW, frames).unwrap().ignore();
        x.unmap(VirtAddr::new(xva.as_u64() + (3 << 20)), PageSize::Size4K, frames).unwrap().ignore();
        assert!(ram.take_breaks().is_empty(), "{target:?}");
    }
    split_without_breaks(X86Mode::Level4, &ram, &mut frames);
    split_without_breaks(X86Mode::Level5, &ram, &mut frames);
    split_without_breaks(Mode::Sv48, &ram, &mut frames);
}

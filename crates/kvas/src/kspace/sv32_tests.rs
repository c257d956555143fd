//! The riscv32 kernel space against the independent Sv32 MMU (`sim::Sv32Mmu`), in every split.

use super::*;
use crate::arch::riscv32::Satp32;
use crate::kspace::ImageSections;
use crate::sim::{Access, Context, Ram, Sv32Mmu};

const LOAD: u64 = 0x8040_0000;

fn image() -> KernelImage {
    // 1 MiB of text, 256 KiB of rodata, 2 MiB in all (the riscv32 image is smaller).
    KernelImage {
        load: PhysAddr::new(LOAD).unwrap(),
        sections: ImageSections::contiguous(1 << 20, 256 << 10, 2 << 20),
    }
}

fn built(split: Vmsplit, ram: &str) -> (Ram, Sv32Mmu, Sv32Built, Sv32KernelSpec) {
    built_with(split, false, ram)
}

fn built_with(split: Vmsplit, separate: bool, ram: &str) -> (Ram, Sv32Mmu, Sv32Built, Sv32KernelSpec) {
    let mut map = MemoryMap::from_text(ram).unwrap();
    let mut spec = Sv32KernelSpec::new(split, image()).unwrap();
    spec.separate = separate;
    spec.device = Some(PhysAddr::new(0x10_0000).unwrap());
    spec.dtb = Some(PhysRange::new(0x9fe0_0000, 0x2000).unwrap());
    spec.prepare(&mut map).unwrap();
    let ram = Ram::new();
    let t = build_sv32(&spec, &map, &ram).unwrap();
    let satp = Satp32 { sv32: true, asid: 0, root: t.table.root() }.encode().unwrap();
    let stats = t.table.stats().unwrap();
    assert_eq!(t.built.pt_pages, stats.tables, "{split:?}: the table count is the table's");
    let sum = |l: usize| t.built.regions.iter().map(|r| r.leaves[l]).sum::<u64>();
    assert_eq!([sum(0), sum(1)], [stats.leaves[0], stats.leaves[1]], "{split:?}: leaf counts");
    let built = t.built;
    (ram, Sv32Mmu::from_satp(satp), built, spec)
}

fn can(mmu: &Sv32Mmu, ram: &Ram, va: u64, access: Access) -> Option<u64> {
    mmu.translate(ram, VirtAddr::new(va), access, Context::SUPERVISOR).ok().map(|t| t.pa.as_u64())
}

#[test]
fn every_split_maps_lowmem_the_image_wx_and_no_highmem() {
    for split in Vmsplit::ALL {
        // 2 GiB of RAM: highmem in 3g and 2g (1792 MiB of lowmem), none in 1g and 4g4g.
        let (ram, mmu, built, spec) = built(split, "0x80000000:2G");
        let po = split.page_offset();
        let window = SHARED_START - po;
        let lowmem = window.min(2 << 30);
        assert_eq!(built.linear.capped_bytes, (2u64 << 30) - lowmem, "{split:?}");
        // Every linear alias: each 4 MiB of lowmem, first and last byte, RW and never X.
        for off in (0..lowmem).step_by(PGDIR_SIZE as usize).chain([lowmem - 1]) {
            let (va, pa) = (po + off, 0x8000_0000 + off);
            assert_eq!(can(&mmu, &ram, va, Access::Load), Some(pa), "{split:?} {va:#x}");
            assert_eq!(can(&mmu, &ram, va, Access::Fetch), None, "{split:?} {va:#x} executable");
            let image = LOAD..LOAD + spec.image.sections.rodata_end;
            let store = can(&mmu, &ram, va, Access::Store);
            assert_eq!(store.is_some(), !image.contains(&pa), "{split:?} {va:#x}: text/rodata alias RO");
        }
        // Past lowmem: highmem is not mapped (below the shared top).
        if lowmem < window {
            assert_eq!(can(&mmu, &ram, po + lowmem, Access::Load), None, "{split:?}");
        }
        // The image at its link address, W^X.
        let s = spec.image.sections;
        let link = KERNEL_LINK_ADDR;
        assert_eq!(can(&mmu, &ram, link, Access::Fetch), Some(LOAD));
        assert_eq!(can(&mmu, &ram, link, Access::Store), None, "{split:?}: text writable");
        assert_eq!(can(&mmu, &ram, link + s.rodata_start, Access::Store), None);
        assert_eq!(can(&mmu, &ram, link + s.rodata_start, Access::Fetch), None);
        assert_eq!(can(&mmu, &ram, link + s.data_start, Access::Store), Some(LOAD + s.data_start));
        assert_eq!(can(&mmu, &ram, link + s.data_start, Access::Fetch), None);
        // The fixmap: finisher, DTB (read-only), nothing at FIXADDR_TOP; vmalloc and pkmap empty.
        assert_eq!(can(&mmu, &ram, FIX_DEVICE, Access::Store), Some(0x10_0000));
        assert_eq!(can(&mmu, &ram, FIX_FDT + 0x1234, Access::Load), Some(0x9fe0_1234));
        assert_eq!(can(&mmu, &ram, FIX_FDT, Access::Store), None);
        assert_eq!(can(&mmu, &ram, FIXADDR_TOP, Access::Load), None);
        assert_eq!(can(&mmu, &ram, spec.vmalloc_start(), Access::Load), None);
        assert_eq!(can(&mmu, &ram, PKMAP_BASE, Access::Load), None);
        // Under 4G/4G the first 4 MiB stay unmapped (a NULL trap); 3g leaves user space empty.
        assert_eq!(can(&mmu, &ram, 0x1000, Access::Load), None, "{split:?}");
    }
}

#[test]
fn no_page_is_writable_and_executable() {
    for split in Vmsplit::ALL {
        let mut map = MemoryMap::from_text("0x80000000:1G").unwrap();
        let spec = Sv32KernelSpec::new(split, image()).unwrap();
        spec.prepare(&mut map).unwrap();
        let ram = Ram::new();
        let t = build_sv32(&spec, &map, &ram).unwrap();
        for m in t.table.mappings() {
            let m = m.unwrap();
            assert!(!(m.attrs.contains(Attrs::WRITE) && m.attrs.contains(Attrs::EXECUTE)), "{split:?} {m:?}");
        }
    }
}

#[test]
fn the_shared_top_is_pinned_tables_or_image_leaves() {
    // 4G/4G: the most lowmem (3836 MiB window, 3 GiB of RAM all lowmem).
    let (ram, mmu, built, _) = built(Vmsplit::G4G4, "0x80000000:3G");
    assert_eq!(built.linear.capped_bytes, 0);
    assert_eq!(can(&mmu, &ram, 0x0040_0000, Access::Load), Some(0x8000_0000));
    assert_eq!(can(&mmu, &ram, 0x0040_0000 + (3 << 30) - 1, Access::Load), Some(0x8000_0000 + (3 << 30) - 1));
    // vmalloc from the image's 4 MiB up: 244 - 4 = 240 MiB = 60 tables; pkmap 1; fixmap 2.
    assert_eq!(built.region(Sv32Region::Vmalloc).tables, 60);
    assert_eq!(built.region(Sv32Region::Pkmap).tables, 1);
    assert_eq!(built.region(Sv32Region::Fixmap).tables, 2);
    let root = Satp32::decode(mmu.satp()).root;
    for i in SHARED_ROOT_ENTRIES {
        let mut bytes = [0u8; 4];
        ram.read_bytes(PhysAddr::new(root.as_u64() + 4 * i as u64).unwrap(), &mut bytes).unwrap();
        let raw = u32::from_le_bytes(bytes);
        assert!(raw & 1 == 1, "root entry {i} empty: a user root could not share it");
        let leaf = raw & 0xe != 0;
        assert!(
            leaf || raw & (1 << 8) != 0 || i == SHARED_ROOT_ENTRIES.start,
            "entry {i} {raw:#x} not pinned"
        );
    }
}

#[test]
fn bad_images_are_refused() {
    let odd = KernelImage { load: PhysAddr::new(0x8020_0000).unwrap(), ..image() };
    assert!(matches!(Sv32KernelSpec::new(Vmsplit::G3, odd), Err(Error::Misaligned { .. })));
    let huge = KernelImage { sections: ImageSections::contiguous(1 << 20, 0, 250 << 20), ..image() };
    assert!(matches!(Sv32KernelSpec::new(Vmsplit::G3, huge), Err(Error::KernelTooLarge { .. })));
}

/// The global leaves of `mmu`'s tables, as (first address, size, global), walked through
/// the simulator from 0 to 4 GiB.
fn leaves(mmu: &Sv32Mmu, ram: &Ram) -> Vec<(u64, u64, bool)> {
    let mut out = Vec::new();
    let mut va = 0u64;
    while va < 1 << 32 {
        match mmu
            .translate(ram, VirtAddr::new(va), Access::Load, Context::SUPERVISOR)
            .ok()
            .and_then(|t| t.leaf)
        {
            Some(leaf) => {
                out.push((va, leaf.size(), leaf.pte & (1 << 5) != 0));
                va += leaf.size();
            }
            None => va += PAGE_SIZE,
        }
    }
    out
}

#[test]
fn the_linear_map_is_global_only_where_every_space_shares_it() {
    for (split, separate, ram_text) in [
        (Vmsplit::G4G4, false, "0x80000000:3G"),
        (Vmsplit::G4G4, false, "0x80000000:1536M"),
        (Vmsplit::G3, false, "0x80000000:1536M"),
        (Vmsplit::G3, true, "0x80000000:1536M"),
        (Vmsplit::G1, true, "0x80000000:512M"),
    ] {
        let (ram, mmu, _, spec) = built_with(split, separate, ram_text);
        // Global below the top only where every address space maps the linear map.
        let shared = split != Vmsplit::G4G4 && !separate;
        let all = leaves(&mmu, &ram);
        let (below, top): (Vec<&(u64, u64, bool)>, Vec<_>) =
            all.iter().partition(|(va, _, _)| *va < SHARED_START);
        assert!(!below.is_empty() && !top.is_empty(), "{split:?}: leaves below and in the shared top");
        // Under 4G/4G the linear map overlaps user addresses, and separate roots leave it
        // out: no global leaf below the top then.
        let global_below = below.iter().filter(|l| l.2).count();
        assert_eq!(
            global_below == 0,
            !shared,
            "{split:?} separate {separate}: {global_below} global leaves below 0xf0000000"
        );
        assert_eq!(spec.linear_global(), shared);
        // The shared top (image, fixmap) stays global in every split.
        assert!(top.iter().all(|l| l.2), "{split:?}: a leaf of the shared top is not global");
    }
}

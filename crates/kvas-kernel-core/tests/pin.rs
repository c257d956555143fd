//! Pinned uaccess (`user::pin`) against the spec-exact MMUs: for every byte of a range, the
//! chunks name the frame the MMU translates it to under a supervisor access with `SUM = 1`,
//! up to the first byte a SUM copy faults on, which is the fault `pin` reports. Sv32 (the
//! 4G/4G target) and Sv39, with random user tables and hostile ranges.

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::arch::riscv32::{Satp32, Sv32};
use kvas::paging::{Attrs, PageTable, TableFormat};
use kvas::sim::{Access, Context, Mmu, Ram, Sv32Mmu, TrackingAllocator};
use kvas::{PageSize, PhysAddr, VirtAddr};
use kvas_kernel_core::user::pin::{copy_pinned, pin, Direction, OutsideUserHalf, UserChunk, UserFault};
use proptest::prelude::*;

/// A user page's leaf bits: the kernel's usual ones and the ones a hostile table may hold.
const USER_RW: Attrs =
    Attrs::READ.union(Attrs::WRITE).union(Attrs::USER).union(Attrs::ACCESSED).union(Attrs::DIRTY);

/// What the MMU does with the byte at `va`: its physical address, and whether the leaf has U.
type Oracle = dyn Fn(&Ram, u64, Direction) -> Option<(u64, bool)>;

fn sv32_oracle(root: PhysAddr) -> Box<Oracle> {
    let satp = Satp32 { sv32: true, asid: 1, root }.encode().unwrap();
    Box::new(move |ram, va, dir| {
        let ctx = Context::SUPERVISOR.with_sum(true);
        let access = if dir == Direction::ToUser { Access::Store } else { Access::Load };
        let t = Sv32Mmu::from_satp(satp).translate(ram, VirtAddr::new(va), access, ctx).ok()?;
        Some((t.pa.as_u64(), t.leaf.is_some_and(|l| l.pte & (1 << 4) != 0)))
    })
}

fn sv39_oracle(root: PhysAddr) -> Box<Oracle> {
    let satp = Satp { mode: Some(Mode::Sv39), asid: 1, root }.encode().unwrap();
    Box::new(move |ram, va, dir| {
        let ctx = Context::SUPERVISOR.with_sum(true);
        let access = if dir == Direction::ToUser { Access::Store } else { Access::Load };
        let t = Mmu::from_satp(satp).unwrap().translate(ram, VirtAddr::new(va), access, ctx).ok()?;
        Some((t.pa.as_u64(), t.leaf.is_some_and(|l| l.pte & (1 << 4) != 0)))
    })
}

/// What a SUM byte copy of `[addr, addr + len)` reaches: each byte's frame, then the fault.
fn expected(
    ram: &Ram,
    oracle: &Oracle,
    addr: u64,
    len: usize,
    dir: Direction,
) -> (Vec<u64>, Option<UserFault>) {
    let mut pas = Vec::new();
    for va in addr..addr + len as u64 {
        match oracle(ram, va, dir) {
            // The one stricter rule: a leaf without U faults.
            Some((pa, true)) => pas.push(pa),
            _ => return (pas, Some(UserFault { addr: va, scause: dir.scause() })),
        }
    }
    (pas, None)
}

/// What `pin` hands out, byte by byte, checking the chunks' shape on the way.
fn pinned<F: TableFormat>(
    pt: &PageTable<F, &Ram>,
    addr: u64,
    len: usize,
    task_size: u64,
    dir: Direction,
) -> Result<(Vec<u64>, Option<UserFault>), OutsideUserHalf> {
    let mut pas = Vec::new();
    let mut fault = None;
    for c in pin(pt, addr, len, task_size, dir)? {
        match c {
            Ok(UserChunk { va, pa, len: n, offset }) => {
                assert_eq!(offset, pas.len(), "chunks in order, none skipped");
                assert_eq!(va, addr + offset as u64);
                assert!(n > 0 && (va & 0xfff) + n as u64 <= 4096, "inside one page: {va:#x} + {n:#x}");
                pas.extend((0..n as u64).map(|k| pa.as_u64() + k));
            }
            Err(f) => {
                assert!(fault.is_none(), "nothing after a fault");
                fault = Some(f);
            }
        }
    }
    Ok((pas, fault))
}

/// One user page for a table: its page number (of 4 KiB, or 4 MiB/2 MiB with `big`), its
/// frame number and its leaf bits.
#[derive(Clone, Debug)]
struct Page {
    vpn: u64,
    big: bool,
    frame: u64,
    attrs: Attrs,
}

fn attrs() -> impl Strategy<Value = Attrs> {
    prop_oneof![
        4 => Just(USER_RW),
        1 => Just(Attrs::READ | Attrs::USER | Attrs::ACCESSED),
        1 => Just(Attrs::READ | Attrs::EXECUTE | Attrs::USER | Attrs::ACCESSED),
        1 => Just(Attrs::EXECUTE | Attrs::USER | Attrs::ACCESSED),
        1 => Just(USER_RW - Attrs::ACCESSED),
        1 => Just(USER_RW - Attrs::DIRTY),
        1 => Just(USER_RW - Attrs::USER),
    ]
}

fn pages() -> impl Strategy<Value = Vec<Page>> {
    prop::collection::vec(
        (0u64..24, prop::bool::weighted(0.1), 0u64..64, attrs()).prop_map(|(vpn, big, frame, attrs)| Page {
            vpn,
            big,
            frame,
            attrs,
        }),
        0..16,
    )
}

/// Maps `pages` into a fresh table of `format` (refusals, such as an overlap, skipped) below
/// `base`: 4 KiB pages from `base`, big pages from `base` rounded to the big size.
fn build<'r, F: TableFormat>(
    ram: &'r Ram,
    format: F,
    base: u64,
    big: PageSize,
    pages: &[Page],
) -> PageTable<F, &'r Ram> {
    let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000).unwrap(), 1 << 24).unwrap();
    let mut pt = PageTable::new(format, ram, &mut frames).unwrap();
    for p in pages {
        let (va, pa, size) = if p.big {
            (base + p.vpn % 4 * big.bytes(), 0x8000_0000 + p.frame % 4 * big.bytes(), big)
        } else {
            (base + p.vpn * 4096, 0x9000_0000 + p.frame * 4096, PageSize::Size4K)
        };
        let _ = pt.map(VirtAddr::new(va), PhysAddr::new(pa).unwrap(), size, p.attrs, &mut frames);
    }
    pt
}

fn check<F: TableFormat>(
    pt: &PageTable<F, &Ram>,
    ram: &Ram,
    oracle: &Oracle,
    addr: u64,
    len: usize,
    task_size: u64,
) -> Result<(), TestCaseError> {
    for dir in [Direction::FromUser, Direction::ToUser] {
        let want = expected(ram, oracle, addr, len, dir);
        let got = pinned(pt, addr, len, task_size, dir).unwrap();
        prop_assert_eq!(&got.0, &want.0, "frames of {:#x}+{:#x} {:?}", addr, len, dir);
        prop_assert_eq!(got.1, want.1, "fault of {:#x}+{:#x} {:?}", addr, len, dir);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Sv32: 4 KiB pages and 4 MiB megapages near the top of a 4G/4G user half.
    #[test]
    fn sv32_pins_what_the_mmu_translates(pages in pages(), off in 0u64..(24 << 12), len in 0usize..0x6000) {
        let ram = Ram::new();
        let base = 0xe000_0000;
        let pt = build(&ram, Sv32, base, PageSize::Size4M, &pages);
        let oracle = sv32_oracle(pt.root());
        check(&pt, &ram, &*oracle, base + off, len, 0xf000_0000)?;
    }

    /// Sv39: 4 KiB pages and 2 MiB megapages.
    #[test]
    fn sv39_pins_what_the_mmu_translates(pages in pages(), off in 0u64..(24 << 12), len in 0usize..0x6000) {
        let ram = Ram::new();
        let base = 0x40_0000;
        let pt = build(&ram, Riscv::new(Mode::Sv39), base, PageSize::Size2M, &pages);
        let oracle = sv39_oracle(pt.root());
        check(&pt, &ram, &*oracle, base + off, len, 1 << 38)?;
    }
}

/// A table with three user pages at 0x10000, 0x11000 and 0x13000 (0x12000 unmapped), and
/// one read-only page at 0x14000.
fn hostile_table(ram: &Ram) -> PageTable<Sv32, &Ram> {
    let pages = [
        Page { vpn: 0, big: false, frame: 1, attrs: USER_RW },
        Page { vpn: 1, big: false, frame: 7, attrs: USER_RW },
        Page { vpn: 3, big: false, frame: 2, attrs: USER_RW },
        Page { vpn: 4, big: false, frame: 3, attrs: Attrs::READ | Attrs::USER | Attrs::ACCESSED },
    ];
    build(ram, Sv32, 0x10000, PageSize::Size4M, &pages)
}

#[test]
fn an_unmapped_middle_page_stops_the_copy_at_its_first_byte() {
    let ram = Ram::new();
    let pt = hostile_table(&ram);
    let (pas, fault) = pinned(&pt, 0x10ff0, 0x3000, 0xc000_0000, Direction::FromUser).unwrap();
    // 0x10ff0..0x12000 comes through (two frames, not contiguous), then 0x12000 faults.
    assert_eq!(pas.len(), 0x1010);
    assert_eq!((pas[0], pas[0x10], pas[0x100f]), (0x9000_1ff0, 0x9000_7000, 0x9000_7fff));
    assert_eq!(fault, Some(UserFault { addr: 0x12000, scause: 13 }));
}

#[test]
fn a_store_to_a_read_only_page_faults_as_a_store() {
    let ram = Ram::new();
    let pt = hostile_table(&ram);
    let (pas, fault) = pinned(&pt, 0x13ffe, 4, 0xc000_0000, Direction::ToUser).unwrap();
    assert_eq!(pas, [0x9000_2ffe, 0x9000_2fff]);
    assert_eq!(fault, Some(UserFault { addr: 0x14000, scause: 15 }));
    // Reading it is fine.
    let (pas, fault) = pinned(&pt, 0x13ffe, 4, 0xc000_0000, Direction::FromUser).unwrap();
    assert_eq!((pas.len(), fault), (4, None));
}

#[test]
fn ranges_outside_the_user_half_are_refused_before_any_byte() {
    let ram = Ram::new();
    let pt = hostile_table(&ram);
    for (addr, len, ts) in [
        (u64::MAX - 3, 8, u64::MAX),        // wraps
        (0xbfff_fffc, 8, 0xc000_0000),      // crosses TASK_SIZE (3g)
        (0xefff_f000, 0x2000, 0xf000_0000), // crosses TASK_SIZE (4g4g)
        (0xf000_0000, 1, 0xf000_0000),      // the shared top
        (0xc000_0001, 0, 0xc000_0000),      // empty, but past TASK_SIZE
    ] {
        for dir in [Direction::FromUser, Direction::ToUser] {
            let e = pin(&pt, addr, len, ts, dir).err();
            assert_eq!(e, Some(OutsideUserHalf { addr, len, task_size: ts }), "{addr:#x}+{len:#x}");
        }
    }
    // Empty ranges up to TASK_SIZE itself are fine and pin nothing (as `in_user_half`).
    assert_eq!(pinned(&pt, 0xc000_0000, 0, 0xc000_0000, Direction::ToUser).unwrap(), (vec![], None));
    let msg = pin(&pt, 0xbfff_fffc, 8, 0xc000_0000, Direction::FromUser).err().unwrap().to_string();
    assert_eq!(msg, "user range 0xbffffffc + 0x8 leaves the user half [0, 0xc0000000)");
}

#[test]
fn copy_pinned_moves_every_chunk_then_reports_the_fault() {
    let ram = Ram::new();
    let pt = hostile_table(&ram);
    let mut seen = Vec::new();
    let r =
        copy_pinned(&pt, 0x10800, 0x1800, 0xc000_0000, Direction::ToUser, |c| seen.push((c.offset, c.len)));
    assert_eq!(seen, [(0, 0x800), (0x800, 0x1000)]);
    assert_eq!(r, Ok(Ok(())));
    seen.clear();
    let r =
        copy_pinned(&pt, 0x11800, 0x1000, 0xc000_0000, Direction::ToUser, |c| seen.push((c.offset, c.len)));
    assert_eq!(seen, [(0, 0x800)]);
    assert_eq!(r, Ok(Err(UserFault { addr: 0x12000, scause: 15 })));
    assert_eq!(r.unwrap().unwrap_err().to_string(), "user page fault: store to 0x12000");
}

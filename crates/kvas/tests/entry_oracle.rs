//! Every RISC-V entry word the engine may meet, judged by the simulator's MMUs.
//!
//! For Sv39 (64-bit entries) and Sv32 (32-bit entries), each combination of the
//! low ten bits (V R W X U G A D RSW), a few PPNs (aligned and misaligned for a
//! superpage) and, for Sv39, the extension bits 54–63, is written at each level
//! of a translation path. The oracle MMU ([`kvas::sim::Mmu`], [`kvas::sim::Sv32Mmu`])
//! says what the entry is (absent, a pointer, a leaf, or reserved: the cause and
//! level of its fault); the format's `decode` must say the same, and the engine's
//! `translate` must follow from it: a leaf translates, a hole is `NotMapped`, a
//! reserved entry is `CorruptEntry` at its level, a pointer leads on to an empty
//! table. So the fast leaf and pointer tests (`assert_fast_paths_agree` ties them
//! to `decode`) refuse exactly what the hardware would.

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::arch::riscv32::{Satp32, Sv32};
use kvas::paging::{PageTable, Pte, TableFormat};
use kvas::sim::{Access, Context, FaultCause, Ram};
use kvas::{Error, PhysAddr, VirtAddr};

/// What an entry is, as the oracle or the format sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Absent,
    Pointer,
    Leaf,
    Reserved,
}

/// Where one oracle walk stopped: the leaf's level, or the fault's cause and level.
type Walk = Result<u8, (FaultCause, Option<u8>)>;

/// The oracle's verdict on the entry at `level`. The MMU checks permissions
/// (step 5) before superpage alignment and `A` (steps 6 and 7), so a
/// permission fault says only "a leaf, so far": each access is tried from a
/// kernel and a user context until one passes step 5 (every readable or
/// executable leaf lets one through) or the walk stops on the entry itself.
fn oracle_kind(walk: impl Fn(Access, Context) -> Walk, level: u8) -> Kind {
    let contexts = [Context::SUPERVISOR.with_sum(true).with_mxr(true), Context::USER.with_mxr(true)];
    for ctx in contexts {
        for access in [Access::Load, Access::Fetch, Access::Store] {
            match walk(access, ctx) {
                Ok(leaf_level) => {
                    assert_eq!(leaf_level, level, "the oracle found a leaf elsewhere");
                    return Kind::Leaf;
                }
                Err((_, Some(at))) if at < level => return Kind::Pointer,
                Err((cause, at)) => {
                    assert_eq!(at, Some(level), "{cause:?} above the entry");
                    match cause {
                        FaultCause::Invalid => return Kind::Absent,
                        FaultCause::WritableNotReadable
                        | FaultCause::ReservedBits
                        | FaultCause::NoLeaf
                        | FaultCause::MisalignedSuperpage => return Kind::Reserved,
                        // Past every structural check: a well-formed leaf.
                        FaultCause::NotAccessed | FaultCause::NotDirty => return Kind::Leaf,
                        // Step 5: try another access.
                        _ => {}
                    }
                }
            }
        }
    }
    panic!("no access passed the permission checks of a leaf at level {level}")
}

fn format_kind(pte: Pte) -> Kind {
    match pte {
        Pte::Absent => Kind::Absent,
        Pte::Table(_) => Kind::Pointer,
        Pte::Leaf { .. } => Kind::Leaf,
        Pte::Reserved => Kind::Reserved,
    }
}

/// A table whose path to `va` is pointers down to the level-`level` table, in
/// which `va`'s entry is written by the caller; returns the root and that table.
fn path_to<F: TableFormat>(format: F, ram: &Ram, va: u64, level: u8) -> (PhysAddr, PhysAddr) {
    let g = format.geometry();
    let root = PhysAddr::new(0x9000_0000).unwrap();
    let mut table = root;
    for l in (level + 1..=g.root_level()).rev() {
        let next = PhysAddr::new(0x9000_0000 + 0x1000 * u64::from(l)).unwrap();
        write_entry(ram, format, table, g.index_of(va, l), format.encode_table(next));
        table = next;
    }
    (root, table)
}

fn write_entry<F: TableFormat>(ram: &Ram, _format: F, table: PhysAddr, idx: usize, raw: F::Entry) {
    let bytes = core::mem::size_of::<F::Entry>();
    let value: u64 = raw.into();
    let at = PhysAddr::new(table.as_u64() + (idx * bytes) as u64).unwrap();
    ram.write_bytes(at, &value.to_le_bytes()[..bytes]).unwrap();
}

/// The engine's `translate` agrees with `kind`, the entry at `level`.
fn check_translate<F: TableFormat>(pt: &PageTable<F, &Ram>, va: u64, level: u8, kind: Kind, raw: u64) {
    let got = pt.translate(VirtAddr::new(va));
    match kind {
        Kind::Leaf => {
            let t = got.unwrap_or_else(|e| panic!("{raw:#x} at {level}: a leaf, but {e}"));
            assert_eq!(t.size.level(), level, "{raw:#x}");
        }
        Kind::Absent | Kind::Pointer => {
            assert!(matches!(got, Err(Error::NotMapped { .. })), "{raw:#x} at {level}: {got:?}")
        }
        Kind::Reserved => assert!(
            matches!(got, Err(Error::CorruptEntry { level: l, .. }) if l == level),
            "{raw:#x} at {level}: {got:?}"
        ),
    }
}

#[test]
fn sv39_entries_mean_what_the_mmu_says() {
    let format = Riscv::new(Mode::Sv39);
    let va = 0x40_1234_5678u64 & ((1 << 38) - 1);
    let mut seen = [0usize; 4];
    for level in 0..3u8 {
        let ram = Ram::new();
        let (root, table) = path_to(format, &ram, va, level);
        let idx = format.geometry().index_of(va, level);
        let mmu = kvas::sim::Mmu::from_satp(Satp { mode: Some(Mode::Sv39), asid: 0, root }.encode().unwrap())
            .unwrap();
        // SAFETY: `root` and every table on the path live in `ram`, which nothing else uses.
        let pt = unsafe { PageTable::from_root(format, &ram, root) };
        // PPNs: 4 KiB-aligned only, 2 MiB- and 1 GiB-aligned, the top PPN bit.
        for ppn in [0x8_0001u64, 0x8_0200, 0x4_0000, 0x400_0000_0000 | 0x4_0000] {
            for high in [0u64, 1 << 54, 1 << 61, 1 << 63] {
                for low in 0..1024u64 {
                    let raw = high | ppn << 10 | low;
                    write_entry(&ram, format, table, idx, raw);
                    let kind = oracle_kind(
                        |access, ctx| {
                            mmu.translate(&ram, VirtAddr::new(va), access, ctx)
                                .map(|t| t.leaf.unwrap().level)
                                .map_err(|f| (f.cause, f.level))
                        },
                        level,
                    );
                    assert_eq!(format_kind(format.decode(raw, level)), kind, "{raw:#x} at level {level}");
                    check_translate(&pt, va, level, kind, raw);
                    seen[kind as usize] += 1;
                }
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "every kind of entry was met: {seen:?}");
}

#[test]
fn sv32_entries_mean_what_the_mmu_says() {
    let va = 0xc040_3678u64;
    let mut seen = [0usize; 4];
    for level in 0..2u8 {
        let ram = Ram::new();
        let (root, table) = path_to(Sv32, &ram, va, level);
        let idx = Sv32.geometry().index_of(va, level);
        let mmu = kvas::sim::Sv32Mmu::from_satp(Satp32 { sv32: true, asid: 0, root }.encode().unwrap());
        // SAFETY: `root` and every table on the path live in `ram`, which nothing else uses.
        let pt = unsafe { PageTable::from_root(Sv32, &ram, root) };
        // PPNs: 4 KiB-aligned only, 4 MiB-aligned, the top PPN bit.
        for ppn in [0x8_0001u32, 0x8_0400, 0x20_0000 | 0x400] {
            for low in 0..1024u32 {
                let raw = ppn << 10 | low;
                write_entry(&ram, Sv32, table, idx, raw);
                let kind = oracle_kind(
                    |access, ctx| {
                        mmu.translate(&ram, VirtAddr::new(va), access, ctx)
                            .map(|t| t.leaf.unwrap().level)
                            .map_err(|f| (f.cause, f.level))
                    },
                    level,
                );
                assert_eq!(format_kind(Sv32.decode(raw, level)), kind, "{raw:#x} at level {level}");
                check_translate(&pt, va, level, kind, raw.into());
                seen[kind as usize] += 1;
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "every kind of entry was met: {seen:?}");
}

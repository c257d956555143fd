//! `make run`: each RISC-V mode's paging parameters, then one demo mapping built
//! by the engine in simulated RAM and walked, level by level, by the oracle MMU.

use kvas::arch::riscv::{Mode, Riscv, Satp};
use kvas::layout::riscv64::KERNEL_LINK_ADDR;
use kvas::paging::{Attrs, Geometry, PageTable, Pte, TableFormat};
use kvas::sim::{Access, Context, Mmu, Ram, TrackingAllocator};
use kvas::{Error, PageSize, PhysAddr, VirtAddr, VirtRange};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("kvas: one page-table engine, depth chosen at run time\n");
    println!(
        "{:<6} {:>6} {:>7} {:>22} {:>10}  leaf sizes",
        "mode", "levels", "va bits", "kernel half from", "satp.MODE"
    );
    for mode in Mode::PROBE_ORDER.iter().rev() {
        let g = mode.geometry();
        let sizes: Vec<&str> = g.page_sizes().map(PageSize::name).collect();
        println!(
            "{:<6} {:>6} {:>7} {:>22} {:>10}  {}",
            mode.name(),
            g.levels(),
            g.va_bits(),
            format!("{}", g.kernel_half_start()),
            mode.satp_mode(),
            sizes.join(" ")
        );
    }
    for mode in Mode::PROBE_ORDER.iter().rev() {
        demo(*mode)?;
    }
    Ok(())
}

/// Maps an 8 MiB kernel image at 0x80200000 and 1 GiB of RAM at the start of
/// the kernel half, then walks one address of each through the oracle MMU.
fn demo(mode: Mode) -> Result<(), Error> {
    println!("\n== {mode}: the kernel image (8 MiB at pa 0x80200000) and 1 GiB of RAM ==");
    let ram = Ram::new();
    let mut frames = TrackingAllocator::new(PhysAddr::new(0x1_0000_0000)?, 16 << 20)?;
    let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut frames)?;
    let image = PhysAddr::new(0x8020_0000)?;
    let linear = mode.geometry().kernel_half_start();
    pt.map_range(
        VirtRange::new(VirtAddr::new(KERNEL_LINK_ADDR), 8 << 20)?,
        image,
        Attrs::KERNEL_RX,
        PageSize::Size2M,
        &mut frames,
    )?
    .ignore();
    pt.map_range(
        VirtRange::new(linear, 1 << 30)?,
        PhysAddr::new(0x8000_0000)?,
        Attrs::KERNEL_RW,
        PageSize::Size256T,
        &mut frames,
    )?
    .ignore();
    let stats = pt.stats()?;
    let leaves: Vec<String> = PageSize::ALL
        .iter()
        .filter(|s| stats.leaves_of(**s) > 0)
        .map(|s| format!("{}x{}", stats.leaves_of(*s), s.name()))
        .collect();
    println!("tables: {} frames; leaves: {}", stats.tables, leaves.join(", "));

    let satp = Satp { mode: Some(mode), asid: 0, root: pt.root() }.encode()?;
    let mmu = Mmu::from_satp(satp)?;
    println!("satp = {satp:#018x}");
    for (va, access) in
        [(KERNEL_LINK_ADDR + 0x1234, Access::Fetch), (linear.as_u64() + 0x2345_6789, Access::Store)]
    {
        let va = VirtAddr::new(va);
        println!("walk {va} ({access:?}):");
        walk(&pt, &ram, va);
        match mmu.translate(&ram, va, access, Context::SUPERVISOR) {
            Ok(t) => println!("  MMU: {va} -> {}", t.pa),
            Err(fault) => println!("  MMU: {fault}"),
        }
    }
    let fault = mmu.translate(&ram, VirtAddr::new(KERNEL_LINK_ADDR), Access::Store, Context::SUPERVISOR);
    if let Err(fault) = fault {
        println!("store to kernel text: {fault}");
    }
    pt.destroy(&mut frames);
    Ok(())
}

/// Prints each level's entry on the way to `va`'s leaf.
fn walk(pt: &PageTable<Riscv, &Ram>, ram: &Ram, va: VirtAddr) {
    let format = pt.format();
    let mut table = pt.root();
    for level in (0..format.geometry().levels()).rev() {
        let idx = Geometry::index(va.as_u64(), level);
        let slot = PhysAddr::new_truncate(table.as_u64() + idx as u64 * 8);
        let raw = ram.read_u64(slot).unwrap_or(0);
        let pte = format.decode(raw, level);
        println!("  level {level} [{idx:3}] @ {slot}: {raw:#018x}  {pte:?}");
        match pte {
            Pte::Table(next) => table = next,
            _ => break,
        }
    }
}

//! `kvas explain ADDR`: the region of an address, its offset, and its physical address.

use std::process::ExitCode;

use kvas::layout::{Layout, Target};
use kvas::VirtAddr;

use crate::args::{fail, parse_size, TargetArgs};
use crate::units::{addr, human};

/// `kvas explain` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The virtual address (0x hex or decimal).
    #[arg(value_parser = parse_size, allow_hyphen_values = true)]
    pub addr: u64,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Physical start of RAM (phys_ram_base / PHYS_OFFSET); default per arch.
    #[arg(long, value_name = "PA", value_parser = parse_size, allow_hyphen_values = true)]
    pub ram_base: Option<u64>,
    /// Physical load address of the kernel image (_start); default per arch.
    #[arg(long, value_name = "PA", value_parser = parse_size, allow_hyphen_values = true)]
    pub load_addr: Option<u64>,
    /// Whose mapping of the kernel image: on riscv64 Linux maps it in whole 2 MiB
    /// steps (create_kernel_page_table), so the tail of the last step past _end is
    /// mapped too.
    #[arg(long, value_enum, default_value = "kvas")]
    pub rules: Rules,
}

/// Whose rules map the kernel image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Rules {
    /// kvas: the image up to _end.
    Kvas,
    /// Linux: the image in whole 2 MiB steps (riscv64).
    Linux,
}

/// QEMU `virt`-style defaults: (RAM base, kernel load address).
fn defaults(t: Target) -> (u64, u64) {
    match t {
        Target::Riscv64(_) => (0x8000_0000, 0x8020_0000),
        Target::Riscv32 => (0x8000_0000, 0x8040_0000),
        Target::Arm64(_) => (0x4000_0000, 0x4020_0000),
        Target::Arm32(_) => (0x4000_0000, 0x4000_8000),
        Target::X86_64(_) => (0, 0x100_0000),
    }
}

/// Prints what the address is; 2 on bad arguments.
pub fn run(a: &Args) -> ExitCode {
    let l = match a.target.plan() {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    if !l.target().is_64bit() && a.addr > u64::from(u32::MAX) {
        return fail(format!("address {:#x} does not fit a 32-bit address space", a.addr));
    }
    let (ram_default, load_default) = defaults(l.target());
    let ram_base = a.ram_base.unwrap_or(ram_default);
    let load = a.load_addr.unwrap_or(load_default);
    let bits = l.target().phys_bits();
    for (option, pa) in [("--ram-base", ram_base), ("--load-addr", load)] {
        if pa >> bits != 0 {
            return fail(format!(
                "{option} {pa:#x} is not a physical address of {}: it has {bits} bits",
                l.target()
            ));
        }
    }
    match explain(&l, a.addr, ram_base, load, a.rules) {
        Ok(lines) => {
            for line in lines {
                outln!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `base + delta`, if it is a physical address of `l`'s architecture.
fn phys(l: &Layout, base: u64, delta: u64) -> Option<u64> {
    base.checked_add(delta).filter(|pa| pa >> l.target().phys_bits() == 0)
}

/// The end of the image's mapping under `rules`: `_end`, or Linux's last 2 MiB step.
fn mapped_end(l: &Layout, rules: Rules) -> Option<u64> {
    let img = l.image()?;
    let steps = rules == Rules::Linux && matches!(l.target(), Target::Riscv64(_));
    let start = img.start().as_u64();
    Some(if steps { start.saturating_add(img.size().next_multiple_of(2 << 20)) } else { img.end().as_u64() })
}

/// The lines `kvas explain` prints, or why the address has no physical address
/// the architecture can have.
pub fn explain(l: &Layout, va: u64, ram_base: u64, load: u64, rules: Rules) -> Result<Vec<String>, String> {
    let wide = l.target().is_64bit();
    let a = |x: u64| format!("0x{}", addr(x, wide));
    let mut out = Vec::new();
    let Some(r) = l.region_containing(va) else {
        let below = l.regions().iter().rev().find(|r| r.last() < va);
        let above = l.regions().iter().find(|r| r.start() > va);
        out.push(format!(
            "{}: in no region (unlisted gap between {} and {})",
            a(va),
            below.map_or("the bottom", |r| r.name()),
            above.map_or("the top", |r| r.name())
        ));
        return Ok(out);
    };
    out.push(format!(
        "{}: {} ({}), offset {:#x} into {}-{} ({})",
        a(va),
        r.name(),
        r.description(),
        va - r.start(),
        a(r.start()),
        a(r.last()),
        human(r.size())
    ));
    let parts = l.parts();
    if r.name() == parts.image_region && r.name() != parts.linear_region {
        // __pa() of a kernel-image address: va - va_kernel_pa_offset.
        let start = parts.image_start;
        let offset = start.wrapping_sub(load);
        let beyond = |delta: u64| {
            format!(
                "{}: _start + {delta:#x} from --load-addr {load:#x} is beyond the {}-bit physical addresses of {}",
                a(va),
                l.target().phys_bits(),
                l.target()
            )
        };
        let mapped = mapped_end(l, rules);
        match l.image() {
            _ if va < start => out.push(format!("  below _start ({}): not mapped", a(start))),
            Some(img) if !img.contains(VirtAddr::new(va)) && mapped.is_some_and(|end| va < end) => {
                let pa = phys(l, load, va - start).ok_or_else(|| beyond(va - start))?;
                out.push(format!(
                    "  past _end ({}) in the image's last 2 MiB step, which Linux maps whole: physical {pa:#x}",
                    a(img.end().as_u64())
                ));
            }
            Some(img) if !img.contains(VirtAddr::new(va)) => {
                out.push(format!(
                    "  outside the image ({}-{})",
                    a(img.start().as_u64()),
                    a(img.last().as_u64())
                ));
            }
            img => {
                let pa = phys(l, load, va - start).ok_or_else(|| beyond(va - start))?;
                out.push(format!(
                    "  kernel image +{:#x}: physical {pa:#x} (va - va_kernel_pa_offset {:#x}, _start loaded at {:#x}{})",
                    va - start,
                    offset,
                    load,
                    if img.is_none() { "; image size not given" } else { "" }
                ))
            }
        }
    }
    if r.name() == parts.linear_region {
        let base = match l.target() {
            // phys_ram_base = memblock_start_of_DRAM() & PMD_MASK
            Target::Riscv64(_) => ram_base & !((2 << 20) - 1),
            _ => ram_base,
        };
        // va - pa in an unsigned long: 32 bits wide on 32-bit kernels.
        let va_pa_offset = match l.target().is_64bit() {
            true => l.page_offset().wrapping_sub(base),
            false => l.page_offset().wrapping_sub(base) & 0xffff_ffff,
        };
        let pa = phys(l, base, va - l.page_offset()).ok_or_else(|| {
            format!(
                "{}: PAGE_OFFSET + {:#x} from RAM base {base:#x} is beyond the {}-bit physical addresses of {}",
                a(va),
                va - l.page_offset(),
                l.target().phys_bits(),
                l.target()
            )
        })?;
        out.push(format!(
            "  linear map: physical {pa:#x} (va - va_pa_offset {va_pa_offset:#x}, RAM base {base:#x})"
        ));
        if let Some(low) = l.lowmem().filter(|low| !low.contains(VirtAddr::new(va))) {
            out.push(format!("  beyond the end of RAM: lowmem ends at {}", a(low.last().as_u64())));
        }
    }
    if r.name() == "hole" {
        out.push(format!("  not canonical for {}-bit virtual addresses: any access faults", l.va_bits()));
    }
    Ok(out)
}

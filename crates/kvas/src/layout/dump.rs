//! Linux's `print_vm_layout()` block, written to any [`core::fmt::Write`] without allocation.
//!
//! ```text
//! Virtual kernel memory layout:
//!       fixmap : 0xffffffc4fea00000 - 0xffffffc4ff000000   (6144 kB)
//! ```
//! Each line is `%12s : 0x%08lx - 0x%08lx   (%4ld <unit>)` with an exclusive end,
//! the unit `TB` (64-bit only), `GB`, `MB` or `kB`: the largest whose count is at
//! least 10. riscv64 prints fixmap, pci io, vmemmap, vmalloc, modules, lowmem,
//! kasan and kernel (whose end is `ADDRESS_SPACE_END`, inclusive); riscv32 stops
//! after lowmem, whose end is `high_memory` as Linux computes it (`0x00000000`
//! for 1 GiB of RAM or more: `PAGE_OFFSET + 1 GiB` wraps in 32 bits). The kvas
//! riscv32 kernel (a layout with a split) prints fixmap, pkmap, vmalloc, lowmem
//! and kernel, every end exclusive. Other architectures print their regions in
//! the same format.

use core::fmt;

use crate::layout::plan::Layout;
use crate::layout::riscv32;
use crate::layout::target::Target;

/// Writes one `print_vm_layout` line for `[b, t)`.
pub fn write_line(f: &mut impl fmt::Write, name: &str, b: u64, t: u64, is_64bit: bool) -> fmt::Result {
    // Linux computes `t - b` in an unsigned long: 32 bits wide on 32-bit kernels.
    let d = if is_64bit { t.wrapping_sub(b) } else { t.wrapping_sub(b) & 0xffff_ffff };
    // An exclusive end of 2^32 is 0 in a 32-bit unsigned long, as Linux prints it.
    let t = if is_64bit { t } else { t & 0xffff_ffff };
    let (shift, unit) = if is_64bit && d >> 40 >= 10 {
        (40, "TB")
    } else if d >> 30 >= 10 {
        (30, "GB")
    } else if d >> 20 >= 10 {
        (20, "MB")
    } else {
        (10, "kB")
    };
    if is_64bit {
        writeln!(f, "{name:>12} : 0x{b:016x} - 0x{t:016x}   ({:4} {unit})", d >> shift)
    } else {
        writeln!(f, "{name:>12} : 0x{b:08x} - 0x{t:08x}   ({:4} {unit})", d >> shift)
    }
}

/// The `Virtual kernel memory layout:` block of a layout; `Display` writes it.
#[derive(Clone, Copy, Debug)]
pub struct VmLayoutDump<'a>(pub &'a Layout);

impl fmt::Display for VmLayoutDump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.0;
        let wide = l.target().is_64bit();
        f.write_str("Virtual kernel memory layout:\n")?;
        let line = |f: &mut fmt::Formatter<'_>, name: &str, id: &str| -> fmt::Result {
            match l.region(id) {
                Some(r) => write_line(f, name, r.start(), r.range().end().as_u64(), wide),
                None => Ok(()),
            }
        };
        match l.target() {
            Target::Riscv32 if l.options().split.is_some() => {
                // The kvas riscv32 kernel: its regions top down, as Linux prints
                // riscv's, then lowmem (high_memory never wraps: it ends below the
                // shared top) and the image's footprint.
                line(f, "fixmap", "fixmap")?;
                line(f, "pkmap", "pkmap")?;
                line(f, "vmalloc", "vmalloc")?;
                line(f, "lowmem", "lowmem")?;
                line(f, "kernel", "kernel")
            }
            Target::Riscv64(_) | Target::Riscv32 => {
                line(f, "fixmap", "fixmap")?;
                line(f, "pci io", "pci-io")?;
                line(f, "vmemmap", "vmemmap")?;
                if let Target::Riscv64(_) = l.target() {
                    line(f, "vmalloc", "vmalloc")?;
                    if let Some(m) = l.modules_window() {
                        write_line(f, "modules", m.start().as_u64(), m.end().as_u64(), wide)?;
                    }
                    let lowmem = l.lowmem().or(l.region("linear").map(|r| r.range()));
                    if let Some(s) = lowmem {
                        write_line(f, "lowmem", s.start().as_u64(), s.end().as_u64(), wide)?;
                    }
                    if let Some(k) = l.region("kasan") {
                        write_line(f, "kasan", k.start(), k.range().end().as_u64(), wide)?;
                    }
                    if let Some(k) = l.region("kernel") {
                        // Linux passes ADDRESS_SPACE_END itself, the inclusive end.
                        write_line(f, "kernel", k.start(), k.last(), wide)?;
                    }
                } else {
                    // VMALLOC_START..VMALLOC_END covers the BPF window on 32-bit.
                    if let Some(m) = l.modules_window() {
                        write_line(f, "vmalloc", m.start().as_u64(), m.end().as_u64(), wide)?;
                    }
                    // high_memory = __va(end of DRAM after memory_limit): with 1 GiB or
                    // more that is 2^32, which wraps to 0 in Linux's 32-bit print.
                    match (l.options().ram, l.region("lowmem")) {
                        (Some(ram), Some(r)) => {
                            let end = (r.start() + ram.min(riscv32::MEMORY_LIMIT)) & 0xffff_ffff;
                            write_line(f, "lowmem", r.start(), end, wide)?;
                        }
                        _ => line(f, "lowmem", "lowmem")?,
                    }
                }
                Ok(())
            }
            _ => {
                for r in l.regions() {
                    if matches!(r.name(), "user" | "hole" | "unused" | "guard" | "null-trap") {
                        continue;
                    }
                    write_line(f, r.name(), r.start(), r.range().end().as_u64(), wide)?;
                }
                Ok(())
            }
        }
    }
}

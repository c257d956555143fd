//! The table output: Linux's vm-layout.rst columns, then the figures that matter.

use std::fmt::Write;

use kvas::layout::{direct_window, Layout, Target};

use crate::units::{addr, human, offset};

/// The layout as a vm-layout.rst-style table, unlisted gaps included, then its facts.
pub fn render(l: &Layout) -> String {
    let wide = l.target().is_64bit();
    let w = if wide { 16 } else { 10 };
    let mut out = String::new();
    let o = l.options();
    let _ = writeln!(
        out,
        "{} ({} profile, kasan {}): {}-bit virtual addresses, PAGE_OFFSET 0x{}",
        l.target(),
        o.profile.name(),
        o.kasan.name(),
        l.va_bits(),
        addr(l.page_offset(), wide)
    );
    let rule = "=".repeat(w * 2 + 83);
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(
        out,
        " {:^w$} | {:^12} | {:^w$} | {:^10} | {:<15}| VM area description",
        "Start addr", "Offset", "End addr", "Size", "Region"
    );
    let _ = writeln!(out, "{rule}");
    let mut next = 0u64;
    for (i, r) in l.regions().iter().enumerate() {
        if i > 0 && r.start() > next {
            row(&mut out, wide, next, r.start() - 1, "", "... unlisted gap");
        }
        row(&mut out, wide, r.start(), r.last(), r.name(), r.description());
        next = r.last().wrapping_add(1);
    }
    let _ = writeln!(out, "{rule}");
    facts(&mut out, l);
    out
}

fn row(out: &mut String, wide: bool, start: u64, last: u64, name: &str, desc: &str) {
    let w = if wide { 16 } else { 10 };
    let size = last.wrapping_sub(start).wrapping_add(1);
    let _ = writeln!(
        out,
        " {:>w$} | {:>12} | {:>w$} | {:>10} | {:<15}| {}",
        addr(start, wide),
        offset(start, wide),
        addr(last, wide),
        human(size),
        name,
        desc
    );
}

fn facts(out: &mut String, l: &Layout) {
    let wide = l.target().is_64bit();
    let span = |s: kvas::layout::Span| format!("{}-{}", addr(s.start(), wide), addr(s.last(), wide));
    let _ = writeln!(out, "  user space      {}", human(l.user_bytes()));
    if matches!(l.target(), Target::Arm32(kvas::layout::Arm32Split::G4G4)) {
        let _ = writeln!(out, "                  (4G/4G: user space has its own address space)");
    }
    if let Some(lin) = l.region(l.parts().linear_region) {
        let _ =
            writeln!(out, "  linear map      {} window at 0x{}", human(lin.size()), addr(lin.start(), wide));
    }
    if let Some(low) = l.lowmem() {
        let _ = writeln!(out, "  lowmem          {} ({})", human(low.size()), span(low));
    }
    if l.parts().highmem_capable {
        let _ = writeln!(out, "  highmem         {}", human(l.highmem()));
    }
    if l.target() == Target::Riscv32 {
        // arch/riscv/mm/init.c: memory_limit = KERN_VIRT_SIZE; the page at -PAGE_SIZE is reserved.
        let dropped =
            l.options().ram.map_or(0, |ram| ram.saturating_sub(kvas::layout::riscv32::MEMORY_LIMIT));
        let _ = writeln!(
            out,
            "  highmem         none (riscv32 has no HIGHMEM): RAM is capped at 1 GiB (memory_limit = KERN_VIRT_SIZE){}",
            if dropped > 0 { format!(", {} dropped", human(dropped)) } else { String::new() }
        );
        let _ = writeln!(
            out,
            "                  and its top page is reserved (it would sit at ERR_PTR addresses)"
        );
    }
    let _ = writeln!(out, "  vmalloc         {}", human(l.vmalloc_bytes()));
    if let Some(k) = l.region("kasan") {
        let _ = writeln!(out, "  kasan shadow    {}", human(k.size()));
    }
    let p = l.parts();
    match (p.kaslr, l.target()) {
        (true, _) => {
            let _ = writeln!(
                out,
                "  KASLR           on: offset {:#x}, Linux draws 0 to {:#x} in 2 MiB steps for this image size",
                l.options().kaslr_offset,
                p.kaslr_max
            );
        }
        (false, Target::Riscv32 | Target::Arm32(_)) => {}
        (false, _) => {
            let _ = writeln!(out, "  KASLR           off (--kaslr off)");
        }
    }
    match l.image() {
        Some(img) => {
            let _ = writeln!(
                out,
                "  kernel image    {} ({}), KASLR offset {:#x}",
                human(img.size()),
                span(img),
                l.options().kaslr_offset
            );
        }
        None => {
            let _ = writeln!(out, "  kernel image    size not given (--kernel-size): nominal windows");
        }
    }
    if let Some(m) = l.modules_window() {
        let reach = l.reach();
        let _ = write!(out, "  modules window  {} ({}): ", human(m.size()), span(m));
        match direct_window(l) {
            Some(d) if d == m => {
                let _ = writeln!(
                    out,
                    "all within {} reach (±{}) of kernel text",
                    reach.direct_insn,
                    human(reach.direct)
                );
            }
            Some(d) => {
                let _ = writeln!(
                    out,
                    "{} ({}) within {} reach (±{}) of all kernel text; the rest needs {} (±{})",
                    human(d.size()),
                    span(d),
                    reach.direct_insn,
                    human(reach.direct),
                    reach.far_insn,
                    human(reach.far)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "none within {} reach (±{}); all through {} (±{})",
                    reach.direct_insn,
                    human(reach.direct),
                    reach.far_insn,
                    human(reach.far)
                );
            }
        }
    }
}

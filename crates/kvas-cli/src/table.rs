//! The table output: Linux's vm-layout.rst columns, then the figures that matter.

use std::fmt::Write;

use kvas::layout::{direct_window, riscv32_split, Arm32Split, Layout, Target};

use crate::units::{addr, human, offset};

/// The layout as a vm-layout.rst-style table, unlisted gaps included, then its facts.
pub fn render(l: &Layout) -> String {
    let wide = l.target().is_64bit();
    let w = if wide { 16 } else { 10 };
    let mut out = String::new();
    let o = l.options();
    let split = o.split.map_or(String::new(), |s| format!(", vmsplit={}: the kvas riscv32 kernel", s.name()));
    let _ = writeln!(
        out,
        "{} ({} profile, kasan {}{split}): {}-bit virtual addresses, PAGE_OFFSET 0x{}",
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
    let span =
        |s: kvas::VirtRange| format!("{}-{}", addr(s.start().as_u64(), wide), addr(s.last().as_u64(), wide));
    let _ = writeln!(out, "  user space      {}", human(l.user_bytes()));
    let four_four =
        l.target() == Target::Arm32(Arm32Split::G4G4) || o_split(l) == Some(kvas::layout::Vmsplit::G4G4);
    if four_four {
        let _ = writeln!(
            out,
            "                  (4G/4G: 0-{} in an address space of its own; the regions above are the\n                  kernel's own address space, whose top from 0x{} is mapped in both)",
            addr(l.user_bytes() - 1, wide),
            addr(l.user_bytes(), wide)
        );
    }
    if let Some(lin) = l.region(l.parts().linear_region).filter(|_| o_split(l).is_none()) {
        let _ =
            writeln!(out, "  linear map      {} window at 0x{}", human(lin.size()), addr(lin.start(), wide));
    }
    if let Some(split) = o_split(l) {
        let po = l.page_offset();
        let _ = writeln!(
            out,
            "  lowmem window   {} (0x{}-0x{}, vmsplit={}): RAM beyond it is highmem",
            human(riscv32_split::SHARED_START - po),
            addr(po, wide),
            addr(riscv32_split::SHARED_START - 1, wide),
            split.name()
        );
    }
    if let Some(low) = l.lowmem() {
        let _ = writeln!(out, "  lowmem          {} ({})", human(low.size()), span(low));
    }
    if l.parts().highmem_capable {
        let _ = writeln!(out, "  highmem         {}", human(l.highmem()));
    }
    if l.target() == Target::Riscv32 && o_split(l).is_none() {
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
    if o_split(l).is_some() {
        seed_001(out, l);
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
    kaslr_windows(out, l);
}

/// Where the modules window can be, over every KASLR offset Linux draws.
fn kaslr_windows(out: &mut String, l: &Layout) {
    let wide = l.target().is_64bit();
    let span =
        |s: kvas::VirtRange| format!("{}-{}", addr(s.start().as_u64(), wide), addr(s.last().as_u64(), wide));
    let Some(w) = kvas::layout::kaslr::modules_windows(l) else { return };
    if !w.moves() {
        let note = match l.target() {
            Target::Arm64(_) => " (kvas's model: Linux also randomises arm64's module region)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  with KASLR      the modules window stays put for every offset; only the image moves{note}"
        );
        return;
    }
    let _ = writeln!(
        out,
        "  with KASLR      the modules window follows the image (PFN_ALIGN(_end) - 2 GiB to _start):\n                  offset 0 gives {}, offset {:#x} gives {};\n                  every window lies in {} ({}){}",
        span(w.lowest),
        w.max_offset,
        span(w.highest),
        span(w.union()),
        human(w.union().size()),
        match w.common() {
            Some(c) => format!(", and {} ({}) is in every one", span(c), human(c.size())),
            None => String::new(),
        }
    );
}

/// The riscv32 split the layout was planned with, if any.
fn o_split(l: &Layout) -> Option<kvas::layout::Vmsplit> {
    l.options().split
}

/// Seed 001's price of linking the image outside the linear map, in the shared top:
/// its footprint's share of the 4 GiB space and of the 256 MiB "vmalloc, including
/// the kernel".
fn seed_001(out: &mut String, l: &Layout) {
    let size = l.options().kernel_size;
    let (space, shared) = riscv32_split::image_share(size);
    // Hundredths of a percent, rounded to nearest: 976 ppm is 0.10%.
    let pct = |ppm: u64| {
        let h = (ppm + 50) / 100;
        format!("{}.{:02}%", h / 100, h % 100)
    };
    let _ = writeln!(
        out,
        "  image cost      {}{} in 4 MiB steps: {} of the 4 GiB address space, {} of the 256 MiB\n                  shared top (vmalloc, including the kernel); seed 001 priced these at 0.1% and 1.5%",
        human(riscv32_split::image_footprint(size)),
        if size == 0 { " (one megapage assumed)" } else { "" },
        pct(space),
        pct(shared)
    );
}

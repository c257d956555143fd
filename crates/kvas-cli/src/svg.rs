//! The SVG picture: one column per layout, a band per region whose height grows
//! with log2(size) (so 4 KiB and 32 PiB both read), user space and the
//! non-canonical hole cut short with break marks, unlisted gaps hatched, and
//! ribbons joining the same region across columns.

use std::fmt::Write;

use kvas::layout::{Layout, Region};
use kvas::VirtRange;

use crate::units::{addr, human};

const BAND_W: f64 = 250.0;
const COL_GAP: f64 = 110.0;
const ADDR_W: f64 = 128.0;
const DESC_W: f64 = 360.0;
const TOP: f64 = 92.0;
const GAP_H: f64 = 14.0;
const CUT_H: f64 = 44.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn color(name: &str) -> &'static str {
    match name {
        "user" => "#cfe3f7",
        "hole" | "unused" | "guard" => "#ececec",
        "fixmap" => "#ffd59e",
        "pci-io" => "#f9b8c8",
        "vmemmap" => "#d5c6ef",
        "vmalloc" => "#a9dbb8",
        "linear" | "lowmem" => "#8fc1e3",
        "kasan" => "#f6a98a",
        "modules" => "#fce38a",
        "bpf" => "#f9c25c",
        "kernel" => "#e57361",
        "pkmap" => "#c2e6b5",
        "ldt-remap" => "#c9d6a3",
        "cpu-entry-area" => "#b7d7d4",
        "esp-fixup" => "#e0c8a8",
        "efi" => "#d8b4d8",
        "vsyscall" => "#f2a0a0",
        "fdt" => "#ffe0b3",
        "vectors" => "#f2a0a0",
        _ => "#dddddd",
    }
}

/// Whether a region is drawn cut short (not to any scale).
fn is_cut(r: &Region) -> bool {
    matches!(r.name(), "user" | "hole") || (r.name() == "unused" && r.start() == 0)
}

/// Whether a region is empty address space (drawn lighter and thinner).
fn is_void(r: &Region) -> bool {
    matches!(r.name(), "unused" | "guard")
}

fn band_height(r: &Region) -> f64 {
    if is_cut(r) {
        return CUT_H;
    }
    let bits = (r.size() as f64).log2();
    let h = (16.0 + 3.4 * (bits - 12.0)).max(22.0);
    if is_void(r) {
        (h * 0.4).clamp(18.0, 36.0)
    } else {
        h
    }
}

/// One placed band: region index, top, height.
struct Placed {
    top: f64,
    height: f64,
}

fn place(l: &Layout) -> (Vec<Placed>, Vec<(f64, u64, u64)>, f64) {
    let mut y = TOP;
    let mut bands = Vec::new();
    let mut gaps = Vec::new();
    let mut next: Option<u64> = None;
    for r in l.regions() {
        if let Some(n) = next.filter(|&n| r.start() > n) {
            gaps.push((y, n, r.start() - 1));
            y += GAP_H;
        }
        let h = band_height(r);
        bands.push(Placed { top: y, height: h });
        y += h;
        next = Some(r.last().wrapping_add(1));
    }
    (bands, gaps, y)
}

fn column_x(i: usize) -> f64 {
    20.0 + ADDR_W + i as f64 * (BAND_W + COL_GAP)
}

/// Renders `layouts` side by side; `caption` names the command that made it.
pub fn render(layouts: &[Layout], caption: &str) -> String {
    let placed: Vec<_> = layouts.iter().map(place).collect();
    let single = layouts.len() == 1;
    let bottom = placed.iter().map(|p| p.2).fold(0.0, f64::max);
    let width = column_x(layouts.len() - 1) + BAND_W + if single { DESC_W } else { 30.0 };
    let fact_lines = if single { 1 } else { layouts.iter().map(|l| facts(l).len()).max().unwrap_or(0) };
    let height = bottom + 72.0 + 15.0 * fact_lines as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    s.push_str(
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fafafa"/><line x1="0" y1="0" x2="0" y2="6" stroke="#cfcfcf" stroke-width="2"/></pattern></defs>
<rect width="100%" height="100%" fill="#ffffff"/>
"##,
    );
    let first = &layouts[0];
    let modes: Vec<&str> = layouts.iter().map(|l| l.target().mode_name()).collect();
    let o = first.options();
    let _ = writeln!(
        s,
        r##"<text x="20" y="30" font-size="19" font-weight="bold" fill="#222">{} {} — kernel virtual address space</text>"##,
        first.target().arch_name(),
        modes.join(" · ")
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="50" font-size="12" fill="#555">{} profile · kasan {} · band height grows with log2(size); user space and the hole are cut short</text>"##,
        o.profile.name(),
        o.kasan.name()
    );

    // Ribbons first, so bands draw over their ends.
    for i in 1..layouts.len() {
        let (a, b) = (&layouts[i - 1], &layouts[i]);
        let (x1, x2) = (column_x(i - 1) + BAND_W, column_x(i));
        let xm = (x1 + x2) / 2.0;
        for (ia, ra) in a.regions().iter().enumerate() {
            if is_cut(ra) || ra.name() == "unused" || ra.name() == "guard" {
                continue;
            }
            let Some(ib) = b.regions().iter().position(|rb| rb.name() == ra.name()) else { continue };
            let (pa, pb) = (&placed[i - 1].0[ia], &placed[i].0[ib]);
            let (t1, b1, t2, b2) = (pa.top, pa.top + pa.height, pb.top, pb.top + pb.height);
            let _ = writeln!(
                s,
                r#"<path d="M{x1},{t1} C{xm},{t1} {xm},{t2} {x2},{t2} L{x2},{b2} C{xm},{b2} {xm},{b1} {x1},{b1} Z" fill="{}" fill-opacity="0.45" stroke="none"/>"#,
                color(ra.name())
            );
        }
    }

    for (i, l) in layouts.iter().enumerate() {
        let x = column_x(i);
        let wide = l.target().is_64bit();
        let (bands, gaps, end) = &placed[i];
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" font-size="15" font-weight="bold" text-anchor="middle" fill="#222">{}</text>"##,
            x + BAND_W / 2.0,
            TOP - 22.0,
            match l.options().split {
                Some(split) => format!("{} vmsplit={}", l.target().mode_name(), split.name()),
                None => l.target().mode_name().to_string(),
            }
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" font-size="10.5" text-anchor="middle" fill="#555">{}-bit VA · PAGE_OFFSET 0x{}</text>"##,
            x + BAND_W / 2.0,
            TOP - 8.0,
            l.va_bits(),
            addr(l.page_offset(), wide)
        );
        for (y, start, last) in gaps {
            let _ = writeln!(
                s,
                r##"<rect x="{x}" y="{y}" width="{BAND_W}" height="{GAP_H}" fill="url(#hatch)" stroke="#bbb" stroke-width="0.5"><title>unlisted gap {}-{} ({})</title></rect>"##,
                addr(*start, wide),
                addr(*last, wide),
                human(last - start + 1)
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#777">gap {}</text>"##,
                x + BAND_W / 2.0,
                y + GAP_H - 3.5,
                human(last - start + 1)
            );
        }
        for (r, p) in l.regions().iter().zip(bands) {
            band(&mut s, x, r, p, wide, single, l.image());
        }
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" font-family="DejaVu Sans Mono, monospace" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">{}</text>"##,
            x - 6.0,
            end + 4.0,
            if wide { "ffffffffffffffff" } else { "ffffffff" }
        );
    }
    // The figures: one line under a single column, a short list under each of several.
    for (i, l) in layouts.iter().enumerate() {
        let f = facts(l);
        if single {
            let _ = writeln!(
                s,
                r##"<text x="20" y="{:.1}" font-size="12" fill="#333">{}</text>"##,
                bottom + 28.0,
                esc(&f.join(", "))
            );
        } else {
            for (j, line) in f.iter().enumerate() {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11.5" fill="#333">{}</text>"##,
                    column_x(i),
                    bottom + 28.0 + 15.0 * j as f64,
                    esc(line)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="20" y="{:.1}" font-size="11" fill="#777">Hatched: the non-canonical hole and unlisted gaps. Hover a band for its exact range.</text>"##,
        height - 34.0
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="{:.1}" font-size="11" fill="#777" font-family="DejaVu Sans Mono, monospace">$ {}</text>"##,
        height - 16.0,
        esc(caption)
    );
    s.push_str("</svg>\n");
    s
}

/// The figures of a layout: user space, lowmem, highmem, vmalloc, the image.
fn facts(l: &Layout) -> Vec<String> {
    let mut f = vec![format!("user {}", human(l.user_bytes()))];
    if let Some(low) = l.lowmem() {
        f.push(format!("lowmem {}", human(low.size())));
    }
    if l.parts().highmem_capable {
        f.push(format!("highmem {}", human(l.highmem())));
    }
    f.push(format!("vmalloc {}", human(l.vmalloc_bytes())));
    if let Some(img) = l.image() {
        f.push(format!("image {} at {:#x}", human(img.size()), img.start()));
    }
    f
}

fn band(s: &mut String, x: f64, r: &Region, p: &Placed, wide: bool, single: bool, image: Option<VirtRange>) {
    let void = is_void(r);
    let fill = if r.name() == "hole" || void { "url(#hatch)" } else { color(r.name()) };
    let title = format!(
        "{}: {}-{} ({}) {}",
        r.name(),
        addr(r.start(), wide),
        addr(r.last(), wide),
        human(r.size()),
        r.description()
    );
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{}" width="{BAND_W}" height="{}" fill="{fill}" stroke="#555" stroke-width="0.8"><title>{}</title></rect>"##,
        p.top,
        p.height,
        esc(&title)
    );
    if is_cut(r) {
        // Break marks: the band is not to scale.
        let y = p.top + p.height / 2.0;
        let _ = writeln!(
            s,
            r##"<path d="M{x0},{y0} l5,-4 l5,8 l5,-4 l5,0 L{x0},{y1} Z" fill="#fff" stroke="none"/><path d="M{x0},{y0} l5,-4 l5,8 l5,-4 M{x0},{y1} l5,-4 l5,8 l5,-4" fill="none" stroke="#555" stroke-width="1.2"/>"##,
            x0 = x - 8.0,
            y0 = y - 3.0,
            y1 = y + 4.0
        );
    }
    let cy = p.top + p.height / 2.0;
    let text_fill = match r.name() {
        "kernel" => "#fff",
        _ if void => "#666",
        _ => "#1a1a1a",
    };
    let (name_size, weight) = if void { (11, "normal") } else { (13, "bold") };
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="{name_size}" font-weight="{weight}" fill="{text_fill}">{}</text><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="{text_fill}">{}</text>"##,
        x + 14.0,
        cy + 4.5,
        esc(r.name()),
        x + BAND_W - 8.0,
        cy + 4.5,
        human(r.size())
    );
    if let Some(img) = image.filter(|i| r.range().contains(i.start()) && p.height >= 40.0) {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10.5" fill="{text_fill}">image {} at {}</text>"##,
            x + 14.0,
            cy + 19.0,
            human(img.size()),
            addr(img.start().as_u64(), wide)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" font-family="DejaVu Sans Mono, monospace" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">{}</text>"##,
        x - 6.0,
        p.top + 4.0,
        addr(r.start(), wide)
    );
    if single {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11.5" fill="#444">{}</text>"##,
            x + BAND_W + 12.0,
            cy + 4.0,
            esc(r.description())
        );
    }
}

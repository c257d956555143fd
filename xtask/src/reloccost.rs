//! `xtask reloc-cost`: what a relocatable kernel costs (issue 13, docs/KERNEL.md "The price
//! of relocation"). Builds the kernel twice — (a) as `make kernel` builds it
//! (`relocation-model=pie`, KASLR), (b) with `-C relocation-model=static` and
//! `--cfg kvas_static` (no KASLR) — and compares, from the ELF: text and image size, the
//! instructions in text, `auipc`s, GOT entries and GOT-indirect accesses
//! (`R_RISCV_GOT_HI20`), pointer slots the boot moves; from boots under `-icount shift=0`
//! (instret exact): instructions from entry to the layout dump, one relocation pass, and the
//! hot paths the kernel measures (`kvas: cost ...`) and those user space measures (`ut: cost
//! ...`: a `getpid` round trip, 4 KiB and 2 MiB demand faults; [`crate::usercases::parse_user_cost`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::elf::{Elf, SHF_ALLOC, SHF_EXECINSTR, SHT_RELA};
use crate::qemu::{run_bounded, Boot};

const R_RISCV_64: u32 = 2;
const R_RISCV_GOT_HI20: u32 = 20;
const R_RISCV_PCREL_HI20: u32 = 23;
const R_RISCV_HI20: u32 = 26;

/// What the ELF says about one build.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Static {
    /// Bytes of text (`__text_end - __kernel_start`).
    pub text: u64,
    /// Bytes of the `.text` section.
    pub text_section: u64,
    /// Bytes of the image (`__kernel_end - __kernel_start`).
    pub image: u64,
    /// Instructions in text (decoded by length: 2 or 4 bytes).
    pub instructions: u64,
    /// `auipc` instructions in text.
    pub auipc: u64,
    /// Entries of `.got`.
    pub got_entries: u64,
    /// GOT-indirect accesses in code (`R_RISCV_GOT_HI20`: `auipc` + `ld` from the GOT).
    pub got_loads: u64,
    /// PC-relative address pairs in code (`R_RISCV_PCREL_HI20`).
    pub pcrel: u64,
    /// Absolute address pairs in code (`R_RISCV_HI20`: `lui`).
    pub absolute: u64,
    /// Absolute 64-bit pointers in allocated data (`R_RISCV_64`).
    pub data_pointers: u64,
    /// The slots the relocation table lists (its `count` word).
    pub reloc_slots: u64,
}

/// Counts instructions and `auipc`s in RISC-V code (`text`), by instruction length.
pub fn count_code(text: &[u8]) -> (u64, u64) {
    let (mut at, mut n, mut auipc) = (0, 0, 0);
    while at + 2 <= text.len() {
        let low = text[at];
        if low & 3 != 3 {
            at += 2;
        } else {
            if low & 0x7f == 0x17 {
                auipc += 1;
            }
            at += 4;
        }
        n += 1;
    }
    (n, auipc)
}

/// Reads [`Static`] from a sealed kernel ELF.
pub fn read_static(bytes: &[u8]) -> Result<Static, String> {
    let elf = Elf::parse(bytes).map_err(|e| e.to_string())?;
    let sym = |name| elf.symbol(name).map_err(|e| e.to_string());
    let start = sym("__kernel_start")?;
    let mut s =
        Static { text: sym("__text_end")? - start, image: sym("__kernel_end")? - start, ..Static::default() };
    let text = elf.section(".text").ok_or("no .text")?;
    let code =
        bytes.get(text.offset as usize..(text.offset + text.size) as usize).ok_or(".text past the file")?;
    (s.instructions, s.auipc) = count_code(code);
    s.text_section = text.size;
    s.got_entries = elf.section(".got").map_or(0, |g| g.size / 8);
    for rela in elf.sections.iter().filter(|r| r.kind == SHT_RELA) {
        let Some(target) = elf.sections.get(rela.info as usize) else { continue };
        if target.flags & SHF_ALLOC == 0 {
            continue;
        }
        let in_code = target.flags & SHF_EXECINSTR != 0;
        for r in elf.relas(rela).map_err(|e| e.to_string())? {
            match (in_code, r.kind) {
                (true, R_RISCV_GOT_HI20) => s.got_loads += 1,
                (true, R_RISCV_PCREL_HI20) => s.pcrel += 1,
                (true, R_RISCV_HI20) => s.absolute += 1,
                (false, R_RISCV_64) => s.data_pointers += 1,
                _ => {}
            }
        }
    }
    let table = elf.file_offset(sym("__kvas_reloc")?).map_err(|e| e.to_string())?;
    s.reloc_slots = crate::elf::u64_at(bytes, table + 8).map_err(|e| e.to_string())?;
    Ok(s)
}

/// What one boot printed.
#[derive(Debug, Default)]
struct Run {
    boot: u64,
    reloc_pass: u64,
    costs: Vec<(String, u64)>,
}

fn number_after(output: &str, prefix: &str) -> Option<u64> {
    let rest = output.lines().find_map(|l| l.trim_end_matches('\r').strip_prefix(prefix))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Boots `kernel` on the tree `dtb` with `append`, under `-icount shift=0`.
fn boot(kernel: &Path, dtb: &Path, append: &str) -> Result<Run, String> {
    let mut b = Boot::new(kernel.to_path_buf());
    b.dtb = Some(dtb.to_path_buf());
    b.append = append.into();
    b.extra = vec!["-icount".into(), "shift=0".into()];
    let out = run_bounded(&b, crate::boottest::TIME_LIMIT)?;
    let o = &out.output;
    if out.code != Some(0) {
        return Err(format!("{} failed ({:?}):\n{o}", b.describe(), out.code));
    }
    let boot = number_after(o, "kvas: boot instructions ").ok_or("no boot-instructions line")?;
    let reloc_pass = o
        .lines()
        .find_map(|l| l.split_once(" pointer slots, ").filter(|_| l.starts_with("kvas: relocation ")))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .ok_or("no relocation line")?;
    let mut costs = o
        .lines()
        .filter_map(|l| {
            let rest = l.trim_end_matches('\r').strip_prefix("kvas: cost ")?;
            let (name, n) = rest.split_once(' ')?;
            Some((name.to_string(), n.split_whitespace().next()?.parse().ok()?))
        })
        .collect::<Vec<_>>();
    // User space's round trip and demand faults, measured in U-mode by `ut cost`.
    let user = crate::usercases::parse_user_cost(o).map_err(|e| format!("{}: {e}:\n{o}", b.describe()))?;
    costs.extend(user.rows().map(|(name, n)| (name.to_string(), n)));
    Ok(Run { boot, reloc_pass, costs })
}

/// Builds both kernels, measures, prints the comparison.
pub fn run() -> Result<ExitCode, String> {
    let relocatable = crate::build_kernel()?;
    let static_elf = crate::repo_root().join("kernel/target/kvas-kernel-static.elf");
    let fixed = crate::build_kernel_variant(
        "-static",
        &["-Crelocation-model=static", "--cfg", "kvas_static"],
        &static_elf,
    )?;
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let (a, b) = (read_static(&read(&relocatable)?)?, read_static(&read(&fixed)?)?);
    println!("build                 (a) pie + KASLR   (b) static, no KASLR   (a) - (b)");
    let rows: [(&str, u64, u64); 11] = [
        ("text bytes (4K pages)", a.text, b.text),
        (".text section bytes", a.text_section, b.text_section),
        ("image bytes", a.image, b.image),
        ("instructions in text", a.instructions, b.instructions),
        ("auipc in text", a.auipc, b.auipc),
        ("GOT entries", a.got_entries, b.got_entries),
        ("GOT-indirect accesses", a.got_loads, b.got_loads),
        ("PC-relative pairs", a.pcrel, b.pcrel),
        ("absolute lui pairs", a.absolute, b.absolute),
        ("data pointers (R_64)", a.data_pointers, b.data_pointers),
        ("pointer slots moved", a.reloc_slots, b.reloc_slots),
    ];
    for (name, x, y) in rows {
        println!("{name:<22}{x:>16}{y:>23}{:>12}", x as i64 - y as i64);
    }
    let dir = crate::repo_root().join("kernel/target/reloc-cost");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for (mode, words) in [("sv57", ""), ("sv39", "no4lvl")] {
        let base = Boot::new(relocatable.clone());
        let seeded =
            crate::dtb::compile(&crate::kaslrcases::tree_with_seed(&base, &dir, Some(5))?, &dir, "seed-5")?;
        let unseeded =
            crate::dtb::compile(&crate::kaslrcases::tree_with_seed(&base, &dir, None)?, &dir, "no-seed")?;
        // (b) gets the command line of (a) nokaslr (the word changes nothing there, KASLR is
        // compiled out): a longer `bootargs` makes every device-tree walk longer.
        let nokaslr = format!("{words} nokaslr");
        let runs = [
            ("(a) KASLR, seed 5", boot(&relocatable, &seeded, words)?),
            ("(a) nokaslr", boot(&relocatable, &unseeded, nokaslr.trim())?),
            ("(b) static", boot(&fixed, &unseeded, nokaslr.trim())?),
        ];
        println!("\n{mode}: instructions (instret, -icount shift=0)");
        print!("{:<22}", "");
        for (name, _) in &runs {
            print!("{name:>20}");
        }
        println!();
        print!("{:<22}", "entry to layout dump");
        for (_, r) in &runs {
            print!("{:>20}", r.boot);
        }
        println!();
        print!("{:<22}", "one relocation pass");
        for (_, r) in &runs {
            print!("{:>20}", r.reloc_pass);
        }
        println!();
        print!("{:<22}", "  minus both passes");
        for (_, r) in &runs {
            print!("{:>20}", r.boot - 2 * r.reloc_pass);
        }
        println!();
        for (name, _) in &runs[0].1.costs {
            print!("{name:<22}");
            for (_, r) in &runs {
                match r.costs.iter().find(|c| &c.0 == name) {
                    Some((_, n)) => print!("{n:>20}"),
                    None => print!("{:>20}", "-"),
                }
            }
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_instructions_by_length() {
        // auipc a0, 0 (17 05 00 00); c.nop (01 00); addi a0, a0, 0 (13 05 05 00); auipc t0 (97 02 00 00)
        let code = [0x17, 0x05, 0, 0, 0x01, 0x00, 0x13, 0x05, 0x05, 0x00, 0x97, 0x02, 0, 0];
        assert_eq!(count_code(&code), (4, 2));
        assert_eq!(count_code(&[]), (0, 0));
        assert_eq!(count_code(&[0x01, 0x00, 0x01, 0x00]), (2, 0));
    }
}

//! Post-link processing of the kernel ELF.
//!
//! The kernel runs its first Rust code with the MMU off at whatever physical address it was
//! loaded, while it is linked at `KERNEL_LINK_ADDR`. Its code is position independent, but
//! its data holds absolute pointers (vtables, panic locations, `format_args!` pieces, GOT
//! entries). The link keeps its relocation records (`--emit-relocs`); [`seal`] reads them,
//! refuses code that uses absolute addresses, and writes the offset of every 64-bit data
//! slot that points into the image to the kernel's `.kvas_reloc` table, which boot applies
//! (kernel/src/boot/reloc.rs). The table has exactly as many entries as the link has slots
//! (the build passes the count of the previous link, `KVAS_RELOC_SLOTS`, and links again if
//! it changed). [`check_statics`] enforces the rule that makes the scheme sound: no static
//! that boot could write with the MMU off may hold a pointer (it would be a physical one
//! after the switch), so every writable static must be on a reviewed list of pointer-free
//! ones. [`with_load_address`] moves the physical load address in the program headers, for
//! boot tests at other addresses.

use crate::elf::{u32_at, u64_at, Elf, ElfError, PT_LOAD, SHF_ALLOC, SHF_EXECINSTR, SHT_RELA};

/// "kvasrel1", as kernel/src/boot/reloc.rs expects.
const RELOC_MAGIC: u64 = u64::from_le_bytes(*b"kvasrel1");
const EM_RISCV: u16 = 243;

const R_RISCV_64: u32 = 2;
/// Relocation types that put an absolute address into code.
const ABSOLUTE_IN_CODE: &[(u32, &str)] = &[
    (1, "R_RISCV_32"),
    (2, "R_RISCV_64"),
    (26, "R_RISCV_HI20"),
    (27, "R_RISCV_LO12_I"),
    (28, "R_RISCV_LO12_S"),
];
/// Relocation types the kernel must never contain (dynamic linking, TLS).
const FORBIDDEN: &[(u32, &str)] = &[
    (3, "R_RISCV_RELATIVE"),
    (4, "R_RISCV_COPY"),
    (5, "R_RISCV_JUMP_SLOT"),
    (6, "R_RISCV_TLS_DTPMOD32"),
    (7, "R_RISCV_TLS_DTPMOD64"),
    (10, "R_RISCV_TLS_TPREL32"),
    (11, "R_RISCV_TLS_TPREL64"),
    (21, "R_RISCV_TLS_GOT_HI20"),
    (22, "R_RISCV_TLS_GD_HI20"),
    (29, "R_RISCV_TPREL_HI20"),
];

/// What [`seal`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct SealReport {
    /// Pointer slots of the image.
    pub slots: usize,
    /// Entries of the table; the table is filled only when they are equal.
    pub capacity: usize,
}

impl SealReport {
    /// Whether the table was filled (it has exactly one entry per slot).
    pub fn sealed(&self) -> bool {
        self.slots == self.capacity
    }
}

/// The writable statics of the kernel that hold no pointer, with why (mangled-name path
/// suffixes). Boot writes some of them with the MMU off; a pointer stored there would be a
/// physical address after the switch, which the relocation table cannot fix (it moves only
/// the pointers the link put in the image). A static not listed here fails the build.
pub const POINTER_FREE_STATICS: &[(&str, &str)] = &[
    ("boot::handoff::HANDOFF", "the MMU-off hand-off: an array of AtomicU64"),
    ("mm::frames::POOL", "page-table frames: PTEs hold physical frame numbers, never Rust pointers"),
    ("power::FINISHER", "an AtomicU64 address, set again to the fixmap address first thing in kmain"),
    ("power::FINISHER_TRIED", "an AtomicBool"),
    ("power::FAILING", "an AtomicBool"),
    ("console::HAS_DBCN", "an AtomicBool"),
    ("trap::RECOVERED", "AtomicU64s: scause, stval, sepc"),
    ("module::exports::LOG_CALLS", "an AtomicU64 counter"),
    ("kvas_export_mailbox", "an AtomicU64 modules write"),
    ("selftest::SCRATCH", "a u8 a self-test writes"),
    ("mm::shootdown::KERNEL_HARTS", "an AtomicU64 hart mask"),
    ("mm::shootdown::RFENCE_CALLS", "an AtomicU64 counter"),
    ("mm::shootdown::RFENCE_INSTRUCTIONS", "an AtomicU64 counter"),
    ("mm::shootdown::ASID_FLUSHES", "an AtomicU64 counter"),
    ("mm::shootdown::ASID_FLUSHES_ALL", "an AtomicU64 counter"),
    ("console::OWNER", "an AtomicU64 hart id + 1"),
    ("smp::START", "AtomicU64s: satp, the entry and stack as numbers, written with paging on"),
    ("smp::JOB_GEN", "an AtomicU64 counter"),
    ("smp::DONE", "AtomicU64 counters"),
    (
        "smp::JOB",
        "an AtomicUsize address of a reference on the caller's stack, stored with paging on only \
         (on_each_hart, after kmain's switch) and cleared before the caller returns",
    ),
    ("user::uaccess::LAST", "AtomicU64s: the last user copy's scause and stval"),
];

/// A kernel symbol's path: `kvas_kernel::a::B` from Rust's legacy (`_ZN11kvas_kernel1a1B17h…E`)
/// or v0 (`_RNvNtCs…_11kvas_kernel1a1B`) mangling, both of which spell each path segment as
/// its length and its text; other names as they are.
fn demangle(name: &str) -> String {
    let Some(at) = name.find("11kvas_kernel") else { return name.to_string() };
    let mut rest = &name[at..];
    let mut parts = Vec::new();
    while let Some(digits) = rest.find(|c: char| !c.is_ascii_digit()).filter(|&n| n > 0) {
        let Ok(len) = rest[..digits].parse::<usize>() else { break };
        let Some(part) = rest.get(digits..digits + len) else { break };
        parts.push(part);
        rest = &rest[digits + len..];
    }
    if parts.last().is_some_and(|p| p.len() == 17 && p.starts_with('h')) {
        parts.pop();
    }
    parts.join("::")
}

/// Checks that every writable static of the image (data and bss objects) is on
/// [`POINTER_FREE_STATICS`]; see the module doc.
pub fn check_statics(image: &[u8]) -> Result<usize, ElfError> {
    const STT_OBJECT: u8 = 1;
    let elf = Elf::parse(image)?;
    let (start, end) = (elf.symbol("__data_start")?, elf.symbol("__kernel_end")?);
    let mut checked = 0;
    for (name, value, kind) in elf.symbols()? {
        if kind != STT_OBJECT || !(start..end).contains(&value) {
            continue;
        }
        if name.starts_with(".L") {
            return Err(ElfError(format!(
                "writable static block `{name}` (LLVM's merged globals) hides its statics' names: the \
                 kernel must build with -enable-global-merge=false (kernel/.cargo/config.toml)"
            )));
        }
        let path = demangle(&name);
        if !POINTER_FREE_STATICS.iter().any(|(p, _)| path == *p || path.ends_with(&format!("::{p}"))) {
            return Err(ElfError(format!(
                "writable static `{path}` is not on the list of pointer-free statics: boot may write it \
                 with the MMU off, and a pointer made then is physical after the switch. If it holds no \
                 pointer, add it to POINTER_FREE_STATICS in xtask/src/image.rs, saying why"
            )));
        }
        checked += 1;
    }
    Ok(checked)
}

/// Fills the relocation table of the kernel ELF in `image` (in place) when it has exactly
/// one entry per pointer slot; otherwise leaves it and reports both counts.
pub fn seal(image: &mut [u8]) -> Result<SealReport, ElfError> {
    let (slots, table_off, capacity) = {
        let elf = Elf::parse(image)?;
        if elf.machine != EM_RISCV {
            return Err(ElfError(format!("e_machine is {}, not RISC-V ({EM_RISCV})", elf.machine)));
        }
        let start = elf.symbol("__kernel_start")?;
        let end = elf.symbol("__kernel_end")?;
        let mut slots = Vec::new();
        let mut add_slot = |va: u64, what: &str| -> Result<(), ElfError> {
            let value = u64_at(elf.data, elf.file_offset(va)?)?;
            if (start..=end).contains(&value) {
                if va & 7 != 0 {
                    return Err(ElfError(format!("{what}: pointer slot at {va:#x} is not 8-byte aligned")));
                }
                slots.push(u32::try_from(va - start).map_err(|_| {
                    ElfError(format!("{what}: slot {va:#x} lies more than 4 GiB past the image start"))
                })?);
            }
            Ok(())
        };
        for rela in elf.sections.iter().filter(|s| s.kind == SHT_RELA) {
            let target = elf.sections.get(rela.info as usize).ok_or_else(|| {
                ElfError(format!("{}: target section index {} out of range", rela.name, rela.info))
            })?;
            if target.flags & SHF_ALLOC == 0 {
                continue; // debug information
            }
            let code = target.flags & SHF_EXECINSTR != 0;
            for r in elf.relas(rela)? {
                if let Some((_, name)) = FORBIDDEN.iter().find(|(k, _)| *k == r.kind) {
                    return Err(ElfError(format!(
                        "{}: {name} at {:#x}: the kernel must be a static, TLS-free image",
                        rela.name, r.offset
                    )));
                }
                if code {
                    if let Some((_, name)) = ABSOLUTE_IN_CODE.iter().find(|(k, _)| *k == r.kind) {
                        return Err(ElfError(format!(
                            "{}: {name} at {:#x}: code uses an absolute address, which breaks with the \
                             MMU off (build with relocation-model=pie, code-model=medium)",
                            rela.name, r.offset
                        )));
                    }
                } else if r.kind == R_RISCV_64 {
                    add_slot(r.offset, &rela.name)?;
                }
            }
        }
        // The linker fills GOT entries itself, without records: every one pointing into the
        // image is a slot too.
        if let Some(got) = elf.section(".got") {
            for va in (got.addr..got.addr + got.size).step_by(8) {
                add_slot(va, ".got")?;
            }
        }
        slots.sort_unstable();
        slots.dedup();
        let table = elf.symbol("__kvas_reloc")?;
        let section = elf.section(".kvas_reloc").ok_or_else(|| ElfError("no .kvas_reloc section".into()))?;
        let capacity = ((section.size - 16) / 4) as usize;
        (slots, elf.file_offset(table)?, capacity)
    };
    if slots.len() != capacity {
        // Not an error: the build links again with the table sized to `slots`.
        return Ok(SealReport { slots: slots.len(), capacity });
    }
    image[table_off..table_off + 8].copy_from_slice(&RELOC_MAGIC.to_le_bytes());
    image[table_off + 8..table_off + 16].copy_from_slice(&(slots.len() as u64).to_le_bytes());
    for (i, s) in slots.iter().enumerate() {
        let o = table_off + 16 + 4 * i;
        image[o..o + 4].copy_from_slice(&s.to_le_bytes());
    }
    Ok(SealReport { slots: slots.len(), capacity })
}

/// Moves the physical load address of every loadable segment so that the image starts at
/// `load` (the virtual addresses, and so the entry point, stay).
pub fn with_load_address(image: &[u8], load: u64) -> Result<Vec<u8>, ElfError> {
    let elf = Elf::parse(image)?;
    let loads: Vec<_> = elf.segments.iter().filter(|s| s.kind == PT_LOAD).collect();
    let base = loads.iter().map(|s| s.paddr).min().ok_or_else(|| ElfError("no PT_LOAD segment".into()))?;
    let mut out = image.to_vec();
    for s in loads {
        let paddr = s.paddr - base + load;
        out[s.header_offset + 24..s.header_offset + 32].copy_from_slice(&paddr.to_le_bytes());
    }
    // Sanity: re-read one header.
    let _ = u32_at(&out, 0)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_elf() {
        let mut junk = b"not an elf at all".to_vec();
        let e = seal(&mut junk).unwrap_err();
        assert!(e.0.contains("not an ELF"), "{e}");
    }

    #[test]
    fn demangles_legacy_rust_names() {
        assert_eq!(
            demangle("_ZN11kvas_kernel5power8FINISHER17h0123456789abcdefE"),
            "kvas_kernel::power::FINISHER"
        );
        assert_eq!(demangle("kvas_export_mailbox"), "kvas_export_mailbox");
    }

    #[test]
    fn rejects_truncated_elf() {
        let mut head = b"\x7fELF\x02\x01\x01".to_vec();
        let e = seal(&mut head).unwrap_err();
        assert!(e.0.contains("truncated"), "{e}");
    }
}

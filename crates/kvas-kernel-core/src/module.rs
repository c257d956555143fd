//! The module loader's pure part: reading a relocatable riscv64 ELF object (with the `object`
//! crate), laying its loaded sections out, copying them into the module's area and applying
//! their RISC-V relocations ([`crate::modreloc`]), undefined symbols resolved by the caller's
//! lookup (the kernel's exports). The kernel (kernel/src/module/loader.rs) allocates and maps
//! the area, protects it and calls the module; everything here works on a byte slice, so the
//! host tests it.
//!
//! Layout: text first, then read-only data, then data and bss, each part starting on a page:
//!
//! ```text
//!  area.start  | .text.* (RX) | .rodata.* (R) | .data.* .bss.* (RW) | guard page |
//! ```

use core::fmt;

use object::elf::{self, FileHeader64, SectionHeader64};
use object::read::elf::{FileHeader, Rela, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{LittleEndian as LE, SectionIndex, SymbolIndex};

use kvas::PAGE_SIZE;

use crate::modreloc::{self, Kind, RelocError};

/// Most sections a module may have (the loader keeps their addresses in a fixed array).
pub const MAX_SECTIONS: usize = 64;

/// The symbol called after loading: `extern "C" fn(u64) -> u64`.
pub const INIT: &[u8] = b"kvas_module_init";
/// The symbol called before unloading, if defined: `extern "C" fn()`.
pub const EXIT: &[u8] = b"kvas_module_exit";

/// Why a module was refused.
#[derive(Debug)]
pub enum ModError<'a> {
    /// The object does not parse (the `object` crate's reason).
    Object(object::read::Error),
    /// The object parses but cannot be laid out.
    Parse(&'static str),
    /// Not a 64-bit little-endian riscv64 relocatable object.
    NotRiscvRel(&'static str, u64),
    /// A relocation the loader does not apply.
    Unsupported {
        /// Its psABI type number.
        r_type: u32,
        /// The section it patches.
        section: &'a str,
    },
    /// A symbol the module uses that the kernel does not export.
    Undefined(&'a str),
    /// A relocation outside its section, or against something not loaded.
    BadRelocation {
        /// The section it patches.
        section: &'a str,
        /// Its offset in that section.
        offset: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// More sections than [`MAX_SECTIONS`].
    TooManySections(usize),
    /// No `kvas_module_init`.
    NoInit,
    /// A relocation that does not reach (or does not fit).
    Reloc(RelocError<'a>),
    /// The modules window or the frames.
    Vm(kvas::Error),
}

impl fmt::Display for ModError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModError::Object(e) => write!(f, "malformed module object: {e}"),
            ModError::Parse(e) => write!(f, "malformed module object: {e}"),
            ModError::NotRiscvRel(what, v) => write!(f, "not a riscv64 relocatable object: {what} {v:#x}"),
            ModError::Unsupported { r_type, section } => {
                write!(f, "relocation type {r_type} in {section} is not supported by the loader")
            }
            ModError::Undefined(s) => write!(f, "undefined symbol `{s}`: the kernel does not export it"),
            ModError::BadRelocation { section, offset, why } => {
                write!(f, "malformed relocation at {section}+{offset:#x}: {why}")
            }
            ModError::TooManySections(n) => write!(f, "{n} sections, more than the loader's {MAX_SECTIONS}"),
            ModError::NoInit => f.write_str("no `kvas_module_init` function"),
            ModError::Reloc(e) => write!(f, "relocation refused: {e}"),
            ModError::Vm(e) => write!(f, "{e}"),
        }
    }
}

impl<'a> From<RelocError<'a>> for ModError<'a> {
    fn from(e: RelocError<'a>) -> Self {
        ModError::Reloc(e)
    }
}

fn parse_err(e: object::read::Error) -> ModError<'static> {
    ModError::Object(e)
}

/// The parsed object.
struct Object<'a> {
    data: &'a [u8],
    sections: SectionTable<'a, FileHeader64<LE>>,
    symbols: SymbolTable<'a, FileHeader64<LE>>,
}

impl<'a> Object<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, ModError<'a>> {
        let header = FileHeader64::<LE>::parse(data).map_err(parse_err)?;
        let e = header.endian().map_err(parse_err)?;
        if header.e_machine(e) != elf::EM_RISCV {
            return Err(ModError::NotRiscvRel("e_machine", header.e_machine(e) as u64));
        }
        if header.e_type(e) != elf::ET_REL {
            return Err(ModError::NotRiscvRel("e_type (not ET_REL)", header.e_type(e) as u64));
        }
        let sections = header.sections(e, data).map_err(parse_err)?;
        if sections.len() > MAX_SECTIONS {
            return Err(ModError::TooManySections(sections.len()));
        }
        let symbols = sections.symbols(e, data, elf::SHT_SYMTAB).map_err(parse_err)?;
        Ok(Object { data, sections, symbols })
    }

    fn section_name(&self, s: &'a SectionHeader64<LE>) -> &'a str {
        self.sections.section_name(LE, s).ok().and_then(|n| core::str::from_utf8(n).ok()).unwrap_or("?")
    }

    fn symbol_name(&self, sym: &'a elf::Sym64<LE>) -> &'a str {
        if sym.st_type() == elf::STT_SECTION {
            if let Ok(s) = self.sections.section(SectionIndex(sym.st_shndx(LE) as usize)) {
                return self.section_name(s);
            }
        }
        self.symbols.symbol_name(LE, sym).ok().and_then(|n| core::str::from_utf8(n).ok()).unwrap_or("?")
    }
}

/// Which part a loaded section goes to (0 text, 1 read-only, 2 data), if it is loaded.
fn part_of(s: &SectionHeader64<LE>) -> Option<usize> {
    let flags = s.sh_flags(LE);
    if flags & elf::SHF_ALLOC as u64 == 0 || s.sh_size(LE) == 0 {
        None
    } else if flags & elf::SHF_EXECINSTR as u64 != 0 {
        Some(0)
    } else if flags & elf::SHF_WRITE as u64 != 0 {
        Some(2)
    } else {
        Some(1)
    }
}

fn round_up(v: u64, align: u64) -> Option<u64> {
    v.checked_next_multiple_of(align.max(1))
}

/// Section offsets within their part, and the parts' sizes.
fn plan(obj: &Object) -> Result<([u64; MAX_SECTIONS], [u64; 3]), ModError<'static>> {
    let mut offsets = [u64::MAX; MAX_SECTIONS];
    let mut sizes = [0u64; 3];
    for (i, s) in obj.sections.iter().enumerate() {
        let Some(part) = part_of(s) else { continue };
        let align = s.sh_addralign(LE);
        if !align.is_power_of_two() && align != 0 || align > PAGE_SIZE {
            return Err(ModError::Parse("a section's alignment is not a power of two up to 4 KiB"));
        }
        let off = round_up(sizes[part], align).ok_or(ModError::Parse("sections too large"))?;
        offsets[i] = off;
        sizes[part] = off.checked_add(s.sh_size(LE)).ok_or(ModError::Parse("sections too large"))?;
    }
    Ok((offsets, sizes))
}

/// A module object read and laid out, not yet placed: how many bytes (whole pages) its
/// area needs, and where each loaded section goes inside it.
pub struct Plan<'a> {
    obj: Object<'a>,
    offsets: [u64; MAX_SECTIONS],
    sizes: [u64; 3],
    starts: [u64; 3],
    total: u64,
}

/// A module placed and relocated in its area.
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    /// `[start, end)` of its text (RX), read-only data (R) and data (RW).
    pub parts: [(u64, u64); 3],
    /// The address of `kvas_module_init`.
    pub init: u64,
    /// The address of `kvas_module_exit`, if any.
    pub exit: Option<u64>,
    /// How many relocations were applied, by psABI type number (0..64).
    pub applied: [u32; 64],
}

impl<'a> Plan<'a> {
    /// Reads `data` (a riscv64 `ET_REL` object) and lays its loaded sections out in three
    /// page-aligned parts (see the module doc).
    pub fn new(data: &'a [u8]) -> Result<Self, ModError<'a>> {
        let obj = Object::parse(data)?;
        let (offsets, sizes) = plan(&obj)?;
        let mut starts = [0u64; 3];
        let mut total = 0u64;
        for (part, &size) in sizes.iter().enumerate() {
            starts[part] = total;
            let end = total.checked_add(size).ok_or(ModError::Parse("sections too large"))?;
            total = round_up(end, PAGE_SIZE).ok_or(ModError::Parse("sections too large"))?;
        }
        Ok(Plan { obj, offsets, sizes, starts, total: total.max(PAGE_SIZE) })
    }

    /// Bytes of the area the module needs (whole pages, at least one).
    pub fn size(&self) -> u64 {
        self.total
    }

    /// Copies the sections into `mem` (the module's area, which lies at virtual `base`; bss
    /// and padding zeroed), applies every relocation of a loaded section, resolving undefined
    /// symbols with `lookup` (the kernel's exports), and finds `kvas_module_init` and
    /// `kvas_module_exit`. `mem` must be at least [`Plan::size`] bytes.
    pub fn place(
        &self,
        mem: &mut [u8],
        base: u64,
        lookup: &dyn Fn(&[u8]) -> Option<u64>,
    ) -> Result<Placed, ModError<'a>> {
        if (mem.len() as u64) < self.total {
            return Err(ModError::Parse("the area is smaller than the module"));
        }
        let obj = &self.obj;
        let mut addrs = [0u64; MAX_SECTIONS];
        for (i, off) in self.offsets.iter().enumerate().take(obj.sections.len()) {
            if let Some(part) = obj.sections.section(SectionIndex(i)).ok().and_then(part_of) {
                addrs[i] = base + self.starts[part] + off;
            }
        }
        let parts = [0, 1, 2].map(|p| (base + self.starts[p], base + self.starts[p] + self.sizes[p]));
        let applied = place_and_relocate(obj, mem, base, &addrs, lookup)?;
        let init = find(obj, &addrs, INIT).ok_or(ModError::NoInit)?;
        Ok(Placed { parts, init, exit: find(obj, &addrs, EXIT), applied })
    }
}

/// The address of the defined function `name`.
fn find(obj: &Object, addrs: &[u64; MAX_SECTIONS], name: &[u8]) -> Option<u64> {
    obj.symbols.iter().find_map(|sym| {
        let defined = sym.st_shndx(LE) != elf::SHN_UNDEF && sym.st_type() == elf::STT_FUNC;
        let named = obj.symbols.symbol_name(LE, sym).ok() == Some(name);
        let a = *addrs.get(sym.st_shndx(LE) as usize)?;
        (defined && named && a != 0).then(|| a + sym.st_value(LE))
    })
}

/// Copies the sections into the (RW-mapped, zeroed here) area and applies every relocation
/// of a loaded section. Returns the count applied by type.
fn place_and_relocate<'a>(
    obj: &Object<'a>,
    mem: &mut [u8],
    base: u64,
    addrs: &[u64; MAX_SECTIONS],
    lookup: &dyn Fn(&[u8]) -> Option<u64>,
) -> Result<[u32; 64], ModError<'a>> {
    mem.fill(0);
    for (i, s) in obj.sections.iter().enumerate() {
        if addrs[i] == 0 || s.sh_type(LE) == elf::SHT_NOBITS {
            continue;
        }
        let bytes = s.data(LE, obj.data).map_err(parse_err)?;
        let off = (addrs[i] - base) as usize;
        mem.get_mut(off..off + bytes.len())
            .ok_or(ModError::Parse("a section lies outside the area"))?
            .copy_from_slice(bytes);
    }
    let mut applied = [0u32; 64];
    for s in obj.sections.iter() {
        if s.sh_type(LE) == elf::SHT_REL {
            return Err(ModError::Parse("a REL section: riscv64 objects use RELA"));
        }
        let Some((relas, _)) = s.rela(LE, obj.data).map_err(parse_err)? else { continue };
        let target = SectionIndex(s.sh_info(LE) as usize);
        let tsec = obj.sections.section(target).map_err(parse_err)?;
        let Some(&taddr) = addrs.get(target.0).filter(|&&a| a != 0) else { continue };
        let tname = obj.section_name(tsec);
        let tsize = tsec.sh_size(LE);
        for r in relas {
            let r_type = r.r_type(LE, false);
            let Some(kind) = Kind::from_type(r_type) else {
                return Err(ModError::Unsupported { r_type, section: tname });
            };
            let offset = r.r_offset(LE);
            if offset.checked_add(kind.width() as u64).is_none_or(|end| end > tsize) {
                return Err(ModError::BadRelocation {
                    section: tname,
                    offset,
                    why: "the place is outside its section",
                });
            }
            if matches!(kind, Kind::None | Kind::Relax | Kind::Align) {
                // Hints with no symbol: the loader does not relax, so there is nothing to do.
                applied[r_type as usize % 64] += 1;
                continue;
            }
            let (value, name) = match kind {
                Kind::PcrelLo12I | Kind::PcrelLo12S => {
                    pcrel_hi_value(obj, relas, r.r_sym(LE, false), addrs, taddr, lookup)
                        .map_err(|why| ModError::BadRelocation { section: tname, offset, why })?
                }
                _ => {
                    let (s, name) = symbol_value(obj, r.r_sym(LE, false), addrs, lookup).map_err(|e| {
                        e.unwrap_or(ModError::BadRelocation { section: tname, offset, why: "bad symbol" })
                    })?;
                    (s.wrapping_add(r.r_addend(LE) as u64), name)
                }
            };
            let place = taddr + offset;
            let at = (place - base) as usize;
            let bytes = mem.get_mut(at..).ok_or(ModError::Parse("a relocation lies outside the area"))?;
            modreloc::apply(kind, bytes, place, value, name)?;
            applied[r_type as usize % 64] += 1;
        }
    }
    Ok(applied)
}

/// `S` and the name of symbol `index`: its loaded address, or the kernel export's.
fn symbol_value<'a>(
    obj: &Object<'a>,
    index: u32,
    addrs: &[u64; MAX_SECTIONS],
    lookup: &dyn Fn(&[u8]) -> Option<u64>,
) -> Result<(u64, &'a str), Option<ModError<'a>>> {
    let sym = obj.symbols.symbol(SymbolIndex(index as usize)).map_err(|e| Some(parse_err(e)))?;
    let name = obj.symbol_name(sym);
    match sym.st_shndx(LE) {
        elf::SHN_UNDEF => {
            let raw = obj.symbols.symbol_name(LE, sym).map_err(|e| Some(parse_err(e)))?;
            lookup(raw).map(|a| (a, name)).ok_or(Some(ModError::Undefined(name)))
        }
        elf::SHN_ABS => Ok((sym.st_value(LE), name)),
        shndx => match addrs.get(shndx as usize) {
            Some(&a) if a != 0 => Ok((a + sym.st_value(LE), name)),
            _ => Err(None),
        },
    }
}

/// For a `PCREL_LO12_*` whose symbol is the label of an auipc: the value (`S + A - P`) of
/// the `PCREL_HI20` at that label, and the HI20's symbol name.
fn pcrel_hi_value<'a>(
    obj: &Object<'a>,
    relas: &[elf::Rela64<LE>],
    label: u32,
    addrs: &[u64; MAX_SECTIONS],
    taddr: u64,
    lookup: &dyn Fn(&[u8]) -> Option<u64>,
) -> Result<(u64, &'a str), &'static str> {
    let sym = obj.symbols.symbol(SymbolIndex(label as usize)).map_err(|_| "bad label symbol")?;
    if addrs.get(sym.st_shndx(LE) as usize) != Some(&taddr) {
        return Err("PCREL_LO12's label is not in the section it patches");
    }
    let at = sym.st_value(LE);
    let hi = relas
        .iter()
        .find(|h| h.r_offset(LE) == at && h.r_type(LE, false) == modreloc::R_RISCV_PCREL_HI20)
        .ok_or("PCREL_LO12 without a PCREL_HI20 at its label")?;
    let (s, name) =
        symbol_value(obj, hi.r_sym(LE, false), addrs, lookup).map_err(|_| "bad PCREL_HI20 symbol")?;
    Ok((s.wrapping_add(hi.r_addend(LE) as u64).wrapping_sub(taddr + at), name))
}

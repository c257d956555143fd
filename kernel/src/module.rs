//! The module loader: places a relocatable riscv64 ELF object (read with the `object` crate)
//! in the modules window, applies its RISC-V relocations ([`crate::modreloc`]), resolves its
//! undefined symbols against the kernel's exports ([`crate::exports`]), maps its text RX, its
//! read-only data R and its data RW, and calls its `kvas_module_init`. [`unload`] calls
//! `kvas_module_exit` if there is one, unmaps and frees it.
//!
//! Placement: the module's pages are one vmalloc-style area ([`kvas::vm::ModulesWindow`]),
//! text first, then read-only data, then data and bss, each part starting on a page:
//!
//! ```text
//!  area.start  | .text.* (RX) | .rodata.* (R) | .data.* .bss.* (RW) | guard page |
//! ```
//!
//! While sections are copied and relocated, every page is mapped RW (never executable); the
//! final attributes come after, with the TLB flushed and `fence.i`, as Linux's
//! `module_enable_rox` does. Any failure unmaps and frees everything the load took.

use core::fmt;

use object::elf::{self, FileHeader64, SectionHeader64};
use object::read::elf::{FileHeader, Rela, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{LittleEndian as LE, SectionIndex, SymbolIndex};

use kvas::paging::Attrs;
use kvas::vm::VmArea;
use kvas::{VirtAddr, PAGE_SIZE};

use crate::modreloc::{self, Kind, RelocError};
use crate::vmalloc::{flush_all, flush_page, map_area, unmap_area, vm};

/// An 8-byte aligned byte string (the `object` crate reads ELF headers in place).
#[repr(C, align(8))]
pub struct Aligned<T: ?Sized>(pub T);

/// The `hello` module (kernel/modules/hello), built into a relocatable object by xtask
/// before the kernel.
pub static HELLO: &Aligned<[u8]> = &Aligned(*include_bytes!("../target/modules/hello.o"));

/// Most sections a module may have (the loader keeps their addresses in a fixed array).
pub const MAX_SECTIONS: usize = 64;

/// The symbol called after loading: `extern "C" fn(u64) -> u64`.
pub const INIT: &[u8] = b"kvas_module_init";
/// The symbol called before unloading, if defined: `extern "C" fn()`.
pub const EXIT: &[u8] = b"kvas_module_exit";

/// Where to put a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The modules window (always, outside tests).
    ModulesWindow,
    /// The vmalloc region: out of the kernel's ±2 GiB reach, for the test that checks the
    /// refusal of relocations that do not reach.
    Vmalloc,
}

/// A loaded module.
#[derive(Debug)]
pub struct Module {
    /// Its pages (and guard page).
    pub area: VmArea,
    /// Where it was put.
    pub placement: Placement,
    /// `[start, end)` of its text (RX), read-only data (R) and data (RW).
    pub parts: [(u64, u64); 3],
    /// The address of `kvas_module_init`.
    pub init: u64,
    /// The address of `kvas_module_exit`, if any.
    pub exit: Option<u64>,
    /// How many relocations were applied, by psABI type number (0..64).
    pub applied: [u32; 64],
}

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
    Unsupported { r_type: u32, section: &'a str },
    /// A symbol the module uses that the kernel does not export.
    Undefined(&'a str),
    /// A relocation outside its section, or against something not loaded.
    BadRelocation { section: &'a str, offset: u64, why: &'static str },
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

/// Loads `data` (see the module doc) at `placement`, and calls its init with `arg`; returns
/// the module and what init returned.
pub fn load(data: &[u8], placement: Placement, arg: u64) -> Result<(Module, u64), ModError<'_>> {
    let obj = Object::parse(data)?;
    let (offsets, sizes) = plan(&obj)?;
    let mut starts = [0u64; 3];
    let mut total = 0u64;
    for (part, &size) in sizes.iter().enumerate() {
        starts[part] = total;
        total = round_up(total + size, PAGE_SIZE).ok_or(ModError::Parse("sections too large"))?;
    }
    // SAFETY: not held across the mapping below.
    let area = match placement {
        Placement::ModulesWindow => unsafe { vm() }.modules.allocate_module(total.max(PAGE_SIZE)),
        Placement::Vmalloc => unsafe { vm() }.vmalloc.allocate(total.max(PAGE_SIZE)),
    }
    .map_err(ModError::Vm)?;
    let release = |area: VmArea| {
        // SAFETY: as above.
        let _ = match placement {
            Placement::ModulesWindow => unsafe { vm() }.modules.free_module(area),
            Placement::Vmalloc => unsafe { vm() }.vmalloc.free(area),
        };
    };
    if let Err(e) = map_area(area, Attrs::KERNEL_RW) {
        release(area);
        return Err(ModError::Vm(e));
    }
    let base = area.start().as_u64();
    let mut addrs = [0u64; MAX_SECTIONS];
    for (i, off) in offsets.iter().enumerate().take(obj.sections.len()) {
        if let Some(part) = obj.sections.section(SectionIndex(i)).ok().and_then(part_of) {
            addrs[i] = base + starts[part] + off;
        }
    }
    let parts = [0, 1, 2].map(|p| (base + starts[p], base + starts[p] + sizes[p]));
    let loaded = place_and_relocate(&obj, base, area.size(), &addrs).and_then(|applied| {
        let init = find(&obj, &addrs, INIT).ok_or(ModError::NoInit)?;
        Ok((applied, init, find(&obj, &addrs, EXIT)))
    });
    let (applied, init, exit) = match loaded {
        Ok(v) => v,
        Err(e) => {
            unmap_area(area);
            release(area);
            return Err(e);
        }
    };
    protect(parts);
    let m = Module { area, placement, parts, init, exit, applied };
    // SAFETY: `init` is `kvas_module_init`, a function of the module's text, now mapped RX
    // and relocated; the module's ABI is `extern "C" fn(u64) -> u64`.
    let f: extern "C" fn(u64) -> u64 = unsafe { core::mem::transmute(init as usize) };
    let ret = f(arg);
    Ok((m, ret))
}

/// Gives text RX and read-only data R (data stays RW), flushes, and syncs the I-cache.
fn protect(parts: [(u64, u64); 3]) {
    let mut t = crate::early::get().tables();
    // SAFETY: no reference from meminit::memory() is live here.
    let frames = unsafe { &mut crate::meminit::memory_mut().frames };
    for ((start, end), attrs) in parts.into_iter().zip([Attrs::KERNEL_RX, Attrs::KERNEL_RO]) {
        let len = round_up(end - start, PAGE_SIZE).unwrap_or(0);
        match t.protect_range(VirtAddr::new(start), len, attrs, &mut *frames) {
            Ok(flush) => flush.apply(flush_page, flush_all),
            Err(e) => crate::power::fatal(format_args!("module: protecting {start:#x}: {e}")),
        }
    }
    // SAFETY: `fence.i` only orders instruction fetches after the stores above.
    unsafe { core::arch::asm!("fence.i") };
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
    base: u64,
    size: u64,
    addrs: &[u64; MAX_SECTIONS],
) -> Result<[u32; 64], ModError<'a>> {
    // SAFETY: the area is mapped RW, only this load uses it.
    let mem = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, size as usize) };
    mem.fill(0);
    for (i, s) in obj.sections.iter().enumerate() {
        if addrs[i] == 0 || s.sh_type(LE) == elf::SHT_NOBITS {
            continue;
        }
        let bytes = s.data(LE, obj.data).map_err(parse_err)?;
        let off = (addrs[i] - base) as usize;
        mem[off..off + bytes.len()].copy_from_slice(bytes);
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
                    pcrel_hi_value(obj, relas, r.r_sym(LE, false), addrs, taddr)
                        .map_err(|why| ModError::BadRelocation { section: tname, offset, why })?
                }
                _ => {
                    let (s, name) = symbol_value(obj, r.r_sym(LE, false), addrs).map_err(|e| {
                        e.unwrap_or(ModError::BadRelocation { section: tname, offset, why: "bad symbol" })
                    })?;
                    (s.wrapping_add(r.r_addend(LE) as u64), name)
                }
            };
            let place = taddr + offset;
            let at = (place - base) as usize;
            modreloc::apply(kind, &mut mem[at..], place, value, name)?;
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
) -> Result<(u64, &'a str), Option<ModError<'a>>> {
    let sym = obj.symbols.symbol(SymbolIndex(index as usize)).map_err(|e| Some(parse_err(e)))?;
    let name = obj.symbol_name(sym);
    match sym.st_shndx(LE) {
        elf::SHN_UNDEF => {
            let raw = obj.symbols.symbol_name(LE, sym).map_err(|e| Some(parse_err(e)))?;
            crate::exports::lookup(raw).map(|a| (a, name)).ok_or(Some(ModError::Undefined(name)))
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
    let (s, name) = symbol_value(obj, hi.r_sym(LE, false), addrs).map_err(|_| "bad PCREL_HI20 symbol")?;
    Ok((s.wrapping_add(hi.r_addend(LE) as u64).wrapping_sub(taddr + at), name))
}

/// Calls the module's exit (if any), unmaps it (TLB flushed) and frees its frames and range.
pub fn unload(m: Module) -> Result<(), kvas::Error> {
    if let Some(exit) = m.exit {
        // SAFETY: `kvas_module_exit` of a loaded module, `extern "C" fn()`.
        let f: extern "C" fn() = unsafe { core::mem::transmute(exit as usize) };
        f();
    }
    unmap_area(m.area);
    // SAFETY: not held across anything else.
    match m.placement {
        Placement::ModulesWindow => unsafe { vm() }.modules.free_module(m.area),
        Placement::Vmalloc => unsafe { vm() }.vmalloc.free(m.area),
    }
}

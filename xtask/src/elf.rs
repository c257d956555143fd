//! A minimal reader for 64-bit little-endian ELF files: the header, section headers,
//! program headers, symbols and RELA records — what the kernel image post-processing needs.

use std::fmt;

/// An error reading an ELF file: what is wrong, and where.
#[derive(Debug)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ElfError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(msg.into()))
}

/// Section type of relocation records with addends.
pub const SHT_RELA: u32 = 4;
/// Section type of a symbol table.
pub const SHT_SYMTAB: u32 = 2;
/// Section type of a section that occupies no file space (.bss).
pub const SHT_NOBITS: u32 = 8;
/// Section flag: occupies memory at run time.
pub const SHF_ALLOC: u64 = 0x2;
/// Section flag: holds executable instructions.
pub const SHF_EXECINSTR: u64 = 0x4;
/// Program header type of a loadable segment.
pub const PT_LOAD: u32 = 1;

/// A section header.
#[derive(Clone, Debug)]
pub struct Section {
    /// Name from the section-name string table.
    pub name: String,
    /// `sh_type`.
    pub kind: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_addr`: the virtual address.
    pub addr: u64,
    /// `sh_offset` in the file.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_link`.
    pub link: u32,
    /// `sh_info` (for RELA: the index of the section the records apply to).
    pub info: u32,
}

/// A program header.
#[derive(Clone, Debug)]
pub struct Segment {
    /// File offset of this header (to patch it).
    pub header_offset: usize,
    /// `p_type`.
    pub kind: u32,
    /// `p_paddr`.
    pub paddr: u64,
}

/// One RELA record.
#[derive(Clone, Copy, Debug)]
pub struct Rela {
    /// `r_offset`: in a linked executable, the virtual address of the slot.
    pub offset: u64,
    /// `ELF64_R_TYPE(r_info)`.
    pub kind: u32,
}

/// A parsed ELF file (borrowing its bytes).
pub struct Elf<'a> {
    /// The whole file.
    pub data: &'a [u8],
    /// `e_machine`.
    pub machine: u16,
    /// Section headers in index order.
    pub sections: Vec<Section>,
    /// Program headers.
    pub segments: Vec<Segment>,
}

/// Reads a little-endian u16 at `off`.
pub fn u16_at(d: &[u8], off: usize) -> Result<u16, ElfError> {
    d.get(off..off + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(|| oob(off))
}

/// Reads a little-endian u32 at `off`.
pub fn u32_at(d: &[u8], off: usize) -> Result<u32, ElfError> {
    d.get(off..off + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).ok_or_else(|| oob(off))
}

/// Reads a little-endian u64 at `off`.
pub fn u64_at(d: &[u8], off: usize) -> Result<u64, ElfError> {
    d.get(off..off + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap())).ok_or_else(|| oob(off))
}

fn oob(off: usize) -> ElfError {
    ElfError(format!("ELF truncated: read past the end at file offset {off:#x}"))
}

impl<'a> Elf<'a> {
    /// Parses the headers of `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        if data.get(0..4) != Some(b"\x7fELF") {
            return err("not an ELF file (bad magic)");
        }
        if data[4] != 2 || data[5] != 1 {
            return err("not a 64-bit little-endian ELF file");
        }
        let machine = u16_at(data, 18)?;
        let phoff = u64_at(data, 32)? as usize;
        let shoff = u64_at(data, 40)? as usize;
        let phentsize = u16_at(data, 54)? as usize;
        let phnum = u16_at(data, 56)? as usize;
        let shentsize = u16_at(data, 58)? as usize;
        let shnum = u16_at(data, 60)? as usize;
        let shstrndx = u16_at(data, 62)? as usize;
        let mut segments = Vec::with_capacity(phnum);
        for i in 0..phnum {
            let h = phoff + i * phentsize;
            segments.push(Segment { header_offset: h, kind: u32_at(data, h)?, paddr: u64_at(data, h + 24)? });
        }
        let mut raw = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let h = shoff + i * shentsize;
            raw.push((
                u32_at(data, h)?,
                Section {
                    name: String::new(),
                    kind: u32_at(data, h + 4)?,
                    flags: u64_at(data, h + 8)?,
                    addr: u64_at(data, h + 16)?,
                    offset: u64_at(data, h + 24)?,
                    size: u64_at(data, h + 32)?,
                    link: u32_at(data, h + 40)?,
                    info: u32_at(data, h + 44)?,
                },
            ));
        }
        let strtab = raw.get(shstrndx).map(|(_, s)| s.offset as usize).ok_or_else(|| {
            ElfError(format!("section-name table index {shstrndx} is past the {shnum} sections"))
        })?;
        let sections = raw
            .into_iter()
            .map(|(name_off, mut s)| {
                s.name = cstr_at(data, strtab + name_off as usize)?;
                Ok(s)
            })
            .collect::<Result<Vec<_>, ElfError>>()?;
        Ok(Elf { data, machine, sections, segments })
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The value of the symbol `name` from `.symtab`.
    pub fn symbol(&self, name: &str) -> Result<u64, ElfError> {
        for symtab in self.sections.iter().filter(|s| s.kind == SHT_SYMTAB) {
            let strtab = self
                .sections
                .get(symtab.link as usize)
                .ok_or_else(|| ElfError(format!("{}: bad string table index", symtab.name)))?;
            for i in 0..symtab.size / 24 {
                let e = (symtab.offset + i * 24) as usize;
                let name_off = u32_at(self.data, e)? as usize;
                if cstr_at(self.data, strtab.offset as usize + name_off)? == name {
                    return u64_at(self.data, e + 8);
                }
            }
        }
        err(format!("symbol {name} not found (is the ELF stripped?)"))
    }

    /// Every named symbol of `.symtab`: (name, value, st_info's type).
    pub fn symbols(&self) -> Result<Vec<(String, u64, u8)>, ElfError> {
        let mut out = Vec::new();
        for symtab in self.sections.iter().filter(|s| s.kind == SHT_SYMTAB) {
            let strtab = self
                .sections
                .get(symtab.link as usize)
                .ok_or_else(|| ElfError(format!("{}: bad string table index", symtab.name)))?;
            for i in 1..symtab.size / 24 {
                let e = (symtab.offset + i * 24) as usize;
                let name = cstr_at(self.data, strtab.offset as usize + u32_at(self.data, e)? as usize)?;
                let info = *self.data.get(e + 4).ok_or_else(|| oob(e + 4))?;
                if !name.is_empty() {
                    out.push((name, u64_at(self.data, e + 8)?, info & 0xf));
                }
            }
        }
        Ok(out)
    }

    /// The RELA records of section `rela`.
    pub fn relas(&self, rela: &Section) -> Result<Vec<Rela>, ElfError> {
        (0..rela.size / 24)
            .map(|i| {
                let e = (rela.offset + i * 24) as usize;
                Ok(Rela {
                    offset: u64_at(self.data, e)?,
                    kind: (u64_at(self.data, e + 8)? & 0xffff_ffff) as u32,
                })
            })
            .collect()
    }

    /// The file offset of virtual address `va`, inside a section with file contents.
    pub fn file_offset(&self, va: u64) -> Result<usize, ElfError> {
        self.sections
            .iter()
            .find(|s| {
                s.flags & SHF_ALLOC != 0 && s.kind != SHT_NOBITS && va >= s.addr && va < s.addr + s.size
            })
            .map(|s| (s.offset + (va - s.addr)) as usize)
            .ok_or_else(|| ElfError(format!("address {va:#x} is in no section with file contents")))
    }
}

fn cstr_at(d: &[u8], off: usize) -> Result<String, ElfError> {
    let tail = d.get(off..).ok_or_else(|| oob(off))?;
    let end = tail.iter().position(|&b| b == 0).ok_or_else(|| oob(off))?;
    Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
}

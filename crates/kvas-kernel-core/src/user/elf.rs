//! Reading a user program: a static RISC-V ELF executable (`ET_EXEC`, `EM_RISCV`,
//! little-endian; 64-bit for riscv64, 32-bit for riscv32: [`Class`]), its `PT_LOAD` segments
//! with their own permissions. Refused with the reason: the other class,
//! anything else, a segment that is writable and executable (W^X holds in user space too), a
//! segment outside `[MMAP_MIN_ADDR, TASK_SIZE)` or past the file, overlapping segments, an
//! entry point outside every executable segment, a dynamic program (`PT_INTERP`).

use core::fmt;

use kvas::sizes::PAGE_SIZE;
use object::elf::{self, FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;

use super::syscall::prot;
use super::vmas::MMAP_MIN_ADDR;

/// Most loadable segments a program may have.
pub const MAX_SEGMENTS: usize = 8;

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its first byte in memory.
    pub vaddr: u64,
    /// Bytes in memory (the part past `filesz` is zero).
    pub memsz: u64,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// Bytes in the file.
    pub filesz: u64,
    /// `PROT_*` from `p_flags`.
    pub prot: u64,
}

impl Segment {
    /// The pages it spans: `[start, end)`.
    pub fn pages(&self) -> (u64, u64) {
        (self.vaddr & !(PAGE_SIZE - 1), (self.vaddr + self.memsz).div_ceil(PAGE_SIZE) * PAGE_SIZE)
    }
}

/// A program ready to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    /// `e_entry`.
    pub entry: u64,
    /// The segments, in file order.
    pub segments: [Option<Segment>; MAX_SEGMENTS],
    /// The page after the highest segment: the heap's start.
    pub brk_start: u64,
    /// Where the program headers are in memory (`AT_PHDR`), 0 if no segment loads them.
    pub phdr: u64,
    /// How many program headers (`AT_PHNUM`).
    pub phnum: u64,
    /// The size of one (`AT_PHENT`).
    pub phent: u64,
}

/// Why a program was refused.
#[derive(Debug)]
pub enum ElfError {
    /// Does not parse (the `object` crate's reason).
    Object(object::read::Error),
    /// Parses, but is not what kvas runs.
    Bad(&'static str, u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Object(e) => write!(f, "not an ELF file: {e}"),
            ElfError::Bad(what, v) => write!(f, "{what} ({v:#x})"),
        }
    }
}

/// `e_ident[EI_CLASS]`'s index.
const EI_CLASS: usize = 4;

/// The ELF class a kernel runs: its register width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `ELFCLASS32`: riscv32 programs.
    Elf32,
    /// `ELFCLASS64`: riscv64 programs.
    Elf64,
}

impl Class {
    /// `e_ident[EI_CLASS]`.
    const fn ident(self) -> u8 {
        match self {
            Class::Elf32 => elf::ELFCLASS32,
            Class::Elf64 => elf::ELFCLASS64,
        }
    }
}

/// Reads the riscv64 program in `data` for a user half of `task_size` bytes.
pub fn parse(data: &[u8], task_size: u64) -> Result<Program, ElfError> {
    parse_class(data, task_size, Class::Elf64)
}

/// Reads the program in `data`, which must be of `class`, for a user half of `task_size`
/// bytes.
pub fn parse_class(data: &[u8], task_size: u64, class: Class) -> Result<Program, ElfError> {
    match data.get(EI_CLASS) {
        Some(&c) if data.starts_with(&elf::ELFMAG) && c != class.ident() => {
            let what = match class {
                Class::Elf32 => "not a 32-bit program for riscv32: EI_CLASS",
                Class::Elf64 => "not a 64-bit program for riscv64: EI_CLASS",
            };
            Err(ElfError::Bad(what, c.into()))
        }
        _ => match class {
            Class::Elf32 => parse_header::<FileHeader32<LE>>(data, task_size),
            Class::Elf64 => parse_header::<FileHeader64<LE>>(data, task_size),
        },
    }
}

fn parse_header<H: FileHeader<Endian = LE>>(data: &[u8], task_size: u64) -> Result<Program, ElfError> {
    let h = H::parse(data).map_err(ElfError::Object)?;
    let e = h.endian().map_err(ElfError::Object)?;
    if h.e_machine(e) != elf::EM_RISCV {
        return Err(ElfError::Bad("not a RISC-V program: e_machine", h.e_machine(e).into()));
    }
    if h.e_type(e) != elf::ET_EXEC {
        return Err(ElfError::Bad("not a static executable: e_type", h.e_type(e).into()));
    }
    let mut out = Program {
        entry: h.e_entry(e).into(),
        segments: [None; MAX_SEGMENTS],
        brk_start: 0,
        phdr: 0,
        phnum: h.e_phnum(e).into(),
        phent: h.e_phentsize(e).into(),
    };
    let phoff: u64 = h.e_phoff(e).into();
    let mut n = 0;
    let mut entry_ok = false;
    for ph in h.program_headers(e, data).map_err(ElfError::Object)? {
        match ph.p_type(e) {
            elf::PT_INTERP | elf::PT_DYNAMIC => {
                return Err(ElfError::Bad(
                    "a dynamic program (needs an interpreter): p_type",
                    ph.p_type(e).into(),
                ))
            }
            elf::PT_LOAD => {}
            _ => continue,
        }
        let flags = ph.p_flags(e);
        let mut p = 0;
        if flags & elf::PF_R != 0 {
            p |= prot::READ;
        }
        if flags & elf::PF_W != 0 {
            p |= prot::WRITE;
        }
        if flags & elf::PF_X != 0 {
            p |= prot::EXEC;
        }
        let s = Segment {
            vaddr: ph.p_vaddr(e).into(),
            memsz: ph.p_memsz(e).into(),
            offset: ph.p_offset(e).into(),
            filesz: ph.p_filesz(e).into(),
            prot: p,
        };
        if p & prot::WRITE != 0 && p & prot::EXEC != 0 {
            return Err(ElfError::Bad("a writable and executable segment at", s.vaddr));
        }
        if s.filesz > s.memsz || s.offset.checked_add(s.filesz).is_none_or(|end| end > data.len() as u64) {
            return Err(ElfError::Bad("a segment's bytes lie past the file, at", s.vaddr));
        }
        if s.memsz == 0 {
            continue;
        }
        if s.vaddr < MMAP_MIN_ADDR || s.vaddr.checked_add(s.memsz).is_none_or(|end| end > task_size) {
            return Err(ElfError::Bad("a segment outside the user half, at", s.vaddr));
        }
        let (start, end) = s.pages();
        if out.segments.iter().flatten().any(|o| {
            let (os, oe) = o.pages();
            start < oe && os < end
        }) {
            return Err(ElfError::Bad("segments share a page, at", s.vaddr));
        }
        if n == MAX_SEGMENTS {
            return Err(ElfError::Bad("too many loadable segments, more than", MAX_SEGMENTS as u64));
        }
        if phoff >= s.offset && phoff < s.offset + s.filesz {
            out.phdr = s.vaddr + (phoff - s.offset);
        }
        entry_ok |= p & prot::EXEC != 0 && out.entry >= s.vaddr && out.entry < s.vaddr + s.memsz;
        out.brk_start = out.brk_start.max(end);
        out.segments[n] = Some(s);
        n += 1;
    }
    if !entry_ok {
        return Err(ElfError::Bad("the entry point is in no executable segment", out.entry));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 executable with the given segments `(vaddr, memsz, flags)`, each with
    /// 16 bytes of file data.
    fn exe(entry: u64, segs: &[(u64, u64, u32)], machine: u16, e_type: u16) -> Vec<u8> {
        let phoff = 64u64;
        let data_off = phoff + 56 * segs.len() as u64;
        let mut v = vec![0u8; 64];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = 2; // 64-bit
        v[5] = 1; // little endian
        v[6] = 1;
        v[16..18].copy_from_slice(&e_type.to_le_bytes());
        v[18..20].copy_from_slice(&machine.to_le_bytes());
        v[20..24].copy_from_slice(&1u32.to_le_bytes());
        v[24..32].copy_from_slice(&entry.to_le_bytes());
        v[32..40].copy_from_slice(&phoff.to_le_bytes());
        v[52..54].copy_from_slice(&64u16.to_le_bytes());
        v[54..56].copy_from_slice(&56u16.to_le_bytes());
        v[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        for (i, &(vaddr, memsz, flags)) in segs.iter().enumerate() {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&elf::PT_LOAD.to_le_bytes());
            ph[4..8].copy_from_slice(&flags.to_le_bytes());
            ph[8..16].copy_from_slice(&(data_off + 16 * i as u64).to_le_bytes());
            ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
            ph[32..40].copy_from_slice(&16u64.to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            v.extend(ph);
        }
        v.extend(vec![0xaa; 16 * segs.len()]);
        v
    }

    const RX: u32 = elf::PF_R | elf::PF_X;
    const RW: u32 = elf::PF_R | elf::PF_W;

    #[test]
    fn reads_segments_with_their_permissions() {
        let p =
            parse(&exe(0x10010, &[(0x10000, 0x100, RX), (0x11000, 0x3000, RW)], 243, 2), 1 << 38).unwrap();
        assert_eq!(p.entry, 0x10010);
        assert_eq!(p.segments[0].unwrap().prot, prot::READ | prot::EXEC);
        assert_eq!(p.segments[1].unwrap().prot, prot::READ | prot::WRITE);
        assert_eq!(p.brk_start, 0x14000);
        // The first segment's file bytes start at the program headers (offset 64 + 2 * 56).
        assert_eq!((p.phdr, p.phnum, p.phent), (0, 2, 56));
    }

    #[test]
    fn finds_the_program_headers_in_memory() {
        let mut data = exe(0x10010, &[(0x10000, 0x100, RX), (0x11000, 0x3000, RW)], 243, 2);
        // The text segment loads the file from offset 0: the ELF header and the headers.
        data[64 + 8..64 + 16].copy_from_slice(&0u64.to_le_bytes());
        data[64 + 32..64 + 40].copy_from_slice(&176u64.to_le_bytes());
        let p = parse(&data, 1 << 38).unwrap();
        assert_eq!((p.phdr, p.phnum, p.phent), (0x10040, 2, 56));
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let bad = |data: Vec<u8>| parse(&data, 1 << 38).unwrap_err().to_string();
        assert!(bad(exe(0x10010, &[(0x10000, 0x100, RX | elf::PF_W)], 243, 2))
            .contains("writable and executable"));
        assert!(bad(exe(0x10010, &[(0x10000, 0x100, RX)], 62, 2)).contains("e_machine (0x3e)"));
        assert!(bad(exe(0x10010, &[(0x10000, 0x100, RX)], 243, 1)).contains("e_type"));
        assert!(bad(exe(0x20000, &[(0x10000, 0x100, RX)], 243, 2)).contains("entry point"));
        assert!(bad(exe(0x10010, &[(0x10000, 0x100, RW)], 243, 2)).contains("entry point"));
        assert!(
            bad(exe(0x10010, &[(0x10000, 0x100, RX), (0x10800, 0x10, RW)], 243, 2)).contains("share a page")
        );
        assert!(bad(exe(1 << 38, &[(1 << 38, 0x100, RX)], 243, 2)).contains("outside the user half"));
        assert!(bad(vec![0; 10]).contains("not an ELF"));
    }

    /// [`exe`] as a 32-bit ELF: the same segments, 32-bit fields.
    fn exe32(entry: u32, segs: &[(u32, u32, u32)], machine: u16) -> Vec<u8> {
        let phoff = 52u32;
        let data_off = phoff + 32 * segs.len() as u32;
        let mut v = vec![0u8; 52];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = 1; // 32-bit
        v[5] = 1; // little endian
        v[6] = 1;
        v[16..18].copy_from_slice(&2u16.to_le_bytes());
        v[18..20].copy_from_slice(&machine.to_le_bytes());
        v[20..24].copy_from_slice(&1u32.to_le_bytes());
        v[24..28].copy_from_slice(&entry.to_le_bytes());
        v[28..32].copy_from_slice(&phoff.to_le_bytes());
        v[40..42].copy_from_slice(&52u16.to_le_bytes());
        v[42..44].copy_from_slice(&32u16.to_le_bytes());
        v[44..46].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        for (i, &(vaddr, memsz, flags)) in segs.iter().enumerate() {
            let mut ph = vec![0u8; 32];
            ph[..4].copy_from_slice(&elf::PT_LOAD.to_le_bytes());
            ph[4..8].copy_from_slice(&(data_off + 16 * i as u32).to_le_bytes());
            ph[8..12].copy_from_slice(&vaddr.to_le_bytes());
            ph[16..20].copy_from_slice(&16u32.to_le_bytes());
            ph[20..24].copy_from_slice(&memsz.to_le_bytes());
            ph[24..28].copy_from_slice(&flags.to_le_bytes());
            v.extend(ph);
        }
        v.extend(vec![0xaa; 16 * segs.len()]);
        v
    }

    /// 4G/4G's TASK_SIZE on riscv32: everything below the shared top 256 MiB.
    const TASK_4G4G: u64 = 0xf000_0000;

    #[test]
    fn reads_a_32_bit_program() {
        let data = exe32(0x10010, &[(0x10000, 0x100, RX), (0xeffff000, 0x1000, RW)], 243);
        let p = parse_class(&data, TASK_4G4G, Class::Elf32).unwrap();
        assert_eq!(p.entry, 0x10010);
        let s = p.segments[1].unwrap();
        assert_eq!((s.vaddr, s.memsz, s.offset, s.filesz), (0xeffff000, 0x1000, 52 + 64 + 16, 16));
        assert_eq!(s.prot, prot::READ | prot::WRITE);
        assert_eq!((p.brk_start, p.phnum, p.phent), (TASK_4G4G, 2, 32));
        // The same program does not fit 3G/1G's user half.
        let e = parse_class(&data, 0xc000_0000, Class::Elf32).unwrap_err().to_string();
        assert_eq!(e, "a segment outside the user half, at (0xeffff000)");
    }

    #[test]
    fn each_kernel_refuses_the_other_class() {
        let e32 = exe32(0x10010, &[(0x10000, 0x100, RX)], 243);
        let e64 = exe(0x10010, &[(0x10000, 0x100, RX)], 243, 2);
        let bad = |data: &[u8], class| parse_class(data, TASK_4G4G, class).unwrap_err().to_string();
        assert_eq!(bad(&e64, Class::Elf32), "not a 32-bit program for riscv32: EI_CLASS (0x2)");
        assert_eq!(bad(&e32, Class::Elf64), "not a 64-bit program for riscv64: EI_CLASS (0x1)");
        assert_eq!(parse(&e32, TASK_4G4G).unwrap_err().to_string(), bad(&e32, Class::Elf64));
        assert!(bad(&exe32(0x10010, &[(0x10000, 0x100, RX)], 62), Class::Elf32).contains("e_machine (0x3e)"));
        assert!(bad(&exe32(0x10010, &[(0x10000, 0x100, RX | elf::PF_W)], 243), Class::Elf32)
            .contains("writable and executable"));
        assert!(bad(&e32[..40], Class::Elf32).contains("not an ELF"));
    }

    proptest::proptest! {
        /// Whatever the bytes, either class: a program or a reason, never a panic.
        #[test]
        fn any_bytes_get_an_answer(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
                                   seed in proptest::prelude::any::<bool>()) {
            let mut data = data;
            if seed && data.len() >= 6 {
                data[..4].copy_from_slice(b"\x7fELF");
                data[5] = 1;
            }
            for class in [Class::Elf32, Class::Elf64] {
                let _ = parse_class(&data, TASK_4G4G, class).map_err(|e| e.to_string());
            }
        }
    }
}

//! The arithmetic of RISC-V ELF relocations (psABI, "Relocations"), for the module loader:
//! which value goes where in which instruction, and whether it reaches. Pure and `no_std`; the host
//! tests it (crates/kvas-kernel-core/tests/modreloc.rs).
//!
//! Notation of the psABI: `S` the symbol's address, `A` the addend, `P` the place (the
//! address of the bytes being patched). A PC-relative reach is checked on `S + A - P`, an
//! absolute one on `S + A`; a value that does not fit is refused, never truncated.
//!
//! | type | field | value | reach |
//! |---|---|---|---|
//! | `CALL`, `CALL_PLT` | auipc + jalr pair | S + A - P | ±2 GiB: `[-2 GiB - 2 KiB, 2 GiB - 2 KiB)` |
//! | `PCREL_HI20` | auipc U-imm | S + A - P | ±2 GiB |
//! | `PCREL_LO12_I/S` | I/S-imm | low 12 bits of the matching HI20's value | — |
//! | `HI20` | lui U-imm | S + A | ±2 GiB around 0 |
//! | `LO12_I/S` | I/S-imm | low 12 bits of S + A | — |
//! | `BRANCH` | B-imm | S + A - P | ±4 KiB, even |
//! | `JAL` | J-imm | S + A - P | ±1 MiB, even |
//! | `RVC_BRANCH` | CB-imm | S + A - P | ±256 B, even |
//! | `RVC_JUMP` | CJ-imm | S + A - P | ±2 KiB, even |
//! | `64`, `32` | word | S + A | 32: must fit 32 bits |
//! | `32_PCREL` | word | S + A - P | ±2 GiB |
//! | `ADDn`, `SUBn`, `SET6`, `SUB6`, `SETn` | word | in place ± S + A (modular by definition) | — |
//! | `RELAX`, `ALIGN`, `NONE` | — | nothing: the loader does not relax, so code keeps its padding | — |

use core::fmt;

/// A relocation type the loader applies (psABI numbers in [`Kind::from_type`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `R_RISCV_NONE` (0).
    None,
    /// `R_RISCV_32` (1).
    Abs32,
    /// `R_RISCV_64` (2).
    Abs64,
    /// `R_RISCV_BRANCH` (16).
    Branch,
    /// `R_RISCV_JAL` (17).
    Jal,
    /// `R_RISCV_CALL` (18).
    Call,
    /// `R_RISCV_CALL_PLT` (19).
    CallPlt,
    /// `R_RISCV_PCREL_HI20` (23).
    PcrelHi20,
    /// `R_RISCV_PCREL_LO12_I` (24).
    PcrelLo12I,
    /// `R_RISCV_PCREL_LO12_S` (25).
    PcrelLo12S,
    /// `R_RISCV_HI20` (26).
    Hi20,
    /// `R_RISCV_LO12_I` (27).
    Lo12I,
    /// `R_RISCV_LO12_S` (28).
    Lo12S,
    /// `R_RISCV_ADD8/16/32/64` (33..36): the width in bytes.
    Add(u8),
    /// `R_RISCV_SUB8/16/32/64` (37..40): the width in bytes.
    Sub(u8),
    /// `R_RISCV_ALIGN` (43).
    Align,
    /// `R_RISCV_RVC_BRANCH` (44).
    RvcBranch,
    /// `R_RISCV_RVC_JUMP` (45).
    RvcJump,
    /// `R_RISCV_RELAX` (51).
    Relax,
    /// `R_RISCV_SUB6` (52).
    Sub6,
    /// `R_RISCV_SET6` (53).
    Set6,
    /// `R_RISCV_SET8/16/32` (54..56): the width in bytes.
    Set(u8),
    /// `R_RISCV_32_PCREL` (57).
    Pcrel32,
}

/// `R_RISCV_PCREL_HI20`, which a `PCREL_LO12` relocation refers to through its label.
pub const R_RISCV_PCREL_HI20: u32 = 23;

impl Kind {
    /// The kind of psABI relocation type `r_type`; `None` for one the loader does not apply
    /// (GOT, TLS, dynamic ones...).
    pub fn from_type(r_type: u32) -> Option<Kind> {
        Some(match r_type {
            0 => Kind::None,
            1 => Kind::Abs32,
            2 => Kind::Abs64,
            16 => Kind::Branch,
            17 => Kind::Jal,
            18 => Kind::Call,
            19 => Kind::CallPlt,
            23 => Kind::PcrelHi20,
            24 => Kind::PcrelLo12I,
            25 => Kind::PcrelLo12S,
            26 => Kind::Hi20,
            27 => Kind::Lo12I,
            28 => Kind::Lo12S,
            33 => Kind::Add(1),
            34 => Kind::Add(2),
            35 => Kind::Add(4),
            36 => Kind::Add(8),
            37 => Kind::Sub(1),
            38 => Kind::Sub(2),
            39 => Kind::Sub(4),
            40 => Kind::Sub(8),
            43 => Kind::Align,
            44 => Kind::RvcBranch,
            45 => Kind::RvcJump,
            51 => Kind::Relax,
            52 => Kind::Sub6,
            53 => Kind::Set6,
            54 => Kind::Set(1),
            55 => Kind::Set(2),
            56 => Kind::Set(4),
            57 => Kind::Pcrel32,
            _ => return None,
        })
    }

    /// The psABI name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::None => "R_RISCV_NONE",
            Kind::Abs32 => "R_RISCV_32",
            Kind::Abs64 => "R_RISCV_64",
            Kind::Branch => "R_RISCV_BRANCH",
            Kind::Jal => "R_RISCV_JAL",
            Kind::Call => "R_RISCV_CALL",
            Kind::CallPlt => "R_RISCV_CALL_PLT",
            Kind::PcrelHi20 => "R_RISCV_PCREL_HI20",
            Kind::PcrelLo12I => "R_RISCV_PCREL_LO12_I",
            Kind::PcrelLo12S => "R_RISCV_PCREL_LO12_S",
            Kind::Hi20 => "R_RISCV_HI20",
            Kind::Lo12I => "R_RISCV_LO12_I",
            Kind::Lo12S => "R_RISCV_LO12_S",
            Kind::Add(1) => "R_RISCV_ADD8",
            Kind::Add(2) => "R_RISCV_ADD16",
            Kind::Add(4) => "R_RISCV_ADD32",
            Kind::Add(_) => "R_RISCV_ADD64",
            Kind::Sub(1) => "R_RISCV_SUB8",
            Kind::Sub(2) => "R_RISCV_SUB16",
            Kind::Sub(4) => "R_RISCV_SUB32",
            Kind::Sub(_) => "R_RISCV_SUB64",
            Kind::Align => "R_RISCV_ALIGN",
            Kind::RvcBranch => "R_RISCV_RVC_BRANCH",
            Kind::RvcJump => "R_RISCV_RVC_JUMP",
            Kind::Relax => "R_RISCV_RELAX",
            Kind::Sub6 => "R_RISCV_SUB6",
            Kind::Set6 => "R_RISCV_SET6",
            Kind::Set(1) => "R_RISCV_SET8",
            Kind::Set(2) => "R_RISCV_SET16",
            Kind::Set(_) => "R_RISCV_SET32",
            Kind::Pcrel32 => "R_RISCV_32_PCREL",
        }
    }

    /// How many bytes at the place it patches.
    pub fn width(self) -> usize {
        match self {
            Kind::None | Kind::Align | Kind::Relax => 0,
            Kind::RvcBranch | Kind::RvcJump => 2,
            Kind::Call | Kind::CallPlt | Kind::Abs64 => 8,
            Kind::Add(w) | Kind::Sub(w) | Kind::Set(w) => w as usize,
            Kind::Sub6 | Kind::Set6 => 1,
            _ => 4,
        }
    }

    /// Whether the value is relative to the place (`S + A - P`).
    pub fn is_pc_relative(self) -> bool {
        matches!(
            self,
            Kind::Branch
                | Kind::Jal
                | Kind::Call
                | Kind::CallPlt
                | Kind::PcrelHi20
                | Kind::RvcBranch
                | Kind::RvcJump
                | Kind::Pcrel32
        )
    }

    /// The reach `[min, max]` of the value, and whether it must be even; `None`: any value.
    fn reach(self) -> Option<(i64, i64, bool)> {
        // An auipc/lui + 12-bit pair adds a sign-extended 20-bit upper part (rounded: value +
        // 0x800) and a sign-extended 12-bit lower part.
        const HI20: (i64, i64, bool) = (-(1 << 31) - 0x800, (1 << 31) - 0x801, false);
        match self {
            Kind::Call | Kind::CallPlt | Kind::PcrelHi20 | Kind::Hi20 => Some(HI20),
            Kind::Branch => Some((-(1 << 12), (1 << 12) - 2, true)),
            Kind::Jal => Some((-(1 << 20), (1 << 20) - 2, true)),
            Kind::RvcBranch => Some((-(1 << 8), (1 << 8) - 2, true)),
            Kind::RvcJump => Some((-(1 << 11), (1 << 11) - 2, true)),
            Kind::Pcrel32 => Some((i32::MIN as i64, i32::MAX as i64, false)),
            Kind::Abs32 => Some((i32::MIN as i64, u32::MAX as i64, false)),
            _ => None,
        }
    }
}

/// Why a relocation cannot be applied. `symbol` names what it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocError<'a> {
    /// The relocation.
    pub kind: Kind,
    /// The symbol it refers to (a section's name for a section symbol).
    pub symbol: &'a str,
    /// The place.
    pub place: u64,
    /// What went wrong.
    pub problem: Problem,
}

/// What is wrong with a relocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The value (`S + A - P`, or `S + A` for absolute kinds) is beyond the field's reach.
    OutOfReach {
        /// The value.
        distance: i64,
        /// The reach, `[min, max]`.
        min: i64,
        /// See `min`.
        max: i64,
    },
    /// A jump or branch to an odd distance.
    Odd {
        /// The distance.
        distance: i64,
    },
    /// The place has fewer bytes than the relocation patches.
    Short {
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        have: usize,
    },
}

impl fmt::Display for RelocError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, sym, place) = (self.kind.name(), self.symbol, self.place);
        let what = if self.kind.is_pc_relative() { "distance" } else { "value" };
        match self.problem {
            Problem::OutOfReach { distance, min, max } => {
                let sign = if distance < 0 { "-" } else { "" };
                write!(
                    f,
                    "{kind} at {place:#x} to `{sym}`: {what} {sign}{:#x} is beyond its reach [-{:#x}, {max:#x}]",
                    distance.unsigned_abs(),
                    min.unsigned_abs()
                )
            }
            Problem::Odd { distance } => {
                write!(f, "{kind} at {place:#x} to `{sym}`: odd {what} {distance:#x}")
            }
            Problem::Short { need, have } => write!(
                f,
                "{kind} at {place:#x} to `{sym}`: patches {need} bytes, the section has {have} there"
            ),
        }
    }
}

fn read(bytes: &[u8], n: usize) -> u64 {
    bytes[..n].iter().rev().fold(0, |v, &b| v << 8 | b as u64)
}

fn write(bytes: &mut [u8], n: usize, v: u64) {
    for (i, b) in bytes[..n].iter_mut().enumerate() {
        *b = (v >> (8 * i)) as u8;
    }
}

fn bits(v: i64, hi: u32, lo: u32) -> u32 {
    ((v as u64 >> lo) & ((1 << (hi - lo + 1)) - 1)) as u32
}

/// Upper 20 bits for a lui/auipc, rounded so the sign-extended low 12 bits complete it.
fn hi20(v: i64) -> u32 {
    (v.wrapping_add(0x800) as u32) & 0xffff_f000
}

fn with_i_imm(insn: u32, v: i64) -> u32 {
    (insn & 0x000f_ffff) | (bits(v, 11, 0) << 20)
}

fn with_s_imm(insn: u32, v: i64) -> u32 {
    (insn & 0x01ff_f07f) | (bits(v, 11, 5) << 25) | (bits(v, 4, 0) << 7)
}

fn with_u_imm(insn: u32, v: i64) -> u32 {
    (insn & 0xfff) | hi20(v)
}

fn with_b_imm(insn: u32, v: i64) -> u32 {
    (insn & 0x01ff_f07f)
        | (bits(v, 12, 12) << 31)
        | (bits(v, 10, 5) << 25)
        | (bits(v, 4, 1) << 8)
        | (bits(v, 11, 11) << 7)
}

fn with_j_imm(insn: u32, v: i64) -> u32 {
    (insn & 0xfff)
        | (bits(v, 20, 20) << 31)
        | (bits(v, 10, 1) << 21)
        | (bits(v, 11, 11) << 20)
        | (bits(v, 19, 12) << 12)
}

fn with_cb_imm(insn: u16, v: i64) -> u16 {
    let imm = (bits(v, 8, 8) << 12)
        | (bits(v, 4, 3) << 10)
        | (bits(v, 7, 6) << 5)
        | (bits(v, 2, 1) << 3)
        | (bits(v, 5, 5) << 2);
    (insn & 0xe383) | imm as u16
}

fn with_cj_imm(insn: u16, v: i64) -> u16 {
    let imm = (bits(v, 11, 11) << 12)
        | (bits(v, 4, 4) << 11)
        | (bits(v, 9, 8) << 9)
        | (bits(v, 10, 10) << 8)
        | (bits(v, 6, 6) << 7)
        | (bits(v, 7, 7) << 6)
        | (bits(v, 3, 1) << 3)
        | (bits(v, 5, 5) << 2);
    (insn & 0xe003) | imm as u16
}

/// Applies relocation `kind` at `place` (the bytes at address `p`).
///
/// `value` is `S + A`, except for `PCREL_LO12_I/S`, where it is the value of the
/// `PCREL_HI20` relocation the label points at (its `S + A - P`), as the psABI defines. The
/// bytes are unchanged on error.
pub fn apply<'a>(
    kind: Kind,
    place: &mut [u8],
    p: u64,
    value: u64,
    symbol: &'a str,
) -> Result<(), RelocError<'a>> {
    let err = |problem| RelocError { kind, symbol, place: p, problem };
    let need = kind.width();
    if place.len() < need {
        return Err(err(Problem::Short { need, have: place.len() }));
    }
    let v = if kind.is_pc_relative() { value.wrapping_sub(p) as i64 } else { value as i64 };
    if let Some((min, max, even)) = kind.reach() {
        if v < min || v > max {
            return Err(err(Problem::OutOfReach { distance: v, min, max }));
        }
        if even && v & 1 != 0 {
            return Err(err(Problem::Odd { distance: v }));
        }
    }
    let insn = read(place, need.min(4)) as u32;
    match kind {
        Kind::None | Kind::Align | Kind::Relax => {}
        Kind::Abs64 => write(place, 8, value),
        Kind::Abs32 | Kind::Pcrel32 => write(place, 4, v as u64),
        Kind::Hi20 | Kind::PcrelHi20 => write(place, 4, with_u_imm(insn, v) as u64),
        Kind::Lo12I | Kind::PcrelLo12I => write(place, 4, with_i_imm(insn, v) as u64),
        Kind::Lo12S | Kind::PcrelLo12S => write(place, 4, with_s_imm(insn, v) as u64),
        Kind::Call | Kind::CallPlt => {
            let jalr = read(&place[4..], 4) as u32;
            write(place, 4, with_u_imm(insn, v) as u64);
            write(&mut place[4..], 4, with_i_imm(jalr, v) as u64);
        }
        Kind::Branch => write(place, 4, with_b_imm(insn, v) as u64),
        Kind::Jal => write(place, 4, with_j_imm(insn, v) as u64),
        Kind::RvcBranch => write(place, 2, with_cb_imm(insn as u16, v) as u64),
        Kind::RvcJump => write(place, 2, with_cj_imm(insn as u16, v) as u64),
        Kind::Add(w) => write(place, w as usize, read(place, w as usize).wrapping_add(value)),
        Kind::Sub(w) => write(place, w as usize, read(place, w as usize).wrapping_sub(value)),
        Kind::Set(w) => write(place, w as usize, value),
        Kind::Set6 => place[0] = (place[0] & 0xc0) | (value as u8 & 0x3f),
        Kind::Sub6 => place[0] = (place[0] & 0xc0) | (place[0].wrapping_sub(value as u8) & 0x3f),
    }
    Ok(())
}

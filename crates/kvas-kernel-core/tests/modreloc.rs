//! Host tests of the module loader's relocation arithmetic (src/modreloc.rs): every
//! relocation type against an independent decoder of the instruction formats (RISC-V
//! unprivileged spec, "Base Instruction Formats" and "Compressed Instruction Formats"), the reach of each at its exact bounds, and the errors.

use kvas_kernel_core::modreloc::{apply, Kind, Problem};

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().unwrap())
}

fn u16_at(b: &[u8]) -> u16 {
    u16::from_le_bytes(b[..2].try_into().unwrap())
}

fn bit(insn: u32, n: u32) -> u64 {
    (insn as u64 >> n) & 1
}

fn field(insn: u32, hi: u32, lo: u32) -> u64 {
    (insn as u64 >> lo) & ((1 << (hi - lo + 1)) - 1)
}

fn i_imm(insn: u32) -> i64 {
    sext(field(insn, 31, 20), 12)
}

fn s_imm(insn: u32) -> i64 {
    sext(field(insn, 31, 25) << 5 | field(insn, 11, 7), 12)
}

fn u_imm(insn: u32) -> i64 {
    sext(insn as u64 & 0xffff_f000, 32)
}

fn b_imm(insn: u32) -> i64 {
    sext(bit(insn, 31) << 12 | bit(insn, 7) << 11 | field(insn, 30, 25) << 5 | field(insn, 11, 8) << 1, 13)
}

fn j_imm(insn: u32) -> i64 {
    sext(bit(insn, 31) << 20 | field(insn, 19, 12) << 12 | bit(insn, 20) << 11 | field(insn, 30, 21) << 1, 21)
}

/// c.beqz/c.bnez: offset[8|4:3] in bits 12:10, offset[7:6|2:1|5] in bits 6:2.
fn cb_imm(insn: u16) -> i64 {
    let i = insn as u32;
    sext(
        bit(i, 12) << 8 | field(i, 11, 10) << 3 | field(i, 6, 5) << 6 | field(i, 4, 3) << 1 | bit(i, 2) << 5,
        9,
    )
}

/// c.j/c.jal: offset[11|4|9:8|10|6|7|3:1|5] in bits 12:2.
fn cj_imm(insn: u16) -> i64 {
    let i = insn as u32;
    sext(
        bit(i, 12) << 11
            | bit(i, 11) << 4
            | field(i, 10, 9) << 8
            | bit(i, 8) << 10
            | bit(i, 7) << 6
            | bit(i, 6) << 7
            | field(i, 5, 3) << 1
            | bit(i, 2) << 5,
        12,
    )
}

const P: u64 = 0xffff_ffff_0001_0000;
const AUIPC_RA: u32 = 0x0000_0097; // auipc ra, 0
const JALR_RA: u32 = 0x0000_80e7; // jalr ra, 0(ra)
const LUI_A0: u32 = 0x0000_0537; // lui a0, 0
const ADDI_A0: u32 = 0x0005_0513; // addi a0, a0, 0
const SD_A1: u32 = 0x00b5_3023; // sd a1, 0(a0)
const BEQ: u32 = 0x00b5_0063; // beq a0, a1, 0
const JAL_RA: u32 = 0x0000_00ef; // jal ra, 0
const C_BEQZ: u16 = 0xc001; // c.beqz s0, 0
const C_J: u16 = 0xa001; // c.j 0

fn bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn type_numbers_are_the_psabi_ones() {
    use object::elf;
    for (n, kind) in [
        (elf::R_RISCV_64, Kind::Abs64),
        (elf::R_RISCV_32, Kind::Abs32),
        (elf::R_RISCV_BRANCH, Kind::Branch),
        (elf::R_RISCV_JAL, Kind::Jal),
        (elf::R_RISCV_CALL, Kind::Call),
        (elf::R_RISCV_CALL_PLT, Kind::CallPlt),
        (elf::R_RISCV_PCREL_HI20, Kind::PcrelHi20),
        (elf::R_RISCV_PCREL_LO12_I, Kind::PcrelLo12I),
        (elf::R_RISCV_PCREL_LO12_S, Kind::PcrelLo12S),
        (elf::R_RISCV_HI20, Kind::Hi20),
        (elf::R_RISCV_LO12_I, Kind::Lo12I),
        (elf::R_RISCV_LO12_S, Kind::Lo12S),
        (elf::R_RISCV_ADD8, Kind::Add(1)),
        (elf::R_RISCV_ADD16, Kind::Add(2)),
        (elf::R_RISCV_ADD32, Kind::Add(4)),
        (elf::R_RISCV_ADD64, Kind::Add(8)),
        (elf::R_RISCV_SUB8, Kind::Sub(1)),
        (elf::R_RISCV_SUB16, Kind::Sub(2)),
        (elf::R_RISCV_SUB32, Kind::Sub(4)),
        (elf::R_RISCV_SUB64, Kind::Sub(8)),
        (elf::R_RISCV_ALIGN, Kind::Align),
        (elf::R_RISCV_RVC_BRANCH, Kind::RvcBranch),
        (elf::R_RISCV_RVC_JUMP, Kind::RvcJump),
        (elf::R_RISCV_RELAX, Kind::Relax),
        (elf::R_RISCV_SUB6, Kind::Sub6),
        (elf::R_RISCV_SET6, Kind::Set6),
        (elf::R_RISCV_SET8, Kind::Set(1)),
        (elf::R_RISCV_SET16, Kind::Set(2)),
        (elf::R_RISCV_SET32, Kind::Set(4)),
        (elf::R_RISCV_32_PCREL, Kind::Pcrel32),
    ] {
        assert_eq!(Kind::from_type(n), Some(kind), "type {n}");
        assert!(kind.name().starts_with("R_RISCV_"));
    }
    assert_eq!(kvas_kernel_core::modreloc::R_RISCV_PCREL_HI20, elf::R_RISCV_PCREL_HI20);
    for unsupported in [elf::R_RISCV_GOT_HI20, elf::R_RISCV_TLS_GD_HI20, elf::R_RISCV_RELATIVE, 200] {
        assert_eq!(Kind::from_type(unsupported), None, "type {unsupported}");
    }
}

#[test]
fn call_plt_patches_auipc_and_jalr_within_2_gib() {
    for d in [
        0i64,
        4,
        -4,
        0x7ff,
        0x800,
        -0x800,
        -0x801,
        0x1234_5678,
        -0x1234_5678,
        (1 << 31) - 0x801,
        -(1 << 31) - 0x800,
    ] {
        for kind in [Kind::Call, Kind::CallPlt] {
            let mut b = bytes(&[AUIPC_RA, JALR_RA]);
            apply(kind, &mut b, P, P.wrapping_add(d as u64), "f").unwrap();
            let (auipc, jalr) = (u32_at(&b), u32_at(&b[4..]));
            assert_eq!(auipc & 0xfff, AUIPC_RA, "registers and opcode kept");
            assert_eq!(jalr & 0x000f_ffff, JALR_RA);
            assert_eq!(u_imm(auipc) + i_imm(jalr), d, "distance {d:#x}");
        }
    }
}

#[test]
fn call_out_of_reach_names_symbol_and_distance_and_changes_nothing() {
    for d in [(1i64 << 31) - 0x800, -(1 << 31) - 0x801, 0x39_8000_0000] {
        let mut b = bytes(&[AUIPC_RA, JALR_RA]);
        let e = apply(Kind::CallPlt, &mut b, P, P.wrapping_add(d as u64), "kvas_export_add").unwrap_err();
        assert!(matches!(e.problem, Problem::OutOfReach { distance, .. } if distance == d));
        let msg = e.to_string();
        assert!(msg.contains("R_RISCV_CALL_PLT"), "{msg}");
        assert!(msg.contains("`kvas_export_add`"), "{msg}");
        let want = format!("distance {}{:#x}", if d < 0 { "-" } else { "" }, d.unsigned_abs());
        assert!(msg.contains(&want), "{msg} lacks {want}");
        assert_eq!(b, bytes(&[AUIPC_RA, JALR_RA]), "bytes unchanged");
    }
}

#[test]
fn pcrel_hi20_and_lo12_i_s_add_up() {
    for d in [0i64, 0x7ff, 0x800, 0xfff, 0x1000, -1, -0x801, 0x7654_3210, -0x7654_3210] {
        let mut hi = bytes(&[AUIPC_RA]);
        apply(Kind::PcrelHi20, &mut hi, P, P.wrapping_add(d as u64), "x").unwrap();
        // The LO12 relocations get the HI20's value (S + A - P of the auipc).
        let mut lo_i = bytes(&[ADDI_A0]);
        apply(Kind::PcrelLo12I, &mut lo_i, P + 4, d as u64, "x").unwrap();
        let mut lo_s = bytes(&[SD_A1]);
        apply(Kind::PcrelLo12S, &mut lo_s, P + 8, d as u64, "x").unwrap();
        assert_eq!(u_imm(u32_at(&hi)) + i_imm(u32_at(&lo_i)), d, "I {d:#x}");
        assert_eq!(u_imm(u32_at(&hi)) + s_imm(u32_at(&lo_s)), d, "S {d:#x}");
        assert_eq!(u32_at(&lo_s) & 0x01ff_f07f, SD_A1, "rs1, rs2, funct3 and opcode kept");
    }
    let mut hi = bytes(&[AUIPC_RA]);
    assert!(apply(Kind::PcrelHi20, &mut hi, P, P + (1 << 31), "far").is_err());
}

#[test]
fn hi20_lo12_reach_only_the_low_and_high_2_gib() {
    // A kernel symbol (top 2 GiB) reaches with lui; the modules window (-4..-2 GiB) does not.
    for v in [0xffff_ffff_8000_1234u64, 0x7fff_f7ff, 0, 0xffff_ffff_7fff_f800] {
        let mut b = bytes(&[LUI_A0, ADDI_A0, SD_A1]);
        apply(Kind::Hi20, &mut b, P, v, "s").unwrap();
        apply(Kind::Lo12I, &mut b[4..], P + 4, v, "s").unwrap();
        apply(Kind::Lo12S, &mut b[8..], P + 8, v, "s").unwrap();
        let hi = u_imm(u32_at(&b));
        assert_eq!(hi + i_imm(u32_at(&b[4..])), v as i64, "{v:#x}");
        assert_eq!(hi + s_imm(u32_at(&b[8..])), v as i64, "{v:#x}");
    }
    for v in [0xffff_ffff_0000_1000u64, 0x7fff_f800, 0xffff_ffff_7fff_f7ff] {
        let e = apply(Kind::Hi20, &mut bytes(&[LUI_A0]), P, v, "far_sym").unwrap_err();
        assert!(e.to_string().contains("value"), "{e}");
        assert!(e.to_string().contains("`far_sym`"), "{e}");
    }
}

fn reach_case(kind: Kind, insn: &[u8], decode: fn(&[u8]) -> i64, max: i64) {
    for d in [0, 2, -2, max, -max - 2, 0x40, -0x40] {
        let mut b = insn.to_vec();
        apply(kind, &mut b, P, P.wrapping_add(d as u64), "t").unwrap();
        assert_eq!(decode(&b), d, "{} {d:#x}", kind.name());
    }
    for d in [max + 2, -max - 4] {
        let mut b = insn.to_vec();
        let e = apply(kind, &mut b, P, P.wrapping_add(d as u64), "t").unwrap_err();
        assert!(matches!(e.problem, Problem::OutOfReach { distance, .. } if distance == d), "{e}");
        assert_eq!(b, insn, "unchanged");
    }
    let e = apply(kind, &mut insn.to_vec(), P, P + 3, "t").unwrap_err();
    assert_eq!(e.problem, Problem::Odd { distance: 3 });
}

#[test]
fn branch_reaches_4_kib() {
    reach_case(Kind::Branch, &bytes(&[BEQ]), |b| b_imm(u32_at(b)), 4094);
    let mut b = bytes(&[BEQ]);
    apply(Kind::Branch, &mut b, P, P - 4096, "t").unwrap();
    assert_eq!(u32_at(&b) & 0x01ff_f07f, BEQ, "registers kept");
}

#[test]
fn jal_reaches_1_mib() {
    reach_case(Kind::Jal, &bytes(&[JAL_RA]), |b| j_imm(u32_at(b)), (1 << 20) - 2);
    let mut b = bytes(&[JAL_RA]);
    apply(Kind::Jal, &mut b, P, P + 0x1_2344, "t").unwrap();
    assert_eq!(u32_at(&b) & 0xfff, JAL_RA, "rd kept");
}

#[test]
fn rvc_branch_and_jump() {
    reach_case(Kind::RvcBranch, &C_BEQZ.to_le_bytes(), |b| cb_imm(u16_at(b)), 254);
    reach_case(Kind::RvcJump, &C_J.to_le_bytes(), |b| cj_imm(u16_at(b)), 2046);
    let mut b = C_BEQZ.to_le_bytes().to_vec();
    apply(Kind::RvcBranch, &mut b, P, P - 256, "t").unwrap();
    assert_eq!(u16_at(&b) & 0xe383, C_BEQZ, "funct3, rs1' and op kept");
}

#[test]
fn data_words() {
    let mut b = vec![0xaa; 8];
    apply(Kind::Abs64, &mut b, P, 0xffff_ffff_8000_1234, "d").unwrap();
    assert_eq!(b, 0xffff_ffff_8000_1234u64.to_le_bytes());
    let mut b = vec![0; 4];
    apply(Kind::Abs32, &mut b, P, 0x8000_0000, "d").unwrap();
    assert_eq!(u32_at(&b), 0x8000_0000);
    let e = apply(Kind::Abs32, &mut b, P, 0x1_0000_0000, "big").unwrap_err();
    assert!(e.to_string().contains("`big`"), "{e}");
    let mut b = vec![0; 4];
    apply(Kind::Pcrel32, &mut b, P, P - 8, "d").unwrap();
    assert_eq!(u32_at(&b) as i32, -8);
}

#[test]
fn add_sub_pairs_compute_differences() {
    // `.word end - start` with relaxation: ADD of `end`, SUB of `start`, in place.
    for w in [1u8, 2, 4, 8] {
        let mut b = vec![0u8; 8];
        b[0] = 5;
        apply(Kind::Add(w), &mut b, P, P + 0x30, "end").unwrap();
        apply(Kind::Sub(w), &mut b, P, P + 0x10, "start").unwrap();
        let mut want = [0u8; 8];
        want[0] = 0x25;
        assert_eq!(b, want, "width {w}");
    }
    let mut b = vec![0xc5]; // top two bits kept
    apply(Kind::Set6, &mut b, P, 0x3f, "s").unwrap();
    assert_eq!(b, [0xff]);
    apply(Kind::Sub6, &mut b, P, 0x01, "s").unwrap();
    assert_eq!(b, [0xfe]);
    let mut b = vec![0u8; 4];
    apply(Kind::Set(2), &mut b, P, 0xbeef, "s").unwrap();
    assert_eq!(b, [0xef, 0xbe, 0, 0]);
}

#[test]
fn hints_change_nothing_and_short_places_are_refused() {
    let mut b = bytes(&[AUIPC_RA]);
    for k in [Kind::Relax, Kind::Align, Kind::None] {
        apply(k, &mut b, P, 0x1234, "h").unwrap();
    }
    assert_eq!(b, bytes(&[AUIPC_RA]));
    let e = apply(Kind::CallPlt, &mut bytes(&[AUIPC_RA]), P, P, "f").unwrap_err();
    assert_eq!(e.problem, Problem::Short { need: 8, have: 4 });
    assert!(e.to_string().contains("patches 8 bytes"), "{e}");
}

//! Self-relocation without a dynamic linker.
//!
//! Code is position independent (`relocation-model=pie`, `code-model=medium`): it reaches
//! statics, jump tables and lookup tables PC-relatively. What is not position independent
//! is the image's *data* that holds absolute pointers: vtables, panic locations, the
//! pieces of `format_args!`, `&'static` values in statics. The link keeps its relocations
//! (`--emit-relocs`), and xtask (xtask/src/image.rs) lists the offset of every such 64-bit
//! slot in the table `.kvas_reloc` below, after checking that no code uses an absolute
//! address. Boot applies the table twice with [`kvas_relocate`]: at entry, to move every
//! pointer to the physical load address, so that all Rust — formatting, panics, trait
//! objects — works with the MMU off; and right before paging goes on, to move them back to
//! the link address.
//!
//! Table layout (little endian): `magic: u64`, `count: u64`, then `count` u32 offsets from
//! `__kernel_start`, exactly [`RELOC_CAPACITY`] of them: the table is sized from the link
//! (xtask counts the slots and links again when the count changed).
//!
//! The scheme moves the pointers the *link* made. A pointer stored at run time with the MMU
//! off would stay physical after the switch, so nothing made then may hold one: the hand-off
//! is plain numbers (boot/handoff.rs), and xtask's build refuses any writable static that is
//! not on its reviewed list of pointer-free statics (xtask/src/image.rs).

/// How many slots the table holds: the image's pointer slots, counted at the previous link
/// (`KVAS_RELOC_SLOTS`, from xtask through kernel/build.rs; 0 outside xtask's build).
pub const RELOC_CAPACITY: usize = parse(env!("KVAS_RELOC_SLOTS"));

/// A decimal number, at compile time.
const fn parse(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "KVAS_RELOC_SLOTS must be a decimal number");
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    n
}

/// The magic word xtask writes once the table is filled: "kvasrel1".
pub const RELOC_MAGIC: u64 = u64::from_le_bytes(*b"kvasrel1");

core::arch::global_asm!(
    r#"
    .section .kvas_reloc, "a"
    .balign 8
    .globl __kvas_reloc
__kvas_reloc:
    .8byte 0
    .8byte 0
    .fill {cap}, 4, 0

    .section .text.entry, "ax"
    .balign 4
    .globl kvas_relocate
    # kvas_relocate(image: a0, delta: a1): for each offset in the table,
    # *(u64 *)(image + offset) += delta. No stack, no absolute address: runs anywhere.
kvas_relocate:
    lla     t0, __kvas_reloc
    ld      t1, 8(t0)
    addi    t0, t0, 16
1:  beqz    t1, 2f
    lwu     t2, 0(t0)
    add     t2, t2, a0
    ld      t3, 0(t2)
    add     t3, t3, a1
    sd      t3, 0(t2)
    addi    t0, t0, 4
    addi    t1, t1, -1
    j       1b
2:  ret

    .globl kvas_reloc_magic
    # kvas_reloc_magic() -> the table's magic word, read at run time (never constant-folded).
kvas_reloc_magic:
    lla     t0, __kvas_reloc
    ld      a0, 0(t0)
    ret
    "#,
    cap = const RELOC_CAPACITY,
);

// `kvas_relocate(image, delta)` adds `delta` to every listed pointer slot of the image at
// `image`; only assembly calls it (boot.rs), since Rust cannot run while pointers move.
extern "C" {
    /// The table's magic word: [`RELOC_MAGIC`] once xtask has filled it.
    fn kvas_reloc_magic() -> u64;
}

/// Whether xtask has filled the table (an image straight out of the linker has not).
pub fn table_is_sealed() -> bool {
    // SAFETY: reads one word of the image's own read-only data, PC-relatively.
    unsafe { kvas_reloc_magic() == RELOC_MAGIC }
}

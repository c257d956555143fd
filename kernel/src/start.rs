//! The first instructions of both kernels' `_start` (boot/entry.rs on riscv64, sv32/entry.rs
//! on riscv32), as assembly text: [`start_prologue!`].

/// `_start`'s opening, the same on both widths: the entry section and symbol, interrupts
/// off, the hart id and DTB address kept in `s0`/`s1` and the hart id in `tp` (for as long
/// as the kernel runs; Rust never uses `tp`), and .bss zeroed (boot stack included) with the
/// width's store `$store` of `$step` bytes (the linker script aligns .bss to it). `$first`
/// runs before all of that (riscv64: `rdinstret s3`, where boot cost is measured from). The
/// caller's code goes on at local label `2:`.
macro_rules! start_prologue {
    ($first:literal, $store:literal, $step:literal) => {
        concat!(
            r#"
    .section .text.entry, "ax"
    .balign 4
    .globl _start
    # OpenSBI enters here in S-mode, MMU off: a0 = hart id, a1 = physical address of the DTB.
_start:
    "#,
            $first,
            r#"
    csrw    sie, zero
    csrci   sstatus, 2
    mv      s0, a0
    mv      s1, a1
    mv      tp, a0
    lla     t0, __bss_start
    lla     t1, __bss_end
1:  bgeu    t0, t1, 2f
    "#,
            $store,
            r#"      zero, 0(t0)
    addi    t0, t0, "#,
            $step,
            r#"
    j       1b
"#
        )
    };
}

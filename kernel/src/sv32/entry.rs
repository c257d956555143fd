//! The riscv32 entry: `_start` turns paging on in assembly, before any Rust runs.
//!
//! The image is linked at `KERNEL_LINK_ADDR` = 0xf0000000 and runs MMU-off at its physical
//! load address (any 4 MiB aligned one). Rather than relocate itself as riscv64 does,
//! `_start` fills the boot root in .bss ([`BOOT_TABLES`]) with 4 MiB megapages over the
//! image, at its link address and (for the few instructions after the `satp` write) at its
//! physical address, links the fixmap's two tables, turns Sv32 on and jumps to `kmain` at
//! its virtual address. Every Rust instruction runs at the link address, so the image needs
//! no relocation table; its code is static (kernel/.cargo/config.toml).
//!
//! The boot tables map the image read-write-execute: they live only until kmain has built
//! the final tables (with W^X) with the kvas engine (super::space).
//!
//! A load address that is not 4 MiB aligned cannot be mapped with megapages, and the final
//! tables refuse it (kvas::kspace::sv32). So that the refusal is a `kvas: fatal:` line with
//! a failing exit like any other (Rust needs the link address to print, and the device
//! tree's finisher to fail), `_start` then maps the image with 4 KiB pages through two more
//! boot tables (images up to 8 MiB) and identity megapages over the 8 MiB from the load
//! address rounded down, and goes on as usual; kmain's kernel-space step names the address.

use core::sync::atomic::AtomicU32;

use kvas::layout::riscv32_split::KERNEL_LINK_ADDR;

/// Entries of an Sv32 table.
pub const ENTRIES: usize = 1024;

/// The boot tables: the root, then the fixmap's two second-level tables (root entries
/// 1022 and 1023: `[0xff800000, 0xffc00000)` and `[0xffc00000, 2^32)`), then two for an
/// image loaded at an address that is not 4 MiB aligned (root entries 960 and 961).
#[repr(C, align(4096))]
pub struct BootTables(pub [[AtomicU32; ENTRIES]; 5]);

/// The boot tables (in .bss, zeroed by `_start` before it fills them).
pub static BOOT_TABLES: BootTables = BootTables([const { [const { AtomicU32::new(0) }; ENTRIES] }; 5]);

core::arch::global_asm!(
    start_prologue!("", "sw", "4"),
    r#"
2:  lla     s2, __kernel_start
    li      t0, 0x3fffff
    and     t0, s2, t0
    bnez    t0, 9f
    lla     s3, {tables}
    # t0 = megapages over the image: ceil((end - start) / 4 MiB).
    lla     t0, __kernel_end
    sub     t0, t0, s2
    li      t1, 0x3fffff
    add     t0, t0, t1
    srli    t0, t0, 22
    mv      t1, s2
    li      t2, {link}
3:  beqz    t0, 4f
    # A leaf for pa t1: PPN, then V R W X A D.
    srli    t3, t1, 12
    slli    t3, t3, 10
    ori     t3, t3, 0xcf
    # At its physical address (the landing of the satp write)...
    srli    t4, t1, 22
    slli    t4, t4, 2
    add     t4, t4, s3
    sw      t3, 0(t4)
    # ... and at its link address, global.
    ori     t3, t3, 0x20
    srli    t4, t2, 22
    slli    t4, t4, 2
    add     t4, t4, s3
    sw      t3, 0(t4)
    li      t5, 0x400000
    add     t1, t1, t5
    add     t2, t2, t5
    addi    t0, t0, -1
    j       3b
    # The fixmap: root[1022] -> table 1, root[1023] -> table 2.
4:  li      t5, 4096
    add     t1, s3, t5
    srli    t3, t1, 12
    slli    t3, t3, 10
    ori     t3, t3, 1
    li      t4, 1022 * 4
    add     t4, t4, s3
    sw      t3, 0(t4)
    add     t1, t1, t5
    srli    t3, t1, 12
    slli    t3, t3, 10
    ori     t3, t3, 1
    sw      t3, 4(t4)
    # satp = Sv32 | ASID 0 | root PPN; then jump to 5: at its link address.
    srli    t0, s3, 12
    li      t1, 0x80000000
    or      t0, t0, t1
    li      t1, {link}
    sub     t1, t1, s2
    lla     t2, 5f
    add     t2, t2, t1
    sfence.vma
    csrw    satp, t0
    sfence.vma
    jr      t2
    # Virtual from here on: PC-relative addresses are link addresses.
5:  lla     sp, __boot_stack_top
    mv      a0, s0
    mv      a1, s1
    mv      a2, s2
    call    {kmain}
6:  wfi
    j       6b
    # Not 4 MiB aligned: 4 KiB leaves at the link address (tables 3 and 4, contiguous: 2048
    # entries), V R W X G A D, if the image fits them (else the legacy SBI shutdown).
9:  lla     s3, {tables}
    lla     t0, __kernel_end
    sub     t0, t0, s2
    li      t1, 0xfff
    add     t0, t0, t1
    srli    t0, t0, 12
    li      t1, 2 * 1024
    bgtu    t0, t1, 8f
    li      t5, 4096
    li      t4, 3 * 4096
    add     t4, t4, s3
    mv      t1, s2
7:  beqz    t0, 10f
    srli    t3, t1, 12
    slli    t3, t3, 10
    ori     t3, t3, 0xef
    sw      t3, 0(t4)
    addi    t4, t4, 4
    add     t1, t1, t5
    addi    t0, t0, -1
    j       7b
    # root[link >> 22] -> table 3, the next -> table 4.
10: li      t1, 3 * 4096
    add     t1, t1, s3
    li      t4, ({link} >> 22) * 4
    add     t4, t4, s3
    srli    t3, t1, 12
    slli    t3, t3, 10
    ori     t3, t3, 1
    sw      t3, 0(t4)
    add     t1, t1, t5
    srli    t3, t1, 12
    slli    t3, t3, 10
    ori     t3, t3, 1
    sw      t3, 4(t4)
    # Identity megapages over [load rounded down to 4 MiB, + 8 MiB): the landing of the
    # satp write, wherever in the image's first 4 MiB it lies.
    li      t1, -0x400000
    and     t1, s2, t1
    li      t0, 2
11: srli    t3, t1, 12
    slli    t3, t3, 10
    ori     t3, t3, 0xcf
    srli    t4, t1, 22
    slli    t4, t4, 2
    add     t4, t4, s3
    sw      t3, 0(t4)
    li      t5, 0x400000
    add     t1, t1, t5
    addi    t0, t0, -1
    bnez    t0, 11b
    j       4b
8:  li      a7, 8
    ecall
    j       8b
    "#,
    tables = sym BOOT_TABLES,
    link = const KERNEL_LINK_ADDR,
    kmain = sym super::kmain::kmain,
);

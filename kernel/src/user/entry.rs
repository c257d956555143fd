//! The trap glue between the kernel and U-mode, in one place: [`run`] enters a process and
//! returns when it traps, like a hypervisor's "run the vCPU" call. While user code runs,
//! `stvec` points at the user trap entry and `sscratch` holds the process's [`UserRegs`];
//! the entry saves every user register there, restores the kernel's callee-saved registers,
//! stack pointer and trap vector, and returns from `run` with `scause` and `stval`. The kernel
//! never runs on a user stack and keeps no per-process kernel stack.
//!
//! Separate address spaces (4G/4G; `kvas.separate` on riscv64): when [`UserRegs::satp_user`]
//! is set, `run` writes it to `satp` just before `sret` and the entry writes
//! [`UserRegs::satp_kernel`] right after saving the user's registers, so the kernel runs on
//! its own root and ASID and the process on its own. This glue is the trampoline: it and
//! the `UserRegs` it uses lie in the kernel image (text, and the kernel stack the registers
//! live on), which both roots map at the same address (the image is outside the linear map
//! and its root entries are copied into every process's root). The two `satp` writes need
//! no `sfence.vma`: the two spaces have different ASIDs, and the kernel's mappings are
//! global and the same in both. Without ASIDs both spaces are ASID 0, and
//! [`UserRegs::satp_flush`] makes each write a full flush. With both fields 0 (the
//! shared-space splits) nothing switches.

use core::arch::global_asm;

/// A process's registers while it is not running, and the kernel's while it is.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct UserRegs {
    /// x0..x31 (x0 unused).
    pub x: [u64; 32],
    /// Where the process resumes.
    pub sepc: u64,
    /// Why it last trapped.
    pub scause: u64,
    /// The trap's address or instruction.
    pub stval: u64,
    /// The kernel's ra, sp, gp, tp, s0..s11 and stvec while the process runs.
    kernel: [u64; 17],
    /// The process's `satp`, written on the way out; 0: the current one stays.
    pub satp_user: u64,
    /// The kernel's `satp`, written on the way in; 0: the current one stays.
    pub satp_kernel: u64,
    /// Non-zero: a full `sfence.vma` after each of those `satp` writes — separate spaces
    /// without ASIDs, where the kernel and the process share ASID 0 and a hart would
    /// otherwise keep one space's translations in the other.
    pub satp_flush: u64,
}

// The asm's offsets.
const _: () = assert!(core::mem::offset_of!(UserRegs, sepc) == 256);
const _: () = assert!(core::mem::offset_of!(UserRegs, kernel) == 280);
const _: () = assert!(core::mem::offset_of!(UserRegs, satp_user) == 416);
const _: () = assert!(core::mem::offset_of!(UserRegs, satp_kernel) == 424);
const _: () = assert!(core::mem::offset_of!(UserRegs, satp_flush) == 432);

impl UserRegs {
    /// Registers for a process starting at `entry` with stack pointer `sp`.
    pub fn new(entry: u64, sp: u64) -> Self {
        let mut x = [0; 32];
        x[2] = sp;
        UserRegs {
            x,
            sepc: entry,
            scause: 0,
            stval: 0,
            kernel: [0; 17],
            satp_user: 0,
            satp_kernel: 0,
            satp_flush: 0,
        }
    }
}

/// The trap glue, one source for both widths: every register has an 8-byte slot in
/// [`UserRegs`]; `kvas_sv` stores a register in its slot (riscv32: the low word, and zero
/// above it, so the Rust side reads every value zero-extended) and `kvas_ld` loads it.
macro_rules! user_glue {
    ($save:literal, $load:literal) => {
        global_asm!(concat!(
            r#"
    .macro kvas_sv r, off
    "#,
            $save,
            r#"
    .endm
    .macro kvas_ld r, off
    "#,
            $load,
            r#"
    .endm
    .section .text
    .balign 4
    .globl kvas_user_run
    # kvas_user_run(regs: a0): runs U-mode from regs until it traps; returns when it has.
kvas_user_run:
    kvas_sv ra, 280
    kvas_sv sp, 288
    kvas_sv gp, 296
    kvas_sv tp, 304
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11
    kvas_sv s\r, (312+\r*8)
    .endr
    csrr    t0, stvec
    kvas_sv t0, 408
    lla     t0, kvas_user_trap
    csrw    stvec, t0
    csrw    sscratch, a0
    kvas_ld t0, 256
    csrw    sepc, t0
    # sret to U-mode (SPP = 0), SUM clear; FS as fpu::switch_in left it (on only if the
    # hart has an FPU).
    li      t0, (1 << 8) | (1 << 18)
    csrc    sstatus, t0
    # Separate spaces: the process's root and ASID from here on (this page and regs are
    # mapped in both).
    kvas_ld t0, 416
    beqz    t0, 1f
    csrw    satp, t0
    kvas_ld t1, 432
    beqz    t1, 1f
    sfence.vma
1:
    .irp r, 1,2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    kvas_ld x\r, \r*8
    .endr
    kvas_ld a0, 80
    sret

    .balign 4
kvas_user_trap:
    csrrw   a0, sscratch, a0
    .irp r, 1,2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    kvas_sv x\r, \r*8
    .endr
    csrr    t0, sscratch
    kvas_sv t0, 80
    csrr    t0, sepc
    kvas_sv t0, 256
    csrr    t0, scause
    kvas_sv t0, 264
    csrr    t0, stval
    kvas_sv t0, 272
    # Separate spaces: back to the kernel's root and ASID.
    kvas_ld t0, 424
    beqz    t0, 2f
    csrw    satp, t0
    kvas_ld t1, 432
    beqz    t1, 2f
    sfence.vma
2:
    kvas_ld t0, 408
    csrw    stvec, t0
    kvas_ld ra, 280
    kvas_ld sp, 288
    kvas_ld gp, 296
    kvas_ld tp, 304
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11
    kvas_ld s\r, (312+\r*8)
    .endr
    ret
    .purgem kvas_sv
    .purgem kvas_ld
    "#
        ));
    };
}

#[cfg(target_arch = "riscv64")]
user_glue!("sd \\r, \\off(a0)", "ld \\r, \\off(a0)");
#[cfg(target_arch = "riscv32")]
user_glue!("sw \\r, \\off(a0)\n    sw zero, (\\off+4)(a0)", "lw \\r, \\off(a0)");

extern "C" {
    fn kvas_user_run(regs: *mut UserRegs);
}

/// An address in the kernel's text as it runs (after KASLR): the user trap glue's entry, for
/// the tests of user accesses to kernel text.
pub fn kernel_text() -> u64 {
    kvas_user_run as unsafe extern "C" fn(*mut UserRegs) as usize as u64
}

/// Runs the current user address space from `regs` until the process traps (a system call,
/// a fault, anything); `regs` then holds its registers, `scause` and `stval`.
///
/// # Safety
///
/// `satp` selects the process's address space, whose kernel half is the kernel's, and
/// `regs.sepc` is a user address (the hart enters U-mode there).
pub unsafe fn run(regs: &mut UserRegs) {
    // SAFETY: the entry saves and restores every callee-saved register and the stack
    // pointer per the C ABI, and U-mode cannot touch the kernel half (no U bit), so the
    // kernel resumes exactly as it left; the caller vouches for satp and sepc.
    unsafe { kvas_user_run(regs) }
}

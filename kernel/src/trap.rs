//! Supervisor trap handling: every trap is a synchronous exception (interrupts stay off).
//! Each hart traps on its own stack (the boot stack, or the vmalloc'd stack smp.rs gave it),
//! so each has its own trap frame, and keeps its own last recovered fault.
//! The handler prints `scause`, `stval` and `sepc`; a fault at the one instruction of
//! [`probe_store`] is expected (self-tests use it to check that a page is read-only) and is
//! recovered by resuming at its fixup, which reports the fault to the caller (who may ask
//! the kernel space which vmalloc area's guard page it hit). Any other trap is fatal: one
//! `kvas: fatal: unexpected trap` line and a failing power-off; a trap inside the fatal path
//! itself powers off at once ([`crate::power::fail_again`]).

use core::sync::atomic::{AtomicUsize, Ordering};

/// A general-purpose register: 64 bits on riscv64, 32 on riscv32.
#[cfg(target_arch = "riscv64")]
pub type Reg = u64;
/// A general-purpose register: 64 bits on riscv64, 32 on riscv32.
#[cfg(target_arch = "riscv32")]
pub type Reg = u32;

/// Registers saved by the trap entry, in the order the assembly stores them.
#[repr(C)]
pub struct TrapFrame {
    /// x0..x31 (x0 and x2 are not meaningful).
    pub regs: [Reg; 32],
    /// Where the trap happened; the handler may change it.
    pub sepc: Reg,
    /// Why.
    pub scause: Reg,
    /// The faulting address (or instruction).
    pub stval: Reg,
    _pad: Reg,
}

// The register width in the assembly: store, load, and bytes per register (REG_S, REG_L,
// SZREG), so one trap entry serves both widths.
#[cfg(target_arch = "riscv64")]
macro_rules! xlen {
    (s) => {
        "sd"
    };
    (l) => {
        "ld"
    };
    (sz) => {
        "8"
    };
}
#[cfg(target_arch = "riscv32")]
macro_rules! xlen {
    (s) => {
        "sw"
    };
    (l) => {
        "lw"
    };
    (sz) => {
        "4"
    };
}

core::arch::global_asm!(
    concat!(
        r#"
    .section .text
    .balign 4
    .globl kvas_trap_entry
kvas_trap_entry:
    addi    sp, sp, -36*"#, xlen!(sz), r#"
    "#, xlen!(s), r#"      x1, 1*"#, xlen!(sz), r#"(sp)
    .irp r, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    "#, xlen!(s), r#"      x\r, \r*"#, xlen!(sz), r#"(sp)
    .endr
    csrr    t0, sepc
    "#, xlen!(s), r#"      t0, 32*"#, xlen!(sz), r#"(sp)
    csrr    t0, scause
    "#, xlen!(s), r#"      t0, 33*"#, xlen!(sz), r#"(sp)
    csrr    t0, stval
    "#, xlen!(s), r#"      t0, 34*"#, xlen!(sz), r#"(sp)
    mv      a0, sp
    call    {handler}
    "#, xlen!(l), r#"      t0, 32*"#, xlen!(sz), r#"(sp)
    csrw    sepc, t0
    "#, xlen!(l), r#"      x1, 1*"#, xlen!(sz), r#"(sp)
    .irp r, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    "#, xlen!(l), r#"      x\r, \r*"#, xlen!(sz), r#"(sp)
    .endr
    addi    sp, sp, 36*"#, xlen!(sz), r#"
    sret

    .balign 4
    .globl kvas_probe_store
    # kvas_probe_store(addr: a0, byte: a1) -> 0 if the store happened, 1 if it faulted.
kvas_probe_store:
    .globl kvas_probe_store_insn
kvas_probe_store_insn:
    sb      a1, 0(a0)
    li      a0, 0
    ret
    .globl kvas_probe_store_fixup
kvas_probe_store_fixup:
    li      a0, 1
    ret

    .balign 4
    .globl kvas_probe_load
    # kvas_probe_load(addr: a0, out: a1) -> 0 if the load happened (byte at *out), 1 if it faulted.
kvas_probe_load:
    .globl kvas_probe_load_insn
kvas_probe_load_insn:
    lbu     t0, 0(a0)
    sb      t0, 0(a1)
    li      a0, 0
    ret
    .globl kvas_probe_load_fixup
kvas_probe_load_fixup:
    li      a0, 1
    ret
    "#
    ),
    handler = sym trap_handler,
);

extern "C" {
    fn kvas_trap_entry();
    fn kvas_probe_store(addr: usize, byte: u8) -> usize;
    fn kvas_probe_store_insn();
    fn kvas_probe_store_fixup();
    fn kvas_probe_load(addr: usize, out: *mut u8) -> usize;
    fn kvas_probe_load_insn();
    fn kvas_probe_load_fixup();
}

/// Each hart's last recovered fault: scause, stval, sepc (every hart probes on its own).
static RECOVERED: [[AtomicUsize; 3]; crate::smp::MAX_HARTS] =
    [const { [const { AtomicUsize::new(0) }; 3] }; crate::smp::MAX_HARTS];

/// This hart's slots of [`RECOVERED`].
fn recovered_slots() -> &'static [AtomicUsize; 3] {
    &RECOVERED[crate::smp::hart_index()]
}

/// A fault caught by [`probe_store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// `scause`.
    pub scause: u64,
    /// `stval`.
    pub stval: u64,
    /// `sepc`.
    pub sepc: u64,
}

/// Points `stvec` at the trap entry as seen from the current address space.
pub fn init() {
    // SAFETY: the entry is code of this image, reached PC-relatively (or through a relocated
    // pointer), so its address is valid in the address space that runs this.
    unsafe { crate::csr::write_stvec(kvas_trap_entry as unsafe extern "C" fn() as usize as u64) };
}

/// Stores `byte` at `addr`; `Err` with the fault if the store traps.
pub fn probe_store(addr: u64, byte: u8) -> Result<(), Fault> {
    // SAFETY: a fault on this store is caught by the handler; a successful store changes a
    // byte the caller chose.
    if unsafe { kvas_probe_store(addr as usize, byte) } == 0 {
        return Ok(());
    }
    Err(recovered())
}

/// Loads the byte at `addr`; `Err` with the fault if the load traps.
pub fn probe_load(addr: u64) -> Result<u8, Fault> {
    let mut byte = 0u8;
    // SAFETY: a fault on this load is caught by the handler; `byte` is a valid destination.
    if unsafe { kvas_probe_load(addr as usize, &mut byte) } == 0 {
        return Ok(byte);
    }
    Err(recovered())
}

/// Loads from an address no kernel mapping covers: an unexpected page fault, for the boot
/// tests of the fatal path (`kvas.fail=trap|nested`). Never returns normally.
pub fn fault_on_purpose() -> u64 {
    // SAFETY: address 0x1000 lies in the (empty) user half (riscv32 4G/4G: the unmapped first
    // 4 MiB), so this load faults before it reads anything (one register wide, so the fault
    // names 0x1000 on both widths); the trap handler ends the machine instead of returning.
    unsafe { core::ptr::read_volatile(0x1000 as *const usize) as u64 }
}

fn recovered() -> Fault {
    let [c, v, e] = recovered_slots();
    Fault {
        scause: c.load(Ordering::Relaxed) as u64,
        stval: v.load(Ordering::Relaxed) as u64,
        sepc: e.load(Ordering::Relaxed) as u64,
    }
}

extern "C" fn trap_handler(frame: &mut TrapFrame) {
    // A copy to or from user memory that faulted: resume at its fixup (user/uaccess.rs).
    #[cfg(target_arch = "riscv64")]
    if let Some(fixup) = crate::user::uaccess::fixup(frame.sepc, frame.scause, frame.stval) {
        frame.sepc = fixup;
        return;
    }
    let addr = |f: unsafe extern "C" fn()| f as usize as Reg;
    let fixup = if frame.sepc == addr(kvas_probe_store_insn) {
        Some(addr(kvas_probe_store_fixup))
    } else if frame.sepc == addr(kvas_probe_load_insn) {
        Some(addr(kvas_probe_load_fixup))
    } else {
        None
    };
    if crate::power::is_failing() {
        // A trap inside the fatal path: never print or handle again.
        crate::power::fail_again();
    }
    if let Some(fixup) = fixup {
        crate::kprintln!(
            "kvas: trap: scause {:#x} stval {:#x} sepc {:#x} (expected; recovered)",
            frame.scause,
            frame.stval,
            frame.sepc
        );
        for (slot, v) in recovered_slots().iter().zip([frame.scause, frame.stval, frame.sepc]) {
            slot.store(v as usize, Ordering::Relaxed);
        }
        frame.sepc = fixup;
        return;
    }
    crate::power::fatal(format_args!(
        "unexpected trap: scause {:#x} stval {:#x} sepc {:#x}",
        frame.scause, frame.stval, frame.sepc
    ))
}

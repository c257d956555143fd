//! `hello`: the kvas kernel's test module (see docs/KERNEL.md, "Modules"). xtask builds it
//! into a relocatable object (`--emit=obj`, code model medium, relaxation on) that the kernel
//! embeds and loads. Its code is chosen to need the relocations the loader must apply: calls
//! into the kernel (`CALL_PLT`), PC-relative data (`PCREL_HI20`/`LO12_I`/`LO12_S`), absolute
//! addressing of kernel symbols (`HI20`/`LO12_I`/`LO12_S`), pointers in data (`64`), a jump
//! table and branches (`BRANCH`, `RVC_JUMP`, `JAL`), and `RELAX` hints. It must not call into
//! `core` (the kernel exports only `kvas_export_*`): wrapping arithmetic, no panics.
#![no_std]

extern "C" {
    fn kvas_export_add(a: u64, b: u64) -> u64;
    fn kvas_export_log(msg: *const u8, len: usize);
    static kvas_export_magic: u64;
    static mut kvas_export_mailbox: u64;
}

static GREETING: &str = "hello from the module";
static mut COUNTER: u64 = 7;
static TABLE: [extern "C" fn(u64) -> u64; 2] = [double, triple];
static KERNEL_ADD: unsafe extern "C" fn(u64, u64) -> u64 = kvas_export_add;

#[inline(never)]
extern "C" fn double(x: u64) -> u64 {
    x.wrapping_mul(2)
}
#[inline(never)]
extern "C" fn triple(x: u64) -> u64 {
    x.wrapping_mul(3)
}

// `hello_span`: a function whose size the module also records in data as a label
// difference. With relaxation on, the assembler cannot know the difference (the `call`
// inside could shrink), so it emits an `ADD32`/`SUB32` pair, and `ADD64`/`SUB64` for the
// 8-byte copy: the loader computes them, and since it does not relax, both are 8.
core::arch::global_asm!(
    ".pushsection .text.hello_span, \"ax\", @progbits",
    ".balign 4",
    "hello_span:",
    "1:",
    "call {triple}",
    "2:",
    "ret",
    ".popsection",
    ".pushsection .rodata.hello_span_len, \"a\", @progbits",
    ".balign 8",
    "hello_span_len32: .4byte 2b - 1b",
    ".balign 8",
    "hello_span_len64: .8byte 2b - 1b",
    ".popsection",
    triple = sym triple,
);

extern "C" {
    static hello_span_len32: u32;
    static hello_span_len64: u64;
}

#[inline(never)]
fn pick(k: u64, x: u64) -> u64 {
    match k {
        0 => x ^ 0x55,
        1 => x.wrapping_add(17),
        2 => x.rotate_left(7),
        3 => x.wrapping_sub(3),
        4 => x | 0x100,
        5 => x.wrapping_mul(11),
        6 => x >> 2,
        _ => x,
    }
}

#[no_mangle]
pub extern "C" fn kvas_module_init(seed: u64) -> u64 {
    unsafe {
        kvas_export_log(GREETING.as_ptr(), GREETING.len());
        COUNTER = COUNTER.wrapping_add(seed);
        let a = kvas_export_add(COUNTER, kvas_export_magic);
        let mut sum = 0u64;
        for f in TABLE.iter() {
            sum = sum.wrapping_add(f(a));
        }
        for k in 0..8 {
            sum = pick(k, sum);
        }
        let abs: u64;
        core::arch::asm!(
            ".option push", ".option norvc",
            "lui {t}, %hi({m})", "ld {a}, %lo({m})({t})",
            "lui {t}, %hi({mb})", "sd {a}, %lo({mb})({t})",
            ".option pop",
            t = out(reg) _, a = out(reg) abs,
            m = sym kvas_export_magic, mb = sym kvas_export_mailbox,
        );
        // A long jump within the module (`JAL`), kept uncompressed.
        let jumped: u64;
        core::arch::asm!(
            ".option push", ".option norvc",
            "jal ra, {f}",
            ".option pop",
            f = sym double, inout("a0") abs => jumped, clobber_abi("C"),
        );
        let span =
            core::ptr::read_volatile(&hello_span_len32) as u64 + core::ptr::read_volatile(&hello_span_len64);
        let add: unsafe extern "C" fn(u64, u64) -> u64 = core::ptr::read_volatile(&KERNEL_ADD);
        add(sum, jumped.wrapping_add(span))
    }
}

/// Called by the kernel before unloading: leaves a mark in the mailbox.
#[no_mangle]
pub extern "C" fn kvas_module_exit() {
    // SAFETY: the kernel's exported word, written only by modules and the self-test.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!(kvas_export_mailbox), 0xdead) };
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

//! Self-tests of the module loader (module.rs) with the embedded `hello` module
//! (kernel/modules/hello): load, relocate, call, unload; refusals of a relocation that does
//! not reach and of malformed objects, each leaving nothing behind.

use core::fmt::Write;
use core::sync::atomic::Ordering;

use kvas::paging::Attrs;
use kvas::VirtAddr;

use object::elf::FileHeader64;
use object::read::elf::{FileHeader, SectionHeader};
use object::LittleEndian as LE;

use kvas_kernel_core::modreloc::{Kind, Problem};
use kvas_kernel_core::module::ModError;

use super::Reason;
use crate::kmain::Boot;
use crate::mm::KernelSpace;
use crate::module::exports::{kvas_export_magic, kvas_export_mailbox, LOG_CALLS};
use crate::module::loader::{load, unload, Placement, HELLO};

/// What the hello module's `kvas_module_init(seed)` returns on its first call, computed
/// here from its source (kernel/modules/hello/src/lib.rs).
fn hello_expected(seed: u64) -> u64 {
    let magic = kvas_export_magic;
    let a = 7u64.wrapping_add(seed).wrapping_add(magic);
    let mut sum = a.wrapping_mul(2).wrapping_add(a.wrapping_mul(3));
    for k in 0..8 {
        sum = match k {
            0 => sum ^ 0x55,
            1 => sum.wrapping_add(17),
            2 => sum.rotate_left(7),
            3 => sum.wrapping_sub(3),
            4 => sum | 0x100,
            5 => sum.wrapping_mul(11),
            6 => sum >> 2,
            _ => sum,
        };
    }
    // double(magic) through JAL, plus hello_span's size twice (ADD/SUB pairs: 8 bytes each).
    sum.wrapping_add(magic.wrapping_mul(2)).wrapping_add(16)
}

/// Free bytes of the modules and vmalloc windows, and frames out: must be the same after
/// any load that failed and after an unload.
fn footprint(space: &mut KernelSpace) -> (u64, u64, u64) {
    let in_use = space.frames_in_use();
    let vm = space.vm();
    (vm.modules.modules().free_bytes(), vm.vmalloc.free_bytes(), in_use)
}

/// The relocation types the loader must have applied to `hello`.
const NEEDED: [Kind; 16] = [
    Kind::CallPlt,
    Kind::PcrelHi20,
    Kind::PcrelLo12I,
    Kind::PcrelLo12S,
    Kind::Hi20,
    Kind::Lo12I,
    Kind::Lo12S,
    Kind::Abs64,
    Kind::Branch,
    Kind::Jal,
    Kind::RvcJump,
    Kind::Relax,
    Kind::Add(4),
    Kind::Sub(4),
    Kind::Add(8),
    Kind::Sub(8),
];

fn type_number(kind: Kind) -> usize {
    (0..64).find(|&n| Kind::from_type(n as u32) == Some(kind)).unwrap_or(0)
}

/// Loads `hello` into the modules window, checks placement and attributes, calls it (it
/// calls back into the kernel and returns a value checked here), unloads it.
pub fn load_call_unload(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let before = footprint(space);
    kvas_export_mailbox.store(0, Ordering::Relaxed);
    let logs = LOG_CALLS.load(Ordering::Relaxed);
    let (m, ret) = match load(space, &HELLO.0, Placement::ModulesWindow, 5) {
        Ok(v) => v,
        Err(err) => fail!("loading hello: {err}"),
    };
    crate::kprint!(
        "kvas: module hello at {:#x}, init returned {ret:#x}; relocations",
        m.area.start().as_u64()
    );
    for (n, &count) in m.applied.iter().enumerate() {
        if let (Some(k), true) = (Kind::from_type(n as u32), count > 0) {
            crate::kprint!(" {}x{count}", k.name().trim_start_matches("R_RISCV_"));
        }
    }
    crate::kprintln!();
    let result = (|| {
        let modules = space.layout().modules();
        let (start, end) = (m.area.start().as_u64(), m.area.start().as_u64() + m.area.size());
        if !modules.contains(m.area.start()) || !modules.contains(m.area.guard_page()) {
            fail!("module at {start:#x}-{end:#x} is outside the modules window {modules:?}");
        }
        // First fit in an empty window: MODULES_VADDR = PFN_ALIGN(_end) - 2 GiB, the farthest
        // place from the image, so its calls into the kernel are the longest the window allows.
        if start != modules.start().as_u64() {
            fail!("module at {start:#x}, not at the bottom of the empty window {:#x}", modules.start());
        }
        let t = space.tables();
        for ((s, en), want) in m.parts.iter().zip([Attrs::KERNEL_RX, Attrs::KERNEL_RO, Attrs::KERNEL_RW]) {
            if s == en {
                continue;
            }
            match t.translate(VirtAddr::new(*s)) {
                Ok(tr) if tr.attrs == want => {}
                other => fail!("module part at {s:#x}: {other:?}, expected {want:?}"),
            }
        }
        if !(m.parts[0].0..m.parts[0].1).contains(&m.init) {
            fail!("init {:#x} is not in the module's text {:x?}", m.init, m.parts[0]);
        }
        for kind in NEEDED {
            if m.applied[type_number(kind)] == 0 {
                fail!("the module needed no {}: the test object does not exercise it", kind.name());
            }
        }
        if ret != hello_expected(5) {
            fail!("init returned {ret:#x}, expected {:#x}", hello_expected(5));
        }
        let mailbox = kvas_export_mailbox.load(Ordering::Relaxed);
        if mailbox != kvas_export_magic {
            fail!(
                "the module's HI20/LO12_S store left {mailbox:#x} in the mailbox, not {kvas_export_magic:#x}"
            );
        }
        if LOG_CALLS.load(Ordering::Relaxed) != logs + 1 {
            fail!("the module did not call kvas_export_log once");
        }
        Ok(())
    })();
    let area = m.area;
    if let Err(err) = unload(space, m) {
        fail!("unload: {err}");
    }
    result?;
    if kvas_export_mailbox.load(Ordering::Relaxed) != 0xdead {
        fail!(
            "unload did not call kvas_module_exit (mailbox {:#x})",
            kvas_export_mailbox.load(Ordering::Relaxed)
        );
    }
    if let Ok(tr) = space.tables().translate(area.start()) {
        fail!("{} still maps to {:#x} after unload", area.start(), tr.pa.as_u64());
    }
    if footprint(space) != before {
        fail!("window free bytes and frames {:?} after unload, {before:?} before", footprint(space));
    }
    Ok(())
}

/// The same module placed in vmalloc, out of the kernel's ±2 GiB reach: its first call into
/// the kernel is refused with the symbol and the distance, and the load leaves nothing.
pub fn out_of_reach_refused(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let before = footprint(space);
    match load(space, &HELLO.0, Placement::Vmalloc, 0) {
        Ok((m, _)) => {
            let at = m.area.start().as_u64();
            let _ = unload(space, m);
            fail!("a module at {at:#x}, outside the modules window, was loaded");
        }
        Err(ModError::Reloc(r)) => {
            crate::kprintln!("kvas: module refused (expected): {r}");
            let far = match r.problem {
                Problem::OutOfReach { distance, .. } => distance.unsigned_abs() > 1 << 31,
                _ => false,
            };
            if !r.symbol.starts_with("kvas_export_") || !far {
                fail!("refused, but not for a kernel symbol out of reach: {r}");
            }
        }
        Err(err) => fail!("refused for another reason: {err}"),
    }
    if footprint(space) != before {
        fail!("the refused load left {:?}, {before:?} before", footprint(space));
    }
    Ok(())
}

/// Where the first relocation of `hello`'s `.rela.text.kvas_module_init` is in the file.
fn first_rela(obj: &[u8]) -> Option<usize> {
    let h = FileHeader64::<LE>::parse(obj).ok()?;
    let sections = h.sections(LE, obj).ok()?;
    let (_, s) = sections.section_by_name(LE, b".rela.text.kvas_module_init")?;
    Some(s.sh_offset(LE) as usize)
}

/// Broken copies of `hello`: each refused with its own clear error, leaving nothing.
pub fn malformed_refused(space: &mut KernelSpace, _: &Boot) -> Result<(), Reason> {
    let obj: &[u8] = &HELLO.0;
    let Some(rela) = first_rela(obj) else { fail!("hello has no .rela.text.kvas_module_init") };
    let Some(sym) = obj.windows(16).position(|w| w == b"kvas_export_add\0") else {
        fail!("hello's string table has no kvas_export_add")
    };
    let scratch = match space.vmalloc(obj.len() as u64) {
        Ok(a) => a,
        Err(err) => fail!("vmalloc for the copies: {err}"),
    };
    // SAFETY: the area is mapped RW, as large as the object, used only here.
    let buf = unsafe { core::slice::from_raw_parts_mut(scratch.start().as_u64() as *mut u8, obj.len()) };
    type Mutation = (&'static str, usize, fn(&mut [u8], usize), fn(&ModError) -> bool);
    let cases: [Mutation; 6] = [
        ("truncated", 0, |_, _| {}, |e| matches!(e, ModError::Object(_))),
        ("x86-64 machine", 18, |b, at| b[at] = 0x3e, |e| matches!(e, ModError::NotRiscvRel(..))),
        ("executable", 16, |b, at| b[at] = 2, |e| matches!(e, ModError::NotRiscvRel(..))),
        (
            "unexported symbol",
            sym + 12,
            |b, at| b[at] = b'x',
            |e| matches!(e, ModError::Undefined("kvas_export_xdd")),
        ),
        (
            "GOT relocation",
            rela + 8,
            |b, at| b[at] = 20,
            |e| matches!(e, ModError::Unsupported { r_type: 20, .. }),
        ),
        (
            "place out of section",
            rela + 2,
            |b, at| b[at] = 0x7f,
            |e| matches!(e, ModError::BadRelocation { .. }),
        ),
    ];
    let mut result = Ok(());
    for (what, at, mutate, expected) in cases {
        buf.copy_from_slice(obj);
        mutate(buf, at);
        let input = if what == "truncated" { &buf[..40] } else { &buf[..] };
        let before = footprint(space);
        match load(space, input, Placement::ModulesWindow, 0) {
            Ok((m, _)) => {
                let _ = unload(space, m);
                result = Err(format_reason(format_args!("the {what} object was loaded")));
            }
            Err(err) if expected(&err) => crate::kprintln!("kvas: module refused (expected, {what}): {err}"),
            Err(err) => {
                result = Err(format_reason(format_args!("the {what} object: unexpected error {err}")))
            }
        }
        if footprint(space) != before {
            result = Err(format_reason(format_args!(
                "the {what} object left {:?}, {before:?} before",
                footprint(space)
            )));
        }
        if result.is_err() {
            break;
        }
    }
    if let Err(err) = space.vfree(scratch) {
        fail!("vfree: {err}");
    }
    result
}

fn format_reason(args: core::fmt::Arguments) -> Reason {
    let mut r = Reason::new();
    let _ = r.write_fmt(args);
    r
}

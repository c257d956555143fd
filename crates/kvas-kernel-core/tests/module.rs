//! Host tests of the module loader's pure part (src/module.rs): reading a relocatable object,
//! laying out its three parts, copying and relocating it into an area, and every refusal,
//! on small objects written here with the `object` crate.

use kvas_kernel_core::modreloc::Problem;
use kvas_kernel_core::module::{ModError, Plan};
use object::write::{Object, Relocation, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};

/// Where the tests place the module (the bottom of an Sv39 modules window).
const BASE: u64 = 0xffff_ffff_0008_6000;
/// Where the kernel's `kvas_export_add` is.
const EXPORT: u64 = 0xffff_ffff_8000_1230;

const R_RISCV_64: u32 = 2;
const R_RISCV_CALL_PLT: u32 = 19;

/// `auipc ra, 0; jalr ra, 0(ra); ret`.
const CODE: [u8; 12] = [0x97, 0x00, 0x00, 0x00, 0xe7, 0x80, 0x00, 0x00, 0x67, 0x80, 0x00, 0x00];

/// What [`module`] builds.
struct Shape {
    arch: Architecture,
    init: bool,
}

const GOOD: Shape = Shape { arch: Architecture::Riscv64, init: true };

/// A module: `kvas_module_init` in text calls `kvas_export_add` (CALL_PLT); 16 bytes of
/// rodata; a data word pointing at rodata + 4 (R_RISCV_64); 100 bytes of bss.
fn module(shape: Shape) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, shape.arch, Endianness::Little);
    let text = obj.add_section(Vec::new(), b".text.kvas_module_init".to_vec(), SectionKind::Text);
    obj.append_section_data(text, &CODE, 4);
    let rodata = obj.add_section(Vec::new(), b".rodata.table".to_vec(), SectionKind::ReadOnlyData);
    obj.append_section_data(rodata, &[7; 16], 8);
    let data = obj.add_section(Vec::new(), b".data.pointer".to_vec(), SectionKind::Data);
    obj.append_section_data(data, &[0; 8], 8);
    let bss = obj.add_section(Vec::new(), b".bss.buffer".to_vec(), SectionKind::UninitializedData);
    obj.append_section_bss(bss, 100, 8);
    let symbol = |name: &[u8], section, size| Symbol {
        name: name.to_vec(),
        value: 0,
        size,
        kind: SymbolKind::Text,
        scope: SymbolScope::Linkage,
        weak: false,
        section,
        flags: SymbolFlags::None,
    };
    if shape.init {
        obj.add_symbol(symbol(b"kvas_module_init", SymbolSection::Section(text), 12));
    }
    let export = obj.add_symbol(symbol(b"kvas_export_add", SymbolSection::Undefined, 0));
    let call = RelocationFlags::Elf { r_type: R_RISCV_CALL_PLT };
    obj.add_relocation(text, Relocation { offset: 0, symbol: export, addend: 0, flags: call }).unwrap();
    let rodata_sym = obj.section_symbol(rodata);
    let abs = RelocationFlags::Elf { r_type: R_RISCV_64 };
    obj.add_relocation(data, Relocation { offset: 0, symbol: rodata_sym, addend: 4, flags: abs }).unwrap();
    obj.write().unwrap()
}

fn exports(name: &[u8]) -> Option<u64> {
    (name == b"kvas_export_add").then_some(EXPORT)
}

fn word(mem: &[u8], at: u64) -> u32 {
    u32::from_le_bytes(mem[at as usize..at as usize + 4].try_into().unwrap())
}

#[test]
fn lays_out_copies_and_relocates() {
    let obj = module(GOOD);
    let plan = Plan::new(&obj).unwrap();
    assert_eq!(plan.size(), 3 * 4096, "text, rodata, data+bss: one page each");
    let mut mem = vec![0xaa; plan.size() as usize];
    let placed = plan.place(&mut mem, BASE, &exports).unwrap();
    assert_eq!(
        placed.parts,
        [(BASE, BASE + 12), (BASE + 0x1000, BASE + 0x1010), (BASE + 0x2000, BASE + 0x2000 + 104 + 4)]
    );
    assert_eq!(placed.init, BASE);
    assert_eq!(placed.exit, None);
    assert_eq!((placed.applied[R_RISCV_CALL_PLT as usize], placed.applied[R_RISCV_64 as usize]), (1, 1));
    // The auipc + jalr pair reaches the export: hi20 << 12 + sign-extended lo12 = S - P.
    let (auipc, jalr) = (word(&mem, 0), word(&mem, 4));
    assert_eq!((auipc & 0xfff, jalr & 0xfffff), (0x097, 0x080e7), "registers and opcodes kept");
    let reach = ((auipc & 0xffff_f000) as i32 as i64) + ((jalr as i32 >> 20) as i64);
    assert_eq!(reach, EXPORT.wrapping_sub(BASE) as i64);
    assert_eq!(&mem[8..12], &CODE[8..12]);
    // The data word points at rodata + 4; rodata copied; bss and padding zeroed.
    assert_eq!(u64::from_le_bytes(mem[0x2000..0x2008].try_into().unwrap()), BASE + 0x1000 + 4);
    assert_eq!(&mem[0x1000..0x1010], &[7; 16]);
    assert!(mem[0x1010..0x2000].iter().chain(&mem[0x2008..]).all(|&b| b == 0));
    assert!(mem[12..0x1000].iter().all(|&b| b == 0));
}

#[test]
fn an_unexported_symbol_is_refused_by_name() {
    let obj = module(GOOD);
    let plan = Plan::new(&obj).unwrap();
    let mut mem = vec![0; plan.size() as usize];
    let none = |_: &[u8]| None;
    match plan.place(&mut mem, BASE, &none) {
        Err(ModError::Undefined(name)) => assert_eq!(name, "kvas_export_add"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_call_beyond_2_gib_is_refused_with_the_distance() {
    let obj = module(GOOD);
    let plan = Plan::new(&obj).unwrap();
    let mut mem = vec![0; plan.size() as usize];
    let far = 0xffff_ffc6_0000_0000; // Sv39's vmalloc start
    match plan.place(&mut mem, far, &exports) {
        Err(ModError::Reloc(e)) => {
            assert_eq!(e.symbol, "kvas_export_add");
            assert!(
                matches!(e.problem, Problem::OutOfReach { distance, .. } if distance.unsigned_abs() > 1 << 31)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_area_too_small_is_refused() {
    let obj = module(GOOD);
    let plan = Plan::new(&obj).unwrap();
    let mut mem = vec![0; plan.size() as usize - 1];
    assert!(matches!(plan.place(&mut mem, BASE, &exports), Err(ModError::Parse(_))));
}

#[test]
fn other_machines_and_objects_without_init_are_refused() {
    let x86 = module(Shape { arch: Architecture::X86_64, init: true });
    assert!(matches!(Plan::new(&x86), Err(ModError::NotRiscvRel("e_machine", 0x3e))));
    let no_init = module(Shape { arch: Architecture::Riscv64, init: false });
    let plan = Plan::new(&no_init).unwrap();
    let mut mem = vec![0; plan.size() as usize];
    assert!(matches!(plan.place(&mut mem, BASE, &exports), Err(ModError::NoInit)));
    assert!(matches!(Plan::new(&no_init[..40]), Err(ModError::Object(_))));
}

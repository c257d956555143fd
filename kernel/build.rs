//! Hands the linker script to the linker by absolute path, and relinks when it changes; passes
//! the relocation table's size on to the crate.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // riscv64: linker.ld; riscv32: linker32.ld (linked at 0xf0000000, loaded at 0x80400000).
    let script = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("riscv32") => "linker32.ld",
        _ => "linker.ld",
    };
    println!("cargo:rustc-link-arg-bins=-T{dir}/{script}");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rerun-if-changed=build.rs");
    // `--cfg kvas_static`: the non-relocatable build `xtask reloc-cost` compares against.
    println!("cargo::rustc-check-cfg=cfg(kvas_static)");
    // The relocation table's size: the pointer slots xtask counted in the previous link
    // (boot/reloc.rs); 0 outside xtask's build (clippy).
    let slots = std::env::var("KVAS_RELOC_SLOTS").unwrap_or_else(|_| "0".into());
    println!("cargo:rustc-env=KVAS_RELOC_SLOTS={slots}");
    println!("cargo:rerun-if-env-changed=KVAS_RELOC_SLOTS");
}

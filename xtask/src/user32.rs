//! The riscv32 user programs: the `user/` crate's Rust programs for
//! `riscv32imac-unknown-none-elf` and user/c/hello.c from riscv64-linux-gnu-gcc with RV32
//! flags, all static ELF32 executables, in kernel/target/user-riscv32/ (`xtask user32`). The
//! riscv32 kernel embeds `ut.elf` and `init.elf` from there as the riscv64 kernel embeds
//! kernel/target/user/'s.

use std::path::{Path, PathBuf};

use crate::toolchain::{self, Toolchain, USER_TARGET_RISCV32};
use crate::usercases::{c_program_with, C_RISCV32_FLAGS};
use crate::{repo_root, USER_PROGRAMS};

/// Where the riscv32 programs go.
pub fn out_dir() -> PathBuf {
    repo_root().join("kernel/target/user-riscv32")
}

/// Builds every riscv32 user program into [`out_dir`] (`NAME.elf`, and `c-hello.elf`), each
/// checked to be a 32-bit RISC-V executable; returns the directory.
pub fn build(tc: &Toolchain) -> Result<PathBuf, String> {
    let out = out_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let built = toolchain::build_user_target(
        tc,
        &repo_root().join("user"),
        &repo_root().join("kernel/target").join(format!("{}-user", tc.name())),
        USER_TARGET_RISCV32,
    )?;
    for name in USER_PROGRAMS {
        let to = out.join(format!("{name}.elf"));
        std::fs::copy(built.join(name), &to)
            .map_err(|e| format!("copying {name} to {}: {e}", to.display()))?;
        check_elf32(&to)?;
    }
    let c = c_program_with(&out.join("c-hello.elf"), C_RISCV32_FLAGS)?;
    check_elf32(&c)?;
    Ok(out)
}

/// `ELFCLASS32`, little-endian, `ET_EXEC`, `EM_RISCV`: what the riscv32 kernel loads.
fn check_elf32(path: &Path) -> Result<(), String> {
    let b = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let field = |at: usize| b.get(at..at + 2).map(|h| u16::from_le_bytes([h[0], h[1]]));
    let ok = b.starts_with(b"\x7fELF") && b.get(4) == Some(&1) && b.get(5) == Some(&1);
    match (ok, field(16), field(18)) {
        (true, Some(2), Some(243)) => Ok(()),
        _ => Err(format!("{}: not a static 32-bit little-endian RISC-V executable", path.display())),
    }
}

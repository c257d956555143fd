//! Picks the toolchain that builds the kernel for `riscv64gc-unknown-none-elf`, and builds it.
//!
//! 1. The rustup toolchain, when its target `riscv64gc-unknown-none-elf` is installed
//!    (`rustup target add riscv64gc-unknown-none-elf`).
//! 2. Otherwise Debian's `/usr/bin/rustc` and `/usr/bin/cargo` (packages rustc-web,
//!    cargo-web) with `RUSTC_BOOTSTRAP=1 -Zbuild-std=core,alloc`, building `core` and
//!    `alloc` from the library source of rust-web-src (found through the compiler's sysroot
//!    at `lib/rustlib/src/rust/library`).
//!
//! Both link with `riscv64-unknown-elf-ld` (binutils-riscv64-unknown-elf), as
//! kernel/.cargo/config.toml says. `make deps` installs the Debian packages.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel's target triple.
pub const TARGET: &str = "riscv64gc-unknown-none-elf";
/// The riscv32 kernel's target triple: RV32IMAC — atomics (A) for the locks, compressed
/// code, no FPU state to save (docs/KERNEL.md, "riscv32").
pub const TARGET32: &str = "riscv32imac-unknown-none-elf";

/// A way to build the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// rustup's toolchain with the target's prebuilt `core`.
    Rustup,
    /// Debian's compiler, building `core` and `alloc` from source.
    Debian {
        /// Debian's rustc.
        rustc: PathBuf,
        /// Debian's cargo.
        cargo: PathBuf,
    },
}

impl Toolchain {
    /// A short name, also the name of the target directory.
    pub fn name(&self) -> &'static str {
        match self {
            Toolchain::Rustup => "rustup",
            Toolchain::Debian { .. } => "debian",
        }
    }
}

fn sysroot(rustc: &Path) -> Option<PathBuf> {
    let out = Command::new(rustc).args(["--print", "sysroot"]).output().ok()?;
    out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Chooses the toolchain (see the module doc). `KVAS_TOOLCHAIN=rustup|debian` forces one.
pub fn detect() -> Result<Toolchain, String> {
    let forced = std::env::var("KVAS_TOOLCHAIN").ok();
    let rustup_has_target = sysroot(Path::new("rustc"))
        .map(|s| s.join("lib/rustlib").join(TARGET).join("lib").is_dir())
        .unwrap_or(false);
    if forced.as_deref() != Some("debian") && rustup_has_target {
        return Ok(Toolchain::Rustup);
    }
    if forced.as_deref() == Some("rustup") {
        return Err(format!("KVAS_TOOLCHAIN=rustup, but the rustc on PATH has no {TARGET} target"));
    }
    let rustc = PathBuf::from("/usr/bin/rustc");
    let cargo = PathBuf::from("/usr/bin/cargo");
    if !rustc.exists() || !cargo.exists() {
        return Err(format!(
            "no toolchain for {TARGET}: `rustup target add {TARGET}` is not installed and Debian's \
             rustc-web/cargo-web are missing; run `make deps`"
        ));
    }
    let src = sysroot(&rustc)
        .map(|s| s.join("lib/rustlib/src/rust/library"))
        .ok_or_else(|| format!("{} --print sysroot failed", rustc.display()))?;
    if !src.join("core").is_dir() {
        return Err(format!(
            "Debian's rustc has no library source at {}: install rust-web-src (`make deps`)",
            src.display()
        ));
    }
    Ok(Toolchain::Debian { rustc, cargo })
}

/// Variables a surrounding `cargo run` sets that must not leak into the kernel build. (rustup's
/// `RUSTUP_TOOLCHAIN` stays for the rustup build, so it uses the toolchain [`detect`] checked,
/// and goes for the Debian build.)
const SCRUB: &[&str] = &[
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_RUSTC",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// Builds the kernel crate in `kernel_dir` with `toolchain`, its relocation table sized for
/// `reloc_slots` pointer slots (kernel/build.rs); returns the linked ELF's path. `rustflags`
/// are appended to the kernel's own (kernel/.cargo/config.toml; a later `-C` wins), and the
/// build has its own target directory `<toolchain><suffix>`: the non-relocatable variant of
/// `xtask reloc-cost` (empty: the kernel as `make kernel` builds it).
pub fn build_variant(
    toolchain: &Toolchain,
    kernel_dir: &Path,
    reloc_slots: usize,
    suffix: &str,
    rustflags: &[&str],
) -> Result<PathBuf, String> {
    let target_dir = kernel_dir.join("target").join(format!("{}{suffix}", toolchain.name()));
    let mut cmd = cargo(toolchain, "build", &["core", "alloc"]);
    cmd.current_dir(kernel_dir).env("CARGO_TARGET_DIR", &target_dir).args(["--target", TARGET]);
    if !rustflags.is_empty() {
        let list: Vec<String> = rustflags.iter().map(|f| format!("{f:?}")).collect();
        cmd.arg("--config").arg(format!("target.{TARGET}.rustflags=[{}]", list.join(",")));
    }
    cmd.env("KVAS_RELOC_SLOTS", reloc_slots.to_string());
    let status = cmd.status().map_err(|e| format!("cannot run cargo for the kernel: {e}"))?;
    if !status.success() {
        return Err(format!("kernel build with the {} toolchain failed ({status})", toolchain.name()));
    }
    Ok(target_dir.join(TARGET).join("release").join("kvas-kernel"))
}

/// Lints the kernel crate in `kernel_dir` with clippy (`-D warnings`) for its target, with
/// `toolchain` (Debian's: the `rust-web-clippy` package's `cargo-clippy`, which `make deps`
/// installs).
pub fn clippy(toolchain: &Toolchain, kernel_dir: &Path) -> Result<(), String> {
    clippy_for(toolchain, kernel_dir, TARGET, toolchain.name())
}

/// [`clippy`] for `target`, in the target directory `dir_name`.
pub fn clippy_for(
    toolchain: &Toolchain,
    kernel_dir: &Path,
    target: &str,
    dir_name: &str,
) -> Result<(), String> {
    let target_dir = kernel_dir.join("target").join(dir_name);
    let mut cmd = cargo(toolchain, "clippy", &["core", "alloc"]);
    cmd.current_dir(kernel_dir).env("CARGO_TARGET_DIR", &target_dir).args(["--target", target]);
    cmd.args(["--", "-D", "warnings"]);
    if let Toolchain::Debian { cargo: debian_cargo, .. } = toolchain {
        // `cargo clippy` runs the first `cargo-clippy` on PATH: Debian's, next to its cargo,
        // not rustup's proxy (whose toolchain has no library source for -Zbuild-std).
        let bin = debian_cargo.parent().unwrap_or(Path::new("/usr/bin"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(paths).map_err(|e| format!("PATH: {e}"))?);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo clippy for the kernel: {e}"))?;
    if !status.success() {
        return Err(format!(
            "clippy found problems in the kernel ({status}); with the Debian toolchain it needs \
             rust-web-clippy (`make deps`)"
        ));
    }
    Ok(())
}

/// Builds the riscv32 kernel (the same crate for [`TARGET32`]: no relocation table, no
/// module, no user programs; see kernel/src/sv32); returns the linked ELF's path.
pub fn build32(toolchain: &Toolchain, kernel_dir: &Path) -> Result<PathBuf, String> {
    check_target32(toolchain)?;
    let target_dir = kernel_dir.join("target").join(format!("{}-riscv32", toolchain.name()));
    let mut cmd = cargo(toolchain, "build", &["core", "alloc"]);
    cmd.current_dir(kernel_dir).env("CARGO_TARGET_DIR", &target_dir).args(["--target", TARGET32]);
    cmd.env("KVAS_RELOC_SLOTS", "0");
    let status = cmd.status().map_err(|e| format!("cannot run cargo for the riscv32 kernel: {e}"))?;
    if !status.success() {
        return Err(format!(
            "riscv32 kernel build with the {} toolchain failed ({status})",
            toolchain.name()
        ));
    }
    Ok(target_dir.join(TARGET32).join("release").join("kvas-kernel"))
}

/// rustup's toolchain builds riscv32 only with the target's prebuilt `core` installed.
pub fn check_target32(toolchain: &Toolchain) -> Result<(), String> {
    let has = sysroot(Path::new("rustc"))
        .is_some_and(|s| s.join("lib/rustlib").join(TARGET32).join("lib").is_dir());
    if *toolchain == Toolchain::Rustup && !has {
        return Err(format!(
            "the rustup toolchain has no {TARGET32} target: `rustup target add {TARGET32}`, or \
             KVAS_TOOLCHAIN=debian"
        ));
    }
    Ok(())
}

/// Code generation of a loadable module: the kernel's code model (auipc-based, ±2 GiB),
/// static relocation model (no GOT: the loader resolves symbols directly) and linker
/// relaxation on, as Linux builds modules, so the object carries `R_RISCV_RELAX` hints.
pub const MODULE_RUSTFLAGS: &[&str] =
    &["-Ccode-model=medium", "-Crelocation-model=static", "-Ctarget-feature=+relax"];

/// Builds the module crate in `module_dir` into the relocatable object `out` (`--emit=obj`,
/// the crate's own code only; it may use no function of `core`).
pub fn build_module(
    toolchain: &Toolchain,
    module_dir: &Path,
    target_dir: &Path,
    out: &Path,
) -> Result<(), String> {
    // `cargo rustc`: the flags after `--` go to the module crate only.
    let mut c = cargo(toolchain, "rustc", &["core"]);
    c.current_dir(module_dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", MODULE_RUSTFLAGS.join("\x1f"))
        .args(["--target", TARGET, "--"])
        .arg(format!("--emit=obj={}", out.display()));
    let status = c.status().map_err(|e| format!("cannot run cargo for the module: {e}"))?;
    if !status.success() {
        return Err(format!("module build in {} failed ({status})", module_dir.display()));
    }
    Ok(())
}

/// The user programs (the `user/` crate's binaries): static executables linked at 0x10000
/// (user/linker.ld). Builds them in `user_dir` and returns the directory holding the ELFs.
pub fn build_user(toolchain: &Toolchain, user_dir: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    let mut c = cargo(toolchain, "build", &["core"]);
    c.current_dir(user_dir).env("CARGO_TARGET_DIR", target_dir).args(["--target", TARGET, "--bins"]);
    let status = c.status().map_err(|e| format!("cannot run cargo for the user programs: {e}"))?;
    if !status.success() {
        return Err(format!("user programs' build in {} failed ({status})", user_dir.display()));
    }
    Ok(target_dir.join(TARGET).join("release"))
}

/// `cargo SUBCOMMAND --release` for the target with `toolchain` (Debian's: building
/// `std_crates` from source), with the surrounding cargo's variables scrubbed.
fn cargo(toolchain: &Toolchain, subcommand: &str, std_crates: &[&str]) -> Command {
    match toolchain {
        Toolchain::Rustup => {
            let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            for v in SCRUB {
                c.env_remove(v);
            }
            c.args([subcommand, "--release"]);
            c
        }
        Toolchain::Debian { rustc, cargo } => {
            let mut c = Command::new(cargo);
            for v in SCRUB.iter().chain(&["RUSTUP_TOOLCHAIN"]) {
                c.env_remove(v);
            }
            c.env("RUSTC", rustc).env("RUSTC_BOOTSTRAP", "1").args([
                subcommand.to_string(),
                "--release".to_string(),
                format!("-Zbuild-std={}", std_crates.join(",")),
                "-Zbuild-std-features=compiler-builtins-mem".to_string(),
            ]);
            c
        }
    }
}

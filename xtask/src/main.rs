//! `cargo run -p xtask -- <command>`: builds and boots the kvas kernel.
//!
//! - `--arch riscv32` (build, kernel-path, qemu): the riscv32 kernel instead
//!   (`kernel/target/kvas-kernel-riscv32.elf`, booted with qemu-system-riscv32).
//! - `build`: builds the kernel with the right toolchain (see [`toolchain`]) and seals its
//!   relocation table (see [`image`]); the result is `kernel/target/kvas-kernel.elf`.
//! - `clippy`: lints the whole kernel with clippy for its target (`-D warnings`).
//! - `kernel-path`: builds, then prints the absolute path of that ELF.
//! - `qemu [--mode sv39|sv48|sv57] [--append WORDS] [--cpu CPU] [--memory SIZE] [-- QEMU-ARGS]`:
//!   builds and boots it interactively in QEMU (virt, OpenSBI, -nographic).
//! - `boot-cost`: boots once per mode under `-icount shift=0` and prints the instructions
//!   from kernel entry to its report, and the image size (for docs/PERFORMANCE.md).
//! - `reloc-cost`: builds the kernel as usual and without relocation (static relocation
//!   model, no KASLR) and compares sizes, GOT accesses, pointer slots and instructions: boot,
//!   the kernel's hot paths, and user space's `getpid` and demand faults (see [`reloccost`];
//!   docs/KERNEL.md, "The price of relocation").
//! - `user-cost`: boots once per mode under `-icount shift=0` and prints the instructions of a
//!   `getpid` round trip and of one demand-paging fault (4 KiB, 2 MiB), counted in user space.
//! - `split-cost [--arch riscv32]`: per configuration (riscv64: each paging mode shared and
//!   separate; riscv32: each `vmsplit=` against 3g), instructions under
//!   `-icount shift=0` and wall time of a null system call, `write` of 4 KiB and 64 KiB, a
//!   demand fault and a context switch, and the ratios against the first (see [`splitcost`]).
//! - `user32`: builds the riscv32 user programs (Rust and C, ELF32) into
//!   kernel/target/user-riscv32/ (see [`user32`]).
//! - `boot-test [NAME-SUBSTRING]`: builds and runs the boot tests (see [`boottest`]), each
//!   bounded in time; exits non-zero if any fails. `KVAS_BOOT_KERNEL=ELF` tests that ELF
//!   instead of building one.

mod bootcases;
mod bootcases32;
mod boottest;
mod builtcheck;
mod dtb;
mod elf;
mod image;
mod kaslrcases;
mod qemu;
mod reloccost;
mod splitcost;
mod toolchain;
mod user32;
mod usercases;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the repository").to_path_buf()
}

/// Where the sealed kernel ELF goes.
pub fn kernel_elf() -> PathBuf {
    repo_root().join("kernel/target/kvas-kernel.elf")
}

/// Builds the module the kernel embeds (`include_bytes!` of kernel/target/modules/hello.o).
fn build_module(tc: &toolchain::Toolchain) -> Result<(), String> {
    let kernel = repo_root().join("kernel");
    let module = kernel.join("target/modules/hello.o");
    std::fs::create_dir_all(kernel.join("target/modules"))
        .map_err(|e| format!("creating target/modules: {e}"))?;
    toolchain::build_module(
        tc,
        &kernel.join("modules/hello"),
        &kernel.join("target").join(format!("{}-modules", tc.name())),
        &module,
    )
}

/// The user programs the kernel embeds (`include_bytes!` of kernel/target/user/NAME.elf).
pub const USER_PROGRAMS: &[&str] = &["ut", "init"];

/// Builds the user programs (user/) and copies them to kernel/target/user/NAME.elf.
fn build_user(tc: &toolchain::Toolchain) -> Result<(), String> {
    let kernel = repo_root().join("kernel");
    let out = kernel.join("target/user");
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let built = toolchain::build_user(
        tc,
        &repo_root().join("user"),
        &kernel.join("target").join(format!("{}-user", tc.name())),
    )?;
    for name in USER_PROGRAMS {
        let to = out.join(format!("{name}.elf"));
        std::fs::copy(built.join(name), &to)
            .map_err(|e| format!("copying {name} to {}: {e}", to.display()))?;
    }
    Ok(())
}

/// Lints the whole kernel with clippy for its target (the module and the user programs it
/// embeds built first), then the user programs.
pub fn clippy_kernel() -> Result<(), String> {
    let tc = toolchain::detect()?;
    eprintln!("xtask: clippy on the kernel with the {} toolchain", tc.name());
    build_module(&tc)?;
    build_user(&tc)?;
    toolchain::clippy(&tc, &repo_root().join("kernel"))?;
    eprintln!("xtask: clippy on the riscv32 kernel ({})", toolchain::TARGET32);
    toolchain::check_target32(&tc)?;
    // The riscv32 user programs the riscv32 kernel embeds (a fresh clone has none yet).
    user32::build(&tc)?;
    toolchain::clippy_for(
        &tc,
        &repo_root().join("kernel"),
        toolchain::TARGET32,
        &format!("{}-riscv32", tc.name()),
    )?;
    eprintln!("xtask: clippy on the user programs (user/)");
    toolchain::clippy(&tc, &repo_root().join("user"))
}

/// Where the riscv32 kernel ELF goes.
pub fn kernel32_elf() -> PathBuf {
    repo_root().join("kernel/target/kvas-kernel-riscv32.elf")
}

/// Builds the riscv32 kernel (kernel/src/sv32; no relocation table to seal: it turns
/// paging on before any Rust runs) and copies it to [`kernel32_elf`].
pub fn build_kernel32() -> Result<PathBuf, String> {
    let tc = toolchain::detect()?;
    eprintln!("xtask: building the riscv32 kernel with the {} toolchain", tc.name());
    // The riscv32 user programs the kernel embeds (kernel/target/user-riscv32/) come first.
    user32::build(&tc)?;
    let linked = toolchain::build32(&tc, &repo_root().join("kernel"))?;
    let out = kernel32_elf();
    std::fs::copy(&linked, &out)
        .map_err(|e| format!("copying {} to {}: {e}", linked.display(), out.display()))?;
    Ok(out)
}

/// The kernel's architecture: `riscv64` (default) or `riscv32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arch {
    Riscv64,
    Riscv32,
}

impl Arch {
    fn parse(name: &str) -> Result<Arch, String> {
        match name {
            "riscv64" => Ok(Arch::Riscv64),
            "riscv32" => Ok(Arch::Riscv32),
            other => Err(format!("--arch {other}: expected riscv64 or riscv32")),
        }
    }

    /// `--arch A` in `args`, if any (riscv64 when absent), and the other arguments.
    fn take(args: &[String]) -> Result<(Arch, Vec<String>), String> {
        let mut arch = Arch::Riscv64;
        let mut rest = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                rest.push(a.clone());
                rest.extend(it.by_ref().cloned());
                break;
            }
            if a == "--arch" {
                arch = Arch::parse(it.next().ok_or("--arch needs a value")?)?;
            } else {
                rest.push(a.clone());
            }
        }
        Ok((arch, rest))
    }

    fn build(self) -> Result<PathBuf, String> {
        match self {
            Arch::Riscv64 => build_kernel(),
            Arch::Riscv32 => build_kernel32(),
        }
    }
}

/// Builds the kernel and seals it; returns the sealed ELF's path.
pub fn build_kernel() -> Result<PathBuf, String> {
    build_kernel_variant("", &[], &kernel_elf())
}

/// Builds the kernel with `rustflags` added (its own target directory, `suffix`), seals it
/// and writes it to `out`.
pub fn build_kernel_variant(suffix: &str, rustflags: &[&str], out: &Path) -> Result<PathBuf, String> {
    let tc = toolchain::detect()?;
    eprintln!("xtask: building the kernel with the {} toolchain", tc.name());
    // The module and the user programs the kernel embeds come first.
    build_module(&tc)?;
    build_user(&tc)?;
    // The relocation table has one entry per pointer slot of the link: start from the last
    // link's count and link again if it changed (the count does not depend on the table).
    let count_file = repo_root().join("kernel/target").join(format!("{}{suffix}-reloc-slots", tc.name()));
    let mut slots =
        std::fs::read_to_string(&count_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let mut bytes = Vec::new();
    let mut report = None;
    for _ in 0..2 {
        let linked = toolchain::build_variant(&tc, &repo_root().join("kernel"), slots, suffix, rustflags)?;
        bytes = std::fs::read(&linked).map_err(|e| format!("reading {}: {e}", linked.display()))?;
        let r = image::seal(&mut bytes).map_err(|e| format!("{}: {e}", linked.display()))?;
        slots = r.slots;
        std::fs::write(&count_file, slots.to_string())
            .map_err(|e| format!("writing {}: {e}", count_file.display()))?;
        if r.sealed() {
            report = Some(r);
            break;
        }
        eprintln!("xtask: the image has {} pointer slots, its table {}: linking again", r.slots, r.capacity);
    }
    let report = report.ok_or("the relocation table's size did not settle after two links")?;
    let statics = image::check_statics(&bytes).map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("writing {}: {e}", out.display()))?;
    eprintln!(
        "xtask: {} ({} bytes, {} relocation slots in a table of {}, {statics} writable statics all pointer-free)",
        out.display(),
        bytes.len(),
        report.slots,
        report.capacity
    );
    Ok(out.to_path_buf())
}

fn mode_words(mode: &str) -> Result<&'static str, String> {
    match mode {
        "sv57" => Ok(""),
        "sv48" => Ok("no5lvl"),
        "sv39" => Ok("no4lvl"),
        other => Err(format!("--mode {other}: expected sv39, sv48 or sv57")),
    }
}

fn qemu(args: &[String]) -> Result<ExitCode, String> {
    let (arch, args) = Arch::take(args)?;
    let args = args.as_slice();
    let mut boot = qemu::Boot::new(PathBuf::new());
    if arch == Arch::Riscv32 {
        boot.qemu = qemu::QEMU32;
    }
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--mode" if arch == Arch::Riscv32 => return Err("--mode: riscv32 has one mode, sv32".into()),
            "--mode" => words.push(mode_words(&value("--mode")?)?.to_string()),
            "--append" => words.push(value("--append")?),
            "--cpu" => boot.cpu = Some(value("--cpu")?),
            "--memory" => boot.memory = value("--memory")?,
            "--" => {
                boot.extra = it.by_ref().cloned().collect();
            }
            other => return Err(format!("qemu: unknown argument {other:?}")),
        }
    }
    boot.append = words.iter().filter(|w| !w.is_empty()).cloned().collect::<Vec<_>>().join(" ");
    boot.kernel = arch.build()?;
    eprintln!("xtask: {}", boot.describe());
    let status = boot.command().status().map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    match args.first().map(String::as_str) {
        Some("build") => Arch::take(&args[1..])?.0.build().map(|_| ExitCode::SUCCESS),
        Some("clippy") => clippy_kernel().map(|()| ExitCode::SUCCESS),
        Some("kernel-path") => {
            println!("{}", Arch::take(&args[1..])?.0.build()?.display());
            Ok(ExitCode::SUCCESS)
        }
        Some("qemu") => qemu(&args[1..]),
        Some("boot-cost") => boottest::boot_cost(&build_kernel()?),
        Some("reloc-cost") => reloccost::run(),
        Some("user-cost") => usercases::user_cost(&build_kernel()?),
        Some("split-cost") => match args.get(1).map(String::as_str) {
            None => splitcost::run(&splitcost::riscv64_configs(&build_kernel()?)),
            Some("--arch") if args.get(2).map(String::as_str) == Some("riscv32") => {
                splitcost::run(&splitcost::riscv32_configs(&build_kernel32()?))
            }
            _ => Err("split-cost [--arch riscv32]".into()),
        },
        Some("user32") => {
            println!("{}", user32::build(&toolchain::detect()?)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Some("boot-test") => {
            // KVAS_BOOT_KERNEL=ELF runs the tests on another build (e.g. an older one, to see a
            // test fail before its fix).
            let kernel = match std::env::var_os("KVAS_BOOT_KERNEL") {
                Some(path) => PathBuf::from(path),
                None => build_kernel()?,
            };
            let filter = args.get(1).map(String::as_str);
            // The riscv32 kernel too, when a riscv32 case is asked for (or every case).
            let kernel32 = match filter {
                Some(f) if !"riscv32".contains(f) && !f.starts_with("riscv32") => None,
                _ => Some(build_kernel32()?),
            };
            boottest::run(&kernel, kernel32.as_deref(), filter)
        }
        _ => Err("usage: cargo run -p xtask -- build [--arch riscv64|riscv32] | clippy | kernel-path [--arch A] | \
                  qemu [--arch A] [--mode MODE] [--append WORDS] \
                  [--cpu CPU] [--memory SIZE] [-- QEMU-ARGS] | boot-cost | reloc-cost | user-cost | split-cost [--arch riscv32] | user32 | boot-test [FILTER]"
            .into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

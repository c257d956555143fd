//! Running the kernel in QEMU (`virt`, OpenSBI, no graphics): interactively, or bounded in
//! time with the serial output captured, for boot tests.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-riscv64";
/// The QEMU binary for the riscv32 kernel.
pub const QEMU32: &str = "qemu-system-riscv32";

/// One QEMU boot of the kernel.
#[derive(Clone, Debug)]
pub struct Boot {
    /// The QEMU binary ([`QEMU`], or [`QEMU32`] for the riscv32 kernel).
    pub qemu: &'static str,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// `-m` (RAM size).
    pub memory: String,
    /// `-smp` (harts).
    pub harts: u32,
    /// `-cpu`, when not the default.
    pub cpu: Option<String>,
    /// The kernel command line (`-append`).
    pub append: String,
    /// A device tree to use instead of QEMU's (`-dtb`).
    pub dtb: Option<PathBuf>,
    /// More arguments for QEMU.
    pub extra: Vec<String>,
}

impl Boot {
    /// A boot of `kernel` with one hart, 512 MiB of RAM, default CPU and an empty command line.
    pub fn new(kernel: PathBuf) -> Self {
        Boot {
            qemu: QEMU,
            kernel,
            memory: "512M".into(),
            harts: 1,
            cpu: None,
            append: String::new(),
            dtb: None,
            extra: Vec::new(),
        }
    }

    /// The QEMU command line.
    pub fn command(&self) -> Command {
        let mut c = Command::new(self.qemu);
        c.args(["-machine", "virt", "-bios", "default", "-nographic", "-no-reboot"]);
        c.args(["-smp", &self.harts.to_string(), "-m", &self.memory]);
        if let Some(cpu) = &self.cpu {
            c.args(["-cpu", cpu]);
        }
        c.arg("-kernel").arg(&self.kernel);
        if !self.append.is_empty() {
            c.args(["-append", &self.append]);
        }
        if let Some(dtb) = &self.dtb {
            c.arg("-dtb").arg(dtb);
        }
        c.args(&self.extra);
        c
    }

    /// Shows the command as a shell line.
    pub fn describe(&self) -> String {
        let c = self.command();
        std::iter::once(c.get_program().to_string_lossy().into_owned())
            .chain(c.get_args().map(|a| {
                let a = a.to_string_lossy();
                if a.contains(' ') || a.contains(',') || a.is_empty() {
                    format!("'{a}'")
                } else {
                    a.into_owned()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How a bounded boot ended.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the guest printed (stdout and stderr of QEMU).
    pub output: String,
    /// QEMU's exit code; `None` if it was killed at the time limit or by a signal.
    pub code: Option<i32>,
    /// Whether the time limit ended it.
    pub timed_out: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Boots with no input, capturing the output, and kills QEMU after `limit`.
pub fn run_bounded(boot: &Boot, limit: Duration) -> Result<Outcome, String> {
    let mut child = boot
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e} (run `make deps`)", boot.qemu))?;
    let output = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for mut pipe in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let out = Arc::clone(&output);
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().expect("reader").extend_from_slice(&buf[..n]);
            }
        }));
    }
    let start = Instant::now();
    let (code, timed_out) = loop {
        match child.try_wait().map_err(|e| format!("waiting for {}: {e}", boot.qemu))? {
            Some(status) => break (status.code(), false),
            None if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    for r in readers {
        let _ = r.join();
    }
    let bytes = output.lock().expect("readers done").clone();
    Ok(Outcome {
        output: String::from_utf8_lossy(&bytes).into_owned(),
        code,
        timed_out,
        elapsed: start.elapsed(),
    })
}

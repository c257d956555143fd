//! `kvas check`: plan (or read) a layout and check its invariants.

use std::path::PathBuf;
use std::process::ExitCode;

use kvas::layout::{check, plan, plan_unchecked};

use crate::args::{fail, plan_error, target, Arch, OptionArgs};
use crate::layout_file;

/// `kvas check` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Architecture (not needed with --from).
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Paging mode or split (not needed with --from).
    #[arg(long)]
    pub mode: Option<String>,
    #[command(flatten)]
    pub opts: OptionArgs,
    /// Check the regions of a `kvas layout --format json` file (edited, say)
    /// instead of a planned layout; arch, mode and options come from the file
    /// (so giving them too is refused rather than ignored).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["arch", "mode", "OptionArgs"])]
    pub from: Option<PathBuf>,
}

/// 0 when every invariant holds, 1 with one line per violation (including options
/// `kvas layout` refuses, such as a KASLR offset out of range), 2 on bad arguments.
pub fn run(a: &Args) -> ExitCode {
    let layout = match &a.from {
        Some(path) => layout_file::read_path(path),
        None => match (&a.arch, &a.mode) {
            (Some(arch), Some(mode)) => target(arch.name(), mode)
                .and_then(|t| plan_unchecked(t, &a.opts.options()).map_err(|e| plan_error(t, &e))),
            _ => Err("give --arch and --mode, or --from FILE".into()),
        },
    };
    let layout = match layout {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let v = check(&layout);
    // Whatever `kvas layout` refuses is a failed check too, with its numbers,
    // even when no invariant of the planned regions names it.
    let refused = match &a.from {
        None => plan(layout.target(), layout.options()).err(),
        Some(_) => None,
    };
    if let (true, Some(e)) = (v.is_empty(), refused) {
        let why = plan_error(layout.target(), &e);
        let why = why.strip_prefix(&format!("{}: ", layout.target())).unwrap_or(&why).to_string();
        outln!("{}: kvas layout refuses these options: {why}", layout.target());
        return ExitCode::from(1);
    }
    if v.is_empty() {
        outln!("ok: {}: {} regions, every invariant holds", layout.target(), layout.regions().len());
        return ExitCode::SUCCESS;
    }
    for violation in v.iter() {
        outln!("{}: {violation}", layout.target());
    }
    if v.dropped() > 0 {
        outln!("{}: ... and {} more", layout.target(), v.dropped());
    }
    ExitCode::from(1)
}

//! `kvas check`: plan (or read) a layout and check its invariants.

use std::path::PathBuf;
use std::process::ExitCode;

use kvas::layout::{check, plan, plan_unchecked, Layout, Options};
use serde_json::Value;

use crate::args::{fail, target, Arch, OptionArgs};
use crate::json;

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
    /// instead of a planned layout; arch, mode and options come from the file.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
}

/// 0 when every invariant holds, 1 with one line per violation (including options
/// `kvas layout` refuses, such as a KASLR offset out of range), 2 on bad arguments.
pub fn run(a: &Args) -> ExitCode {
    let layout = match &a.from {
        Some(path) => from_file(path),
        None => match (&a.arch, &a.mode) {
            (Some(arch), Some(mode)) => target(arch.name(), mode)
                .and_then(|t| plan_unchecked(t, &a.opts.options()).map_err(|e| format!("{t}: {e}"))),
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
        outln!("{}: kvas layout refuses these options: {e}", layout.target());
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

fn from_file(path: &PathBuf) -> Result<Layout, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let get =
        |k: &str| value.get(k).and_then(Value::as_str).ok_or(format!("{}: missing \"{k}\"", path.display()));
    let t = target(get("arch")?, get("mode")?)?;
    let mut options = Options::default();
    if let Some(o) = value.get("options") {
        let num = |k: &str| o.get(k).and_then(Value::as_u64);
        options.kernel_size = num("kernel_size").unwrap_or(0);
        options.kaslr_offset = num("kaslr_offset").unwrap_or(0);
        options.ram = num("ram");
        options.vmalloc = num("vmalloc");
        options.kaslr = o.get("kaslr").and_then(Value::as_bool);
        if let Some(s) = o.get("split").and_then(Value::as_str) {
            options.split = Some(crate::args::parse_split(s)?);
        }
        if let Some(k) = o.get("kasan").and_then(Value::as_str) {
            options.kasan = kvas::layout::Kasan::from_name(k).ok_or(format!("unknown kasan '{k}'"))?;
        }
    }
    if let Some(p) = value.get("profile").and_then(Value::as_str) {
        options.profile = kvas::layout::Profile::from_name(p).ok_or(format!("unknown profile '{p}'"))?;
    }
    let planned = plan_unchecked(t, &options).map_err(|e| format!("{t}: {e}"))?;
    let mut parts = *planned.parts();
    parts.regions = json::regions_from(&value, &planned).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Layout::from_parts(parts))
}

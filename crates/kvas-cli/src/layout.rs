//! `kvas layout`: print a layout as a table, JSON, SVG or Linux's dump.

use std::process::ExitCode;

use clap::ValueEnum;
use kvas::layout::{plan, Target, VmLayoutDump};

use crate::args::{fail, TargetArgs};
use crate::{json, svg, table};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// vm-layout.rst-style table and the figures (lowmem, highmem, vmalloc, reach).
    Table,
    /// One JSON object per the contract.
    Json,
    /// An SVG picture (log-scaled bands; `--mode all` puts every mode of the arch side by side).
    Svg,
    /// Linux's `Virtual kernel memory layout:` block (print_vm_layout).
    Dump,
}

/// `kvas layout` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Prints the layout; 2 on bad arguments.
pub fn run(a: &Args) -> ExitCode {
    if a.target.mode == "all" {
        return run_all(a);
    }
    let layout = match a.target.plan() {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    match a.format {
        Format::Table => out!("{}", table::render(&layout)),
        Format::Json => {
            outln!("{}", serde_json::to_string_pretty(&json::to_json(&layout)).unwrap_or_default())
        }
        Format::Svg => out!("{}", svg::render(&[layout], &command_line())),
        Format::Dump => out!("{}", VmLayoutDump(&layout)),
    }
    ExitCode::SUCCESS
}

fn run_all(a: &Args) -> ExitCode {
    let arch = a.target.arch.name();
    let options = a.target.opts.options();
    let mut layouts = Vec::new();
    for target in Target::ALL.into_iter().filter(|t| t.arch_name() == arch) {
        match plan(target, &options) {
            Ok(l) => layouts.push(l),
            Err(e) => return fail(crate::args::plan_error(target, &e)),
        }
    }
    match a.format {
        Format::Svg => out!("{}", svg::render(&layouts, &command_line())),
        Format::Table => {
            let tables: Vec<String> = layouts.iter().map(table::render).collect();
            out!("{}", tables.join("\n"));
        }
        Format::Dump => {
            for l in &layouts {
                outln!("# {}", l.target());
                out!("{}", VmLayoutDump(l));
            }
        }
        Format::Json => {
            let all: Vec<_> = layouts.iter().map(json::to_json).collect();
            outln!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        }
    }
    ExitCode::SUCCESS
}

/// The command as typed, for the picture's caption.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("kvas {}", args.join(" "))
}

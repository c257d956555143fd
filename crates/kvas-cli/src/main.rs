//! `kvas`: see, check and compare kernel virtual address spaces.
//!
//! `main` only parses the command line and dispatches: each subcommand lives in
//! its own file with its clap arguments and a `run` that returns the exit status
//! (0 ok, 1 a check failed, 2 bad arguments). Adding a subcommand is one file, one
//! `mod` line and one enum variant with its match arm.

/// `print!` that ends quietly when stdout is closed (`kvas ... | head`), instead
/// of panicking, and makes the exit status 2 on any other write error.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::output::emit(format_args!($($t)*))
    };
}

/// `println!` with the same care as `out!`.
macro_rules! outln {
    () => {
        $crate::output::emit(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::output::emit(format_args!("{}\n", format_args!($($t)*)))
    };
}

mod args;
mod check;
mod diff;
mod explain;
mod input;
mod json;
mod layout;
mod layout_file;
mod map;
mod map_other;
mod map_report;
mod map_riscv32;
mod output;
mod svg;
mod table;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kernel virtual address space layouts: every region of every mode, checked, compared, drawn.
#[derive(Parser, Debug)]
#[command(name = "kvas", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a layout: table, json, svg or Linux's print_vm_layout dump.
    Layout(layout::Args),
    /// Check a layout's invariants; exit 1 with one line per violation.
    Check(check::Args),
    /// Compare two layouts region by region.
    Diff(diff::Args),
    /// Name the region of an address and translate it to physical.
    Explain(explain::Args),
    /// Build the page tables for a memory map in simulated RAM; count pages and leaves.
    Map(map::Args),
}

fn main() -> ExitCode {
    let status = match Cli::parse().command {
        Command::Layout(a) => layout::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Diff(a) => diff::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Map(a) => map::run(&a),
    };
    output::finish(status)
}

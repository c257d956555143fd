//! `kvas-bench`: runs every workload on kvas and its peers and prints
//! `workload=NAME impl=NAME ns_per_op=X` lines (medians), then a summary of
//! the ratios on stderr (with `--markdown`, the tables of docs/PERFORMANCE.md).
//!
//! ```text
//! kvas-bench --quick                 # the contract run, under a minute
//! kvas-bench --quick --markdown      # the same, with docs/PERFORMANCE.md's tables on stderr
//! kvas-bench [--reps N] [--workload NAME]... [--impl NAME]...
//! kvas-bench --no-retry ...          # exactly N + 1 samples (for scripts/instructions.sh)
//! ```

use std::process::ExitCode;

use kvas_bench::registry;
use kvas_bench::runner::{self, Options};
use kvas_bench::workload::Workload;

const USAGE: &str =
    "usage: kvas-bench [--quick] [--markdown] [--no-retry] [--reps N] [--workload NAME]... [--impl NAME]...";

/// Samples per measurement with `--quick`, and without it.
const QUICK_REPS: usize = 41;
const FULL_REPS: usize = 201;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, names, markdown) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("kvas-bench: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let impls: Vec<_> = registry::all()
        .into_iter()
        .filter(|imp| names.is_empty() || names.iter().any(|n| n == imp.name))
        .collect();
    let (rows, errors) = runner::run(&impls, &options, &mut std::io::stdout().lock());
    if markdown {
        eprint!("{}", runner::markdown(&rows));
    } else {
        eprint!("{}", runner::summary(&rows));
    }
    for error in &errors {
        eprintln!("kvas-bench: {error}");
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parse(args: &[String]) -> Result<(Options, Vec<String>, bool), String> {
    let mut reps = None;
    let mut quick = false;
    let mut markdown = false;
    let mut retry = true;
    let mut workloads = Vec::new();
    let mut names = Vec::new();
    let known: Vec<&str> = registry::all().iter().map(|imp| imp.name).collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--quick" => quick = true,
            "--markdown" => markdown = true,
            "--no-retry" => retry = false,
            "--reps" => {
                let n = value("a number")?;
                reps = Some(
                    n.parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or(format!("--reps takes a positive number, not {n:?}"))?,
                );
            }
            "--workload" => {
                let name = value("a workload name")?;
                workloads.push(Workload::from_name(name).ok_or(format!(
                    "unknown workload {name:?} (known: {})",
                    Workload::ALL.map(Workload::name).join(", ")
                ))?);
            }
            "--impl" => {
                let name = value("an implementation name")?;
                if !known.contains(&name.as_str()) {
                    return Err(format!("unknown implementation {name:?} (known: {})", known.join(", ")));
                }
                names.push(name.clone());
            }
            "-h" | "--help" => return Err("help requested".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if workloads.is_empty() {
        workloads = Workload::ALL.to_vec();
    }
    let reps = reps.unwrap_or(if quick { QUICK_REPS } else { FULL_REPS });
    Ok((Options { reps, workloads, retry }, names, markdown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quick_runs_everything_with_fewer_samples() {
        let (options, names, markdown) = parse(&args(&["--quick"])).unwrap();
        assert!(!markdown);
        assert_eq!(options.reps, QUICK_REPS);
        assert_eq!(options.workloads, Workload::ALL.to_vec());
        assert!(names.is_empty());
        assert_eq!(parse(&[]).unwrap().0.reps, FULL_REPS);
        assert!(options.retry);
        assert!(!parse(&args(&["--no-retry"])).unwrap().0.retry);
    }

    #[test]
    fn filters_and_reps_are_taken() {
        let (options, names, markdown) =
            parse(&args(&["--reps", "3", "--workload", "map-2m", "--impl", "kvas-sv39", "--markdown"]))
                .unwrap();
        assert!(markdown);
        assert_eq!(options.reps, 3);
        assert_eq!(options.workloads, vec![Workload::Map2m]);
        assert_eq!(names, vec!["kvas-sv39".to_string()]);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let err = |list: &[&str]| parse(&args(list)).unwrap_err();
        assert!(err(&["--fast"]).contains("unknown argument \"--fast\""));
        assert!(err(&["--reps", "0"]).contains("positive number"));
        assert!(err(&["--reps"]).contains("--reps needs a number"));
        assert!(err(&["--workload", "map-3k"]).contains("unknown workload \"map-3k\""));
        assert!(err(&["--impl", "linux"]).contains("unknown implementation \"linux\""));
    }
}

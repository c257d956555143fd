//! `kvas diff A B`: two layouts region by region — moved, grown, shrunk, gone, new.

use std::process::ExitCode;

use kvas::layout::{plan, Kasan, Layout, Options, Profile, Region};

use crate::args::{fail, parse_size, target, OptionArgs};
use crate::units::{addr, human};

/// `kvas diff` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The first layout: ARCH:MODE[:KEY=VALUE,...], keys kasan, kernel-size,
    /// kaslr-offset, kaslr (on|off), ram, vmalloc, profile, split (riscv32: 3g|2g|1g|4g4g)
    /// (e.g. riscv64:sv39:kasan=generic,ram=2G; riscv32:sv32:split=4g4g).
    pub a: String,
    /// The second layout, in the same form.
    pub b: String,
    /// Options both layouts start from (a spec's keys override them).
    #[command(flatten)]
    pub opts: OptionArgs,
    /// Also list regions that did not change.
    #[arg(long)]
    pub all: bool,
}

/// Parses `ARCH:MODE[:KEY=VALUE,...]` on top of `base`.
pub fn spec(text: &str, base: Options) -> Result<Layout, String> {
    check_keys(text)?;
    let mut parts = text.splitn(3, ':');
    let (arch, mode) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let t = target(arch, mode).map_err(|e| format!("'{text}': {e}"))?;
    let mut o = base;
    for kv in parts.next().unwrap_or("").split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or(format!("'{text}': '{kv}' is not KEY=VALUE"))?;
        match k {
            "kasan" => o.kasan = Kasan::from_name(v).ok_or(format!("'{text}': unknown kasan '{v}'"))?,
            "profile" => {
                o.profile = Profile::from_name(v).ok_or(format!("'{text}': unknown profile '{v}'"))?
            }
            "kernel-size" => o.kernel_size = parse_size(v)?,
            "kaslr-offset" => o.kaslr_offset = parse_size(v)?,
            "ram" => o.ram = Some(parse_size(v)?),
            "vmalloc" => o.vmalloc = Some(parse_size(v)?),
            "split" => o.split = Some(crate::args::parse_split(v).map_err(|e| format!("'{text}': {e}"))?),
            "kaslr" => {
                o.kaslr = Some(match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("'{text}': kaslr is on or off, not '{v}'")),
                })
            }
            _ => return Err(format!("'{text}': unknown key '{k}'")),
        }
    }
    plan(t, &o).map_err(|e| format!("'{text}': {e}"))
}

/// Refuses what the spec's `KEY=VALUE` list would otherwise take silently or
/// report without the key: an empty entry, a key given twice (the last would
/// win), a size that does not parse (named with its key).
fn check_keys(text: &str) -> Result<(), String> {
    let Some(list) = text.splitn(3, ':').nth(2) else { return Ok(()) };
    let mut seen: Vec<&str> = Vec::new();
    for kv in list.split(',') {
        if kv.is_empty() {
            return Err(format!("'{text}': an empty entry in the KEY=VALUE list"));
        }
        let Some((k, v)) = kv.split_once('=') else { continue };
        if seen.contains(&k) {
            return Err(format!("'{text}': {k} is given twice"));
        }
        seen.push(k);
        if matches!(k, "kernel-size" | "kaslr-offset" | "ram" | "vmalloc") {
            parse_size(v).map_err(|e| format!("'{text}': {k}: {e}"))?;
        }
    }
    Ok(())
}

/// How one region changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Same,
    Moved,
    Grown { moved: bool },
    Shrunk { moved: bool },
    Gone,
    New,
}

/// Pairs regions by name (the n-th of a name with the n-th), in address order of `a`, then `b`'s new ones.
pub fn pair<'a>(a: &'a Layout, b: &'a Layout) -> Vec<(Option<&'a Region>, Option<&'a Region>)> {
    let nth = |l: &'a Layout, r: &Region| {
        l.regions().iter().filter(|x| x.name() == r.name() && x.start() < r.start()).count()
    };
    let find = |l: &'a Layout, name: &str, n: usize| l.regions().iter().filter(|x| x.name() == name).nth(n);
    let mut out: Vec<_> = a.regions().iter().map(|r| (Some(r), find(b, r.name(), nth(a, r)))).collect();
    for r in b.regions() {
        if find(a, r.name(), nth(b, r)).is_none() {
            out.push((None, Some(r)));
        }
    }
    out
}

/// The change from `x` to `y`.
pub fn change(x: Option<&Region>, y: Option<&Region>) -> Change {
    match (x, y) {
        (Some(x), Some(y)) => {
            let moved = x.start() != y.start();
            match x.size().cmp(&y.size()) {
                std::cmp::Ordering::Less => Change::Grown { moved },
                std::cmp::Ordering::Greater => Change::Shrunk { moved },
                std::cmp::Ordering::Equal if moved => Change::Moved,
                std::cmp::Ordering::Equal => Change::Same,
            }
        }
        (Some(_), None) => Change::Gone,
        _ => Change::New,
    }
}

/// Prints the differences; 0, or 2 on bad arguments.
pub fn run(args: &Args) -> ExitCode {
    let base = args.opts.options();
    let (a, b) = match (spec(&args.a, base), spec(&args.b, base)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let wide = a.target().is_64bit() || b.target().is_64bit();
    let span = |r: &Region| format!("{}-{}", addr(r.start(), wide), addr(r.last(), wide));
    outln!("--- {} ({})\n+++ {} ({})", args.a, a.target(), args.b, b.target());
    let mut changed = 0;
    for (x, y) in pair(&a, &b) {
        let c = change(x, y);
        let name = x.or(y).map_or("", |r| r.name());
        let line = match (&c, x, y) {
            (Change::Same, Some(x), _) if args.all => {
                format!("  same    {name:<15} {}  {}", span(x), human(x.size()))
            }
            (Change::Same, ..) => continue,
            (Change::Moved, Some(x), Some(y)) => {
                format!("  moved   {name:<15} {} -> {}  ({})", span(x), span(y), human(x.size()))
            }
            (Change::Grown { moved } | Change::Shrunk { moved }, Some(x), Some(y)) => {
                let word = if matches!(c, Change::Grown { .. }) { "grown " } else { "shrunk" };
                let also = if *moved { ", moved" } else { "" };
                format!(
                    "  {word}  {name:<15} {} -> {}  ({} -> {}{also})",
                    span(x),
                    span(y),
                    human(x.size()),
                    human(y.size())
                )
            }
            (Change::Gone, Some(x), _) => format!("  gone    {name:<15} {}  ({})", span(x), human(x.size())),
            (_, _, Some(y)) => format!("  new     {name:<15} {}  ({})", span(y), human(y.size())),
            _ => continue,
        };
        if c != Change::Same {
            changed += 1;
        }
        outln!("{line}");
    }
    outln!("{changed} of {} regions changed", a.regions().len().max(b.regions().len()));
    ExitCode::SUCCESS
}

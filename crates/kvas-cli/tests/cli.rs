//! CLI tests that run the real `kvas` binary.

use std::process::{Command, Output};

use serde_json::Value;

fn kvas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvas")).args(args).output().expect("run kvas")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = kvas(args);
    assert_eq!(o.status.code(), Some(0), "kvas {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// Runs `args`, expects exit 2 with a message containing `needle` and no panic.
fn bad(args: &[&str], needle: &str) {
    let o = kvas(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "kvas {args:?}: stdout {} stderr {err}", stdout(&o));
    assert!(err.contains(needle), "kvas {args:?}: stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

fn hex(v: &Value) -> u64 {
    let s = v.as_str().expect("hex string");
    assert!(s.len() == 18 && s.starts_with("0x"), "{s} is not 0x + 16 hex digits");
    assert_eq!(s, s.to_lowercase());
    u64::from_str_radix(&s[2..], 16).unwrap()
}

#[test]
fn json_follows_the_contract() {
    for (arch, mode) in
        [("riscv64", "sv39"), ("riscv64", "sv57"), ("x86_64", "5level"), ("arm64", "4k-52"), ("arm32", "3g")]
    {
        let v: Value = serde_json::from_str(&ok(&[
            "layout", "--arch", arch, "--mode", mode, "--kasan", "generic", "--format", "json",
        ]))
        .unwrap();
        assert_eq!(v["arch"], arch);
        assert_eq!(v["mode"], mode);
        assert!(v["va_bits"].as_u64().unwrap() >= 32);
        hex(&v["page_offset"]);
        let regions = v["regions"].as_array().unwrap();
        let mut prev_end: Option<u64> = None;
        for r in regions {
            let (start, end) = (hex(&r["start"]), hex(&r["end"]));
            assert_eq!(r["size"].as_u64().unwrap(), end - start + 1, "{r}");
            let name = r["name"].as_str().unwrap();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{name}");
            assert!(r["description"].is_string());
            if let Some(p) = prev_end {
                assert!(start > p, "regions sorted and disjoint: {r}");
            }
            prev_end = Some(end);
        }
    }
    let v: Value =
        serde_json::from_str(&ok(&["layout", "--arch", "riscv64", "--mode", "sv39", "--format", "json"]))
            .unwrap();
    assert_eq!(v["page_offset"], "0xffffffd600000000");
    assert_eq!(v["regions"][0]["name"], "user");
    assert_eq!(v["regions"][0]["end"], "0x0000003fffffffff");
    assert_eq!(v["regions"][0]["size"], 274877906944u64);
}

#[test]
fn table_reports_lowmem_highmem_and_the_vmalloc_budget() {
    let t = ok(&["layout", "--arch", "arm32", "--mode", "3g", "--ram", "1G"]);
    assert!(t.contains("lowmem          768 MiB (c0000000-efffffff)"), "{t}");
    assert!(t.contains("highmem         256 MiB"), "{t}");
    assert!(t.contains("vmalloc         240 MiB"), "{t}");
    // vmalloc= moves the lowmem ceiling: 496 MiB of vmalloc leaves 512 MiB of lowmem.
    let t = ok(&["layout", "--arch", "arm32", "--mode", "3g", "--ram", "1G", "--vmalloc", "496M"]);
    assert!(t.contains("lowmem          512 MiB (c0000000-dfffffff)"), "{t}");
    assert!(t.contains("highmem         512 MiB") && t.contains("vmalloc         496 MiB"), "{t}");
    let d = ok(&["diff", "arm32:3g:ram=1G", "arm32:3g:ram=1G,vmalloc=496M"]);
    assert!(d.contains("  shrunk  lowmem") && d.contains("  grown   vmalloc"), "{d}");
    let t = ok(&["layout", "--arch", "arm32", "--mode", "4g4g"]);
    assert!(t.contains("user space      3.75 GiB"), "{t}");
    let t = ok(&["layout", "--arch", "riscv64", "--mode", "sv48", "--kasan", "generic"]);
    assert!(t.contains(" ffffaf8000000000 |"), "{t}");
    assert!(t.contains("| kasan "), "{t}");
    let t = ok(&["layout", "--arch", "arm64", "--mode", "4k-48", "--kernel-size", "30M"]);
    assert!(t.contains("within BL reach (±128 MiB) of all kernel text; the rest needs ADRP veneer"), "{t}");
}

#[test]
fn dump_prints_print_vm_layout() {
    let d = ok(&[
        "layout",
        "--arch",
        "riscv64",
        "--mode",
        "sv39",
        "--kasan",
        "generic",
        "--kernel-size",
        "20M",
        "--ram",
        "2G",
        "--format",
        "dump",
    ]);
    assert!(d.starts_with("Virtual kernel memory layout:\n"));
    assert!(d.contains("     modules : 0xffffffff01400000 - 0xffffffff80000000   (2028 MB)\n"), "{d}");
    assert!(d.contains("      kernel : 0xffffffff80000000 - 0xffffffffffffffff   (2047 MB)\n"), "{d}");
    let d = ok(&["layout", "--arch", "riscv32", "--mode", "sv32", "--format", "dump"]);
    assert!(d.contains("     vmalloc : 0xa0000000 - 0xc0000000   ( 512 MB)\n"), "{d}");
}

#[test]
fn svg_draws_every_region_and_the_three_modes() {
    let s = ok(&["layout", "--arch", "riscv64", "--mode", "all", "--kasan", "generic", "--format", "svg"]);
    assert!(s.starts_with("<svg ") && s.trim_end().ends_with("</svg>"));
    for label in [">sv39<", ">sv48<", ">sv57<", ">vmalloc<", ">kasan<", ">bpf<", ">31.75 PiB<", ">1920 MiB<"]
    {
        assert!(s.contains(label), "svg lacks {label}");
    }
    assert!(s.matches("<path d=\"M").count() >= 2 * 9, "ribbons between columns");
    let s = ok(&["layout", "--arch", "arm32", "--mode", "all", "--format", "svg"]);
    for label in [">3g<", ">3g-opt<", ">2g<", ">1g<", ">4g4g<"] {
        assert!(s.contains(label), "svg lacks {label}");
    }
    bad(
        &["layout", "--arch", "arm32", "--mode", "all", "--kasan", "sw-tags"],
        "arm32 has only generic KASAN",
    );
}

#[test]
fn check_passes_plans_and_fails_edited_layouts_with_exit_1() {
    let out = ok(&["check", "--arch", "riscv64", "--mode", "sv57", "--kasan", "sw-tags", "--ram", "1T"]);
    assert!(out.starts_with("ok: riscv64 sv57"), "{out}");
    let json =
        ok(&["layout", "--arch", "riscv64", "--mode", "sv39", "--kernel-size", "20M", "--format", "json"]);
    let dir = std::env::temp_dir().join(format!("kvas-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Overlap: the bpf window starts inside modules. Reach: modules begin 3 GiB below the kernel.
    let broken = json
        .replace("\"0xffffffff78000000\"", "\"0xffffffff70000000\"")
        .replace("\"0xffffffff01400000\"", "\"0xfffffffe40000000\"");
    assert_ne!(broken, json);
    // A region's size must agree with its ends: drop the sizes, now stale.
    let mut broken: Value = serde_json::from_str(&broken).unwrap();
    broken["regions"].as_array_mut().unwrap().iter_mut().for_each(|r| {
        r.as_object_mut().unwrap().remove("size");
    });
    let path = dir.join("broken.json");
    std::fs::write(&path, broken.to_string()).unwrap();
    let o = kvas(&["check", "--from", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines = stdout(&o);
    assert!(
        lines.lines().any(|l| l.contains(
            "overlap: modules [0xfffffffe40000000-0xffffffff77ffffff] and bpf [0xffffffff70000000"
        )),
        "{lines}"
    );
    assert!(
        lines
            .lines()
            .any(|l| l.contains("out of reach: modules window")
                && l.contains("auipc+jalr reach of 0x80000000")),
        "{lines}"
    );
    std::fs::write(&path, "{\"arch\": \"riscv64\"}").unwrap();
    bad(&["check", "--from", path.to_str().unwrap()], "missing field `mode`");
    std::fs::remove_dir_all(&dir).unwrap();
    bad(&["check", "--arch", "riscv64"], "give --arch and --mode");
}

/// Runs `kvas check` with options `kvas layout` refuses: exit 1, the violation on stdout.
fn violated(args: &[&str], needle: &str) {
    let o = kvas(args);
    assert_eq!(o.status.code(), Some(1), "kvas {args:?}: {} {}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(needle), "kvas {args:?}: {:?} lacks {needle:?}", stdout(&o));
}

#[test]
fn check_reports_refused_options_as_violations() {
    let sv39 = ["check", "--arch", "riscv64", "--mode", "sv39"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { sv39.iter().chain(extra).copied().collect() };
    violated(
        &with(&["--ram", "200G"]),
        "linear map too small: linear [0xffffffd600000000-0xfffffff5ffffffff] maps at most 0x2000000000 bytes, RAM is 0x3200000000",
    );
    violated(&with(&["--kaslr-offset", "3M"]), "misaligned: kernel [0xffffffff80300000-0xffffffffffffffff]");
    violated(
        &with(&["--kernel-size", "20M", "--kaslr-offset", "1010M"]),
        "kernel image [0xffffffffbf200000-0xffffffffc05fffff] leaves its window [0xffffffff80000000-0xffffffffbfffffff] by 0x600000 bytes",
    );
    violated(&with(&["--kernel-size", "1100M"]), "leaves its window");
    violated(
        &["check", "--arch", "x86_64", "--mode", "4level", "--kaslr-offset", "1M", "--kernel-size", "8M"],
        "kernel image [0xffffffff81100000-0xffffffff818fffff] must start on a multiple of 0x200000",
    );
    violated(&["check", "--arch", "arm32", "--mode", "3g", "--kernel-size", "800M"], "leaves its window");
    violated(&["check", "--arch", "riscv32", "--mode", "sv32", "--ram", "17G"], "RAM is 0x440000000");
    bad(
        &["check", "--arch", "riscv64", "--mode", "sv39", "--kaslr-offset", "16E"],
        "'16E' is not a size: it does not fit in 64 bits",
    );
    bad(&["check", "--arch", "arm32", "--mode", "3g", "--kaslr-offset", "2M"], "arm32 has no KASLR");
}

#[test]
fn diff_names_moved_grown_shrunk_gone_and_new() {
    let d = ok(&["diff", "riscv64:sv39", "riscv64:sv48"]);
    assert!(
        d.contains("  moved   fixmap          ffffffc4fea00000-ffffffc4feffffff -> ffff8d7ffea00000"),
        "{d}"
    );
    assert!(d.contains("  grown   vmalloc ") && d.contains("(64 GiB -> 32 TiB, moved)"), "{d}");
    assert!(!d.contains(" kernel "), "unchanged regions are not listed: {d}");
    let d = ok(&["diff", "riscv64:sv39:kasan=generic", "riscv64:sv39:kernel-size=20M,kaslr-offset=64M"]);
    assert!(d.contains("  gone    kasan"), "{d}");
    assert!(d.contains("  shrunk  modules") && d.contains("  shrunk  kernel"), "{d}");
    let d = ok(&["diff", "--kasan", "generic", "riscv64:sv39:kasan=none", "riscv64:sv39"]);
    assert!(d.contains("  new     kasan           fffffff700000000-fffffffeffffffff  (32 GiB)"), "{d}");
    let d = ok(&["diff", "arm64:4k-48:profile=linux-doc", "arm64:4k-48"]);
    assert!(
        d.contains("  moved   vmemmap         fffffc0000000000-fffffdffffffffff -> fffffdffc0000000"),
        "{d}"
    );
    bad(&["diff", "riscv64:sv39", "riscv64:sv40"], "unknown mode 'sv40'");
    bad(&["diff", "riscv64:sv39", "riscv64:sv48:colour=blue"], "unknown key 'colour'");
}

#[test]
fn explain_names_the_region_and_the_physical_address() {
    let e = ok(&["explain", "0xffffffd600201000", "--arch", "riscv64", "--mode", "sv39", "--ram", "1G"]);
    assert!(
        e.starts_with("0xffffffd600201000: linear (direct mapping of all physical memory), offset 0x201000"),
        "{e}"
    );
    assert!(
        e.contains("physical 0x80201000 (va - va_pa_offset 0xffffffd580000000, RAM base 0x80000000)"),
        "{e}"
    );
    let e = ok(&[
        "explain",
        "0xffffffff84001000",
        "--arch",
        "riscv64",
        "--mode",
        "sv39",
        "--kernel-size",
        "20M",
        "--kaslr-offset",
        "64M",
        "--load-addr",
        "0x80200000",
    ]);
    assert!(e.contains("kernel image +0x1000: physical 0x80201000"), "{e}");
    let e = ok(&["explain", "0xffffffff81234000", "--arch", "x86_64", "--mode", "4level"]);
    assert!(e.contains("physical 0x1234000") && e.contains("image size not given"), "{e}");
    let e =
        ok(&["explain", "0xffffffff80001000", "--arch", "riscv64", "--mode", "sv57", "--kaslr-offset", "2M"]);
    assert!(e.starts_with("0xffffffff80001000: bpf "), "{e}");
    let e = ok(&["explain", "0xffffffd640000000", "--arch", "riscv64", "--mode", "sv39", "--ram", "1G"]);
    assert!(e.contains("beyond the end of RAM"), "{e}");
    let e = ok(&["explain", "0x0000800000000000", "--arch", "riscv64", "--mode", "sv48"]);
    assert!(e.contains("hole") && e.contains("not canonical for 48-bit"), "{e}");
    let e =
        ok(&["explain", "0xfffffff600000000", "--arch", "riscv64", "--mode", "sv39", "--kasan", "generic"]);
    assert!(e.contains("in no region (unlisted gap between linear and kasan)"), "{e}");
    let e = ok(&["explain", "0xc0100000", "--arch", "arm32", "--mode", "3g", "--ram-base", "0x60000000"]);
    assert!(e.contains("physical 0x60100000"), "{e}");
    bad(&["explain", "0x100000000", "--arch", "arm32", "--mode", "3g"], "does not fit a 32-bit");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let sv39 = ["layout", "--arch", "riscv64", "--mode", "sv39"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { sv39.iter().chain(extra).copied().collect() };
    bad(&["layout", "--arch", "mips", "--mode", "sv39"], "invalid value 'mips'");
    bad(
        &["layout", "--arch", "riscv64", "--mode", "sv40"],
        "unknown mode 'sv40' for riscv64 (expected sv39, sv48, sv57)",
    );
    bad(&with(&["--ram", "12Q"]), "'12Q' is not a size: unknown unit");
    bad(&with(&["--ram", "0x"]), "'0x' is not a size: a number is missing its digits");
    bad(&with(&["--kernel-size", "16E"]), "'16E' is not a size: it does not fit in 64 bits");
    bad(&with(&["--kernel-size", "99999999999999999999"]), "--kernel-size");
    bad(&with(&["--kaslr-offset", "1M"]), "KASLR offset 0x100000 is not aligned to 0x200000");
    bad(&with(&["--kaslr-offset", "1G"]), "KASLR offset 0x40000000 is out of range: at most 0x3fe00000");
    bad(&with(&["--kernel-size", "20M", "--kaslr-offset", "1004M"]), "at most 0x3ea00000");
    bad(&with(&["--kernel-size", "2G"]), "does not fit the riscv64 kernel PUD");
    bad(&with(&["--ram", "129G"]), "larger than the linear map: at most 0x2000000000");
    bad(&with(&["--ram", "4097"]), "RAM size 0x1001 is not aligned to 0x1000");
    bad(&with(&["--format", "png"]), "invalid value 'png'");
    bad(
        &["layout", "--arch", "x86_64", "--mode", "4level", "--kasan", "sw-tags"],
        "x86_64 has no software tag-based KASAN",
    );
    bad(&["layout", "--arch", "arm64", "--mode", "4k-52", "--profile", "linux-doc"], "no 4K/52-bit");
    bad(&["layout", "--arch", "arm32", "--mode", "3g", "--kaslr-offset", "2M"], "arm32 has no KASLR");
    bad(&["layout", "--arch", "arm32", "--mode", "3g", "--ram", "5G"], "arm32 physical address space");
    bad(&["layout", "--arch", "riscv32", "--mode", "sv32", "--ram", "17G"], "Sv32 physical address space");
    bad(
        &["layout", "--arch", "x86_64", "--mode", "4level", "--kaslr", "off", "--kernel-size", "500M"],
        "x86_64 kernel text mapping",
    );
    bad(&["layout"], "--arch");
    bad(
        &["layout", "--arch", "arm32", "--mode", "3g", "--vmalloc", "8M"],
        "--vmalloc 0x800000: must lie in [16 MiB",
    );
    bad(
        &["layout", "--arch", "arm32", "--mode", "3g", "--vmalloc", "17M"],
        "--vmalloc 0x1100000 is not aligned to 0x200000",
    );
    bad(&["layout", "--arch", "arm32", "--mode", "1g", "--vmalloc", "3G"], "must lie in");
    bad(&["layout", "--arch", "riscv64", "--mode", "sv39", "--vmalloc", "1G"], "--vmalloc is not supported");
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    for args in [
        &["layout", "--arch", "riscv64", "--mode", "all", "--format", "svg"][..],
        &["diff", "riscv64:sv39", "riscv64:sv57"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kvas"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_ne!(o.status.code(), Some(101), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

// ---------------------------------------------------------------------------
// Hostile input (issue 10): bad input never looks like success. Every case
// here exits 2 with one message naming the field or option and the value, or
// (for round trips) passes where it used to fail.
// ---------------------------------------------------------------------------

/// A scratch directory for one test, removed by the caller.
fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kvas-hostile-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The sv39 layout as JSON, edited by `edit`, written to `dir/name`.
fn edited_layout(dir: &std::path::Path, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value =
        serde_json::from_str(&ok(&["layout", "--arch", "riscv64", "--mode", "sv39", "--format", "json"]))
            .unwrap();
    edit(&mut v);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn check_from_refuses_mistyped_unknown_and_inconsistent_fields() {
    let dir = scratch("from-fields");
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "string-size.json",
            Box::new(|v| v["options"]["kernel_size"] = "0x200000".into()),
            "options.kernel_size: invalid type: string \"0x200000\", expected u64",
        ),
        (
            "negative.json",
            Box::new(|v| v["options"]["kaslr_offset"] = (-5).into()),
            "options.kaslr_offset: invalid value: integer `-5`, expected u64",
        ),
        (
            "float.json",
            Box::new(|v| v["options"]["ram"] = 1.5.into()),
            "options.ram: invalid type: floating point",
        ),
        ("unknown-top.json", Box::new(|v| v["colour"] = "red".into()), "colour: unknown field `colour`"),
        (
            "unknown-option.json",
            Box::new(|v| v["options"]["kernel_sise"] = 4096.into()),
            "options.kernel_sise: unknown field `kernel_sise`",
        ),
        (
            "region-size-type.json",
            Box::new(|v| v["regions"][2]["size"] = "big".into()),
            "regions[2].size: invalid type: string \"big\", expected u64",
        ),
        (
            "region-hex.json",
            Box::new(|v| v["regions"][1]["start"] = "12345".into()),
            "regions[1].start: \"12345\" is not a 0x hex string",
        ),
        (
            "region-size-wrong.json",
            Box::new(|v| v["regions"][0]["size"] = 12.into()),
            "regions[0] (user): size 0xc does not match start 0x0000000000000000 and end 0x0000003fffffffff",
        ),
        (
            "region-reversed.json",
            Box::new(|v| {
                v["regions"][0]["end"] = "0x0000000000000fff".into();
                v["regions"][0]["start"] = "0x0000000000002000".into();
                v["regions"][0]["size"] = Value::Null;
            }),
            "regions[0] (user): end 0x0000000000000fff is below start 0x0000000000002000",
        ),
        (
            "region-whole.json",
            Box::new(|v| {
                v["regions"][0]["end"] = "0xffffffffffffffff".into();
                v["regions"][0]["size"] = Value::Null;
            }),
            "regions[0] (user): [0x0000000000000000, 0xffffffffffffffff] is the whole 64-bit space",
        ),
        (
            "region-plus.json",
            Box::new(|v| v["regions"][0]["start"] = "0x+1".into()),
            "regions[0].start: \"0x+1\" is not a 0x hex string",
        ),
        (
            "region-name.json",
            Box::new(|v| v["regions"][5]["name"] = "vmaloc".into()),
            "regions[5]: \"vmaloc\" is not a region of riscv64 sv39 with these options (expected one of user,",
        ),
        (
            "va-bits.json",
            Box::new(|v| v["va_bits"] = 48.into()),
            "va_bits: the file says 48, but riscv64 sv39 has 39",
        ),
        (
            "page-offset.json",
            Box::new(|v| v["page_offset"] = "0xffffaf8000000000".into()),
            "page_offset: the file says 0xffffaf8000000000",
        ),
        (
            "facts.json",
            Box::new(|v| v["facts"]["user_bytes"] = "lots".into()),
            "facts.user_bytes: invalid type: string",
        ),
        (
            "kasan.json",
            Box::new(|v| v["options"]["kasan"] = "full".into()),
            "options.kasan: unknown value \"full\"",
        ),
    ];
    for (name, edit, needle) in cases {
        let path = edited_layout(&dir, name, edit);
        bad(&["check", "--from", &path], needle);
    }
    // Not JSON of one layout at all.
    let list = dir.join("list.json");
    std::fs::write(&list, ok(&["layout", "--arch", "riscv64", "--mode", "all", "--format", "json"])).unwrap();
    bad(&["check", "--from", list.to_str().unwrap()], "holds a list: --from reads one layout");
    let binary = dir.join("binary.json");
    std::fs::write(&binary, b"{\"arch\": \"\xff\"}").unwrap();
    bad(&["check", "--from", binary.to_str().unwrap()], "not UTF-8 text (byte 10)");
    bad(&["check", "--from", dir.to_str().unwrap()], "Is a directory");
    if std::path::Path::new("/dev/zero").exists() {
        // Endless input is refused at 16 MiB, not read until memory runs out.
        bad(&["check", "--from", "/dev/zero"], "/dev/zero: larger than 16 MiB, too large for a layout file");
    }
    let big = dir.join("big.json");
    std::fs::write(&big, vec![b' '; (16 << 20) + 1]).unwrap();
    bad(&["check", "--from", big.to_str().unwrap()], "larger than 16 MiB");
    bad(&["check", "--from", dir.join("absent.json").to_str().unwrap()], "No such file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_from_passes_the_unedited_layout_of_every_mode() {
    let dir = scratch("from-round-trip");
    let modes = [
        ("riscv64", "sv39"),
        ("riscv64", "sv57"),
        ("riscv32", "sv32"),
        ("x86_64", "4level"),
        ("x86_64", "5level"),
        ("arm64", "4k-48"),
        ("arm64", "64k-52"),
        ("arm32", "3g"),
        ("arm32", "4g4g"),
    ];
    for (arch, mode) in modes {
        for kasan in ["none", "generic"] {
            let o = kvas(&["layout", "--arch", arch, "--mode", mode, "--kasan", kasan, "--format", "json"]);
            if o.status.code() != Some(0) {
                continue; // riscv32 has no KASAN.
            }
            let path = dir.join(format!("{arch}-{mode}-{kasan}.json"));
            std::fs::write(&path, &o.stdout).unwrap();
            let out = ok(&["check", "--from", path.to_str().unwrap()]);
            assert!(out.starts_with(&format!("ok: {arch} {mode}")), "{arch} {mode} {kasan}: {out}");
        }
    }
    // The riscv32 splits: the file's `options.split` must plan the same split back.
    for split in ["3g", "2g", "1g", "4g4g"] {
        let o =
            kvas(&["layout", "--arch", "riscv32", "--mode", "sv32", "--split", split, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{split}: {}", stderr(&o));
        let path = dir.join(format!("riscv32-{split}.json"));
        std::fs::write(&path, &o.stdout).unwrap();
        let out = ok(&["check", "--from", path.to_str().unwrap()]);
        assert!(out.starts_with("ok: riscv32 sv32"), "{split}: {out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_that_cannot_be_written_is_an_error_not_success() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // Not Linux: no device that is always full.
    };
    for args in [
        &["layout", "--arch", "riscv64", "--mode", "sv39"][..],
        &["layout", "--arch", "riscv64", "--mode", "sv39", "--format", "json"],
        &["check", "--arch", "riscv64", "--mode", "sv39"],
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--only", "linear"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_kvas"))
            .args(args)
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "kvas {args:?}: {err}");
        assert!(err.contains("kvas: error: cannot write the output: No space left on device"), "{err}");
    }
}

#[test]
fn diff_specs_name_the_key_and_refuse_repeats_and_empty_entries() {
    let b = "riscv64:sv48";
    bad(
        &["diff", "riscv64:sv39:kernel-size=3Q", b],
        "'riscv64:sv39:kernel-size=3Q': kernel-size: '3Q' is not a size: unknown unit",
    );
    bad(
        &["diff", b, "riscv64:sv39:ram=-1"],
        "'riscv64:sv39:ram=-1': ram: '-1' is not a size: a size cannot be negative",
    );
    bad(&["diff", "riscv64:sv39:ram=", b], "'riscv64:sv39:ram=': ram: '' is not a size: it is empty");
    bad(&["diff", "riscv64:sv39:ram=1G,ram=2G", b], "'riscv64:sv39:ram=1G,ram=2G': ram is given twice");
    bad(&["diff", "riscv64:sv39:kasan=generic,", b], "an empty entry in the KEY=VALUE list");
    bad(&["diff", "riscv64:sv39:", b], "an empty entry in the KEY=VALUE list");
    // A good spec still works.
    let out = ok(&["diff", "riscv64:sv39:kasan=generic,ram=2G", b]);
    assert!(out.contains("regions changed"), "{out}");
}

#[test]
fn check_from_refuses_options_it_would_ignore() {
    let dir = scratch("from-conflicts");
    let path = edited_layout(&dir, "plain.json", |_| {});
    ok(&["check", "--from", &path]);
    bad(
        &["check", "--from", &path, "--arch", "riscv64"],
        "'--from <FILE>' cannot be used with '--arch <ARCH>'",
    );
    bad(&["check", "--from", &path, "--mode", "sv48"], "'--from <FILE>' cannot be used with '--mode <MODE>'");
    for opt in [["--kernel-size", "3G"], ["--ram", "1G"], ["--kasan", "generic"], ["--kaslr-offset", "2M"]] {
        bad(&["check", "--from", &path, opt[0], opt[1]], "'--from <FILE>' cannot be used with");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- layout helper (issues 16 and 10): KASLR, arm64 modes, arm32 rows, riscv32 RAM,
// ---- check refusing what layout refuses, errors naming options, explain's physical addresses.

#[test]
fn check_refuses_what_layout_refuses() {
    // Issue 10 item 6: sv39 with a 1 GiB KASLR offset and no image size.
    violated(
        &["check", "--arch", "riscv64", "--mode", "sv39", "--kaslr-offset", "1G"],
        "KASLR offset 0x40000000 is out of range: Linux draws at most 0x3fe00000",
    );
    // Every planner refusal is a failed check, never "every invariant holds".
    let cases: &[&[&str]] = &[
        &["--arch", "riscv64", "--mode", "sv39", "--kaslr-offset", "1G"],
        &["--arch", "riscv64", "--mode", "sv48", "--kernel-size", "3M", "--kaslr-offset", "1020M"],
        &["--arch", "riscv64", "--mode", "sv57", "--kaslr-offset", "3M"],
        &["--arch", "x86_64", "--mode", "4level", "--kaslr-offset", "1010M"],
        &["--arch", "x86_64", "--mode", "5level", "--kaslr", "off", "--kernel-size", "600M"],
        &["--arch", "arm64", "--mode", "16k-47", "--kaslr-offset", "2050M"],
        &["--arch", "arm32", "--mode", "3g", "--kernel-size", "800M"],
        &["--arch", "riscv32", "--mode", "sv32", "--ram", "17G"],
    ];
    for case in cases {
        let layout: Vec<&str> = ["layout"].iter().chain(case.iter()).copied().collect();
        let o = kvas(&layout);
        assert_eq!(o.status.code(), Some(2), "kvas {layout:?} should refuse: {}", stdout(&o));
        let check: Vec<&str> = ["check"].iter().chain(case.iter()).copied().collect();
        let o = kvas(&check);
        assert_ne!(o.status.code(), Some(0), "kvas {check:?} passed what layout refuses: {}", stdout(&o));
        assert!(!stdout(&o).contains("every invariant holds"), "{check:?}");
    }
}

#[test]
fn errors_name_the_options_and_their_values() {
    // Issue 10 item 7: no invented 0xffffffffffffffff-byte range, both options named.
    let args = [
        "check",
        "--arch",
        "riscv64",
        "--mode",
        "sv39",
        "--kaslr-offset",
        "0xffffffffffe00000",
        "--kernel-size",
        "2M",
    ];
    bad(&args, "--kaslr-offset 0xffffffffffe00000 plus --kernel-size 0x200000 from KERNEL_LINK_ADDR");
    assert!(!stderr(&kvas(&args)).contains("0xffffffffffffffff bytes"));
    bad(
        &args.map(|a| if a == "check" { "layout" } else { a }),
        "KASLR offset 0xffffffffffe00000 is out of range",
    );
    bad(
        &["check", "--arch", "x86_64", "--mode", "4level", "--kernel-size", "3G"],
        "--kernel-size 0xc0000000 from __START_KERNEL 0xffffffff81000000 runs past the end",
    );
    bad(
        &["check", "--arch", "arm64", "--mode", "4k-48", "--kaslr-offset", "0xffffffffffe00000"],
        "--kaslr-offset 0xffffffffffe00000 plus --kernel-size 0x0 from KIMAGE_VADDR",
    );
    bad(
        &["check", "--arch", "arm32", "--mode", "3g", "--kernel-size", "0xffffffffffff0000"],
        "--kernel-size 0xffffffffffff0000: the image would run past the end of the 32-bit address space",
    );
    bad(
        &["check", "--arch", "riscv32", "--mode", "sv32", "--kernel-size", "2G"],
        "--kernel-size 0x80000000: the image would run past the end of the 32-bit address space",
    );
    bad(&["layout", "--arch", "arm32", "--mode", "3g", "--kaslr", "on"], "--kaslr on is not supported");
    bad(
        &["layout", "--arch", "x86_64", "--mode", "4level", "--kaslr", "off", "--kaslr-offset", "2M"],
        "must be 0 without KASLR",
    );
}

#[test]
fn explain_refuses_physical_addresses_beyond_the_architecture() {
    // Issue 10 item 9.
    let sv39 = ["explain", "--arch", "riscv64", "--mode", "sv39"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { sv39.iter().chain(extra).copied().collect() };
    bad(
        &with(&["0xffffffd600001000", "--ram-base", "0xffffffffffe00000"]),
        "--ram-base 0xffffffffffe00000 is not a physical address of riscv64 sv39: it has 56 bits",
    );
    bad(
        &with(&["0xffffffff80001000", "--load-addr", "0xffffffffffffffff"]),
        "--load-addr 0xffffffffffffffff is not a physical address",
    );
    // Valid bases whose sum with the offset leaves the 56 bits.
    bad(
        &with(&["0xffffffff80001000", "--load-addr", "0xfffffffffff000"]),
        "beyond the 56-bit physical addresses",
    );
    bad(
        &with(&["0xfffffff5ffffffff", "--ram-base", "0xffffffffe00000"]),
        "beyond the 56-bit physical addresses",
    );
    bad(
        &["explain", "0xc0001000", "--arch", "arm32", "--mode", "3g", "--ram-base", "0x100000000"],
        "it has 32 bits",
    );
    let ok_line = ok(&with(&["0xffffffd600001000", "--ram-base", "0x80000000"]));
    assert!(ok_line.contains("physical 0x80001000"), "{ok_line}");
}

#[test]
fn explain_maps_the_tail_of_linux_last_image_step() {
    // Issue 16 item 1: Linux maps the image in whole 2 MiB steps (create_kernel_page_table),
    // so 0x1e6c000 bytes take 16 steps and _end..0xffffffff82000000 is mapped.
    let args = |va: &'static str, rules: &'static str| {
        ["explain", va, "--arch", "riscv64", "--mode", "sv39", "--kernel-size", "0x1e6c000", "--rules", rules]
    };
    let tail = ok(&args("0xffffffff81fff000", "linux"));
    assert!(tail.contains("past _end (0xffffffff81e6c000) in the image's last 2 MiB step"), "{tail}");
    assert!(tail.contains("physical 0x821ff000"), "{tail}");
    let kvas_rules = ok(&args("0xffffffff81fff000", "kvas"));
    assert!(kvas_rules.contains("outside the image"), "{kvas_rules}");
    let beyond = ok(&args("0xffffffff82000000", "linux"));
    assert!(beyond.contains("outside the image"), "{beyond}");
    let inside = ok(&args("0xffffffff81e6b000", "linux"));
    assert!(inside.contains("kernel image +0x1e6b000: physical 0x8206b000"), "{inside}");
}

#[test]
fn x86_64_kaslr_on_and_off() {
    // asm/page_64_types.h: KERNEL_IMAGE_SIZE 1 GiB with RANDOMIZE_BASE, 512 MiB without.
    let on = ok(&["layout", "--arch", "x86_64", "--mode", "4level"]);
    assert!(on.contains(" ffffffffc0000000 |"), "{on}");
    assert!(on.contains("modules window  1008 MiB (ffffffffc0000000-fffffffffeffffff)"), "{on}");
    assert!(on.contains("KASLR           on: offset 0x0, Linux draws 0 to 0x3f000000"), "{on}");
    let off = ok(&["layout", "--arch", "x86_64", "--mode", "4level", "--kaslr", "off"]);
    assert!(off.contains("modules window  1520 MiB (ffffffffa0000000-fffffffffeffffff)"), "{off}");
    let json: Value =
        serde_json::from_str(&ok(&["layout", "--arch", "x86_64", "--mode", "5level", "--format", "json"]))
            .unwrap();
    assert_eq!(json["options"]["kaslr"], Value::Bool(true));
    let modules = json["regions"].as_array().unwrap().iter().find(|r| r["name"] == "modules").unwrap();
    assert_eq!(hex(&modules["start"]), 0xffff_ffff_c000_0000);
    let d = ok(&["diff", "x86_64:4level:kaslr=off", "x86_64:4level"]);
    assert!(d.contains("modules") && d.contains("ffffffffa0000000"), "{d}");
    ok(&["check", "--arch", "x86_64", "--mode", "4level", "--kernel-size", "20M", "--kaslr-offset", "988M"]);
    violated(
        &["check", "--arch", "x86_64", "--mode", "4level", "--kernel-size", "20M", "--kaslr-offset", "990M"],
        "KASLR offset 0x3de00000 is out of range: Linux draws at most 0x3dc00000",
    );
}

#[test]
fn arm64_every_mode_and_arm32_rows_and_riscv32_ram() {
    let all = ok(&["layout", "--arch", "arm64", "--mode", "all", "--format", "dump"]);
    for mode in
        ["4k-39", "4k-48", "4k-52", "16k-36", "16k-47", "16k-48", "16k-52", "64k-42", "64k-48", "64k-52"]
    {
        assert!(all.contains(&format!("# arm64 {mode}\n")), "{mode}: {all}");
        ok(&["check", "--arch", "arm64", "--mode", mode]);
    }
    bad(&["layout", "--arch", "arm64", "--mode", "16k-52", "--profile", "linux-doc"], "16K/52-bit");
    let arm32 = ok(&["layout", "--arch", "arm32", "--mode", "3g"]);
    for row in [
        "   ffff8000 |      -32 KiB |   ffffffff |     32 KiB | copy-user      | copy_user_page / clear_user_page use",
        "   ffff1000 |      -60 KiB |   ffff7fff |     28 KiB | reserved       | reserved",
        "   fffe8000 |      -96 KiB |   fffeffff |     32 KiB | dtcm           | DTCM",
        "   fffe0000 |     -128 KiB |   fffe7fff |     32 KiB | itcm           | ITCM",
    ] {
        assert!(arm32.contains(row), "{row:?} not in {arm32}");
    }
    // Issue 16 item 6: riscv32 with 1 GiB and more, as Linux keeps it.
    let rv32 = ok(&["layout", "--arch", "riscv32", "--mode", "sv32", "--ram", "2G"]);
    assert!(rv32.contains("RAM is capped at 1 GiB (memory_limit = KERN_VIRT_SIZE), 1 GiB dropped"), "{rv32}");
    assert!(rv32.contains("top page is reserved"), "{rv32}");
    let dump = ok(&["layout", "--arch", "riscv32", "--mode", "sv32", "--ram", "1G", "--format", "dump"]);
    assert!(dump.contains("      lowmem : 0xc0000000 - 0x00000000   (1024 MB)"), "{dump}");
}

/// Device trees nobody should trust: every one exits 2 with the library's
/// reason (whatever `kvas map` prefixes it with), never a panic.
#[test]
fn hostile_device_trees_exit_2_with_the_reason() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kvas/tests/data");
    let dir = scratch("dtbs");
    let map = |dtb: &std::path::Path, needle: &str| {
        bad(&["map", "--mode", "sv39", "--only", "linear", "--dtb", dtb.to_str().unwrap()], needle)
    };
    map(&dir, "Is a directory");
    map(&dir.join("absent.dtb"), "No such file");
    let good = std::fs::read(data.join("qemu-virt-1g.dtb")).unwrap();
    for (len, needle) in [(0, "shorter than a device-tree header"), (39, "shorter than a device-tree header")]
    {
        let cut = dir.join(format!("cut-{len}.dtb"));
        std::fs::write(&cut, &good[..len]).unwrap();
        map(&cut, needle);
    }
    for len in [40, 100, good.len() / 2, good.len() - 1] {
        let cut = dir.join(format!("cut-{len}.dtb"));
        std::fs::write(&cut, &good[..len]).unwrap();
        map(&cut, "malformed device tree at byte");
    }
    let text = dir.join("text.dtb");
    std::fs::write(&text, "/dts-v1/;\n\n/ {\n    model = \"not compiled: source text\";\n};\n").unwrap();
    map(&text, "bad magic (not a flattened device tree)");
    for (name, needle) in [
        ("hand-no-memory-node.dtb", "the device tree has no memory node"),
        ("hand-no-memory.dtb", "memory nodes (1) are all disabled"),
        ("hand-tiny-banks.dtb", "hold no whole 4 KiB page"),
        (
            "hand-wrapping-bank.dtb",
            "node /memory (number 1 in the tree): range of 0x2000 bytes at 0xfffffffffffff000",
        ),
        ("hand-memreserve-high.dtb", "node /memreserve/ (number 2 in the tree)"),
    ] {
        map(&data.join(name), needle);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// `kvas map` built by kvas::kspace (helper `kspace`: issues 9, 10 items 10-11, 16 item 1).
// ---------------------------------------------------------------------------

const KSPACE_DTBS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kvas/tests/data/");

#[test]
fn map_format_built_prints_the_kernel_s_lines() {
    // Sv39, 1 GiB: the lines the kernel prints for the same RAM and image
    // (1 MiB text, 256 KiB rodata, 4 MiB in all, at 0x80200000), in address order.
    let out = ok(&[
        "map",
        "--mode",
        "sv39",
        "--mem",
        "0x80000000:1G",
        "--kernel-size",
        "4M",
        "--text-size",
        "1M",
        "--rodata-size",
        "256K",
        "--finisher",
        "0x100000",
        "--format",
        "built",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    // fixmap: the finisher's page and the window slot, 4 KiB each.
    assert!(lines[0].starts_with("kvas: built fixmap leaves 4K=2 2M=0 1G=0 tables "), "{out}");
    // vmalloc: 64 pinned tables right below the root (64 GiB of 1 GiB entries in Sv39).
    assert_eq!(lines[1], "kvas: built vmalloc leaves 4K=0 2M=0 1G=0 tables 64");
    assert_eq!(lines[2], "kvas: built linear leaves 4K=512 2M=511 1G=0 tables 2");
    assert!(lines[3].starts_with("kvas: built modules leaves 4K=0 2M=0 1G=0 tables "), "{out}");
    assert_eq!(lines[4], "kvas: built kernel leaves 4K=512 2M=1 1G=0 tables 2");
}

#[test]
fn map_without_usable_ram_says_so_and_prints_the_notices() {
    // Issue 10 item 10: not "out of page-table frames at 0x0".
    for (args, notice) in [
        (
            &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--reserve", "0x80000000:1G:reserved"][..],
            None,
        ),
        (
            &["map", "--mode", "sv39", "--mem", "0x80000000:100", "--only", "linear"][..],
            Some("ignored RAM bank"),
        ),
    ] {
        let o = kvas(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("no usable RAM is left"), "{args:?}: {err}");
        assert!(!err.contains("out of page-table frames"), "{args:?}: {err}");
        if let Some(n) = notice {
            assert!(err.contains(n), "{args:?}: the notice is printed on failure too: {err}");
        }
    }
}

#[test]
fn map_counts_a_petabyte_of_linux_leaves_without_building_them() {
    // Issue 10 item 11: this took 36 s and 4.2 GB. Linux's base 0x200000 keeps
    // PAGE_OFFSET - base 2 MiB-aligned only: 2^50 / 2^21 = 2^29 leaves of 2 MiB,
    // in 2^20 + 2^11 + 4 tables below the root.
    let o = kvas(&[
        "map",
        "--mode",
        "sv57",
        "--rules",
        "linux",
        "--mem",
        "0x200000:1P",
        "--only",
        "linear",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("counted, not built"), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["leaves"]["2M"].as_u64(), Some(1 << 29));
    assert_eq!(v["pt_pages"].as_u64(), Some(1 + (1 << 20) + (1 << 11) + 4));
    assert_eq!(v["regions"][0]["counted"], true);
}

#[test]
fn map_linux_rules_place_kfence_top_down_or_where_told() {
    let dtb = format!("{KSPACE_DTBS}qemu-virt-1g.dtb");
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "map",
            "--mode",
            "sv39",
            "--rules",
            "linux",
            "--dtb",
            &dtb,
            "--dtb-addr",
            "0xbfe00000",
            "--kernel-size",
            "0x1e6c000",
            "--text-size",
            "12M",
            "--rodata-size",
            "6M",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let linear =
        |v: &Value| v["regions"].as_array().unwrap().iter().find(|r| r["name"] == "linear").cloned().unwrap();
    let kernel =
        |v: &Value| v["regions"].as_array().unwrap().iter().find(|r| r["name"] == "kernel").cloned().unwrap();
    // Default: top-down, the 2 MiB under the DTB (see tests/kspace.rs for the arithmetic).
    let v = run(&[]);
    assert_eq!(linear(&v)["kfence"], "0xbfc00000");
    assert_eq!(linear(&v)["leaves"]["4K"], 512);
    assert_eq!(linear(&v)["leaves"]["2M"], 511);
    assert_eq!(kernel(&v)["leaves"]["2M"], 16, "0x1e6c000 bytes: 16 x 2 MiB");
    // Off: no 4 KiB leaves at all (every piece is 2 MiB-aligned): 512 x 2M.
    let v = run(&["--kfence", "off"]);
    assert!(linear(&v).get("kfence").is_none());
    assert_eq!(linear(&v)["leaves"]["4K"], 0);
    assert_eq!(linear(&v)["leaves"]["2M"], 512);
    // At 0x90100000 (1 MiB off the grid): 512 x 4K, and the two 2 MiB blocks it
    // touches lose their 2M leaves: 2 x 256 x 4K more, 512 - 2 = 510 x 2M.
    let v = run(&["--kfence", "0x90100000"]);
    assert_eq!(linear(&v)["kfence"], "0x90100000");
    assert_eq!(linear(&v)["leaves"]["4K"], 1024);
    assert_eq!(linear(&v)["leaves"]["2M"], 510);
}

#[test]
fn map_refuses_image_sections_that_do_not_fit() {
    bad(
        &[
            "map",
            "--mode",
            "sv39",
            "--mem",
            "0x80000000:1G",
            "--kernel-size",
            "2M",
            "--text-size",
            "1M",
            "--rodata-size",
            "2M",
        ],
        "--rodata-size",
    );
    bad(&["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--kfence", "nowhere"], "--kfence");
    bad(&["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--load-addr", "0x40000000"], "--load-addr");
    // Issue 10 item 7's class: an image past the kernel PUD is named, not an overflow panic.
    bad(&["map", "--mode", "sv39", "--mem", "0x80000000:4G", "--kernel-size", "3G"], "riscv64 kernel PUD");
    // A KFENCE pool over the image is refused, not mapped twice.
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--rules", "linux", "--kfence", "0x80200000"],
        "free RAM",
    );
}

#[test]
fn map_counted_tables_still_need_free_frames() {
    // The petabyte again, but only 16 MiB (4096 frames) free for its 2^20 + 2^11 + 4
    // tables: counting must not report a build that could not happen.
    let o = kvas(&[
        "map",
        "--mode",
        "sv57",
        "--rules",
        "linux",
        "--mem",
        "0x200000:1P",
        "--reserve",
        "0x1200000:0x3ffffff000000:reserved",
        "--only",
        "linear",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("1050628"), "{}", stderr(&o));
}

#[test]
fn map_rodata_may_start_after_a_gap() {
    // Linux keeps init data between text and rodata; the kvas kernel maps only its
    // sections, so a 1 MiB gap at [1M, 2M) of a 4 MiB image is left out: 3 MiB mapped.
    let v: Value = serde_json::from_str(&ok(&[
        "map",
        "--mode",
        "sv39",
        "--mem",
        "0x80000000:1G",
        "--kernel-size",
        "4M",
        "--text-size",
        "1M",
        "--rodata-start",
        "2M",
        "--rodata-size",
        "1M",
        "--format",
        "json",
    ]))
    .unwrap();
    let kernel = v["regions"].as_array().unwrap().iter().find(|r| r["name"] == "kernel").unwrap().clone();
    assert_eq!(kernel["bytes"].as_u64(), Some(3 << 20));
    bad(
        &[
            "map",
            "--mode",
            "sv39",
            "--mem",
            "0x80000000:1G",
            "--text-size",
            "1M",
            "--rodata-start",
            "0x80000",
        ],
        "--rodata-start",
    );
}

// ---- issue 14 item 4 and issue 13 items 2 and 5 (layout side) ----

/// The riscv32 kvas kernel's layout under `split` with extra options.
fn rv32(split: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["layout", "--arch", "riscv32", "--mode", "sv32", "--split", split]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn ok_owned(args: &[String]) -> String {
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn riscv32_splits_show_the_kernel_side_as_it_is() {
    // Lowmem from PAGE_OFFSET to the shared top 0xf0000000; the rest of 2 GiB of
    // RAM is highmem: 2048 - 768 = 1280 MiB = 1.25 GiB (3g), 2048 - 1792 = 256 MiB (2g),
    // none once lowmem holds it all (1g: 2816 MiB, 4g4g: 3836 MiB). The table
    // prints sizes exact to two decimals in the largest unit: 1792 MiB is 1.75 GiB.
    for (split, window, lowmem, highmem, user) in [
        ("3g", "768 MiB (0xc0000000-0xefffffff", "768 MiB (c0000000-efffffff)", "1.25 GiB", "3 GiB"),
        ("2g", "1.75 GiB (0x80000000-0xefffffff", "1.75 GiB (80000000-efffffff)", "256 MiB", "2 GiB"),
        ("1g", "2.75 GiB (0x40000000-0xefffffff", "2 GiB (40000000-bfffffff)", "0 B", "1 GiB"),
        ("4g4g", "3836 MiB (0x00400000-0xefffffff", "2 GiB (00400000-803fffff)", "0 B", "3.75 GiB"),
    ] {
        let t = ok_owned(&rv32(split, &["--ram", "2G", "--kernel-size", "3M"]));
        assert!(t.contains(&format!("vmsplit={split}: the kvas riscv32 kernel")), "{t}");
        assert!(
            t.contains(&format!("  lowmem window   {window}, vmsplit={split}): RAM beyond it is highmem")),
            "{t}"
        );
        assert!(t.contains(&format!("  lowmem          {lowmem}\n")), "{split}: {t}");
        assert!(t.contains(&format!("  highmem         {highmem}\n")), "{split}: {t}");
        assert!(t.contains(&format!("  user space      {user}\n")), "{split}: {t}");
        // Seed 001's price of the image in the shared top, for a 3 MiB image (one
        // 4 MiB megapage): 4M/4G = 0.098% -> 0.10%, 4M/256M = 1.5625% -> 1.56%.
        assert!(
            t.contains("  image cost      4 MiB in 4 MiB steps: 0.10% of the 4 GiB address space, 1.56% of the 256 MiB"),
            "{t}"
        );
        assert!(t.contains("seed 001 priced these at 0.1% and 1.5%"), "{t}");
        assert!(!t.contains("RAM is capped at 1 GiB"), "{t}");
        let check = ["check", "--arch", "riscv32", "--mode", "sv32", "--split", split, "--ram", "2G"];
        assert!(ok(&check).starts_with("ok: riscv32 sv32"));
    }
    // A 9 MiB image takes three megapages: 12M/4G = 0.29%, 12M/256M = 4.69%.
    let t = ok_owned(&rv32("3g", &["--kernel-size", "9M"]));
    assert!(
        t.contains("12 MiB in 4 MiB steps: 0.29% of the 4 GiB address space, 4.69% of the 256 MiB"),
        "{t}"
    );
    let t = ok_owned(&rv32("4g4g", &[]));
    assert!(t.contains("(4G/4G: 0-efffffff in an address space of its own"), "{t}");
    // Linux's riscv32 without --split is unchanged.
    let t = ok(&["layout", "--arch", "riscv32", "--mode", "sv32", "--ram", "2G"]);
    assert!(t.contains("RAM is capped at 1 GiB") && !t.contains("image cost"), "{t}");
}

#[test]
fn riscv32_split_dump_and_json_have_what_the_kernel_prints() {
    // The boot test's oracle: `--format dump` with the split and the RAM the
    // kernel reports (`kvas: ram ... size 0x40000000`), 3g.
    let d = ok_owned(&rv32("3g", &["--ram", "0x40000000", "--kernel-size", "3M", "--format", "dump"]));
    assert_eq!(
        d,
        "Virtual kernel memory layout:
      fixmap : 0xff800000 - 0xfffff000   (8188 kB)
       pkmap : 0xff400000 - 0xff800000   (4096 kB)
     vmalloc : 0xf0400000 - 0xff400000   ( 240 MB)
      lowmem : 0xc0000000 - 0xf0000000   ( 768 MB)
      kernel : 0xf0000000 - 0xf0400000   (4096 kB)
"
    );
    // `kvas: user space 0x00000000-0xEND (TASK_SIZE 0xSIZE)`: facts.user_bytes is
    // TASK_SIZE; 4G/4G gives user space 0xf0000000 bytes, 3g 0xc0000000.
    for (split, task_size) in [("3g", 0xc000_0000u64), ("4g4g", 0xf000_0000)] {
        let v: Value =
            serde_json::from_str(&ok_owned(&rv32(split, &["--ram", "1G", "--format", "json"]))).unwrap();
        assert_eq!(v["options"]["split"], split);
        assert_eq!(v["facts"]["user_bytes"].as_u64(), Some(task_size), "{split}");
        assert_eq!(
            v["facts"]["highmem_bytes"].as_u64(),
            Some((1 << 30) - (1u64 << 30).min(0xf000_0000 - hex(&v["page_offset"])))
        );
        // The JSON reads back with its split.
        let path = std::env::temp_dir().join(format!("kvas-rv32-{split}-{}.json", std::process::id()));
        std::fs::write(&path, v.to_string()).unwrap();
        let out = ok(&["check", "--from", path.to_str().unwrap()]);
        assert!(out.starts_with("ok: riscv32 sv32"), "{out}");
        let _ = std::fs::remove_file(&path);
    }
    let d = ok(&["diff", "riscv32:sv32:split=3g,ram=4G", "riscv32:sv32:split=4g4g,ram=4G"]);
    assert!(
        d.contains(
            "  grown   lowmem          c0000000-efffffff -> 00400000-efffffff  (768 MiB -> 3836 MiB, moved)"
        ),
        "{d}"
    );
    assert!(d.contains("  new     null-trap       00000000-003fffff  (4 MiB)"), "{d}");
}

#[test]
fn riscv32_split_refusals() {
    bad(
        &["layout", "--arch", "riscv32", "--mode", "sv32", "--split", "5g"],
        "unknown split '5g' (expected 3g, 2g, 1g, 4g4g)",
    );
    bad(&["layout", "--arch", "arm32", "--mode", "3g", "--split", "3g"], "only riscv32 takes a split");
    bad(&["layout", "--arch", "riscv64", "--mode", "sv39", "--split", "4g4g"], "only riscv32 takes a split");
    // 0xff400000 - 4 MiB - 0xf0000000 = 240 MiB is the largest image.
    ok_owned(&rv32("2g", &["--kernel-size", "240M"]));
    let args = rv32("2g", &["--kernel-size", "241M"]);
    bad(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "kernel image of 0xf100000 bytes does not fit the shared top 256 MiB (the image, and at least 4 MiB of vmalloc): at most 0xf000000 bytes",
    );
    violated(
        &["check", "--arch", "riscv32", "--mode", "sv32", "--split", "2g", "--kernel-size", "241M"],
        "missing region: vmalloc",
    );
    violated(
        &["check", "--arch", "riscv32", "--mode", "sv32", "--split", "4g4g", "--ram", "17G"],
        "RAM is 0x440000000",
    );
    bad(
        &["layout", "--arch", "riscv32", "--mode", "sv32", "--split", "3g", "--kaslr-offset", "2M"],
        "no KASLR",
    );
}

#[test]
fn arm32_4g4g_kernel_side_is_its_own_space() {
    // Lowmem 0x01000000-0xefffffff (3824 MiB); 4 GiB of RAM leaves 272 MiB of highmem.
    let t = ok(&["layout", "--arch", "arm32", "--mode", "4g4g", "--ram", "4G"]);
    assert!(t.contains("  lowmem          3824 MiB (01000000-efffffff)"), "{t}");
    assert!(t.contains("  highmem         272 MiB"), "{t}");
    assert!(t.contains("   00000000 |            0 |   001fffff |      2 MiB | null-trap"), "{t}");
    assert!(t.contains("(4G/4G: 0-efffffff in an address space of its own"), "{t}");
    bad(&["layout", "--arch", "arm32", "--mode", "4g4g", "--kasan", "generic"], "no room below the modules");
    // The 32-bit end of the space prints as 0, as Linux's unsigned long does.
    let d = ok(&["layout", "--arch", "arm32", "--mode", "4g4g", "--format", "dump"]);
    assert!(d.contains("   copy-user : 0xffff8000 - 0x00000000   (  32 kB)"), "{d}");
}

#[test]
fn kaslr_modules_windows_in_the_notes() {
    // A 20 MiB riscv64 image: offsets 0 to ((1G - 20M)/2M - 1) * 2M = 0x3ea00000.
    // Window = [PFN_ALIGN(_end) - 2G, _start): offset 0 gives
    // [0xffffffff81400000 - 2G, 0xffffffff80000000), the last offset 0x3ea00000 higher.
    let t = ok(&[
        "layout",
        "--arch",
        "riscv64",
        "--mode",
        "sv39",
        "--kernel-size",
        "20M",
        "--kaslr-offset",
        "64M",
    ]);
    assert!(
        t.contains("offset 0 gives ffffffff01400000-ffffffff7fffffff, offset 0x3ea00000 gives ffffffff3fe00000-ffffffffbe9fffff"),
        "{t}"
    );
    assert!(t.contains("every window lies in ffffffff01400000-ffffffffbe9fffff (3030 MiB)"), "{t}");
    assert!(t.contains("and ffffffff3fe00000-ffffffff7fffffff (1026 MiB) is in every one"), "{t}");
    let v: Value = serde_json::from_str(&ok(&[
        "layout",
        "--arch",
        "riscv64",
        "--mode",
        "sv48",
        "--kernel-size",
        "20M",
        "--format",
        "json",
    ]))
    .unwrap();
    let w = &v["facts"]["kaslr_modules_windows"];
    assert_eq!(w["max_offset"].as_u64(), Some(0x3ea0_0000));
    assert_eq!(hex(&w["highest"]["end"]), 0xffff_ffff_be9f_ffff);
    // x86-64: the modules area does not move; without KASLR there is no note.
    let t = ok(&["layout", "--arch", "x86_64", "--mode", "4level"]);
    assert!(t.contains("the modules window stays put for every offset"), "{t}");
    let t = ok(&["layout", "--arch", "riscv64", "--mode", "sv39", "--kaslr", "off"]);
    assert!(!t.contains("with KASLR"), "{t}");
}

#[test]
fn check_refuses_kaslr_offsets_outside_linux_riscv64_range() {
    // setup_vm(): nr_pos = (PUD_SIZE - kernel_size) / PMD_SIZE; a 4 MiB image has
    // (1024 - 4)/2 = 510 positions, the last at 509 * 2 MiB = 1018 MiB (0x3fa00000).
    for mode in ["sv39", "sv48", "sv57"] {
        let c = ["check", "--arch", "riscv64", "--mode", mode, "--kernel-size", "4M", "--kaslr-offset"];
        ok(&[&c[..], &["1018M"]].concat());
        violated(
            &[&c[..], &["1020M"]].concat(),
            "KASLR offset 0x3fc00000 is out of range: Linux draws at most 0x3fa00000 for a kernel of 0x400000 bytes",
        );
        bad(
            &[
                "layout",
                "--arch",
                "riscv64",
                "--mode",
                mode,
                "--kernel-size",
                "4M",
                "--kaslr-offset",
                "1020M",
            ],
            "KASLR offset 0x3fc00000 is out of range: at most 0x3fa00000",
        );
    }
}

#[test]
fn explain_takes_the_kaslr_offset_layout_takes() {
    // The same options to layout and explain: every region start layout prints
    // is named alike by explain, and an image address translates from _start.
    let opts = ["--arch", "riscv64", "--mode", "sv48", "--kernel-size", "20M", "--kaslr-offset", "0x6400000"];
    let v: Value =
        serde_json::from_str(&ok(&[&["layout"][..], &opts, &["--format", "json"]].concat())).unwrap();
    for r in v["regions"].as_array().unwrap() {
        let start = format!("{:#x}", hex(&r["start"]));
        let e = ok(&[&["explain", start.as_str()][..], &opts].concat());
        let name = r["name"].as_str().unwrap();
        assert!(e.contains(&format!(": {name} (")), "{start}: {e}");
    }
    // _start = 0xffffffff80000000 + 100 MiB; modules end there, the image begins.
    let image = hex(&v["facts"]["kernel_image"]["start"]);
    assert_eq!(image, 0xffff_ffff_8640_0000);
    let e = ok(&[&["explain", "0xffffffff86401000"][..], &opts].concat());
    assert!(e.contains("kernel image +0x1000: physical 0x80201000"), "{e}");
    let e = ok(&[&["explain", "0xffffffff863ff000"][..], &opts].concat());
    assert!(e.contains(": bpf ("), "{e}");
    // The kernel's `kvas: kaslr offset` line and its dump: the dump follows the
    // offset. _end = 0xffffffff86400000 + 20 MiB = 0xffffffff87800000, so the
    // modules start 2 GiB below it at 0xffffffff07800000 (0x7ec00000 = 2028 MB up
    // to _start); the kernel line runs to ADDRESS_SPACE_END: 0x79bfffff >> 20 = 1947 MB.
    let d = ok(&[&["layout"][..], &opts, &["--format", "dump"]].concat());
    assert!(d.contains("     modules : 0xffffffff07800000 - 0xffffffff86400000   (2028 MB)\n"), "{d}");
    assert!(d.contains("      kernel : 0xffffffff86400000 - 0xffffffffffffffff   (1947 MB)\n"), "{d}");
    // An offset layout refuses, explain refuses with the same words.
    let bad_opts = ["--arch", "riscv64", "--mode", "sv48", "--kernel-size", "20M", "--kaslr-offset", "1004M"];
    bad(&[&["layout"][..], &bad_opts].concat(), "at most 0x3ea00000");
    bad(&[&["explain", "0xffffffff80000000"][..], &bad_opts].concat(), "at most 0x3ea00000");
}

// ---- kvas map for x86_64 and arm64 (issue 17: the direct map / linear region) ----

/// `kvas map ... --format json` for a non-RISC-V arch, parsed.
fn map_json(arch: &str, mode: &str, mem: &str, rules: &str) -> Value {
    let out =
        ok(&["map", "--arch", arch, "--mode", mode, "--mem", mem, "--rules", rules, "--format", "json"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn leaves(v: &Value) -> Vec<u64> {
    ["4K", "2M", "1G"].iter().map(|k| v["leaves"][k].as_u64().unwrap()).collect()
}

#[test]
fn map_x86_64_direct_map_in_both_depths() {
    // RAM from 1 MiB to 4 GiB and 4..7 GiB, as a PC's E820 might say.
    let mem = "0x100000:0xfff00000,0x100000000:3G";
    for (mode, offset) in [("4level", 0xffff_8880_0000_0000u64), ("5level", 0xff11_0000_0000_0000)] {
        // kvas: the fewest leaves for the RAM as given.
        let v = map_json("x86_64", mode, mem, "kvas");
        assert_eq!((v["arch"].as_str(), v["mode"].as_str()), (Some("x86_64"), Some(mode)));
        assert_eq!(leaves(&v), [256, 511, 6]);
        assert_eq!(hex(&v["regions"][0]["page_offset"]), offset);
        // Linux: the ISA megabyte mapped although it is not RAM, then 1 GiB pages.
        let v = map_json("x86_64", mode, mem, "linux");
        assert_eq!(leaves(&v), [512, 511, 6]);
        assert_eq!(v["mapped_bytes"].as_u64(), Some(7 << 30));
        assert_eq!(v["pt_pages"].as_u64(), Some(if mode == "4level" { 4 } else { 5 }));
    }
}

#[test]
fn map_arm64_linear_region_with_and_without_linux_rules() {
    let v = map_json("arm64", "4k-48", "0x40000000:2G", "kvas");
    assert_eq!(leaves(&v), [0, 0, 2]);
    assert_eq!(hex(&v["regions"][0]["page_offset"]), 0xffff_0000_0000_0000);
    // rodata=full: Linux maps the linear region with 4 KiB pages only.
    let v = map_json("arm64", "4k-39", "0x40000000:2G", "linux");
    assert_eq!(leaves(&v), [524_288, 0, 0]);
    assert_eq!(v["regions"][0]["phys_base"].as_str(), Some("0x40000000"));
    let table =
        ok(&["map", "--arch", "arm64", "--mode", "4k-39", "--mem", "0x40000000:2G", "--rules", "linux"]);
    assert!(table.contains("with rodata=on (block mappings): leaves 4K 0, 2M 0, 1G 2"), "{table}");
    // 52-bit (LPA2): 512 GiB blocks exist; 4 TiB at 0 uses them.
    let v = map_json("arm64", "4k-52", "0:4T", "kvas");
    assert_eq!(v["leaves"]["512G"].as_u64(), Some(8));
    assert_eq!(hex(&v["regions"][0]["page_offset"]), 0xfff0_0000_0000_0000);
}

#[test]
fn map_x86_64_and_arm64_json_keeps_its_fields() {
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<String>>();
    for (arch, mode, mem) in
        [("x86_64", "4level", "0x100000:0xfff00000,0x100000000:3G"), ("arm64", "4k-48", "0x40000000:2G")]
    {
        let v = map_json(arch, mode, mem, "kvas");
        assert_eq!(keys(&v), ["arch", "mode", "pt_pages", "leaves", "mapped_bytes", "regions"], "{arch}");
        assert_eq!(v["regions"].as_array().unwrap().len(), 1, "{arch}");
        let r = &v["regions"][0];
        assert_eq!(
            keys(r),
            ["name", "leaves", "bytes", "page_offset", "phys_base", "capped_bytes"],
            "{arch}: one linear region, no riscv64 kernel-space fields"
        );
        assert_eq!(
            (&r["name"], &r["leaves"], &r["bytes"]),
            (&"linear".into(), &v["leaves"], &v["mapped_bytes"])
        );
    }
    // RAM past x86-64's 64 TiB window: capped, and said so in the region.
    let v = map_json("x86_64", "4level", "0:100T", "kvas");
    assert_eq!(v["regions"][0]["capped_bytes"].as_u64(), Some(36 << 40));
    assert_eq!(v["regions"][0]["phys_base"], "0x0");
    assert_eq!(v["mapped_bytes"].as_u64(), Some(64 << 40));
}

#[test]
fn map_other_arches_refuse_clearly() {
    bad(&["map", "--arch", "x86_64", "--mode", "sv48", "--mem", "0:1G"], "unknown mode 'sv48' for x86_64");
    bad(&["map", "--arch", "arm64", "--mode", "64k-52", "--mem", "0:1G"], "unknown mode '64k-52' for arm64");
    bad(
        &["map", "--arch", "arm32", "--mode", "3g", "--mem", "0:1G"],
        "supports --arch riscv64, riscv32, x86_64 and arm64",
    );
    bad(&["map", "--arch", "x86_64", "--mode", "4level", "--mem", "0:1Q"], "--mem");
    let o = kvas(&["map", "--arch", "arm64", "--mode", "4k-48", "--mem", "0:128G", "--rules", "linux"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("too many to simulate"), "{}", stderr(&o));
}

#[test]
fn map_riscv32_prints_the_kernels_built_lines_per_split() {
    let built = |split: &str, mem: &str| {
        let o = kvas(&[
            "map", "--arch", "riscv32", "--mode", "sv32", "--split", split, "--mem", mem, "--format", "built",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // 4G/4G, 4 GiB at 0x80000000: 3836 MiB of lowmem at 0x00400000 (the image's 4 MiB in
    // 4 KiB pages, 958 megapages), the image 2 MiB in 4 KiB pages, vmalloc's 60 pinned tables.
    assert_eq!(
        built("4g4g", "0x80000000:4G"),
        "kvas: built linear leaves 4K=1024 4M=958 tables 1\n\
         kvas: built kernel leaves 4K=512 4M=0 tables 1\n\
         kvas: built vmalloc leaves 4K=0 4M=0 tables 60\n\
         kvas: built pkmap leaves 4K=0 4M=0 tables 1\n\
         kvas: built fixmap leaves 4K=1 4M=0 tables 2\n"
    );
    // 3G/1G: only 768 MiB of it is lowmem.
    assert!(built("3g", "0x80000000:4G").starts_with("kvas: built linear leaves 4K=1024 4M=191 tables 1\n"));
    bad(
        &["map", "--arch", "riscv32", "--mode", "sv39", "--mem", "0x80000000:1G"],
        "unknown mode 'sv39' for riscv32",
    );
    bad(
        &["map", "--arch", "riscv32", "--mode", "sv32", "--split", "5g", "--mem", "0x80000000:1G"],
        "unknown split '5g'",
    );
    bad(
        &[
            "map",
            "--arch",
            "riscv32",
            "--mode",
            "sv32",
            "--mem",
            "0x80000000:1G",
            "--kaslr-offset",
            "0x200000",
        ],
        "it takes no --kaslr-offset 0x200000",
    );
    bad(
        &[
            "map",
            "--arch",
            "riscv32",
            "--mode",
            "sv32",
            "--mem",
            "0x80000000:1G",
            "--load-addr",
            "0x80200000",
        ],
        "--load-addr 0x80200000",
    );
}

// ---- issue 10 (hostile input, second pass): layouts, map, one size grammar ----

#[test]
fn arm32_ram_smaller_than_text_offset_is_refused_by_layout_and_check() {
    // layout panicked (lowmem - TEXT_OFFSET underflowed); check reported a range of
    // 0xffffffffffff9000 bytes nobody gave.
    for cmd in ["layout", "check"] {
        let args = [cmd, "--arch", "arm32", "--mode", "3g", "--ram", "4096"];
        bad(&args, "RAM of 0x1000 bytes is too small");
        let err = stderr(&kvas(&args));
        assert!(err.contains("needs at least 0x9000 bytes") && !err.contains("0xffff"), "{err}");
    }
}

#[test]
fn every_size_option_uses_the_one_grammar() {
    let layout =
        |opt: &str, v: &str| kvas(&["layout", "--arch", "riscv64", "--mode", "sv39", &format!("--{opt}"), v]);
    for opt in ["kernel-size", "kaslr-offset", "ram"] {
        // -1 reached clap as an unknown flag; 1iB and 1B were 1 byte.
        for (v, why) in [
            ("-1", "a size cannot be negative"),
            ("1iB", "unknown unit"),
            ("1B", "unknown unit"),
            ("2MB", "unknown unit"),
            ("0x10G", "a 0x number takes no K/M/G/T/P/E unit"),
        ] {
            let o = layout(opt, v);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "--{opt} {v}: {err}");
            assert!(
                err.contains(&format!("'{v}' is not a size: ")) && err.contains(why),
                "--{opt} {v}: {err}"
            );
        }
    }
    // The same words from the memory list, with the entry and its text; E works there too.
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G,0x100000000:0x10G"],
        "--mem: memory list, entry 2: '0x10G': not a hex number",
    );
    bad(&["map", "--mode", "sv39", "--mem", "0x80000000:1G,0x1_0000_000z:4K"], "entry 2: '0x1_0000_000z'");
    bad(&["map", "--mode", "sv39", "--mem", "0x80000000:1E"], "range of 0x1000000000000000 bytes");
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--reserve", "0x80000000:1iB"],
        "--reserve: memory list, entry 1: '1iB': unknown unit",
    );
    bad(&["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--kernel-size", "-2M"], "'-2M' is not a size");
    ok(&["layout", "--arch", "riscv64", "--mode", "sv39", "--kernel-size", "2MiB", "--ram", "1_024M"]);
}

#[test]
fn map_reads_a_bounded_dtb_and_names_refused_image_options() {
    // /dev/zero was read until memory ran out.
    bad(&["map", "--mode", "sv39", "--dtb", "/dev/zero"], "--dtb /dev/zero: larger than 2 MiB");
    // A plain file one byte past Linux's MAX_FDT_SIZE is refused for its size, unparsed.
    let big = std::env::temp_dir().join(format!("kvas-big-{}.dtb", std::process::id()));
    std::fs::write(&big, vec![0u8; (2 << 20) + 1]).unwrap();
    let o = kvas(&["map", "--mode", "sv39", "--dtb", big.to_str().unwrap()]);
    std::fs::remove_file(&big).unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("larger than 2 MiB, too large for a device tree"), "{}", stderr(&o));
    // --only linear built no image and exited 0 with the image options ignored.
    bad(
        &[
            "map",
            "--mode",
            "sv39",
            "--mem",
            "0x80000000:1G",
            "--only",
            "linear",
            "--kernel-size",
            "3G",
            "--load-addr",
            "0x1",
        ],
        "--only linear builds no image or fixmap, so it takes no --load-addr 0x1, --kernel-size 0xc0000000",
    );
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--only", "linear", "--kaslr-offset", "0"],
        "takes no --kaslr-offset 0x0",
    );
    ok(&["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--only", "linear"]);
    // Item 7: the option and its value, not only "does not fit".
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--kernel-size", "3G"],
        "--kernel-size 0xc0000000 (--load-addr 0x80200000): kernel image of 0xc0000000 bytes does not fit",
    );
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--kaslr-offset", "0xffffffffffe00000"],
        "--kaslr-offset 0xffffffffffe00000 with --kernel-size 0x200000: ",
    );
}

#[test]
fn map_prints_what_moving_the_linear_base_saves() {
    // RAM at 0x80200000 in Sv39: a 1 GiB-aligned base saves leaves and tables,
    // and map says so in the table and on the linear region of the JSON.
    let moved = ["map", "--mode", "sv39", "--mem", "0x80200000:8G"];
    let saving =
        "base 0x80000000, not Linux's phys_ram_base 0x80200000: saves 3577 leaves and 6 page-table pages";
    let t = ok(&moved);
    assert!(t.lines().any(|l| l == format!("linear map {saving}")), "{t}");
    let v: Value = serde_json::from_str(&ok(&[&moved[..], &["--format", "json"]].concat())).unwrap();
    let linear = v["regions"].as_array().unwrap().iter().find(|r| r["name"] == "linear").unwrap();
    assert_eq!(linear["base_choice"], saving);
    assert_eq!(linear["phys_base"], "0x80000000");
    assert_eq!(linear["linux_phys_base"], "0x80200000");
    assert_eq!((linear["saved_leaves"].as_u64(), linear["saved_tables"].as_u64()), (Some(3577), Some(6)));
    assert!(v["regions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"] == "linear" || r.get("base_choice").is_none()));
    // RAM at 0x80000000 in Sv48: a 512 GiB-aligned base (0) would save nothing,
    // so Linux's base stays, and map says it kept it.
    for args in [
        &["map", "--mode", "sv48", "--mem", "0x80000000:1G"][..],
        &["map", "--mode", "sv39", "--mem", "0x80200000:8G", "--rules", "linux", "--only", "linear"][..],
    ] {
        let t = ok(args);
        let base = if args.contains(&"linux") { "0x80200000" } else { "0x80000000" };
        assert!(t.lines().any(|l| l == format!("linear map base {base} (Linux's phys_ram_base)")), "{t}");
        let v: Value = serde_json::from_str(&ok(&[args, &["--format", "json"]].concat())).unwrap();
        let linear = v["regions"].as_array().unwrap().iter().find(|r| r["name"] == "linear").unwrap();
        assert_eq!(linear["phys_base"], linear["linux_phys_base"], "{args:?}");
        assert_eq!((linear["saved_leaves"].as_u64(), linear["saved_tables"].as_u64()), (Some(0), Some(0)));
    }
}

#[test]
fn map_refuses_a_kernel_text_outside_ram() {
    // It was ignored (exit 0): a text range with no linear alias protects nothing.
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--kernel-text", "0x0:1G"],
        "--kernel-text 0x0:0x40000000 does not lie inside one RAM bank",
    );
    bad(
        &[
            "map",
            "--mode",
            "sv39",
            "--mem",
            "0x80000000:1G",
            "--only",
            "linear",
            "--kernel-text",
            "0xbff00000:2M",
        ],
        "--kernel-text 0xbff00000:0x200000 does not lie inside one RAM bank",
    );
    ok(&[
        "map",
        "--mode",
        "sv39",
        "--mem",
        "0x80000000:1G",
        "--only",
        "linear",
        "--kernel-text",
        "0x80200000:1M",
    ]);
}

#[test]
fn planner_refusals_name_the_option_and_its_value() {
    // The library says "kernel image of ... bytes", "RAM of ... bytes", "KASLR
    // offset ...": kvas names the option the user gave, with its value.
    let cases: [(&[&str], &str); 6] = [
        (
            &["--arch", "riscv64", "--mode", "sv39", "--kernel-size", "3G"],
            "riscv64 sv39: --kernel-size 0xc0000000: kernel image",
        ),
        (
            &["--arch", "x86_64", "--mode", "4level", "--kaslr-offset", "0x7fe00000"],
            "x86_64 4level: --kaslr-offset 0x7fe00000: KASLR offset",
        ),
        (
            &["--arch", "arm64", "--mode", "4k-39", "--kaslr-offset", "0x100000"],
            "arm64 4k-39: --kaslr-offset 0x100000: KASLR offset",
        ),
        (
            &["--arch", "arm32", "--mode", "3g", "--ram", "4096"],
            "arm32 3g: --ram 0x1000: RAM of 0x1000 bytes is too small",
        ),
        (
            &["--arch", "arm64", "--mode", "64k-52", "--ram", "4096"],
            "arm64 64k-52: --ram 0x1000: RAM size 0x1000 is not aligned",
        ),
        (
            &["--arch", "riscv32", "--mode", "sv32", "--ram", "20G"],
            "riscv32 sv32: --ram 0x500000000: RAM of 0x500000000 bytes",
        ),
    ];
    for (opts, needle) in cases {
        bad(&[&["layout"][..], opts].concat(), needle);
        // --mode all stops at the first mode that refuses: the option part is the same.
        let option_part = needle.split_once(": ").unwrap().1;
        bad(&[&["layout"][..], &[opts[0], opts[1], opts[2], "all"], &opts[4..]].concat(), option_part);
    }
    // check, which plans without refusing what it reports, names it too.
    bad(
        &["check", "--arch", "arm32", "--mode", "1g", "--ram", "4096"],
        "arm32 1g: --ram 0x1000: RAM of 0x1000 bytes",
    );
}

#[test]
fn map_refuses_a_dtb_addr_it_would_ignore_or_that_overlaps_the_image() {
    // --dtb-addr without --dtb was ignored (exit 0).
    bad(
        &["map", "--mode", "sv39", "--mem", "0x80000000:1G", "--dtb-addr", "0x1"],
        "--dtb-addr 0x1 says where the --dtb blob lay: it needs --dtb",
    );
    // A blob over the image was accepted: one of them was loaded over the other.
    let dtb = concat!(env!("CARGO_MANIFEST_DIR"), "/../kvas/tests/data/qemu-virt-1g.dtb");
    bad(
        &["map", "--mode", "sv39", "--dtb", dtb, "--dtb-addr", "0x803ff000"],
        "--dtb-addr 0x803ff000: the device tree [0x803ff000, 0x80400384) overlaps the kernel image [0x80200000, 0x80400000)",
    );
    ok(&["map", "--mode", "sv39", "--dtb", dtb, "--dtb-addr", "0x80400000"]);
    ok(&["map", "--mode", "sv39", "--dtb", dtb, "--dtb-addr", "0xbfe00000", "--only", "linear"]);
}

#[test]
fn map_for_x86_64_and_arm64_refuses_the_riscv64_image_options_and_reads_a_bounded_dtb() {
    // They were ignored (exit 0): only the linear map is built there.
    bad(
        &["map", "--arch", "x86_64", "--mode", "4level", "--mem", "0:4G", "--kernel-size", "3G", "--kfence", "off"],
        "kvas map --arch x86_64 builds the linear map alone, so it takes no --kernel-size 0xc0000000, --kfence off",
    );
    bad(
        &["map", "--arch", "arm64", "--mode", "4k-48", "--mem", "0x40000000:1G", "--load-addr", "0x40200000"],
        "takes no --load-addr 0x40200000",
    );
    bad(
        &["map", "--arch", "arm64", "--mode", "4k-48", "--dtb", "/dev/zero"],
        "--dtb /dev/zero: larger than 2 MiB",
    );
    bad(
        &["map", "--arch", "arm64", "--mode", "4k-48", "--mem", "0x40000000:1G", "--kernel-text", "0:4K"],
        "--kernel-text 0x0:0x1000 does not lie inside one RAM bank",
    );
    ok(&[
        "map",
        "--arch",
        "arm64",
        "--mode",
        "4k-48",
        "--mem",
        "0x40000000:1G",
        "--kernel-text",
        "0x40200000:1M",
    ]);
}

/// The memory map's notices are printed for every architecture `kvas map` builds,
/// not only riscv64 (x86_64 and arm64 once read the map on their own and kept quiet).
#[test]
fn map_prints_the_memory_map_notices_for_every_arch() {
    for (arch, mode) in [("riscv64", "sv39"), ("x86_64", "4level"), ("arm64", "4k-48")] {
        let o = kvas(&["map", "--arch", arch, "--mode", mode, "--mem", "0x80000000:1G,0x80000000:1G"]);
        assert_eq!(o.status.code(), Some(0), "{arch}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("kvas: warning: RAM banks overlap on [0x80000000, 0xc0000000): merged"),
            "{arch}: {}",
            stderr(&o)
        );
    }
}

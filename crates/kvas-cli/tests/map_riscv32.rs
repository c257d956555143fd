//! `kvas map --arch riscv32`: the limits it shares with `kvas layout` and the DESIGN.md JSON
//! contract, run through the real binary.

use std::process::{Command, Output};

fn kvas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvas")).args(args).output().expect("run kvas")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn map(split: &str, mem: &str, format: &str) -> Output {
    kvas(&["map", "--arch", "riscv32", "--mode", "sv32", "--split", split, "--mem", mem, "--format", format])
}

#[test]
fn ram_past_the_34_bit_physical_limit_is_refused_like_layout_does() {
    // 20 GiB at 0x80000000 ends at 0x580000000: `kvas layout --ram 20G` refuses it, and map
    // reported highmem up to 0x580000000 and exited 0.
    let layout = kvas(&["layout", "--arch", "riscv32", "--mode", "sv32", "--split", "4g4g", "--ram", "20G"]);
    assert_eq!(layout.status.code(), Some(2), "{}", stderr(&layout));
    for split in ["3g", "4g4g"] {
        for (mem, range) in [
            ("0x80000000:20G", "[0x80000000, 0x580000000)"),
            ("0x80000000:1G,0x3fffff000:8K", "[0x3fffff000, 0x400001000)"),
        ] {
            for format in ["table", "built", "json"] {
                let o = map(split, mem, format);
                let err = stderr(&o);
                assert_eq!(o.status.code(), Some(2), "--split {split} --mem {mem}: {err}");
                assert!(o.stdout.is_empty(), "--mem {mem}: {}", String::from_utf8_lossy(&o.stdout));
                assert!(
                    err.contains(&format!("RAM {range} ends above the Sv32 physical address space"))
                        && err.contains("0x400000000"),
                    "{err}"
                );
            }
        }
    }
    // Up to the limit is fine: 14 GiB at 0x80000000 ends exactly at 0x400000000.
    let o = map("4g4g", "0x80000000:14G", "table");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[0x16fc00000, 0x400000000)"));
}

#[test]
fn json_follows_the_map_contract() {
    // DESIGN.md's `kvas map` contract: top-level `leaves` and `mapped_bytes`, each region's
    // `leaves` and `bytes`; riscv32 adds `arch`, `split`, `lowmem_bytes` and `highmem_bytes`.
    for (split, mem) in [("4g4g", "0x80000000:4G"), ("3g", "0x80000000:4G"), ("1g", "0x80000000:512M")] {
        let o = map(split, mem, "json");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
        let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"));
        assert_eq!(
            (j["arch"].as_str(), j["mode"].as_str(), j["split"].as_str()),
            (Some("riscv32"), Some("sv32"), Some(split))
        );
        let regions = j["regions"].as_array().expect("regions");
        let names: Vec<&str> = regions.iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names, ["linear", "kernel", "vmalloc", "pkmap", "fixmap"]);
        let (mut k4, mut m4, mut bytes) = (0, 0, 0);
        for r in regions {
            let (a, b) = (n(&r["leaves"]["4K"]), n(&r["leaves"]["4M"]));
            assert_eq!(r["leaves"].as_object().map(|o| o.len()), Some(2), "{r}");
            assert_eq!(n(&r["bytes"]), a * 4096 + b * (4 << 20), "{r}");
            assert!(r["tables"].is_u64(), "{r}");
            (k4, m4, bytes) = (k4 + a, m4 + b, bytes + n(&r["bytes"]));
        }
        assert_eq!((n(&j["leaves"]["4K"]), n(&j["leaves"]["4M"])), (k4, m4), "{j}");
        assert_eq!(n(&j["mapped_bytes"]), bytes, "{j}");
        assert_eq!(n(&regions[0]["bytes"]), n(&j["lowmem_bytes"]), "the linear region maps lowmem: {j}");
        assert!(j["pt_pages"].is_u64() && j["highmem_bytes"].is_u64(), "{j}");
    }
    // Pinned for 4G/4G with 4 GiB (the `--format built` lines of the same map: 1024 4 KiB and
    // 958 4 MiB linear leaves, the image's 512, the finisher's 1).
    let o = map("4g4g", "0x80000000:4G", "json");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(j["leaves"], serde_json::json!({ "4K": 1537, "4M": 958 }));
    assert_eq!(j["mapped_bytes"], 1537 * 4096 + 958 * (4u64 << 20));
    assert_eq!(j["regions"][1]["bytes"], 512 * 4096);
    assert_eq!(j["highmem_bytes"], 0x1_0000_0000u64 - 0xefc0_0000);
}

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

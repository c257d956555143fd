//! Times `kvas::linear::build` end to end (memory map → base → tables) and
//! counts what it builds, for docs/PERFORMANCE.md:
//!
//! ```text
//! cargo run --release -p kvas --example linear_bench
//! ```
//!
//! Workloads: `map-linear-64g` of the benchmark contract (64 GiB at
//! 0x80000000, the first 2 MiB firmware `no-map`), and 1 TiB across 64
//! discontiguous, unevenly aligned banks; and 64 GiB starting at 0x80200000,
//! where Linux's 2 MiB base rule forbids every gigapage. Tables live in `kvas::sim::Ram`, frames
//! come from the map's free RAM through the early allocator, as at boot. Each
//! line is the best of several runs.

use std::time::{Duration, Instant};

use kvas::arch::riscv::{Mode, Riscv};
use kvas::linear::{self, LinearConfig};
use kvas::paging::PageTable;
use kvas::phys::{EarlyFrameAllocator, MemoryMap, ReserveKind, ReservedBy};
use kvas::sim::Ram;

fn map_64g() -> MemoryMap {
    let mut m = MemoryMap::from_text("0x80000000:64G").unwrap();
    m.reserve(0x8000_0000, 2 << 20, ReserveKind::NoMap, ReservedBy::ReservedMemoryNode).unwrap();
    m
}

/// 64 GiB from 0x80200000: firmware below it not described as RAM at all.
fn map_64g_at_2m() -> MemoryMap {
    MemoryMap::from_text("0x80200000:64G").unwrap()
}

/// 64 banks of 16 GiB, 1 GiB apart, starting at odd 2 MiB and 4 KiB offsets.
fn map_1t_64_banks() -> MemoryMap {
    let mut m = MemoryMap::new();
    for i in 0..64u64 {
        let start = 0x8000_0000 + i * (17 << 30) + (i % 7) * (2 << 20) + (i % 3) * 4096;
        m.add_ram(start, 16 << 30).unwrap();
    }
    m
}

fn run(name: &str, mode: Mode, map: &MemoryMap, cfg: &LinearConfig, runs: u32) {
    let mut best = Duration::MAX;
    let mut summary = String::new();
    for _ in 0..runs {
        let ram = Ram::new();
        let mut alloc = EarlyFrameAllocator::new(map);
        let mut pt = PageTable::new(Riscv::new(mode), &ram, &mut alloc).unwrap();
        let t = Instant::now();
        let (lm, flush) = linear::build(&mut pt, map, cfg, &mut alloc).unwrap();
        let dt = t.elapsed();
        flush.ignore();
        best = best.min(dt);
        let s = pt.stats().unwrap();
        let leaves: Vec<String> =
            mode.geometry().page_sizes().map(|p| format!("{}={}", p.name(), s.leaves_of(p))).collect();
        summary = format!(
            "mapped={}GiB capped={}GiB pt_pages={} leaves[{}]",
            lm.mapped_bytes >> 30,
            lm.capped_bytes >> 30,
            s.tables,
            leaves.join(" ")
        );
    }
    println!(
        "workload={name} impl=kvas-{} rules={} best_us={:.1} {summary}",
        mode.name(),
        rules(cfg),
        best.as_secs_f64() * 1e6
    );
}

fn rules(cfg: &LinearConfig) -> &'static str {
    match cfg.base_rule {
        linear::BaseRule::LargestLeaf => "kvas",
        linear::BaseRule::Linux => "linux",
    }
}

fn main() {
    let m64 = map_64g();
    let m64_2m = map_64g_at_2m();
    let m1t = map_1t_64_banks();
    for mode in [Mode::Sv39, Mode::Sv48, Mode::Sv57] {
        for cfg in [LinearConfig::riscv(mode), LinearConfig::riscv_linux(mode)] {
            run("map-linear-64g", mode, &m64, &cfg, 20);
            run("linear-64g-at-2m", mode, &m64_2m, &cfg, 20);
            run("linear-1t-64banks", mode, &m1t, &cfg, 5);
        }
    }
}

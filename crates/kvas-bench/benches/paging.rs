//! `make bench` (`cargo bench -p kvas-bench`): every workload on every
//! implementation under criterion. One criterion iteration is one sample of
//! the workload (262144 pages for the per-page workloads), timed by the same
//! harness as `kvas-bench --quick`, so only the measured calls count (a
//! stretch during which the thread was preempted counts at the rate of the
//! others); the throughput line gives operations per second.
//!
//! Filter as usual: `cargo bench -p kvas-bench -- map-4k/kvas`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvas_bench::workload::{Inputs, Workload};
use kvas_bench::{arena, registry};

fn paging(c: &mut Criterion) {
    arena::init(arena::DEFAULT_BYTES);
    let inputs = Inputs::new();
    let impls = registry::all();
    for imp in &impls {
        if let Err(e) = (imp.verify)() {
            panic!("{}: verification failed: {e}", imp.name);
        }
    }
    for workload in Workload::ALL {
        let mut group = c.benchmark_group(workload.name());
        group.throughput(Throughput::Elements(workload.ops() * u64::from(workload.rounds())));
        for imp in impls.iter().filter(|imp| (imp.supports)(workload)) {
            group.bench_function(imp.name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| match (imp.measure)(workload, &inputs) {
                            Ok(sample) => sample.elapsed_all(),
                            Err(e) => panic!("{} on {}: {e}", imp.name, workload.name()),
                        })
                        .sum::<Duration>()
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Modest samples: the whole suite ends in a few minutes on two cores.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = paging
}
criterion_main!(benches);

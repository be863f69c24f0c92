//! Sweep throughput on one thread and on two (release mode): `cargo bench --bench sweep`.
//! The speed-up is the ratio of the two times per sweep; criterion reports runs per second
//! through `Throughput`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idemsim::campaign::{Plan, SeedRange, Shard, Target, sweep};
use idemsim::scenario::default_scenario;

/// Seeds per measured sweep: enough work to amortise handing out batches.
const SEEDS: u64 = 256;

fn sweeps(c: &mut Criterion) {
    let targets = vec![Target {
        path: None,
        scenario: default_scenario(),
    }];
    let mut group = c.benchmark_group("sweep-default-scenario");
    group.throughput(Throughput::Elements(SEEDS));
    group.sample_size(20);
    for jobs in [1, 2] {
        let plan = Plan {
            targets: &targets,
            seeds: SeedRange {
                start: 0,
                end: SEEDS,
            },
            shard: Shard::ALL,
            jobs,
        };
        group.bench_function(format!("jobs-{jobs}"), |b| {
            b.iter(|| {
                let mut failed = 0u64;
                sweep(
                    &plan,
                    |r| {
                        failed += u64::from(!r.passed());
                        true
                    },
                    || {},
                )
                .expect("thread pool");
                black_box(failed)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sweeps);
criterion_main!(benches);

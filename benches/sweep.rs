//! Sweep throughput on one thread and on two (release mode): `cargo bench --bench sweep`.
//! The speed-up is the ratio of the two times per sweep; divan reports runs per second
//! through an item counter.

use std::hint::black_box;

use divan::Bencher;
use divan::counter::ItemsCount;
use idemsim::campaign::{Plan, SeedRange, Shard, Target, sweep};
use idemsim::scenario::default_scenario;

/// Seeds per measured sweep: enough work to amortise handing out batches.
const SEEDS: u64 = 256;

fn main() {
    divan::main();
}

#[divan::bench(args = [1, 2], sample_count = 20)]
fn sweep_default_scenario(bencher: Bencher, jobs: usize) {
    let targets = vec![Target {
        path: None,
        scenario: default_scenario(),
    }];
    let plan = Plan {
        targets: &targets,
        seeds: SeedRange {
            start: 0,
            end: SEEDS,
        },
        shard: Shard::ALL,
        jobs,
    };
    bencher.counter(ItemsCount::new(SEEDS)).bench_local(|| {
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
    });
}

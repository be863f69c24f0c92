//! Simulator throughput on the built-in default scenario, and on the same cluster idle
//! (release mode): `cargo bench --bench sim`. divan reports time per run and, through an
//! item counter, simulated events per second; the sim/wall ratio is simulated seconds per run
//! (printed once before the measurements) divided by the time per run.

use std::hint::black_box;

use divan::Bencher;
use divan::counter::ItemsCount;
use idemsim::scenario::{Scenario, default_scenario};
use idemsim::sim::{RunOptions, run};

/// Seeds cycled through, so one lucky seed does not decide the figure.
const SEEDS: u64 = 64;

fn main() {
    divan::main();
}

/// The scenario a benchmark runs: the default one, the same with logs compacted every 10
/// entries (what snapshots cost), or the same cluster with no clients and no faults
/// (elections and heartbeats only, the cheapest simulated second there is: the ceiling of
/// the sim/wall ratio).
fn scenario(name: &str) -> Scenario {
    let mut s = default_scenario();
    match name {
        "idle-cluster" => {
            s.clients.count = 0;
            s.faults.clear();
        }
        "default-compacting" => s.cluster.snapshot_every = 10,
        _ => {}
    }
    s
}

#[divan::bench(
    args = ["default-scenario", "default-compacting", "idle-cluster"],
    sample_count = 100
)]
fn run_one(bencher: Bencher, name: &str) {
    let scenario = scenario(name);
    let (mut events, mut sim_us) = (0u64, 0u64);
    for seed in 0..SEEDS {
        let report = run(&scenario, RunOptions::new(seed));
        assert!(
            report.passed(),
            "seed {seed} failed: {:?}",
            report.violations.kept()
        );
        events += report.events;
        sim_us += report.end.as_us();
    }
    let events_per_run = events / SEEDS;
    let sim_s_per_run = sim_us as f64 / SEEDS as f64 / 1e6;
    println!(
        "{name}: {events_per_run} events and {sim_s_per_run:.3} simulated s per run (mean of {SEEDS} seeds)"
    );
    let mut seed = 0;
    bencher
        .counter(ItemsCount::new(events_per_run))
        .bench_local(|| {
            seed = (seed + 1) % SEEDS;
            black_box(run(&scenario, RunOptions::new(black_box(seed))))
        });
}

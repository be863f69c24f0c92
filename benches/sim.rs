//! Simulator throughput on the built-in default scenario, and on the same cluster idle
//! (release mode): `cargo bench --bench sim`. Criterion reports time per run and, through
//! `Throughput`, simulated events per second; the sim/wall ratio is simulated seconds per run
//! (printed once before each group's measurements) divided by the time per run.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idemsim::scenario::{Scenario, default_scenario};
use idemsim::sim::{RunOptions, run};

/// Seeds cycled through, so one lucky seed does not decide the figure.
const SEEDS: u64 = 64;

fn default_scenario_runs(c: &mut Criterion) {
    measure(c, "default-scenario", &default_scenario());
    // The same cluster with no clients: elections and heartbeats only, the cheapest
    // simulated second there is (the ceiling of the sim/wall ratio).
    let mut idle = default_scenario();
    idle.clients.count = 0;
    idle.faults.clear();
    measure(c, "idle-cluster", &idle);
}

fn measure(c: &mut Criterion, name: &str, scenario: &Scenario) {
    let scenario = scenario.clone();
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

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(events_per_run));
    let mut seed = 0;
    group.bench_function("run", |b| {
        b.iter(|| {
            seed = (seed + 1) % SEEDS;
            black_box(run(&scenario, RunOptions::new(black_box(seed))))
        })
    });
    group.finish();
}

criterion_group!(benches, default_scenario_runs);
criterion_main!(benches);

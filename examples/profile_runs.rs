//! Runs the default scenario over many seeds, for profilers: `cargo run --release --example profile_runs -- 500`.
//! A second argument compacts logs every that many entries (`-- 100 10`).
use idemsim::scenario::default_scenario;
use idemsim::sim::{RunOptions, run};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut scenario = default_scenario();
    if let Some(every) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        scenario.cluster.snapshot_every = every;
    }
    let mut events = 0;
    for seed in 0..n {
        events += run(&scenario, RunOptions::new(seed)).events;
    }
    println!("{n} runs, {events} events");
}

//! Runs the default scenario over many seeds, for profilers: `cargo run --release --example profile_runs -- 500`.
use idemsim::scenario::default_scenario;
use idemsim::sim::{RunOptions, run};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let scenario = default_scenario();
    let mut events = 0;
    for seed in 0..n {
        events += run(&scenario, RunOptions::new(seed)).events;
    }
    println!("{n} runs, {events} events");
}

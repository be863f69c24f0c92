//! Campaigns: many seeded runs of many scenarios. Seed sweeps in parallel with ordered,
//! deterministic output ([`sweep`]), and the catch table that proves each flawed design is
//! caught and each correct one never fails ([`catch`]).

pub mod catch;
mod seeds;
mod sweep;
mod totals;

pub use seeds::{SeedRange, Shard};
pub use sweep::{Plan, RunSummary, Target, in_run, run_one, sweep};
pub use totals::Totals;

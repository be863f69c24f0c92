//! Campaigns: many seeded runs of many scenarios. Seed sweeps in parallel with ordered,
//! deterministic output ([`sweep`]), the catch table that proves each flawed design is
//! caught and each correct one never fails ([`catch`]), and shrinking a failing run to a
//! minimal scenario ([`shrink`]).

pub mod catch;
pub mod merge;
mod seeds;
pub mod shrink;
mod sweep;
mod totals;

pub use seeds::{SeedRange, Shard};
pub use sweep::{Plan, RunSummary, Target, in_run, run_one, sweep, sweep_until};
pub use totals::Totals;

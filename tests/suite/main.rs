//! The simulator's integration tests, as one test binary (one link instead of a dozen keeps
//! `cargo test` fast on a 2-core machine). Each module is one concern; `tests/net.rs`, which
//! runs real processes on loopback TCP, stays a binary of its own so its timing never
//! competes with these CPU-bound sweeps inside one process.

mod common;

mod campaign;
mod check_history;
mod cli;
mod deploy;
mod faults;
mod linearizability_agreement;
mod linearizability_reference;
mod mutations;
mod properties;
mod scenario_errors;
mod scenarios;
mod session_model;
mod shrink;
mod snapshots;
mod swarm;
mod trace_format;

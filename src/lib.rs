//! idemsim: a deterministic simulation testbed for idempotent writes on a Raft-replicated
//! key-value store.
//!
//! Raft nodes ([`raft`]) and clients ([`client`]) are sans-IO state machines ([`process`])
//! run by a seeded scheduler ([`sim`]) that crashes leaders mid-replication, partitions the
//! network, and loses and duplicates messages while clients retry. Checkers ([`check`]) prove
//! that every `(client_id, seq)` takes effect exactly once, or report the seed, the command
//! and the trace ([`trace`]) that show where it did not. Scenarios are TOML files
//! ([`scenario`]); the replicated state machine and its dedup strategies live in [`kv`].
//! [`history`] checks any client history for linearizability.

// The run summary's `json!` object has more fields than the default limit expands.
#![recursion_limit = "256"]

pub mod campaign;
pub mod check;
pub mod cli;
pub mod client;
pub mod digest;
pub mod history;
pub mod ids;
pub mod kv;
pub mod message;
pub mod mutation;
pub mod net;
pub mod process;
pub mod raft;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod trace;
pub mod verdict;

/// Every binary that links idemsim (the CLI, tests, benches, examples) allocates through
/// mimalloc: a run allocates a few thousand small, short-lived objects (log entries, shared
/// strings, message batches), which the system allocator served at about 15% of a run's
/// instructions, and its per-thread heaps keep parallel sweep workers from contending.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

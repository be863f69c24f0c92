//! The real-network mode: the same sans-IO Raft nodes, session table and client logic the
//! simulator runs, driven over loopback TCP by plain threads and blocking sockets.
//!
//! - [`server`]: `idemsim serve`, one node (durable state in [`storage`]).
//! - [`cluster`]: `idemsim cluster`, N `serve` child processes.
//! - [`client`]: `idemsim client`, one operation with leader redirects and retries of the
//!   same `(client_id, seq)`.
//! - [`wire`]: the frames between them.
//!
//! This is an edge of the system: it reads the wall clock, spawns threads and draws OS
//! randomness. Nothing in the simulated world depends on it.

pub mod client;
pub mod cluster;
mod conn;
mod guard;
pub mod server;
pub mod storage;
pub mod wire;

/// 64 random bits from the operating system (fresh client ids, election-timeout seeds).
/// Falls back to the clock and process id if the OS has no randomness to give.
pub fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    })
}

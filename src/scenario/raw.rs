//! The scenario file exactly as written (docs/DESIGN.md §4): every field optional except `name`,
//! unknown fields rejected. Defaults and range checks live in `validate`.

use serde::Deserialize;

use super::faults::RawFaultHead;

use crate::client::OnRestart;
use crate::kv::Dedup;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration_ms: Option<u64>,
    pub liveness_ms: Option<u64>,
    pub cluster: Option<RawCluster>,
    pub network: Option<RawNetwork>,
    pub server: Option<RawServer>,
    pub clients: Option<RawClients>,
    /// Each fault's `kind` and `at_ms`; its other fields are read by kind, in `faults`.
    #[serde(default)]
    pub faults: Vec<RawFaultHead>,
    pub swarm: Option<RawSwarm>,
    pub budget: Option<super::budget::RawBudget>,
}

/// `[swarm]`: the fault families a seed may draw; each key optional, default on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwarm {
    pub crashes: Option<bool>,
    pub partitions: Option<bool>,
    pub network: Option<bool>,
    pub client_crashes: Option<bool>,
    pub replays: Option<bool>,
    pub timeouts: Option<bool>,
    pub sessions: Option<bool>,
    pub snapshots: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub nodes: Option<u64>,
    pub election_timeout_ms: Option<Vec<u64>>,
    pub heartbeat_ms: Option<u64>,
    pub snapshot_every: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub delay_ms: Option<Vec<u64>>,
    pub drop: Option<f64>,
    pub duplicate: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub dedup: Option<Dedup>,
    pub session_timeout_ms: Option<u64>,
    pub max_sessions: Option<u64>,
    pub reads: Option<crate::raft::Reads>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClients {
    pub count: Option<u64>,
    pub ops: Option<u64>,
    pub keys: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub think_ms: Option<Vec<u64>>,
    pub mix: Option<RawMix>,
    pub on_restart: Option<OnRestart>,
    pub window: Option<u64>,
    pub register: Option<bool>,
}

/// Op weights; a weight left out of a written `mix` is 0.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMix {
    #[serde(default)]
    pub put: u32,
    #[serde(default)]
    pub append: u32,
    #[serde(default)]
    pub incr: u32,
    #[serde(default)]
    pub delete: u32,
    #[serde(default)]
    pub get: u32,
}

//! Scenario files (docs/DESIGN.md §4): serde types, defaults and validation. Runs nothing.
//!
//! [`load`] reads a file, [`parse`] parses text; both return a validated [`Scenario`] or a
//! [`ScenarioError`] that names the file, line, column and field.

mod budget;
mod error;
mod faults;
mod raw;
mod swarm;
mod validate;
mod write;

use std::path::Path;

pub use budget::{Budget, BudgetSpec};
pub use error::{Invalid, ScenarioError};
pub use faults::{ClientSelector, CrashWhen, FaultKind, FaultSpec, FaultTag, NodeSelector, Split};
pub use swarm::{CrashPattern, PartitionMode, SwarmProfile, SwarmSpec};
pub use write::to_toml;

use crate::client::{Mix, OnRestart};
use crate::kv::Dedup;
use crate::raft::{Mutations, Reads};

/// The path shown for the built-in default scenario in messages and replay commands.
pub const DEFAULT_NAME: &str = "<built-in leader-crash-mid-replication>";

/// The built-in default scenario, compiled in so `idemsim run` works from anywhere.
pub const DEFAULT_TEXT: &str =
    include_str!("../../sim-scenarios/leader-crash-mid-replication.toml");

/// A validated scenario: every default filled in, every range checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    /// Length of the fault phase.
    pub duration_ms: u64,
    /// After the fault phase everything heals; every client operation must then complete
    /// within this budget.
    pub liveness_ms: u64,
    pub cluster: ClusterSpec,
    pub network: NetworkSpec,
    pub dedup: Dedup,
    pub server: ServerSpec,
    pub clients: ClientsSpec,
    pub faults: Vec<FaultSpec>,
    /// `[budget]`: the bounds the file set itself; the rest are derived ([`Scenario::budget`]).
    pub budget: BudgetSpec,
    /// `[swarm]` (or `--swarm`): each seed draws its own fault profile on top of `faults`.
    pub swarm: Option<SwarmSpec>,
    /// Deliberate Raft bugs for checker tests; never read from a file, all off by default.
    pub mutations: Mutations,
    /// Clients behave as `idemsim client` does on a real network: a node that failed is
    /// suspected (passed over) for one client timeout. Never read from a file; tests set it
    /// to put the real network's client logic through the simulator. Off by default.
    pub wire_clients: bool,
}

impl Scenario {
    /// The bounds a run of this scenario is held to: derived from its size and length,
    /// overridden by `[budget]`.
    pub fn budget(&self) -> Budget {
        Budget::derive(
            self.cluster.nodes,
            self.clients.count,
            self.clients.ops,
            self.duration_ms + self.liveness_ms,
        )
        .with(self.budget)
    }

    /// The scenario as run with `seed`: itself, or with a swarm, itself plus what the seed
    /// draws from `rng` (the seed's swarm stream), and the drawn profile.
    pub fn for_seed(&self, rng: &mut rand_chacha::ChaCha8Rng) -> (Scenario, Option<SwarmProfile>) {
        match &self.swarm {
            None => (self.clone(), None),
            Some(spec) => {
                let (mut drawn, profile) = swarm::instantiate(self, spec, rng);
                drawn.swarm = None;
                (drawn, Some(profile))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    /// 1..=9.
    pub nodes: u8,
    pub election_timeout_ms: (u64, u64),
    pub heartbeat_ms: u64,
    /// Entries each node applies between snapshots; 0: never compact.
    pub snapshot_every: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkSpec {
    /// One-way delay, uniform over `[min, max]` (drawn in microseconds).
    pub delay_ms: (u64, u64),
    /// Probability a message is lost.
    pub drop: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientsSpec {
    pub count: u32,
    pub ops: u64,
    pub keys: u32,
    pub timeout_ms: u64,
    pub think_ms: (u64, u64),
    pub mix: Mix,
    /// What a crashed client does about its identity when it restarts.
    pub on_restart: OnRestart,
    /// Requests in flight per client (pipelining), 1..=[`MAX_WINDOW`].
    pub window: u32,
    /// Clients open their sessions through the log (a `register` entry), and their id is
    /// that entry's index; false: each client draws a random id (v1).
    pub register: bool,
}

/// Most requests one client may have in flight.
pub const MAX_WINDOW: u64 = 64;

/// `[server]` beyond the dedup design: how sessions end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerSpec {
    /// A session idle (by the leader-stamped log time) past this expires; 0: never.
    pub session_timeout_ms: u64,
    /// Most live sessions; past it the least recently active one is evicted; 0: unbounded.
    pub max_sessions: u32,
    /// How `get`s are answered (`reads`).
    pub reads: Reads,
}

/// Parse and validate scenario `text`; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    validate::parse(file, text)
}

/// Read, parse and validate the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ScenarioError::NotFound {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
        let (line, column) = error::line_column(&prefix, offset);
        ScenarioError::Invalid(Invalid {
            file: file.clone(),
            line,
            column,
            field: String::new(),
            message: "the file is not UTF-8 text".to_owned(),
        })
    })?;
    parse(&file, &text)
}

/// The built-in default scenario.
pub fn default_scenario() -> Scenario {
    parse(DEFAULT_NAME, DEFAULT_TEXT).expect("the built-in default scenario is valid")
}

#[cfg(test)]
mod tests;

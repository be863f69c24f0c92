//! Defaults and range checks: a raw file becomes a [`Scenario`] or an error naming the field.

use toml::de::DeTable;

use super::error::{FieldPath, Located, ScenarioError};
use super::faults::Shape;
use super::raw::RawScenario;
use super::{BudgetSpec, ClientsSpec, ClusterSpec, NetworkSpec, Scenario, ServerSpec, SwarmSpec};
use crate::client::Mix;
use crate::kv::Dedup;

/// Longest fault or liveness phase: one simulated day.
pub(super) const MAX_PHASE_MS: u64 = 86_400_000;
/// Longest one-way delay, timeout or pause: one simulated minute.
pub(super) const MAX_DELAY_MS: u64 = 60_000;
const MAX_CLIENTS: u64 = 10_000;
const MAX_OPS_PER_CLIENT: u64 = 1_000_000;
const MAX_TOTAL_OPS: u64 = 10_000_000;
const MAX_KEYS: u64 = 1_000_000;
const MAX_FAULTS: usize = 10_000;
const MAX_SESSION_TIMEOUT_MS: u64 = 24 * 3_600_000;
const MAX_SNAPSHOT_EVERY: u64 = 1_000_000;

const DEFAULT_DURATION_MS: u64 = 5_000;

const DEFAULT_LIVENESS_MS: u64 = 10_000;

pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let root = DeTable::parse(text).ok().map(|t| t.into_inner());
    let located = Located { file, text, root };
    let raw: RawScenario = toml::from_str(text).map_err(|e| located.toml_error(&e))?;
    Checker { at: &located }.scenario(raw)
}

/// Checks a raw scenario against the text it came from, so every error names its place.
pub(super) struct Checker<'a> {
    pub(super) at: &'a Located<'a>,
}

fn path(steps: &[&str]) -> FieldPath {
    let mut p = FieldPath::default();
    for s in steps {
        p = p.key(s);
    }
    p
}

impl Checker<'_> {
    pub(super) fn fail<T>(
        &self,
        at: &FieldPath,
        message: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        Err(self.at.at_path(at, message))
    }

    pub(super) fn in_range(
        &self,
        at: &FieldPath,
        value: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ScenarioError> {
        if value < min || value > max {
            return self.fail(at, format!("must be in {min}..={max}, got {value}"));
        }
        Ok(value)
    }

    pub(super) fn range_ms(
        &self,
        at: &FieldPath,
        value: Vec<u64>,
        min: u64,
        max: u64,
    ) -> Result<(u64, u64), ScenarioError> {
        let [lo, hi] = value[..] else {
            return self.fail(
                at,
                format!(
                    "must be a range [min, max] of two numbers, got {} numbers",
                    value.len()
                ),
            );
        };
        if lo > hi {
            return self.fail(
                at,
                format!("[min, max] must have min <= max, got [{lo}, {hi}]"),
            );
        }
        self.in_range(at, lo, min, max)?;
        self.in_range(at, hi, min, max)?;
        Ok((lo, hi))
    }

    pub(super) fn probability(&self, at: &FieldPath, p: f64) -> Result<f64, ScenarioError> {
        if !(0.0..=1.0).contains(&p) {
            return self.fail(at, format!("must be a probability in [0, 1], got {p}"));
        }
        Ok(p)
    }

    fn scenario(&self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        if raw.name.trim().is_empty() {
            return self.fail(&path(&["name"]), "must not be empty");
        }
        let duration_ms = match raw.duration_ms {
            Some(v) => self.in_range(&path(&["duration_ms"]), v, 1, MAX_PHASE_MS)?,
            None => DEFAULT_DURATION_MS,
        };
        let liveness_ms = match raw.liveness_ms {
            Some(v) => self.in_range(&path(&["liveness_ms"]), v, 1, MAX_PHASE_MS)?,
            None => DEFAULT_LIVENESS_MS,
        };

        let c = raw.cluster.unwrap_or_default();
        let nodes = match c.nodes {
            Some(n) => self.in_range(&path(&["cluster", "nodes"]), n, 1, 9)? as u8,
            None => 3,
        };
        let election_timeout_ms = match c.election_timeout_ms {
            Some(r) => self.range_ms(
                &path(&["cluster", "election_timeout_ms"]),
                r,
                1,
                MAX_DELAY_MS,
            )?,
            None => (150, 300),
        };
        if nodes > 1 && election_timeout_ms.0 == election_timeout_ms.1 {
            return self.fail(
                &path(&["cluster", "election_timeout_ms"]),
                format!(
                    "must be a range with min < max, got [{0}, {0}]: with equal timeouts every \
                     node times out at once and elections never end (Raft §5.2 randomizes them)",
                    election_timeout_ms.0
                ),
            );
        }
        let heartbeat_ms = match c.heartbeat_ms {
            Some(v) => self.in_range(&path(&["cluster", "heartbeat_ms"]), v, 1, MAX_DELAY_MS)?,
            None => 50,
        };
        if heartbeat_ms >= election_timeout_ms.0 {
            return self.fail(
                &path(&["cluster", "heartbeat_ms"]),
                format!(
                    "must be less than the smallest election timeout ({} ms), got {heartbeat_ms}; \
                     otherwise followers time out between heartbeats",
                    election_timeout_ms.0
                ),
            );
        }
        let snapshot_every = match c.snapshot_every {
            Some(v) => self.in_range(
                &path(&["cluster", "snapshot_every"]),
                v,
                0,
                MAX_SNAPSHOT_EVERY,
            )?,
            None => 0,
        };
        let cluster = ClusterSpec {
            nodes,
            election_timeout_ms,
            heartbeat_ms,
            snapshot_every,
        };

        let n = raw.network.unwrap_or_default();
        let network = NetworkSpec {
            delay_ms: match n.delay_ms {
                Some(r) => self.range_ms(&path(&["network", "delay_ms"]), r, 0, MAX_DELAY_MS)?,
                None => (1, 10),
            },
            drop: match n.drop {
                Some(p) => self.probability(&path(&["network", "drop"]), p)?,
                None => 0.0,
            },
            duplicate: match n.duplicate {
                Some(p) => self.probability(&path(&["network", "duplicate"]), p)?,
                None => 0.0,
            },
        };

        let raw_server = raw.server.unwrap_or_default();
        let dedup = raw_server.dedup.unwrap_or(Dedup::Sessions);
        let clients = self.clients(raw.clients.unwrap_or_default())?;
        let server = self.server(&raw_server, &clients)?;

        if raw.faults.len() > MAX_FAULTS {
            return self.fail(
                &path(&["faults"]),
                format!("at most {MAX_FAULTS} faults, got {}", raw.faults.len()),
            );
        }
        let shape = Shape {
            nodes,
            snapshots: cluster.snapshot_every > 0,
            clients: clients.count,
            duration_ms,
        };
        let faults = raw
            .faults
            .into_iter()
            .enumerate()
            .map(|(i, head)| {
                let at = path(&["faults"]).index(i);
                self.fault(&at, head, self.at.value_at(&at), shape)
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            seed: raw.seed.unwrap_or(0),
            duration_ms,
            liveness_ms,
            cluster,
            network,
            dedup,
            server,
            clients,
            faults,
            swarm: raw.swarm.map(|w| {
                let on = SwarmSpec::default();
                SwarmSpec {
                    crashes: w.crashes.unwrap_or(on.crashes),
                    partitions: w.partitions.unwrap_or(on.partitions),
                    network: w.network.unwrap_or(on.network),
                    client_crashes: w.client_crashes.unwrap_or(on.client_crashes),
                    replays: w.replays.unwrap_or(on.replays),
                    timeouts: w.timeouts.unwrap_or(on.timeouts),
                    sessions: w.sessions.unwrap_or(on.sessions),
                    snapshots: w.snapshots.unwrap_or(on.snapshots),
                }
            }),
            budget: match raw.budget {
                None => BudgetSpec::default(),
                Some(b) => {
                    let at = |k: &str| path(&["budget", k]);
                    let bound = |k: &str, v: Option<u64>| {
                        v.map(|v| self.in_range(&at(k), v, 1, u64::MAX >> 1))
                            .transpose()
                    };
                    BudgetSpec {
                        events: bound("events", b.events)?,
                        log_entries: bound("log_entries", b.log_entries)?,
                        in_flight: bound("in_flight", b.in_flight)?,
                    }
                }
            },
            mutations: Default::default(),
            wire_clients: false,
        })
    }

    fn clients(&self, c: super::raw::RawClients) -> Result<ClientsSpec, ScenarioError> {
        let at = |k: &str| path(&["clients", k]);
        let count = match c.count {
            Some(v) => self.in_range(&at("count"), v, 0, MAX_CLIENTS)?,
            None => 3,
        };
        let ops = match c.ops {
            Some(v) => self.in_range(&at("ops"), v, 0, MAX_OPS_PER_CLIENT)?,
            None => 50,
        };
        if count * ops > MAX_TOTAL_OPS {
            return self.fail(
                &at("ops"),
                format!(
                    "count × ops must be at most {MAX_TOTAL_OPS}, got {count} × {ops} = {}",
                    count * ops
                ),
            );
        }
        let keys = match c.keys {
            Some(v) => self.in_range(&at("keys"), v, 1, MAX_KEYS)?,
            None => 4,
        };
        let timeout_ms = match c.timeout_ms {
            Some(v) => self.in_range(&at("timeout_ms"), v, 1, MAX_DELAY_MS)?,
            None => 200,
        };
        let think_ms = match c.think_ms {
            Some(r) => self.range_ms(&at("think_ms"), r, 0, MAX_DELAY_MS)?,
            None => (0, 10),
        };
        let mix = match c.mix {
            Some(m) => {
                let mix = Mix {
                    weights: [m.put, m.append, m.incr, m.delete, m.get],
                };
                if mix.weights.iter().all(|&w| w == 0) {
                    return self.fail(&at("mix"), "needs at least one positive weight");
                }
                mix
            }
            None => Mix {
                weights: [3, 3, 3, 1, 1],
            },
        };
        Ok(ClientsSpec {
            count: count as u32,
            ops,
            keys: keys as u32,
            timeout_ms,
            think_ms,
            mix,
            on_restart: c.on_restart.unwrap_or_default(),
            window: match c.window {
                Some(v) => self.in_range(&at("window"), v, 1, super::MAX_WINDOW)? as u32,
                None => 1,
            },
            register: c.register.unwrap_or(false),
        })
    }

    /// `[server]` session bounds. Expiry and eviction need registration: a server that
    /// forgot a session cannot tell its retry from a new client's first request unless every
    /// session is opened through the log.
    fn server(
        &self,
        s: &super::raw::RawServer,
        clients: &ClientsSpec,
    ) -> Result<ServerSpec, ScenarioError> {
        let at = |k: &str| path(&["server", k]);
        let session_timeout_ms = match s.session_timeout_ms {
            Some(v) => self.in_range(&at("session_timeout_ms"), v, 0, MAX_SESSION_TIMEOUT_MS)?,
            None => 0,
        };
        let max_sessions = match s.max_sessions {
            Some(v) => self.in_range(&at("max_sessions"), v, 0, MAX_CLIENTS)? as u32,
            None => 0,
        };
        for (key, set) in [
            ("session_timeout_ms", session_timeout_ms > 0),
            ("max_sessions", max_sessions > 0),
        ] {
            if set && !clients.register {
                return self.fail(
                    &at(key),
                    "needs [clients] register = true: without registration a server that \
                     forgot a session would take its retries for a new client's requests",
                );
            }
        }
        Ok(ServerSpec {
            session_timeout_ms,
            max_sessions,
            reads: s.reads.unwrap_or_default(),
        })
    }
}

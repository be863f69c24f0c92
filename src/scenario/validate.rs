//! Defaults and range checks: a raw file becomes a [`Scenario`] or an error naming the field.

use toml::de::DeTable;

use super::error::{FieldPath, Located, ScenarioError};
use super::raw::{RawClient, RawFault, RawFaultKind, RawNode, RawScenario, RawWhen};
use super::{
    ClientSelector, ClientsSpec, ClusterSpec, CrashWhen, FaultKind, FaultSpec, NetworkSpec,
    NodeSelector, Scenario, Split, SwarmSpec,
};
use crate::client::Mix;
use crate::ids::{ClientNo, NodeId};
use crate::kv::Dedup;

/// Longest fault or liveness phase: one simulated day.
const MAX_PHASE_MS: u64 = 86_400_000;
/// Longest one-way delay, timeout or pause: one simulated minute.
const MAX_DELAY_MS: u64 = 60_000;
const MAX_CLIENTS: u64 = 10_000;
const MAX_OPS_PER_CLIENT: u64 = 1_000_000;
const MAX_TOTAL_OPS: u64 = 10_000_000;
const MAX_KEYS: u64 = 1_000_000;
const MAX_FAULTS: usize = 10_000;

/// Most old requests one replay fault re-delivers.
const MAX_REPLAYED: u64 = 100;

const DEFAULT_DURATION_MS: u64 = 5_000;

/// The sizes faults are checked against.
#[derive(Clone, Copy)]
struct Shape {
    nodes: u8,
    clients: u32,
}
const DEFAULT_LIVENESS_MS: u64 = 10_000;

pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let root = DeTable::parse(text).ok().map(|t| t.into_inner());
    let located = Located { file, text, root };
    let raw: RawScenario = toml::from_str(text).map_err(|e| located.toml_error(&e))?;
    Checker { at: &located }.scenario(raw)
}

struct Checker<'a> {
    at: &'a Located<'a>,
}

fn path(steps: &[&str]) -> FieldPath {
    let mut p = FieldPath::default();
    for s in steps {
        p = p.key(s);
    }
    p
}

impl Checker<'_> {
    fn fail<T>(&self, at: &FieldPath, message: impl Into<String>) -> Result<T, ScenarioError> {
        Err(self.at.at_path(at, message))
    }

    fn in_range(
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

    fn range_ms(
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

    fn probability(&self, at: &FieldPath, p: f64) -> Result<f64, ScenarioError> {
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
        let cluster = ClusterSpec {
            nodes,
            election_timeout_ms,
            heartbeat_ms,
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

        let dedup = raw.server.and_then(|s| s.dedup).unwrap_or(Dedup::Sessions);
        let clients = self.clients(raw.clients.unwrap_or_default())?;

        if raw.faults.len() > MAX_FAULTS {
            return self.fail(
                &path(&["faults"]),
                format!("at most {MAX_FAULTS} faults, got {}", raw.faults.len()),
            );
        }
        let shape = Shape {
            nodes,
            clients: clients.count,
        };
        let faults = raw
            .faults
            .into_iter()
            .enumerate()
            .map(|(i, f)| self.fault(&path(&["faults"]).index(i), f, shape, duration_ms))
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
                }
            }),
            mutations: Default::default(),
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
        })
    }

    fn node_number(&self, at: &FieldPath, n: i64, nodes: u8) -> Result<NodeId, ScenarioError> {
        if n < 1 || n > i64::from(nodes) {
            return self.fail(
                at,
                format!("node {n} does not exist; the cluster has nodes 1..={nodes}"),
            );
        }
        Ok(NodeId(n as u8))
    }

    fn selector(
        &self,
        at: &FieldPath,
        node: RawNode,
        nodes: u8,
    ) -> Result<NodeSelector, ScenarioError> {
        Ok(match node {
            RawNode::Leader => NodeSelector::Leader,
            RawNode::Follower => NodeSelector::Follower,
            RawNode::MostUncommitted => NodeSelector::MostUncommitted,
            RawNode::Number(n) => NodeSelector::Node(self.node_number(at, n, nodes)?),
        })
    }

    /// Reject fields set on a fault that its kind does not use.
    fn only(
        &self,
        at: &FieldPath,
        f: &RawFault,
        kind: &str,
        allowed: &[&str],
    ) -> Result<(), ScenarioError> {
        let present = [
            ("node", f.node.is_some()),
            ("when", f.when.is_some()),
            ("restart_after_ms", f.restart_after_ms.is_some()),
            ("groups", f.groups.is_some()),
            ("isolate", f.isolate.is_some()),
            ("one_way", f.one_way.is_some()),
            ("heal_after_ms", f.heal_after_ms.is_some()),
            ("for_ms", f.for_ms.is_some()),
            ("drop", f.drop.is_some()),
            ("duplicate", f.duplicate.is_some()),
            ("delay_ms", f.delay_ms.is_some()),
            ("count", f.count.is_some()),
            ("client", f.client.is_some()),
        ];
        for (field, is_set) in present {
            if is_set && !allowed.contains(&field) {
                return self.fail(
                    &at.key(field),
                    format!("does not apply to kind = \"{kind}\""),
                );
            }
        }
        Ok(())
    }

    fn optional_ms(
        &self,
        at: &FieldPath,
        value: Option<u64>,
    ) -> Result<Option<u64>, ScenarioError> {
        value
            .map(|v| self.in_range(at, v, 0, MAX_PHASE_MS))
            .transpose()
    }

    fn fault(
        &self,
        at: &FieldPath,
        f: RawFault,
        shape: Shape,
        duration_ms: u64,
    ) -> Result<FaultSpec, ScenarioError> {
        let Some(at_ms) = f.at_ms else {
            return self.fail(&at.key("at_ms"), "missing: every fault needs at_ms");
        };
        if at_ms >= duration_ms {
            return self.fail(
                &at.key("at_ms"),
                format!(
                    "must fall inside the fault phase (0..{duration_ms} ms, see duration_ms), got {at_ms}"
                ),
            );
        }
        let nodes = shape.nodes;
        let kind = match f.kind {
            RawFaultKind::Crash => {
                self.only(at, &f, "crash", &["node", "when", "restart_after_ms"])?;
                let Some(node) = f.node else {
                    return self.fail(
                        &at.key("node"),
                        r#"missing: a crash needs node = "leader", "follower", "most-uncommitted" or a node number"#,
                    );
                };
                let node = self.selector(&at.key("node"), node, nodes)?;
                let when = match f.when.unwrap_or(RawWhen::Now) {
                    RawWhen::Now => CrashWhen::Now,
                    RawWhen::BeforeReplicate => CrashWhen::BeforeReplicate,
                    RawWhen::MidReplication => CrashWhen::MidReplication,
                    RawWhen::AfterCommit => CrashWhen::AfterCommit,
                    RawWhen::AfterReply => CrashWhen::AfterReply,
                };
                let leader_state = matches!(node, NodeSelector::Leader | NodeSelector::Node(_));
                if when != CrashWhen::Now && !leader_state {
                    return self.fail(
                        &at.key("when"),
                        format!(
                            "\"{}\" is a leader's state; use node = \"leader\" or a node number",
                            when.name()
                        ),
                    );
                }
                FaultKind::Crash {
                    node,
                    when,
                    restart_after_ms: self
                        .optional_ms(&at.key("restart_after_ms"), f.restart_after_ms)?,
                }
            }
            RawFaultKind::Partition => {
                self.only(
                    at,
                    &f,
                    "partition",
                    &["groups", "isolate", "one_way", "heal_after_ms"],
                )?;
                if nodes < 2 {
                    return self.fail(
                        &at.key("kind"),
                        "a partition needs at least two nodes; the cluster has one",
                    );
                }
                let split = match (f.groups, f.isolate) {
                    (Some(_), Some(_)) => {
                        return self.fail(
                            &at.key("isolate"),
                            "give either groups or isolate, not both",
                        );
                    }
                    (None, None) => {
                        return self.fail(
                            &at.key("groups"),
                            "missing: a partition needs groups = [[…], […]] or isolate = \"leader\" or a node number",
                        );
                    }
                    (Some(groups), None) => {
                        Split::Groups(self.groups(&at.key("groups"), groups, nodes)?)
                    }
                    (None, Some(node)) => {
                        Split::Isolate(self.selector(&at.key("isolate"), node, nodes)?)
                    }
                };
                FaultKind::Partition {
                    split,
                    one_way: f.one_way.unwrap_or(false),
                    heal_after_ms: self.optional_ms(&at.key("heal_after_ms"), f.heal_after_ms)?,
                }
            }
            RawFaultKind::Network => {
                self.only(
                    at,
                    &f,
                    "network",
                    &["for_ms", "drop", "duplicate", "delay_ms"],
                )?;
                let Some(for_ms) = f.for_ms else {
                    return self.fail(&at.key("for_ms"), "missing: a network fault needs for_ms");
                };
                let for_ms = self.in_range(&at.key("for_ms"), for_ms, 1, MAX_PHASE_MS)?;
                let drop = match f.drop {
                    Some(p) => Some(self.probability(&at.key("drop"), p)?),
                    None => None,
                };
                let duplicate = match f.duplicate {
                    Some(p) => Some(self.probability(&at.key("duplicate"), p)?),
                    None => None,
                };
                let delay_ms = match f.delay_ms {
                    Some(r) => Some(self.range_ms(&at.key("delay_ms"), r, 0, MAX_DELAY_MS)?),
                    None => None,
                };
                if drop.is_none() && duplicate.is_none() && delay_ms.is_none() {
                    return self.fail(
                        &at.key("for_ms"),
                        "a network fault changes nothing without drop, duplicate or delay_ms",
                    );
                }
                FaultKind::Network {
                    for_ms,
                    drop,
                    duplicate,
                    delay_ms,
                }
            }
            RawFaultKind::Replay => {
                self.only(at, &f, "replay", &["count"])?;
                let count = match f.count {
                    Some(n) => self.in_range(&at.key("count"), n, 1, MAX_REPLAYED)? as u32,
                    None => 1,
                };
                FaultKind::Replay { count }
            }
            RawFaultKind::ClientCrash => {
                self.only(at, &f, "client-crash", &["client", "restart_after_ms"])?;
                if shape.clients == 0 {
                    return self.fail(
                        &at.key("kind"),
                        "a client crash needs clients ([clients] count is 0)",
                    );
                }
                let client = match f.client.unwrap_or(RawClient::Any) {
                    RawClient::Any => ClientSelector::Any,
                    RawClient::Number(n) if n >= 1 && n <= i64::from(shape.clients) => {
                        ClientSelector::Client(ClientNo(n as u32))
                    }
                    RawClient::Number(n) => {
                        return self.fail(
                            &at.key("client"),
                            format!(
                                "client {n} does not exist; there are clients 1..={}",
                                shape.clients
                            ),
                        );
                    }
                };
                FaultKind::ClientCrash {
                    client,
                    restart_after_ms: self
                        .optional_ms(&at.key("restart_after_ms"), f.restart_after_ms)?,
                }
            }
        };
        Ok(FaultSpec { at_ms, kind })
    }

    /// Every node in exactly one group, at least two groups, none empty.
    fn groups(
        &self,
        at: &FieldPath,
        groups: Vec<Vec<u64>>,
        nodes: u8,
    ) -> Result<Vec<Vec<NodeId>>, ScenarioError> {
        if groups.len() < 2 {
            return self.fail(
                at,
                format!(
                    "a partition needs at least two groups, got {}",
                    groups.len()
                ),
            );
        }
        let mut seen = [false; 10];
        let mut out = Vec::with_capacity(groups.len());
        for (g, group) in groups.iter().enumerate() {
            if group.is_empty() {
                return self.fail(&at.index(g), "a group must name at least one node");
            }
            let mut members = Vec::with_capacity(group.len());
            for (i, &n) in group.iter().enumerate() {
                let id = self.node_number(
                    &at.index(g).index(i),
                    i64::try_from(n).unwrap_or(i64::MAX),
                    nodes,
                )?;
                if std::mem::replace(&mut seen[usize::from(id.0)], true) {
                    return self.fail(
                        &at.index(g).index(i),
                        format!("node {n} is named in more than one place; name each node once"),
                    );
                }
                members.push(id);
            }
            out.push(members);
        }
        if let Some(missing) = (1..=nodes).find(|&n| !seen[usize::from(n)]) {
            return self.fail(
                at,
                format!("node {missing} is in no group; name each of the {nodes} nodes once"),
            );
        }
        Ok(out)
    }
}

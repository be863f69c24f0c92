//! The `[[faults]]` schema, every kind in one place: what a file may write for each kind, how
//! it is checked, what it becomes ([`FaultKind`]), and how it is written back.
//!
//! Adding a kind: a [`FaultTag`] and a [`FaultKind`] variant, its `Raw…` struct (its fields,
//! each optional, unknown ones rejected), its arm in [`Checker::fault`] and in [`write`].
//! The compiler then lists the rest: the fault injector (`sim/faults.rs`), shrinking
//! (`campaign/shrink.rs`), and the trace line (`trace/`).
//!
//! Every table first has its `kind` and `at_ms` read; the rest of the table is then read as
//! that kind's struct, so a field of another kind (or a typo) is an error naming the field.

use std::fmt::{self, Write as _};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::de::{DeValue, ValueDeserializer};

use super::error::{FieldPath, ScenarioError};
use super::validate::{Checker, MAX_PHASE_MS};
use crate::ids::{ClientNo, NodeId};

/// Largest clock jump a clock fault may make, either way.
const MAX_CLOCK_OFFSET_MS: u64 = 3_600_000;

/// Largest clock rate error: half as fast or half again as fast as true time.
/// A lease survives any drift a scenario may set ([`crate::raft::MAX_CLOCK_DRIFT_PPM`]).
const MAX_DRIFT_PPM: u64 = crate::raft::MAX_CLOCK_DRIFT_PPM;

/// Most old requests one replay fault re-delivers.
const MAX_REPLAYED: u64 = 100;

/// A fault kind without its settings: what summaries count faults by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultTag {
    Crash,
    Partition,
    Network,
    Replay,
    ClientCrash,
    StaleReplay,
    Clock,
}

impl FaultTag {
    pub const COUNT: usize = 7;
    pub const ALL: [FaultTag; FaultTag::COUNT] = [
        FaultTag::Crash,
        FaultTag::Partition,
        FaultTag::Network,
        FaultTag::Replay,
        FaultTag::ClientCrash,
        FaultTag::StaleReplay,
        FaultTag::Clock,
    ];

    /// The name a file writes as `kind`.
    pub fn name(self) -> &'static str {
        match self {
            FaultTag::Crash => "crash",
            FaultTag::Partition => "partition",
            FaultTag::Network => "network",
            FaultTag::Replay => "replay",
            FaultTag::ClientCrash => "client-crash",
            FaultTag::StaleReplay => "stale-replay",
            FaultTag::Clock => "clock",
        }
    }
}

/// Which node a fault targets, resolved when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeSelector {
    /// The current leader (the live leader with the highest term).
    Leader,
    /// A live node that is not the leader, chosen by the fault stream.
    Follower,
    /// The live node whose log runs furthest past its commit index (the most entries that
    /// may yet be lost or committed); ties go to the lowest node number.
    MostUncommitted,
    Node(NodeId),
}

/// Which client a client crash targets, resolved when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientSelector {
    /// A live client with an operation in flight if there is one (else any live client),
    /// chosen by the fault stream.
    Any,
    Client(ClientNo),
}

/// When a crash fires, once its `at_ms` has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashWhen {
    /// At once (or as soon as the selected node exists and is up).
    Now,
    /// When the leader has appended a client write of its term and sent it to no one.
    BeforeReplicate,
    /// When the leader has sent an uncommitted client write to at least one follower and
    /// fewer than a majority have acknowledged it.
    MidReplication,
    /// When the leader has committed a client write and not yet replied.
    AfterCommit,
    /// Right after the leader replied to a client write.
    AfterReply,
    /// Right after a node (not the leader) granted its vote, while that election is still
    /// open: with a short `restart_after_ms` it is back in the same term, where a vote it did
    /// not keep would let it vote again (Raft's rule: persist the vote before answering).
    AfterVote,
    /// Right after a follower acknowledged entries: with a short `restart_after_ms` it is
    /// back before the leader moves on, so entries it acknowledged but did not keep would be
    /// missing from a majority the leader counted (persist entries before acknowledging).
    AfterAck,
    /// When a node (the leader, a follower, or a node number) has written a snapshot and not
    /// yet truncated its log: a restart must start from the snapshot and replay only what
    /// follows it. Needs `[cluster] snapshot_every`.
    MidSnapshot,
    /// When a follower holds part of a leader's snapshot, between two InstallSnapshot
    /// chunks: a restart drops the partial snapshot and the leader starts it over. Needs
    /// `[cluster] snapshot_every`.
    MidInstall,
}

impl CrashWhen {
    /// The moments every cluster has (what swarms draw crashes from).
    pub const ALL: [CrashWhen; 7] = [
        CrashWhen::Now,
        CrashWhen::BeforeReplicate,
        CrashWhen::MidReplication,
        CrashWhen::AfterCommit,
        CrashWhen::AfterReply,
        CrashWhen::AfterVote,
        CrashWhen::AfterAck,
    ];

    /// The moments of a cluster that takes snapshots.
    pub const SNAPSHOT: [CrashWhen; 2] = [CrashWhen::MidSnapshot, CrashWhen::MidInstall];

    /// A moment only a cluster that takes snapshots has.
    pub fn needs_snapshots(self) -> bool {
        matches!(self, CrashWhen::MidSnapshot | CrashWhen::MidInstall)
    }

    /// A moment in any node's life, checked right after that node's own step.
    pub fn is_node_moment(self) -> bool {
        self.is_follower_moment() || self == CrashWhen::MidSnapshot
    }

    /// A moment in a leader's life: the crash needs `node = "leader"` or a node number.
    pub fn is_leader_moment(self) -> bool {
        matches!(
            self,
            CrashWhen::BeforeReplicate
                | CrashWhen::MidReplication
                | CrashWhen::AfterCommit
                | CrashWhen::AfterReply
        )
    }

    /// A moment in a follower's life (after-vote, after-ack): the crash needs
    /// `node = "follower"` or a node number.
    pub fn is_follower_moment(self) -> bool {
        matches!(
            self,
            CrashWhen::AfterVote | CrashWhen::AfterAck | CrashWhen::MidInstall
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            CrashWhen::Now => "now",
            CrashWhen::BeforeReplicate => "before-replicate",
            CrashWhen::MidReplication => "mid-replication",
            CrashWhen::AfterCommit => "after-commit",
            CrashWhen::AfterReply => "after-reply",
            CrashWhen::AfterVote => "after-vote",
            CrashWhen::AfterAck => "after-ack",
            CrashWhen::MidSnapshot => "mid-snapshot",
            CrashWhen::MidInstall => "mid-install",
        }
    }
}

/// How a partition splits the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Split {
    /// Nodes talk only within their group; every node is in exactly one group.
    Groups(Vec<Vec<NodeId>>),
    /// One node is cut off from every other node.
    Isolate(NodeSelector),
}

/// What a fault does, checked.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    Crash {
        node: NodeSelector,
        when: CrashWhen,
        /// Absent: down until the liveness phase.
        restart_after_ms: Option<u64>,
    },
    Partition {
        split: Split,
        /// Cut only what the first group (or the isolated node) sends; it still hears the rest.
        one_way: bool,
        /// Absent: until the liveness phase.
        heal_after_ms: Option<u64>,
    },
    /// The network re-delivers `count` old client requests to the leader after the next
    /// leader change, as a slow or replayed packet would arrive.
    Replay { count: u32 },
    /// Right after a leader change, while the new leader has not yet applied a client's
    /// latest requests, the network re-delivers to it, in seq order, up to `count` of that
    /// client's requests older than its newest one (seqs it had already moved past: below its
    /// watermark) that the new leader would still take for new. They land in the log right
    /// behind the client's newest request, so on every replica they apply right after it, as
    /// duplicates of requests already acknowledged.
    StaleReplay { count: u32, client: ClientSelector },
    /// A client process crashes; it restarts (as a new incarnation) after `restart_after_ms`,
    /// or at the liveness phase.
    ClientCrash {
        client: ClientSelector,
        restart_after_ms: Option<u64>,
    },
    /// One node's clock (never the simulation's) reads `offset_ms` off, and runs `drift_ppm`
    /// fast (negative: slow), for `for_ms`; then it reads true time again. Everything the
    /// node does by its clock follows: election and heartbeat timers, and the stamps it puts
    /// on entries as leader.
    Clock {
        node: NodeSelector,
        offset_ms: i64,
        drift_ppm: i64,
        for_ms: u64,
    },
    /// Change link behaviour for a window; `None` fields keep the scenario's values.
    Network {
        for_ms: u64,
        drop: Option<f64>,
        duplicate: Option<f64>,
        delay_ms: Option<(u64, u64)>,
    },
}

impl FaultKind {
    pub fn tag(&self) -> FaultTag {
        match self {
            FaultKind::Crash { .. } => FaultTag::Crash,
            FaultKind::Partition { .. } => FaultTag::Partition,
            FaultKind::Replay { .. } => FaultTag::Replay,
            FaultKind::ClientCrash { .. } => FaultTag::ClientCrash,
            FaultKind::StaleReplay { .. } => FaultTag::StaleReplay,
            FaultKind::Network { .. } => FaultTag::Network,
            FaultKind::Clock { .. } => FaultTag::Clock,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub at_ms: u64,
    pub kind: FaultKind,
}

impl fmt::Display for FaultSpec {
    /// One line for summaries: `crash leader after-commit at 900 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at_ms;
        match &self.kind {
            FaultKind::Crash { node, when, .. } => {
                write!(f, "crash {} {} at {at} ms", selector(*node), when.name())
            }
            FaultKind::Partition { split, .. } => match split {
                Split::Groups(_) => write!(f, "partition at {at} ms"),
                Split::Isolate(node) => {
                    write!(f, "partition isolating {} at {at} ms", selector(*node))
                }
            },
            FaultKind::Replay { count } => write!(f, "replay of {count} at {at} ms"),
            FaultKind::StaleReplay { count, client } => match client {
                ClientSelector::Any => write!(f, "stale-replay of {count} at {at} ms"),
                ClientSelector::Client(no) => {
                    write!(f, "stale-replay of {count} from {no} at {at} ms")
                }
            },
            FaultKind::ClientCrash { client, .. } => match client {
                ClientSelector::Any => write!(f, "client-crash of any client at {at} ms"),
                ClientSelector::Client(no) => write!(f, "client-crash of {no} at {at} ms"),
            },
            FaultKind::Network { .. } => write!(f, "network window at {at} ms"),
            FaultKind::Clock {
                node,
                offset_ms,
                drift_ppm,
                ..
            } => write!(
                f,
                "clock of {} off by {offset_ms} ms, drift {drift_ppm} ppm, at {at} ms",
                selector(*node)
            ),
        }
    }
}

/// What every `[[faults]]` table has; the rest of the table is its kind's own fields, read
/// afterwards (fields not named here are skipped in this first reading).
#[derive(Debug, Deserialize)]
#[serde(expecting = "a fault table (kind, at_ms and the kind's own fields)")]
pub struct RawFaultHead {
    pub kind: FaultTag,
    pub at_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrash {
    node: Option<RawNode>,
    when: Option<CrashWhen>,
    restart_after_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartition {
    groups: Option<Vec<Vec<u64>>>,
    isolate: Option<RawNode>,
    one_way: Option<bool>,
    heal_after_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    for_ms: Option<u64>,
    drop: Option<f64>,
    duplicate: Option<f64>,
    delay_ms: Option<Vec<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClock {
    node: Option<RawNode>,
    offset_ms: Option<i64>,
    drift_ppm: Option<i64>,
    for_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplay {
    count: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaleReplay {
    count: Option<u64>,
    client: Option<RawClient>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientCrash {
    client: Option<RawClient>,
    restart_after_ms: Option<u64>,
}

/// The sizes faults are checked against.
#[derive(Clone, Copy)]
pub struct Shape {
    pub nodes: u8,
    /// `[cluster] snapshot_every` is set.
    pub snapshots: bool,
    pub clients: u32,
    pub duration_ms: u64,
}

impl Checker<'_> {
    /// Check `faults[i]`, whose `kind` and `at_ms` are `head`; `table` is the whole table as
    /// written (with spans, so an error in its kind's fields names the field and its place).
    pub fn fault(
        &self,
        at: &FieldPath,
        head: RawFaultHead,
        table: Option<toml::Spanned<DeValue<'_>>>,
        shape: Shape,
    ) -> Result<FaultSpec, ScenarioError> {
        let Some(at_ms) = head.at_ms else {
            return self.fail(&at.key("at_ms"), "missing: every fault needs at_ms");
        };
        if at_ms >= shape.duration_ms {
            return self.fail(
                &at.key("at_ms"),
                format!(
                    "must fall inside the fault phase (0..{} ms, see duration_ms), got {at_ms}",
                    shape.duration_ms
                ),
            );
        }
        let kind = match head.kind {
            FaultTag::Crash => self.crash(at, self.fields(at, head.kind, table)?, shape)?,
            FaultTag::Partition => self.partition(at, self.fields(at, head.kind, table)?, shape)?,
            FaultTag::Network => self.network(at, self.fields(at, head.kind, table)?)?,
            FaultTag::Replay => self.replay(at, self.fields(at, head.kind, table)?)?,
            FaultTag::ClientCrash => {
                self.client_crash(at, self.fields(at, head.kind, table)?, shape)?
            }
            FaultTag::StaleReplay => {
                self.stale_replay(at, self.fields(at, head.kind, table)?, shape)?
            }
            FaultTag::Clock => self.clock(at, self.fields(at, head.kind, table)?, shape)?,
        };
        Ok(FaultSpec { at_ms, kind })
    }

    /// Read a fault table's own fields (all but `kind` and `at_ms`) as `T`.
    fn fields<'de, T: Deserialize<'de>>(
        &self,
        at: &FieldPath,
        kind: FaultTag,
        table: Option<toml::Spanned<DeValue<'de>>>,
    ) -> Result<T, ScenarioError> {
        let mut table = table.unwrap_or_else(|| {
            let empty = DeValue::Table(Default::default());
            toml::Spanned::new(0..0, empty)
        });
        if let DeValue::Table(t) = table.get_mut() {
            t.remove("kind");
            t.remove("at_ms");
        }
        T::deserialize(ValueDeserializer::from(table)).map_err(|e| {
            let unknown = e
                .message()
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split_once('`'));
            match unknown {
                // A typo and another kind's field read the same: name the kind's fields.
                Some((field, expected)) => self.at.at_key(
                    &at.key(field),
                    format!(
                        "is not a field of kind = \"{}\"{}",
                        kind.name(),
                        expected
                            .trim_start_matches(',')
                            .trim()
                            .strip_prefix("expected one of ")
                            .map(|list| format!(" (its fields: {list})"))
                            .unwrap_or_default()
                    ),
                ),
                None => self.at.toml_error(&e),
            }
        })
    }

    fn crash(&self, at: &FieldPath, f: RawCrash, shape: Shape) -> Result<FaultKind, ScenarioError> {
        let Some(node) = f.node else {
            return self.fail(
                &at.key("node"),
                r#"missing: a crash needs node = "leader", "follower", "most-uncommitted" or a node number"#,
            );
        };
        let node = self.selector(&at.key("node"), node, shape.nodes)?;
        let when = f.when.unwrap_or(CrashWhen::Now);
        let leader_state = matches!(node, NodeSelector::Leader | NodeSelector::Node(_));
        if when.is_leader_moment() && !leader_state {
            return self.fail(
                &at.key("when"),
                format!(
                    "\"{}\" is a leader's state; use node = \"leader\" or a node number",
                    when.name()
                ),
            );
        }
        if when.needs_snapshots() && !shape.snapshots {
            return self.fail(
                &at.key("when"),
                format!(
                    "\"{}\" needs snapshots: set [cluster] snapshot_every to a number of entries",
                    when.name()
                ),
            );
        }
        if when == CrashWhen::MidSnapshot && node == NodeSelector::MostUncommitted {
            return self.fail(
                &at.key("when"),
                "\"mid-snapshot\" is a moment of the node that snapshots; use node = \"leader\", \"follower\" or a node number",
            );
        }
        let follower_state = matches!(node, NodeSelector::Follower | NodeSelector::Node(_));
        if when.is_follower_moment() && !follower_state {
            return self.fail(
                &at.key("when"),
                format!(
                    "\"{}\" is a follower's moment; use node = \"follower\" or a node number",
                    when.name()
                ),
            );
        }
        Ok(FaultKind::Crash {
            node,
            when,
            restart_after_ms: self.optional_ms(&at.key("restart_after_ms"), f.restart_after_ms)?,
        })
    }

    fn partition(
        &self,
        at: &FieldPath,
        f: RawPartition,
        shape: Shape,
    ) -> Result<FaultKind, ScenarioError> {
        let nodes = shape.nodes;
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
            (Some(groups), None) => Split::Groups(self.groups(&at.key("groups"), groups, nodes)?),
            (None, Some(node)) => Split::Isolate(self.selector(&at.key("isolate"), node, nodes)?),
        };
        Ok(FaultKind::Partition {
            split,
            one_way: f.one_way.unwrap_or(false),
            heal_after_ms: self.optional_ms(&at.key("heal_after_ms"), f.heal_after_ms)?,
        })
    }

    fn network(&self, at: &FieldPath, f: RawNetwork) -> Result<FaultKind, ScenarioError> {
        let Some(for_ms) = f.for_ms else {
            return self.fail(&at.key("for_ms"), "missing: a network fault needs for_ms");
        };
        let for_ms = self.in_range(&at.key("for_ms"), for_ms, 1, MAX_PHASE_MS)?;
        let drop = f
            .drop
            .map(|p| self.probability(&at.key("drop"), p))
            .transpose()?;
        let duplicate = f
            .duplicate
            .map(|p| self.probability(&at.key("duplicate"), p))
            .transpose()?;
        let delay_ms = f
            .delay_ms
            .map(|r| self.range_ms(&at.key("delay_ms"), r, 0, super::validate::MAX_DELAY_MS))
            .transpose()?;
        if drop.is_none() && duplicate.is_none() && delay_ms.is_none() {
            return self.fail(
                &at.key("for_ms"),
                "a network fault changes nothing without drop, duplicate or delay_ms",
            );
        }
        Ok(FaultKind::Network {
            for_ms,
            drop,
            duplicate,
            delay_ms,
        })
    }

    fn clock(&self, at: &FieldPath, f: RawClock, shape: Shape) -> Result<FaultKind, ScenarioError> {
        let Some(node) = f.node else {
            return self.fail(
                &at.key("node"),
                r#"missing: a clock fault needs node = "leader", "follower" or a node number"#,
            );
        };
        let node = self.selector(&at.key("node"), node, shape.nodes)?;
        let Some(for_ms) = f.for_ms else {
            return self.fail(&at.key("for_ms"), "missing: a clock fault needs for_ms");
        };
        let for_ms = self.in_range(&at.key("for_ms"), for_ms, 1, MAX_PHASE_MS)?;
        let offset_ms = f.offset_ms.unwrap_or(0);
        if offset_ms.unsigned_abs() > MAX_CLOCK_OFFSET_MS {
            return self.fail(
                &at.key("offset_ms"),
                format!("must be within ±{MAX_CLOCK_OFFSET_MS} ms, got {offset_ms}"),
            );
        }
        let drift_ppm = f.drift_ppm.unwrap_or(0);
        if drift_ppm.unsigned_abs() > MAX_DRIFT_PPM {
            return self.fail(
                &at.key("drift_ppm"),
                format!("must be within ±{MAX_DRIFT_PPM} ppm, got {drift_ppm}"),
            );
        }
        if offset_ms == 0 && drift_ppm == 0 {
            return self.fail(
                &at.key("for_ms"),
                "a clock fault changes nothing without offset_ms or drift_ppm",
            );
        }
        Ok(FaultKind::Clock {
            node,
            offset_ms,
            drift_ppm,
            for_ms,
        })
    }

    fn replay(&self, at: &FieldPath, f: RawReplay) -> Result<FaultKind, ScenarioError> {
        let count = match f.count {
            Some(n) => self.in_range(&at.key("count"), n, 1, MAX_REPLAYED)? as u32,
            None => 1,
        };
        Ok(FaultKind::Replay { count })
    }

    fn stale_replay(
        &self,
        at: &FieldPath,
        f: RawStaleReplay,
        shape: Shape,
    ) -> Result<FaultKind, ScenarioError> {
        if shape.clients == 0 {
            return self.fail(
                &at.key("kind"),
                "a stale replay needs clients ([clients] count is 0)",
            );
        }
        let count = match f.count {
            Some(n) => self.in_range(&at.key("count"), n, 1, MAX_REPLAYED)? as u32,
            None => 2,
        };
        let client = self.client_selector(at, f.client, shape)?;
        Ok(FaultKind::StaleReplay { count, client })
    }

    /// `client = "any"` (the default) or a client number that exists.
    fn client_selector(
        &self,
        at: &FieldPath,
        client: Option<RawClient>,
        shape: Shape,
    ) -> Result<ClientSelector, ScenarioError> {
        match client.unwrap_or(RawClient::Any) {
            RawClient::Any => Ok(ClientSelector::Any),
            RawClient::Number(n) if n >= 1 && n <= i64::from(shape.clients) => {
                Ok(ClientSelector::Client(ClientNo(n as u32)))
            }
            RawClient::Number(n) => self.fail(
                &at.key("client"),
                format!(
                    "client {n} does not exist; there are clients 1..={}",
                    shape.clients
                ),
            ),
        }
    }

    fn client_crash(
        &self,
        at: &FieldPath,
        f: RawClientCrash,
        shape: Shape,
    ) -> Result<FaultKind, ScenarioError> {
        if shape.clients == 0 {
            return self.fail(
                &at.key("kind"),
                "a client crash needs clients ([clients] count is 0)",
            );
        }
        let client = self.client_selector(at, f.client, shape)?;
        Ok(FaultKind::ClientCrash {
            client,
            restart_after_ms: self.optional_ms(&at.key("restart_after_ms"), f.restart_after_ms)?,
        })
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

/// Write `f` as a `[[faults]]` table, every field spelled out.
pub fn write(out: &mut String, f: &FaultSpec) {
    let _ = writeln!(out, "\n[[faults]]");
    let _ = writeln!(
        out,
        "kind = \"{}\"\nat_ms = {}",
        f.kind.tag().name(),
        f.at_ms
    );
    match &f.kind {
        FaultKind::Crash {
            node,
            when,
            restart_after_ms,
        } => {
            let _ = writeln!(out, "node = {}", quoted_selector(*node));
            let _ = writeln!(out, "when = \"{}\"", when.name());
            if let Some(ms) = restart_after_ms {
                let _ = writeln!(out, "restart_after_ms = {ms}");
            }
        }
        FaultKind::Partition {
            split,
            one_way,
            heal_after_ms,
        } => {
            match split {
                Split::Groups(groups) => {
                    let groups: Vec<String> = groups
                        .iter()
                        .map(|g| {
                            let ids: Vec<String> = g.iter().map(|n| n.0.to_string()).collect();
                            format!("[{}]", ids.join(", "))
                        })
                        .collect();
                    let _ = writeln!(out, "groups = [{}]", groups.join(", "));
                }
                Split::Isolate(node) => {
                    let _ = writeln!(out, "isolate = {}", quoted_selector(*node));
                }
            }
            let _ = writeln!(out, "one_way = {one_way}");
            if let Some(ms) = heal_after_ms {
                let _ = writeln!(out, "heal_after_ms = {ms}");
            }
        }
        FaultKind::Network {
            for_ms,
            drop,
            duplicate,
            delay_ms,
        } => {
            let _ = writeln!(out, "for_ms = {for_ms}");
            if let Some(p) = drop {
                let _ = writeln!(out, "drop = {}", super::write::float(*p));
            }
            if let Some(p) = duplicate {
                let _ = writeln!(out, "duplicate = {}", super::write::float(*p));
            }
            if let Some((min, max)) = delay_ms {
                let _ = writeln!(out, "delay_ms = [{min}, {max}]");
            }
        }
        FaultKind::Replay { count } => {
            let _ = writeln!(out, "count = {count}");
        }
        FaultKind::Clock {
            node,
            offset_ms,
            drift_ppm,
            for_ms,
        } => {
            let _ = writeln!(out, "node = {}", quoted_selector(*node));
            let _ = writeln!(out, "offset_ms = {offset_ms}");
            let _ = writeln!(out, "drift_ppm = {drift_ppm}");
            let _ = writeln!(out, "for_ms = {for_ms}");
        }
        FaultKind::StaleReplay { count, client } => {
            let _ = writeln!(out, "count = {count}");
            let _ = writeln!(out, "client = {}", quoted_client(*client));
        }
        FaultKind::ClientCrash {
            client,
            restart_after_ms,
        } => {
            let _ = writeln!(out, "client = {}", quoted_client(*client));
            if let Some(ms) = restart_after_ms {
                let _ = writeln!(out, "restart_after_ms = {ms}");
            }
        }
    }
}

/// A client selector as a TOML value (`"any"`, `2`).
fn quoted_client(client: ClientSelector) -> String {
    match client {
        ClientSelector::Any => "\"any\"".to_owned(),
        ClientSelector::Client(no) => no.0.to_string(),
    }
}

/// A selector as a file writes it, unquoted (`leader`, `3`).
fn selector(node: NodeSelector) -> String {
    match node {
        NodeSelector::Leader => "leader".to_owned(),
        NodeSelector::Follower => "follower".to_owned(),
        NodeSelector::MostUncommitted => "most-uncommitted".to_owned(),
        NodeSelector::Node(id) => id.to_string(),
    }
}

/// A selector as a TOML value (`"leader"`, `3`).
fn quoted_selector(node: NodeSelector) -> String {
    match node {
        NodeSelector::Node(id) => id.0.to_string(),
        other => format!("\"{}\"", selector(other)),
    }
}

/// `"leader"`, `"follower"`, `"most-uncommitted"` or a node number, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RawNode {
    Leader,
    Follower,
    MostUncommitted,
    Number(i64),
}

/// `"any"` or a client number, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RawClient {
    Any,
    Number(i64),
}

impl<'de> Deserialize<'de> for RawClient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawClient, D::Error> {
        struct ClientVisitor;
        impl Visitor<'_> for ClientVisitor {
            type Value = RawClient;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""any" or a client number"#)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawClient, E> {
                match v {
                    "any" => Ok(RawClient::Any),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawClient, E> {
                Ok(RawClient::Number(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawClient, E> {
                Ok(RawClient::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_any(ClientVisitor)
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawNode, D::Error> {
        struct NodeVisitor;
        impl Visitor<'_> for NodeVisitor {
            type Value = RawNode;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""leader", "follower", "most-uncommitted" or a node number"#)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
                match v {
                    "leader" => Ok(RawNode::Leader),
                    "follower" => Ok(RawNode::Follower),
                    "most-uncommitted" => Ok(RawNode::MostUncommitted),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
                Ok(RawNode::Number(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
                Ok(RawNode::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

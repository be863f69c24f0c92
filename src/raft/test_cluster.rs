//! A three-node cluster driven by hand, for the raft tests: messages go straight to their
//! node unless it is cut off, timers fire when asked, each node may read a skewed clock, and
//! what nodes send to clients is kept for the test to read.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::ids::{ClientNo, SimTime};
use crate::kv::{Op, Request};

/// The settings of node `id` of three, compacting every `every` entries (0: never).
pub(super) fn config(id: u8, every: u64) -> NodeConfig {
    NodeConfig {
        id: NodeId(id),
        cluster_size: 3,
        election_timeout_us: (150_000, 300_000),
        heartbeat_us: 50_000,
        dedup: Dedup::Sessions,
        limits: SessionLimits::default(),
        mutations: Mutations::default(),
        snapshot_every: every,
        snapshot_chunk_bytes: 64,
        reads: Reads::Log,
    }
}

pub(super) struct Cluster {
    pub nodes: Vec<Option<RaftNode>>,
    pub cut: Vec<bool>,
    pub now: SimTime,
    /// How far each node's clock reads off `now` (see [`Cluster::jump`]).
    pub skew_us: Vec<i64>,
    /// InstallSnapshot messages delivered so far.
    pub installs: u64,
    /// Crash (and restart at once) this node the first time it holds part of a snapshot.
    pub crash_mid_install: Option<NodeId>,
    pub crashed_mid_install: bool,
    /// Everything nodes sent to clients, in order.
    pub to_clients: Vec<Envelope>,
    /// Every event nodes reported, with the node.
    pub events: Vec<(NodeId, NodeEvent)>,
}

impl Cluster {
    pub fn new(every: u64) -> Cluster {
        Cluster::with(|id| config(id, every))
    }

    /// Three nodes with the settings `config` gives each id.
    pub fn with(config: impl Fn(u8) -> NodeConfig) -> Cluster {
        let node = |id: u8| {
            RaftNode::new(
                config(id),
                ChaCha8Rng::seed_from_u64(u64::from(id)),
                SimTime(0),
            )
        };
        Cluster {
            nodes: (1..=3).map(|i| Some(node(i))).collect(),
            cut: vec![false; 3],
            now: SimTime(0),
            skew_us: vec![0; 3],
            installs: 0,
            crash_mid_install: None,
            crashed_mid_install: false,
            to_clients: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn node(&mut self, id: u8) -> &mut RaftNode {
        self.nodes[usize::from(id - 1)]
            .as_mut()
            .expect("node is up")
    }

    /// What node `id`'s clock reads now.
    pub fn now_of(&self, id: NodeId) -> SimTime {
        SimTime(self.now.0.saturating_add_signed(self.skew_us[id.index()]))
    }

    /// Node `id`'s clock jumps by `delta_us`, as a clock fault makes it.
    pub fn jump(&mut self, id: NodeId, delta_us: i64) {
        self.skew_us[id.index()] += delta_us;
        self.node(id.0).clock_jumped(delta_us);
    }

    /// Deliver messages until none are left.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            let mut out = Vec::new();
            for n in self.nodes.iter_mut().flatten() {
                let id = n.id();
                out.extend(std::iter::from_fn(|| n.poll_transmit()));
                self.events
                    .extend(std::iter::from_fn(|| n.poll_event()).map(|e| (id, e)));
            }
            if out.is_empty() {
                return;
            }
            for envelope in out {
                let (Addr::Node(from), Addr::Node(to)) = (envelope.from, envelope.to) else {
                    self.to_clients.push(envelope);
                    continue;
                };
                if self.cut[from.index()] || self.cut[to.index()] {
                    continue;
                }
                if matches!(envelope.msg, Message::InstallSnapshot { .. }) {
                    self.installs += 1;
                }
                let now = self.now_of(to);
                if let Some(n) = self.nodes[to.index()].as_mut() {
                    n.handle_message(now, envelope);
                    if self.crash_mid_install == Some(to) && n.crash_points().mid_install.is_some()
                    {
                        let dead = self.nodes[to.index()].take().unwrap().crash();
                        self.nodes[to.index()] = Some(RaftNode::recover(dead, now));
                        self.crash_mid_install = None;
                        self.crashed_mid_install = true;
                    }
                }
            }
        }
        panic!("messages never stopped");
    }

    /// Move time on by `us` and fire every timer due, then deliver what follows.
    pub fn tick(&mut self, us: u64) {
        self.now = self.now.plus_us(us);
        for i in 0..self.nodes.len() {
            let now = self.now_of(NodeId(i as u8 + 1));
            if let Some(n) = self.nodes[i].as_mut() {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                }
            }
        }
        self.pump();
    }

    /// The leader, if one node leads (the highest term's, if several think they do).
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .flatten()
            .filter(|n| n.is_leader())
            .max_by_key(|n| n.term())
            .map(|n| n.id())
    }

    /// Client 7 sends `op` as its `seq` to `to`, from client process 1.
    pub fn request(&mut self, to: NodeId, seq: u64, op: Op) {
        let request = Arc::new(Request {
            client: ClientId(7),
            seq: Seq(seq),
            lowest_unacked: Seq(seq),
            op,
            origin: Default::default(),
        });
        let now = self.now_of(to);
        self.node(to.0).handle_message(
            now,
            Envelope {
                from: Addr::Client(ClientNo(1)),
                to: Addr::Node(to),
                msg: Message::ClientRequest {
                    request,
                    attempt: 1,
                },
            },
        );
    }

    /// Client 7 increments `k` as its `seq`, at `leader`.
    pub fn write(&mut self, leader: NodeId, seq: u64) {
        let op = Op::Incr {
            key: Arc::from("k"),
            amount: 1,
        };
        self.request(leader, seq, op);
    }

    /// A cluster compacting every 5 entries whose leader applied 20 writes while one
    /// follower (returned last) was cut off, and is still: it lags behind the compacted log.
    pub fn with_lagging_follower() -> (Cluster, NodeId, NodeId) {
        let mut c = Cluster::new(5);
        let leader = c.elect();
        let lagging = NodeId(if leader.0 == 3 { 2 } else { 3 });
        c.cut[lagging.index()] = true;
        for seq in 1..=20 {
            c.write(leader, seq);
            c.tick(1);
            c.tick(1);
        }
        (c, leader, lagging)
    }

    /// Run until a leader exists; returns it.
    pub fn elect(&mut self) -> NodeId {
        for _ in 0..200 {
            if let Some(l) = self.leader() {
                return l;
            }
            self.tick(10_000);
        }
        panic!("no leader elected");
    }
}

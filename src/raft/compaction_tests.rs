//! Snapshots, compaction and InstallSnapshot, driven message by message.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::ids::{ClientNo, SimTime};
use crate::kv::{Op, Request};

fn config(id: u8, every: u64) -> NodeConfig {
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
    }
}

fn node(id: u8, every: u64) -> RaftNode {
    RaftNode::new(
        config(id, every),
        ChaCha8Rng::seed_from_u64(u64::from(id)),
        SimTime(0),
    )
}

/// A three-node cluster driven by hand: messages go straight to their node unless it is cut
/// off; timers fire when asked.
struct Cluster {
    nodes: Vec<Option<RaftNode>>,
    cut: Vec<bool>,
    now: SimTime,
    /// InstallSnapshot messages delivered so far.
    installs: u64,
    /// Crash (and restart at once) this node the first time it holds part of a snapshot.
    crash_mid_install: Option<NodeId>,
    crashed_mid_install: bool,
}

impl Cluster {
    fn new(every: u64) -> Cluster {
        Cluster {
            nodes: (1..=3).map(|i| Some(node(i, every))).collect(),
            cut: vec![false; 3],
            now: SimTime(0),
            installs: 0,
            crash_mid_install: None,
            crashed_mid_install: false,
        }
    }

    fn node(&mut self, id: u8) -> &mut RaftNode {
        self.nodes[usize::from(id - 1)]
            .as_mut()
            .expect("node is up")
    }

    /// Deliver messages until none are left (at most `limit` rounds).
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut out = Vec::new();
            for n in self.nodes.iter_mut().flatten() {
                out.extend(std::iter::from_fn(|| n.poll_transmit()));
                while n.poll_event().is_some() {}
            }
            if out.is_empty() {
                return;
            }
            for envelope in out {
                let (Addr::Node(from), Addr::Node(to)) = (envelope.from, envelope.to) else {
                    continue;
                };
                if self.cut[from.index()] || self.cut[to.index()] {
                    continue;
                }
                if matches!(envelope.msg, Message::InstallSnapshot { .. }) {
                    self.installs += 1;
                }
                if let Some(n) = self.nodes[to.index()].as_mut() {
                    n.handle_message(self.now, envelope);
                    if self.crash_mid_install == Some(to) && n.crash_points().mid_install.is_some()
                    {
                        let dead = self.nodes[to.index()].take().unwrap().crash();
                        self.nodes[to.index()] = Some(RaftNode::recover(dead, self.now));
                        self.crash_mid_install = None;
                        self.crashed_mid_install = true;
                    }
                }
            }
        }
        panic!("messages never stopped");
    }

    /// Move time on by `us` and fire every timer due, then deliver what follows.
    fn tick(&mut self, us: u64) {
        self.now = self.now.plus_us(us);
        for n in self.nodes.iter_mut().flatten() {
            if n.poll_timeout().is_some_and(|t| t <= self.now) {
                n.handle_timeout(self.now);
            }
        }
        self.pump();
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .flatten()
            .find(|n| n.is_leader())
            .map(|n| n.id())
    }

    fn write(&mut self, leader: NodeId, seq: u64) {
        let request = Arc::new(Request {
            client: ClientId(7),
            seq: Seq(seq),
            lowest_unacked: Seq(seq),
            op: Op::Incr {
                key: Arc::from("k"),
                amount: 1,
            },
            origin: Default::default(),
        });
        let now = self.now;
        self.node(leader.0).handle_message(
            now,
            Envelope {
                from: Addr::Client(ClientNo(1)),
                to: Addr::Node(leader),
                msg: Message::ClientRequest {
                    request,
                    attempt: 1,
                },
            },
        );
    }

    /// A cluster compacting every 5 entries whose leader applied 20 writes while one
    /// follower (returned last) was cut off, and is still: it lags behind the compacted log.
    fn with_lagging_follower() -> (Cluster, NodeId, NodeId) {
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
    fn elect(&mut self) -> NodeId {
        for _ in 0..200 {
            if let Some(l) = self.leader() {
                return l;
            }
            self.tick(10_000);
        }
        panic!("no leader elected");
    }
}

/// A follower cut off while the others compact catches up through InstallSnapshot, in
/// several chunks, and ends with the same state; the others' logs hold nothing before their
/// snapshots.
#[test]
fn a_lagging_follower_catches_up_by_install_snapshot() {
    let (mut c, leader, lagging) = Cluster::with_lagging_follower();
    let l = c.node(leader.0);
    assert!(
        l.log().base().index.0 >= 15,
        "leader compacted: {:?}",
        l.log().base()
    );
    assert!(l.log().get(LogIndex(1)).is_none(), "index 1 is compacted");
    c.cut[lagging.index()] = false;
    for _ in 0..20 {
        c.tick(50_000);
    }
    assert!(
        c.installs > 1,
        "the snapshot took several chunks ({})",
        c.installs
    );
    let expected = c.node(leader.0).state_machine().digest();
    let applied = c.node(leader.0).last_applied();
    let f = c.node(lagging.0);
    assert_eq!(f.last_applied(), applied, "follower caught up");
    assert_eq!(
        f.state_machine().digest(),
        expected,
        "same KV map and table"
    );
    assert!(
        f.durable().snapshot.is_some(),
        "it keeps the installed snapshot"
    );
}

/// A restart loads the snapshot and applies only what follows it; a crash between writing
/// the snapshot and truncating the log (mid-snapshot) loses nothing and truncates on restart.
#[test]
fn restart_from_a_snapshot_replays_only_the_suffix() {
    let mut c = Cluster::new(4);
    let leader = c.elect();
    for seq in 1..=10 {
        c.write(leader, seq);
        c.tick(1);
        c.tick(1);
    }
    let before = c.node(leader.0).state_machine().digest();
    let applied = c.node(leader.0).last_applied();
    let crashed = c.nodes[leader.index()].take().unwrap().crash();
    let snapshot_index = crashed.durable.snapshot_index();
    assert!(snapshot_index.0 >= 8, "snapshots taken: {snapshot_index}");
    let back = RaftNode::recover(crashed, c.now);
    assert_eq!(
        back.last_applied(),
        snapshot_index,
        "starts at its snapshot"
    );
    assert_eq!(back.log().base().index, snapshot_index, "log truncated");
    c.nodes[leader.index()] = Some(back);
    for _ in 0..40 {
        c.tick(50_000);
    }
    let n = c.node(leader.0);
    assert!(n.last_applied() > applied, "a new leader's no-op applied");
    assert_eq!(
        n.state_machine().digest(),
        before,
        "same state after the suffix"
    );

    // Mid-snapshot: the moment between taking a snapshot and compacting.
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let mut seen = false;
    'writes: for seq in 1..=12 {
        c.write(leader, seq);
        for _ in 0..2 {
            c.tick(1);
            let points = c.node(leader.0).crash_points();
            if let Some(index) = points.mid_snapshot {
                seen = true;
                let crashed = c.nodes[leader.index()].take().unwrap().crash();
                assert!(
                    crashed.durable.log.get(index).is_some(),
                    "log not yet truncated"
                );
                let back = RaftNode::recover(crashed, c.now);
                assert_eq!(back.last_applied(), index);
                assert!(
                    back.log().get(index).is_none(),
                    "compaction finished on restart"
                );
                c.nodes[leader.index()] = Some(back);
                break 'writes;
            }
        }
    }
    assert!(seen, "the mid-snapshot moment came");
}

/// A follower that crashes between two chunks (mid-install) drops the partial snapshot; the
/// leader starts over from byte 0 and the follower still ends with the leader's state.
#[test]
fn a_crash_mid_install_starts_the_snapshot_over() {
    let (mut c, leader, lagging) = Cluster::with_lagging_follower();
    c.cut[lagging.index()] = false;
    c.crash_mid_install = Some(lagging);
    for _ in 0..40 {
        c.tick(50_000);
    }
    assert!(
        c.crashed_mid_install,
        "the follower crashed between two chunks"
    );
    let expected = c.node(leader.0).state_machine().digest();
    let applied = c.node(leader.0).last_applied();
    let f = c.node(lagging.0);
    assert_eq!(f.last_applied(), applied, "it caught up after the restart");
    assert_eq!(f.state_machine().digest(), expected);
}

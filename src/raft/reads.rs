//! Reads outside the log (`[server] reads`): ReadIndex (Raft dissertation §6.4), leader
//! leases on a clock of bounded drift, follower reads through ReadIndex, and two flawed
//! paths the linearizability rule must catch.
//!
//! Every path but `log` answers a `get` without appending it. A leader proves it still
//! leads with a *confirmation round*: it sends `ReadProbe { term, round }` to every follower
//! and counts the round confirmed once a majority (itself included) answered it in its term.
//! A read that arrived before round `r` was sent is safe to answer once `r` is confirmed and
//! the leader has applied up to its read index: the commit index when the read arrived, taken
//! only once the leader has committed an entry of its own term (its commit index is then
//! known to be at least every index committed before the read).
//!
//! A lease trades the round for time: a confirmed round sent at `s` proves no other leader
//! can be elected before `s + election_timeout_min` *by the followers' clocks*, because a
//! node that heard from the leader ignores vote requests for that long (§6.4's lease, with
//! §4.2.3's rule). Clocks differ, so the lease lasts only
//! `election_timeout_min · (1 − ρ) / (1 + ρ)` for a drift bound ρ ([`MAX_CLOCK_DRIFT_PPM`]),
//! measured on the node's *lease clock*: its reading with every clock jump taken out, as a
//! monotonic clock. `lease-unbounded` measures the full timeout on the wall clock instead,
//! so a leader whose clock jumps back keeps answering after a new leader took over.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{NodeEvent, RaftNode, Role, Timer};
use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, SimTime, Term};
use crate::kv::Request;
use crate::message::{Addr, Message, Reply};

/// The largest rate error of any node's clock that a correct lease survives: ±50%, the bound
/// scenario files are held to (`drift_ppm`).
pub const MAX_CLOCK_DRIFT_PPM: u64 = 500_000;

/// Confirmation rounds whose send time a leader remembers (for its lease).
const ROUNDS_KEPT: usize = 64;

/// Reads from followers a leader holds at once; past it the oldest is dropped (its
/// follower's client times out and retries).
const MAX_FORWARDED: usize = 1024;

/// How a node answers a `get` (`[server] reads`, `--reads`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Reads {
    /// Correct: a get is appended to the log like a write and answered when it applies.
    #[default]
    Log,
    /// Correct: the leader notes its commit index, confirms it still leads with a round of
    /// probes to a majority, waits until it has applied that index and answers from its
    /// state (Raft §6.4). A follower asks the leader for a read index the same way and
    /// answers once it has applied up to it
    ReadIndex,
    /// Correct while every clock's rate is within ±50% of true time: the leader answers
    /// from its state while its lease holds, measured on a clock that ignores jumps and
    /// shortened for the worst drift; followers refuse votes for a minimum election timeout
    /// after hearing from the leader
    Lease,
    /// Flawed on purpose: the leader answers from its own state at once, without confirming
    /// that it still leads, so a leader cut off from the others serves stale values
    Local,
    /// Flawed on purpose: a lease measured on the wall clock for the full minimum election
    /// timeout, as if clocks never jumped or drifted: a leader whose clock jumps back (or
    /// runs slow) answers from a lease that has already run out
    LeaseUnbounded,
}

impl Reads {
    pub const ALL: [Reads; 5] = [
        Reads::Log,
        Reads::ReadIndex,
        Reads::Lease,
        Reads::Local,
        Reads::LeaseUnbounded,
    ];

    /// The name in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Reads::Log => "log",
            Reads::ReadIndex => "read-index",
            Reads::Lease => "lease",
            Reads::Local => "local",
            Reads::LeaseUnbounded => "lease-unbounded",
        }
    }

    /// Flawed on purpose: the linearizability rule must catch it.
    pub fn is_flawed(self) -> bool {
        matches!(self, Reads::Local | Reads::LeaseUnbounded)
    }

    /// A lease path, correct or flawed.
    pub fn leases(self) -> bool {
        matches!(self, Reads::Lease | Reads::LeaseUnbounded)
    }
}

/// The path one read took, as the `read` trace event names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadPath {
    ReadIndex,
    /// A follower's read, at the read index its leader confirmed.
    FollowerReadIndex,
    Lease,
    Local,
    LeaseUnbounded,
}

impl ReadPath {
    pub const ALL: [ReadPath; 5] = [
        ReadPath::ReadIndex,
        ReadPath::FollowerReadIndex,
        ReadPath::Lease,
        ReadPath::Local,
        ReadPath::LeaseUnbounded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReadPath::ReadIndex => "read-index",
            ReadPath::FollowerReadIndex => "follower-read-index",
            ReadPath::Lease => "lease",
            ReadPath::Local => "local",
            ReadPath::LeaseUnbounded => "lease-unbounded",
        }
    }
}

/// A client read waiting at this node.
#[derive(Clone, Debug)]
struct WaitingRead {
    client_no: ClientNo,
    attempt: u32,
    request: Arc<Request>,
    /// The index to have applied before answering; `None` until known.
    index: Option<LogIndex>,
    /// Leader: the confirmation round that must be confirmed first (0: none, under a lease).
    /// Follower: the id of its read-index request.
    round: u64,
    path: ReadPath,
}

/// A follower's read-index request at the leader.
#[derive(Clone, Copy, Debug)]
struct Forwarded {
    from: NodeId,
    id: u64,
    index: Option<LogIndex>,
    round: u64,
}

/// A node's state for reads outside the log; all volatile.
#[derive(Debug, Default)]
pub(super) struct ReadState {
    /// Leader: the last confirmation round sent.
    round: u64,
    /// Leader: the highest round each node confirmed this term, by `NodeId::index()`.
    confirmed: Vec<u64>,
    /// Leader: when recent rounds were sent, on the lease clock (oldest first).
    sent_at: VecDeque<(u64, SimTime)>,
    /// Leader: the lease holds until then, on the lease clock.
    lease_until: Option<SimTime>,
    /// Client reads waiting here, by `(client, seq)` (a retry replaces its earlier attempt).
    waiting: BTreeMap<(ClientId, Seq), WaitingRead>,
    /// Leader: followers' read-index requests.
    forwarded: VecDeque<Forwarded>,
    /// Follower: the id of its next read-index request.
    next_id: u64,
    /// The sum of this node's clock jumps: its lease clock reads `now - jumps_us`.
    jumps_us: i64,
    /// When this node last heard from a leader of its term, on its lease clock (lease modes
    /// only; a new incarnation counts as having just heard).
    heard_at: Option<SimTime>,
}

impl RaftNode {
    /// Whether a request is a read this node answers outside the log.
    pub(super) fn reads_outside_log(&self, request: &Request) -> bool {
        self.config.reads != Reads::Log && !request.op.kind().is_write()
    }

    /// The lease clock: the node's reading without its jumps (the wall clock for the flawed
    /// `lease-unbounded`).
    fn lease_clock(&self, now: SimTime) -> SimTime {
        if self.config.reads == Reads::LeaseUnbounded {
            return now;
        }
        SimTime(now.0.saturating_add_signed(-self.reads.jumps_us))
    }

    /// A lease's length on the lease clock.
    fn lease_us(&self) -> u64 {
        let min_us = self.config.election_timeout_us.0;
        if self.config.reads == Reads::LeaseUnbounded {
            return min_us;
        }
        let rho = MAX_CLOCK_DRIFT_PPM;
        min_us * (1_000_000 - rho) / (1_000_000 + rho)
    }

    /// The node's clock jumped by `delta_us`: the lease clock does not.
    pub(super) fn reads_clock_jumped(&mut self, delta_us: i64) {
        self.reads.jumps_us = self.reads.jumps_us.saturating_add(delta_us);
    }

    /// A new incarnation or a node that heard from its leader: under a lease it refuses votes
    /// for a minimum election timeout from now.
    pub(super) fn reads_heard_leader(&mut self, now: SimTime) {
        if self.config.reads.leases() {
            self.reads.heard_at = Some(self.lease_clock(now));
        }
    }

    /// Under a lease, a vote request for a newer term is ignored while this node may still
    /// be inside a leader's lease (§4.2.3): a leader whose lease holds, or a node that heard
    /// from a leader less than a minimum election timeout ago.
    pub(super) fn ignores_votes(&self, now: SimTime) -> bool {
        if !self.config.reads.leases() {
            return false;
        }
        let at = self.lease_clock(now);
        if self.role == Role::Leader {
            return self.reads.lease_until.is_some_and(|until| at < until);
        }
        self.reads
            .heard_at
            .is_some_and(|heard| at.0 < heard.0.saturating_add(self.config.election_timeout_us.0))
    }

    /// A client `get` under a read path other than `log`.
    pub(super) fn handle_read(
        &mut self,
        now: SimTime,
        client_no: ClientNo,
        request: Arc<Request>,
        attempt: u32,
    ) {
        let key = (request.client, request.seq);
        // Reads of seqs the client has had answered are no longer awaited.
        let client = request.client;
        let stale = (client, Seq(0))..(client, request.lowest_unacked);
        while let Some(&old) = self
            .reads
            .waiting
            .range(stale.clone())
            .next()
            .map(|(k, _)| k)
        {
            self.reads.waiting.remove(&old);
        }
        let mut read = WaitingRead {
            client_no,
            attempt,
            request,
            index: None,
            round: 0,
            path: ReadPath::ReadIndex,
        };
        if self.role != Role::Leader {
            let leader = self.leader_hint.filter(|&l| l != self.config.id);
            match (self.config.reads, leader) {
                (Reads::ReadIndex, Some(leader)) => {
                    self.reads.next_id += 1;
                    read.round = self.reads.next_id;
                    read.path = ReadPath::FollowerReadIndex;
                    self.reads.waiting.insert(key, read);
                    self.send(
                        Addr::Node(leader),
                        Message::ReadIndex {
                            id: self.reads.next_id,
                        },
                    );
                }
                _ => {
                    let reply = Reply::NotLeader { hint: leader };
                    self.answer_read(&read, reply);
                }
            }
            return;
        }
        match self.config.reads {
            Reads::Log => unreachable!("log reads go through the log"),
            Reads::Local => {
                read.path = ReadPath::Local;
                self.serve(read);
                return;
            }
            Reads::Lease | Reads::LeaseUnbounded if self.lease_holds(now) => {
                read.path = if self.config.reads == Reads::Lease {
                    ReadPath::Lease
                } else {
                    ReadPath::LeaseUnbounded
                };
                read.index = self.own_commit();
            }
            Reads::ReadIndex | Reads::Lease | Reads::LeaseUnbounded => {
                read.round = self.next_round(now);
            }
        }
        self.reads.waiting.insert(key, read);
        self.serve_reads();
    }

    fn lease_holds(&self, now: SimTime) -> bool {
        let at = self.lease_clock(now);
        self.reads.lease_until.is_some_and(|until| at < until)
    }

    /// The commit index, once this leader has committed an entry of its own term (before
    /// that, entries of earlier terms may be committed beyond it).
    fn own_commit(&self) -> Option<LogIndex> {
        let term = self.durable.current_term;
        (self.durable.log.term_at(self.commit_index) == Some(term)).then_some(self.commit_index)
    }

    /// The round a read arriving now needs: the next one, sent in a step of its own (reads
    /// arriving in between share it).
    fn next_round(&mut self, now: SimTime) -> u64 {
        if self.timers[Timer::Probe as usize].is_none() {
            self.arm(Timer::Probe, now);
        }
        self.reads.round + 1
    }

    /// The probe timer fired: send the next confirmation round.
    pub(super) fn send_round(&mut self, now: SimTime) {
        if self.role != Role::Leader {
            return;
        }
        self.reads.round += 1;
        let round = self.reads.round;
        let sent = self.lease_clock(now);
        if self.reads.sent_at.len() == ROUNDS_KEPT {
            self.reads.sent_at.pop_front();
        }
        self.reads.sent_at.push_back((round, sent));
        let term = self.durable.current_term;
        for peer in self.config.peers() {
            self.send(Addr::Node(peer), Message::ReadProbe { term, round });
        }
        self.serve_reads();
    }

    /// Leader, each heartbeat: under a lease, renew it.
    pub(super) fn renew_lease(&mut self, now: SimTime) {
        if self.config.reads.leases() {
            self.next_round(now);
        }
    }

    /// A follower answers a probe like a heartbeat: it names its term, and acknowledges the
    /// round when the probe is of that term.
    pub(super) fn handle_probe(&mut self, now: SimTime, leader: NodeId, term: Term, round: u64) {
        self.observe_term(now, term, Some(leader));
        let current = self.durable.current_term;
        if term == current {
            self.heard_from_leader(now, leader, "ReadProbe");
        }
        self.send(
            Addr::Node(leader),
            Message::ProbeReply {
                term: current,
                round,
            },
        );
    }

    pub(super) fn handle_probe_reply(
        &mut self,
        now: SimTime,
        from: NodeId,
        term: Term,
        round: u64,
    ) {
        self.observe_term(now, term, None);
        if self.role != Role::Leader || term != self.durable.current_term {
            return;
        }
        let confirmed = &mut self.reads.confirmed[from.index()];
        *confirmed = (*confirmed).max(round);
        self.serve_reads();
    }

    /// The leader: a follower asks for a read index.
    pub(super) fn handle_read_index(&mut self, now: SimTime, from: NodeId, id: u64) {
        if self.role != Role::Leader {
            self.send(
                Addr::Node(from),
                Message::ReadIndexReply { id, index: None },
            );
            return;
        }
        if self.reads.forwarded.len() == MAX_FORWARDED {
            self.reads.forwarded.pop_front();
        }
        let round = self.next_round(now);
        self.reads.forwarded.push_back(Forwarded {
            from,
            id,
            index: None,
            round,
        });
        self.serve_reads();
    }

    /// A follower: its leader's read index for its read `id` (`None`: it no longer leads).
    pub(super) fn handle_read_index_reply(&mut self, id: u64, index: Option<LogIndex>) {
        let found = self
            .reads
            .waiting
            .iter()
            .find(|(_, r)| r.round == id && r.path == ReadPath::FollowerReadIndex)
            .map(|(&k, _)| k);
        let Some(key) = found else { return };
        match index {
            Some(index) => {
                if let Some(read) = self.reads.waiting.get_mut(&key) {
                    read.index = Some(index);
                }
                self.serve_reads();
            }
            None => {
                let read = self.reads.waiting.remove(&key).expect("found above");
                let hint = self.leader_hint.filter(|&l| l != self.config.id);
                self.answer_read(&read, Reply::NotLeader { hint });
            }
        }
    }

    /// The highest round a majority (this leader included) has confirmed.
    fn confirmed_round(&self) -> u64 {
        let mut rounds = [0u64; 9];
        let n = usize::from(self.config.cluster_size);
        for (i, slot) in rounds.iter_mut().enumerate().take(n) {
            *slot = if i == self.config.id.index() {
                u64::MAX
            } else {
                self.reads.confirmed[i]
            };
        }
        let rounds = &mut rounds[..n];
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds[self.config.majority() - 1]
    }

    /// Answer every read that may be answered now.
    pub(super) fn serve_reads(&mut self) {
        let leader = self.role == Role::Leader;
        let confirmed = if leader && self.config.reads != Reads::Log {
            let confirmed = self.confirmed_round().min(self.reads.round);
            self.extend_lease(confirmed);
            confirmed
        } else {
            0
        };
        if self.reads.waiting.is_empty() && self.reads.forwarded.is_empty() {
            return;
        }
        if leader {
            let own = self.own_commit();
            for forwarded in &mut self.reads.forwarded {
                forwarded.index = forwarded.index.or(own);
            }
            while let Some(&f) = self.reads.forwarded.front() {
                let Some(index) = f.index.filter(|_| f.round <= confirmed) else {
                    break;
                };
                self.reads.forwarded.pop_front();
                self.send(
                    Addr::Node(f.from),
                    Message::ReadIndexReply {
                        id: f.id,
                        index: Some(index),
                    },
                );
            }
            for read in self.reads.waiting.values_mut() {
                read.index = read.index.or(own);
            }
        }
        // A read goes once its index is applied, and at the leader once its round is
        // confirmed (a follower's `round` is its request id: its leader confirmed it).
        let applied = self.last_applied;
        let ready: Vec<(ClientId, Seq)> = self
            .reads
            .waiting
            .iter()
            .filter(|(_, r)| {
                (!leader || r.round <= confirmed) && r.index.is_some_and(|i| i <= applied)
            })
            .map(|(&k, _)| k)
            .collect();
        for key in ready {
            let read = self.reads.waiting.remove(&key).expect("ready read");
            self.serve(read);
        }
    }

    /// Under a lease: the rounds up to `confirmed` are confirmed, so the lease runs from the
    /// latest one's send time.
    fn extend_lease(&mut self, confirmed: u64) {
        let mut newest = None;
        while let Some(&(round, sent)) = self.reads.sent_at.front() {
            if round > confirmed {
                break;
            }
            newest = Some(sent);
            self.reads.sent_at.pop_front();
        }
        if let (true, Some(sent)) = (self.config.reads.leases(), newest) {
            let until = SimTime(sent.0.saturating_add(self.lease_us()));
            self.reads.lease_until = Some(self.reads.lease_until.map_or(until, |u| u.max(until)));
        }
    }

    /// Answer `read` from this node's state now.
    fn serve(&mut self, read: WaitingRead) {
        let crate::kv::Op::Get { key } = &read.request.op else {
            unreachable!("only gets are read outside the log")
        };
        let result = self.state.read(key);
        self.events.push_back(NodeEvent::Read {
            client: read.request.client,
            seq: read.request.seq,
            path: read.path,
            index: self.last_applied,
            result: result.clone(),
        });
        self.answer_read(
            &read,
            Reply::Done {
                result,
                cached: false,
            },
        );
    }

    fn answer_read(&mut self, read: &WaitingRead, reply: Reply) {
        self.send(
            Addr::Client(read.client_no),
            Message::ClientReply {
                client: read.request.client,
                seq: read.request.seq,
                attempt: read.attempt,
                incarnation: read.request.origin.incarnation,
                reply,
            },
        );
    }

    /// This leader won an election: a fresh start for rounds and the lease.
    pub(super) fn reads_became_leader(&mut self) {
        self.reads.confirmed = vec![0; usize::from(self.config.cluster_size)];
        self.reads.sent_at.clear();
        self.reads.lease_until = None;
        self.reads.waiting.clear();
        self.reads.forwarded.clear();
    }

    /// This node stopped leading, or saw a newer term: the reads waiting here will not be
    /// answered by it; tell their clients to look elsewhere.
    pub(super) fn reads_stepped_down(&mut self) {
        self.reads.lease_until = None;
        self.reads.sent_at.clear();
        self.disarm(Timer::Probe);
        for forwarded in std::mem::take(&mut self.reads.forwarded) {
            self.send(
                Addr::Node(forwarded.from),
                Message::ReadIndexReply {
                    id: forwarded.id,
                    index: None,
                },
            );
        }
        let hint = self.leader_hint.filter(|&l| l != self.config.id);
        for (_, read) in std::mem::take(&mut self.reads.waiting) {
            self.answer_read(&read, Reply::NotLeader { hint });
        }
    }
}

//! A Raft node as a sans-IO state machine (Raft paper, Ongaro & Ousterhout 2014).
//!
//! Time arrives as `now`; randomness (election timeouts) comes from the node's own seeded
//! stream. The durable part ([`Durable`]: term, vote, log) is updated before any message that
//! depends on it is queued, so a driver that persists it before draining `poll_transmit`
//! satisfies Raft's "persist before answering" rule; the simulator's memory is that storage.
//! A crash ([`RaftNode::crash`]) keeps only the durable part; [`RaftNode::recover`] rebuilds
//! the rest and re-applies the log from index 1 as commits become known again.

mod compaction;
mod election;
mod event;
mod log;
mod reads;
mod replication;
mod requests;
mod snapshot;

#[cfg(test)]
mod compaction_tests;
#[cfg(test)]
mod reads_tests;
#[cfg(test)]
mod test_cluster;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

pub use event::NodeEvent;
pub use log::{Log, LogBase};
pub use reads::{MAX_CLOCK_DRIFT_PPM, ReadPath, Reads};
pub use snapshot::Snapshot;

use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, SimTime, Term};
use crate::kv::{Dedup, SessionLimits, StateMachine};
use crate::message::{Addr, Entry, Envelope, Install, Message, RegisterAnswer, Reply};
pub use crate::mutation::{Mutation, Mutations};
use crate::process::Process;

/// Most entries one `AppendEntries` carries; a lagging follower catches up in batches.
pub const MAX_ENTRIES_PER_APPEND: u64 = 64;

/// A node's fixed settings.
#[derive(Clone, Copy, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    /// Number of nodes in the cluster, 1..=9; nodes are `n1..=n{cluster_size}`.
    pub cluster_size: u8,
    /// Election timeouts are drawn uniformly from `[min, max]` microseconds.
    pub election_timeout_us: (u64, u64),
    /// A leader sends `AppendEntries` to every follower at least this often.
    pub heartbeat_us: u64,
    pub dedup: Dedup,
    /// How sessions begin and end.
    pub limits: SessionLimits,
    /// Deliberate bugs, all off unless a checker test turns one on.
    pub mutations: Mutations,
    /// Take a snapshot and compact the log once this many entries were applied since the
    /// last one; 0: never.
    pub snapshot_every: u64,
    /// Bytes of snapshot per `InstallSnapshot` message.
    pub snapshot_chunk_bytes: u32,
    /// How `get`s are answered.
    pub reads: Reads,
}

impl NodeConfig {
    /// Votes (or acknowledgements, counting the leader) needed to win or commit.
    pub fn majority(&self) -> usize {
        usize::from(self.cluster_size) / 2 + 1
    }

    /// Every other node of the cluster.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + use<> {
        let me = self.id;
        (1..=self.cluster_size)
            .map(NodeId)
            .filter(move |&n| n != me)
    }
}

/// What survives a crash: Raft's persistent state (Figure 2).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Durable {
    pub current_term: Term,
    pub voted_for: Option<NodeId>,
    pub log: Log,
    /// The last snapshot taken or installed: the log holds nothing at or before its index
    /// once compaction is done (a crash between the two leaves both, mid-snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Arc<Snapshot>>,
}

impl Durable {
    /// The index the last snapshot covers (0 without one).
    pub fn snapshot_index(&self) -> LogIndex {
        self.snapshot.as_ref().map_or(LogIndex(0), |s| s.base.index)
    }
}

/// What a crashed node leaves behind for its next incarnation: its durable state, and its
/// randomness stream (a new incarnation continues the stream rather than replaying it).
#[derive(Debug)]
pub struct CrashedNode {
    pub config: NodeConfig,
    pub durable: Durable,
    pub rng: ChaCha8Rng,
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// A leader's view of one follower (Raft Figure 2, plus what was sent for fault triggers).
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    next_index: LogIndex,
    match_index: LogIndex,
    /// Highest index sent in any `AppendEntries` this term.
    sent_up_to: LogIndex,
    /// The snapshot being sent (its index) and the bytes the follower holds of it.
    installing: Option<(LogIndex, u64)>,
}

/// A client request the leader appended and must answer when it applies.
#[derive(Clone, Copy, Debug)]
struct Waiter {
    attempt: u32,
    client_no: ClientNo,
    /// The sending process's incarnation, echoed in the answer.
    incarnation: u32,
}

/// A register request the leader appended and must answer when it applies.
#[derive(Clone, Copy, Debug)]
struct RegisterWaiter {
    attempt: u32,
    client_no: ClientNo,
    incarnation: u32,
}

/// Timers, as a fixed table indexed by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Follower/candidate: start an election when it fires.
    Election = 0,
    /// Leader: send `AppendEntries` to every follower.
    Heartbeat = 1,
    /// Apply committed entries. Armed at `now` when the commit index advances, so there is a
    /// moment (observable from outside) when an entry is committed but not yet applied or
    /// answered, as in any server whose apply loop runs behind its Raft loop.
    Apply = 2,
    /// Leader: send newly appended client entries. Armed at `now` on append, so there is a
    /// moment when a write is in the log and on no wire (the before-replicate crash point),
    /// as in any server that appends, then flushes.
    Replicate = 3,
    /// Drop the log prefix the last snapshot covers. Armed at `now` when a snapshot is
    /// taken, so there is a moment when the snapshot is written and the log not yet
    /// truncated (the mid-snapshot crash point).
    Compact = 4,
    /// Leader: send a confirmation round for reads outside the log. Armed at `now` when a
    /// read needs one, so reads arriving in one step share a round.
    Probe = 5,
}

/// Number of [`Timer`] kinds.
const TIMERS: usize = 6;

/// Where the leader stands with respect to the crash points of docs/DESIGN.md §4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashPoints {
    /// A client write at this index is in the leader's log and was sent to no one.
    pub before_replicate: Option<LogIndex>,
    /// An uncommitted client write at this index was sent to this follower, and fewer than a
    /// majority have acknowledged it.
    pub mid_replication: Option<(LogIndex, NodeId)>,
    /// A client write at this index is committed but not yet applied, so not yet answered.
    pub after_commit: Option<LogIndex>,
    /// The leader has just answered the client write at this index.
    pub after_reply: Option<LogIndex>,
    /// This node has just granted its vote to this candidate, whose election is still open
    /// (the vote is on its way).
    pub after_vote: Option<NodeId>,
    /// This follower has just acknowledged entries up to this index (the acknowledgement is
    /// on its way).
    pub after_ack: Option<LogIndex>,
    /// This node has written a snapshot up to this index and not yet truncated its log.
    pub mid_snapshot: Option<LogIndex>,
    /// This follower holds part of the snapshot up to this index from this leader, waiting
    /// for its next chunk.
    pub mid_install: Option<(LogIndex, NodeId)>,
}

/// One Raft node.
#[derive(Debug)]
pub struct RaftNode {
    config: NodeConfig,
    durable: Durable,
    rng: ChaCha8Rng,
    role: Role,
    leader_hint: Option<NodeId>,
    commit_index: LogIndex,
    last_applied: LogIndex,
    state: StateMachine,
    /// Candidate: bit `n` set when node `n` granted its vote this term.
    votes: u16,
    /// Leader: progress of each node, indexed by `NodeId::index()` (own slot unused).
    progress: Vec<Progress>,
    /// Leader: requests to answer when applied, by `(client, seq)` (a client may have
    /// several in flight).
    waiting: BTreeMap<(ClientId, Seq), Waiter>,
    /// Leader: register requests to answer when applied, by the index of their entry.
    registering: BTreeMap<LogIndex, RegisterWaiter>,
    /// Leader: the stamp of the last entry in its log when it was elected, and its clock
    /// then; it stamps entries `base + (now - elected_at)`, never below the last stamp.
    stamp_base_us: u64,
    elected_at: SimTime,
    timers: [Option<SimTime>; TIMERS],
    /// The client write this leader answered in the step now being handled (the after-reply
    /// crash point); cleared when the next step begins.
    fresh_reply: Option<LogIndex>,
    /// The candidate this node granted its vote to in this step (the after-vote crash point).
    fresh_vote: Option<NodeId>,
    /// The last index this follower acknowledged in this step (the after-ack crash point).
    fresh_ack: Option<LogIndex>,
    /// With [`Mutation::AckBeforePersist`]: the first entry appended in this step, not yet
    /// durable (a crash before the next step loses it and everything after it).
    unsynced_from: Option<LogIndex>,
    /// Follower: the snapshot arriving in chunks, and its bytes so far.
    install: Option<compaction::Incoming>,
    /// Under the flawed `snapshot-split-index`: a snapshot waiting for its session table.
    split_snapshot: Option<compaction::SplitSnapshot>,
    /// Reads outside the log.
    reads: reads::ReadState,
    outbox: VecDeque<Envelope>,
    events: VecDeque<NodeEvent>,
}

impl RaftNode {
    /// A node that has never run: empty log, term 0. Its first election timer starts now.
    pub fn new(config: NodeConfig, rng: ChaCha8Rng, now: SimTime) -> RaftNode {
        RaftNode::recover(
            CrashedNode {
                config,
                durable: Durable::default(),
                rng,
            },
            now,
        )
    }

    /// A new incarnation built from what a crash left: a follower that knows only its durable
    /// state. It starts from its snapshot (if any; finishing a compaction a crash cut short)
    /// and re-applies the log after it as it learns the commit index again.
    pub fn recover(crashed: CrashedNode, now: SimTime) -> RaftNode {
        let CrashedNode {
            config,
            mut durable,
            rng,
        } = crashed;
        assert!(
            (1..=9).contains(&config.cluster_size),
            "node {}: cluster size {} outside 1..=9",
            config.id,
            config.cluster_size
        );
        let (applied, state) = match &durable.snapshot {
            Some(snapshot) => {
                durable.log.compact_to(snapshot.base.index);
                (snapshot.base.index, snapshot.state.clone())
            }
            None => (
                LogIndex(0),
                StateMachine::mutated(config.dedup, config.mutations, config.limits),
            ),
        };
        let mut node = RaftNode {
            config,
            durable,
            rng,
            role: Role::Follower,
            leader_hint: None,
            commit_index: applied,
            last_applied: applied,
            state,
            votes: 0,
            progress: vec![Progress::default(); usize::from(config.cluster_size)],
            waiting: BTreeMap::new(),
            registering: BTreeMap::new(),
            stamp_base_us: 0,
            elected_at: SimTime::ZERO,
            timers: [None; TIMERS],
            fresh_reply: None,
            fresh_vote: None,
            fresh_ack: None,
            unsynced_from: None,
            install: None,
            split_snapshot: None,
            reads: reads::ReadState::default(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        };
        node.reset_election_timer(now);
        node.reads_heard_leader(now);
        node
    }

    /// Crash: drop all volatile state (role, commit index, state machine, queued messages
    /// and events) and keep the durable part.
    pub fn crash(self) -> CrashedNode {
        let mut durable = self.durable;
        let mutations = self.config.mutations;
        if mutations.has(Mutation::VoteNotKept) {
            durable.voted_for = None;
        }
        if let (true, Some(from)) = (
            mutations.has(Mutation::AckBeforePersist),
            self.unsynced_from,
        ) {
            durable
                .log
                .truncate_from(from.max(durable.log.first_index()));
        }
        CrashedNode {
            config: self.config,
            durable,
            rng: self.rng,
        }
    }

    /// A new step begins: the moments the last one made (just answered, just voted, just
    /// acknowledged) are over, and what it appended is durable.
    fn begin_step(&mut self) {
        self.fresh_reply = None;
        self.fresh_vote = None;
        self.fresh_ack = None;
        self.unsynced_from = None;
    }

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub fn term(&self) -> Term {
        self.durable.current_term
    }

    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }

    pub fn last_applied(&self) -> LogIndex {
        self.last_applied
    }

    pub fn log(&self) -> &Log {
        &self.durable.log
    }

    /// The durable part, for a driver that persists it. Persist it whenever
    /// [`RaftNode::durable_version`] changes, before sending what `poll_transmit` returns.
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// Changes to the durable part, as `(term, vote, log version, snapshot index)`: equal,
    /// nothing to write.
    pub fn durable_version(&self) -> (Term, Option<NodeId>, u64, LogIndex) {
        (
            self.durable.current_term,
            self.durable.voted_for,
            self.durable.log.version(),
            self.durable.snapshot_index(),
        )
    }

    pub fn state_machine(&self) -> &StateMachine {
        &self.state
    }

    /// The node's clock jumped by `delta_us` (a clock fault began or ended): every armed
    /// timer moves with it, so a timer still waits the time it was set to wait, as a timer on
    /// a monotonic clock does, while what the node reads as `now` (and stamps on entries as
    /// leader) jumps.
    pub fn clock_jumped(&mut self, delta_us: i64) {
        for timer in self.timers.iter_mut().flatten() {
            timer.0 = timer.0.saturating_add_signed(delta_us);
        }
        self.reads_clock_jumped(delta_us);
    }

    /// The leader this node believes in, if any.
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader_hint
    }

    /// Where this node stands with respect to the crash triggers. Cheap; call after a
    /// `handle_*` when a triggered crash is waiting. Only writes of this leader's own term
    /// count: an earlier term's entry was not sent by this leader (its `sent_up_to` starts
    /// past it) and may already be committed elsewhere; and after-commit needs a client this
    /// leader owes an answer.
    pub fn crash_points(&self) -> CrashPoints {
        let mid_snapshot = self.timers[Timer::Compact as usize]
            .is_some()
            .then(|| self.durable.snapshot_index());
        if self.role != Role::Leader {
            return CrashPoints {
                after_vote: self.fresh_vote,
                after_ack: self.fresh_ack,
                mid_snapshot,
                mid_install: self.install.as_ref().map(|i| (i.base.index, i.from)),
                ..CrashPoints::default()
            };
        }
        let term = self.durable.current_term;
        let log = &self.durable.log;
        let own_write = |index: LogIndex| {
            log.get(index)
                .filter(|e| e.term == term)
                .and_then(Entry::request)
                .filter(|r| r.op.kind().is_write())
        };
        let mut points = CrashPoints {
            after_reply: self.fresh_reply,
            mid_snapshot,
            ..CrashPoints::default()
        };
        let sent_anywhere = self
            .config
            .peers()
            .map(|p| self.progress[p.index()].sent_up_to)
            .max()
            .unwrap_or(LogIndex(0));
        let mut index = self.commit_index.next().max(sent_anywhere.next());
        while index <= log.last_index() {
            if own_write(index).is_some() {
                points.before_replicate = Some(index);
                break;
            }
            index = index.next();
        }
        let mut index = self.commit_index.next();
        while index <= log.last_index() {
            if own_write(index).is_some() && self.acknowledgements(index) < self.config.majority() {
                let sent_to = self.config.peers().find(|p| {
                    let progress = &self.progress[p.index()];
                    progress.sent_up_to >= index && progress.match_index < index
                });
                if let Some(peer) = sent_to {
                    points.mid_replication = Some((index, peer));
                    break;
                }
            }
            index = index.next();
        }
        let mut index = self.last_applied.next();
        while index <= self.commit_index {
            let owed =
                own_write(index).is_some_and(|r| self.waiting.contains_key(&(r.client, r.seq)));
            if owed {
                points.after_commit = Some(index);
                break;
            }
            index = index.next();
        }
        points
    }

    /// Nodes (the leader included) known to hold the entry at `index`.
    fn acknowledgements(&self, index: LogIndex) -> usize {
        1 + self
            .config
            .peers()
            .filter(|p| self.progress[p.index()].match_index >= index)
            .count()
    }

    /// The stamp of an entry this leader appends now: the log time goes on from the last
    /// stamp it inherited at the pace of its own clock, and never backwards (its clock may
    /// jump back, and a new leader's clock may be behind the old one's).
    fn stamp_us(&self, now: SimTime) -> u64 {
        let elapsed_us = now.0.saturating_sub(self.elected_at.0);
        self.durable
            .log
            .last_stamp_us()
            .max(self.stamp_base_us.saturating_add(elapsed_us))
    }

    fn send(&mut self, to: Addr, msg: Message) {
        self.outbox.push_back(Envelope {
            from: Addr::Node(self.config.id),
            to,
            msg,
        });
    }

    fn arm(&mut self, timer: Timer, at: SimTime) {
        self.timers[timer as usize] = Some(at);
    }

    fn disarm(&mut self, timer: Timer) {
        self.timers[timer as usize] = None;
    }

    fn reset_election_timer(&mut self, now: SimTime) {
        let (min_us, max_us) = self.config.election_timeout_us;
        let timeout_us = self.rng.random_range(min_us..=max_us);
        self.arm(Timer::Election, now.plus_us(timeout_us));
    }

    /// Adopt a newer term seen in any message (Raft §5.1): become a follower with no vote.
    /// `leader` is the sender when the message proves it leads that term (AppendEntries), so
    /// that clients told to look elsewhere are sent straight to it.
    fn observe_term(&mut self, now: SimTime, term: Term, leader: Option<NodeId>) {
        if term <= self.durable.current_term {
            return;
        }
        self.durable.current_term = term;
        self.durable.voted_for = None;
        self.leader_hint = leader;
        self.state.leader_changed();
        if self.role != Role::Follower {
            self.become_follower(now);
        } else {
            self.reads_stepped_down();
        }
    }

    /// Step down (or stay) a follower, telling clients still waiting on this node to look
    /// elsewhere: their entries may yet commit, and the session table will absorb the retry.
    fn become_follower(&mut self, now: SimTime) {
        let was_leader = self.role == Role::Leader;
        self.role = Role::Follower;
        self.votes = 0;
        self.disarm(Timer::Heartbeat);
        self.disarm(Timer::Replicate);
        if self.timers[Timer::Election as usize].is_none() {
            self.reset_election_timer(now);
        }
        if was_leader {
            let waiting = std::mem::take(&mut self.waiting);
            let hint = self.leader_hint.filter(|&l| l != self.config.id);
            for ((client, seq), waiter) in waiting {
                self.send(
                    Addr::Client(waiter.client_no),
                    Message::ClientReply {
                        client,
                        seq,
                        attempt: waiter.attempt,
                        incarnation: waiter.incarnation,
                        reply: Reply::NotLeader { hint },
                    },
                );
            }
            for (_, waiter) in std::mem::take(&mut self.registering) {
                self.send(
                    Addr::Client(waiter.client_no),
                    Message::RegisterReply {
                        attempt: waiter.attempt,
                        incarnation: waiter.incarnation,
                        reply: RegisterAnswer::NotLeader { hint },
                    },
                );
            }
        }
        self.reads_stepped_down();
    }
}

impl Process for RaftNode {
    type Event = NodeEvent;

    fn handle_message(&mut self, now: SimTime, envelope: Envelope) {
        self.begin_step();
        let Addr::Node(from) = envelope.from else {
            if let Addr::Client(client_no) = envelope.from {
                match envelope.msg {
                    Message::ClientRequest { request, attempt } => {
                        self.handle_client_request(now, client_no, request, attempt)
                    }
                    Message::Register {
                        attempt,
                        incarnation,
                    } => self.handle_register(now, client_no, attempt, incarnation),
                    _ => {}
                }
            }
            return;
        };
        match envelope.msg {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => self.handle_request_vote(now, from, term, last_log_index, last_log_term),
            Message::VoteReply { term, granted } => {
                self.handle_vote_reply(now, from, term, granted)
            }
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => self.handle_append_entries(
                now,
                from,
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            ),
            Message::AppendReply {
                term,
                success,
                match_index,
                hint,
            } => self.handle_append_reply(now, from, term, success, match_index, hint),
            Message::InstallSnapshot(install) => {
                let Install {
                    term,
                    base,
                    offset,
                    chunk,
                    done,
                } = *install;
                self.handle_install_snapshot(now, from, term, base, offset, chunk, done)
            }
            Message::InstallReply {
                term,
                index,
                received,
                done,
            } => self.handle_install_reply(now, from, term, index, received, done),
            Message::ReadProbe { term, round } => self.handle_probe(now, from, term, round),
            Message::ProbeReply { term, round } => self.handle_probe_reply(now, from, term, round),
            Message::ReadIndex { id } => self.handle_read_index(now, from, id),
            Message::ReadIndexReply { id, index } => self.handle_read_index_reply(id, index),
            // Nodes never send client traffic to each other.
            Message::ClientRequest { .. }
            | Message::ClientReply { .. }
            | Message::Register { .. }
            | Message::RegisterReply { .. } => {}
        }
    }

    fn handle_timeout(&mut self, now: SimTime) {
        self.begin_step();
        let due = |t: Option<SimTime>| t.is_some_and(|t| t <= now);
        // Before applying: a snapshot the apply below takes is compacted in a later step.
        if due(self.timers[Timer::Compact as usize]) {
            self.disarm(Timer::Compact);
            let upto = self.durable.snapshot_index();
            self.durable.log.compact_to(upto);
        }
        if due(self.timers[Timer::Apply as usize]) {
            self.disarm(Timer::Apply);
            self.apply_committed(now);
        }
        if due(self.timers[Timer::Replicate as usize]) {
            self.disarm(Timer::Replicate);
            if self.role == Role::Leader {
                self.broadcast_append();
            }
        }
        if due(self.timers[Timer::Heartbeat as usize]) {
            self.arm(Timer::Heartbeat, now.plus_us(self.config.heartbeat_us));
            self.broadcast_append();
            self.renew_lease(now);
        }
        if due(self.timers[Timer::Probe as usize]) {
            self.disarm(Timer::Probe);
            self.send_round(now);
        }
        if due(self.timers[Timer::Election as usize]) {
            self.start_election(now);
        }
    }

    fn poll_transmit(&mut self) -> Option<Envelope> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        // Asked after every step: a minimum over the fixed table without an iterator chain.
        let mut earliest: Option<SimTime> = None;
        for &t in &self.timers {
            if let Some(t) = t {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        earliest
    }

    fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }
}

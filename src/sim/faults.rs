//! The fault injector: the scenario's `[[faults]]`, each waiting for its time, then for its
//! trigger (a leader to exist, a crash point, a leader change), then in effect until healed.
//! It owns the faults' states, its own random stream and the memory of delivered requests
//! that replays draw from, and acts on the world only through [`Target`]'s commands.
//!
//! A fault kind's branch here is the only place it touches the simulation; its schema lives
//! in `scenario/faults.rs` and its trace line in `trace/`.

use std::collections::VecDeque;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::clock::Clock;
use super::network::LinkOverride;
use crate::client::Client;
use crate::ids::{ClientId, NodeId, Seq, SimTime, Term};
use crate::kv::Decision;
use crate::message::{Addr, Envelope, Message};
use crate::raft::RaftNode;
use crate::scenario::{ClientSelector, CrashWhen, FaultKind, FaultSpec, NodeSelector, Split};
use crate::trace::CrashCause;

/// Client requests remembered for replay faults.
pub const REPLAY_MEMORY: usize = 256;

/// What the injector may read of the world, and the commands it acts through. Each command
/// also traces what it did.
pub(super) trait Target {
    fn now(&self) -> SimTime;
    fn cluster_size(&self) -> u8;
    /// Node `id`, if it is up.
    fn node(&self, id: NodeId) -> Option<&RaftNode>;
    fn clients(&self) -> usize;
    fn client(&self, c: usize) -> &Client;
    /// Queue one of the injector's own timers.
    fn schedule(&mut self, at: SimTime, timer: Timer);
    /// A fault started or ended: one more event in the run's count.
    fn count_event(&mut self);
    /// Crash node `id` (up), keeping its durable state; restart it after `restart_after_ms`,
    /// or at the liveness phase.
    fn crash(&mut self, id: NodeId, cause: CrashCause, restart_after_ms: Option<u64>);
    /// Crash client `c` (up) for fault `fault`; restart it after `restart_after_ms`, or at the
    /// liveness phase.
    fn crash_client(&mut self, c: usize, fault: usize, restart_after_ms: Option<u64>);
    /// Cut the links between `groups` (with `one_way`, only those from the first group).
    fn partition(&mut self, fault: usize, groups: &[Vec<NodeId>], one_way: bool);
    /// Heal partition `fault`.
    fn heal(&mut self, fault: usize);
    /// Open (`Some`) or close (`None`) fault `fault`'s window of changed link behaviour.
    fn change_links(&mut self, fault: usize, change: Option<LinkOverride>);
    /// Re-deliver an old request to node `to`, as the network would a stale packet.
    fn replay(&mut self, fault: usize, envelope: Envelope, to: NodeId);
    /// Re-deliver old requests to node `to` together, in order, after the links' shortest
    /// delay (packets already queued in the network).
    fn replay_together(&mut self, fault: usize, envelopes: Vec<Envelope>, to: NodeId);
    /// Set (`Some`) or clear (`None`) node `id`'s clock for fault `fault`.
    fn set_clock(&mut self, fault: usize, id: NodeId, clock: Option<Clock>);
    /// Fault `fault`'s trigger never came during the fault phase.
    fn skipped(&mut self, fault: usize);
}

/// The injector's own timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Fault `i`'s `at_ms` has come.
    Start(usize),
    /// Fault `i`'s window ends (a partition heals, a network window closes).
    End(usize),
}

/// Where one fault stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Its `at_ms` has not come.
    Scheduled,
    /// Its time has come; waiting for its trigger (a leader to exist, a crash point).
    Armed,
    /// In effect (a partition or network window not yet healed).
    Active,
    /// Fired and over (or a crash that happened).
    Done,
    /// The fault phase ended before its trigger came.
    Skipped,
}

struct FaultState {
    spec: FaultSpec,
    status: Status,
    /// For a partition: the groups it cut, as resolved when it fired.
    groups: Vec<Vec<NodeId>>,
    /// For a clock fault: the node whose clock it set, as resolved when it fired.
    clock_node: Option<NodeId>,
    /// For a replay: the term of the leader when it armed (0 if there was none); it fires
    /// once a leader of a later term exists (a leader change).
    armed_term: Term,
}

/// The fault injector of one run.
pub(super) struct Injector {
    faults: Vec<FaultState>,
    /// Faults waiting for their trigger.
    armed: usize,
    rng: ChaCha8Rng,
    /// Client requests recently delivered, for replay faults (kept only if the scenario has
    /// one): one per `(client, seq)`, oldest first, at most [`REPLAY_MEMORY`].
    recent: Option<VecDeque<Envelope>>,
    /// The fault phase is over: nothing new starts.
    over: bool,
}

impl Injector {
    /// The injector of `faults`, drawing from `rng` (its own stream of the run's seed).
    pub fn new(faults: &[FaultSpec], rng: ChaCha8Rng) -> Injector {
        let replays = faults.iter().any(|f| {
            matches!(
                f.kind,
                FaultKind::Replay { .. } | FaultKind::StaleReplay { .. }
            )
        });
        Injector {
            faults: faults
                .iter()
                .map(|spec| FaultState {
                    spec: spec.clone(),
                    status: Status::Scheduled,
                    groups: Vec::new(),
                    clock_node: None,
                    armed_term: Term(0),
                })
                .collect(),
            armed: 0,
            rng,
            recent: replays.then(VecDeque::new),
            over: false,
        }
    }

    /// Queue every fault's start.
    pub fn schedule(&self, world: &mut impl Target) {
        for (i, fault) in self.faults.iter().enumerate() {
            world.schedule(SimTime::from_ms(fault.spec.at_ms), Timer::Start(i));
        }
    }

    /// Is any fault waiting for its trigger? (Cheap; ask before [`Injector::after_step`].)
    #[inline]
    pub fn waiting(&self) -> bool {
        self.armed > 0
    }

    /// One of the injector's timers came.
    pub fn on_timer(&mut self, timer: Timer, world: &mut impl Target) {
        match timer {
            Timer::Start(i) => self.start(i, world),
            Timer::End(i) => self.end(i, world),
        }
    }

    /// A message reached node `to`'s handler: remember client requests for replays.
    #[inline]
    pub fn delivered(&mut self, envelope: &Envelope) {
        if let Some(recent) = &mut self.recent {
            remember(recent, envelope);
        }
    }

    /// After `node` handled an event: fire any waiting fault whose trigger has come.
    pub fn after_step(&mut self, node: NodeId, world: &mut impl Target) {
        for i in 0..self.faults.len() {
            if self.armed == 0 {
                return;
            }
            if self.faults[i].status == Status::Armed {
                self.try_fire(i, Some(node), world);
            }
        }
    }

    /// The fault phase ended: faults still waiting for their trigger never fire, and
    /// whatever is in effect is healed by the world.
    pub fn phase_over(&mut self, world: &mut impl Target) {
        self.over = true;
        for (i, fault) in self.faults.iter_mut().enumerate() {
            if fault.status == Status::Armed {
                fault.status = Status::Skipped;
                self.armed -= 1;
                world.skipped(i);
            }
            if fault.status == Status::Active {
                fault.status = Status::Done;
                // The liveness phase runs on true clocks (the network heals elsewhere).
                if let Some(node) = fault.clock_node {
                    world.set_clock(i, node, None);
                }
            }
        }
    }

    /// The faults whose trigger never came: each with its number and what it was.
    pub fn skipped(&self) -> Vec<(usize, FaultSpec)> {
        self.faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.status == Status::Skipped)
            .map(|(i, f)| (i, f.spec.clone()))
            .collect()
    }

    /// Fault `i`'s time has come: a network window opens at once; every other kind arms and
    /// fires as soon as its trigger holds.
    fn start(&mut self, i: usize, world: &mut impl Target) {
        if self.over {
            return;
        }
        world.count_event();
        match self.faults[i].spec.kind {
            FaultKind::Network {
                for_ms,
                drop,
                duplicate,
                delay_ms,
            } => {
                self.faults[i].status = Status::Active;
                let change = LinkOverride {
                    delay_us: delay_ms.map(|(a, b)| (a * 1000, b * 1000)),
                    drop,
                    duplicate,
                };
                world.change_links(i, Some(change));
                world.schedule(world.now().plus_ms(for_ms), Timer::End(i));
            }
            FaultKind::Crash { .. }
            | FaultKind::Partition { .. }
            | FaultKind::Replay { .. }
            | FaultKind::StaleReplay { .. }
            | FaultKind::Clock { .. }
            | FaultKind::ClientCrash { .. } => {
                self.faults[i].armed_term = current_leader(world).map_or(Term(0), RaftNode::term);
                self.faults[i].status = Status::Armed;
                self.armed += 1;
                self.try_fire(i, None, world);
            }
        }
    }

    /// Fault `i`'s window is over (unless the liveness phase already healed it).
    fn end(&mut self, i: usize, world: &mut impl Target) {
        if self.faults[i].status != Status::Active {
            return;
        }
        self.faults[i].status = Status::Done;
        world.count_event();
        match self.faults[i].spec.kind {
            FaultKind::Partition { .. } => world.heal(i),
            FaultKind::Network { .. } => world.change_links(i, None),
            FaultKind::Clock { .. } => {
                if let Some(node) = self.faults[i].clock_node {
                    world.set_clock(i, node, None);
                }
            }
            FaultKind::Crash { .. }
            | FaultKind::Replay { .. }
            | FaultKind::StaleReplay { .. }
            | FaultKind::ClientCrash { .. } => {}
        }
    }

    /// Fire armed fault `i` if its trigger has come. `touched` is the node that just handled
    /// an event (`None` when the fault's time has just come).
    fn try_fire(&mut self, i: usize, touched: Option<NodeId>, world: &mut impl Target) {
        match self.faults[i].spec.kind.clone() {
            FaultKind::Crash {
                node,
                when,
                restart_after_ms,
            } => {
                let Some((target, cause)) = self.crash_trigger(i, node, when, touched, world)
                else {
                    return;
                };
                self.disarm(i, Status::Done);
                world.crash(target, cause, restart_after_ms);
            }
            FaultKind::Partition {
                split,
                one_way,
                heal_after_ms,
            } => {
                let groups: Vec<Vec<NodeId>> = match split {
                    Split::Groups(groups) => groups,
                    Split::Isolate(selector) => {
                        let Some(alone) = self.select(selector, world) else {
                            return;
                        };
                        let rest = (1..=world.cluster_size())
                            .map(NodeId)
                            .filter(|&n| n != alone)
                            .collect();
                        vec![vec![alone], rest]
                    }
                };
                self.disarm(i, Status::Active);
                world.partition(i, &groups, one_way);
                self.faults[i].groups = groups;
                if let Some(ms) = heal_after_ms {
                    world.schedule(world.now().plus_ms(ms), Timer::End(i));
                }
            }
            FaultKind::Clock {
                node,
                offset_ms,
                drift_ppm,
                for_ms,
            } => {
                let Some(target) = self.select(node, world) else {
                    return;
                };
                self.disarm(i, Status::Active);
                self.faults[i].clock_node = Some(target);
                let clock = Clock {
                    since: world.now(),
                    offset_us: offset_ms.saturating_mul(1000),
                    drift_ppm,
                };
                world.set_clock(i, target, Some(clock));
                world.schedule(world.now().plus_ms(for_ms), Timer::End(i));
            }
            FaultKind::Replay { count } => self.try_replay(i, count, world),
            FaultKind::StaleReplay { count, client } => {
                self.try_stale_replay(i, count, client, world)
            }
            FaultKind::ClientCrash {
                client,
                restart_after_ms,
            } => self.try_client_crash(i, client, restart_after_ms, world),
            FaultKind::Network { .. } => {
                unreachable!("fault {i}: network windows open at once, never armed")
            }
        }
    }

    fn disarm(&mut self, i: usize, status: Status) {
        debug_assert_eq!(self.faults[i].status, Status::Armed, "fault {i}");
        self.faults[i].status = status;
        self.armed -= 1;
    }

    /// Resolve a selector to a live node now, if one fits.
    fn select(&mut self, selector: NodeSelector, world: &impl Target) -> Option<NodeId> {
        match selector {
            NodeSelector::Leader => current_leader(world).map(RaftNode::id),
            NodeSelector::Node(id) => world.node(id).map(RaftNode::id),
            NodeSelector::MostUncommitted => {
                let committed = live_nodes(world).map(RaftNode::commit_index).max()?;
                let (most, id) = live_nodes(world)
                    .map(|n| (n.log().last_index().0.saturating_sub(committed.0), n.id()))
                    .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
                (most > 0).then_some(id)
            }
            NodeSelector::Follower => {
                let leader = current_leader(world).map(RaftNode::id);
                let candidates: Vec<NodeId> = live_nodes(world)
                    .map(RaftNode::id)
                    .filter(|&id| Some(id) != leader)
                    .collect();
                if candidates.is_empty() {
                    return None;
                }
                Some(candidates[self.rng.random_range(0..candidates.len())])
            }
        }
    }

    /// Has crash fault `i`'s trigger come? Returns the node to crash and why.
    fn crash_trigger(
        &mut self,
        fault: usize,
        selector: NodeSelector,
        when: CrashWhen,
        touched: Option<NodeId>,
        world: &impl Target,
    ) -> Option<(NodeId, CrashCause)> {
        if when == CrashWhen::Now {
            let target = self.select(selector, world)?;
            let node = world.node(target)?;
            return Some((
                target,
                CrashCause {
                    fault,
                    was_leader: node.is_leader(),
                    term: node.term(),
                    when,
                    index: None,
                    sent_to: None,
                },
            ));
        }
        if when.is_node_moment() {
            return self.node_trigger(fault, selector, when, touched, world);
        }
        // A leader's crash point only changes when that leader handles an event.
        let leader = match selector {
            NodeSelector::Leader => current_leader(world)?.id(),
            NodeSelector::Node(id) => id,
            NodeSelector::Follower | NodeSelector::MostUncommitted => return None,
        };
        if touched.is_some_and(|t| t != leader) {
            return None;
        }
        if when == CrashWhen::AfterReply && touched != Some(leader) {
            return None; // "just answered" holds only right after the leader's own step
        }
        let node = world.node(leader)?;
        let points = node.crash_points();
        let (index, sent_to) = match when {
            CrashWhen::BeforeReplicate => (points.before_replicate?, None),
            CrashWhen::MidReplication => {
                let (index, peer) = points.mid_replication?;
                (index, Some(peer))
            }
            CrashWhen::AfterCommit => (points.after_commit?, None),
            CrashWhen::AfterReply => (points.after_reply?, None),
            CrashWhen::Now
            | CrashWhen::AfterVote
            | CrashWhen::AfterAck
            | CrashWhen::MidSnapshot
            | CrashWhen::MidInstall => {
                unreachable!("fault {fault}: handled above")
            }
        };
        Some((
            leader,
            CrashCause {
                fault,
                was_leader: true,
                term: node.term(),
                when,
                index: Some(index),
                sent_to,
            },
        ))
    }

    /// Has the node moment (after-vote, after-ack, mid-install: a follower's; mid-snapshot:
    /// any node's) of crash fault `fault` come? Only right after the node's own step.
    fn node_trigger(
        &mut self,
        fault: usize,
        selector: NodeSelector,
        when: CrashWhen,
        touched: Option<NodeId>,
        world: &impl Target,
    ) -> Option<(NodeId, CrashCause)> {
        let node = world.node(touched?)?;
        let fits = match selector {
            NodeSelector::Follower => !node.is_leader(),
            NodeSelector::Node(id) => id == node.id(),
            NodeSelector::Leader => when == CrashWhen::MidSnapshot && node.is_leader(),
            NodeSelector::MostUncommitted => false,
        };
        if !fits {
            return None;
        }
        let points = node.crash_points();
        let (index, sent_to) = match when {
            CrashWhen::AfterVote => (None, Some(points.after_vote?)),
            CrashWhen::AfterAck => (Some(points.after_ack?), node.leader_hint()),
            CrashWhen::MidSnapshot => (Some(points.mid_snapshot?), None),
            CrashWhen::MidInstall => {
                let (index, from) = points.mid_install?;
                (Some(index), Some(from))
            }
            _ => unreachable!("fault {fault}: {} is not a follower's moment", when.name()),
        };
        Some((
            node.id(),
            CrashCause {
                fault,
                was_leader: node.is_leader(),
                term: node.term(),
                when,
                index,
                sent_to,
            },
        ))
    }

    /// Replay fault `i`: once a leader of a later term than when it armed exists, re-deliver
    /// `count` old client requests (picked from the recently delivered ones) to that leader.
    fn try_replay(&mut self, i: usize, count: u32, world: &mut impl Target) {
        let Some(leader) = current_leader(world) else {
            return;
        };
        let recent = self.recent.as_ref().expect("a replay fault keeps requests");
        if leader.term() <= self.faults[i].armed_term || recent.is_empty() {
            return;
        }
        let to = leader.id();
        // Distinct requests, drawn from those remembered (a partial Fisher-Yates shuffle).
        let mut picks: Vec<usize> = (0..recent.len()).collect();
        let count = (count as usize).min(picks.len());
        for k in 0..count {
            let j = self.rng.random_range(k..picks.len());
            picks.swap(k, j);
        }
        let envelopes: Vec<Envelope> = picks[..count]
            .iter()
            .map(|&pick| {
                let mut envelope = recent[pick].clone();
                envelope.to = Addr::Node(to);
                envelope
            })
            .collect();
        self.disarm(i, Status::Done);
        for envelope in envelopes {
            world.replay(i, envelope, to);
        }
    }

    /// Stale-replay fault `i`: once a leader of a later term than when it armed exists, pick
    /// the client (the selected one, or for `any` the one with the most) with remembered
    /// requests below its newest remembered seq that this leader would still take for new
    /// (its applied session table does not know them yet), and re-deliver up to `count` of
    /// the newest of those, in seq order, all at once.
    fn try_stale_replay(
        &mut self,
        i: usize,
        count: u32,
        client: ClientSelector,
        world: &mut impl Target,
    ) {
        let Some(leader) = current_leader(world) else {
            return;
        };
        if leader.term() <= self.faults[i].armed_term {
            return;
        }
        let recent = self.recent.as_ref().expect("a replay fault keeps requests");
        let wanted = match client {
            ClientSelector::Any => None,
            ClientSelector::Client(no) => Some(world.client(no.index()).id()),
        };
        // Per client id (in order of first appearance): its newest remembered seq.
        let mut newest: Vec<(ClientId, Seq)> = Vec::new();
        for envelope in recent {
            let Message::ClientRequest { request, .. } = &envelope.msg else {
                continue;
            };
            match newest.iter_mut().find(|(c, _)| *c == request.client) {
                Some((_, seq)) => *seq = (*seq).max(request.seq),
                None => newest.push((request.client, request.seq)),
            }
        }
        let stale = |client: ClientId, top: Seq| {
            let mut picks: Vec<&Envelope> = recent
                .iter()
                .filter(|e| {
                    matches!(&e.msg, Message::ClientRequest { request, .. }
                        if request.client == client
                            && request.seq < top
                            && request.op.kind().is_write()
                            && leader.state_machine().check_on_receive(request) == Decision::Apply)
                })
                .collect();
            picks.sort_by_key(|e| match &e.msg {
                Message::ClientRequest { request, .. } => request.seq,
                _ => Seq(0),
            });
            picks
        };
        let best = newest
            .iter()
            .filter(|(c, _)| wanted.is_none_or(|w| w == *c))
            .map(|&(c, top)| stale(c, top))
            .max_by_key(|picks| picks.len());
        let Some(picks) = best.filter(|p| !p.is_empty()) else {
            return;
        };
        let to = leader.id();
        let skip = picks.len().saturating_sub(count as usize);
        let envelopes: Vec<Envelope> = picks[skip..]
            .iter()
            .map(|&e| {
                let mut envelope = e.clone();
                envelope.to = Addr::Node(to);
                envelope
            })
            .collect();
        self.disarm(i, Status::Done);
        world.replay_together(i, envelopes, to);
    }

    /// Client crash fault `i`: crash the selected client (for `any`, one with an operation in
    /// flight if there is one) and schedule its restart.
    fn try_client_crash(
        &mut self,
        i: usize,
        selector: ClientSelector,
        restart_after_ms: Option<u64>,
        world: &mut impl Target,
    ) {
        let live = |c: &Client| !c.is_down() && !c.is_done();
        let target = match selector {
            ClientSelector::Client(no) => Some(no.index()).filter(|&c| live(world.client(c))),
            ClientSelector::Any => {
                let busy: Vec<usize> = (0..world.clients())
                    .filter(|&c| live(world.client(c)) && world.client(c).pending().is_some())
                    .collect();
                let idle: Vec<usize> = (0..world.clients())
                    .filter(|&c| live(world.client(c)))
                    .collect();
                let pool = if busy.is_empty() { idle } else { busy };
                (!pool.is_empty()).then(|| pool[self.rng.random_range(0..pool.len())])
            }
        };
        let Some(c) = target else {
            return;
        };
        self.disarm(i, Status::Done);
        world.crash_client(c, i, restart_after_ms);
    }
}

/// The nodes that are up, in node order.
fn live_nodes(world: &impl Target) -> impl Iterator<Item = &RaftNode> {
    (1..=world.cluster_size()).filter_map(|n| world.node(NodeId(n)))
}

/// The live leader with the highest term.
fn current_leader(world: &impl Target) -> Option<&RaftNode> {
    live_nodes(world)
        .filter(|n| n.is_leader())
        .max_by_key(|n| n.term())
}

/// Keep a delivered client request for replay faults: the latest copy of each
/// `(client, seq)` (retries and network copies of one request count once), at most
/// [`REPLAY_MEMORY`], oldest dropped first.
fn remember(recent: &mut VecDeque<Envelope>, envelope: &Envelope) {
    let Message::ClientRequest { request, .. } = &envelope.msg else {
        return;
    };
    let same = |e: &Envelope| {
        matches!(&e.msg, Message::ClientRequest { request: r, .. }
            if r.client == request.client && r.seq == request.seq)
    };
    if let Some(at) = recent.iter().position(same) {
        recent.remove(at);
    } else if recent.len() == REPLAY_MEMORY {
        recent.pop_front();
    }
    recent.push_back(envelope.clone());
}

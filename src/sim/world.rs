//! The deterministic world: nodes and clients as processes, one event queue, the network,
//! the fault schedule, and the observer (checkers, digest, stats, optional trace sink).
//!
//! The loop pops the earliest event, hands it to one process, then drains that process's
//! events (observed in order) and messages (routed through the network), and re-arms its
//! timer. Nothing here reads a clock or a global RNG; every random choice comes from a stream
//! derived from the run's seed.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::faults::FaultState;
use super::network::{LinkParams, Network, Route};
use super::observer::Observer;
use super::queue::EventQueue;
use crate::check::PendingOp;
use crate::client::{Client, ClientConfig, Workload};
use crate::ids::{ClientId, ClientNo, NodeId, SimTime};
use crate::message::{Addr, Envelope, Message};
use crate::process::{Process, ProcessEvent};
use crate::raft::{CrashedNode, NodeConfig, RaftNode};
use crate::scenario::{FaultKind, Scenario};
use crate::trace::{CrashCause, TraceEvent, TraceSink, node_trace_events};

/// How long a client waits after "not leader, no leader known" before trying the next node:
/// a quarter of its timeout (an election usually takes about one election timeout).
pub fn client_backoff_us(timeout_us: u64) -> u64 {
    (timeout_us / 4).max(1)
}

/// Client requests remembered for replay faults.
pub const REPLAY_MEMORY: usize = 256;

/// Most timeouts one process may handle back to back without simulated time moving; more
/// means a timer that never moves forward, a bug worth stopping for.
const MAX_TIMEOUTS_PER_INSTANT: u32 = 64;

/// Randomness streams: each component draws from its own, so adding a node or a client
/// never shifts another component's choices.
mod stream {
    pub const NETWORK: u64 = 1;
    pub const FAULTS: u64 = 2;
    pub const SWARM: u64 = 3;
    pub const NODE_BASE: u64 = 0x100;
    pub const CLIENT_BASE: u64 = 0x1_0000;
}

/// The stream a swarm profile is drawn from.
pub const SWARM_STREAM: u64 = stream::SWARM;

/// The RNG of one component: the run's seed, on the component's own stream.
pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// What the queue holds.
pub(super) enum Event {
    /// A message arrives.
    Deliver(Envelope),
    /// A process's timer may be due.
    Timer(Addr),
    /// Fault `i`'s `at_ms` has come.
    FaultStart(usize),
    /// Fault `i`'s window ends (partition heals, network window closes).
    FaultEnd(usize),
    /// Restart a node crashed by a fault, if it is still that incarnation that is down.
    Restart { node: NodeId, incarnation: u32 },
    /// Restart a client crashed by a fault, if it is still that incarnation that is down.
    ClientRestart { client: usize, incarnation: u32 },
    /// The fault phase is over; the liveness phase begins.
    FaultPhaseEnd,
}

// A live node is most of the world's state and is touched on every event; boxing it to
// shrink the rare `Down` variant would add an indirection to the hot path.
#[allow(clippy::large_enum_variant)]
pub(super) enum NodeSlot {
    Up(RaftNode),
    Down(CrashedNode),
    /// Only while moving between the two.
    Moving,
}

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Faults,
    Liveness,
}

/// The parts of the world a process's outputs go to, split from the processes themselves so
/// both can be borrowed at once.
pub(super) struct Io<'s> {
    pub now: SimTime,
    pub queue: EventQueue<Event>,
    pub network: Network,
    pub observer: Observer<'s>,
    /// Handler calls, message deliveries and faults processed.
    pub events: u64,
    /// Client requests queued for delivery (copies included). The run may not end while one
    /// is on its way: a late duplicate could still take effect a second time.
    pub client_requests_in_flight: u64,
}

impl Io<'_> {
    /// Route one message through the network into the queue.
    #[inline]
    fn send(&mut self, envelope: Envelope) {
        match self.network.route(envelope.from, envelope.to) {
            Route::Partitioned | Route::Lost => {}
            Route::Deliver {
                delay_us,
                copy_delay_us,
            } => {
                if matches!(envelope.msg, Message::ClientRequest { .. }) {
                    self.client_requests_in_flight += 1 + u64::from(copy_delay_us.is_some());
                }
                if let Some(copy_us) = copy_delay_us {
                    self.queue
                        .push(self.now.plus_us(copy_us), Event::Deliver(envelope.clone()));
                }
                self.queue
                    .push(self.now.plus_us(delay_us), Event::Deliver(envelope));
            }
        }
    }

    /// Deliver `envelope` after a network delay, as the network re-delivering an old packet:
    /// not subject to loss, duplication or partitions when sent (only when it arrives).
    pub(super) fn deliver_later(&mut self, envelope: Envelope) {
        if matches!(envelope.msg, Message::ClientRequest { .. }) {
            self.client_requests_in_flight += 1;
        }
        let delay_us = self.network.draw_delay();
        self.queue
            .push(self.now.plus_us(delay_us), Event::Deliver(envelope));
    }

    /// Make sure a timer event is queued no later than `deadline`.
    #[inline]
    fn arm(&mut self, scheduled: &mut Option<SimTime>, deadline: Option<SimTime>, addr: Addr) {
        let Some(deadline) = deadline else {
            return;
        };
        let at = deadline.max(self.now);
        if scheduled.is_none_or(|s| at < s) {
            *scheduled = Some(at);
            self.queue.push(at, Event::Timer(addr));
        }
    }
}

pub(super) struct World<'s> {
    pub io: Io<'s>,
    pub nodes: Vec<NodeSlot>,
    pub node_timer: Vec<Option<SimTime>>,
    /// Bumped at every crash, so a scheduled restart only revives the incarnation it meant.
    pub incarnation: Vec<u32>,
    pub clients: Vec<Client>,
    pub client_timer: Vec<Option<SimTime>>,
    pub client_finished: Vec<bool>,
    pub clients_done: usize,
    pub faults: Vec<FaultState>,
    /// Faults waiting for their trigger.
    pub armed: usize,
    /// Every client id handed out, so a restarted client never takes an id seen before.
    pub used_ids: BTreeSet<ClientId>,
    /// Client requests recently delivered, for replay faults (kept only if the scenario has
    /// one): one per `(client, seq)`, oldest first, at most [`REPLAY_MEMORY`].
    pub recent_requests: VecDeque<Envelope>,
    pub record_requests: bool,
    pub fault_rng: ChaCha8Rng,
    pub phase: Phase,
    /// The process whose handler is running, to name it if it panics.
    pub handling: Option<Addr>,
    /// End of the liveness budget: the run stops here whatever happens.
    pub deadline: SimTime,
}

impl<'s> World<'s> {
    /// A world at time 0. `swarm` is the drawn swarm profile, if any, traced first.
    pub fn new(
        scenario: &Scenario,
        seed: u64,
        sink: Option<&'s mut dyn TraceSink>,
        swarm: Option<&str>,
    ) -> World<'s> {
        let start = SimTime::ZERO;
        let c = scenario.cluster;
        let node_config = |id: NodeId| NodeConfig {
            id,
            cluster_size: c.nodes,
            election_timeout_us: (
                c.election_timeout_ms.0 * 1000,
                c.election_timeout_ms.1 * 1000,
            ),
            heartbeat_us: c.heartbeat_ms * 1000,
            dedup: scenario.dedup,
            mutations: scenario.mutations,
        };
        let nodes: Vec<NodeSlot> = (0..usize::from(c.nodes))
            .map(|i| {
                let id = NodeId::from_index(i);
                let rng = stream_rng(seed, stream::NODE_BASE + u64::from(id.0));
                NodeSlot::Up(RaftNode::new(node_config(id), rng, start))
            })
            .collect();

        let k = scenario.clients;
        let workload = Arc::new(Workload::new(k.ops, k.keys, k.mix));
        let mut clients: Vec<Client> = Vec::with_capacity(k.count as usize);
        let mut used_ids = BTreeSet::new();
        for i in 0..k.count as usize {
            let no = ClientNo::from_index(i);
            let config = ClientConfig {
                no,
                cluster_size: c.nodes,
                timeout_us: k.timeout_ms * 1000,
                think_us: (k.think_ms.0 * 1000, k.think_ms.1 * 1000),
                backoff_us: client_backoff_us(k.timeout_ms * 1000),
                on_restart: k.on_restart,
            };
            let rng = stream_rng(seed, stream::CLIENT_BASE + u64::from(no.0));
            let mut client = Client::new(config, rng, Arc::clone(&workload), start);
            // Ids are 64-bit random draws; a collision would merge two clients' sessions.
            while used_ids.contains(&client.id()) {
                client.redraw_id();
            }
            used_ids.insert(client.id());
            clients.push(client);
        }

        let n = scenario.network;
        let network = Network::new(
            stream_rng(seed, stream::NETWORK),
            LinkParams {
                delay_us: (n.delay_ms.0 * 1000, n.delay_ms.1 * 1000),
                drop: n.drop,
                duplicate: n.duplicate,
            },
        );

        let fault_phase_end = SimTime::from_ms(scenario.duration_ms);
        let mut world = World {
            io: Io {
                now: start,
                queue: EventQueue::new(),
                network,
                observer: Observer::new(c.nodes, sink),
                events: 0,
                client_requests_in_flight: 0,
            },
            node_timer: vec![None; nodes.len()],
            incarnation: vec![0; nodes.len()],
            nodes,
            client_timer: vec![None; clients.len()],
            client_finished: vec![false; clients.len()],
            clients_done: 0,
            clients,
            faults: scenario
                .faults
                .iter()
                .cloned()
                .map(FaultState::new)
                .collect(),
            armed: 0,
            used_ids,
            recent_requests: VecDeque::new(),
            record_requests: scenario
                .faults
                .iter()
                .any(|f| matches!(f.kind, FaultKind::Replay { .. })),
            fault_rng: stream_rng(seed, stream::FAULTS),
            phase: Phase::Faults,
            handling: None,
            deadline: fault_phase_end.plus_ms(scenario.liveness_ms),
        };
        if let Some(profile) = swarm {
            world
                .io
                .observer
                .emit(start, &TraceEvent::Swarm { profile });
        }
        for (i, fault) in scenario.faults.iter().enumerate() {
            world
                .io
                .queue
                .push(SimTime::from_ms(fault.at_ms), Event::FaultStart(i));
        }
        world.io.queue.push(fault_phase_end, Event::FaultPhaseEnd);
        for i in 0..world.nodes.len() {
            world.after_node(NodeId::from_index(i), false);
        }
        for i in 0..world.clients.len() {
            world.after_client(i);
        }
        world
    }

    /// Run until the liveness phase settles or its budget runs out; returns the end time.
    pub fn run(&mut self) -> SimTime {
        while let Some((at, event)) = self.io.queue.pop() {
            if at > self.deadline {
                self.io.now = self.deadline;
                return self.deadline;
            }
            self.io.now = at;
            match event {
                Event::Deliver(envelope) => {
                    if matches!(envelope.msg, Message::ClientRequest { .. }) {
                        self.io.client_requests_in_flight -= 1;
                    }
                    self.deliver(envelope)
                }
                Event::Timer(addr) => self.fire_timer(at, addr),
                Event::FaultStart(i) => self.start_fault(i),
                Event::FaultEnd(i) => self.end_fault(i),
                Event::Restart { node, incarnation } => {
                    if self.incarnation[node.index()] == incarnation {
                        self.restart(node);
                    }
                }
                Event::ClientRestart {
                    client,
                    incarnation,
                } => {
                    let c = &self.clients[client];
                    if c.is_down() && c.origin().incarnation == incarnation {
                        self.restart_client(client);
                    }
                }
                Event::FaultPhaseEnd => self.begin_liveness(),
            }
            if self.phase == Phase::Liveness
                && self.clients_done == self.clients.len()
                && self.io.client_requests_in_flight == 0
                && self.settled()
            {
                return self.io.now;
            }
        }
        self.io.now
    }

    fn deliver(&mut self, envelope: Envelope) {
        match envelope.to {
            Addr::Node(id) => {
                if self.io.network.is_blocked(envelope.from, envelope.to) {
                    return; // the partition began while the message was in flight
                }
                let NodeSlot::Up(node) = &mut self.nodes[id.index()] else {
                    return; // lost: the node is down
                };
                if self.record_requests {
                    remember(&mut self.recent_requests, &envelope);
                }
                self.io.events += 1;
                self.handling = Some(envelope.to);
                node.handle_message(self.io.now, envelope);
                self.after_node(id, true);
            }
            Addr::Client(no) => {
                if self.clients[no.index()].is_down() {
                    return; // lost: the client process is down
                }
                self.io.events += 1;
                self.handling = Some(envelope.to);
                self.clients[no.index()].handle_message(self.io.now, envelope);
                self.after_client(no.index());
            }
        }
    }

    /// A timer event popped. Only the one recorded as scheduled for the process is live; any
    /// other (superseded by an earlier deadline, or from before a crash) is skipped.
    fn fire_timer(&mut self, at: SimTime, addr: Addr) {
        match addr {
            Addr::Node(id) => {
                let scheduled = &mut self.node_timer[id.index()];
                if *scheduled != Some(at) {
                    return;
                }
                *scheduled = None;
                self.after_node(id, false);
            }
            Addr::Client(no) => {
                let scheduled = &mut self.client_timer[no.index()];
                if *scheduled != Some(at) {
                    return;
                }
                *scheduled = None;
                self.after_client(no.index());
            }
        }
    }

    /// After a node handled something (`handled`; false when only its timer came due, or
    /// it was just created): drain its events (observed in order) and messages, check waiting
    /// fault triggers (which may crash it) if it did something, run any timeout already due
    /// at this instant (such as applying what just committed) without a trip through the
    /// queue, and finally queue its next wake-up. Triggers are checked only right after a
    /// step, so a moment like "just answered" is never read from an earlier step.
    pub(super) fn after_node(&mut self, id: NodeId, handled: bool) {
        let i = id.index();
        let mut stepped = handled;
        for _ in 0..MAX_TIMEOUTS_PER_INSTANT {
            let NodeSlot::Up(node) = &mut self.nodes[i] else {
                return;
            };
            let io = &mut self.io;
            while let Some(event) = node.poll_event() {
                observe_node_event(io, id, node, &event);
            }
            while let Some(envelope) = node.poll_transmit() {
                io.send(envelope);
            }
            if self.armed > 0 && stepped {
                self.check_triggers(id);
            }
            let NodeSlot::Up(node) = &mut self.nodes[i] else {
                return; // a trigger crashed it
            };
            let now = self.io.now;
            match node.poll_timeout() {
                Some(due) if due <= now => {
                    self.io.events += 1;
                    self.handling = Some(Addr::Node(id));
                    node.handle_timeout(now);
                    stepped = true;
                }
                next => {
                    self.io.arm(&mut self.node_timer[i], next, Addr::Node(id));
                    return;
                }
            }
        }
        panic!(
            "{id}: a timeout still due after {MAX_TIMEOUTS_PER_INSTANT} at t={}",
            self.io.now
        );
    }

    /// After a client handled something: as [`World::after_node`], for a client.
    fn after_client(&mut self, i: usize) {
        for _ in 0..MAX_TIMEOUTS_PER_INSTANT {
            self.drain_client(i);
            let client = &mut self.clients[i];
            if client.is_done() && !self.client_finished[i] {
                self.client_finished[i] = true;
                self.clients_done += 1;
            }
            let now = self.io.now;
            match client.poll_timeout() {
                Some(due) if due <= now => {
                    self.io.events += 1;
                    self.handling = Some(Addr::Client(client.no()));
                    client.handle_timeout(now);
                }
                next => {
                    let addr = Addr::Client(client.no());
                    self.io.arm(&mut self.client_timer[i], next, addr);
                    return;
                }
            }
        }
        panic!(
            "{}: a timeout still due after {MAX_TIMEOUTS_PER_INSTANT} at t={}",
            ClientNo::from_index(i),
            self.io.now
        );
    }

    /// Observe a client's events and send its messages.
    fn drain_client(&mut self, i: usize) {
        let client = &mut self.clients[i];
        let io = &mut self.io;
        let (client_no, client_id, origin) = (client.no(), client.id(), client.origin());
        while let Some(event) = client.poll_event() {
            let t = io.now;
            let trace = match &event {
                ProcessEvent::Submitted { request } => TraceEvent::Submit { client_no, request },
                &ProcessEvent::Sent { seq, to, attempt } => TraceEvent::Request {
                    client_no,
                    client: client_id,
                    seq,
                    node: to,
                    attempt,
                },
                &ProcessEvent::TimedOut {
                    seq,
                    attempt,
                    retry_to,
                } => TraceEvent::Timeout {
                    client_no,
                    client: client_id,
                    seq,
                    attempt,
                    retry_to,
                },
                &ProcessEvent::Redirected { seq, from, hint } => TraceEvent::Redirect {
                    client_no,
                    client: client_id,
                    seq,
                    node: from,
                    hint,
                },
                ProcessEvent::Accepted {
                    seq,
                    from,
                    result,
                    cached,
                } => TraceEvent::Reply {
                    client_no,
                    origin,
                    client: client_id,
                    seq: *seq,
                    node: *from,
                    result,
                    cached: *cached,
                },
                other => unreachable!("client {client_no} emitted a node event {other:?}"),
            };
            io.observer.emit(t, &trace);
        }
        while let Some(envelope) = client.poll_transmit() {
            io.send(envelope);
        }
    }

    /// Every node up, one leader, and every node has applied the leader's whole log. (The
    /// caller also waits for in-flight client requests.)
    fn settled(&self) -> bool {
        let mut leader: Option<&RaftNode> = None;
        for slot in &self.nodes {
            let NodeSlot::Up(node) = slot else {
                return false;
            };
            if node.is_leader() && leader.is_none_or(|l| node.term() > l.term()) {
                leader = Some(node);
            }
        }
        let Some(leader) = leader else {
            return false;
        };
        let target = leader.log().last_index();
        self.nodes.iter().all(|slot| {
            matches!(slot, NodeSlot::Up(n) if n.last_applied() == target && n.term() == leader.term())
        })
    }

    /// Crash a node: keep its durable state, drop everything else (its queued timer too).
    pub(super) fn crash(&mut self, id: NodeId, cause: CrashCause) {
        let i = id.index();
        let NodeSlot::Up(node) = std::mem::replace(&mut self.nodes[i], NodeSlot::Moving) else {
            unreachable!("crash of {id}, which is not up");
        };
        self.nodes[i] = NodeSlot::Down(node.crash());
        self.node_timer[i] = None;
        self.incarnation[i] += 1;
        let now = self.io.now;
        self.io
            .observer
            .emit(now, &TraceEvent::Crash { node: id, cause });
    }

    /// Restart a crashed node from its durable state.
    pub(super) fn restart(&mut self, id: NodeId) {
        let i = id.index();
        let crashed = match std::mem::replace(&mut self.nodes[i], NodeSlot::Moving) {
            NodeSlot::Down(crashed) => crashed,
            other => {
                self.nodes[i] = other;
                return;
            }
        };
        let now = self.io.now;
        self.nodes[i] = NodeSlot::Up(RaftNode::recover(crashed, now));
        self.io.events += 1;
        self.io
            .observer
            .emit(now, &TraceEvent::Restart { node: id });
        self.after_node(id, false);
    }

    /// The fault phase is over: skip faults still waiting, heal the network, restart every
    /// crashed node and client.
    fn begin_liveness(&mut self) {
        let now = self.io.now;
        self.skip_armed_faults();
        self.io.network.calm();
        self.io.observer.emit(now, &TraceEvent::Liveness);
        self.phase = Phase::Liveness;
        for i in 0..self.nodes.len() {
            if matches!(self.nodes[i], NodeSlot::Down(_)) {
                self.restart(NodeId::from_index(i));
            }
        }
        for c in 0..self.clients.len() {
            if self.clients[c].is_down() {
                self.restart_client(c);
            }
        }
    }

    /// Crash client `c` (for fault `fault`); returns the incarnation that went down.
    pub(super) fn crash_client(&mut self, c: usize, fault: usize) -> u32 {
        let client = &mut self.clients[c];
        let abandoned = client.pending().map(|(r, _)| r.seq);
        let (client_no, id, incarnation) = (client.no(), client.id(), client.origin().incarnation);
        client.crash();
        self.client_timer[c] = None;
        let now = self.io.now;
        self.io.observer.emit(
            now,
            &TraceEvent::ClientCrash {
                client_no,
                client: id,
                fault,
                abandoned,
            },
        );
        incarnation
    }

    /// Restart client `c` as a new incarnation; a fresh id is never one used before.
    fn restart_client(&mut self, c: usize) {
        let now = self.io.now;
        let client = &mut self.clients[c];
        let old = client.id();
        client.restart(now);
        if client.id() != old {
            while self.used_ids.contains(&client.id()) {
                client.redraw_id();
            }
            self.used_ids.insert(client.id());
        }
        let (client_no, id, incarnation) = (client.no(), client.id(), client.origin().incarnation);
        self.io.events += 1;
        self.io.observer.emit(
            now,
            &TraceEvent::ClientRestart {
                client_no,
                client: id,
                incarnation,
            },
        );
        self.after_client(c);
    }

    /// Each client's unfinished work.
    pub fn pending(&self) -> Vec<PendingOp> {
        self.clients
            .iter()
            .filter(|c| !c.is_done())
            .map(|c| PendingOp {
                client_no: c.no(),
                client: c.id(),
                waiting: c
                    .pending()
                    .map(|(r, since)| (r.seq, r.op.to_string(), since)),
                unsubmitted: c.unsubmitted(),
            })
            .collect()
    }

    /// A node by id, if up.
    pub fn node(&self, id: NodeId) -> Option<&RaftNode> {
        match &self.nodes[id.index()] {
            NodeSlot::Up(n) => Some(n),
            _ => None,
        }
    }
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

/// Turn one node event into trace events, and show a new leader's log to the checkers.
fn observe_node_event(io: &mut Io<'_>, node_id: NodeId, node: &RaftNode, event: &ProcessEvent) {
    let t = io.now;
    node_trace_events(node_id, event, |trace| io.observer.emit(t, trace));
    if let &ProcessEvent::BecameLeader { term } = event {
        io.observer.leader_elected(node_id, term, node.log());
    }
}

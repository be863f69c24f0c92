//! The scheduler's half of the world: simulated time, the event queue, the processes in their
//! slots, the network and the observer. It steps processes (deliveries, timers, the timeouts
//! due at the same instant), routes what they send, and carries out what the fault injector
//! commands through [`Target`].
//!
//! A step hands one event to one process, then drains that process's events (observed in
//! order) and messages (routed through the network), and re-arms its timer. Nothing here
//! reads a clock or a global RNG.

use std::collections::BTreeSet;

use super::clock::Clock;
use super::faults::{Injector, Target, Timer};
use super::network::{LinkOverride, Network, Route};
use super::observer::Observer;
use super::queue::EventQueue;
use crate::client::Client;
use crate::ids::{ClientId, ClientNo, NodeId, SimTime};
use crate::message::{Addr, Envelope, Message};
use crate::process::Process;
use crate::raft::{CrashedNode, RaftNode};
use crate::scenario::Budget;
use crate::trace::{CrashCause, MessageStep, Prob, TraceEvent, Traced};
use crate::verdict::thousands;

/// Events between two checks of the log and queue budgets.
pub(super) const BUDGET_CHECK_EVERY: u64 = 1024;

/// Most timeouts one process may handle back to back without simulated time moving; more
/// means a timer that never moves forward, a bug worth stopping for.
const MAX_TIMEOUTS_PER_INSTANT: u32 = 64;

/// What the queue holds.
pub(super) enum Event {
    /// A message arrives.
    Deliver(Envelope),
    /// A process's timer may be due.
    Timer(Addr),
    /// One of the fault injector's own timers.
    Fault(Timer),
    /// Restart a node crashed by a fault, if it is still that incarnation that is down.
    Restart { node: NodeId, incarnation: u32 },
    /// Restart a client crashed by a fault, if it is still that incarnation that is down.
    ClientRestart { client: usize, incarnation: u32 },
    /// The fault phase is over; the liveness phase begins.
    FaultPhaseEnd,
}

/// A node's state between steps.
// A live node is most of the world's state and is touched on every event; boxing it to
// shrink the rare `Down` variant would add an indirection to the hot path.
#[allow(clippy::large_enum_variant)]
enum NodeState {
    Up(RaftNode),
    Down(CrashedNode),
    /// Only while moving between the two.
    Moving,
}

/// One node's place in the world.
struct NodeSlot {
    state: NodeState,
    /// The wake-up queued for it, if any (an earlier one supersedes later queued ones).
    timer: Option<SimTime>,
    /// Bumped at every crash, so a scheduled restart only revives the incarnation it meant.
    incarnation: u32,
    /// A clock fault in effect: the node reads this clock instead of simulated time.
    clock: Option<Clock>,
    /// The fault that set `clock`: only its end clears it (a later fault on the same node
    /// replaces it, and the earlier fault's end then changes nothing).
    clock_fault: Option<usize>,
}

impl NodeSlot {
    /// What the node's clock reads now.
    #[inline]
    fn local(&self, now: SimTime) -> SimTime {
        match &self.clock {
            None => now,
            Some(clock) => clock.local(now),
        }
    }
}

/// One client's place in the world.
struct ClientSlot {
    client: Client,
    timer: Option<SimTime>,
    /// Counted in `clients_done` already.
    finished: bool,
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
    client_requests_in_flight: u64,
    /// The run's bounds.
    pub budget: Budget,
    /// When `events` reaches this, check the budgets (every [`BUDGET_CHECK_EVERY`] events,
    /// and exactly at the events budget): one comparison per event when nothing runs away.
    pub next_budget_check: u64,
    /// Trace every message's fate (`--messages`).
    messages: bool,
    /// The process whose handler is running, to name it if it panics.
    pub handling: Option<Addr>,
}

impl Io<'_> {
    /// Route one message through the network into the queue.
    #[inline]
    fn send(&mut self, envelope: Envelope) {
        let route = self.network.route(envelope.from, envelope.to);
        if self.messages {
            self.trace_route(&envelope, route);
        }
        match route {
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

    /// `--messages`: a message was sent, and what the network did with it.
    #[cold]
    fn trace_route(&mut self, envelope: &Envelope, route: Route) {
        self.trace_message(MessageStep::Send, envelope);
        match route {
            Route::Partitioned => self.trace_message(MessageStep::Cut, envelope),
            Route::Lost => self.trace_message(MessageStep::Lost, envelope),
            Route::Deliver {
                copy_delay_us: Some(_),
                ..
            } => self.trace_message(MessageStep::Dup, envelope),
            Route::Deliver { .. } => {}
        }
    }

    /// `--messages`: one step of a message's journey.
    #[cold]
    fn trace_message(&mut self, step: MessageStep, envelope: &Envelope) {
        let event = TraceEvent::Message {
            step,
            from: envelope.from,
            to: envelope.to,
            kind: envelope.msg.kind(),
            bytes: envelope.msg.encoded_len(),
        };
        self.observer.emit(self.now, &event);
    }

    /// Deliver `envelope` after `delay_us`, as the network re-delivering an old packet:
    /// not subject to loss, duplication or partitions when sent (only when it arrives).
    fn deliver_after(&mut self, envelope: Envelope, delay_us: u64) {
        if matches!(envelope.msg, Message::ClientRequest { .. }) {
            self.client_requests_in_flight += 1;
        }
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

    /// Observe a process's events, in order, and send its messages.
    #[inline]
    fn drain<P: Traced>(&mut self, process: &mut P) {
        let t = self.now;
        while let Some(event) = process.poll_event() {
            process.trace(&event, |trace| self.observer.emit(t, trace));
        }
        while let Some(envelope) = process.poll_transmit() {
            self.send(envelope);
        }
    }

    /// Run `process`'s timeout if it is already due at this instant (true), or queue its next
    /// wake-up (false). A process under a clock fault reads `clock`, and its deadlines are on
    /// that clock.
    #[inline]
    fn run_due<P: Process>(
        &mut self,
        process: &mut P,
        timer: &mut Option<SimTime>,
        addr: Addr,
        clock: Option<Clock>,
    ) -> bool {
        let local_now = clock.map_or(self.now, |c| c.local(self.now));
        match process.poll_timeout() {
            Some(due) if due <= local_now => {
                self.events += 1;
                self.handling = Some(addr);
                process.handle_timeout(local_now);
                true
            }
            next => {
                let next = match (next, clock) {
                    (Some(due), Some(c)) => Some(c.sim_time_of(due, self.now)),
                    _ => next,
                };
                self.arm(timer, next, addr);
                false
            }
        }
    }
}

/// Time, the queue, the processes and where their outputs go.
pub(super) struct Scheduler<'s> {
    pub io: Io<'s>,
    nodes: Vec<NodeSlot>,
    clients: Vec<ClientSlot>,
    clients_done: usize,
    /// Every client id handed out, so a restarted client never takes an id seen before.
    used_ids: BTreeSet<ClientId>,
}

impl<'s> Scheduler<'s> {
    /// A scheduler at time 0 over these processes (their first steps not yet taken). Client
    /// ids are made unique here: a 64-bit collision would merge two clients' sessions.
    pub fn new(
        nodes: Vec<RaftNode>,
        clients: Vec<Client>,
        network: Network,
        observer: Observer<'s>,
        budget: Budget,
        messages: bool,
    ) -> Scheduler<'s> {
        let mut used_ids = BTreeSet::new();
        let clients = clients
            .into_iter()
            .map(|mut client| {
                while !client.registers() && used_ids.contains(&client.id()) {
                    client.redraw_id();
                }
                used_ids.insert(client.id());
                ClientSlot {
                    client,
                    timer: None,
                    finished: false,
                }
            })
            .collect();
        Scheduler {
            io: Io {
                now: SimTime::ZERO,
                queue: EventQueue::new(),
                network,
                observer,
                events: 0,
                client_requests_in_flight: 0,
                next_budget_check: BUDGET_CHECK_EVERY.min(budget.events + 1),
                budget,
                messages,
                handling: None,
            },
            nodes: nodes
                .into_iter()
                .map(|node| NodeSlot {
                    state: NodeState::Up(node),
                    timer: None,
                    incarnation: 0,
                    clock: None,
                    clock_fault: None,
                })
                .collect(),
            clients,
            clients_done: 0,
            used_ids,
        }
    }

    /// Every process takes its first step (arming its first timer), nodes first.
    pub fn start(&mut self, faults: &mut Injector) {
        for i in 0..self.nodes.len() {
            self.after_node(NodeId::from_index(i), false, faults);
        }
        for c in 0..self.clients.len() {
            self.after_client(c);
        }
    }

    /// A message arrives: hand it to its process, unless a partition cut the link while it
    /// was in flight or the process is down.
    pub fn deliver(&mut self, envelope: Envelope, faults: &mut Injector) {
        if matches!(envelope.msg, Message::ClientRequest { .. }) {
            self.io.client_requests_in_flight -= 1;
        }
        match envelope.to {
            Addr::Node(id) => {
                if self.io.network.is_blocked(envelope.from, envelope.to) {
                    if self.io.messages {
                        self.io.trace_message(MessageStep::Cut, &envelope);
                    }
                    return;
                }
                let slot = &mut self.nodes[id.index()];
                let local_now = slot.local(self.io.now);
                let NodeState::Up(node) = &mut slot.state else {
                    if self.io.messages {
                        self.io.trace_message(MessageStep::Down, &envelope);
                    }
                    return;
                };
                faults.delivered(&envelope);
                if self.io.messages {
                    self.io.trace_message(MessageStep::Deliver, &envelope);
                }
                self.io.events += 1;
                self.io.handling = Some(envelope.to);
                node.handle_message(local_now, envelope);
                self.after_node(id, true, faults);
            }
            Addr::Client(no) => {
                let slot = &mut self.clients[no.index()];
                if slot.client.is_down() {
                    if self.io.messages {
                        self.io.trace_message(MessageStep::Down, &envelope);
                    }
                    return;
                }
                if self.io.messages {
                    self.io.trace_message(MessageStep::Deliver, &envelope);
                }
                self.io.events += 1;
                self.io.handling = Some(envelope.to);
                slot.client.handle_message(self.io.now, envelope);
                self.after_client(no.index());
            }
        }
    }

    /// A timer event popped. Only the one recorded as scheduled for the process is live; any
    /// other (superseded by an earlier deadline, or from before a crash) is skipped.
    pub fn fire_timer(&mut self, at: SimTime, addr: Addr, faults: &mut Injector) {
        let scheduled = match addr {
            Addr::Node(id) => &mut self.nodes[id.index()].timer,
            Addr::Client(no) => &mut self.clients[no.index()].timer,
        };
        if *scheduled != Some(at) {
            return;
        }
        *scheduled = None;
        match addr {
            Addr::Node(id) => self.after_node(id, false, faults),
            Addr::Client(no) => self.after_client(no.index()),
        }
    }

    /// After a node handled something (`handled`; false when only its timer came due, or
    /// it was just created): drain its events and messages, let the fault injector look at
    /// it if it did something (a waiting crash may fire), run any timeout already due at this
    /// instant (such as applying what just committed) without a trip through the queue, and
    /// finally queue its next wake-up. Triggers are checked only right after a step, so a
    /// moment like "just answered" is never read from an earlier step.
    fn after_node(&mut self, id: NodeId, handled: bool, faults: &mut Injector) {
        let i = id.index();
        let addr = Addr::Node(id);
        let mut stepped = handled;
        for _ in 0..MAX_TIMEOUTS_PER_INSTANT {
            let NodeState::Up(node) = &mut self.nodes[i].state else {
                return;
            };
            self.io.drain(node);

            if stepped && faults.waiting() {
                faults.after_step(id, self);
            }
            let slot = &mut self.nodes[i];
            let NodeState::Up(node) = &mut slot.state else {
                return; // a trigger crashed it
            };
            if !self.io.run_due(node, &mut slot.timer, addr, slot.clock) {
                return;
            }
            stepped = true;
        }
        panic!(
            "{id}: a timeout still due after {MAX_TIMEOUTS_PER_INSTANT} at t={}",
            self.io.now
        );
    }

    /// After a client handled something: as [`Scheduler::after_node`], for a client.
    fn after_client(&mut self, c: usize) {
        let slot = &mut self.clients[c];
        let addr = Addr::Client(slot.client.no());
        for _ in 0..MAX_TIMEOUTS_PER_INSTANT {
            self.io.drain(&mut slot.client);
            if slot.client.is_done() && !slot.finished {
                slot.finished = true;
                self.clients_done += 1;
            }
            if !self
                .io
                .run_due(&mut slot.client, &mut slot.timer, addr, None)
            {
                return;
            }
        }
        panic!(
            "{}: a timeout still due after {MAX_TIMEOUTS_PER_INSTANT} at t={}",
            ClientNo::from_index(c),
            self.io.now
        );
    }

    /// Restart node `id` if it is down as incarnation `incarnation` (a restart a fault
    /// scheduled; a later crash makes it stale).
    pub fn restart_if(&mut self, id: NodeId, incarnation: u32, faults: &mut Injector) {
        if self.nodes[id.index()].incarnation == incarnation {
            self.restart(id, faults);
        }
    }

    /// Restart a crashed node from its durable state (nothing if it is up).
    fn restart(&mut self, id: NodeId, faults: &mut Injector) {
        let slot = &mut self.nodes[id.index()];
        let crashed = match std::mem::replace(&mut slot.state, NodeState::Moving) {
            NodeState::Down(crashed) => crashed,
            other => {
                slot.state = other;
                return;
            }
        };
        let now = self.io.now;
        slot.state = NodeState::Up(RaftNode::recover(crashed, slot.local(now)));
        self.io.events += 1;
        self.io
            .observer
            .emit(now, &TraceEvent::Restart { node: id });
        self.after_node(id, false, faults);
    }

    /// Restart client `c` if it is down as incarnation `incarnation`.
    pub fn restart_client_if(&mut self, c: usize, incarnation: u32) {
        let client = &self.clients[c].client;
        if client.is_down() && client.origin().incarnation == incarnation {
            self.restart_client(c);
        }
    }

    /// Restart client `c` as a new incarnation; a fresh id is never one used before.
    fn restart_client(&mut self, c: usize) {
        let now = self.io.now;
        let client = &mut self.clients[c].client;
        let old = client.id();
        client.restart(now);
        if client.id() != old && !client.registers() {
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

    /// The liveness phase: every crashed node and client restarts, and the network calms.
    pub fn heal_everything(&mut self, faults: &mut Injector) {
        let now = self.io.now;
        self.io.network.calm();
        self.io.observer.emit(now, &TraceEvent::Liveness);
        for i in 0..self.nodes.len() {
            if matches!(self.nodes[i].state, NodeState::Down(_)) {
                self.restart(NodeId::from_index(i), faults);
            }
        }
        for c in 0..self.clients.len() {
            if self.clients[c].client.is_down() {
                self.restart_client(c);
            }
        }
    }

    /// Check the run's bounds (called when `io.events` reaches `io.next_budget_check`): the
    /// bound passed, as the verdict names it, or `None` and the next check scheduled. A log
    /// or queue that runs away is caught within [`BUDGET_CHECK_EVERY`] events of passing its
    /// bound; the events bound exactly.
    #[cold]
    pub fn check_budget(&mut self) -> Option<String> {
        let (budget, now, events) = (self.io.budget, self.io.now, self.io.events);
        let n = thousands;
        if events > budget.events {
            return Some(format!(
                "events passed {} at t={now} (budget events)",
                n(budget.events)
            ));
        }
        for slot in &self.nodes {
            if let NodeState::Up(node) = &slot.state {
                if node.log().last_index().0 > budget.log_entries {
                    return Some(format!(
                        "log of {} passed {} entries at t={now} (budget log_entries)",
                        node.id(),
                        n(budget.log_entries)
                    ));
                }
            }
        }
        let queued = self.io.queue.len() as u64;
        if queued > budget.in_flight {
            return Some(format!(
                "messages in flight passed {} at t={now} (budget in_flight: {} events queued; \
                 something resends without end)",
                n(budget.in_flight),
                n(queued)
            ));
        }
        self.io.next_budget_check = (events + BUDGET_CHECK_EVERY).min(budget.events + 1);
        None
    }

    /// Trace fault `fault` re-delivering `envelope` (an old client request) to `to`.
    fn trace_replay(&mut self, fault: usize, envelope: &Envelope, to: NodeId) {
        if let Message::ClientRequest { request, .. } = &envelope.msg {
            let (client, seq) = (request.client, request.seq);
            let now = self.io.now;
            self.io.observer.emit(
                now,
                &TraceEvent::Replay {
                    fault,
                    client,
                    seq,
                    to,
                },
            );
        }
    }

    /// Every client finished its operations and no client request is on its way.
    pub fn clients_finished(&self) -> bool {
        self.clients_done == self.clients.len() && self.io.client_requests_in_flight == 0
    }

    /// Every node up, one leader, and every node has applied the leader's whole log.
    pub fn settled(&self) -> bool {
        let mut leader: Option<&RaftNode> = None;
        for slot in &self.nodes {
            let NodeState::Up(node) = &slot.state else {
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
            matches!(&slot.state, NodeState::Up(n) if n.last_applied() == target && n.term() == leader.term())
        })
    }

    /// Each client's unfinished work.
    pub fn pending(&self) -> Vec<crate::check::PendingOp> {
        self.clients
            .iter()
            .map(|slot| &slot.client)
            .filter(|c| !c.is_done())
            .map(|c| crate::check::PendingOp {
                client_no: c.no(),
                client: c.id(),
                waiting: c
                    .pending()
                    .map(|(r, since)| (r.seq, r.op.to_string(), since)),
                unsubmitted: c.unsubmitted(),
            })
            .collect()
    }
}

/// The commands the fault injector acts through, and what it may read.
impl Target for Scheduler<'_> {
    fn now(&self) -> SimTime {
        self.io.now
    }

    fn cluster_size(&self) -> u8 {
        self.nodes.len() as u8
    }

    fn node(&self, id: NodeId) -> Option<&RaftNode> {
        match &self.nodes[id.index()].state {
            NodeState::Up(node) => Some(node),
            _ => None,
        }
    }

    fn clients(&self) -> usize {
        self.clients.len()
    }

    fn client(&self, c: usize) -> &Client {
        &self.clients[c].client
    }

    fn schedule(&mut self, at: SimTime, timer: Timer) {
        self.io.queue.push(at, Event::Fault(timer));
    }

    fn count_event(&mut self) {
        self.io.events += 1;
    }

    fn crash(&mut self, id: NodeId, cause: CrashCause, restart_after_ms: Option<u64>) {
        let slot = &mut self.nodes[id.index()];
        let NodeState::Up(node) = std::mem::replace(&mut slot.state, NodeState::Moving) else {
            unreachable!("fault {}: crash of {id}, which is not up", cause.fault);
        };
        slot.state = NodeState::Down(node.crash());
        slot.timer = None;
        slot.incarnation += 1;
        let incarnation = slot.incarnation;
        let now = self.io.now;
        self.io
            .observer
            .emit(now, &TraceEvent::Crash { node: id, cause });
        if let Some(ms) = restart_after_ms {
            let restart = Event::Restart {
                node: id,
                incarnation,
            };
            self.io.queue.push(now.plus_ms(ms), restart);
        }
    }

    fn crash_client(&mut self, c: usize, fault: usize, restart_after_ms: Option<u64>) {
        let slot = &mut self.clients[c];
        let client = &mut slot.client;
        let abandoned = client.pending().map(|(r, _)| r.seq);
        let (client_no, id, incarnation) = (client.no(), client.id(), client.origin().incarnation);
        client.crash();
        slot.timer = None;
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
        if let Some(ms) = restart_after_ms {
            let restart = Event::ClientRestart {
                client: c,
                incarnation,
            };
            self.io.queue.push(now.plus_ms(ms), restart);
        }
    }

    fn partition(&mut self, fault: usize, groups: &[Vec<NodeId>], one_way: bool) {
        let indexes: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| g.iter().map(|n| n.index()).collect())
            .collect();
        self.io.network.add_partition(fault, &indexes, one_way);
        let now = self.io.now;
        self.io.observer.emit(
            now,
            &TraceEvent::Partition {
                fault,
                groups,
                one_way,
            },
        );
    }

    fn heal(&mut self, fault: usize) {
        self.io.network.remove_partition(fault);
        let now = self.io.now;
        self.io.observer.emit(now, &TraceEvent::Heal { fault });
    }

    fn change_links(&mut self, fault: usize, change: Option<LinkOverride>) {
        let open = change.is_some();
        match change {
            Some(change) => self.io.network.start_window(fault, change),
            None => self.io.network.end_window(fault),
        }
        let p = self.io.network.params();
        let now = self.io.now;
        self.io.observer.emit(
            now,
            &TraceEvent::Network {
                fault,
                open,
                drop: Prob(p.drop),
                duplicate: Prob(p.duplicate),
                delay_us: p.delay_us,
            },
        );
    }

    fn replay(&mut self, fault: usize, envelope: Envelope, to: NodeId) {
        self.trace_replay(fault, &envelope, to);
        let delay_us = self.io.network.draw_delay();
        self.io.deliver_after(envelope, delay_us);
    }

    fn replay_together(&mut self, fault: usize, envelopes: Vec<Envelope>, to: NodeId) {
        let delay_us = self.io.network.shortest_delay_us();
        for envelope in envelopes {
            self.trace_replay(fault, &envelope, to);
            self.io.deliver_after(envelope, delay_us);
        }
    }

    fn set_clock(&mut self, fault: usize, id: NodeId, clock: Option<Clock>) {
        let now = self.io.now;
        let slot = &mut self.nodes[id.index()];
        if clock.is_none() && slot.clock_fault != Some(fault) {
            return; // a later clock fault took this node's clock over
        }
        let before = slot.local(now);
        slot.clock = clock;
        slot.clock_fault = clock.map(|_| fault);
        let jump_us = slot.local(now).0 as i128 - before.0 as i128;
        // Its timers wait what they were set to wait; its deadlines are on its clock: queue
        // its wake-up again by the new reading.
        slot.timer = None;
        if let NodeState::Up(node) = &mut slot.state {
            node.clock_jumped(jump_us.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64);
            let next = node
                .poll_timeout()
                .map(|due| clock.map_or(due, |c| c.sim_time_of(due, now)));
            self.io.arm(&mut slot.timer, next, Addr::Node(id));
        }
        let (offset_us, drift_ppm) = clock.map_or((0, 0), |c| (c.offset_us, c.drift_ppm));
        self.io.observer.emit(
            now,
            &TraceEvent::Clock {
                fault,
                node: id,
                offset_us,
                drift_ppm,
            },
        );
    }

    fn skipped(&mut self, fault: usize) {
        let now = self.io.now;
        self.io
            .observer
            .emit(now, &TraceEvent::FaultSkipped { fault });
    }
}

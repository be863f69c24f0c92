//! The client state machine: up to `window` requests in flight, each retried under the SAME
//! `(client_id, seq)`. The simulator runs it, and `idemsim client` drives the very same logic
//! over TCP ([`crate::net::client`]).
//!
//! A client numbers its operations from its first seq and sends each to the node it
//! believes leads; every request carries the client's lowest unacknowledged seq, below which
//! servers may forget results. Without an answer within `timeout_us` it re-sends the same
//! request to the leader hint (if that is not the node that failed) or to the next node; a
//! "not leader" answer sends it on at once to the hinted leader, or, with no hint, to the
//! next node after a short back-off. A node that failed is suspected for `suspect_us` and
//! passed over while another node is left (the real network, where a dead node refuses at
//! once, needs this; simulated clients suspect no one). A node that answers is trusted again.
//! Each request in flight retries on its own; replies may come back in any order.
//!
//! With `register`, a client first opens a session through the log and uses the id the
//! cluster gives it. An answer `session-expired` ends every request in flight as indefinite
//! (each may have taken effect once, never twice) and the client opens a new session, going
//! on with the operations left (seqs keep counting up).
//!
//! An operation ends when a result is accepted, when a node refuses it (an acknowledged and
//! forgotten seq, a seq taken by another operation, an expired session), or (with
//! `max_attempts`) when the attempts run out.
//!
//! A client process can crash: its operations in flight are abandoned (each may still take
//! effect, at most once, but nobody waits for it) and it restarts as a new incarnation that
//! carries on with the operations left, numbering from seq 1 under a fresh `client_id` (a new
//! registration when it registers) — or, with the flawed [`OnRestart::ReuseId`], under its old
//! one; or, with [`OnRestart::Resume`], under its old id from the lowest seq it had not had
//! acknowledged, with new operations in the abandoned ones' seqs.

mod config;
mod event;
mod workload;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;

pub use config::{ClientConfig, OnRestart};
pub use event::{ClientEvent, Failure};
pub use workload::{Mix, Workload};

use crate::ids::{ClientId, ClientNo, NodeId, Seq, SimTime};
use crate::kv::{Origin, Request};
use crate::message::{Addr, Envelope, Message, Refusal, RegisterAnswer, Reply};
use crate::mutation::Mutation;
use crate::process::Process;

/// An operation in flight.
#[derive(Clone, Debug)]
struct InFlight {
    request: Arc<Request>,
    attempt: u32,
    target: NodeId,
    submitted_at: SimTime,
    /// When its timer fires: a timeout, or the end of a back-off.
    due: SimTime,
    /// Told "not leader" with no hint, or every node failed: on `due`, try the next node.
    backing_off: bool,
}

/// A session being opened.
#[derive(Clone, Copy, Debug)]
struct Registration {
    attempt: u32,
    target: NodeId,
    due: SimTime,
    backing_off: bool,
}

/// Most nodes a cluster has.
const MAX_NODES: usize = 9;

/// The id a registering client shows before the cluster gave it one.
const UNREGISTERED: ClientId = ClientId(0);

/// A client.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    id: ClientId,
    incarnation: u32,
    rng: ChaCha8Rng,
    workload: Arc<Workload>,
    next_seq: Seq,
    /// Seqs abandoned by a crash, to be reused first (in order) by a client that resumes:
    /// only those, never a seq between them that was acknowledged.
    reuse: VecDeque<Seq>,
    issued: u64,
    completed: u64,
    abandoned: u64,
    refused: u64,
    expired: u64,
    given_up: u64,
    down: bool,
    /// When to submit the next operation (thinking), if there is room and a session.
    think_at: Option<SimTime>,
    /// Requests in flight, in seq order, all within `window` seqs of the first.
    flights: Vec<InFlight>,
    /// The session being opened, if any.
    registering: Option<Registration>,
    leader_hint: Option<NodeId>,
    /// Per node: suspected of being down until this time.
    suspected_until: [SimTime; MAX_NODES],
    outbox: VecDeque<Envelope>,
    events: VecDeque<ClientEvent>,
}

impl Client {
    /// A client whose `client_id` is `config.id`, or else the first draw of `rng` (its own
    /// seeded stream), or (with `register`) the one the cluster gives it. It thinks, then
    /// submits its first operation (registering first, if it registers).
    pub fn new(
        config: ClientConfig,
        mut rng: ChaCha8Rng,
        workload: Arc<Workload>,
        now: SimTime,
    ) -> Client {
        assert!(
            (1..=MAX_NODES).contains(&usize::from(config.cluster_size)),
            "{}: cluster size {} outside 1..={MAX_NODES}",
            config.no,
            config.cluster_size
        );
        assert!(config.window >= 1, "{}: window 0", config.no);
        let id = match (config.id, config.register) {
            (Some(id), _) => id,
            (None, true) => UNREGISTERED,
            (None, false) => ClientId(rng.next_u64()),
        };
        let mut client = Client {
            config,
            id,
            incarnation: 0,
            rng,
            workload,
            next_seq: config.first_seq,
            reuse: VecDeque::new(),
            issued: 0,
            completed: 0,
            abandoned: 0,
            refused: 0,
            expired: 0,
            given_up: 0,
            down: false,
            think_at: None,
            flights: Vec::new(),
            registering: None,
            leader_hint: None,
            suspected_until: [SimTime::ZERO; MAX_NODES],
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        };
        client.begin(now);
        client
    }

    /// Open a session first if this client registers and has none, else think.
    fn begin(&mut self, now: SimTime) {
        if self.config.register && self.id == UNREGISTERED && self.unsubmitted() > 0 {
            self.register(now);
        } else {
            self.think(now);
        }
    }

    pub fn id(&self) -> ClientId {
        self.id
    }

    pub fn no(&self) -> ClientNo {
        self.config.no
    }

    /// This client opens its sessions through the log (its id is not its own to choose).
    pub fn registers(&self) -> bool {
        self.config.register
    }

    /// This process and incarnation: what the checkers key operations by.
    pub fn origin(&self) -> Origin {
        Origin {
            client_no: self.config.no,
            incarnation: self.incarnation,
        }
    }

    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Crash: lose everything volatile. The operations in flight are abandoned: each may
    /// still take effect (at most once), but no one will ever accept its result.
    pub fn crash(&mut self) {
        // Not acknowledged: a client that resumes reuses these seqs (and only these: with a
        // window, seqs between them may have been acknowledged, and the servers still hold
        // those results).
        self.reuse = self.flights.iter().map(|f| f.request.seq).collect();
        self.abandoned += self.flights.len() as u64;
        self.flights.clear();
        self.registering = None;
        self.down = true;
        self.think_at = None;
        self.leader_hint = None;
        self.suspected_until = [SimTime::ZERO; MAX_NODES];
        self.outbox.clear();
        self.events.clear();
    }

    /// Restart as a new incarnation that carries on with the operations left: from seq 1
    /// under a fresh `client_id` (a new session, when it registers) or (flawed) the old one,
    /// or ([`OnRestart::Resume`]) under the old id from the first seq not acknowledged. A
    /// configured `id` and `first_seq` name the first incarnation only.
    pub fn restart(&mut self, now: SimTime) {
        assert!(
            self.is_down(),
            "{}: restart of a client that is up",
            self.config.no
        );
        self.incarnation += 1;
        self.down = false;
        match self.config.on_restart {
            OnRestart::FreshId => {
                if self.config.register {
                    self.id = UNREGISTERED;
                } else {
                    self.redraw_id();
                }
                self.next_seq = Seq(1);
                self.reuse.clear();
            }
            OnRestart::ReuseId => {
                self.next_seq = Seq(1);
                self.reuse.clear();
            }
            OnRestart::Resume => {}
        }
        self.begin(now);
    }

    /// Operations abandoned by crashes.
    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// Operations a node refused (as acknowledged and forgotten, or as a seq that took effect
    /// as a different operation), and those ended by an expired session.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Operations ended by an expired session (indefinite), a part of [`Client::refused`].
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Operations given up after `max_attempts`.
    pub fn given_up(&self) -> u64 {
        self.given_up
    }

    /// Draw a fresh `client_id` (the driver calls this only if two clients drew the same one).
    pub fn redraw_id(&mut self) {
        self.id = ClientId(self.rng.next_u64());
    }

    /// Every operation ended.
    pub fn is_done(&self) -> bool {
        !self.down
            && self.issued >= self.workload.ops
            && self.flights.is_empty()
            && self.registering.is_none()
    }

    /// Operations whose result was accepted.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Operations not yet submitted.
    pub fn unsubmitted(&self) -> u64 {
        self.workload.ops - self.issued
    }

    /// The oldest operation waiting for an answer, with when it was submitted.
    pub fn pending(&self) -> Option<(&Request, SimTime)> {
        self.flights.first().map(|f| (&*f.request, f.submitted_at))
    }

    /// The node the oldest waiting attempt went to, if one is waiting for an answer.
    pub fn awaiting(&self) -> Option<NodeId> {
        self.flights
            .iter()
            .find(|f| !f.backing_off)
            .map(|f| f.target)
            .or_else(|| {
                self.registering
                    .filter(|r| !r.backing_off)
                    .map(|r| r.target)
            })
    }

    /// A real network found `node` unreachable: the connection was refused or dropped, or the
    /// node said it is overloaded. Every attempt waiting there has failed: retry elsewhere now
    /// rather than wait out the timeout. Anything else is ignored.
    pub fn handle_unreachable(&mut self, now: SimTime, node: NodeId) {
        if self
            .registering
            .is_some_and(|r| !r.backing_off && r.target == node)
        {
            self.register_failed(now, node);
        }
        let mut i = 0;
        while i < self.flights.len() {
            let f = &self.flights[i];
            let seq = f.request.seq;
            if !f.backing_off && f.target == node {
                self.retry_after_failure(now, i, Failure::Unreachable);
            }
            // Given up (removed) or re-sent: move past it either way.
            if self.flights.get(i).is_some_and(|f| f.request.seq == seq) {
                i += 1;
            }
        }
    }

    /// Think before the next operation, if one is left, there is room in the window and a
    /// session to send it in, and no think is already on. The window slides over seqs, as
    /// TCP's does over bytes: the next seq must fall within `window` of the lowest one not
    /// yet answered, so the servers never hold more than `window` results for this client
    /// (they keep every result from that lowest seq on).
    fn think(&mut self, now: SimTime) {
        let room = self
            .lowest_open()
            .is_none_or(|lowest| self.next_to_issue().0 < lowest.0 + u64::from(self.config.window));
        if self.think_at.is_some()
            || self.issued >= self.workload.ops
            || !room
            || self.registering.is_some()
        {
            return;
        }
        let (min_us, max_us) = self.config.think_us;
        self.think_at = Some(now.plus_us(self.rng.random_range(min_us..=max_us)));
    }

    /// The lowest seq not yet answered: in flight, or abandoned and waiting to be reused.
    fn lowest_open(&self) -> Option<Seq> {
        let flight = self.flights.first().map(|f| f.request.seq);
        match (flight, self.reuse.front().copied()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The seq the next operation will carry.
    fn next_to_issue(&self) -> Seq {
        self.reuse.front().copied().unwrap_or(self.next_seq)
    }

    fn submit(&mut self, now: SimTime) {
        let op = self.workload.next_op(&mut self.rng, self.issued);
        let seq = match self.reuse.pop_front() {
            Some(seq) => seq,
            None => {
                let seq = self.next_seq;
                self.next_seq = Seq(seq.0 + 1);
                seq
            }
        };
        self.issued += 1;
        // Every seq below the oldest in flight (or still to be reused) has been answered.
        let lowest_unacked = self.lowest_open().map_or(seq, |lowest| lowest.min(seq));
        let request = Arc::new(Request {
            client: self.id,
            seq,
            lowest_unacked,
            op,
            origin: self.origin(),
        });
        self.events.push_back(ClientEvent::Submitted {
            request: Arc::clone(&request),
        });
        let target = self.leader_hint.unwrap_or(self.config.first_node);
        self.flights.push(InFlight {
            request,
            attempt: 0,
            target,
            submitted_at: now,
            due: now,
            backing_off: false,
        });
        let i = self.flights.len() - 1;
        self.send_flight(now, i, target);
        self.think(now);
    }

    /// The deliberate bug [`Mutation::RebuildOnRetry`]: replace request `i` in flight with a
    /// new operation under the same seq, telling no one.
    fn rebuild_request(&mut self, i: usize) {
        let op = self
            .workload
            .next_op(&mut self.rng, self.issued.saturating_sub(1));
        let flight = &mut self.flights[i];
        flight.request = Arc::new(Request {
            op,
            ..(*flight.request).clone()
        });
    }

    fn next_node_after(&self, node: NodeId) -> NodeId {
        NodeId::from_index((node.index() + 1) % usize::from(self.config.cluster_size))
    }

    fn is_suspected(&self, node: NodeId, now: SimTime) -> bool {
        self.config.suspect_us > 0 && self.suspected_until[node.index()] > now
    }

    /// The first node after `node` (wrapping) not suspected now, if any.
    fn next_trusted_after(&self, node: NodeId, now: SimTime) -> Option<NodeId> {
        let n = usize::from(self.config.cluster_size);
        (1..=n)
            .map(|k| NodeId::from_index((node.index() + k) % n))
            .find(|&candidate| !self.is_suspected(candidate, now))
    }

    /// Send (again) request `i` in flight to `to`, and wait; or, past `max_attempts`, give
    /// the operation up. False if it was given up (and removed).
    fn send_flight(&mut self, now: SimTime, i: usize, to: NodeId) -> bool {
        let flight = &mut self.flights[i];
        if self
            .config
            .max_attempts
            .is_some_and(|max| flight.attempt >= max)
        {
            let (seq, attempts) = (flight.request.seq, flight.attempt);
            self.flights.remove(i);
            self.given_up += 1;
            self.events.push_back(ClientEvent::GaveUp { seq, attempts });
            self.think(now);
            return false;
        }
        flight.attempt += 1;
        flight.target = to;
        flight.backing_off = false;
        flight.due = now.plus_us(self.config.timeout_us);
        let attempt = flight.attempt;
        let request = Arc::clone(&flight.request);
        self.events.push_back(ClientEvent::Sent {
            seq: request.seq,
            to,
            attempt,
        });
        self.outbox.push_back(Envelope {
            from: Addr::Client(self.config.no),
            to: Addr::Node(to),
            msg: Message::ClientRequest { request, attempt },
        });
        true
    }

    /// Suspect `failed`; then where to retry: the leader hint if that is another node still
    /// trusted, else the next trusted node; `None` when every node is suspected (then the
    /// suspicions are forgotten, since nodes restart, and the caller backs off).
    fn retry_target(&mut self, now: SimTime, failed: NodeId) -> Option<NodeId> {
        if self.config.suspect_us > 0 {
            self.suspected_until[failed.index()] = now.plus_us(self.config.suspect_us);
        }
        let retry_to = match self.leader_hint.take() {
            Some(leader) if leader != failed && !self.is_suspected(leader, now) => Some(leader),
            _ => self.next_trusted_after(failed, now),
        };
        if retry_to.is_none() {
            self.suspected_until = [SimTime::ZERO; MAX_NODES];
        }
        retry_to
    }

    /// Attempt `i` failed: retry it elsewhere, or back off when every node has failed.
    fn retry_after_failure(&mut self, now: SimTime, i: usize, failure: Failure) {
        let flight = &self.flights[i];
        let (seq, attempt, failed) = (flight.request.seq, flight.attempt, flight.target);
        let retry_to = self.retry_target(now, failed);
        self.events.push_back(ClientEvent::Failed {
            seq,
            attempt,
            node: failed,
            failure,
            retry_to: retry_to.unwrap_or_else(|| self.next_node_after(failed)),
        });
        match retry_to {
            Some(to) => {
                self.send_flight(now, i, to);
            }
            None => self.back_off(now, i),
        }
    }

    /// Wait `backoff_us`, then try the node after request `i`'s current target.
    fn back_off(&mut self, now: SimTime, i: usize) {
        let flight = &mut self.flights[i];
        flight.backing_off = true;
        flight.due = now.plus_us(self.config.backoff_us);
    }

    /// End request `i` in flight and think about the next operation.
    fn finish_op(&mut self, now: SimTime, i: usize, from: NodeId, event: ClientEvent) {
        self.flights.remove(i);
        self.leader_hint = Some(from);
        self.events.push_back(event);
        self.think(now);
    }

    /// The session ended: every request in flight ends indefinite, and a new session opens.
    fn session_expired(&mut self, now: SimTime, from: NodeId) {
        let client = self.id;
        for flight in std::mem::take(&mut self.flights) {
            self.expired += 1;
            self.refused += 1;
            self.events.push_back(ClientEvent::Refused {
                seq: flight.request.seq,
                from,
                last_seq: Seq(0),
                reason: Refusal::SessionExpired,
            });
        }
        self.events
            .push_back(ClientEvent::SessionExpired { client, from });
        self.leader_hint = Some(from);
        self.think_at = None;
        // The old id stays until a new session opens: the events above name it. A client with
        // nothing left to do opens none (it would only push another client's session out).
        if self.unsubmitted() > 0 {
            self.register(now);
        }
    }

    /// Open a session: ask the leader hint (or the first node) to register.
    fn register(&mut self, now: SimTime) {
        let target = self.leader_hint.unwrap_or(self.config.first_node);
        self.registering = Some(Registration {
            attempt: 0,
            target,
            due: now,
            backing_off: false,
        });
        self.send_register(now, target);
    }

    fn send_register(&mut self, now: SimTime, to: NodeId) {
        let Some(r) = &mut self.registering else {
            return;
        };
        r.attempt += 1;
        r.target = to;
        r.backing_off = false;
        r.due = now.plus_us(self.config.timeout_us);
        let attempt = r.attempt;
        self.outbox.push_back(Envelope {
            from: Addr::Client(self.config.no),
            to: Addr::Node(to),
            msg: Message::Register {
                attempt,
                incarnation: self.incarnation,
            },
        });
    }

    /// The register attempt at `failed` got no answer: retry elsewhere, or back off.
    fn register_failed(&mut self, now: SimTime, failed: NodeId) {
        match self.retry_target(now, failed) {
            Some(to) => self.send_register(now, to),
            None => self.register_back_off(now),
        }
    }

    /// Wait `backoff_us`, then send the registration to the node after its last target.
    fn register_back_off(&mut self, now: SimTime) {
        if let Some(r) = &mut self.registering {
            r.backing_off = true;
            r.due = now.plus_us(self.config.backoff_us);
        }
    }

    fn handle_register_reply(
        &mut self,
        now: SimTime,
        from: NodeId,
        attempt: u32,
        answer: RegisterAnswer,
    ) {
        let Some(r) = self.registering else {
            return; // already registered: a later session the cluster opened goes unused
        };
        self.suspected_until[from.index()] = SimTime::ZERO;
        match answer {
            RegisterAnswer::Registered { client } => {
                self.registering = None;
                self.id = client;
                self.leader_hint = Some(from);
                self.events
                    .push_back(ClientEvent::Registered { client, from });
                self.think(now);
            }
            RegisterAnswer::NotLeader { hint } => {
                if attempt != r.attempt || r.backing_off {
                    return;
                }
                match hint.filter(|&h| h != from && !self.is_suspected(h, now)) {
                    Some(leader) => {
                        self.leader_hint = Some(leader);
                        self.send_register(now, leader);
                    }
                    None => {
                        self.leader_hint = None;
                        self.register_back_off(now);
                    }
                }
            }
        }
    }

    /// A result for a seq in flight is accepted whichever attempt it answers (any copy's
    /// result is the one application's), and so is a refusal; a "not leader" counts only for
    /// the current attempt.
    fn handle_reply(&mut self, now: SimTime, from: NodeId, seq: Seq, attempt: u32, reply: Reply) {
        let Some(i) = self.flights.iter().position(|f| f.request.seq == seq) else {
            return; // an answer to an older seq, or a duplicate of one already accepted
        };
        self.suspected_until[from.index()] = SimTime::ZERO;
        match reply {
            Reply::Done { result, cached } => {
                self.completed += 1;
                let accepted = ClientEvent::Accepted {
                    seq,
                    from,
                    result,
                    cached,
                };
                self.finish_op(now, i, from, accepted);
            }
            Reply::Forgotten { last_seq } | Reply::Conflict { last_seq } => {
                self.refused += 1;
                let reason = match reply {
                    Reply::Conflict { .. } => Refusal::Conflict,
                    _ => Refusal::Forgotten,
                };
                let refused = ClientEvent::Refused {
                    seq,
                    from,
                    last_seq,
                    reason,
                };
                self.finish_op(now, i, from, refused);
            }
            Reply::SessionExpired => self.session_expired(now, from),
            Reply::NotLeader { hint } => {
                let flight = &self.flights[i];
                if attempt != flight.attempt || flight.backing_off {
                    return; // a late redirect about an attempt we already moved on from
                }
                self.events
                    .push_back(ClientEvent::Redirected { seq, from, hint });
                let trusted = hint.filter(|&h| h != from && !self.is_suspected(h, now));
                match trusted {
                    Some(leader) => {
                        self.leader_hint = Some(leader);
                        self.send_flight(now, i, leader);
                    }
                    None => {
                        self.leader_hint = None;
                        self.back_off(now, i);
                    }
                }
            }
        }
    }
}

impl Process for Client {
    type Event = ClientEvent;

    fn handle_message(&mut self, now: SimTime, envelope: Envelope) {
        if self.is_down() {
            return;
        }
        let Addr::Node(from) = envelope.from else {
            return;
        };
        match envelope.msg {
            Message::ClientReply {
                client,
                seq,
                attempt,
                incarnation,
                reply,
            } => {
                if client != self.id || incarnation != self.incarnation {
                    return;
                }
                self.handle_reply(now, from, seq, attempt, reply);
            }
            Message::RegisterReply {
                attempt,
                incarnation,
                reply,
            } if incarnation == self.incarnation => {
                self.handle_register_reply(now, from, attempt, reply);
            }
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: SimTime) {
        if self.down {
            return;
        }
        if let Some(r) = self.registering.filter(|r| r.due <= now) {
            if r.backing_off {
                let next = self
                    .next_trusted_after(r.target, now)
                    .unwrap_or_else(|| self.next_node_after(r.target));
                self.send_register(now, next);
            } else {
                self.register_failed(now, r.target);
            }
        }
        let mut i = 0;
        while i < self.flights.len() {
            let flight = &self.flights[i];
            if flight.due > now {
                i += 1;
                continue;
            }
            let seq = flight.request.seq;
            if flight.backing_off {
                let target = flight.target;
                let next = self
                    .next_trusted_after(target, now)
                    .unwrap_or_else(|| self.next_node_after(target));
                self.send_flight(now, i, next);
            } else {
                if self.config.mutations.has(Mutation::RebuildOnRetry) {
                    self.rebuild_request(i);
                }
                self.retry_after_failure(now, i, Failure::TimedOut);
            }
            // Given up (removed) or re-armed: move past it either way.
            if self.flights.get(i).is_some_and(|f| f.request.seq == seq) {
                i += 1;
            }
        }
        if self.think_at.is_some_and(|t| t <= now) {
            self.think_at = None;
            self.submit(now);
        }
    }

    fn poll_transmit(&mut self) -> Option<Envelope> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        if self.down {
            return None;
        }
        let mut next = self.think_at;
        for due in self
            .flights
            .iter()
            .map(|f| f.due)
            .chain(self.registering.map(|r| r.due))
        {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        next
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}

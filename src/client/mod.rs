//! The client state machine: one request in flight, retries of the SAME `(client_id, seq)`.
//! The simulator runs it, and `idemsim client` drives the very same logic over TCP
//! ([`crate::net::client`]).
//!
//! A client numbers its operations from its first seq and sends each to the node it
//! believes leads. Without an answer within `timeout_us` it re-sends the same request to the
//! leader hint (if that is not the node that failed) or to the next node; a "not leader"
//! answer sends it on at once to the hinted leader, or, with no hint, to the next node after
//! a short back-off. A node that failed is suspected for `suspect_us` and passed over while
//! another node is left (the real network, where a dead node refuses at once, needs this;
//! simulated clients suspect no one). A node that answers is trusted again.
//!
//! An operation ends when a result is accepted, when a node refuses it as an acknowledged and
//! forgotten seq, or (with `max_attempts`) when the attempts run out.
//!
//! A client process can crash: its operation in flight is abandoned (it may still take effect,
//! at most once, but nobody waits for it) and it restarts as a new incarnation that carries on
//! with the operations left, numbering from seq 1 under a fresh `client_id` — or, with the
//! flawed [`OnRestart::ReuseId`], under its old one; or, with [`OnRestart::Resume`], under its
//! old id from the seq it had reached, with a new operation in the abandoned one's seq.

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
use crate::message::{Addr, Envelope, Message, Refusal, Reply};
use crate::mutation::Mutation;
use crate::process::Process;

/// The operation a client waits on.
#[derive(Clone, Debug)]
struct InFlight {
    request: Arc<Request>,
    attempt: u32,
    target: NodeId,
    submitted_at: SimTime,
}

/// What the client does when its timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Thinking; submit the next operation.
    Thinking,
    /// Waiting for an answer; on the timer, time out and retry.
    Waiting,
    /// Told "not leader" with no hint, or every node failed; on the timer, try the next node.
    BackingOff,
    /// Every operation ended.
    Done,
    /// Crashed; waiting to be restarted.
    Down,
}

/// Most nodes a cluster has.
const MAX_NODES: usize = 9;

/// A client.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    id: ClientId,
    incarnation: u32,
    rng: ChaCha8Rng,
    workload: Arc<Workload>,
    next_seq: Seq,
    issued: u64,
    completed: u64,
    abandoned: u64,
    refused: u64,
    given_up: u64,
    phase: Phase,
    timer: Option<SimTime>,
    in_flight: Option<InFlight>,
    leader_hint: Option<NodeId>,
    /// Per node: suspected of being down until this time.
    suspected_until: [SimTime; MAX_NODES],
    outbox: VecDeque<Envelope>,
    events: VecDeque<ClientEvent>,
}

impl Client {
    /// A client whose `client_id` is `config.id`, or else the first draw of `rng` (its own
    /// seeded stream). It thinks, then submits its first operation.
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
        let id = config.id.unwrap_or_else(|| ClientId(rng.next_u64()));
        let mut client = Client {
            config,
            id,
            incarnation: 0,
            rng,
            workload,
            next_seq: config.first_seq,
            issued: 0,
            completed: 0,
            abandoned: 0,
            refused: 0,
            given_up: 0,
            phase: Phase::Thinking,
            timer: None,
            in_flight: None,
            leader_hint: None,
            suspected_until: [SimTime::ZERO; MAX_NODES],
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        };
        client.think(now);
        client
    }

    pub fn id(&self) -> ClientId {
        self.id
    }

    pub fn no(&self) -> ClientNo {
        self.config.no
    }

    /// This process and incarnation: what the checkers key operations by.
    pub fn origin(&self) -> Origin {
        Origin {
            client_no: self.config.no,
            incarnation: self.incarnation,
        }
    }

    pub fn is_down(&self) -> bool {
        self.phase == Phase::Down
    }

    /// Crash: lose everything volatile. The operation in flight is abandoned: it may still
    /// take effect (at most once), but no one will ever accept its result.
    pub fn crash(&mut self) {
        if let Some(flight) = self.in_flight.take() {
            self.abandoned += 1;
            // The seq was not acknowledged: a client that resumes reuses it.
            self.next_seq = flight.request.seq;
        }
        self.phase = Phase::Down;
        self.timer = None;
        self.leader_hint = None;
        self.suspected_until = [SimTime::ZERO; MAX_NODES];
        self.outbox.clear();
        self.events.clear();
    }

    /// Restart as a new incarnation that carries on with the operations left: from seq 1
    /// under a fresh `client_id` or (flawed) the old one, or ([`OnRestart::Resume`]) under the
    /// old id from the first seq not acknowledged. A configured `id` and `first_seq` name the
    /// first incarnation only.
    pub fn restart(&mut self, now: SimTime) {
        assert!(
            self.is_down(),
            "{}: restart of a client that is up",
            self.config.no
        );
        self.incarnation += 1;
        match self.config.on_restart {
            OnRestart::FreshId => {
                self.redraw_id();
                self.next_seq = Seq(1);
            }
            OnRestart::ReuseId => self.next_seq = Seq(1),
            OnRestart::Resume => {}
        }
        self.think(now);
    }

    /// Operations abandoned by crashes.
    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// Operations a node refused (as acknowledged and forgotten, or as a seq that took effect
    /// as a different operation).
    pub fn refused(&self) -> u64 {
        self.refused
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
        self.phase == Phase::Done
    }

    /// Operations whose result was accepted.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Operations not yet submitted.
    pub fn unsubmitted(&self) -> u64 {
        self.workload.ops - self.issued
    }

    /// The operation waiting for an answer, with when it was submitted.
    pub fn pending(&self) -> Option<(&Request, SimTime)> {
        self.in_flight
            .as_ref()
            .map(|f| (&*f.request, f.submitted_at))
    }

    /// The node the current attempt went to, if an attempt is waiting for an answer.
    pub fn awaiting(&self) -> Option<NodeId> {
        match (self.phase, &self.in_flight) {
            (Phase::Waiting, Some(flight)) => Some(flight.target),
            _ => None,
        }
    }

    /// A real network found `node` unreachable: the connection was refused or dropped, or the
    /// node said it is overloaded. If the current attempt went there, it has failed: retry
    /// elsewhere now rather than wait out the timeout. Anything else is ignored.
    pub fn handle_unreachable(&mut self, now: SimTime, node: NodeId) {
        if self.awaiting() == Some(node) {
            self.retry_after_failure(now, Failure::Unreachable);
        }
    }

    fn think(&mut self, now: SimTime) {
        if self.issued >= self.workload.ops {
            self.phase = Phase::Done;
            self.timer = None;
            return;
        }
        let (min_us, max_us) = self.config.think_us;
        self.phase = Phase::Thinking;
        self.timer = Some(now.plus_us(self.rng.random_range(min_us..=max_us)));
    }

    fn submit(&mut self, now: SimTime) {
        let op = self.workload.next_op(&mut self.rng, self.issued);
        let seq = self.next_seq;
        self.next_seq = Seq(seq.0 + 1);
        self.issued += 1;
        // One request in flight: every lower seq has been acknowledged.
        let request = Arc::new(Request {
            client: self.id,
            seq,
            lowest_unacked: seq,
            op,
            origin: self.origin(),
        });
        self.events.push_back(ClientEvent::Submitted {
            request: Arc::clone(&request),
        });
        let target = self.leader_hint.unwrap_or(self.config.first_node);
        self.in_flight = Some(InFlight {
            request,
            attempt: 0,
            target,
            submitted_at: now,
        });
        self.send_current(now, target);
    }

    /// The deliberate bug [`Mutation::RebuildOnRetry`]: replace the request in flight with a
    /// new operation under the same seq, telling no one.
    fn rebuild_request(&mut self) {
        let op = self
            .workload
            .next_op(&mut self.rng, self.issued.saturating_sub(1));
        if let Some(flight) = &mut self.in_flight {
            flight.request = Arc::new(Request {
                op,
                ..(*flight.request).clone()
            });
        }
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

    /// Send (again) the in-flight request to `to`, and wait; or, past `max_attempts`, give
    /// the operation up.
    fn send_current(&mut self, now: SimTime, to: NodeId) {
        let flight = self
            .in_flight
            .as_mut()
            .expect("send_current with a request in flight");
        if self
            .config
            .max_attempts
            .is_some_and(|max| flight.attempt >= max)
        {
            let (seq, attempts) = (flight.request.seq, flight.attempt);
            self.in_flight = None;
            self.given_up += 1;
            self.events.push_back(ClientEvent::GaveUp { seq, attempts });
            self.think(now);
            return;
        }
        flight.attempt += 1;
        flight.target = to;
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
        self.phase = Phase::Waiting;
        self.timer = Some(now.plus_us(self.config.timeout_us));
    }

    /// The current attempt failed: suspect its node, then retry at the leader hint if that is
    /// another node still trusted, else at the next trusted node; when every node is
    /// suspected, forget the suspicions (nodes restart) and back off before the next round.
    fn retry_after_failure(&mut self, now: SimTime, failure: Failure) {
        let flight = self.in_flight.as_ref().expect("a failed attempt");
        let (seq, attempt, failed) = (flight.request.seq, flight.attempt, flight.target);
        if self.config.suspect_us > 0 {
            self.suspected_until[failed.index()] = now.plus_us(self.config.suspect_us);
        }
        let retry_to = match self.leader_hint.take() {
            Some(leader) if leader != failed && !self.is_suspected(leader, now) => Some(leader),
            _ => self.next_trusted_after(failed, now),
        };
        self.events.push_back(ClientEvent::Failed {
            seq,
            attempt,
            node: failed,
            failure,
            retry_to: retry_to.unwrap_or_else(|| self.next_node_after(failed)),
        });
        match retry_to {
            Some(to) => self.send_current(now, to),
            None => {
                self.suspected_until = [SimTime::ZERO; MAX_NODES];
                self.back_off(now);
            }
        }
    }

    /// Wait `backoff_us`, then try the node after the current target.
    fn back_off(&mut self, now: SimTime) {
        self.phase = Phase::BackingOff;
        self.timer = Some(now.plus_us(self.config.backoff_us));
    }

    /// End the current operation and think about the next one.
    fn finish_op(&mut self, now: SimTime, from: NodeId, event: ClientEvent) {
        self.in_flight = None;
        self.leader_hint = Some(from);
        self.events.push_back(event);
        self.think(now);
    }

    /// A result for the current seq is accepted whichever attempt it answers (any copy's
    /// result is the one application's), and so is a refusal; a "not leader" counts only for
    /// the current attempt.
    fn handle_reply(&mut self, now: SimTime, from: NodeId, seq: Seq, attempt: u32, reply: Reply) {
        let Some(flight) = &self.in_flight else {
            return;
        };
        if flight.request.seq != seq {
            return; // an answer to an older seq, or a duplicate of one already accepted
        }
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
                self.finish_op(now, from, accepted);
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
                self.finish_op(now, from, refused);
            }
            Reply::NotLeader { hint } => {
                if attempt != flight.attempt || self.phase != Phase::Waiting {
                    return; // a late redirect about an attempt we already moved on from
                }
                self.events
                    .push_back(ClientEvent::Redirected { seq, from, hint });
                let trusted = hint.filter(|&h| h != from && !self.is_suspected(h, now));
                match trusted {
                    Some(leader) => {
                        self.leader_hint = Some(leader);
                        self.send_current(now, leader);
                    }
                    None => {
                        self.leader_hint = None;
                        self.back_off(now);
                    }
                }
            }
        }
    }
}

impl Process for Client {
    type Event = ClientEvent;

    fn handle_message(&mut self, now: SimTime, envelope: Envelope) {
        let (
            Addr::Node(from),
            Message::ClientReply {
                client,
                seq,
                attempt,
                incarnation,
                reply,
            },
        ) = (envelope.from, envelope.msg)
        else {
            return;
        };
        if client != self.id || incarnation != self.incarnation || self.is_down() {
            return;
        }
        self.handle_reply(now, from, seq, attempt, reply);
    }

    fn handle_timeout(&mut self, now: SimTime) {
        if self.timer.is_none_or(|t| t > now) {
            return;
        }
        self.timer = None;
        match self.phase {
            Phase::Thinking => self.submit(now),
            Phase::Waiting => {
                if self.config.mutations.has(Mutation::RebuildOnRetry) {
                    self.rebuild_request();
                }
                self.retry_after_failure(now, Failure::TimedOut)
            }
            Phase::BackingOff => {
                let target = self
                    .in_flight
                    .as_ref()
                    .expect("backing off with a request")
                    .target;
                let next = self
                    .next_trusted_after(target, now)
                    .unwrap_or_else(|| self.next_node_after(target));
                self.send_current(now, next);
            }
            Phase::Done | Phase::Down => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Envelope> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        self.timer
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}

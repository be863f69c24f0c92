//! The client state machine: one request in flight, retries of the SAME `(client_id, seq)`.
//!
//! A client draws its `client_id` from its own seeded stream, numbers its operations from 1,
//! and sends each to the node it believes leads. Without an answer within `timeout_us` it
//! re-sends the same request to the leader hint (if that is not the node that timed out) or
//! to the next node; a "not leader" answer sends it on at once to the hinted leader, or, with
//! no hint, to the next node after a short back-off.
//!
//! A client process can crash: its operation in flight is abandoned (it may still take effect,
//! at most once, but nobody waits for it) and it restarts as a new incarnation that carries on
//! with the operations left, numbering from seq 1 under a fresh `client_id` — or, with the
//! flawed [`OnRestart::ReuseId`], under its old one.

mod workload;

use std::collections::VecDeque;
use std::sync::Arc;

use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;

pub use workload::{Mix, Workload};

use serde::Deserialize;

use crate::ids::{ClientId, ClientNo, NodeId, Seq, SimTime};
use crate::kv::{Origin, Request};
use crate::message::{Addr, Envelope, Message, Reply};
use crate::process::{Process, ProcessEvent};

/// A client's fixed settings.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    pub no: ClientNo,
    /// Number of nodes; the client may send to `n1..=n{cluster_size}`.
    pub cluster_size: u8,
    /// Re-send after this long without an answer.
    pub timeout_us: u64,
    /// Pause before each operation, uniform in `[min, max]` microseconds.
    pub think_us: (u64, u64),
    /// Pause after a "not leader" answer that names no leader.
    pub backoff_us: u64,
    pub on_restart: OnRestart,
}

/// What a client process does about its identity when it restarts after a crash
/// (`[clients] on_restart`, `--on-restart`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnRestart {
    /// Correct: draw a new `client_id` and start again at seq 1, a new session.
    #[default]
    FreshId,
    /// Flawed on purpose: keep the old `client_id` and restart seq at 1, so the servers take
    /// the new operations for retries of the old ones: `last-seq` acknowledges them with a
    /// stale cached result and never applies them (exactly-once must catch it); `sessions`
    /// finds them below the lowest unacknowledged seq and never answers (liveness must).
    ReuseId,
}

impl OnRestart {
    pub fn name(self) -> &'static str {
        match self {
            OnRestart::FreshId => "fresh-id",
            OnRestart::ReuseId => "reuse-id",
        }
    }
}

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
    /// Told "not leader" with no hint; on the timer, try the next node.
    BackingOff,
    /// Every operation completed.
    Done,
    /// Crashed; waiting to be restarted.
    Down,
}

/// A simulated client.
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
    phase: Phase,
    timer: Option<SimTime>,
    in_flight: Option<InFlight>,
    leader_hint: Option<NodeId>,
    outbox: VecDeque<Envelope>,
    events: VecDeque<ProcessEvent>,
}

impl Client {
    /// A client whose `client_id` is the first draw of `rng` (its own seeded stream). It
    /// thinks, then submits its first operation.
    pub fn new(
        config: ClientConfig,
        mut rng: ChaCha8Rng,
        workload: Arc<Workload>,
        now: SimTime,
    ) -> Client {
        let id = ClientId(rng.next_u64());
        let mut client = Client {
            config,
            id,
            incarnation: 0,
            rng,
            workload,
            next_seq: Seq(1),
            issued: 0,
            completed: 0,
            abandoned: 0,
            phase: Phase::Thinking,
            timer: None,
            in_flight: None,
            leader_hint: None,
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
        if self.in_flight.take().is_some() {
            self.abandoned += 1;
        }
        self.phase = Phase::Down;
        self.timer = None;
        self.leader_hint = None;
        self.outbox.clear();
        self.events.clear();
    }

    /// Restart as a new incarnation that carries on with the operations left, from seq 1,
    /// under a fresh `client_id` or (flawed) the old one.
    pub fn restart(&mut self, now: SimTime) {
        assert!(
            self.is_down(),
            "{}: restart of a client that is up",
            self.config.no
        );
        self.incarnation += 1;
        if self.config.on_restart == OnRestart::FreshId {
            self.redraw_id();
        }
        self.next_seq = Seq(1);
        self.think(now);
    }

    /// Operations abandoned by crashes.
    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// Draw a fresh `client_id` (the driver calls this only if two clients drew the same one).
    pub fn redraw_id(&mut self) {
        self.id = ClientId(self.rng.next_u64());
    }

    /// Every operation completed.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

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
        let op = self.workload.next_op(&mut self.rng);
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
        self.events.push_back(ProcessEvent::Submitted {
            request: Arc::clone(&request),
        });
        let target = self.leader_hint.unwrap_or_else(|| self.initial_node());
        self.in_flight = Some(InFlight {
            request,
            attempt: 0,
            target,
            submitted_at: now,
        });
        self.send_current(now, target);
    }

    /// Where a client with no leader hint starts: spread clients over the nodes.
    fn initial_node(&self) -> NodeId {
        let n = u32::from(self.config.cluster_size);
        NodeId::from_index(((self.config.no.0 - 1) % n) as usize)
    }

    fn next_node_after(&self, node: NodeId) -> NodeId {
        NodeId::from_index((node.index() + 1) % usize::from(self.config.cluster_size))
    }

    /// Send (again) the in-flight request to `to`, and wait.
    fn send_current(&mut self, now: SimTime, to: NodeId) {
        let flight = self
            .in_flight
            .as_mut()
            .expect("send_current with a request in flight");
        flight.attempt += 1;
        flight.target = to;
        let attempt = flight.attempt;
        let request = Arc::clone(&flight.request);
        self.events.push_back(ProcessEvent::Sent {
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

    /// A result for the current seq is accepted whichever attempt it answers (any copy's
    /// result is the one application's); a "not leader" counts only for the current attempt.
    fn handle_reply(&mut self, now: SimTime, from: NodeId, seq: Seq, attempt: u32, reply: Reply) {
        let Some(flight) = &self.in_flight else {
            return;
        };
        if flight.request.seq != seq {
            return; // an answer to an older seq, or a duplicate of one already accepted
        }
        match reply {
            Reply::Done { result, cached } => {
                self.in_flight = None;
                self.completed += 1;
                self.leader_hint = Some(from);
                self.events.push_back(ProcessEvent::Accepted {
                    seq,
                    from,
                    result,
                    cached,
                });
                self.think(now);
            }
            Reply::NotLeader { hint } => {
                if attempt != flight.attempt || self.phase != Phase::Waiting {
                    return; // a late redirect about an attempt we already moved on from
                }
                self.events
                    .push_back(ProcessEvent::Redirected { seq, from, hint });
                match hint.filter(|&h| h != from) {
                    Some(leader) => {
                        self.leader_hint = Some(leader);
                        self.send_current(now, leader);
                    }
                    None => {
                        self.leader_hint = None;
                        self.phase = Phase::BackingOff;
                        self.timer = Some(now.plus_us(self.config.backoff_us));
                    }
                }
            }
        }
    }
}

impl Process for Client {
    fn handle_message(&mut self, now: SimTime, envelope: Envelope) {
        let (
            Addr::Node(from),
            Message::ClientReply {
                client,
                seq,
                attempt,
                reply,
            },
        ) = (envelope.from, envelope.msg)
        else {
            return;
        };
        if client != self.id || self.is_down() {
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
                let flight = self.in_flight.as_ref().expect("waiting with a request");
                let (seq, attempt, timed_out) = (flight.request.seq, flight.attempt, flight.target);
                let retry_to = match self.leader_hint {
                    Some(leader) if leader != timed_out => leader,
                    _ => self.next_node_after(timed_out),
                };
                self.leader_hint = None;
                self.events.push_back(ProcessEvent::TimedOut {
                    seq,
                    attempt,
                    retry_to,
                });
                self.send_current(now, retry_to);
            }
            Phase::BackingOff => {
                let target = self
                    .in_flight
                    .as_ref()
                    .expect("backing off with a request")
                    .target;
                let next = self.next_node_after(target);
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

    fn poll_event(&mut self) -> Option<ProcessEvent> {
        self.events.pop_front()
    }
}

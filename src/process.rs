//! The sans-IO contract every simulated process (Raft node or client) implements.
//!
//! Inputs are `handle_*`, outputs are `poll_*`. A driver (the simulator, or later a real
//! network runtime) calls a `handle_*` method, then drains `poll_event` and `poll_transmit`
//! until they return `None`, then asks `poll_timeout` when to call `handle_timeout` next.
//! Nothing behind this trait reads a clock, sleeps, does IO, or touches a global RNG.

use std::sync::Arc;

use crate::ids::{LogIndex, NodeId, Seq, SimTime, Term};
use crate::kv::{OpResult, Outcome, Request, StateDigest};
use crate::message::Envelope;
use crate::raft::Payload;

/// A simulated process.
pub trait Process {
    /// Deliver one message addressed to this process.
    fn handle_message(&mut self, now: SimTime, envelope: Envelope);

    /// Call when `now` has reached the time `poll_timeout` returned. Calling it early is
    /// harmless: timers that are not yet due do nothing.
    fn handle_timeout(&mut self, now: SimTime);

    /// The next message to send. Drain after every `handle_*` call.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<Envelope>;

    /// When this process next wants `handle_timeout`, if ever. Ask after every `handle_*`.
    #[must_use]
    fn poll_timeout(&self) -> Option<SimTime>;

    /// The next thing that happened (applied, replied, became leader…). Drain after every
    /// `handle_*` call, before `poll_transmit`, to observe events in the order they occurred.
    #[must_use]
    fn poll_event(&mut self) -> Option<ProcessEvent>;
}

/// Something a process did that checkers and traces observe.
#[derive(Clone, Debug)]
pub enum ProcessEvent {
    /// A node won an election.
    BecameLeader { term: Term },
    /// A leader appended a client request to its log.
    Appended {
        index: LogIndex,
        term: Term,
        request: Arc<Request>,
        attempt: u32,
    },
    /// A node applied a committed entry to its state machine.
    Applied {
        index: LogIndex,
        term: Term,
        payload: Payload,
        outcome: Outcome,
        result: OpResult,
        digest: StateDigest,
    },
    /// A leader found an arriving request already applied and answered it from the session
    /// table without appending it (`cached` is `None` when the result was already forgotten).
    DuplicateOnReceive {
        request: Arc<Request>,
        last_seq: Seq,
        cached: Option<OpResult>,
    },
    /// A client issued a new operation.
    Submitted { request: Arc<Request> },
    /// A client sent (or re-sent) its current request.
    Sent { seq: Seq, to: NodeId, attempt: u32 },
    /// A client gave up waiting for an answer to `attempt` and will retry at `retry_to`.
    TimedOut {
        seq: Seq,
        attempt: u32,
        retry_to: NodeId,
    },
    /// A node told a client it is not the leader.
    Redirected {
        seq: Seq,
        from: NodeId,
        hint: Option<NodeId>,
    },
    /// A client accepted the result of its current operation.
    Accepted {
        seq: Seq,
        from: NodeId,
        result: OpResult,
        cached: bool,
    },
}

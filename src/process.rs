//! The sans-IO contract every simulated process (Raft node or client) implements.
//!
//! Inputs are `handle_*`, outputs are `poll_*`. A driver (the simulator, or later a real
//! network runtime) calls a `handle_*` method, then drains `poll_event` and `poll_transmit`
//! until they return `None`, then asks `poll_timeout` when to call `handle_timeout` next.
//! Nothing behind this trait reads a clock, sleeps, does IO, or touches a global RNG.

use crate::ids::SimTime;
use crate::message::Envelope;

/// A simulated process.
pub trait Process {
    /// What the process reports having done (a node: elected, appended, applied; a client:
    /// submitted, sent, accepted), for checkers and traces. Each kind of process has its own.
    type Event;

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
    fn poll_event(&mut self) -> Option<Self::Event>;
}

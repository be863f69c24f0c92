//! Checkers (docs/DESIGN.md §8). They only observe trace events; they never steer the run.
//!
//! Each rule is named; a violation names the rule and the client, seq, node and index
//! involved. [`Checks`] feeds every event to every checker and collects their verdicts.

mod convergence;
mod exactly_once;
pub mod linearizability;
mod liveness;
mod raft_safety;
mod table_size;

pub use linearizability::Linearizability;
pub use liveness::PendingOp;
pub use table_size::TableBounds;

use crate::ids::SimTime;
use crate::trace::TraceEvent;
use crate::verdict::{Rule, Violations};

/// Every checker of a run.
pub struct Checks {
    exactly_once: exactly_once::ExactlyOnce,
    raft_safety: raft_safety::RaftSafety,
    convergence: convergence::Convergence,
    linearizability: linearizability::Linearizability,
    table_size: table_size::TableSize,
    found: Violations,
}

impl Checks {
    pub fn new(nodes: u8) -> Checks {
        Checks::bounded(nodes, TableBounds::default())
    }

    /// The checkers of a run whose session tables are bounded by `bounds`.
    pub fn bounded(nodes: u8, bounds: TableBounds) -> Checks {
        Checks {
            exactly_once: exactly_once::ExactlyOnce::default(),
            raft_safety: raft_safety::RaftSafety::new(nodes),
            convergence: convergence::Convergence::default(),
            linearizability: linearizability::Linearizability::default(),
            table_size: table_size::TableSize::new(bounds),
            found: Violations::default(),
        }
    }

    /// Observe one trace event.
    #[inline]
    pub fn observe(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        match event {
            TraceEvent::Submit { .. } | TraceEvent::Reply { .. } | TraceEvent::Refused { .. } => {
                self.exactly_once.observe(t, event, &mut self.found);
                self.linearizability.observe(t, event);
            }
            TraceEvent::Apply { .. } => {
                self.exactly_once.observe(t, event, &mut self.found);
                self.raft_safety.observe(event, &mut self.found);
                self.convergence.observe(event, &mut self.found);
                self.table_size.observe(event, &mut self.found);
            }
            TraceEvent::Leader { .. } | TraceEvent::Restart { .. } | TraceEvent::Crash { .. } => {
                self.raft_safety.observe(event, &mut self.found);
            }
            TraceEvent::Snapshot { .. } | TraceEvent::Install { .. } => {
                self.raft_safety.observe(event, &mut self.found);
                self.convergence.observe(event, &mut self.found);
            }
            _ => {}
        }
    }

    /// End of run: the checks that need the whole history, and liveness from what is still
    /// pending. Returns every violation found.
    pub fn finish(mut self, end: SimTime, pending: &[PendingOp]) -> Violations {
        self.exactly_once.finish(&mut self.found);
        let exactly_once = &self.exactly_once;
        let took_effect = |origin, seq| exactly_once.took_effect(origin, seq);
        self.linearizability.finish(took_effect, &mut self.found);
        liveness::check(end, pending, &mut self.found);
        self.found
    }

    /// End of a run cut short under `rule`: a process panicked ([`Rule::Invariant`]) or the
    /// run passed a budget ([`Rule::Budget`]). The history checks still run on what was
    /// observed; liveness does not.
    pub fn finish_stopped(mut self, rule: Rule, message: String) -> Violations {
        self.exactly_once.finish(&mut self.found);
        let exactly_once = &self.exactly_once;
        let took_effect = |origin, seq| exactly_once.took_effect(origin, seq);
        self.linearizability.finish(took_effect, &mut self.found);
        self.found.push(rule, message);
        self.found
    }

    /// Violations found so far.
    pub fn found(&self) -> &Violations {
        &self.found
    }
}

#[cfg(test)]
mod tests;

//! Checkers (DESIGN §8). They only observe trace events; they never steer the run.
//!
//! Each rule is named; a violation names the rule and the client, seq, node and index
//! involved. [`Checks`] feeds every event to every checker and collects their verdicts.

mod convergence;
mod exactly_once;
mod liveness;
mod raft_safety;

use std::fmt;

pub use liveness::PendingOp;

use crate::ids::{ClientId, NodeId, Seq, SimTime, Term};
use crate::raft::Log;
use crate::trace::TraceEvent;

/// The named properties a run must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    ExactlyOnce,
    RaftSafety,
    Convergence,
    Liveness,
    /// A process's own assertion failed (it panicked): the run stops there.
    Invariant,
}

impl Rule {
    pub const ALL: [Rule; 5] = [
        Rule::ExactlyOnce,
        Rule::RaftSafety,
        Rule::Convergence,
        Rule::Liveness,
        Rule::Invariant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::ExactlyOnce => "exactly-once",
            Rule::RaftSafety => "raft-safety",
            Rule::Convergence => "convergence",
            Rule::Liveness => "liveness",
            Rule::Invariant => "invariant",
        }
    }

    /// Safety rules fail a run with exit code 1; liveness alone with 3.
    pub fn is_safety(self) -> bool {
        self != Rule::Liveness
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken rule, with the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    pub rule: Rule,
    pub message: String,
    /// The operation it is about, as servers know it, when it is about one.
    pub about: Option<(ClientId, Seq)>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

/// Most violations kept per rule; the rest are counted, not stored.
pub const MAX_KEPT_PER_RULE: usize = 20;

/// Collects violations, keeping the first few of each rule.
#[derive(Clone, Debug, Default)]
pub struct Violations {
    kept: Vec<Violation>,
    counts: [u64; 5],
}

impl Violations {
    pub fn push(&mut self, rule: Rule, message: String) {
        self.push_about(rule, None, message);
    }

    /// Record a violation about one operation.
    pub fn push_about(&mut self, rule: Rule, about: Option<(ClientId, Seq)>, message: String) {
        let count = &mut self.counts[rule as usize];
        *count += 1;
        if *count as usize <= MAX_KEPT_PER_RULE {
            self.kept.push(Violation {
                rule,
                message,
                about,
            });
        }
    }

    /// Violations of `rule`, including those not kept.
    pub fn count(&self, rule: Rule) -> u64 {
        self.counts[rule as usize]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The kept violations, in the order found.
    pub fn kept(&self) -> &[Violation] {
        &self.kept
    }
}

/// Every checker of a run.
pub struct Checks {
    exactly_once: exactly_once::ExactlyOnce,
    raft_safety: raft_safety::RaftSafety,
    convergence: convergence::Convergence,
    found: Violations,
}

impl Checks {
    pub fn new(nodes: u8) -> Checks {
        Checks {
            exactly_once: exactly_once::ExactlyOnce::default(),
            raft_safety: raft_safety::RaftSafety::new(nodes),
            convergence: convergence::Convergence::default(),
            found: Violations::default(),
        }
    }

    /// Observe one trace event.
    #[inline]
    pub fn observe(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        match event {
            TraceEvent::Submit { .. } | TraceEvent::Reply { .. } => {
                self.exactly_once.observe(t, event, &mut self.found);
            }
            TraceEvent::Apply { .. } => {
                self.exactly_once.observe(t, event, &mut self.found);
                self.raft_safety.observe(event, &mut self.found);
                self.convergence.observe(event, &mut self.found);
            }
            TraceEvent::Leader { .. } | TraceEvent::Restart { .. } | TraceEvent::Crash { .. } => {
                self.raft_safety.observe(event, &mut self.found);
            }
            _ => {}
        }
    }

    /// A node just became leader of `term` with `log`: check Leader Completeness (§5.4.1).
    pub fn leader_elected(&mut self, node: NodeId, term: Term, log: &Log) {
        self.raft_safety
            .leader_elected(node, term, log, &mut self.found);
    }

    /// End of run: the checks that need the whole history, and liveness from what is still
    /// pending. Returns every violation found.
    pub fn finish(mut self, end: SimTime, pending: &[PendingOp]) -> Violations {
        self.exactly_once.finish(&mut self.found);
        liveness::check(end, pending, &mut self.found);
        self.found
    }

    /// End of a run that stopped because a process panicked: the history checks still run
    /// on what was observed; liveness does not (the run was cut short).
    pub fn finish_after_panic(mut self, message: String) -> Violations {
        self.exactly_once.finish(&mut self.found);
        self.found.push(Rule::Invariant, message);
        self.found
    }

    /// Violations found so far.
    pub fn found(&self) -> &Violations {
        &self.found
    }
}

#[cfg(test)]
mod tests;

//! Convergence (docs/DESIGN.md §8): replicas that applied up to the same index hold identical
//! KV maps and identical session tables, compared by digest after every applied index; a
//! snapshot up to an index (taken, or installed by a follower) holds that same state.

use crate::ids::NodeId;
use crate::kv::StateDigest;
use crate::trace::TraceEvent;
use crate::verdict::{Rule, Violations};

/// What put a replica's state up to an index.
#[derive(Clone, Copy)]
enum Verb {
    Apply,
    Snapshot,
    Install,
}

#[derive(Default)]
pub struct Convergence {
    /// The state digest of the first replica to apply each index (`first[i - 1]`).
    first: Vec<(StateDigest, NodeId)>,
    /// Only the first divergence is reported: every later index inherits it.
    reported: bool,
}

impl Convergence {
    pub fn observe(&mut self, event: &TraceEvent<'_>, found: &mut Violations) {
        let (node, index, digest, what) = match *event {
            TraceEvent::Apply {
                node,
                index,
                digest,
                ..
            } => (node, index, digest, Verb::Apply),
            TraceEvent::Snapshot {
                node,
                index,
                digest,
                ..
            } => (node, index, digest, Verb::Snapshot),
            TraceEvent::Install {
                node,
                index,
                digest,
                ..
            } => (node, index, digest, Verb::Install),
            _ => return,
        };
        let slot = index.0 as usize - 1;
        if slot >= self.first.len() {
            if slot == self.first.len() {
                self.first.push((digest, node));
            }
            return;
        }
        let (expected, by) = self.first[slot];
        if expected == digest || self.reported {
            return;
        }
        self.reported = true;
        let verb = what;
        let what = match (
            expected.kv == digest.kv,
            expected.sessions == digest.sessions,
        ) {
            (false, false) => "KV maps and session tables differ",
            (false, true) => "KV maps differ",
            _ => "session tables differ",
        };
        found.push(
            Rule::Convergence,
            match verb {
                Verb::Apply => format!("{by} and {node} diverge after applying index {index}: {what}"),
                Verb::Snapshot => format!(
                    "{node}'s snapshot up to index {index} is not the state {by} applied up to there: {what}"
                ),
                Verb::Install => format!(
                    "{node} installed a snapshot up to index {index} that is not the state {by} applied up to there: {what}"
                ),
            },
        );
    }
}

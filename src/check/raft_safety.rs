//! Raft safety (Raft §5.2, §5.4; docs/DESIGN.md §8): at most one leader per term; every replica
//! applies the same entry at the same index, in index order (State Machine Safety, which also
//! means committed entries never change); a new leader holds every entry already applied
//! anywhere (Leader Completeness).

use std::collections::BTreeMap;

use crate::ids::{ClientId, LogIndex, NodeId, Seq, Term};
use crate::message::Payload;
use crate::raft::Log;
use crate::trace::TraceEvent;
use crate::verdict::{Rule, Violations};

/// What identifies a log entry across replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EntryKey {
    term: Term,
    client: Option<(ClientId, Seq)>,
    node: NodeId,
}

impl EntryKey {
    fn describe(&self) -> String {
        match self.client {
            Some((c, s)) => format!("term {} client {c} seq {s}", self.term),
            None => format!("term {} noop", self.term),
        }
    }
}

pub struct RaftSafety {
    leaders: BTreeMap<Term, NodeId>,
    /// The entry first applied at each index (`applied[i - 1]`).
    applied: Vec<EntryKey>,
    /// Last index each node's current incarnation applied.
    last_applied: Vec<LogIndex>,
    /// The index of each node's last snapshot (taken or installed): where a restart resumes.
    snapshot: Vec<LogIndex>,
}

impl RaftSafety {
    pub fn new(nodes: u8) -> RaftSafety {
        RaftSafety {
            leaders: BTreeMap::new(),
            applied: Vec::new(),
            last_applied: vec![LogIndex(0); usize::from(nodes)],
            snapshot: vec![LogIndex(0); usize::from(nodes)],
        }
    }

    pub fn observe(&mut self, event: &TraceEvent<'_>, found: &mut Violations) {
        match *event {
            TraceEvent::Leader { node, term, log } => {
                if let Some(&other) = self.leaders.get(&term) {
                    if other != node {
                        found.push(
                            Rule::RaftSafety,
                            format!("two leaders in term {term}: {other} and {node} (election safety, §5.2)"),
                        );
                    }
                } else {
                    self.leaders.insert(term, node);
                }
                self.leader_completeness(node, term, log.0, found);
            }
            TraceEvent::Crash { node, .. } => {
                self.last_applied[node.index()] = LogIndex(0);
            }
            TraceEvent::Restart { node } => {
                self.last_applied[node.index()] = self.snapshot[node.index()];
            }
            TraceEvent::Snapshot {
                node, index, term, ..
            } => {
                self.snapshot[node.index()] = index;
                self.same_term_as_applied(node, index, term, "took a snapshot", found);
            }
            TraceEvent::Install {
                node, index, term, ..
            } => {
                self.snapshot[node.index()] = index;
                self.last_applied[node.index()] = index;
                self.same_term_as_applied(node, index, term, "installed a snapshot", found);
            }
            TraceEvent::Apply {
                node,
                index,
                term,
                payload,
                ..
            } => {
                let last = &mut self.last_applied[node.index()];
                if index != last.next() {
                    found.push(
                        Rule::RaftSafety,
                        format!("{node} applied index {index} right after index {last}; applies must go in index order"),
                    );
                }
                *last = index;
                let key = EntryKey {
                    term,
                    client: match payload {
                        Payload::Noop => None,
                        Payload::Register { .. } => Some((ClientId(index.0), Seq(0))),
                        Payload::Client(r) => Some((r.client, r.seq)),
                    },
                    node,
                };
                let slot = index.0 as usize - 1;
                if slot == self.applied.len() {
                    self.applied.push(key);
                } else if slot > self.applied.len() {
                    // A gap: reported above as out of order; remember nothing past it.
                } else {
                    let first = self.applied[slot];
                    if (first.term, first.client) != (key.term, key.client) {
                        found.push(
                            Rule::RaftSafety,
                            format!(
                                "state machine safety (§5.4.3): index {index} was applied as {} on {} but as {} on {node}",
                                first.describe(),
                                first.node,
                                key.describe()
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// A snapshot up to `index` of `term` must end at the entry every replica applied there.
    fn same_term_as_applied(
        &self,
        node: NodeId,
        index: LogIndex,
        term: Term,
        what: &str,
        found: &mut Violations,
    ) {
        let Some(first) = (index.0 as usize)
            .checked_sub(1)
            .and_then(|s| self.applied.get(s))
        else {
            return;
        };
        if first.term != term {
            found.push(
                Rule::RaftSafety,
                format!(
                    "state machine safety (§5.4.3): {node} {what} up to index {index} of term {term}, but index {index} was applied as {} on {}",
                    first.describe(),
                    first.node
                ),
            );
        }
    }

    /// Leader Completeness (§5.4.1): the new leader's log holds every applied entry (those
    /// its snapshot covers are in its snapshot; the last of them is checked by its term).
    fn leader_completeness(&self, node: NodeId, term: Term, log: &Log, found: &mut Violations) {
        let compacted = log.base().index.0 as usize;
        for (slot, key) in self
            .applied
            .iter()
            .enumerate()
            .skip(compacted.saturating_sub(1))
        {
            let index = LogIndex(slot as u64 + 1);
            let has = log.term_at(index);
            if has != Some(key.term) {
                let held = match has {
                    Some(t) => format!("holds term {t} there"),
                    None => format!("log ends at {}", log.last_index()),
                };
                found.push(
                    Rule::RaftSafety,
                    format!(
                        "leader completeness (§5.4.1): {node} became leader of term {term} without committed index {index} ({}); it {held}",
                        key.describe()
                    ),
                );
                return;
            }
        }
    }
}

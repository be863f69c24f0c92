//! The replicated state machine: the KV map plus the session (dedup) table.
//!
//! This is the only place dedup decisions are made. [`StateMachine::apply`] is called for each
//! committed log entry in index order on every replica, so every replica makes the same
//! decision for the same entry.

mod op;
mod session;
mod store;

pub use crate::digest::Digest;
pub use op::{Op, OpKind, OpResult, OpValue, Origin, Request};
pub use session::{Decision, Dedup, SessionTable};
pub use store::{ERR_NOT_AN_INTEGER, KvStore};

use std::sync::Arc;

use crate::ids::Seq;
use crate::mutation::{Mutation, Mutations};

/// What applying one client entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The operation took effect.
    Applied,
    /// The session table said this `(client, seq)` already took effect; nothing changed.
    /// `expired` means the cached result was already forgotten (the client had acknowledged
    /// it), so there is no result to return.
    Duplicate { last_seq: Seq, expired: bool },
    /// The session table said this `(client, seq)` already took effect as a different
    /// operation; nothing changed, and the request is refused.
    Conflict { last_seq: Seq },
}

impl Outcome {
    /// `"applied"` or `"duplicate"`, as in the trace's `apply` event (a conflict did not
    /// take effect either: it is a `"duplicate"` with `"conflict": true`).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate { .. } | Outcome::Conflict { .. } => "duplicate",
        }
    }
}

/// Digests of one replica's state after an apply: compared across replicas at equal indexes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StateDigest {
    pub kv: Digest,
    pub sessions: Digest,
}

/// One replica's state machine.
#[derive(Clone, Debug)]
pub struct StateMachine {
    store: KvStore,
    sessions: SessionTable,
    /// [`crate::mutation::Mutation::DuplicateMovesWatermark`]: a duplicate sets its client's
    /// watermark, even backwards.
    watermark_from_duplicates: bool,
}

impl StateMachine {
    pub fn new(dedup: Dedup) -> StateMachine {
        StateMachine::mutated(dedup, Mutations::NONE)
    }

    /// A state machine with the deliberate bugs of `mutations` that live here.
    pub fn mutated(dedup: Dedup, mutations: Mutations) -> StateMachine {
        StateMachine {
            store: KvStore::new(),
            sessions: SessionTable::new(dedup),
            watermark_from_duplicates: mutations.has(Mutation::DuplicateMovesWatermark),
        }
    }

    /// Apply one committed client entry; `as_leader` says this replica applies it as the
    /// leader (only the flawed `leader-only` strategy cares). Reads are never deduplicated.
    pub fn apply(&mut self, request: &Arc<Request>, as_leader: bool) -> (Outcome, OpResult) {
        if !request.op.kind().is_write() {
            let result = self.store.apply(&request.op);
            self.sessions.settle(request, None, as_leader);
            return (Outcome::Applied, result);
        }
        match self.sessions.decide_at_apply(request) {
            Decision::Apply => {
                let result = self.store.apply(&request.op);
                self.sessions.settle(request, Some(&result), as_leader);
                (Outcome::Applied, result)
            }
            Decision::Duplicate { last_seq, cached } => {
                if self.watermark_from_duplicates {
                    self.sessions.set_watermark(request);
                }
                self.sessions.settle(request, None, as_leader);
                let expired = cached.is_none();
                let answer = self.answer(request, cached).unwrap_or(None);
                (Outcome::Duplicate { last_seq, expired }, answer)
            }
            Decision::Conflict { last_seq } => {
                self.sessions.settle(request, None, as_leader);
                (Outcome::Conflict { last_seq }, None)
            }
        }
    }

    /// Called by a leader when a request arrives: has this write already taken effect here?
    /// Read-only; the answer is from committed, applied state, so a cached result is final.
    /// Reads are never deduplicated.
    pub fn check_on_receive(&self, request: &Request) -> Decision {
        if !request.op.kind().is_write() {
            return Decision::Apply;
        }
        match self.sessions.decide_on_receive(request) {
            Decision::Duplicate { last_seq, cached } => Decision::Duplicate {
                last_seq,
                cached: self.answer(request, cached),
            },
            other => other,
        }
    }

    /// What a duplicate is answered with: its cached result, except under the flawed
    /// `cache-latest`, which answers with the key's current value.
    fn answer(&self, request: &Request, cached: Option<OpResult>) -> Option<OpResult> {
        match self.sessions.dedup() {
            Dedup::CacheLatest => cached.map(|_| self.store.get(request.op.key()).cloned()),
            _ => cached,
        }
    }

    pub fn digest(&self) -> StateDigest {
        StateDigest {
            kv: self.store.digest(),
            sessions: self.sessions.digest(),
        }
    }

    pub fn store(&self) -> &KvStore {
        &self.store
    }

    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }
}

#[cfg(test)]
mod tests;

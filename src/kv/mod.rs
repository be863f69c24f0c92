//! The replicated state machine: the KV map plus the session (dedup) table.
//!
//! This is the only place dedup decisions are made. [`StateMachine::apply`] is called for each
//! committed log entry in index order on every replica, so every replica makes the same
//! decision for the same entry.

mod op;
mod session;
mod store;

pub use crate::digest::Digest;
pub use op::{Op, OpKind, OpResult, OpValue, Request};
pub use session::{Decision, Dedup, SessionTable};
pub use store::{ERR_NOT_AN_INTEGER, KvStore};

use crate::ids::Seq;

/// What applying one client entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The operation took effect.
    Applied,
    /// The session table said this `(client, seq)` already took effect; nothing changed.
    /// `expired` means the cached result was already forgotten (the client had acknowledged
    /// it), so there is no result to return.
    Duplicate { last_seq: Seq, expired: bool },
}

impl Outcome {
    /// `"applied"` or `"duplicate"`, as in the trace's `apply` event.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate { .. } => "duplicate",
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
}

impl StateMachine {
    pub fn new(dedup: Dedup) -> StateMachine {
        StateMachine {
            store: KvStore::new(),
            sessions: SessionTable::new(dedup),
        }
    }

    /// Apply one committed client entry. Reads (`get`) are never deduplicated.
    pub fn apply(&mut self, request: &Request) -> (Outcome, OpResult) {
        if !request.op.kind().is_write() {
            let result = self.store.apply(&request.op);
            self.sessions.settle(request, None);
            return (Outcome::Applied, result);
        }
        match self.sessions.decide(request.client, request.seq) {
            Decision::Apply => {
                let result = self.store.apply(&request.op);
                self.sessions.settle(request, Some(&result));
                (Outcome::Applied, result)
            }
            Decision::Duplicate { last_seq, cached } => {
                self.sessions.settle(request, None);
                let expired = cached.is_none();
                (
                    Outcome::Duplicate { last_seq, expired },
                    cached.unwrap_or(None),
                )
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
        self.sessions.decide(request.client, request.seq)
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

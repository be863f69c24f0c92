//! The replicated state machine: the KV map plus the session (dedup) table.
//!
//! This is the only place dedup decisions are made. [`StateMachine::apply`] is called for each
//! committed log entry in index order on every replica, so every replica makes the same
//! decision for the same entry.

mod lifetime;
mod op;
mod session;
mod store;

pub use crate::digest::Digest;
pub use lifetime::{EndReason, Lifetimes, SessionLimits};
pub use op::{Op, OpKind, OpResult, OpValue, Origin, Request};
pub use session::{Decision, Dedup, SessionTable};
pub use store::{ERR_NOT_AN_INTEGER, Effect, KvStore, apply_to_value, sets_to};

use std::sync::Arc;

use crate::ids::{ClientId, LogIndex, Seq};
use crate::message::{Entry, Payload};
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
    /// The request's session is not live (it expired, was evicted, or never registered):
    /// nothing changed, and the request is refused as `session-expired`.
    SessionExpired,
}

impl Outcome {
    /// `"applied"` or `"duplicate"`, as in the trace's `apply` event (a conflict did not
    /// take effect either: it is a `"duplicate"` with `"conflict": true`).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate { .. } | Outcome::Conflict { .. } => "duplicate",
            Outcome::SessionExpired => "session-expired",
        }
    }
}

/// Digests of one replica's state after an apply: compared across replicas at equal indexes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StateDigest {
    pub kv: Digest,
    pub sessions: Digest,
}

/// How big one replica's dedup state is after an apply: what the table-size rule bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableSize {
    /// Live sessions (clients with an entry when sessions are not registered).
    pub sessions: u32,
    /// Results cached for the client of the entry just applied.
    pub results: u32,
}

/// One replica's state machine.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StateMachine {
    store: KvStore,
    sessions: SessionTable,
    lifetimes: Lifetimes,
    /// [`crate::mutation::Mutation::DuplicateMovesWatermark`]: a duplicate sets its client's
    /// watermark, even backwards.
    watermark_from_duplicates: bool,
    /// How many of the sessions the lifetimes list as ended have had their dedup state
    /// dropped.
    forgotten: usize,
    /// Results cached for the client of the last entry applied.
    last_results: u32,
}

impl StateMachine {
    pub fn new(dedup: Dedup) -> StateMachine {
        StateMachine::mutated(dedup, Mutations::NONE, SessionLimits::default())
    }

    /// A state machine whose sessions end as `limits` say, with the deliberate bugs of
    /// `mutations` that live here.
    pub fn mutated(dedup: Dedup, mutations: Mutations, limits: SessionLimits) -> StateMachine {
        let mut sessions = SessionTable::new(dedup);
        if mutations.has(Mutation::KeepAcknowledged) {
            sessions = sessions.keep_acknowledged();
        }
        StateMachine {
            store: KvStore::new(),
            sessions,
            lifetimes: Lifetimes::new(limits, mutations.has(Mutation::EvictLate)),
            watermark_from_duplicates: mutations.has(Mutation::DuplicateMovesWatermark),
            forgotten: 0,
            last_results: 0,
        }
    }

    /// The current value of `key`, as a read outside the log answers it.
    pub fn read(&self, key: &str) -> OpResult {
        self.store.get(key).cloned()
    }

    /// Apply the committed entry at `index`. With registration on, the log time first moves
    /// to the entry's stamp (under the flawed `expire-local-clock`, to `local_now_us`, this
    /// replica's own clock) and idle sessions expire; a `register` entry opens session
    /// `index`; a client entry from a session that is not live is refused. Every replica
    /// that applies the same log decides the same.
    pub fn apply_entry(
        &mut self,
        index: LogIndex,
        entry: &Entry,
        as_leader: bool,
        local_now_us: u64,
    ) -> (Outcome, OpResult) {
        self.last_results = 0;
        let mut live = true;
        if self.lifetimes.enabled() {
            let now_us = match self.sessions.dedup() {
                Dedup::ExpireLocalClock => local_now_us,
                _ => entry.stamp_us,
            };
            self.lifetimes.advance(now_us);
            match &entry.payload {
                Payload::Noop => {}
                Payload::Register { .. } => self.lifetimes.open(ClientId(index.0)),
                Payload::Client(request) => {
                    live = self.lifetimes.touch(request.client);
                    if !live && self.sessions.dedup() == Dedup::EvictSilently {
                        // The flaw: a session the table no longer has opens again, silently.
                        self.lifetimes.open(request.client);
                        live = true;
                    }
                }
            }
            self.forget_ended();
        }
        match &entry.payload {
            Payload::Noop | Payload::Register { .. } => (Outcome::Applied, None),
            Payload::Client(_) if !live => (Outcome::SessionExpired, None),
            Payload::Client(request) => {
                let applied = self.apply(request, as_leader);
                self.last_results = self.sessions.settled_results();
                applied
            }
        }
    }

    /// Drop the dedup state of every session that ended since the last call (they stay
    /// listed in the lifetimes for the owner's `expire` events until
    /// [`StateMachine::take_ended`]).
    fn forget_ended(&mut self) {
        let ended = self.lifetimes.ended();
        for &(client, _) in &ended[self.forgotten..] {
            self.sessions.forget(client);
        }
        self.forgotten = ended.len();
    }

    /// Sessions that ended in the applies since the last call, in order.
    pub fn take_ended(&mut self) -> impl Iterator<Item = (ClientId, EndReason)> + '_ {
        self.forgotten = 0;
        self.lifetimes.take_ended()
    }

    /// A replica learnt of a new leader: only the flawed `ttl-reset-on-leader-change` does
    /// anything (every session counts as active again).
    pub fn leader_changed(&mut self) {
        if self.sessions.dedup() == Dedup::TtlResetOnLeaderChange {
            self.lifetimes.reset_all();
        }
    }

    /// The size of the dedup state after the last apply, with the cached results of the
    /// client whose request it was (0 after a no-op, a register or a refused entry).
    pub fn table_size(&self) -> TableSize {
        let sessions = if self.lifetimes.enabled() {
            self.lifetimes.live_sessions()
        } else {
            self.sessions.clients()
        };
        TableSize {
            sessions: sessions as u32,
            results: self.last_results,
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
        let mut sessions = self.sessions.digest();
        sessions.add_hash(self.lifetimes.digest().0);
        StateDigest {
            kv: self.store.digest(),
            sessions,
        }
    }

    /// What this replica puts in a snapshot: all of it, except under the flawed
    /// `snapshot-without-sessions`, which captures only the KV map (the table and the
    /// lifetimes start empty again in whoever loads it).
    pub fn snapshot_copy(&self) -> StateMachine {
        let mut copy = self.clone();
        if self.sessions.dedup() == Dedup::SnapshotWithoutSessions {
            copy.sessions = self.sessions.emptied();
            copy.lifetimes = self.lifetimes.emptied();
            copy.forgotten = 0;
        }
        copy
    }

    /// Replace this state's dedup state (session table and lifetimes) by `other`'s, keeping
    /// this KV map: what the flawed `snapshot-split-index` (the table taken at a later index
    /// than the map) and `install-keeps-table` (a follower keeps its old table when it
    /// installs a snapshot) do. Correct designs never call it.
    #[cold]
    pub fn adopt_sessions_of(&mut self, other: &StateMachine) {
        self.sessions = other.sessions.clone();
        self.lifetimes = other.lifetimes.clone();
        self.forgotten = other.forgotten;
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

//! Session tables: how replicas remember which `(client_id, seq)` already took effect.
//!
//! Every strategy here is driven only from the state machine's `apply` (and read-only from the
//! leader's receive path), so all replicas that apply the same log build the same table.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::op::{OpResult, Request};
use crate::digest::{Digest, hash_of};
use crate::ids::{ClientId, Seq};

/// The dedup strategy of a run (`[server] dedup`, `--dedup`; docs/DESIGN.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dedup {
    /// Correct. Per client: the cached result of every seq not yet acknowledged, plus the
    /// client's lowest unacknowledged seq (carried in each request), below which results are
    /// forgotten. Decided at apply time, replicated through the log. Stays correct when a
    /// client has several requests in flight (Raft dissertation §6.3; LogCabin).
    Sessions,
    /// Correct while each client has one request in flight: `client_id -> (last_seq, result)`.
    /// Any `seq <= last_seq` is a duplicate and gets the cached result of `last_seq`, which is
    /// the wrong result as soon as a client pipelines requests.
    LastSeq,
    /// Flawed on purpose: no deduplication, so a retried write can take effect twice
    /// (at-least-once). The exactly-once checker must catch it.
    Off,
    /// Flawed on purpose: the leader checks duplicates when requests arrive, against a table
    /// of its own that it fills as it applies; nothing is checked at apply, and followers
    /// never build the table, so a new leader takes a retried write it inherited for new and
    /// it applies twice. (The table is local, not replicated state: replicas still converge.)
    LeaderOnly,
    /// Flawed on purpose: duplicates are checked only when a request arrives (against the
    /// replicated table), never at apply, so a retry that arrives before the first copy
    /// commits is appended a second time and both copies apply.
    CheckOnReceive,
    /// Flawed on purpose: a duplicate is recognised, but answered with the key's current
    /// value instead of the cached result of its one application, which is wrong as soon as
    /// another write touched the key in between.
    CacheLatest,
    /// Flawed on purpose: `sessions` trusting the seq alone. A request whose
    /// `(client_id, seq)` already took effect is answered from the cache even when it carries
    /// a different operation, so a client that reissues a seq with a new operation (after a
    /// restart that kept its id and seq) is told its new operation took effect when it never
    /// did. The correct tables compare the operation too and refuse a mismatch
    /// ([`Decision::Conflict`]).
    TrustSeq,
    /// Flawed on purpose: `sessions`, but each replica expires sessions by its own clock
    /// when it applies an entry instead of by the entry's leader stamp, so replicas whose
    /// clocks differ expire a session at different indexes and disagree on whether its next
    /// request takes effect. Convergence (and often exactly-once) must catch it.
    ExpireLocalClock,
    /// Flawed on purpose: `sessions`, but a replica that learns of a new leader counts every
    /// session as active again (the idle timers restart), each replica at whatever index it
    /// has applied when it hears: replicas expire differently.
    TtlResetOnLeaderChange,
    /// Flawed on purpose: `sessions`, but a request from a session the table no longer has
    /// (expired or evicted) opens it again silently instead of being refused as
    /// `session-expired`, so a retry of a write that already took effect applies again.
    EvictSilently,
    /// Flawed on purpose: `sessions`, but a snapshot captures only the KV map, so a node that
    /// restarts from it or installs it has forgotten which requests took effect, and a retry
    /// of a write the snapshot covers applies again.
    SnapshotWithoutSessions,
    /// Flawed on purpose: `sessions`, but the snapshot's session table is captured one apply
    /// after its KV map (as a snapshot written in two steps while the apply loop runs on), so
    /// the node that loads it takes the next entry for a duplicate and its write is lost.
    SnapshotSplitIndex,
    /// Flawed on purpose: `sessions`, but a follower that installs a leader's snapshot takes
    /// its KV map and keeps its own, older session table, which has not seen the writes the
    /// snapshot covers: a retry of one of them applies again.
    InstallKeepsTable,
}

impl Dedup {
    /// The name used in scenario files, on the command line and in summaries.
    pub const ALL: [Dedup; 13] = [
        Dedup::Sessions,
        Dedup::LastSeq,
        Dedup::Off,
        Dedup::LeaderOnly,
        Dedup::CheckOnReceive,
        Dedup::CacheLatest,
        Dedup::TrustSeq,
        Dedup::ExpireLocalClock,
        Dedup::TtlResetOnLeaderChange,
        Dedup::EvictSilently,
        Dedup::SnapshotWithoutSessions,
        Dedup::SnapshotSplitIndex,
        Dedup::InstallKeepsTable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dedup::Sessions => "sessions",
            Dedup::LastSeq => "last-seq",
            Dedup::Off => "off",
            Dedup::LeaderOnly => "leader-only",
            Dedup::CheckOnReceive => "check-on-receive",
            Dedup::CacheLatest => "cache-latest",
            Dedup::TrustSeq => "trust-seq",
            Dedup::ExpireLocalClock => "expire-local-clock",
            Dedup::TtlResetOnLeaderChange => "ttl-reset-on-leader-change",
            Dedup::EvictSilently => "evict-silently",
            Dedup::SnapshotWithoutSessions => "snapshot-without-sessions",
            Dedup::SnapshotSplitIndex => "snapshot-split-index",
            Dedup::InstallKeepsTable => "install-keeps-table",
        }
    }

    /// Correct strategies must pass every scenario on every seed; the others are flawed
    /// designs the checkers must catch. `last-seq` is correct only while each client has one
    /// request in flight: see [`Dedup::is_correct_for`].
    pub fn is_correct(self) -> bool {
        matches!(self, Dedup::Sessions | Dedup::LastSeq)
    }

    /// Correct for clients with `window` requests in flight: `last-seq` is not once clients
    /// pipeline (`window > 1`), since seq N+1 may apply before seq N.
    pub fn is_correct_for(self, window: u32) -> bool {
        match self {
            Dedup::LastSeq => window <= 1,
            other => other.is_correct(),
        }
    }
}

/// What the table says about a request before it is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not seen before: apply it.
    Apply,
    /// Seen before. `cached` is the result to return, or `None` when the table has already
    /// forgotten it because the client acknowledged it (the client no longer waits for it).
    Duplicate {
        last_seq: Seq,
        cached: Option<OpResult>,
    },
    /// Seen before as a different operation: this `(client, seq)` already took effect with
    /// another kind, key or value. Not applied, and not answered from the cache (that result
    /// belongs to the other operation): refused.
    Conflict { last_seq: Seq },
}

/// A cached result with the operation that produced it (to tell a retry from another
/// operation under the same seq) and its digest element hash, so forgetting it costs no
/// rehash.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Cached {
    seq: Seq,
    /// The request that took effect (shared, so caching it costs a reference count).
    request: Arc<Request>,
    result: OpResult,
    hash: u64,
}

impl Cached {
    /// What a request for this cached seq gets: the cached result if it carries the same
    /// operation (or `trust_seq` says not to look), else a conflict.
    fn answer(&self, request: &Request, last_seq: Seq, trust_seq: bool) -> Decision {
        let same = std::ptr::eq(&*self.request, request) || self.request.op == request.op;
        if trust_seq || same {
            Decision::Duplicate {
                last_seq,
                cached: Some(self.result.clone()),
            }
        } else {
            Decision::Conflict { last_seq }
        }
    }
}

/// One client's entry under [`Dedup::Sessions`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Session {
    /// Every seq below this one has been acknowledged to the client.
    lowest_unacked: Seq,
    /// The highest seq that took effect.
    last_seq: Seq,
    /// Digest hash of `(client, lowest_unacked, last_seq)`.
    header_hash: u64,
    /// Results of seqs at or above `lowest_unacked` that took effect, in seq order. A few at
    /// most (one per request in flight), so a sorted deque beats a map and keeps its capacity.
    results: VecDeque<Cached>,
}

impl Session {
    fn find(&self, seq: Seq) -> Result<usize, usize> {
        self.results.binary_search_by_key(&seq, |c| c.seq)
    }
}

/// The table behind each strategy: `sessions` keeps per-seq results; `last-seq` and the
/// flawed designs built on it keep the last seq and its result per client.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Table {
    Sessions(BTreeMap<ClientId, Session>),
    LastSeq(BTreeMap<ClientId, Cached>),
    Off,
}

/// The dedup state of one replica.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionTable {
    dedup: Dedup,
    table: Table,
    digest: Digest,
    /// [`crate::mutation::Mutation::KeepAcknowledged`]: never forget a result.
    keep_acknowledged: bool,
    /// Results cached for the client of the last settled request, after it settled.
    settled_results: u32,
}

impl SessionTable {
    pub fn new(dedup: Dedup) -> SessionTable {
        let table = match dedup {
            Dedup::Sessions
            | Dedup::TrustSeq
            | Dedup::ExpireLocalClock
            | Dedup::TtlResetOnLeaderChange
            | Dedup::EvictSilently
            | Dedup::SnapshotWithoutSessions
            | Dedup::SnapshotSplitIndex
            | Dedup::InstallKeepsTable => Table::Sessions(BTreeMap::new()),
            Dedup::LastSeq | Dedup::LeaderOnly | Dedup::CheckOnReceive | Dedup::CacheLatest => {
                Table::LastSeq(BTreeMap::new())
            }
            Dedup::Off => Table::Off,
        };
        SessionTable {
            dedup,
            table,
            digest: Digest::default(),
            keep_acknowledged: false,
            settled_results: 0,
        }
    }

    /// Results cached for the client of the request [`SessionTable::settle`] handled last
    /// (what the table-size rule bounds by the window), without a lookup.
    pub fn settled_results(&self) -> u32 {
        self.settled_results
    }

    /// The deliberate bug [`crate::mutation::Mutation::KeepAcknowledged`]: results are
    /// never forgotten, so a client's cached results outgrow its window.
    pub fn keep_acknowledged(mut self) -> SessionTable {
        self.keep_acknowledged = true;
        self
    }

    /// An empty table with this one's strategy and settings (what a snapshot without
    /// sessions carries).
    pub fn emptied(&self) -> SessionTable {
        SessionTable {
            keep_acknowledged: self.keep_acknowledged,
            ..SessionTable::new(self.dedup)
        }
    }

    /// Forget everything about `client` (its session ended).
    pub fn forget(&mut self, client: ClientId) {
        match &mut self.table {
            Table::Sessions(sessions) => {
                if let Some(session) = sessions.remove(&client) {
                    self.digest.remove_hash(session.header_hash);
                    for cached in &session.results {
                        self.digest.remove_hash(cached.hash);
                    }
                }
            }
            Table::LastSeq(entries) => {
                if let Some(old) = entries.remove(&client) {
                    self.digest.remove_hash(old.hash);
                }
            }
            Table::Off => {}
        }
    }

    /// The strategy.
    pub fn dedup(&self) -> Dedup {
        self.dedup
    }

    /// Decide, while applying a committed entry, whether `request`'s `(client, seq)` already
    /// took effect (as this operation or another).
    pub fn decide_at_apply(&self, request: &Request) -> Decision {
        match self.dedup {
            Dedup::CheckOnReceive | Dedup::LeaderOnly => Decision::Apply,
            _ => self.lookup(request),
        }
    }

    /// Decide, as a leader receiving a request, whether its `(client, seq)` already took
    /// effect here, so it can be answered from the cache (or refused) without appending it
    /// again. Read-only.
    pub fn decide_on_receive(&self, request: &Request) -> Decision {
        self.lookup(request)
    }

    fn lookup(&self, request: &Request) -> Decision {
        let (client, seq) = (request.client, request.seq);
        let trust_seq = self.dedup == Dedup::TrustSeq;
        match &self.table {
            Table::Sessions(sessions) => {
                let Some(session) = sessions.get(&client) else {
                    return Decision::Apply;
                };
                if seq < session.lowest_unacked {
                    return Decision::Duplicate {
                        last_seq: session.last_seq,
                        cached: None,
                    };
                }
                match session.find(seq) {
                    Ok(i) => session.results[i].answer(request, session.last_seq, trust_seq),
                    Err(_) => Decision::Apply,
                }
            }
            Table::LastSeq(entries) => match entries.get(&client) {
                // Only the last seq's operation is known; an older seq gets its result.
                Some(entry) if seq == entry.seq => entry.answer(request, entry.seq, false),
                Some(entry) if seq < entry.seq => Decision::Duplicate {
                    last_seq: entry.seq,
                    cached: Some(entry.result.clone()),
                },
                _ => Decision::Apply,
            },
            Table::Off => Decision::Apply,
        }
    }

    /// Apply-time bookkeeping for one applied client entry, duplicate or not: record
    /// `took_effect` (the result, when [`decide_at_apply`] said [`Decision::Apply`] and the op
    /// is a write), then learn from the request which of its client's results were
    /// acknowledged and forget them.
    ///
    /// [`decide_at_apply`]: SessionTable::decide_at_apply
    pub fn settle(
        &mut self,
        request: &Arc<Request>,
        took_effect: Option<&OpResult>,
        as_leader: bool,
    ) {
        self.settled_results = 0;
        if self.dedup == Dedup::LeaderOnly && !as_leader {
            return; // followers never build the leader's table
        }
        // The leader's own table is local state, not part of what replicas must agree on.
        let mut local = Digest::default();
        let digest = if self.dedup == Dedup::LeaderOnly {
            &mut local
        } else {
            &mut self.digest
        };
        match &mut self.table {
            Table::Sessions(sessions) => {
                let client = request.client;
                let (session, is_new) = match (sessions.get_mut(&client), took_effect) {
                    (Some(session), _) => (session, false),
                    (None, Some(_)) => (sessions.entry(client).or_default(), true),
                    (None, None) => return, // nothing recorded for this client, nothing to forget
                };
                let before = (session.lowest_unacked, session.last_seq);
                if let Some(result) = took_effect {
                    let at = match session.find(request.seq) {
                        Ok(_) => panic!(
                            "session table: client {client} seq {} recorded twice",
                            request.seq
                        ),
                        Err(at) => at,
                    };
                    let hash = hash_of(&(client, request.seq, result));
                    digest.add_hash(hash);
                    let cached = Cached {
                        seq: request.seq,
                        request: Arc::clone(request),
                        result: result.clone(),
                        hash,
                    };
                    session.results.insert(at, cached);
                    session.last_seq = session.last_seq.max(request.seq);
                }
                session.lowest_unacked = session.lowest_unacked.max(request.lowest_unacked);
                while !self.keep_acknowledged
                    && session
                        .results
                        .front()
                        .is_some_and(|c| c.seq < session.lowest_unacked)
                {
                    let forgotten = session.results.pop_front().expect("checked non-empty");
                    digest.remove_hash(forgotten.hash);
                }
                self.settled_results = session.results.len() as u32;
                let after = (session.lowest_unacked, session.last_seq);
                if after != before || is_new {
                    if !is_new {
                        digest.remove_hash(session.header_hash);
                    }
                    session.header_hash = hash_of(&(client, "session", after));
                    digest.add_hash(session.header_hash);
                }
            }
            Table::LastSeq(entries) => {
                let Some(result) = took_effect else {
                    return;
                };
                let hash = hash_of(&(request.client, request.seq, result));
                digest.add_hash(hash);
                let cached = Cached {
                    seq: request.seq,
                    request: Arc::clone(request),
                    result: result.clone(),
                    hash,
                };
                if let Some(old) = entries.insert(request.client, cached) {
                    digest.remove_hash(old.hash);
                }
                self.settled_results = 1;
            }
            Table::Off => {}
        }
    }

    /// The deliberate bug [`crate::mutation::Mutation::DuplicateMovesWatermark`]: set the
    /// client's lowest unacknowledged seq to the request's, even if that moves it back.
    pub fn set_watermark(&mut self, request: &Request) {
        let Table::Sessions(sessions) = &mut self.table else {
            return;
        };
        let Some(session) = sessions.get_mut(&request.client) else {
            return;
        };
        if session.lowest_unacked == request.lowest_unacked {
            return;
        }
        session.lowest_unacked = request.lowest_unacked;
        self.digest.remove_hash(session.header_hash);
        let header = (session.lowest_unacked, session.last_seq);
        session.header_hash = hash_of(&(request.client, "session", header));
        self.digest.add_hash(session.header_hash);
    }

    /// An order-independent digest of the whole table.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Number of clients with an entry.
    pub fn clients(&self) -> usize {
        match &self.table {
            Table::Sessions(sessions) => sessions.len(),
            Table::LastSeq(entries) => entries.len(),
            Table::Off => 0,
        }
    }
}

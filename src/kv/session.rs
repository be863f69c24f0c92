//! Session tables: how replicas remember which `(client_id, seq)` already took effect.
//!
//! Every strategy here is driven only from the state machine's `apply` (and read-only from the
//! leader's receive path), so all replicas that apply the same log build the same table.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::op::{OpResult, Request};
use crate::digest::Digest;
use crate::ids::{ClientId, Seq};

/// The dedup strategy of a run (`[server] dedup`, `--dedup`; DESIGN §6).
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
}

impl Dedup {
    /// The name used in scenario files, on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Dedup::Sessions => "sessions",
            Dedup::LastSeq => "last-seq",
            Dedup::Off => "off",
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
}

/// One client's entry under [`Dedup::Sessions`].
#[derive(Clone, Debug, Default)]
struct Session {
    /// Every seq below this one has been acknowledged to the client.
    lowest_unacked: Seq,
    /// The highest seq that took effect.
    last_seq: Seq,
    /// Results of seqs at or above `lowest_unacked` that took effect, in seq order. A few at
    /// most (one per request in flight), so a sorted deque beats a map and keeps its capacity.
    results: VecDeque<(Seq, OpResult)>,
}

/// One client's entry under [`Dedup::LastSeq`].
#[derive(Clone, Debug)]
struct LastSeqEntry {
    last_seq: Seq,
    result: OpResult,
}

#[derive(Clone, Debug)]
enum Table {
    Sessions(BTreeMap<ClientId, Session>),
    LastSeq(BTreeMap<ClientId, LastSeqEntry>),
    Off,
}

/// The dedup state of one replica.
#[derive(Clone, Debug)]
pub struct SessionTable {
    table: Table,
    digest: Digest,
}

impl SessionTable {
    pub fn new(dedup: Dedup) -> SessionTable {
        let table = match dedup {
            Dedup::Sessions => Table::Sessions(BTreeMap::new()),
            Dedup::LastSeq => Table::LastSeq(BTreeMap::new()),
            Dedup::Off => Table::Off,
        };
        SessionTable {
            table,
            digest: Digest::default(),
        }
    }

    /// Decide whether `(client, seq)` already took effect. Read-only: the leader may call it
    /// when a request arrives to answer a retry from the cache without appending it again.
    pub fn decide(&self, client: ClientId, seq: Seq) -> Decision {
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
                match session.results.binary_search_by_key(&seq, |(s, _)| *s) {
                    Ok(i) => Decision::Duplicate {
                        last_seq: session.last_seq,
                        cached: Some(session.results[i].1.clone()),
                    },
                    Err(_) => Decision::Apply,
                }
            }
            Table::LastSeq(entries) => match entries.get(&client) {
                Some(entry) if seq <= entry.last_seq => Decision::Duplicate {
                    last_seq: entry.last_seq,
                    cached: Some(entry.result.clone()),
                },
                _ => Decision::Apply,
            },
            Table::Off => Decision::Apply,
        }
    }

    /// Record that `request` took effect with `result`. Call only after [`decide`] said
    /// [`Decision::Apply`] for it, from the state machine's apply.
    ///
    /// [`decide`]: SessionTable::decide
    pub fn record(&mut self, request: &Request, result: &OpResult) {
        let digest = &mut self.digest;
        match &mut self.table {
            Table::Sessions(sessions) => {
                let session = sessions.entry(request.client).or_insert_with(|| {
                    let fresh = Session::default();
                    digest.add(&session_header(request.client, &fresh));
                    fresh
                });
                digest.remove(&session_header(request.client, session));
                session.last_seq = session.last_seq.max(request.seq);
                digest.add(&session_header(request.client, session));
                let at = match session
                    .results
                    .binary_search_by_key(&request.seq, |(s, _)| *s)
                {
                    Ok(_) => panic!(
                        "session table: client {} seq {} recorded twice",
                        request.client, request.seq
                    ),
                    Err(at) => at,
                };
                session.results.insert(at, (request.seq, result.clone()));
                digest.add(&(request.client, request.seq, result));
            }
            Table::LastSeq(entries) => {
                if let Some(old) = entries.get(&request.client) {
                    digest.remove(&(request.client, old.last_seq, &old.result));
                }
                entries.insert(
                    request.client,
                    LastSeqEntry {
                        last_seq: request.seq,
                        result: result.clone(),
                    },
                );
                digest.add(&(request.client, request.seq, result));
            }
            Table::Off => {}
        }
    }

    /// Learn from `request` which of its client's results were acknowledged, and forget them.
    /// Called for every applied client entry, duplicate or not, after [`record`].
    ///
    /// [`record`]: SessionTable::record
    pub fn acknowledge(&mut self, request: &Request) {
        let Table::Sessions(sessions) = &mut self.table else {
            return;
        };
        let Some(session) = sessions.get_mut(&request.client) else {
            return;
        };
        if request.lowest_unacked <= session.lowest_unacked {
            return;
        }
        let digest = &mut self.digest;
        digest.remove(&session_header(request.client, session));
        session.lowest_unacked = request.lowest_unacked;
        digest.add(&session_header(request.client, session));
        while session
            .results
            .front()
            .is_some_and(|(seq, _)| *seq < session.lowest_unacked)
        {
            let (seq, result) = session.results.pop_front().expect("checked non-empty");
            digest.remove(&(request.client, seq, &result));
        }
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

/// The part of a session that is not a cached result, as one digest element.
fn session_header(client: ClientId, session: &Session) -> (ClientId, &'static str, Seq, Seq) {
    (client, "session", session.lowest_unacked, session.last_seq)
}

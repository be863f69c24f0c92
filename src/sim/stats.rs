//! Counters for the run summary, gathered from trace events.

use std::collections::BTreeSet;

use crate::ids::LogIndex;
use crate::sim::network::NetStats;
use crate::trace::{DedupSite, TraceEvent};

/// What happened in a run, in numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations clients issued.
    pub submitted: u64,
    /// Operations whose result a client accepted.
    pub completed: u64,
    /// Operations a node refused (an acknowledged and forgotten seq, a seq taken by another
    /// operation, or an expired session).
    pub refused: u64,
    /// Of those, operations ended by an expired session (indefinite).
    pub expired_ops: u64,
    /// Sessions opened (registrations a client accepted).
    pub registrations: u64,
    /// Sessions ended, counted once per session (not per replica): by timeout, by eviction.
    pub sessions_expired: u64,
    pub sessions_evicted: u64,
    /// Sends of a request, first attempts included.
    pub requests: u64,
    /// Client timeouts, each followed by a retry of the same `(client_id, seq)`.
    pub timeouts: u64,
    /// "Not leader" answers.
    pub redirects: u64,
    /// Log entries found to be duplicates at apply (counted once per entry, not per replica).
    pub duplicates_at_apply: u64,
    /// Retries a leader answered from its session table on arrival.
    pub duplicates_at_receive: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub client_crashes: u64,
    /// Operations whose client crashed while they were in flight.
    pub abandoned: u64,
    /// Old requests re-delivered by replay faults.
    pub replays: u64,
    /// Elections won.
    pub leader_changes: u64,
    pub partitions: u64,
    /// Faults whose trigger never came.
    pub faults_skipped: u64,
    /// Snapshots nodes took (each node's own), and snapshots followers installed from a
    /// leader.
    pub snapshots: u64,
    pub installs: u64,
    /// Reads answered outside the log, by [`crate::raft::ReadPath`].
    pub reads: [u64; 5],
    pub network: NetStats,
    duplicate_entries: BTreeSet<LogIndex>,
    ended_sessions: BTreeSet<crate::ids::ClientId>,
}

impl Stats {
    #[inline]
    pub fn observe(&mut self, event: &TraceEvent<'_>) {
        match *event {
            TraceEvent::Submit { .. } => self.submitted += 1,
            TraceEvent::Reply { .. } => self.completed += 1,
            TraceEvent::Refused { reason, .. } => {
                self.refused += 1;
                if reason == crate::message::Refusal::SessionExpired {
                    self.expired_ops += 1;
                }
            }
            TraceEvent::Register { .. } => self.registrations += 1,
            TraceEvent::Expire { client, reason, .. } if self.ended_sessions.insert(client) => {
                match reason {
                    crate::kv::EndReason::Timeout => self.sessions_expired += 1,
                    crate::kv::EndReason::Evicted => self.sessions_evicted += 1,
                }
            }
            TraceEvent::Request { .. } => self.requests += 1,
            TraceEvent::Timeout { .. } => self.timeouts += 1,
            TraceEvent::Redirect { .. } => self.redirects += 1,
            TraceEvent::Dedup { site, index, .. } => match (site, index) {
                (DedupSite::Receive, _) => self.duplicates_at_receive += 1,
                (DedupSite::Apply, Some(index)) => {
                    if self.duplicate_entries.insert(index) {
                        self.duplicates_at_apply += 1;
                    }
                }
                (DedupSite::Apply, None) => {}
            },
            TraceEvent::Crash { .. } => self.crashes += 1,
            TraceEvent::Restart { .. } => self.restarts += 1,
            TraceEvent::ClientCrash { abandoned, .. } => {
                self.client_crashes += 1;
                self.abandoned += u64::from(abandoned.is_some());
            }
            TraceEvent::Replay { .. } => self.replays += 1,
            TraceEvent::Leader { .. } => self.leader_changes += 1,
            TraceEvent::Partition { .. } => self.partitions += 1,
            TraceEvent::FaultSkipped { .. } => self.faults_skipped += 1,
            TraceEvent::Snapshot { .. } => self.snapshots += 1,
            TraceEvent::Install { .. } => self.installs += 1,
            TraceEvent::Read { path, .. } => self.reads[path as usize] += 1,
            _ => {}
        }
    }

    /// Duplicates detected, at apply and on receive.
    pub fn duplicates(&self) -> u64 {
        self.duplicates_at_apply + self.duplicates_at_receive
    }
}

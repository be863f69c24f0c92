//! Process events as trace events: the one place where what a node or a client did becomes
//! what checkers observe and traces print. The simulator and the real-network node both
//! turn events into trace events through [`Traced`].

use super::{DedupAnswer, DedupSite, LogView, TableView, TraceEvent};
use crate::client::{Client, ClientEvent, Failure};
use crate::kv::Outcome;
use crate::process::Process;
use crate::raft::{NodeEvent, RaftNode};

/// A process whose events are traced.
pub trait Traced: Process {
    /// Hand `emit` the trace events of `event`, one of this process's own, in order. Call it
    /// as the event is polled, before the process handles anything else, so the state it
    /// reads (a node's log, a client's id) is the state the event happened in.
    fn trace(&self, event: &Self::Event, emit: impl FnMut(&TraceEvent<'_>));
}

impl Traced for RaftNode {
    /// A leader (with its log), an append, an apply and the dedup decision it made, a
    /// duplicate answered on arrival.
    #[inline]
    fn trace(&self, event: &NodeEvent, mut emit: impl FnMut(&TraceEvent<'_>)) {
        let node = self.id();
        match event {
            &NodeEvent::BecameLeader { term } => emit(&TraceEvent::Leader {
                node,
                term,
                log: LogView(self.log()),
            }),
            NodeEvent::Appended {
                index,
                term,
                request,
                attempt,
            } => emit(&TraceEvent::Append {
                node,
                index: *index,
                term: *term,
                request,
                attempt: *attempt,
            }),
            NodeEvent::Applied {
                index,
                term,
                payload,
                outcome,
                result,
                digest,
                table,
            } => {
                emit(&TraceEvent::Apply {
                    node,
                    index: *index,
                    term: *term,
                    payload,
                    outcome: *outcome,
                    result,
                    digest: *digest,
                    table: TableView(*table),
                });
                let dedup = match *outcome {
                    Outcome::Applied | Outcome::SessionExpired => None,
                    Outcome::Duplicate {
                        last_seq,
                        expired: false,
                    } => Some((last_seq, DedupAnswer::Cached)),
                    Outcome::Duplicate {
                        last_seq,
                        expired: true,
                    } => Some((last_seq, DedupAnswer::Forgotten)),
                    Outcome::Conflict { last_seq } => Some((last_seq, DedupAnswer::Conflict)),
                };
                if let (Some((last_seq, answer)), Some(request)) = (dedup, payload.request()) {
                    emit(&TraceEvent::Dedup {
                        node,
                        client: request.client,
                        seq: request.seq,
                        last_seq,
                        site: DedupSite::Apply,
                        index: Some(*index),
                        answer,
                    });
                }
            }
            &NodeEvent::Expired {
                index,
                client,
                reason,
            } => emit(&TraceEvent::Expire {
                node,
                client,
                index,
                reason,
            }),
            &NodeEvent::Snapshot {
                index,
                term,
                digest,
            } => emit(&TraceEvent::Snapshot {
                node,
                index,
                term,
                digest,
            }),
            &NodeEvent::Installed {
                from,
                index,
                term,
                digest,
            } => emit(&TraceEvent::Install {
                node,
                from,
                index,
                term,
                digest,
            }),
            NodeEvent::DuplicateOnReceive {
                request,
                last_seq,
                cached,
                conflict,
            } => emit(&TraceEvent::Dedup {
                node,
                client: request.client,
                seq: request.seq,
                last_seq: *last_seq,
                site: DedupSite::Receive,
                index: None,
                answer: match (conflict, cached) {
                    (true, _) => DedupAnswer::Conflict,
                    (false, Some(_)) => DedupAnswer::Cached,
                    (false, None) => DedupAnswer::Forgotten,
                },
            }),
            NodeEvent::Read {
                client,
                seq,
                path,
                index,
                result,
            } => emit(&TraceEvent::Read {
                node,
                client: *client,
                seq: *seq,
                path: *path,
                index: *index,
                result,
            }),
        }
    }
}

impl Traced for Client {
    /// Each client event is one trace event, naming the client process and the id it uses.
    #[inline]
    fn trace(&self, event: &ClientEvent, mut emit: impl FnMut(&TraceEvent<'_>)) {
        let (client_no, client) = (self.no(), self.id());
        let trace = match event {
            ClientEvent::Submitted { request } => TraceEvent::Submit { client_no, request },
            &ClientEvent::Sent { seq, to, attempt } => TraceEvent::Request {
                client_no,
                client,
                seq,
                node: to,
                attempt,
            },
            &ClientEvent::Failed {
                seq,
                attempt,
                node,
                failure,
                retry_to,
            } => match failure {
                Failure::TimedOut => TraceEvent::Timeout {
                    client_no,
                    client,
                    seq,
                    attempt,
                    retry_to,
                },
                Failure::Unreachable => TraceEvent::Unreachable {
                    client_no,
                    client,
                    seq,
                    node,
                    attempt,
                    retry_to,
                },
            },
            &ClientEvent::Redirected { seq, from, hint } => TraceEvent::Redirect {
                client_no,
                client,
                seq,
                node: from,
                hint,
            },
            ClientEvent::Accepted {
                seq,
                from,
                result,
                cached,
            } => TraceEvent::Reply {
                client_no,
                origin: self.origin(),
                client,
                seq: *seq,
                node: *from,
                result,
                cached: *cached,
            },
            &ClientEvent::Refused {
                seq,
                from,
                last_seq,
                reason,
            } => TraceEvent::Refused {
                client_no,
                origin: self.origin(),
                client,
                seq,
                node: from,
                last_seq,
                reason,
            },
            &ClientEvent::GaveUp { seq, attempts } => TraceEvent::GaveUp {
                client_no,
                client,
                seq,
                attempts,
            },
            &ClientEvent::Registered { client, from } => TraceEvent::Register {
                client_no,
                client,
                node: from,
                index: crate::ids::LogIndex(client.0),
            },
            &ClientEvent::SessionExpired { client, from } => TraceEvent::SessionExpired {
                client_no,
                client,
                node: from,
            },
        };
        emit(&trace);
    }
}

//! Client requests at the leader, and applying committed entries to the state machine.

use std::sync::Arc;

use super::NodeEvent;
use super::{Mutation, RaftNode, Role, Timer, Waiter};
use crate::ids::{ClientNo, SimTime};
use crate::kv::{Decision, Outcome, Request};
use crate::message::{Addr, Message, Reply};
use crate::message::{Entry, Payload};

impl RaftNode {
    /// A client request arrived. A non-leader redirects it; a leader answers a retry whose
    /// result is already in its (applied, hence committed) session table from the cache,
    /// refuses one whose result was already acknowledged and forgotten or whose seq took
    /// effect as a different operation, and otherwise appends it and answers when it applies.
    pub(super) fn handle_client_request(
        &mut self,
        now: SimTime,
        client_no: ClientNo,
        request: Arc<Request>,
        attempt: u32,
    ) {
        let client = Addr::Client(client_no);
        if self.role != Role::Leader {
            let hint = self.leader_hint.filter(|&l| l != self.config.id);
            let reply = Reply::NotLeader { hint };
            self.reply(client, &request, attempt, reply);
            return;
        }
        if attempt > 1 && self.config.mutations.has(Mutation::LeaderDropsRetries) {
            return;
        }
        let answer = match self.state.check_on_receive(&request) {
            Decision::Apply => None,
            Decision::Duplicate {
                last_seq,
                cached: Some(result),
            } => Some((
                last_seq,
                Reply::Done {
                    result,
                    cached: true,
                },
            )),
            Decision::Duplicate {
                last_seq,
                cached: None,
            } => Some((last_seq, Reply::Forgotten { last_seq })),
            Decision::Conflict { last_seq } => Some((last_seq, Reply::Conflict { last_seq })),
        };
        if let Some((last_seq, reply)) = answer {
            let (cached, conflict) = match &reply {
                Reply::Done { result, .. } => (Some(result.clone()), false),
                other => (None, matches!(other, Reply::Conflict { .. })),
            };
            self.reply(client, &request, attempt, reply);
            self.events.push_back(NodeEvent::DuplicateOnReceive {
                request,
                last_seq,
                cached,
                conflict,
            });
            return;
        }
        let term = self.durable.current_term;
        self.waiting.insert(
            request.client,
            Waiter {
                seq: request.seq,
                attempt,
                client_no,
                incarnation: request.origin.incarnation,
            },
        );
        let index = self.durable.log.push(Entry {
            term,
            payload: Payload::Client(Arc::clone(&request)),
        });
        self.events.push_back(NodeEvent::Appended {
            index,
            term,
            request,
            attempt,
        });
        if self.config.cluster_size > 1 {
            self.arm(Timer::Replicate, now);
        }
        self.advance_commit(now);
    }

    fn reply(&mut self, to: Addr, request: &Request, attempt: u32, reply: Reply) {
        self.send(
            to,
            Message::ClientReply {
                client: request.client,
                seq: request.seq,
                attempt,
                incarnation: request.origin.incarnation,
                reply,
            },
        );
    }

    /// The apply timer fired: apply every committed entry in index order, answering the
    /// clients this leader is waiting on.
    pub(super) fn apply_committed(&mut self) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied.next();
            let entry = self
                .durable
                .log
                .get(index)
                .cloned()
                .expect("committed entries are in the log");
            self.last_applied = index;
            let (outcome, result) = match &entry.payload {
                Payload::Noop => (Outcome::Applied, None),
                Payload::Client(request) => {
                    let as_leader = self.role == Role::Leader;
                    let (outcome, result) = self.state.apply(request, as_leader);
                    self.answer_waiter(request, outcome, &result);
                    (outcome, result)
                }
            };
            self.events.push_back(NodeEvent::Applied {
                index,
                term: entry.term,
                payload: entry.payload,
                outcome,
                result,
                digest: self.state.digest(),
            });
        }
    }

    /// If this leader appended `request` and the client still waits for it, answer now: with
    /// its result, its cached result, or a refusal (when the session table had already
    /// forgotten it, or it took effect as a different operation).
    fn answer_waiter(&mut self, request: &Request, outcome: Outcome, result: &crate::kv::OpResult) {
        if self.role != Role::Leader {
            return;
        }
        let Some(waiter) = self.waiting.get(&request.client).copied() else {
            return;
        };
        if waiter.seq != request.seq {
            return;
        }
        self.waiting.remove(&request.client);
        let reply = match outcome {
            Outcome::Duplicate {
                last_seq,
                expired: true,
            } => Reply::Forgotten { last_seq },
            Outcome::Conflict { last_seq } => Reply::Conflict { last_seq },
            Outcome::Applied | Outcome::Duplicate { expired: false, .. } => {
                if request.op.kind().is_write() {
                    self.fresh_reply = Some(self.last_applied);
                }
                Reply::Done {
                    result: result.clone(),
                    cached: outcome != Outcome::Applied,
                }
            }
        };
        self.reply(
            Addr::Client(waiter.client_no),
            request,
            waiter.attempt,
            reply,
        );
    }
}

//! Client requests at the leader, and applying committed entries to the state machine.

use std::sync::Arc;

use super::NodeEvent;
use super::{Mutation, RaftNode, RegisterWaiter, Role, Timer, Waiter};
use crate::ids::{ClientId, ClientNo, Seq, SimTime};
use crate::kv::{Decision, Origin, Outcome, Request};
use crate::message::{Addr, Message, RegisterAnswer, Reply};
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
        if self.reads_outside_log(&request) {
            self.handle_read(now, client_no, request, attempt);
            return;
        }
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
        // The client has had every seq below its lowest unacknowledged one answered: no one
        // waits for those any more.
        let client_id = request.client;
        let acked = (client_id, Seq(0))..(client_id, request.lowest_unacked);
        while let Some(&key) = self.waiting.range(acked.clone()).next().map(|(k, _)| k) {
            self.waiting.remove(&key);
        }
        self.waiting.insert(
            (request.client, request.seq),
            Waiter {
                attempt,
                client_no,
                incarnation: request.origin.incarnation,
            },
        );
        let stamp_us = self.stamp_us(now);
        let index = self.durable.log.push(Entry {
            term,
            payload: Payload::Client(Arc::clone(&request)),
            stamp_us,
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

    /// A client asks to open a session: a non-leader redirects it; a leader appends a
    /// `register` entry and answers with its index when it applies. A retry appends another
    /// (the first session, if it opened, is never used and ends like any idle session).
    pub(super) fn handle_register(
        &mut self,
        now: SimTime,
        client_no: ClientNo,
        attempt: u32,
        incarnation: u32,
    ) {
        if self.role != Role::Leader {
            let hint = self.leader_hint.filter(|&l| l != self.config.id);
            self.send(
                Addr::Client(client_no),
                Message::RegisterReply {
                    attempt,
                    incarnation,
                    reply: RegisterAnswer::NotLeader { hint },
                },
            );
            return;
        }
        let term = self.durable.current_term;
        let stamp_us = self.stamp_us(now);
        let origin = Origin {
            client_no,
            incarnation,
        };
        let index = self.durable.log.push(Entry {
            term,
            payload: Payload::Register { origin },
            stamp_us,
        });
        self.registering.insert(
            index,
            RegisterWaiter {
                attempt,
                client_no,
                incarnation,
            },
        );
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
    /// clients this leader is waiting on. `now` is this node's clock (only the flawed
    /// `expire-local-clock` reads it).
    pub(super) fn apply_committed(&mut self, now: SimTime) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied.next();
            let entry = self
                .durable
                .log
                .get(index)
                .cloned()
                .expect("committed entries are in the log");
            self.last_applied = index;
            let as_leader = self.role == Role::Leader;
            let (outcome, result) = self.state.apply_entry(index, &entry, as_leader, now.0);
            for (client, reason) in self.state.take_ended() {
                self.events.push_back(NodeEvent::Expired {
                    index,
                    client,
                    reason,
                });
            }
            match &entry.payload {
                Payload::Noop => {}
                Payload::Register { .. } => self.answer_registration(index),
                Payload::Client(request) => self.answer_waiter(request, outcome, &result),
            }
            self.events.push_back(NodeEvent::Applied {
                index,
                term: entry.term,
                payload: entry.payload,
                outcome,
                result,
                digest: self.state.digest(),
                table: self.state.table_size(),
            });
            self.maybe_snapshot(now, index, entry.term, entry.stamp_us);
        }
        self.serve_reads();
    }

    /// If this leader appended the register entry at `index` and its client still waits,
    /// answer with the new session's id.
    fn answer_registration(&mut self, index: crate::ids::LogIndex) {
        if self.role != Role::Leader {
            return;
        }
        let Some(waiter) = self.registering.remove(&index) else {
            return;
        };
        self.send(
            Addr::Client(waiter.client_no),
            Message::RegisterReply {
                attempt: waiter.attempt,
                incarnation: waiter.incarnation,
                reply: RegisterAnswer::Registered {
                    client: ClientId(index.0),
                },
            },
        );
    }

    /// If this leader appended `request` and the client still waits for it, answer now: with
    /// its result, its cached result, or a refusal (when the session table had already
    /// forgotten it, or it took effect as a different operation).
    fn answer_waiter(&mut self, request: &Request, outcome: Outcome, result: &crate::kv::OpResult) {
        if self.role != Role::Leader {
            return;
        }
        let Some(waiter) = self.waiting.remove(&(request.client, request.seq)) else {
            return;
        };
        let reply = match outcome {
            Outcome::SessionExpired => Reply::SessionExpired,
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

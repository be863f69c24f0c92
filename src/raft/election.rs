//! Leader election (Raft §5.2, with the up-to-date check of §5.4.1).

use super::NodeEvent;
use super::{Mutation, Progress, RaftNode, Role, Timer};
use crate::ids::{LogIndex, NodeId, SimTime, Term};
use crate::message::{Addr, Message};
use crate::message::{Entry, Payload};

impl RaftNode {
    /// The election timer fired: become a candidate for the next term and ask for votes.
    pub(super) fn start_election(&mut self, now: SimTime) {
        if self.role == Role::Leader {
            self.disarm(Timer::Election);
            return;
        }
        let me = self.config.id;
        self.durable.current_term = Term(self.durable.current_term.0 + 1);
        self.durable.voted_for = Some(me);
        self.role = Role::Candidate;
        self.leader_hint = None;
        self.votes = 1 << me.0;
        self.reset_election_timer(now);
        if self.has_majority_votes() {
            self.become_leader(now);
            return;
        }
        let term = self.durable.current_term;
        let last_log_index = self.durable.log.last_index();
        let last_log_term = self.durable.log.last_term();
        for peer in self.config.peers() {
            self.send(
                Addr::Node(peer),
                Message::RequestVote {
                    term,
                    last_log_index,
                    last_log_term,
                },
            );
        }
    }

    pub(super) fn handle_request_vote(
        &mut self,
        now: SimTime,
        candidate: NodeId,
        term: Term,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) {
        if term > self.durable.current_term && self.ignores_votes(now) {
            // Under a lease: this node may be inside a leader's lease, so it neither adopts
            // the newer term nor votes (Raft dissertation §4.2.3).
            let term = self.durable.current_term;
            let reply = Message::VoteReply {
                term,
                granted: false,
            };
            self.send(Addr::Node(candidate), reply);
            return;
        }
        self.observe_term(now, term, None);
        let current = self.durable.current_term;
        let granted = term == current
            && self.durable.voted_for.is_none_or(|v| v == candidate)
            && (self.config.mutations.has(Mutation::VoteIgnoresLog)
                || self
                    .durable
                    .log
                    .is_up_to_date(last_log_index, last_log_term));
        if granted {
            self.durable.voted_for = Some(candidate);
            self.fresh_vote = Some(candidate);
            self.reset_election_timer(now);
        }
        self.send(
            Addr::Node(candidate),
            Message::VoteReply {
                term: current,
                granted,
            },
        );
    }

    pub(super) fn handle_vote_reply(
        &mut self,
        now: SimTime,
        voter: NodeId,
        term: Term,
        granted: bool,
    ) {
        self.observe_term(now, term, None);
        if self.role != Role::Candidate || term != self.durable.current_term || !granted {
            return;
        }
        self.votes |= 1 << voter.0;
        if self.has_majority_votes() {
            self.become_leader(now);
        }
    }

    fn has_majority_votes(&self) -> bool {
        self.votes.count_ones() as usize >= self.config.majority()
    }

    /// Won the election: reset follower progress, append the term's no-op (Raft §8) and
    /// replicate it at once.
    fn become_leader(&mut self, now: SimTime) {
        let me = self.config.id;
        let term = self.durable.current_term;
        self.role = Role::Leader;
        self.leader_hint = Some(me);
        self.votes = 0;
        self.waiting.clear();
        self.registering.clear();
        self.reads_became_leader();
        self.stamp_base_us = self.durable.log.last_stamp_us();
        self.elected_at = now;
        self.state.leader_changed();
        self.disarm(Timer::Election);
        self.arm(Timer::Heartbeat, now.plus_us(self.config.heartbeat_us));
        let next_index = self.durable.log.last_index().next();
        for progress in &mut self.progress {
            *progress = Progress {
                next_index,
                match_index: LogIndex(0),
                sent_up_to: LogIndex(0),
                installing: None,
            };
        }
        self.events.push_back(NodeEvent::BecameLeader { term });
        let stamp_us = self.stamp_us(now);
        self.durable.log.push(Entry {
            term,
            payload: Payload::Noop,
            stamp_us,
        });
        self.broadcast_append();
        self.advance_commit(now);
    }
}

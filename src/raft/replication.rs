//! Log replication and commitment (Raft §5.3, §5.4.2).

use super::{Entry, MAX_ENTRIES_PER_APPEND, Mutation, RaftNode, Role, Timer};
use crate::ids::{LogIndex, NodeId, SimTime, Term};
use crate::message::{Addr, Message};

impl RaftNode {
    /// Leader: send every follower what it is missing (or a heartbeat).
    pub(super) fn broadcast_append(&mut self) {
        for peer in self.config.peers() {
            self.send_append(peer);
        }
    }

    /// Leader: send `peer` the entries from its `next_index` on, at most
    /// [`MAX_ENTRIES_PER_APPEND`] of them; an empty message is a heartbeat.
    pub(super) fn send_append(&mut self, peer: NodeId) {
        debug_assert_eq!(self.role, Role::Leader);
        let log = &self.durable.log;
        let last = log.last_index();
        if self.progress[peer.index()].next_index <= log.base().index {
            self.send_snapshot(peer);
            return;
        }
        let progress = &mut self.progress[peer.index()];
        let next = progress.next_index;
        assert!(
            next.0 >= 1 && next <= last.next(),
            "node {} term {}: next_index {} for {} outside 1..={}",
            self.config.id,
            self.durable.current_term,
            next,
            peer,
            last.next()
        );
        let prev_log_index = next.prev();
        let prev_log_term = log
            .term_at(prev_log_index)
            .expect("prev_log_index is within the leader's log");
        let upto = LogIndex(last.0.min(next.0 + MAX_ENTRIES_PER_APPEND - 1));
        let entries = log.slice(next, upto).to_vec();
        if !entries.is_empty() {
            progress.sent_up_to = progress.sent_up_to.max(upto);
        }
        let msg = Message::AppendEntries {
            term: self.durable.current_term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
        };
        self.send(Addr::Node(peer), msg);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_append_entries(
        &mut self,
        now: SimTime,
        leader: NodeId,
        term: Term,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        mut entries: Vec<Entry>,
        leader_commit: LogIndex,
    ) {
        self.observe_term(now, term, Some(leader));
        let current = self.durable.current_term;
        if term < current {
            self.reply_append(
                leader,
                false,
                LogIndex(0),
                self.durable.log.last_index().next(),
            );
            return;
        }
        self.heard_from_leader(now, leader, "AppendEntries");

        let log = &mut self.durable.log;
        let base = log.base();
        let (prev_log_index, prev_log_term) = if prev_log_index < base.index {
            // Entries up to the snapshot are committed, so they match the leader's: skip them.
            let skip = base.index.0 - prev_log_index.0;
            if skip >= entries.len() as u64 {
                let match_index = LogIndex(prev_log_index.0 + entries.len() as u64);
                self.reply_append(leader, true, match_index, LogIndex(0));
                return;
            }
            entries.drain(..skip as usize);
            (base.index, base.term)
        } else {
            (prev_log_index, prev_log_term)
        };
        let check = !self.config.mutations.has(Mutation::SkipConsistencyCheck);
        match log.term_at(prev_log_index) {
            None => {
                let hint = log.last_index().next();
                self.reply_append(leader, false, LogIndex(0), hint);
                return;
            }
            Some(t) if check && t != prev_log_term => {
                let hint = log.first_index_of_term_at(prev_log_index);
                self.reply_append(leader, false, LogIndex(0), hint);
                return;
            }
            _ => {}
        }

        // Append what is new; truncate only where an existing entry conflicts (§5.3), never
        // because a (possibly stale, reordered) message is shorter than the log.
        let acked_entries = !entries.is_empty();
        let mut first_written = None;
        let mut index = prev_log_index;
        for entry in entries {
            index = index.next();
            match log.term_at(index) {
                Some(existing) if existing == entry.term => continue,
                Some(_) if self.config.mutations.has(Mutation::KeepConflictingSuffix) => {
                    log.push(entry);
                    first_written = first_written.or(Some(index));
                }
                Some(_) => {
                    assert!(
                        index > self.commit_index,
                        "node {} term {}: conflict at committed index {} (commit {})",
                        self.config.id,
                        current,
                        index,
                        self.commit_index
                    );
                    log.truncate_from(index);
                    log.push(entry);
                    first_written = first_written.or(Some(index));
                }
                None => {
                    log.push(entry);
                    first_written = first_written.or(Some(index));
                }
            }
        }
        let match_index = index;
        // Only what this append verified (its last entry) may be committed: the log may hold
        // a stale suffix past it.
        let verified = if self.config.mutations.is_empty() {
            match_index
        } else {
            self.mutated_append(match_index, first_written)
        };
        let new_commit = leader_commit.min(verified);
        if new_commit > self.commit_index {
            self.commit_index = new_commit;
            self.arm(Timer::Apply, now);
        }
        if acked_entries {
            self.fresh_ack = Some(match_index);
        }
        self.reply_append(leader, true, match_index, LogIndex(0));
    }

    /// `leader` sent `rpc` for this node's current term, so it is the valid leader: a
    /// candidate steps down, everyone resets its election timer and follows it.
    pub(super) fn heard_from_leader(&mut self, now: SimTime, leader: NodeId, rpc: &str) {
        assert!(
            self.role != Role::Leader,
            "node {} term {}: {rpc} from {} for its own leadership term",
            self.config.id,
            self.durable.current_term,
            leader
        );
        if self.role == Role::Candidate {
            self.become_follower(now);
        }
        self.leader_hint = Some(leader);
        self.reset_election_timer(now);
        self.reads_heard_leader(now);
    }

    /// The deliberate bugs of an append (kept off the path of an unmutated node): an
    /// acknowledgement before the entries written from `first_written` are durable, and a
    /// commit index taken past `match_index`. Returns the index the follower may commit to.
    #[cold]
    fn mutated_append(
        &mut self,
        match_index: LogIndex,
        first_written: Option<LogIndex>,
    ) -> LogIndex {
        let mutations = self.config.mutations;
        if mutations.has(Mutation::AckBeforePersist) && self.unsynced_from.is_none() {
            self.unsynced_from = first_written;
        }
        if mutations.has(Mutation::CommitPastVerified) {
            self.durable.log.last_index()
        } else {
            match_index
        }
    }

    fn reply_append(
        &mut self,
        leader: NodeId,
        success: bool,
        match_index: LogIndex,
        hint: LogIndex,
    ) {
        let term = self.durable.current_term;
        self.send(
            Addr::Node(leader),
            Message::AppendReply {
                term,
                success,
                match_index,
                hint,
            },
        );
    }

    pub(super) fn handle_append_reply(
        &mut self,
        now: SimTime,
        peer: NodeId,
        term: Term,
        success: bool,
        match_index: LogIndex,
        hint: LogIndex,
    ) {
        self.observe_term(now, term, None);
        if self.role != Role::Leader || term != self.durable.current_term {
            return;
        }
        let last = self.durable.log.last_index();
        let progress = &mut self.progress[peer.index()];
        if success {
            assert!(
                match_index <= last,
                "node {} term {}: {} acknowledged index {} beyond the leader's log end {}",
                self.config.id,
                term,
                peer,
                match_index,
                last
            );
            if match_index <= progress.match_index {
                return; // stale or duplicated reply: nothing new
            }
            progress.match_index = match_index;
            if self.config.mutations.has(Mutation::MatchIndexToLogEnd) {
                progress.match_index = last;
            }
            progress.next_index = progress.next_index.max(match_index.next());
            let behind = progress.next_index <= last;
            self.advance_commit(now);
            if behind {
                self.send_append(peer);
            }
        } else {
            let lower = LogIndex(progress.next_index.0.saturating_sub(1).min(hint.0));
            progress.next_index = lower.max(progress.match_index.next()).max(LogIndex(1));
            self.send_append(peer);
        }
    }

    /// Leader: commit the highest index held by a majority whose entry is from the current
    /// term (§5.4.2: entries of earlier terms commit only indirectly).
    pub(super) fn advance_commit(&mut self, now: SimTime) {
        let me = self.config.id;
        let mut matches = [0u64; 9];
        let n = usize::from(self.config.cluster_size);
        for (i, slot) in matches.iter_mut().take(n).enumerate() {
            *slot = if i == me.index() {
                self.durable.log.last_index().0
            } else {
                self.progress[i].match_index.0
            };
        }
        let matches = &mut matches[..n];
        matches.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = LogIndex(matches[self.config.majority() - 1]);
        if candidate > self.commit_index
            && self.durable.log.term_at(candidate) == Some(self.durable.current_term)
        {
            self.commit_index = candidate;
            self.arm(Timer::Apply, now);
        }
    }
}

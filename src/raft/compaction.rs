//! Snapshots and compaction (Raft §7): taking a snapshot as entries apply, dropping the log
//! it covers, and sending it to a follower that needs compacted entries (InstallSnapshot, in
//! chunks, Figure 13).

use std::sync::Arc;

use super::{LogBase, NodeEvent, RaftNode, Role, Snapshot, Timer};
use crate::ids::{LogIndex, NodeId, SimTime, Term};
use crate::kv::{Dedup, StateMachine};
use crate::message::{Addr, Chunk, Install, Message};

/// A follower's snapshot arriving in chunks (volatile: a crash drops it, and the leader
/// starts over from byte 0).
#[derive(Debug)]
pub(super) struct Incoming {
    pub(super) from: NodeId,
    pub(super) base: LogBase,
    bytes: Vec<u8>,
}

/// Under the flawed `snapshot-split-index`: the state as of the snapshot's index, waiting
/// for the next apply to take the session table from.
#[derive(Debug)]
pub(super) struct SplitSnapshot {
    base: LogBase,
    state: StateMachine,
}

impl RaftNode {
    /// After applying the entry at `index` (of `term`, stamped `stamp_us`): take a snapshot
    /// if `snapshot_every` entries were applied since the last one, and arm the compaction.
    pub(super) fn maybe_snapshot(
        &mut self,
        now: SimTime,
        index: LogIndex,
        term: Term,
        stamp_us: u64,
    ) {
        if let Some(split) = self.split_snapshot.take() {
            let mut state = split.state;
            state.adopt_sessions_of(&self.state);
            self.store_snapshot(now, Snapshot::new(split.base, state));
        }
        let every = self.config.snapshot_every;
        if every == 0 || index.0 < self.durable.snapshot_index().0 + every {
            return;
        }
        let base = LogBase {
            index,
            term,
            stamp_us,
        };
        if self.state.sessions().dedup() == Dedup::SnapshotSplitIndex {
            self.split_snapshot = Some(SplitSnapshot {
                base,
                state: self.state.clone(),
            });
            return;
        }
        let snapshot = Snapshot::new(base, self.state.snapshot_copy());
        self.store_snapshot(now, snapshot);
    }

    fn store_snapshot(&mut self, now: SimTime, snapshot: Snapshot) {
        let base = snapshot.base;
        let digest = snapshot.state.digest();
        self.durable.snapshot = Some(Arc::new(snapshot));
        self.events.push_back(NodeEvent::Snapshot {
            index: base.index,
            term: base.term,
            digest,
        });
        self.arm(Timer::Compact, now);
    }

    /// Leader: send `peer` the next chunk of the snapshot (from where it stands in it, or
    /// from byte 0 of a newer snapshot).
    pub(super) fn send_snapshot(&mut self, peer: NodeId) {
        debug_assert_eq!(self.role, Role::Leader);
        let snapshot = Arc::clone(
            self.durable
                .snapshot
                .as_ref()
                .expect("a leader whose log is compacted has a snapshot"),
        );
        let index = snapshot.base.index;
        let progress = &mut self.progress[peer.index()];
        let offset = match progress.installing {
            Some((sending, received)) if sending == index => received,
            _ => 0,
        };
        progress.installing = Some((index, offset));
        let bytes = Arc::clone(snapshot.bytes());
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(self.config.snapshot_chunk_bytes.max(1) as usize);
        let chunk = Chunk::new(bytes, start, end);
        let done = start.saturating_add(chunk.len()) >= snapshot.bytes().len();
        let msg = Message::InstallSnapshot(Box::new(Install {
            term: self.durable.current_term,
            base: snapshot.base,
            offset,
            chunk,
            done,
        }));
        self.send(Addr::Node(peer), msg);
    }

    /// Follower: take one chunk of a leader's snapshot; on the last one, replace the state
    /// machine with it, keep the log after it only where the log agrees with it, and
    /// acknowledge.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_install_snapshot(
        &mut self,
        now: SimTime,
        leader: NodeId,
        term: Term,
        base: LogBase,
        offset: u64,
        chunk: Chunk,
        done: bool,
    ) {
        self.observe_term(now, term, Some(leader));
        let current = self.durable.current_term;
        if term < current {
            self.reply_install(leader, base.index, 0, false);
            return;
        }
        self.heard_from_leader(now, leader, "InstallSnapshot");
        if self.commit_index >= base.index {
            // Everything the snapshot covers is committed here already.
            self.install = None;
            self.reply_install(leader, base.index, 0, true);
            return;
        }
        let held = match &mut self.install {
            Some(incoming) if incoming.base == base && incoming.bytes.len() as u64 == offset => {
                incoming.bytes.extend_from_slice(chunk.as_bytes());
                incoming.bytes.len() as u64
            }
            Some(incoming) if incoming.base == base && offset != 0 => {
                // Out of order (a lost or duplicated chunk): say where to go on from.
                let held = incoming.bytes.len() as u64;
                self.reply_install(leader, base.index, held, false);
                return;
            }
            _ if offset == 0 => {
                self.install = Some(Incoming {
                    from: leader,
                    base,
                    bytes: chunk.as_bytes().to_vec(),
                });
                chunk.len() as u64
            }
            _ => {
                self.reply_install(leader, base.index, 0, false);
                return;
            }
        };
        if !done {
            self.reply_install(leader, base.index, held, false);
            return;
        }
        let incoming = self.install.take().expect("held above");
        let snapshot = match Snapshot::from_bytes(&incoming.bytes) {
            Ok(snapshot) if snapshot.base == base => snapshot,
            // Unreadable (only a real network's corruption can do this): start over.
            _ => {
                self.reply_install(leader, base.index, 0, false);
                return;
            }
        };
        self.install_snapshot(leader, snapshot);
        self.reply_install(leader, base.index, held, true);
    }

    /// Replace the state machine with `snapshot` and make the log start after it (keeping the
    /// entries after it if the log holds its last entry, Figure 13 step 6).
    fn install_snapshot(&mut self, leader: NodeId, snapshot: Snapshot) {
        let base = snapshot.base;
        let log = &mut self.durable.log;
        if log.base().index < base.index && log.term_at(base.index) == Some(base.term) {
            log.compact_to(base.index);
        } else {
            log.reset_to(base);
        }
        let mut state = snapshot.state.clone();
        if self.state.sessions().dedup() == Dedup::InstallKeepsTable {
            state.adopt_sessions_of(&self.state);
        }
        self.state = state;
        self.split_snapshot = None;
        self.last_applied = base.index;
        self.commit_index = self.commit_index.max(base.index);
        self.durable.snapshot = Some(Arc::new(snapshot));
        self.events.push_back(NodeEvent::Installed {
            from: leader,
            index: base.index,
            term: base.term,
            digest: self.state.digest(),
        });
    }

    fn reply_install(&mut self, leader: NodeId, index: LogIndex, received: u64, done: bool) {
        let term = self.durable.current_term;
        self.send(
            Addr::Node(leader),
            Message::InstallReply {
                term,
                index,
                received,
                done,
            },
        );
    }

    /// Leader: a follower holds `received` bytes of the snapshot up to `index`, or installed
    /// it (`done`): go on with the next chunk, or with the entries after the snapshot.
    pub(super) fn handle_install_reply(
        &mut self,
        now: SimTime,
        peer: NodeId,
        term: Term,
        index: LogIndex,
        received: u64,
        done: bool,
    ) {
        self.observe_term(now, term, None);
        if self.role != Role::Leader || term != self.durable.current_term {
            return;
        }
        let last = self.durable.log.last_index();
        let progress = &mut self.progress[peer.index()];
        if done {
            if progress.installing.is_some_and(|(i, _)| i == index) {
                progress.installing = None;
            }
            if index <= progress.match_index {
                return; // stale or duplicated
            }
            progress.match_index = index;
            progress.next_index = progress.next_index.max(index.next());
            let behind = progress.next_index <= last;
            self.advance_commit(now);
            if behind {
                self.send_append(peer);
            }
            return;
        }
        match progress.installing {
            Some((sending, held)) if sending == index && received != held => {
                progress.installing = Some((index, received));
                self.send_snapshot(peer);
            }
            _ => {}
        }
    }
}

//! What the write-ahead log holds, as the term of each index: enough to tell, at each
//! persist, where the node's log first differs from it without reading the disk or
//! comparing entries.

use std::collections::VecDeque;

use crate::ids::{LogIndex, Term};
use crate::raft::Log;

/// The terms of the entries on disk after `floor` (what a snapshot covers is not tracked).
#[derive(Debug, Default)]
pub(super) struct Mirror {
    floor: LogIndex,
    terms: VecDeque<Term>,
}

impl Mirror {
    /// The mirror of a log just read back (or just written whole).
    pub(super) fn of(log: &Log) -> Mirror {
        let base = log.base().index;
        Mirror {
            floor: base,
            terms: log
                .slice(base.next(), log.last_index())
                .iter()
                .map(|e| e.term)
                .collect(),
        }
    }

    pub(super) fn last_index(&self) -> LogIndex {
        LogIndex(self.floor.0 + self.terms.len() as u64)
    }

    fn term_at(&self, index: LogIndex) -> Option<Term> {
        let offset = index.0.checked_sub(self.floor.0 + 1)?;
        self.terms.get(usize::try_from(offset).ok()?).copied()
    }

    /// Stop tracking what is at or below `base` (a snapshot covers it now). When `base` is
    /// past the end, what follows it will be appended from `base + 1`.
    pub(super) fn rebase(&mut self, base: LogIndex) {
        if base <= self.floor {
            return;
        }
        let drop = (base.0 - self.floor.0).min(self.terms.len() as u64);
        self.terms.drain(..drop as usize);
        self.floor = base;
    }

    /// The first index at which `log` differs from the disk: every entry before it is on
    /// disk already, every entry of `log` from it on must be written (and anything on disk
    /// from it on removed first). Walks back from the shorter end: by Raft's Log Matching
    /// property, the first index (from the end) where the terms agree is where everything
    /// before agrees too. Indexes at or below the log's base are never compared (a snapshot
    /// covers them); call [`Mirror::rebase`] first.
    pub(super) fn first_difference(&self, log: &Log) -> LogIndex {
        let floor = self.floor.max(log.base().index);
        let mut index = self.last_index().min(log.last_index());
        while index > floor {
            if self.term_at(index) == log.term_at(index) {
                return index.next();
            }
            index = index.prev();
        }
        floor.next()
    }

    /// Records of a truncate from `from` were written.
    pub(super) fn truncate_from(&mut self, from: LogIndex) {
        let keep = from.0.saturating_sub(self.floor.0 + 1);
        self.terms.truncate(keep as usize);
    }

    /// The record of an entry of `term` appended at `index` was written.
    pub(super) fn push(&mut self, index: LogIndex, term: Term) {
        debug_assert_eq!(index, self.last_index().next(), "appends extend the log");
        self.terms.push_back(term);
    }
}

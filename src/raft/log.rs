//! The replicated log: entries at indexes 1.., with the term each was created in.

use serde::{Deserialize, Serialize};

use crate::ids::{LogIndex, Term};
use crate::message::Entry;

/// A log held in memory. Index `i` lives at `entries[i - 1]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Log {
    entries: Vec<Entry>,
    /// Bumped at every change, so a driver can tell when the log must be persisted again.
    #[serde(skip)]
    version: u64,
}

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    /// Index of the last entry, 0 when empty.
    #[inline]
    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.entries.len() as u64)
    }

    /// Term of the last entry, 0 when empty.
    #[inline]
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(Term(0), |e| e.term)
    }

    /// Stamp of the last entry, 0 when empty.
    #[inline]
    pub fn last_stamp_us(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.stamp_us)
    }

    /// Term of the entry at `index`; `Some(Term(0))` for index 0, `None` past the end.
    #[inline]
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index.0 == 0 {
            return Some(Term(0));
        }
        self.entries.get(index.0 as usize - 1).map(|e| e.term)
    }

    /// The entry at `index` (1-based), if present.
    #[inline]
    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        if index.0 == 0 {
            return None;
        }
        self.entries.get(index.0 as usize - 1)
    }

    /// Append one entry at `last_index() + 1` and return its index.
    pub fn push(&mut self, entry: Entry) -> LogIndex {
        self.entries.push(entry);
        self.version += 1;
        self.last_index()
    }

    /// Remove every entry at `from` and after.
    pub fn truncate_from(&mut self, from: LogIndex) {
        assert!(
            from.0 >= 1,
            "log: truncate_from(0) would remove the empty prefix"
        );
        self.entries.truncate(from.0 as usize - 1);
        self.version += 1;
    }

    /// Changes so far (in this process): equal versions, equal logs.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Entries from `from` up to `to`, both inclusive, clamped to the log.
    pub fn slice(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        let start = (from.0.max(1) - 1) as usize;
        let end = (to.0 as usize).min(self.entries.len());
        if start >= end {
            return &[];
        }
        &self.entries[start..end]
    }

    /// The first index of the term of the entry at `index` (for a follower's conflict hint):
    /// walks back over entries of the same term.
    pub fn first_index_of_term_at(&self, index: LogIndex) -> LogIndex {
        let Some(term) = self.term_at(index) else {
            return self.last_index().next();
        };
        let mut first = index;
        while first.0 > 1 && self.term_at(first.prev()) == Some(term) {
            first = first.prev();
        }
        first
    }

    /// Raft §5.4.1: is a log ending at (`last_term`, `last_index`) at least as up-to-date as
    /// this one?
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

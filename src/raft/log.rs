//! The replicated log: entries at indexes 1.., with the term each was created in. A log may
//! start after a snapshot: entries up to its base index (the snapshot's last included index)
//! are gone, and only the base's term and stamp are kept (Raft §7).

use serde::{Deserialize, Serialize};

use crate::ids::{LogIndex, Term};
use crate::message::Entry;

/// Where a compacted log starts: the last index, term and stamp a snapshot covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogBase {
    pub index: LogIndex,
    pub term: Term,
    pub stamp_us: u64,
}

/// A log held in memory. Index `i` (after the base) lives at `entries[i - base.index - 1]`.
/// Serialized as the plain list of entries while nothing was compacted (the v1 state file).
#[derive(Clone, Debug, Default)]
pub struct Log {
    base: LogBase,
    entries: Vec<Entry>,
    /// Bumped at every change, so a driver can tell when the log must be persisted again.
    version: u64,
}

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    /// What a compaction left: the last index, term and stamp before the first entry held.
    #[inline]
    pub fn base(&self) -> LogBase {
        self.base
    }

    /// The first index held, `base + 1` (past the end when the log holds nothing).
    #[inline]
    pub fn first_index(&self) -> LogIndex {
        self.base.index.next()
    }

    /// Position of `index` in `entries`, if it is after the base and held.
    #[inline]
    fn slot(&self, index: LogIndex) -> Option<usize> {
        let offset = index.0.checked_sub(self.base.index.0 + 1)?;
        let slot = usize::try_from(offset).ok()?;
        (slot < self.entries.len()).then_some(slot)
    }

    /// Index of the last entry (the base's when none is held; 0 for an empty log).
    #[inline]
    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.base.index.0 + self.entries.len() as u64)
    }

    /// Term of the last entry (the base's when none is held; 0 for an empty log).
    #[inline]
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.base.term, |e| e.term)
    }

    /// Stamp of the last entry (the base's when none is held; 0 for an empty log).
    #[inline]
    pub fn last_stamp_us(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.base.stamp_us, |e| e.stamp_us)
    }

    /// Term of the entry at `index`: `Some(Term(0))` for index 0, the base's term at the base
    /// index, `None` past the end or inside the compacted prefix.
    #[inline]
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index.0 == 0 {
            return Some(Term(0));
        }
        if index == self.base.index {
            return Some(self.base.term);
        }
        self.slot(index).map(|i| self.entries[i].term)
    }

    /// The entry at `index` (1-based), if it is held (not compacted, not past the end).
    #[inline]
    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        self.slot(index).map(|i| &self.entries[i])
    }

    /// Append one entry at `last_index() + 1` and return its index.
    pub fn push(&mut self, entry: Entry) -> LogIndex {
        self.entries.push(entry);
        self.version += 1;
        self.last_index()
    }

    /// Remove every entry at `from` and after. `from` must be past the base: a compacted
    /// entry is committed, and committed entries are never removed.
    pub fn truncate_from(&mut self, from: LogIndex) {
        assert!(
            from > self.base.index,
            "log: truncate_from({from}) at or below the compacted base {}",
            self.base.index
        );
        self.entries
            .truncate((from.0 - self.base.index.0 - 1) as usize);
        self.version += 1;
    }

    /// Drop every entry up to `upto` (which must be held or be the base), keeping its term and
    /// stamp as the new base: what a node does once a snapshot covers them.
    pub fn compact_to(&mut self, upto: LogIndex) {
        if upto <= self.base.index {
            return;
        }
        let entry = self.get(upto).unwrap_or_else(|| {
            panic!("log: compact_to({upto}) past the end {}", self.last_index())
        });
        let base = LogBase {
            index: upto,
            term: entry.term,
            stamp_us: entry.stamp_us,
        };
        let drop = (upto.0 - self.base.index.0) as usize;
        self.entries.drain(..drop);
        self.base = base;
        self.version += 1;
    }

    /// Replace the whole log with an empty one starting after `base` (a follower installing
    /// a snapshot whose last index its log does not match).
    pub fn reset_to(&mut self, base: LogBase) {
        self.entries.clear();
        self.base = base;
        self.version += 1;
    }

    /// Changes so far (in this process): equal versions, equal logs.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Entries from `from` up to `to`, both inclusive, clamped to what the log holds.
    pub fn slice(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        let first = self.first_index().0;
        let start = (from.0.max(first) - first) as usize;
        let end = ((to.0 + 1).saturating_sub(first) as usize).min(self.entries.len());
        if start >= end {
            return &[];
        }
        &self.entries[start..end]
    }

    /// The first index of the term of the entry at `index` (for a follower's conflict hint):
    /// walks back over entries of the same term, never into the compacted prefix.
    pub fn first_index_of_term_at(&self, index: LogIndex) -> LogIndex {
        let Some(term) = self.term_at(index) else {
            return self.last_index().next();
        };
        let mut first = index;
        while first.0 > 1 && first > self.first_index() && self.term_at(first.prev()) == Some(term)
        {
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

/// A log that was never compacted is written as the plain list of its entries (the state
/// file format before compaction existed); a compacted one as `{ "base": …, "entries": … }`.
impl Serialize for Log {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.base == LogBase::default() {
            self.entries.serialize(serializer)
        } else {
            #[derive(Serialize)]
            struct Compacted<'a> {
                base: LogBase,
                entries: &'a [Entry],
            }
            Compacted {
                base: self.base,
                entries: &self.entries,
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Log {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Log, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Plain(Vec<Entry>),
            Compacted { base: LogBase, entries: Vec<Entry> },
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::Plain(entries) => Log {
                entries,
                ..Log::default()
            },
            Form::Compacted { base, entries } => Log {
                base,
                entries,
                version: 0,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Payload;

    fn entry(term: u64, stamp_us: u64) -> Entry {
        Entry {
            term: Term(term),
            payload: Payload::Noop,
            stamp_us,
        }
    }

    /// After compaction the log answers for the base and what follows it, never for the
    /// compacted prefix, and round-trips through serde in both forms.
    #[test]
    fn a_compacted_log_keeps_its_base() {
        let mut log = Log::new();
        for (t, s) in [(1, 10), (1, 20), (2, 30), (2, 40), (3, 50)] {
            log.push(entry(t, s));
        }
        let plain = serde_json::to_string(&log).unwrap();
        assert!(plain.starts_with('['), "{plain}");
        log.compact_to(LogIndex(3));
        assert_eq!(log.first_index(), LogIndex(4));
        assert_eq!(log.last_index(), LogIndex(5));
        assert_eq!(log.term_at(LogIndex(3)), Some(Term(2)));
        assert_eq!(log.term_at(LogIndex(2)), None, "compacted");
        assert!(log.get(LogIndex(3)).is_none());
        assert_eq!(log.get(LogIndex(4)).unwrap().stamp_us, 40);
        assert_eq!(log.slice(LogIndex(1), LogIndex(9)).len(), 2);
        assert_eq!(log.first_index_of_term_at(LogIndex(4)), LogIndex(4));
        log.compact_to(LogIndex(5));
        assert_eq!(log.last_index(), LogIndex(5));
        assert_eq!(log.last_term(), Term(3));
        assert_eq!(log.last_stamp_us(), 50);
        log.push(entry(4, 60));
        let json = serde_json::to_string(&log).unwrap();
        let back: Log = serde_json::from_str(&json).unwrap();
        assert_eq!(back.base(), log.base());
        assert_eq!(back.last_index(), LogIndex(6));
        let v1: Log = serde_json::from_str(&plain).unwrap();
        assert_eq!(v1.last_index(), LogIndex(5));
    }
}

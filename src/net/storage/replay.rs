//! Rebuilding the log from its snapshot and the records of its segments.
//!
//! Replay starts from the snapshot's base (or an empty log). An append at or below the base
//! is skipped (the snapshot covers it: segments before the snapshot may be gone, and those
//! left may still begin below it); every other append must extend the log by one. A
//! truncate removes what follows the cut (at or below the base: everything after the
//! base). Anything else (a gap, an overlap, a cut past the end, and at the end terms going
//! backwards) is refused: no sequence of writes this storage makes produces it.

use crate::ids::LogIndex;
use crate::message::Entry;
use crate::raft::{Log, LogBase};

use super::record::Record;

/// The log being rebuilt.
#[derive(Debug)]
pub(super) struct Replay {
    base: LogBase,
    entries: Vec<Entry>,
}

impl Replay {
    /// Start after `base` (the snapshot's, or the default for none).
    pub(super) fn new(base: LogBase) -> Replay {
        Replay {
            base,
            entries: Vec::new(),
        }
    }

    fn last_index(&self) -> LogIndex {
        LogIndex(self.base.index.0 + self.entries.len() as u64)
    }

    /// Apply one record; `Err` says why it cannot follow what came before.
    pub(super) fn apply(&mut self, record: Record) -> Result<(), String> {
        match record {
            Record::Append { index, entry } => {
                if index <= self.base.index {
                    return Ok(());
                }
                let last = self.last_index();
                if index != last.next() {
                    return Err(format!(
                        "an append at index {index} where the log ends at index {last}"
                    ));
                }
                self.entries.push(entry);
                Ok(())
            }
            Record::Truncate { from } => {
                let last = self.last_index();
                if from > last.next() {
                    return Err(format!(
                        "a truncate from index {from} where the log ends at index {last}"
                    ));
                }
                let keep = from.0.saturating_sub(self.base.index.0 + 1);
                self.entries.truncate(keep as usize);
                Ok(())
            }
        }
    }

    /// The rebuilt log, or why it is not one Raft could have written: terms must never go
    /// down along it (entries of an older history are in the records, but the truncates
    /// after them must have removed them by the end).
    pub(super) fn finish(self) -> Result<Log, String> {
        let mut log = Log::new();
        log.reset_to(self.base);
        let mut term = self.base.term;
        for entry in self.entries {
            if entry.term < term {
                return Err(format!(
                    "the log read back has an entry of term {} at index {} after one of term \
                     {term}",
                    entry.term,
                    log.last_index().next()
                ));
            }
            term = entry.term;
            log.push(entry);
        }
        Ok(log)
    }
}

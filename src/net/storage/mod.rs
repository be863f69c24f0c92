//! A real node's durable state (term, vote, log, snapshot) in its data directory, as a
//! write-ahead log.
//!
//! ```text
//! DATA_DIR/
//!   meta.json              node id, cluster size, session rules (written once, checked at every start)
//!   vote.json              current term and vote (replaced atomically when either changes)
//!   snapshot-<index>.json  the newest snapshot (replaced atomically; the older one removed after)
//!   log-<first>.wal        log segments: checksummed append and truncate records
//! ```
//!
//! A driver calls [`Storage::open`] once, starts its node from the [`Durable`] it returns,
//! and calls [`Storage::persist`] after every step in which the node's
//! [`durable_version`](crate::raft::RaftNode::durable_version) changed, before sending any
//! message of that step (Raft's persist-before-answer). `persist` writes only what changed
//! since the last call: the vote file if the term or vote moved, a truncate record where the
//! log was cut, an append record per new entry, and all those records with one fsync (group
//! commit). A new snapshot is written to its file, and segments it wholly covers are
//! removed, so disk use stays bounded by the snapshot interval.
//!
//! Order of writes within one `persist`, so that a crash at any instant leaves a state the
//! node was in, or one a step of it was about to reach: the vote first (a term is never
//! behind the entries of its log), then the log records, then the snapshot file (a snapshot
//! that replaced a conflicting log is written after the records that cut that log) — except
//! when the log now starts past everything on disk (a snapshot installed from the leader),
//! where the snapshot comes first, since the records after it need it.
//!
//! [`Storage::open`] replays the newest snapshot and the segments (see [`replay`]). A
//! damaged last record of the last segment is a torn write (a crash mid-write, never
//! acknowledged): it is cut off the file, with a warning. Any other damage is refused with
//! the file and byte offset, and nothing on disk is changed. A format-1 directory (one
//! `state.json`) is migrated.

mod dir;
mod error;
mod legacy;
mod meta;
mod mirror;
mod record;
mod replay;
mod segment;
mod snapshots;
mod vote;

#[cfg(test)]
mod tests;

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;

pub use error::StorageError;
pub use meta::{Meta, Rules};

use dir::{DataDir, TEMP_SUFFIX};
use mirror::Mirror;
use replay::Replay;
use segment::{Active, Segment};
use vote::{VOTE_FILE, Vote};

use crate::ids::LogIndex;
use crate::raft::{Durable, Log, LogBase, Snapshot};

/// One node's data directory, open for writing.
#[derive(Debug)]
pub struct Storage {
    dir: DataDir,
    /// The segment records are appended to.
    active: Active,
    /// Older segments, oldest first.
    sealed: Vec<Segment>,
    /// The term of each entry the segments hold after the snapshot.
    mirror: Mirror,
    /// What `vote.json` holds.
    vote: Vote,
    /// The index of the newest snapshot file (0: none).
    snapshot_index: LogIndex,
    /// Records encoded for the next write (reused).
    buf: Vec<u8>,
    /// A write failed: what is on disk is no longer known, so nothing more is written.
    failed: bool,
}

impl Storage {
    /// Open (creating it if needed) the data directory `path` of the node `wanted`
    /// describes, and return the durable state a previous run left there (`None`: a new
    /// directory). Refuses a directory of another node, cluster size or session rules, or
    /// one whose contents are damaged other than by a torn last write; then nothing on disk
    /// is changed. Cuts off a torn last write (logged), migrates a format-1 `state.json`
    /// (logged), and removes leftover temporary files.
    pub fn open(path: &Path, wanted: Meta) -> Result<(Storage, Option<Durable>), StorageError> {
        fs::create_dir_all(path).map_err(StorageError::io(path))?;
        let mut dir = DataDir::new(path);
        let names = dir.names()?;
        let recorded = Meta::read(&dir)?;
        let legacy = names.iter().any(|n| n == legacy::STATE_FILE);
        let Some(recorded) = recorded else {
            if legacy {
                return Storage::migrate(dir, wanted, &names);
            }
            if let Some(name) = names.iter().find(|n| is_log_file(n)) {
                return Err(StorageError::invalid(
                    &dir.join(name),
                    format!(
                        "a data directory file, but the directory has no {}: it cannot be \
                         known whose it is or under which rules it was written; use a fresh \
                         data directory",
                        meta::META_FILE
                    ),
                ));
            }
            remove_temp_files(&mut dir, &names)?;
            wanted.write(&mut dir)?;
            let active = Active::create(&mut dir, LogIndex(1))?;
            dir.sync_parent()?;
            let storage = Storage::new(dir, active, Vec::new(), &Durable::default());
            return Ok((storage, None));
        };
        recorded.check(&wanted, &dir.join(meta::META_FILE))?;
        let found = Found::read(&dir, &names)?;

        // Nothing was changed on disk up to here.
        if legacy {
            // A migration wrote the log durably (meta.json is written last) and stopped
            // before renaming the old file away.
            finish_migration(&mut dir)?;
        }
        if let Some(torn) = &found.torn {
            torn.cut(&mut dir)?;
        }
        remove_temp_files(&mut dir, &names)?;
        for &index in &found.older_snapshots {
            dir.remove(&snapshots::file_name(index))?;
        }
        let mut segments = found.segments;
        let active = match segments.pop() {
            Some(last) => Active::open(&dir, last)?,
            None => Active::create(&mut dir, found.durable.log.last_index().next())?,
        };
        let storage = Storage::new(dir, active, segments, &found.durable);
        Ok((storage, Some(found.durable)))
    }

    fn new(dir: DataDir, active: Active, sealed: Vec<Segment>, durable: &Durable) -> Storage {
        Storage {
            dir,
            active,
            sealed,
            mirror: Mirror::of(&durable.log),
            vote: Vote {
                term: durable.current_term,
                voted_for: durable.voted_for,
            },
            snapshot_index: durable.snapshot_index(),
            buf: Vec::new(),
            failed: false,
        }
    }

    /// Make `durable` the state on disk, writing only what changed since the last call (or
    /// since `open`). Returns once it is durable. Call it after each step whose
    /// `durable_version` changed and before sending that step's messages; `durable` must
    /// be the same node's state, moved on by Raft (its log changes only past what is
    /// committed). After an error, every later call fails too: stop the node.
    pub fn persist(&mut self, durable: &Durable) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Io {
                path: self.dir.path().to_path_buf(),
                error: std::io::Error::other("an earlier write to this data directory failed"),
            });
        }
        let result = self.write(durable);
        self.failed = result.is_err();
        result
    }

    /// Tests: let `ops` more disk operations through, then fail every later one, as if the
    /// process had crashed there.
    #[cfg(test)]
    pub(super) fn crash_after(&mut self, ops: u32) {
        self.dir.crash_after = Some(ops);
    }

    /// fsyncs (of files and of the directory) since `open`, for group-commit statistics.
    pub fn fsyncs(&self) -> u64 {
        self.dir.fsyncs()
    }

    fn write(&mut self, durable: &Durable) -> Result<(), StorageError> {
        let vote = Vote {
            term: durable.current_term,
            voted_for: durable.voted_for,
        };
        if vote != self.vote {
            vote.write(&mut self.dir)?;
            self.vote = vote;
        }
        let log = &durable.log;
        let snapshot = durable
            .snapshot
            .as_ref()
            .filter(|s| s.base.index > self.snapshot_index);
        // A log that now starts past the end of the disk's needs its snapshot on disk
        // before the records that follow it.
        let first = log.base().index > self.mirror.last_index();
        if let (true, Some(snapshot)) = (first, snapshot) {
            snapshots::write(&mut self.dir, snapshot)?;
        }
        self.append_records(log)?;
        if let Some(snapshot) = snapshot {
            if !first {
                snapshots::write(&mut self.dir, snapshot)?;
            }
            self.snapshot_written(snapshot)?;
        }
        Ok(())
    }

    /// Append the records that bring the segments from what they hold to `log`, and fsync
    /// them (once, and not at all if there are none).
    fn append_records(&mut self, log: &Log) -> Result<(), StorageError> {
        self.mirror.rebase(log.base().index);
        let from = self.mirror.first_difference(log);
        self.buf.clear();
        if self.mirror.last_index() >= from {
            record::encode_truncate(&mut self.buf, from);
            self.mirror.truncate_from(from);
        }
        let mut index = from;
        for entry in log.slice(from, log.last_index()) {
            record::encode_append(&mut self.buf, index, entry);
            self.mirror.push(index, entry.term);
            index = index.next();
        }
        let appended_up_to = if index > from {
            index.prev()
        } else {
            LogIndex(0)
        };
        self.active.append(&self.buf, appended_up_to)?;
        self.active.sync(&mut self.dir)
    }

    /// A snapshot up to a new index is durable: the older snapshot file, and the segments
    /// whose entries it all covers, are no longer needed. Starts a new segment first, so
    /// the one written to so far can go once a later snapshot covers it.
    fn snapshot_written(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let previous = std::mem::replace(&mut self.snapshot_index, snapshot.base.index);
        if previous.0 > 0 {
            self.dir.remove(&snapshots::file_name(previous))?;
        }
        let next = self.mirror.last_index().next();
        if next > self.active.segment.first {
            let active = Active::create(&mut self.dir, next)?;
            let old = std::mem::replace(&mut self.active, active);
            self.sealed.push(old.segment);
        }
        while let Some(oldest) = self.sealed.first() {
            if oldest.max_index > self.snapshot_index {
                break;
            }
            self.dir.remove(&oldest.name())?;
            self.sealed.remove(0);
        }
        Ok(())
    }

    /// Migrate a format-1 directory: read and check `state.json`, write the same state as a
    /// write-ahead log (durably, `meta.json` last), then rename `state.json` to
    /// `state.json.migrated`. A migration cut short leaves `state.json` in place and no
    /// `meta.json`, and is done again from the start.
    fn migrate(
        mut dir: DataDir,
        wanted: Meta,
        names: &[String],
    ) -> Result<(Storage, Option<Durable>), StorageError> {
        let durable = legacy::read(&dir, &wanted)?.ok_or_else(|| {
            StorageError::invalid(
                &dir.join(legacy::STATE_FILE),
                "disappeared while being read",
            )
        })?;
        for name in names
            .iter()
            .filter(|n| is_log_file(n) || n.ends_with(TEMP_SUFFIX))
        {
            dir.remove(name)?;
        }
        let vote = Vote {
            term: durable.current_term,
            voted_for: durable.voted_for,
        };
        vote.write(&mut dir)?;
        if let Some(snapshot) = &durable.snapshot {
            snapshots::write(&mut dir, snapshot)?;
        }
        let log = &durable.log;
        let mut active = Active::create(&mut dir, log.first_index())?;
        let mut buf = Vec::new();
        let mut index = log.first_index();
        for entry in log.slice(index, log.last_index()) {
            record::encode_append(&mut buf, index, entry);
            index = index.next();
        }
        let appended_up_to = if index > log.first_index() {
            index.prev()
        } else {
            LogIndex(0)
        };
        active.append(&buf, appended_up_to)?;
        active.sync(&mut dir)?;
        wanted.write(&mut dir)?;
        finish_migration(&mut dir)?;
        tracing::info!(
            "{}: migrated {} (format 1, the whole state rewritten on every change) to a \
             write-ahead log (term {}, {} log entries{}); the old file is kept as {}. Format \
             1 did not record the session rules: this start's ({}) are recorded now, and \
             later starts must use the same",
            dir.path().display(),
            legacy::STATE_FILE,
            durable.current_term,
            log.last_index(),
            match durable.snapshot_index() {
                LogIndex(0) => String::new(),
                index => format!(", snapshot up to index {index}"),
            },
            legacy::MIGRATED_FILE,
            wanted.rules.flags()
        );
        let storage = Storage::new(dir, active, Vec::new(), &durable);
        Ok((storage, Some(durable)))
    }
}

/// Rename `state.json` out of the way once the write-ahead log holds its state durably.
fn finish_migration(dir: &mut DataDir) -> Result<(), StorageError> {
    let from = dir.join(legacy::STATE_FILE);
    let to = dir.join(legacy::MIGRATED_FILE);
    fs::rename(&from, &to).map_err(StorageError::io(&from))?;
    dir.sync()
}

/// A file this storage writes besides `meta.json`.
fn is_log_file(name: &str) -> bool {
    name == VOTE_FILE
        || segment::parse_name(name).is_some()
        || snapshots::parse_name(name).is_some()
}

/// Remove files a write cut short left behind (they never replaced anything).
fn remove_temp_files(dir: &mut DataDir, names: &[String]) -> Result<(), StorageError> {
    for name in names.iter().filter(|n| n.ends_with(TEMP_SUFFIX)) {
        dir.remove(name)?;
    }
    Ok(())
}

/// A torn last record found while reading: where to cut the last segment.
#[derive(Debug)]
struct Torn {
    name: String,
    offset: u64,
    length: u64,
    reason: String,
}

impl Torn {
    /// Cut the segment back to the last sound record, durably, and say so.
    fn cut(&self, dir: &mut DataDir) -> Result<(), StorageError> {
        let path = dir.join(&self.name);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        file.set_len(self.offset).map_err(StorageError::io(&path))?;
        dir.sync_data(&file, &path)?;
        tracing::warn!(
            "{}: cut a torn record at byte offset {} ({}): {} bytes a crash left mid-write \
             (never fsynced, so never acknowledged) are dropped; every record before it is kept",
            path.display(),
            self.offset,
            self.reason,
            self.length - self.offset
        );
        Ok(())
    }
}

/// Everything a data directory holds, read without changing anything.
#[derive(Debug)]
struct Found {
    durable: Durable,
    /// The segments, oldest first.
    segments: Vec<Segment>,
    torn: Option<Torn>,
    /// Snapshot files older than the newest (left by a crash before their removal).
    older_snapshots: Vec<LogIndex>,
}

impl Found {
    fn read(dir: &DataDir, names: &[String]) -> Result<Found, StorageError> {
        let mut snapshot_indexes: Vec<LogIndex> = names
            .iter()
            .filter_map(|n| snapshots::parse_name(n))
            .collect();
        snapshot_indexes.sort();
        let newest = snapshot_indexes.pop();
        let snapshot: Option<Arc<Snapshot>> = newest
            .map(|index| snapshots::read(dir, index))
            .transpose()?;
        let vote = Vote::read(dir)?;

        let mut firsts: Vec<LogIndex> = names
            .iter()
            .filter_map(|n| segment::parse_name(n))
            .collect();
        firsts.sort();
        let mut replay = Replay::new(snapshot.as_ref().map_or(LogBase::default(), |s| s.base));
        let mut segments = Vec::with_capacity(firsts.len());
        let mut torn = None;
        for (i, &first) in firsts.iter().enumerate() {
            let name = segment::file_name(first);
            let path = dir.join(&name);
            let bytes = dir
                .read(&name)?
                .ok_or_else(|| StorageError::invalid(&path, "disappeared while being read"))?;
            let scan = segment::scan(&path, &bytes, i + 1 == firsts.len())?;
            let mut max_index = LogIndex(0);
            for (offset, record) in scan.records {
                if let record::Record::Append { index, .. } = &record {
                    max_index = max_index.max(*index);
                }
                replay.apply(record).map_err(|why| StorageError::Corrupt {
                    path: path.clone(),
                    offset,
                    reason: format!("a sound record that cannot follow the ones before it: {why}"),
                })?;
            }
            segments.push(Segment { first, max_index });
            torn = scan.torn.map(|(offset, reason)| Torn {
                name,
                offset,
                length: bytes.len() as u64,
                reason,
            });
        }
        let log = replay
            .finish()
            .map_err(|why| StorageError::invalid(dir.path(), why))?;
        let highest_term = log.last_term().max(log.base().term);
        if vote.term < highest_term {
            return Err(StorageError::invalid(
                &dir.join(VOTE_FILE),
                format!(
                    "term {} is behind the log, which holds term {highest_term} (the term is \
                     always written first): the file is stale or was removed",
                    vote.term
                ),
            ));
        }
        Ok(Found {
            durable: Durable {
                current_term: vote.term,
                voted_for: vote.voted_for,
                log,
                snapshot,
            },
            segments,
            torn,
            older_snapshots: snapshot_indexes,
        })
    }
}

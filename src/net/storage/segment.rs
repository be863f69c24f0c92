//! Log segments: `log-<first>.wal`, files of [`record`]s, where `first` is the index the log
//! would append next when the segment was started. Records are only ever appended to the
//! newest segment; older ones are removed whole once a snapshot covers every entry they
//! hold.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StorageError;
use super::dir::DataDir;
use super::record::{self, Record};
use crate::ids::LogIndex;

const PREFIX: &str = "log-";
const SUFFIX: &str = ".wal";

/// The file name of the segment started at `first`.
pub(super) fn file_name(first: LogIndex) -> String {
    format!("{PREFIX}{first}{SUFFIX}")
}

/// The `first` index of a segment file's name (`None`: not a segment file).
pub(super) fn parse_name(name: &str) -> Option<LogIndex> {
    super::dir::index_in_name(name, PREFIX, SUFFIX)
}

/// A segment on disk, as the storage keeps track of it.
#[derive(Clone, Debug)]
pub(super) struct Segment {
    pub(super) first: LogIndex,
    /// The highest index any append record in it has (0: none). Once a durable snapshot
    /// covers it, the segment holds nothing a recovery needs.
    pub(super) max_index: LogIndex,
}

impl Segment {
    pub(super) fn name(&self) -> String {
        file_name(self.first)
    }
}

/// What reading one segment found.
#[derive(Debug)]
pub(super) struct Scan {
    /// Every sound record, with the byte offset it starts at.
    pub(super) records: Vec<(u64, Record)>,
    /// A torn tail: the offset of the damaged last record, and what is wrong with it. The
    /// file should be cut back to that offset.
    pub(super) torn: Option<(u64, String)>,
}

/// Read the records of the segment at `path` (whose bytes are `bytes`). A damaged record
/// with nothing sound after it in the last segment (`last`) is a torn tail, reported in
/// [`Scan::torn`]; any other damage is refused as [`StorageError::Corrupt`].
pub(super) fn scan(path: &Path, bytes: &[u8], last: bool) -> Result<Scan, StorageError> {
    let mut records = Vec::new();
    let mut at = 0;
    loop {
        match record::read(bytes, at) {
            Ok(None) => {
                return Ok(Scan {
                    records,
                    torn: None,
                });
            }
            Ok(Some((record, end))) => {
                records.push((at as u64, record));
                at = end;
            }
            Err(bad) => {
                let corrupt = |reason: String| StorageError::Corrupt {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    reason,
                };
                if !bad.could_be_torn() {
                    return Err(corrupt(format!(
                        "{} (the record's checksum is sound, so it was written this way)",
                        bad.reason()
                    )));
                }
                if !last {
                    return Err(corrupt(format!(
                        "{}, in a segment that is not the last (a crash only tears the end of \
                         the last one)",
                        bad.reason()
                    )));
                }
                if let Some(next) = record::next_sound_record(bytes, at + 1) {
                    return Err(corrupt(format!(
                        "{}, and a sound record follows at byte offset {next}",
                        bad.reason()
                    )));
                }
                return Ok(Scan {
                    records,
                    torn: Some((at as u64, bad.reason().to_owned())),
                });
            }
        }
    }
}

/// The segment records are appended to: the newest.
#[derive(Debug)]
pub(super) struct Active {
    file: File,
    path: PathBuf,
    pub(super) segment: Segment,
    /// Records written since the last fsync.
    unsynced: bool,
}

impl Active {
    /// Open an existing segment to append to it.
    pub(super) fn open(dir: &DataDir, segment: Segment) -> Result<Active, StorageError> {
        let path = dir.join(&segment.name());
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        Ok(Active {
            file,
            path,
            segment,
            unsynced: false,
        })
    }

    /// Start a new, empty segment at `first` and make its name durable (the directory is
    /// fsynced), so records fsynced into it later cannot vanish with it.
    pub(super) fn create(dir: &mut DataDir, first: LogIndex) -> Result<Active, StorageError> {
        let segment = Segment {
            first,
            max_index: LogIndex(0),
        };
        let path = dir.join(&segment.name());
        dir.op(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        dir.sync()?;
        Ok(Active {
            file,
            path,
            segment,
            unsynced: false,
        })
    }

    /// Append encoded records (not yet durable: see [`Active::sync`]). `max_index` is the
    /// highest index they append.
    pub(super) fn append(&mut self, bytes: &[u8], max_index: LogIndex) -> Result<(), StorageError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(bytes)
            .map_err(StorageError::io(&self.path))?;
        self.segment.max_index = self.segment.max_index.max(max_index);
        self.unsynced = true;
        Ok(())
    }

    /// Make every record appended so far durable, with one fsync (none if nothing was
    /// appended since the last).
    pub(super) fn sync(&mut self, dir: &mut DataDir) -> Result<(), StorageError> {
        if self.unsynced {
            dir.sync_data(&self.file, &self.path)?;
            self.unsynced = false;
        }
        Ok(())
    }
}

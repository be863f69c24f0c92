//! Why a data directory could not be opened or written.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a data directory could not be used. Every variant but [`StorageError::Io`] means the
/// directory's contents are not something this node may start from (`serve` exits 65); the
/// directory is left as it was found.
#[derive(Debug)]
pub enum StorageError {
    /// Reading or writing failed (`serve` exits 74).
    Io { path: PathBuf, error: io::Error },
    /// A file exists but is not one this node can load: another node's, a format this build
    /// does not read, or contents that contradict each other.
    Invalid { path: PathBuf, reason: String },
    /// A log record that cannot be read or replayed, in a place where a crash cannot have
    /// left it (followed by valid records, or at the end of a segment that is not the last).
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The directory was written under other session rules than this start's.
    RulesChanged {
        path: PathBuf,
        recorded: String,
        requested: String,
    },
}

impl StorageError {
    /// An I/O error on `path`, for `map_err`.
    pub(super) fn io(path: &Path) -> impl FnOnce(io::Error) -> StorageError + use<> {
        let path = path.to_path_buf();
        move |error| StorageError::Io { path, error }
    }

    pub(super) fn invalid(path: &Path, reason: impl Into<String>) -> StorageError {
        StorageError::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            StorageError::Invalid { path, reason } => write!(f, "{}: {reason}", path.display()),
            StorageError::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{}: byte offset {offset}: {reason}. The node refuses to start rather than \
                 drop what follows it; nothing was changed on disk. Restore the data \
                 directory from a copy, or start this node with a fresh data directory (it \
                 catches up from the others)",
                path.display()
            ),
            StorageError::RulesChanged {
                path,
                recorded,
                requested,
            } => write!(
                f,
                "{}: this data directory was written by a node run with {recorded}, and this \
                 start has {requested}. Its log would be replayed under other session rules \
                 (an acknowledged write could apply again, or be refused as session-expired). \
                 Restart with the old flags ({recorded}), or use a fresh data directory",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StorageError {}

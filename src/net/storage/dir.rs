//! The data directory itself: paths in it, fsyncs (counted), and files replaced atomically.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StorageError;
use crate::ids::LogIndex;

/// Suffix of a file being written, before it is renamed into place. One left behind was
/// never in place: opening the directory removes it.
pub(super) const TEMP_SUFFIX: &str = ".tmp";

/// The index in a file name `<prefix><digits><suffix>` (`None`: not such a name).
pub(super) fn index_in_name(name: &str, prefix: &str, suffix: &str) -> Option<LogIndex> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(LogIndex)
}

/// One node's data directory, and how many fsyncs it took so far.
#[derive(Debug)]
pub(super) struct DataDir {
    path: PathBuf,
    fsyncs: u64,
    /// Tests: the number of disk operations to let through before every later one fails,
    /// as if the process had crashed there.
    #[cfg(test)]
    pub(super) crash_after: Option<u32>,
}

impl DataDir {
    pub(super) fn new(path: &Path) -> DataDir {
        DataDir {
            path: path.to_path_buf(),
            fsyncs: 0,
            #[cfg(test)]
            crash_after: None,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// One disk operation on `path` is about to happen. In tests it fails once
    /// `crash_after` operations went through; otherwise it always succeeds.
    pub(super) fn op(&mut self, path: &Path) -> Result<(), StorageError> {
        #[cfg(test)]
        if let Some(left) = self.crash_after.as_mut() {
            if *left == 0 {
                return Err(StorageError::io(path)(std::io::Error::other(
                    "injected crash",
                )));
            }
            *left -= 1;
        }
        let _ = path;
        Ok(())
    }

    /// fsyncs (of files and of the directory) so far.
    pub(super) fn fsyncs(&self) -> u64 {
        self.fsyncs
    }

    /// Make `file`'s data (and its length) durable.
    pub(super) fn sync_data(&mut self, file: &File, path: &Path) -> Result<(), StorageError> {
        self.op(path)?;
        file.sync_data().map_err(StorageError::io(path))?;
        self.fsyncs += 1;
        Ok(())
    }

    /// Make the directory's entries durable: files created, renamed or removed in it.
    pub(super) fn sync(&mut self) -> Result<(), StorageError> {
        self.op(&self.path.clone())?;
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(StorageError::io(&self.path))?;
        self.fsyncs += 1;
        Ok(())
    }

    /// Make the directory itself durable in its parent (once, when it is new).
    pub(super) fn sync_parent(&mut self) -> Result<(), StorageError> {
        let parent = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(StorageError::io(&parent))?;
        self.fsyncs += 1;
        Ok(())
    }

    /// Durably replace (or create) `name` with `bytes`: write a temporary file, fsync it,
    /// rename it over `name`, fsync the directory. After a crash at any instant `name` holds
    /// the old bytes or the new ones, never a mix.
    pub(super) fn write_atomic(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let temp = self.join(&format!("{name}{TEMP_SUFFIX}"));
        let path = self.join(name);
        self.op(&temp)?;
        let mut out = File::create(&temp).map_err(StorageError::io(&temp))?;
        out.write_all(bytes).map_err(StorageError::io(&temp))?;
        out.sync_all().map_err(StorageError::io(&temp))?;
        self.fsyncs += 1;
        drop(out);
        self.op(&path)?;
        fs::rename(&temp, &path).map_err(StorageError::io(&path))?;
        self.sync()
    }

    /// Every file name in the directory (names that are not UTF-8 are no file of ours).
    pub(super) fn names(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        for item in fs::read_dir(&self.path).map_err(StorageError::io(&self.path))? {
            let item = item.map_err(StorageError::io(&self.path))?;
            if let Ok(name) = item.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The bytes of `name`, or `None` if there is no such file.
    pub(super) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.join(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(&path)(e)),
        }
    }

    /// Remove `name` (already gone is fine). Not synced: every removal this storage makes
    /// leaves a directory it can recover from whether or not the removal survives a crash.
    pub(super) fn remove(&mut self, name: &str) -> Result<(), StorageError> {
        let path = self.join(name);
        self.op(&path)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(&path)(e)),
        }
    }
}

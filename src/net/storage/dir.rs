//! The data directory itself: paths in it, fsyncs (counted), and files replaced atomically.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StorageError;

/// Suffix of a file being written, before it is renamed into place. One left behind was
/// never in place: opening the directory removes it.
pub(super) const TEMP_SUFFIX: &str = ".tmp";

/// One node's data directory, and how many fsyncs it took so far.
#[derive(Debug)]
pub(super) struct DataDir {
    path: PathBuf,
    fsyncs: u64,
}

impl DataDir {
    pub(super) fn new(path: &Path) -> DataDir {
        DataDir {
            path: path.to_path_buf(),
            fsyncs: 0,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// fsyncs (of files and of the directory) so far.
    pub(super) fn fsyncs(&self) -> u64 {
        self.fsyncs
    }

    /// Make `file`'s data (and its length) durable.
    pub(super) fn sync_data(&mut self, file: &File, path: &Path) -> Result<(), StorageError> {
        file.sync_data().map_err(StorageError::io(path))?;
        self.fsyncs += 1;
        Ok(())
    }

    /// Make the directory's entries durable: files created, renamed or removed in it.
    pub(super) fn sync(&mut self) -> Result<(), StorageError> {
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
        let mut out = File::create(&temp).map_err(StorageError::io(&temp))?;
        out.write_all(bytes).map_err(StorageError::io(&temp))?;
        out.sync_all().map_err(StorageError::io(&temp))?;
        self.fsyncs += 1;
        drop(out);
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
    pub(super) fn remove(&self, name: &str) -> Result<(), StorageError> {
        let path = self.join(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(&path)(e)),
        }
    }
}

//! Snapshot files: `snapshot-<index>.json`, the bytes of [`Snapshot::bytes`], each written
//! atomically. The newest is the one that counts; an older one is removed once a newer one
//! is durable.

use std::sync::Arc;

use super::StorageError;
use super::dir::DataDir;
use crate::ids::LogIndex;
use crate::raft::Snapshot;

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".json";

/// The file name of the snapshot up to `index`.
pub(super) fn file_name(index: LogIndex) -> String {
    format!("{PREFIX}{index}{SUFFIX}")
}

/// The index of a snapshot file's name (`None`: not a snapshot file).
pub(super) fn parse_name(name: &str) -> Option<LogIndex> {
    super::dir::index_in_name(name, PREFIX, SUFFIX)
}

/// Durably write `snapshot` as its file.
pub(super) fn write(dir: &mut DataDir, snapshot: &Snapshot) -> Result<(), StorageError> {
    dir.write_atomic(&file_name(snapshot.base.index), snapshot.bytes())
}

/// Read the snapshot up to `index` from its file.
pub(super) fn read(dir: &DataDir, index: LogIndex) -> Result<Arc<Snapshot>, StorageError> {
    let name = file_name(index);
    let path = dir.join(&name);
    let bytes = dir
        .read(&name)?
        .ok_or_else(|| StorageError::invalid(&path, "disappeared while being opened"))?;
    let snapshot = Snapshot::from_bytes(&bytes)
        .map_err(|e| StorageError::invalid(&path, format!("not a readable snapshot: {e}")))?;
    if snapshot.base.index != index {
        return Err(StorageError::invalid(
            &path,
            format!(
                "holds the snapshot up to index {}, not {index} as its name says",
                snapshot.base.index
            ),
        ));
    }
    Ok(Arc::new(snapshot))
}

//! The data directory of format 1: one `state.json` holding the whole durable state,
//! rewritten on every change. Read only to migrate it to the write-ahead log.

use serde::Deserialize;

use super::StorageError;
use super::dir::DataDir;
use super::meta::{self, Meta};
use crate::ids::NodeId;
use crate::raft::Durable;

pub(super) const STATE_FILE: &str = "state.json";
/// What `state.json` is renamed to once the write-ahead log holds its state durably.
pub(super) const MIGRATED_FILE: &str = "state.json.migrated";

const FORMAT: u32 = 1;

#[derive(Deserialize)]
struct StateFile {
    format: u32,
    node: NodeId,
    cluster_size: u8,
    durable: Durable,
}

/// The durable state of a format-1 `state.json`, if the directory has one, once it is known
/// to be `wanted`'s (the check happens before anything is changed on disk).
pub(super) fn read(dir: &DataDir, wanted: &Meta) -> Result<Option<Durable>, StorageError> {
    let Some(bytes) = dir.read(STATE_FILE)? else {
        return Ok(None);
    };
    let path = dir.join(STATE_FILE);
    let file: StateFile = serde_json::from_slice(&bytes)
        .map_err(|e| StorageError::invalid(&path, format!("not a node state file: {e}")))?;
    if file.format != FORMAT {
        return Err(StorageError::invalid(
            &path,
            format!(
                "state file format {} (this build reads {FORMAT}, to migrate it)",
                file.format
            ),
        ));
    }
    meta::check_owner(file.node, file.cluster_size, wanted, &path)?;
    let durable = file.durable;
    let base = durable.log.base().index;
    if base > durable.snapshot_index() {
        return Err(StorageError::invalid(
            &path,
            format!(
                "the log starts after index {base} but the snapshot covers only up to index {}",
                durable.snapshot_index()
            ),
        ));
    }
    Ok(Some(durable))
}

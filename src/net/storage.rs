//! A real node's durable state (term, vote, log) in one file under its data directory.
//!
//! [`Storage::save`] writes the whole state to a temporary file, fsyncs it, renames it over
//! `state.json` and fsyncs the directory, so after a crash at any instant the file holds
//! either the old state or the new one. The node calls it before sending any message that
//! depends on the new state (Raft's "persist before answering").

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ids::NodeId;
use crate::raft::Durable;

/// Version of the state file layout.
const FORMAT: u32 = 1;

const STATE_FILE: &str = "state.json";
const TEMP_FILE: &str = "state.json.tmp";

/// The state file: the durable state plus who it belongs to, so a data directory is never
/// loaded by the wrong node or into a cluster of another size.
#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    node: NodeId,
    cluster_size: u8,
    durable: Durable,
}

/// Borrowed form of [`StateFile`] for writing without cloning the log.
#[derive(Serialize)]
struct StateFileRef<'a> {
    format: u32,
    node: NodeId,
    cluster_size: u8,
    durable: &'a Durable,
}

/// Why a data directory could not be used.
#[derive(Debug)]
pub enum StorageError {
    /// Reading or writing failed.
    Io { path: PathBuf, error: io::Error },
    /// The state file exists but is not one this node can load.
    Invalid { path: PathBuf, reason: String },
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            StorageError::Invalid { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for StorageError {}

/// One node's data directory.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    node: NodeId,
    cluster_size: u8,
}

impl Storage {
    /// Open (creating it if needed) the data directory of `node` in a cluster of
    /// `cluster_size`, and load the durable state a previous run left there, if any.
    pub fn open(
        dir: &Path,
        node: NodeId,
        cluster_size: u8,
    ) -> Result<(Storage, Option<Durable>), StorageError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |error| StorageError::Io { path, error }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let storage = Storage {
            dir: dir.to_path_buf(),
            node,
            cluster_size,
        };
        let path = dir.join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((storage, None)),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let invalid = |reason: String| StorageError::Invalid {
            path: path.clone(),
            reason,
        };
        let file: StateFile = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("not a node state file: {e}")))?;
        if file.format != FORMAT {
            return Err(invalid(format!(
                "state file format {} (this build reads {FORMAT})",
                file.format
            )));
        }
        if file.node != node || file.cluster_size != cluster_size {
            return Err(invalid(format!(
                "belongs to node {} of a {}-node cluster, not node {node} of a {cluster_size}-node \
                 cluster; give each node its own data directory",
                file.node, file.cluster_size
            )));
        }
        Ok((storage, Some(file.durable)))
    }

    /// Durably replace the stored state with `durable`. Returns only once the new state is
    /// on disk.
    pub fn save(&self, durable: &Durable) -> Result<(), StorageError> {
        let temp = self.dir.join(TEMP_FILE);
        let path = self.dir.join(STATE_FILE);
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |error| StorageError::Io { path, error }
        };
        let file = StateFileRef {
            format: FORMAT,
            node: self.node,
            cluster_size: self.cluster_size,
            durable,
        };
        let bytes = serde_json::to_vec(&file).expect("durable state always serializes");
        let mut out = File::create(&temp).map_err(io_err(&temp))?;
        out.write_all(&bytes).map_err(io_err(&temp))?;
        out.sync_all().map_err(io_err(&temp))?;
        drop(out);
        fs::rename(&temp, &path).map_err(io_err(&path))?;
        // The rename itself is durable only once the directory is synced.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Term;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("idemsim-storage-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// What `save` wrote, `open` gives back; a fresh directory has no state.
    #[test]
    fn saved_state_reloads() {
        let dir = temp_dir("reload");
        let (storage, loaded) = Storage::open(&dir, NodeId(2), 3).expect("open fresh");
        assert!(loaded.is_none(), "a fresh directory has no state");
        let durable = Durable {
            current_term: Term(7),
            voted_for: Some(NodeId(3)),
            ..Durable::default()
        };
        storage.save(&durable).expect("save");
        let (_, loaded) = Storage::open(&dir, NodeId(2), 3).expect("reopen");
        let loaded = loaded.expect("state after save");
        assert_eq!(loaded.current_term, Term(7));
        assert_eq!(loaded.voted_for, Some(NodeId(3)));
        let _ = fs::remove_dir_all(&dir);
    }

    /// Another node's directory, or a corrupt file, is refused with a reason, not loaded.
    #[test]
    fn wrong_or_corrupt_state_is_refused() {
        let dir = temp_dir("refuse");
        let (storage, _) = Storage::open(&dir, NodeId(1), 3).expect("open fresh");
        storage.save(&Durable::default()).expect("save");
        let err = Storage::open(&dir, NodeId(2), 3).expect_err("node 2 must not load node 1");
        assert!(err.to_string().contains("belongs to node n1"), "{err}");
        let err = Storage::open(&dir, NodeId(1), 5).expect_err("other cluster size");
        assert!(err.to_string().contains("3-node cluster"), "{err}");
        fs::write(dir.join(STATE_FILE), b"{ not json").expect("corrupt");
        let err = Storage::open(&dir, NodeId(1), 3).expect_err("corrupt file");
        assert!(err.to_string().contains("not a node state file"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}

//! `meta.json`: whose data directory this is, and the rules its log was written under.
//!
//! Written once, when the directory is made (or migrated); every start checks it. The node
//! id and cluster size keep a directory from being loaded by another node; the session
//! rules keep a log from being replayed under rules other than those it was acknowledged
//! under.

use serde::{Deserialize, Serialize};

use super::StorageError;
use super::dir::DataDir;
use crate::ids::NodeId;
use crate::kv::{Dedup, SessionLimits};

/// Version of the data directory layout: 2 is this write-ahead log (1 was `state.json`).
pub(super) const FORMAT: u32 = 2;

pub(super) const META_FILE: &str = "meta.json";

/// The state-machine rules a log is replayed under: `serve`'s `--dedup`,
/// `--session-timeout-ms` and `--max-sessions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub dedup: Dedup,
    pub session_timeout_ms: u64,
    pub max_sessions: u32,
}

impl Rules {
    /// The rules of a node run with `dedup` and `limits` (as `serve` builds them from its
    /// flags).
    pub fn new(dedup: Dedup, limits: SessionLimits) -> Rules {
        Rules {
            dedup,
            session_timeout_ms: limits.timeout_us / 1000,
            max_sessions: limits.max_sessions,
        }
    }

    /// As `serve` flags: `--dedup sessions --session-timeout-ms 0 --max-sessions 0`.
    pub fn flags(&self) -> String {
        format!(
            "--dedup {} --session-timeout-ms {} --max-sessions {}",
            self.dedup.name(),
            self.session_timeout_ms,
            self.max_sessions
        )
    }

    /// Only the flags that differ from `other`'s, as flags.
    fn flags_differing_from(&self, other: &Rules) -> String {
        let mut words = Vec::new();
        if self.dedup != other.dedup {
            words.push(format!("--dedup {}", self.dedup.name()));
        }
        if self.session_timeout_ms != other.session_timeout_ms {
            words.push(format!("--session-timeout-ms {}", self.session_timeout_ms));
        }
        if self.max_sessions != other.max_sessions {
            words.push(format!("--max-sessions {}", self.max_sessions));
        }
        words.join(" ")
    }
}

/// Who a data directory belongs to and the rules its log was written under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub node: NodeId,
    pub cluster_size: u8,
    pub rules: Rules,
}

#[derive(Serialize, Deserialize)]
struct MetaFile {
    format: u32,
    #[serde(flatten)]
    meta: Meta,
}

impl Meta {
    /// Write `meta.json` durably.
    pub(super) fn write(&self, dir: &mut DataDir) -> Result<(), StorageError> {
        let file = MetaFile {
            format: FORMAT,
            meta: *self,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("meta serializes");
        bytes.push(b'\n');
        dir.write_atomic(META_FILE, &bytes)
    }

    /// The recorded meta, if the directory has one.
    pub(super) fn read(dir: &DataDir) -> Result<Option<Meta>, StorageError> {
        let path = dir.join(META_FILE);
        let Some(bytes) = dir.read(META_FILE)? else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format: Format = serde_json::from_slice(&bytes).map_err(|e| {
            StorageError::invalid(&path, format!("not a data directory's meta file: {e}"))
        })?;
        if format.format != FORMAT {
            return Err(StorageError::invalid(
                &path,
                format!(
                    "data directory format {} (this build reads {FORMAT})",
                    format.format
                ),
            ));
        }
        let file: MetaFile = serde_json::from_slice(&bytes).map_err(|e| {
            StorageError::invalid(&path, format!("not a data directory's meta file: {e}"))
        })?;
        Ok(Some(file.meta))
    }

    /// Refuse a directory recorded (at `path`) for another node, cluster size or rules than
    /// `wanted`.
    pub(super) fn check(&self, wanted: &Meta, path: &std::path::Path) -> Result<(), StorageError> {
        check_owner(self.node, self.cluster_size, wanted, path)?;
        if self.rules != wanted.rules {
            return Err(StorageError::RulesChanged {
                path: path.to_path_buf(),
                recorded: self.rules.flags(),
                requested: wanted.rules.flags_differing_from(&self.rules),
            });
        }
        Ok(())
    }
}

/// Refuse a directory that belongs to node `node` of a `cluster_size`-node cluster when
/// `wanted` is another.
pub(super) fn check_owner(
    node: NodeId,
    cluster_size: u8,
    wanted: &Meta,
    path: &std::path::Path,
) -> Result<(), StorageError> {
    if node != wanted.node || cluster_size != wanted.cluster_size {
        return Err(StorageError::invalid(
            path,
            format!(
                "belongs to node {node} of a {cluster_size}-node cluster, not node {} of a \
                 {}-node cluster; give each node its own data directory",
                wanted.node, wanted.cluster_size
            ),
        ));
    }
    Ok(())
}

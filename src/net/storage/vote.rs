//! `vote.json`: the current term and the vote cast in it, replaced atomically whenever
//! either changes. Missing means term 0 and no vote (a node that never saw a term).

use serde::{Deserialize, Serialize};

use super::StorageError;
use super::dir::DataDir;
use crate::ids::{NodeId, Term};

pub(super) const VOTE_FILE: &str = "vote.json";

/// Raft's `currentTerm` and `votedFor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Vote {
    pub(super) term: Term,
    pub(super) voted_for: Option<NodeId>,
}

impl Vote {
    /// Durably replace `vote.json` with this vote.
    pub(super) fn write(&self, dir: &mut DataDir) -> Result<(), StorageError> {
        let mut bytes = serde_json::to_vec(self).expect("a vote serializes");
        bytes.push(b'\n');
        dir.write_atomic(VOTE_FILE, &bytes)
    }

    /// The recorded vote (the default when there is none).
    pub(super) fn read(dir: &DataDir) -> Result<Vote, StorageError> {
        let Some(bytes) = dir.read(VOTE_FILE)? else {
            return Ok(Vote::default());
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            StorageError::invalid(
                &dir.join(VOTE_FILE),
                format!("not a term and vote file: {e}"),
            )
        })
    }
}

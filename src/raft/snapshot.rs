//! Snapshots (Raft §7): the state machine as of one applied index, so the log before it can
//! be dropped. The KV map, the session table and the session lifetimes are captured together
//! at that one index: a snapshot that leaves the table out, or takes it at another index,
//! replays entries as if they were new or skips entries that never took effect.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::LogBase;
use crate::kv::StateMachine;

/// A node's snapshot: the state machine after applying every entry up to `base.index`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last index (and its term and stamp) the snapshot covers.
    pub base: LogBase,
    pub state: StateMachine,
    /// The serialized form, made once, the first time a leader sends it or a driver writes it.
    #[serde(skip)]
    bytes: OnceLock<Arc<[u8]>>,
}

impl Snapshot {
    pub fn new(base: LogBase, state: StateMachine) -> Snapshot {
        Snapshot {
            base,
            state,
            bytes: OnceLock::new(),
        }
    }

    /// The snapshot as bytes (JSON), what InstallSnapshot sends in chunks and what a real
    /// node writes to its snapshot file. [`Snapshot::from_bytes`] reads it back.
    pub fn bytes(&self) -> &Arc<[u8]> {
        self.bytes.get_or_init(|| {
            serde_json::to_vec(self)
                .expect("a snapshot serializes (string keys, no floats)")
                .into()
        })
    }

    /// Read a snapshot written by [`Snapshot::bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, String> {
        let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let _ = snapshot.bytes.set(Arc::from(bytes));
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClientId, LogIndex, Seq, Term};
    use crate::kv::{Dedup, Op, Origin, Request, SessionLimits};
    use crate::message::{Entry, Payload};
    use crate::mutation::Mutations;

    /// A snapshot read back from its bytes is the same state machine: same digests, and it
    /// still knows which requests already took effect.
    #[test]
    fn a_snapshot_round_trips_with_its_session_table() {
        let limits = SessionLimits {
            register: true,
            timeout_us: 5_000_000,
            max_sessions: 4,
        };
        let mut state = StateMachine::mutated(Dedup::Sessions, Mutations::NONE, limits);
        let register = Entry {
            term: Term(1),
            payload: Payload::Register {
                origin: Origin::default(),
            },
            stamp_us: 10,
        };
        state.apply_entry(LogIndex(1), &register, false, 0);
        let request = Arc::new(Request {
            client: ClientId(1),
            seq: Seq(1),
            lowest_unacked: Seq(1),
            op: Op::Incr {
                key: Arc::from("k"),
                amount: 3,
            },
            origin: Origin::default(),
        });
        let write = Entry {
            term: Term(1),
            payload: Payload::Client(Arc::clone(&request)),
            stamp_us: 20,
        };
        state.apply_entry(LogIndex(2), &write, false, 0);
        let base = LogBase {
            index: LogIndex(2),
            term: Term(1),
            stamp_us: 20,
        };
        let snapshot = Snapshot::new(base, state.clone());
        let back = Snapshot::from_bytes(snapshot.bytes()).expect("reads back");
        assert_eq!(back.base, base);
        assert_eq!(back.state.digest(), state.digest());
        let (outcome, result) = back
            .state
            .clone()
            .apply_entry(LogIndex(3), &write, false, 0);
        assert_eq!(
            outcome.name(),
            "duplicate",
            "the table came with the snapshot"
        );
        assert_eq!(result.as_deref(), Some("3"));
        assert!(Snapshot::from_bytes(b"{\"base\":").is_err());
    }
}

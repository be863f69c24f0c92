//! What a Raft node reports having done, for checkers and traces ([`crate::trace`] turns each
//! event into trace events).

use std::sync::Arc;

use crate::ids::{ClientId, LogIndex, NodeId, Seq, Term};
use crate::kv::{EndReason, OpResult, Outcome, Request, StateDigest, TableSize};
use crate::message::Payload;

/// Something a node did.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// The node won an election.
    BecameLeader { term: Term },
    /// A leader appended a client request to its log.
    Appended {
        index: LogIndex,
        term: Term,
        request: Arc<Request>,
        attempt: u32,
    },
    /// The node applied a committed entry to its state machine.
    Applied {
        index: LogIndex,
        term: Term,
        payload: Payload,
        outcome: Outcome,
        result: OpResult,
        digest: StateDigest,
        /// The dedup state's size after it (for the table-size rule).
        table: TableSize,
    },
    /// Applying the entry at `index` ended `client`'s session (before the entry itself
    /// was applied).
    Expired {
        index: LogIndex,
        client: ClientId,
        reason: EndReason,
    },
    /// The node took a snapshot of its state machine up to `index` (of `term`); its log up
    /// to there is dropped next. `digest` is the snapshot's state (what every replica had
    /// after applying `index`, unless the snapshot is wrong).
    Snapshot {
        index: LogIndex,
        term: Term,
        digest: StateDigest,
    },
    /// The follower installed the snapshot up to `index` that leader `from` sent; `digest`
    /// is its state now (what every replica had after applying `index`).
    Installed {
        from: NodeId,
        index: LogIndex,
        term: Term,
        digest: StateDigest,
    },
    /// The node answered `client`'s read `seq` from its state, applied up to `index`,
    /// outside the log.
    Read {
        client: ClientId,
        seq: Seq,
        path: super::ReadPath,
        index: LogIndex,
        result: OpResult,
    },
    /// A leader found an arriving request already applied and answered it from the session
    /// table without appending it (`cached` is `None` when the result was already forgotten,
    /// or when `conflict`: the seq took effect as a different operation and it was refused).
    DuplicateOnReceive {
        request: Arc<Request>,
        last_seq: Seq,
        cached: Option<OpResult>,
        conflict: bool,
    },
}

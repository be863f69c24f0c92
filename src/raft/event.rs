//! What a Raft node reports having done, for checkers and traces ([`crate::trace`] turns each
//! event into trace events).

use std::sync::Arc;

use crate::ids::{ClientId, LogIndex, Seq, Term};
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

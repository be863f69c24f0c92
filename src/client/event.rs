//! What a client reports having done, for checkers and traces ([`crate::trace`] turns each
//! event into a trace event) and for the real-network driver's progress lines.

use std::sync::Arc;

use crate::ids::{ClientId, NodeId, Seq};
use crate::kv::{OpResult, Request};
use crate::message::Refusal;

/// Why an attempt got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// No answer within the client's timeout.
    TimedOut,
    /// The node could not be reached at all (a real network refused or dropped the
    /// connection, or the node said it is overloaded). The simulator never reports this: a
    /// message to a node that is down is silently lost there.
    Unreachable,
}

/// Something a client did.
#[derive(Clone, Debug)]
pub enum ClientEvent {
    /// The client issued a new operation.
    Submitted { request: Arc<Request> },
    /// It sent (or re-sent) its current request.
    Sent { seq: Seq, to: NodeId, attempt: u32 },
    /// Attempt `attempt`, sent to `node`, got no answer; the client retries at `retry_to`
    /// (after a back-off when every node has failed recently).
    Failed {
        seq: Seq,
        attempt: u32,
        node: NodeId,
        failure: Failure,
        retry_to: NodeId,
    },
    /// A node told it that it is not the leader.
    Redirected {
        seq: Seq,
        from: NodeId,
        hint: Option<NodeId>,
    },
    /// It accepted the result of its current operation.
    Accepted {
        seq: Seq,
        from: NodeId,
        result: OpResult,
        cached: bool,
    },
    /// A node refused its current operation: that seq was already acknowledged and forgotten
    /// ([`crate::message::Reply::Forgotten`]), or took effect as a different operation
    /// ([`crate::message::Reply::Conflict`]). The operation ends without a result.
    Refused {
        seq: Seq,
        from: NodeId,
        last_seq: Seq,
        reason: Refusal,
    },
    /// It used its last attempt without an answer and gave the operation up.
    GaveUp { seq: Seq, attempts: u32 },
    /// The cluster opened its session: its client id is `client` (the index of the
    /// `register` entry), as `from` answered.
    Registered { client: ClientId, from: NodeId },
    /// `from` answered that session `client` has ended; every request in flight has been
    /// reported [`ClientEvent::Refused`] (indefinite) and a new session is being opened.
    SessionExpired { client: ClientId, from: NodeId },
}

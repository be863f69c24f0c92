//! What travels between processes: Raft RPCs, client requests and replies.
//!
//! Entries and requests are shared (`Arc`), so copying a message to the network, duplicating
//! it, or retransmitting a log suffix bumps reference counts instead of copying strings.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, Term};
use crate::kv::{OpResult, Request};
use crate::raft::Entry;

/// A process address: a Raft node or a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Addr {
    Node(NodeId),
    Client(ClientNo),
}

/// One message in flight.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: Addr,
    pub to: Addr,
    pub msg: Message,
}

/// Every message kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Raft §5.2: a candidate asks for a vote.
    RequestVote {
        term: Term,
        last_log_index: LogIndex,
        last_log_term: Term,
    },
    /// Raft §5.2: the answer to `RequestVote`.
    VoteReply { term: Term, granted: bool },
    /// Raft §5.3: replicate `entries` after `prev_log_index`, or a heartbeat when empty.
    AppendEntries {
        term: Term,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: LogIndex,
    },
    /// Raft §5.3: the answer to `AppendEntries`. On success `match_index` is the last index
    /// the follower now holds from that message; on failure `hint` is where the leader should
    /// try next (the follower's log end, or the consistency check's failing index).
    AppendReply {
        term: Term,
        success: bool,
        match_index: LogIndex,
        hint: LogIndex,
    },
    /// A client operation; `attempt` counts sends of this `(client, seq)`, 1 for the first.
    ClientRequest { request: Arc<Request>, attempt: u32 },
    /// The answer to a client request; `attempt` echoes the request's, so a client can tell
    /// a late "not leader" about an earlier attempt from one about its current attempt.
    ClientReply {
        client: ClientId,
        seq: Seq,
        attempt: u32,
        reply: Reply,
    },
}

/// A server's answer to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The operation's result. `cached` is true when it came from the session table (the
    /// request was a duplicate) rather than from applying it.
    Done { result: OpResult, cached: bool },
    /// This node is not the leader; `hint` is the leader it knows of, if any.
    NotLeader { hint: Option<NodeId> },
}

//! What travels between processes: Raft RPCs and the log entries they carry, client requests
//! and replies.
//!
//! Entries and requests are shared (`Arc`), so copying a message to the network, duplicating
//! it, or retransmitting a log suffix bumps reference counts instead of copying strings.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, Term};
use crate::kv::{OpResult, Origin, Request};
use crate::raft::LogBase;

/// A process address: a Raft node or a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Addr {
    Node(NodeId),
    Client(ClientNo),
}

impl std::fmt::Display for Addr {
    /// `n2` or `c1`, as traces name processes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Node(n) => n.fmt(f),
            Addr::Client(c) => c.fmt(f),
        }
    }
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
    /// `incarnation` echoes the request's sender process incarnation: a real server answers
    /// on the connection the request came on, which dies with the process, so a client that
    /// restarted must never take an answer meant for its previous incarnation.
    ClientReply {
        client: ClientId,
        seq: Seq,
        attempt: u32,
        #[serde(skip)]
        incarnation: u32,
        reply: Reply,
    },
    /// A client asks to open a session (`[clients] register = true`); `attempt` counts its
    /// sends, 1 for the first. `incarnation` is the sending process's, echoed in the answer.
    Register {
        attempt: u32,
        #[serde(skip)]
        incarnation: u32,
    },
    /// The answer to `Register`.
    RegisterReply {
        attempt: u32,
        #[serde(skip)]
        incarnation: u32,
        reply: RegisterAnswer,
    },
    /// Raft §7 (Figure 13): a chunk of the leader's snapshot for a follower that needs
    /// compacted entries. Boxed: it is rare and large, and every message is as big as the
    /// largest kind.
    InstallSnapshot(Box<Install>),
    /// The answer to `InstallSnapshot`: the follower holds `received` bytes of the snapshot
    /// up to `index` (where the leader goes on from), and `done` once it installed it (or
    /// already had that state).
    InstallReply {
        term: Term,
        index: LogIndex,
        received: u64,
        done: bool,
    },
    /// Reads outside the log (`[server] reads`): a leader asks its followers to confirm it
    /// still leads `term`; `round` numbers the confirmation round.
    ReadProbe { term: Term, round: u64 },
    /// The answer to `ReadProbe`: the follower's term (the round is confirmed when it is the
    /// probe's).
    ProbeReply { term: Term, round: u64 },
    /// A follower asks its leader for a read index for its read `id` (Raft §6.4).
    ReadIndex { id: u64 },
    /// The answer to `ReadIndex`: the index to apply before answering read `id`, or `None`
    /// when the node asked does not lead.
    ReadIndexReply { id: u64, index: Option<LogIndex> },
}

/// One `InstallSnapshot`: the snapshot up to `base`, the chunk at byte `offset`; `done` on
/// the last chunk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Install {
    pub term: Term,
    pub base: LogBase,
    pub offset: u64,
    pub chunk: Chunk,
    pub done: bool,
}

/// A byte range of a shared snapshot: a chunk costs no copy in the simulator, and travels as
/// a hex string in a real frame (whose body is JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    bytes: Arc<[u8]>,
    start: usize,
    end: usize,
}

impl Chunk {
    /// `bytes[start..end]`, clamped to the bytes there are.
    pub fn new(bytes: Arc<[u8]>, start: usize, end: usize) -> Chunk {
        let end = end.min(bytes.len());
        Chunk {
            bytes,
            start: start.min(end),
            end,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl Serialize for Chunk {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(2 * self.len());
        for &b in self.as_bytes() {
            hex.push(HEX[usize::from(b >> 4)] as char);
            hex.push(HEX[usize::from(b & 15)] as char);
        }
        serializer.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for Chunk {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Chunk, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(serde::de::Error::custom(
                "a snapshot chunk is lowercase hex",
            )),
        };
        let hex = hex.as_bytes();
        if hex.len() % 2 != 0 {
            return Err(serde::de::Error::custom(
                "a snapshot chunk has an odd length",
            ));
        }
        let bytes = hex
            .chunks_exact(2)
            .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
            .collect::<Result<Vec<u8>, D::Error>>()?;
        let len = bytes.len();
        Ok(Chunk::new(bytes.into(), 0, len))
    }
}

/// What a node answers a `Register` with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterAnswer {
    /// The session is open; its client id is the index of its `register` entry.
    Registered { client: ClientId },
    /// This node is not the leader; `hint` is the leader it knows of, if any.
    NotLeader { hint: Option<NodeId> },
}

impl Message {
    /// The kind, as on the wire and in message traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::RequestVote { .. } => "request_vote",
            Message::VoteReply { .. } => "vote_reply",
            Message::AppendEntries { .. } => "append_entries",
            Message::AppendReply { .. } => "append_reply",
            Message::ClientRequest { .. } => "client_request",
            Message::ClientReply { .. } => "client_reply",
            Message::Register { .. } => "register",
            Message::RegisterReply { .. } => "register_reply",
            Message::InstallSnapshot { .. } => "install_snapshot",
            Message::InstallReply { .. } => "install_reply",
            Message::ReadProbe { .. } => "read_probe",
            Message::ProbeReply { .. } => "probe_reply",
            Message::ReadIndex { .. } => "read_index",
            Message::ReadIndexReply { .. } => "read_index_reply",
        }
    }

    /// The size in bytes of its JSON encoding, counted without building it: the body a real
    /// node would put in a frame, without the frame's length prefix and version byte (which
    /// add 5 bytes) or the peer frame's wrapping fields.
    pub fn encoded_len(&self) -> u64 {
        struct Count(u64);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        match serde_json::to_writer(&mut count, self) {
            Ok(()) => count.0,
            Err(_) => 0,
        }
    }
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
    /// This `(client, seq)` was already acknowledged and its result forgotten (the client's
    /// lowest unacknowledged seq has moved past it): it was not applied again, and there is
    /// no result to return. A correct client never re-sends an acknowledged seq, so this
    /// means the request is stale, or the client id was used before by someone else.
    /// `last_seq` is the highest seq of this client that took effect.
    Forgotten { last_seq: Seq },
    /// This `(client, seq)` already took effect as a different operation (another kind, key
    /// or value): the request was not applied, and the other operation's cached result is not
    /// its answer. A client that reissues a seq with a new operation (after a restart that
    /// kept its id and seq) gets this when the old operation had taken effect. `last_seq` is
    /// the highest seq of this client that took effect.
    Conflict { last_seq: Seq },
    /// The request's session is not live: it expired, was evicted, or was never opened. The
    /// request did not take effect now; an earlier copy of it may have (before the session
    /// ended), so its outcome is unknown. The client opens a new session.
    SessionExpired,
}

/// Why a node refused a client's operation (it ends without a result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// [`Reply::Forgotten`]: the seq was already acknowledged and its result forgotten.
    Forgotten,
    /// [`Reply::Conflict`]: the seq already took effect as a different operation.
    Conflict,
    /// [`Reply::SessionExpired`]: the session ended; the operation's outcome is unknown.
    SessionExpired,
}

impl Refusal {
    /// The JSONL `error` of the `reply` event.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Forgotten => "forgotten",
            Refusal::Conflict => "conflict",
            Refusal::SessionExpired => "session-expired",
        }
    }
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// The entry a new leader appends at the start of its term (Raft §8), so that it can
    /// commit entries of earlier terms.
    Noop,
    /// A client operation.
    Client(Arc<Request>),
    /// A client opens a session (`[clients] register`): its id is this entry's index.
    /// `origin` names the client process for traces and checkers; servers never read it.
    Register {
        #[serde(skip)]
        origin: Origin,
    },
}

impl Payload {
    /// The client request carried, if any.
    pub fn request(&self) -> Option<&Request> {
        match self {
            Payload::Noop | Payload::Register { .. } => None,
            Payload::Client(request) => Some(request),
        }
    }
}

/// One log entry. Cloning it bumps a reference count.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub payload: Payload,
    /// The leader's clock when it appended the entry (microseconds), never below the stamp
    /// of the entry before it: the log time sessions expire by.
    #[serde(default)]
    pub stamp_us: u64,
}

impl Entry {
    /// The client request this entry carries, if any.
    pub fn request(&self) -> Option<&Request> {
        self.payload.request()
    }
}

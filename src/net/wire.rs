//! The wire protocol between real nodes and clients.
//!
//! A frame is a 4-byte big-endian length `L`, then `L` bytes: a version byte
//! ([`VERSION`]) and a JSON body ([`Frame`]). A frame longer than [`MAX_FRAME`], with
//! another version, whose body is not a valid frame, or cut short, is an error: the reader
//! answers with [`Frame::Error`] when it can and closes the connection; the node goes on
//! serving everyone else.
//!
//! Sizes: a client operation's key and value together are at most [`MAX_OP_BYTES`], so the
//! largest `AppendEntries` (`MAX_ENTRIES_PER_APPEND` entries, each escaped at worst six bytes
//! per byte in JSON) stays well under [`MAX_FRAME`].

use std::fmt;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, LogIndex, NodeId, Seq, Term};
use crate::kv::{Op, OpValue, Request, SessionLimits};
use crate::message::Message;

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;

/// Largest frame accepted (version byte and body), 16 MiB. Memory for a frame is taken as
/// its bytes arrive, not on the strength of its length prefix.
pub const MAX_FRAME: usize = 16 << 20;

/// Largest key plus value of one client operation, 16 KiB.
pub const MAX_OP_BYTES: usize = 16 << 10;

/// An operation's key and value must fit in [`MAX_OP_BYTES`] (an `incr` amount counts as
/// nothing: it is a number, not text). Checked by the client before sending and by the
/// node on arrival.
pub fn check_op_size(op: &Op) -> Result<(), String> {
    let value = match op.value() {
        Some(OpValue::Str(s)) => s.len(),
        Some(OpValue::Int(_)) | None => 0,
    };
    let size = op.key().len() + value;
    if size > MAX_OP_BYTES {
        return Err(format!(
            "key and value of {size} bytes; a node accepts at most {MAX_OP_BYTES}"
        ));
    }
    Ok(())
}

/// Everything that travels between processes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum Frame {
    /// Node to node, first on every connection a node opens to a peer: who it is, and the
    /// cluster's token (empty when the cluster has none), and the session rules it runs
    /// with (state-machine parameters every node must share; absent from older nodes, which
    /// have none). A node started with `--cluster-token` takes peer frames only after a hello
    /// with the same token; every node refuses a hello whose session rules differ from its
    /// own.
    Hello {
        from: NodeId,
        token: String,
        #[serde(default)]
        sessions: SessionRules,
    },
    /// Node to node: a Raft message.
    Peer { from: NodeId, message: WireMessage },
    /// Client to node: an operation; `attempt` counts sends of this `(client, seq)`.
    Request { request: Request, attempt: u32 },
    /// Node to client: the answer to a `Request`, from `node`.
    Reply {
        node: NodeId,
        client: ClientId,
        seq: Seq,
        attempt: u32,
        reply: WireReply,
        /// Every node's address, so a client can try another node after a timeout.
        members: Vec<String>,
    },
    /// Client to node: open a session (a node whose sessions are registered, started with
    /// `--session-timeout-ms` or `--max-sessions`); `attempt` counts sends, from 1.
    /// Answered with `RegisterReply`.
    Register { attempt: u32 },
    /// Node to client: the answer to a `Register`, from `node`.
    RegisterReply {
        node: NodeId,
        attempt: u32,
        reply: WireRegisterReply,
        /// Every node's address, so a client can try another node after a timeout.
        members: Vec<String>,
    },
    /// Anyone to node: who are you, and who leads? Answered with `StatusReply`.
    Status,
    /// Keeps a quiet connection from being closed as idle; never answered.
    Ping,
    /// Node to asker: the node's view of the cluster.
    StatusReply(NodeStatus),
    /// The other side sent something this side could not read or will not serve; the
    /// connection closes. `retry` when the same request may succeed elsewhere or later (the
    /// node is overloaded), not when the request itself is at fault.
    Error {
        message: String,
        #[serde(default)]
        retry: bool,
    },
}

impl Frame {
    /// The frame's kind, as error messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::Peer { .. } => "peer",
            Frame::Request { .. } => "request",
            Frame::Reply { .. } => "reply",
            Frame::Register { .. } => "register",
            Frame::RegisterReply { .. } => "register_reply",
            Frame::Status => "status",
            Frame::Ping => "ping",
            Frame::StatusReply(_) => "status_reply",
            Frame::Error { .. } => "error",
        }
    }
}

/// What a node reports about itself (`idemsim client status`, and how `cluster` finds the
/// leader).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: NodeId,
    /// `leader`, `candidate` or `follower`.
    pub role: String,
    pub term: Term,
    /// The leader this node knows of (itself when it leads).
    pub leader: Option<NodeId>,
    pub commit_index: LogIndex,
    pub last_applied: LogIndex,
    pub log_length: u64,
    /// Every node's address, in node order.
    pub members: Vec<String>,
}

/// A Raft message on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WireMessage(pub Message);

impl PartialEq for WireMessage {
    fn eq(&self, other: &Self) -> bool {
        // Messages have no equality of their own; their JSON is a faithful stand-in.
        serde_json::to_string(self).ok() == serde_json::to_string(other).ok()
    }
}

/// A node's answer to a client, as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WireReply {
    /// The result; `cached` when it came from the session table (the request was a
    /// duplicate of one already applied).
    Done {
        result: Option<String>,
        cached: bool,
    },
    /// Not the leader; where the leader is, if known.
    NotLeader {
        leader: Option<NodeId>,
        leader_addr: Option<String>,
    },
    /// This `(client, seq)` was already acknowledged and its result is no longer kept: it
    /// was not applied again (`last_seq`: the client's highest seq that took effect).
    Forgotten { last_seq: Seq },
    /// This `(client, seq)` already took effect as a different operation: this one was not
    /// applied (`last_seq`: the client's highest seq that took effect).
    Conflict { last_seq: Seq },
    /// The session of this client id is not live (expired, evicted, or never opened): this
    /// request was not applied now; an earlier copy may have been. Register a new session.
    SessionExpired,
}

/// A node's answer to a `Register`, as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WireRegisterReply {
    /// The session is open under this client id (the index of its `register` entry).
    Registered { client: ClientId },
    /// Not the leader; where the leader is, if known.
    NotLeader {
        leader: Option<NodeId>,
        leader_addr: Option<String>,
    },
}

/// The session rules a node runs with (`--session-timeout-ms`, `--max-sessions`): how its
/// state machine opens and ends sessions, so every node of a cluster must have the same.
/// Nodes exchange them in their hellos.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRules {
    /// Sessions are opened by registering; requests under any other id are refused.
    pub register: bool,
    /// A session idle (in log time) longer than this expires; 0: never.
    pub timeout_us: u64,
    /// Most live sessions; past it the least recently active is evicted; 0: unbounded.
    pub max_sessions: u32,
}

impl From<SessionLimits> for SessionRules {
    fn from(limits: SessionLimits) -> Self {
        SessionRules {
            register: limits.register,
            timeout_us: limits.timeout_us,
            max_sessions: limits.max_sessions,
        }
    }
}

impl fmt::Display for SessionRules {
    /// As the flags that set them: `--session-timeout-ms 300 --max-sessions 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.timeout_us / 1000;
        write!(
            f,
            "--session-timeout-ms {ms} --max-sessions {}",
            self.max_sessions
        )?;
        if self.register && ms == 0 && self.max_sessions == 0 {
            f.write_str(" (registered sessions)")?;
        }
        Ok(())
    }
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The connection closed cleanly before a frame began.
    Closed,
    /// The read timed out before a frame began (an idle connection).
    Idle,
    /// The connection failed or closed in the middle of a frame.
    Io(io::Error),
    /// A length over [`MAX_FRAME`] or over what the reader admits (or zero).
    Size(usize),
    /// A version this build does not speak.
    Version(u8),
    /// The reader would not take a frame of this length now (see [`read_frame_admitting`]).
    Busy(usize),
    /// A body that is not a frame.
    Body(serde_json::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => f.write_str("connection closed"),
            FrameError::Idle => f.write_str("connection idle"),
            FrameError::Io(e) => write!(f, "connection failed mid-frame: {e}"),
            FrameError::Size(0) => f.write_str("empty frame"),
            FrameError::Size(n) => write!(f, "frame of {n} bytes is too large"),
            FrameError::Busy(n) => write!(f, "no room for a frame of {n} bytes now"),
            FrameError::Version(v) => {
                write!(f, "protocol version {v} (this node speaks {VERSION})")
            }
            FrameError::Body(e) => write!(f, "malformed frame body: {e}"),
        }
    }
}

/// Encode one frame (one allocation: the body is written after a placeholder length).
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 0, VERSION];
    serde_json::to_writer(&mut out, frame).expect("frames always serialize");
    let len = u32::try_from(out.len() - 4).expect("a frame fits in u32");
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Write one frame.
pub fn write_frame(out: &mut impl Write, frame: &Frame) -> io::Result<()> {
    out.write_all(&encode(frame))?;
    out.flush()
}

/// Read one frame, never allocating more than [`MAX_FRAME`] for it.
pub fn read_frame(input: &mut impl Read) -> Result<Frame, FrameError> {
    read_frame_admitting(input, |_| Ok(()))
}

/// Read one frame, first asking `admit` whether a frame of its announced length (at most
/// [`MAX_FRAME`]) may be read now. What `admit` returns is held until the frame is parsed:
/// a reservation against a memory budget, say, released when it drops.
pub fn read_frame_admitting<G>(
    input: &mut impl Read,
    admit: impl FnOnce(usize) -> Result<G, FrameError>,
) -> Result<Frame, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if got == 0 && is_timeout(&e) => return Err(FrameError::Idle),
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(FrameError::Size(len));
    }
    let _admitted = admit(len)?;
    let mut body = Vec::with_capacity(len.min(64 << 10));
    let read = input
        .take(len as u64)
        .read_to_end(&mut body)
        .map_err(FrameError::Io)?;
    if read < len {
        return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    if body[0] != VERSION {
        return Err(FrameError::Version(body[0]));
    }
    serde_json::from_slice(&body[1..]).map_err(FrameError::Body)
}

/// A read that gave up waiting (how a socket read timeout surfaces).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Op, Origin};
    use std::sync::Arc;

    fn request() -> Request {
        Request {
            client: ClientId(42),
            seq: Seq(1),
            lowest_unacked: Seq(1),
            op: Op::Put {
                key: Arc::from("mykey"),
                value: Arc::from("myvalue"),
            },
            origin: Origin::default(),
        }
    }

    /// Every frame kind survives encoding and decoding.
    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Request {
                request: request(),
                attempt: 2,
            },
            Frame::Peer {
                from: NodeId(3),
                message: WireMessage(Message::AppendEntries {
                    term: Term(2),
                    prev_log_index: LogIndex(4),
                    prev_log_term: Term(1),
                    entries: vec![crate::message::Entry {
                        term: Term(2),
                        payload: crate::message::Payload::Client(Arc::new(request())),
                        stamp_us: 0,
                    }],
                    leader_commit: LogIndex(3),
                }),
            },
            Frame::Reply {
                node: NodeId(1),
                client: ClientId(42),
                seq: Seq(1),
                attempt: 1,
                reply: WireReply::Done {
                    result: Some("x".to_owned()),
                    cached: true,
                },
                members: vec!["127.0.0.1:9001".to_owned()],
            },
            Frame::Register { attempt: 3 },
            Frame::RegisterReply {
                node: NodeId(2),
                attempt: 3,
                reply: WireRegisterReply::Registered {
                    client: ClientId(7),
                },
                members: vec!["127.0.0.1:9001".to_owned()],
            },
            Frame::RegisterReply {
                node: NodeId(1),
                attempt: 1,
                reply: WireRegisterReply::NotLeader {
                    leader: Some(NodeId(2)),
                    leader_addr: Some("127.0.0.1:9002".to_owned()),
                },
                members: vec![],
            },
            Frame::Status,
            Frame::Ping,
            Frame::Hello {
                from: NodeId(2),
                token: "t".to_owned(),
                sessions: SessionRules {
                    register: true,
                    timeout_us: 300_000,
                    max_sessions: 5,
                },
            },
            Frame::StatusReply(NodeStatus {
                node: NodeId(2),
                role: "leader".to_owned(),
                term: Term(3),
                leader: Some(NodeId(2)),
                commit_index: LogIndex(5),
                last_applied: LogIndex(4),
                log_length: 6,
                members: vec!["127.0.0.1:9001".to_owned(), "127.0.0.1:9002".to_owned()],
            }),
            Frame::Error {
                message: "no".to_owned(),
                retry: true,
            },
        ];
        for (i, frame) in frames.into_iter().enumerate() {
            let bytes = encode(&frame);
            let back = read_frame(&mut &bytes[..]).unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(back, frame, "case {i}");
        }
    }

    /// A hello from a node that predates session rules reads as a node without them, and a
    /// register frame must say which attempt it is.
    #[test]
    fn hellos_default_to_no_session_rules_and_registers_need_an_attempt() {
        let old = br#"{"frame":"hello","from":2,"token":""}"#;
        let bytes = [&(old.len() as u32 + 1).to_be_bytes()[..], &[VERSION], old].concat();
        match read_frame(&mut &bytes[..]) {
            Ok(Frame::Hello { sessions, .. }) => assert_eq!(sessions, SessionRules::default()),
            other => panic!("an old hello read as {other:?}"),
        }
        let bad = br#"{"frame":"register"}"#;
        let bytes = [&(bad.len() as u32 + 1).to_be_bytes()[..], &[VERSION], bad].concat();
        let err = read_frame(&mut &bytes[..]).expect_err("a register without an attempt");
        assert!(err.to_string().contains("attempt"), "{err}");
    }

    /// The largest AppendEntries a leader can send (a full batch of the largest operations,
    /// every byte of them the worst case for JSON escaping) still fits in a frame, so a
    /// follower never refuses a batch it needs to catch up.
    #[test]
    fn the_largest_append_fits_in_a_frame() {
        let half = MAX_OP_BYTES / 2;
        let worst = |n: usize| -> Arc<str> { Arc::from("\u{1}".repeat(n)) };
        let entry = crate::message::Entry {
            term: Term(u64::MAX),
            payload: crate::message::Payload::Client(Arc::new(Request {
                client: ClientId(u64::MAX),
                seq: Seq(u64::MAX),
                lowest_unacked: Seq(u64::MAX),
                op: Op::Append {
                    key: worst(half),
                    value: worst(MAX_OP_BYTES - half),
                },
                origin: Origin::default(),
            })),
            stamp_us: u64::MAX,
        };
        let batch = crate::raft::MAX_ENTRIES_PER_APPEND as usize;
        let frame = Frame::Peer {
            from: NodeId(9),
            message: WireMessage(Message::AppendEntries {
                term: Term(u64::MAX),
                prev_log_index: LogIndex(u64::MAX),
                prev_log_term: Term(u64::MAX),
                entries: vec![entry; batch],
                leader_commit: LogIndex(u64::MAX),
            }),
        };
        let size = encode(&frame).len() - 4;
        assert!(
            size <= MAX_FRAME,
            "{batch} worst-case entries take {size} bytes"
        );
        let back = read_frame(&mut &encode(&frame)[..]).expect("the largest append reads back");
        assert_eq!(back, frame);
    }

    /// Bad input is an error that says what was wrong, never a panic or a huge allocation.
    #[test]
    fn bad_frames_are_refused() {
        let good = encode(&Frame::Error {
            message: "x".to_owned(),
            retry: false,
        });
        let mut wrong_version = good.clone();
        wrong_version[4] = 9;
        let mut bad_body = good.clone();
        bad_body[6] = b'!';
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("short length", vec![0, 0]),
            ("zero length", vec![0, 0, 0, 0]),
            ("oversized", u32::MAX.to_be_bytes().to_vec()),
            (
                "just over the limit",
                ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec(),
            ),
            (
                "length promises more than arrives",
                [&16u32.to_be_bytes()[..], &[VERSION]].concat(),
            ),
            ("truncated body", good[..good.len() - 2].to_vec()),
            ("wrong version", wrong_version),
            ("malformed body", bad_body),
        ];
        for (i, (label, bytes)) in cases.into_iter().enumerate() {
            let result = read_frame(&mut &bytes[..]);
            assert!(result.is_err(), "case {i} ({label}) was accepted");
        }
        assert!(matches!(read_frame(&mut &[][..]), Err(FrameError::Closed)));
    }
}

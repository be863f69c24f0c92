//! The client-visible operations (docs/DESIGN.md §5) and the request that carries one through
//! the log.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, ClientNo, Seq};

/// The result of an operation: a string or null (docs/DESIGN.md §5). Shared, so that caching
/// a result in a session table or sending it in a reply never copies the bytes.
pub type OpResult = Option<Arc<str>>;

/// The five operation kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Put,
    Append,
    Incr,
    Delete,
    Get,
}

impl OpKind {
    pub const ALL: [OpKind; 5] = [
        OpKind::Put,
        OpKind::Append,
        OpKind::Incr,
        OpKind::Delete,
        OpKind::Get,
    ];

    /// The name used in scenario files and traces.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Append => "append",
            OpKind::Incr => "incr",
            OpKind::Delete => "delete",
            OpKind::Get => "get",
        }
    }

    /// Reads are never deduplicated and never count as "taking effect".
    pub fn is_write(self) -> bool {
        !matches!(self, OpKind::Get)
    }
}

/// One operation on one key. Keys and values are shared strings: the same `Arc` travels from
/// the workload generator through requests, log entries and the KV map without being copied.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    /// `k = v`; result: the previous value or null.
    Put { key: Arc<str>, value: Arc<str> },
    /// `k = (k or "") + v`; result: the new value.
    Append { key: Arc<str>, value: Arc<str> },
    /// `k = k + amount` as a decimal (absent = 0); result: the new value, or
    /// `"ERR not an integer"` and no change.
    Incr { key: Arc<str>, amount: i64 },
    /// Remove `k`; result: the previous value or null.
    Delete { key: Arc<str> },
    /// Read `k`; result: the current value or null.
    Get { key: Arc<str> },
}

impl Op {
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Put { .. } => OpKind::Put,
            Op::Append { .. } => OpKind::Append,
            Op::Incr { .. } => OpKind::Incr,
            Op::Delete { .. } => OpKind::Delete,
            Op::Get { .. } => OpKind::Get,
        }
    }

    pub fn key(&self) -> &str {
        self.key_arc()
    }

    /// The key, shared.
    pub fn key_arc(&self) -> &Arc<str> {
        match self {
            Op::Put { key, .. }
            | Op::Append { key, .. }
            | Op::Incr { key, .. }
            | Op::Delete { key }
            | Op::Get { key } => key,
        }
    }

    /// The operand as the trace shows it: the value for put/append, the amount in decimal for
    /// incr, nothing for delete/get.
    pub fn value(&self) -> Option<OpValue<'_>> {
        match self {
            Op::Put { value, .. } | Op::Append { value, .. } => Some(OpValue::Str(value)),
            Op::Incr { amount, .. } => Some(OpValue::Int(*amount)),
            Op::Delete { .. } | Op::Get { .. } => None,
        }
    }
}

/// An operand, borrowed: formatting an `incr` amount needs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpValue<'a> {
    Str(&'a str),
    Int(i64),
}

impl fmt::Display for OpValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpValue::Str(s) => f.write_str(s),
            OpValue::Int(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Op {
    /// `incr k2 1`, `put k1 523`, `get k0`: the form of the text trace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind().name(), self.key())?;
        if let Some(value) = self.value() {
            write!(f, " {value}")?;
        }
        Ok(())
    }
}

/// A client's request as it travels to the leader and sits in the log: who sent it, its
/// number, and the lowest seq the client has not yet had acknowledged (every lower seq has a
/// reply, so servers may forget those results; LogCabin's `first_outstanding_rpc`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Request {
    pub client: ClientId,
    pub seq: Seq,
    pub lowest_unacked: Seq,
    pub op: Op,
    /// Who really issued it. Bookkeeping for the checkers (a restarted client that reuses its
    /// `client_id` issues different operations under the same `(client_id, seq)`); servers
    /// must never read it: they know a request only by `client` and `seq`. Not sent over a
    /// real network.
    #[serde(skip)]
    pub origin: Origin,
}

/// A simulated client process and the incarnation of it (0, then +1 at each restart) that
/// issued a request: what identifies an operation for the checkers, with its seq.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub client_no: ClientNo,
    pub incarnation: u32,
}

impl fmt::Display for Origin {
    /// `c2`, or `c2#1` for a restarted incarnation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.client_no)?;
        if self.incarnation > 0 {
            write!(f, "#{}", self.incarnation)?;
        }
        Ok(())
    }
}

//! Newtypes for the identifiers and quantities that flow between nodes, clients and the world.
//!
//! Each is a thin `Copy` wrapper so that a node id can never be passed where a log index was
//! meant; `Display` gives the form the traces use (`n2`, `c1`, plain numbers otherwise).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Raft node, numbered from 1 as in scenario files and traces (`n1`..`n9`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u8);

impl NodeId {
    /// Zero-based position of the node in per-node tables.
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0) - 1
    }

    /// The node at zero-based table position `index`.
    #[inline]
    pub fn from_index(index: usize) -> NodeId {
        let id = u8::try_from(index + 1).expect("node index fits in u8");
        NodeId(id)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A client's random identity, drawn from its own seeded stream (the dedup key, with `Seq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The position of a simulated client process (`c1`, `c2`, …), numbered from 1. Distinct from
/// its [`ClientId`]: the number names the process in traces, the id is what servers see.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ClientNo(pub u32);

impl ClientNo {
    /// Zero-based position of the client in per-client tables.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize - 1
    }

    /// The client at zero-based table position `index`.
    #[inline]
    pub fn from_index(index: usize) -> ClientNo {
        ClientNo(u32::try_from(index + 1).expect("client index fits in u32"))
    }
}

impl fmt::Display for ClientNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A client's request number: 1, 2, … per client id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Raft term.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Term(pub u64);

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A position in the replicated log, starting at 1; 0 means "before the first entry".
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LogIndex(pub u64);

impl LogIndex {
    /// The next index.
    #[inline]
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }

    /// The previous index, saturating at 0.
    #[inline]
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Simulated time in microseconds since the start of the run. Never read from a wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    /// A time `ms` simulated milliseconds after the start.
    #[inline]
    pub fn from_ms(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(1000))
    }

    /// Simulated microseconds since the start (the trace's `t_us`).
    #[inline]
    pub fn as_us(self) -> u64 {
        self.0
    }

    /// This time plus `us` microseconds, saturating.
    #[inline]
    pub fn plus_us(self, us: u64) -> SimTime {
        SimTime(self.0.saturating_add(us))
    }

    /// This time plus `ms` milliseconds, saturating.
    #[inline]
    pub fn plus_ms(self, ms: u64) -> SimTime {
        self.plus_us(ms.saturating_mul(1000))
    }

    /// Seconds as a float, for summaries only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl fmt::Display for SimTime {
    /// `1.234567s`: the prefix of every text-trace line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

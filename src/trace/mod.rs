//! Trace events (docs/DESIGN.md §7): what checkers observe and what `--trace` prints.
//!
//! The world builds one [`TraceEvent`] per observable step, borrowing from its own state, and
//! hands it to the checkers, the run digest and (only when tracing is on) a [`TraceSink`].
//! Nothing is formatted or allocated for an event unless a sink asks for it.

mod jsonl;
mod process;
mod story;
mod text;
mod tracing_sink;

use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::sync::Arc;

pub use jsonl::RecordingSink;
pub use process::Traced;
pub use story::StorySink;
pub use text::format_event;
pub use tracing_sink::TracingSink;

use crate::digest::DigestHasher;
use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, SimTime, Term};
use crate::kv::{EndReason, OpResult, Origin, Outcome, Request, StateDigest, TableSize};
use crate::message::{Addr, Payload, Refusal};
use crate::raft::{Log, ReadPath};
use crate::scenario::CrashWhen;
use crate::verdict::Violation;

/// A probability, hashable by its bits so events can be digested.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prob(pub f64);

impl Hash for Prob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// Where a duplicate was caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DedupSite {
    /// While applying a committed entry (every replica decides the same).
    Apply,
    /// At the leader, when the request arrived, from its applied session table.
    Receive,
}

impl DedupSite {
    pub fn name(self) -> &'static str {
        match self {
            DedupSite::Apply => "apply",
            DedupSite::Receive => "receive",
        }
    }
}

/// What a detected duplicate was answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DedupAnswer {
    /// The cached result of its one application.
    Cached,
    /// Nothing: it was already acknowledged and its result forgotten.
    Forgotten,
    /// A refusal: its seq took effect as a different operation.
    Conflict,
}

/// A node's log as a trace event carries it: seen by checkers, never printed or hashed (the
/// events that built it already were).
#[derive(Clone, Copy)]
pub struct LogView<'a>(pub &'a Log);

impl Hash for LogView<'_> {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

impl std::fmt::Debug for LogView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogView(last index {})", self.0.last_index())
    }
}

/// The dedup state's size after an apply, as an event carries it: seen by the table-size
/// rule, never printed or hashed (it follows from the applies already hashed).
#[derive(Clone, Copy, Debug)]
pub struct TableView(pub TableSize);

impl Hash for TableView {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// Why and in which state a node crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrashCause {
    /// Fault number in the scenario (0-based, as in `faults[i]`).
    pub fault: usize,
    pub was_leader: bool,
    pub term: Term,
    pub when: CrashWhen,
    /// The client write the trigger waited for.
    pub index: Option<LogIndex>,
    /// Mid-replication: a follower the write was sent to that had not acknowledged it.
    pub sent_to: Option<NodeId>,
}

/// A step of one message's journey (`--messages`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageStep {
    /// A process sent it.
    Send,
    /// It reached its process.
    Deliver,
    /// The network lost it at random.
    Lost,
    /// It arrived at a process that is down.
    Down,
    /// The network duplicated it: a second copy is on its way.
    Dup,
    /// A partition cut it, when sent or on arrival.
    Cut,
}

impl MessageStep {
    /// The JSONL `event` name.
    pub fn name(self) -> &'static str {
        match self {
            MessageStep::Send => "send",
            MessageStep::Deliver => "deliver",
            MessageStep::Lost | MessageStep::Down => "drop",
            MessageStep::Dup => "dup",
            MessageStep::Cut => "cut",
        }
    }
}

/// One observable step of a run.
#[derive(Clone, Copy, Debug, Hash)]
pub enum TraceEvent<'a> {
    /// A client issues a new operation.
    Submit {
        client_no: ClientNo,
        request: &'a Arc<Request>,
    },
    /// A client sends (or re-sends) its request to a node.
    Request {
        client_no: ClientNo,
        client: ClientId,
        seq: Seq,
        node: NodeId,
        attempt: u32,
    },
    /// A client gave up on an attempt and will retry at `retry_to`.
    Timeout {
        client_no: ClientNo,
        client: ClientId,
        seq: Seq,
        attempt: u32,
        retry_to: NodeId,
    },
    /// A client's attempt could not reach its node at all (a real network refused or dropped
    /// the connection); it retries at `retry_to`. Never in a simulation.
    Unreachable {
        client_no: ClientNo,
        client: ClientId,
        seq: Seq,
        node: NodeId,
        attempt: u32,
        retry_to: NodeId,
    },
    /// A node told a client it is not the leader.
    Redirect {
        client_no: ClientNo,
        client: ClientId,
        seq: Seq,
        node: NodeId,
        hint: Option<NodeId>,
    },
    /// The client accepts the op's result.
    Reply {
        client_no: ClientNo,
        /// The client process incarnation that accepts it.
        origin: Origin,
        client: ClientId,
        seq: Seq,
        node: NodeId,
        result: &'a OpResult,
        cached: bool,
    },
    /// A node refused a client's operation, as an acknowledged and forgotten seq or as a seq
    /// that took effect as a different operation; the operation ends without a result (JSONL:
    /// a `reply` with `"error": "forgotten"` or `"conflict"`).
    Refused {
        client_no: ClientNo,
        origin: Origin,
        client: ClientId,
        seq: Seq,
        node: NodeId,
        last_seq: Seq,
        /// Why it was refused.
        reason: Refusal,
    },
    /// A client used its last attempt without an answer and gave its operation up (a real
    /// client's `--attempts`; simulated clients never give up).
    GaveUp {
        client_no: ClientNo,
        client: ClientId,
        seq: Seq,
        attempts: u32,
    },
    /// A leader appended a client request to its log.
    Append {
        node: NodeId,
        index: LogIndex,
        term: Term,
        request: &'a Request,
        attempt: u32,
    },
    /// A node applied a committed entry.
    Apply {
        node: NodeId,
        index: LogIndex,
        term: Term,
        payload: &'a Payload,
        outcome: Outcome,
        result: &'a OpResult,
        digest: StateDigest,
        table: TableView,
    },
    /// Applying the entry at `index` ended `client`'s session first (idle past the timeout,
    /// or evicted past the table's bound).
    Expire {
        node: NodeId,
        client: ClientId,
        index: LogIndex,
        reason: EndReason,
    },
    /// A client's session opened: `node` answered that its id is `client`, the index of its
    /// `register` entry.
    Register {
        client_no: ClientNo,
        client: ClientId,
        node: NodeId,
        index: LogIndex,
    },
    /// `node` answered that `client`'s session has ended; the client's operations in flight
    /// end indefinite (each is traced as a `session-expired` reply) and it registers again.
    SessionExpired {
        client_no: ClientNo,
        client: ClientId,
        node: NodeId,
    },
    /// `node` took a snapshot of its state machine up to `index` (of `term`), and drops its
    /// log up to there next.
    Snapshot {
        node: NodeId,
        index: LogIndex,
        term: Term,
        digest: StateDigest,
    },
    /// Follower `node` installed the snapshot up to `index` (of `term`) that leader `from`
    /// sent: its state is now what every replica had after applying `index` (`digest`).
    Install {
        node: NodeId,
        from: NodeId,
        index: LogIndex,
        term: Term,
        digest: StateDigest,
    },
    /// `node` answered `client`'s read `seq` outside the log, by `path`, from its state
    /// applied up to `index` (a `get` under `[server] reads = "log"` is an `apply`).
    Read {
        node: NodeId,
        client: ClientId,
        seq: Seq,
        path: ReadPath,
        index: LogIndex,
        result: &'a OpResult,
    },
    /// A clock fault set (`offset_us`, `drift_ppm`) or cleared (both 0) a node's clock.
    Clock {
        fault: usize,
        node: NodeId,
        offset_us: i64,
        drift_ppm: i64,
    },
    /// A duplicate was detected.
    Dedup {
        node: NodeId,
        client: ClientId,
        seq: Seq,
        last_seq: Seq,
        site: DedupSite,
        /// The duplicate entry's index when caught at apply.
        index: Option<LogIndex>,
        /// What the duplicate was answered with.
        answer: DedupAnswer,
    },
    /// A node became leader, with its log at that moment (for Leader Completeness; never
    /// printed).
    Leader {
        node: NodeId,
        term: Term,
        log: LogView<'a>,
    },
    Crash {
        node: NodeId,
        cause: CrashCause,
    },
    Restart {
        node: NodeId,
    },
    /// A client process crashed (`fault` numbers the scenario's fault); its op in flight, if
    /// any, is abandoned.
    ClientCrash {
        client_no: ClientNo,
        client: ClientId,
        fault: usize,
        abandoned: Option<Seq>,
    },
    /// A client process restarted as a new incarnation, under `client` (new, or reused).
    ClientRestart {
        client_no: ClientNo,
        client: ClientId,
        incarnation: u32,
    },
    /// Links between the groups are cut (`fault` numbers the scenario's fault).
    Partition {
        fault: usize,
        groups: &'a [Vec<NodeId>],
        /// Only what the first group sends is cut.
        one_way: bool,
    },
    /// The network re-delivers an old client request to a (new) leader.
    Replay {
        fault: usize,
        client: ClientId,
        seq: Seq,
        to: NodeId,
    },
    /// Partition `fault` healed.
    Heal {
        fault: usize,
    },
    /// Link behaviour changed (a network fault's window opened or closed).
    Network {
        fault: usize,
        open: bool,
        drop: Prob,
        duplicate: Prob,
        delay_us: (u64, u64),
    },
    /// The fault phase ended: faults healed, crashed nodes restarted, no loss or duplication.
    Liveness,
    /// The fault profile this seed drew (swarm runs only); the first event.
    Swarm {
        profile: &'a str,
    },
    /// A scheduled fault's trigger never came during the fault phase.
    FaultSkipped {
        fault: usize,
    },
    /// A step of a message's journey; only with `--messages`.
    Message {
        step: MessageStep,
        from: Addr,
        to: Addr,
        /// The message kind, as on the wire (`append_entries`, `client_request`…).
        kind: &'static str,
        /// Its size encoded as on the wire.
        bytes: u64,
    },
    /// The run's result; always the last event.
    Verdict {
        ok: bool,
        violations: &'a [Violation],
        replay: &'a str,
    },
}

/// Writes one line per event to `out` in one of the renderings. Keeps the first write error
/// and writes nothing after it (a closed pipe must not abort the run).
pub struct LineSink<W: Write> {
    out: W,
    line: String,
    format: fn(&mut String, SimTime, &TraceEvent<'_>),
    error: Option<io::Error>,
}

impl<W: Write> LineSink<W> {
    /// `--trace text`: one line per event for people.
    pub fn text(out: W) -> LineSink<W> {
        LineSink::with_format(out, text::format_line)
    }

    /// `--trace jsonl`: one JSON object per line for tools.
    pub fn jsonl(out: W) -> LineSink<W> {
        LineSink::with_format(out, jsonl::format_event)
    }

    fn with_format(out: W, format: fn(&mut String, SimTime, &TraceEvent<'_>)) -> LineSink<W> {
        LineSink {
            out,
            line: String::with_capacity(256),
            format,
            error: None,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> TraceSink for LineSink<W> {
    fn event(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        (self.format)(&mut self.line, t, event);
        self.line.push('\n');
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.error = Some(e);
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

/// Receives every trace event of a run, in order.
pub trait TraceSink {
    fn event(&mut self, t: SimTime, event: &TraceEvent<'_>);

    /// Flush buffered output; returns the first write error, if any happened.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// A 64-bit digest of every trace event of a run: two runs with equal digests produced the
/// same trace (see [`crate::digest`] for what the hash promises).
#[derive(Clone, Debug)]
pub struct TraceDigest {
    hasher: DigestHasher,
    events: u64,
}

impl Default for TraceDigest {
    fn default() -> Self {
        TraceDigest {
            hasher: crate::digest::hasher(),
            events: 0,
        }
    }
}

impl TraceDigest {
    #[inline]
    pub fn add(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        t.hash(&mut self.hasher);
        event.hash(&mut self.hasher);
        self.events += 1;
    }

    pub fn value(&self) -> u64 {
        self.hasher.finish()
    }

    /// Trace events digested so far.
    pub fn events(&self) -> u64 {
        self.events
    }
}

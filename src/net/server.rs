//! `idemsim serve`: one Raft node on real TCP. It drives the very [`RaftNode`] the simulator
//! runs: time is the process's monotonic clock, messages are frames on sockets, and the durable
//! state is a write-ahead log ([`super::storage`]) fsynced before any message that depends on
//! it leaves.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread;
use std::time::{Duration, Instant};
use std::{collections::BTreeMap, fmt};

use clap::ValueEnum;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::conn::{self, ConnWriter, Input, WriteError};
use super::guard;
use super::storage::{Meta, Rules, Storage, StorageError};
use super::wire::{
    self, Frame, NodeStatus, SessionRules, WireMessage, WireRegisterReply, WireReply,
};
use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, SimTime, Term};
use crate::kv::{Dedup, Request, SessionLimits};
use crate::message::{Addr, Envelope, Message, RegisterAnswer, Reply};
use crate::process::Process;
use crate::raft::{CrashedNode, Mutations, NodeConfig, RaftNode, Reads, Role};
use crate::trace::{self, Traced};

/// Everything `idemsim serve` needs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub id: NodeId,
    pub listen: SocketAddr,
    /// Every other node and where it listens. With this node they must be `n1..=nN`.
    pub peers: Vec<(NodeId, SocketAddr)>,
    pub data_dir: PathBuf,
    pub dedup: Dedup,
    /// How sessions open and end (see [`session_limits`]); every node of a cluster must
    /// have the same.
    pub limits: SessionLimits,
    /// Take a snapshot and compact the log every this many applied entries; 0: never.
    pub snapshot_every: u64,
    /// Election timeouts are drawn uniformly from `[t, 2t]`.
    pub election_timeout_ms: u64,
    pub heartbeat_ms: u64,
    /// Exit when standard input closes (set by `cluster`, so nodes never outlive it).
    pub exit_with_stdin: bool,
    /// Fault injection: exit the process at a crash point, as the simulator crashes a node.
    pub crash_at: Option<CrashAt>,
    /// With a token, peer frames are taken only from connections that opened with a hello
    /// carrying it; without one, any connection may speak for a peer.
    pub cluster_token: Option<String>,
}

/// Exit code of a node stopped by `--crash-at` (sysexits' EX_SOFTWARE).
pub const EXIT_CRASH_POINT: i32 = 70;

/// A crash point a real node can stop at exactly (docs/DESIGN.md §4's triggers, as
/// [`RaftNode::crash_points`] reports them). `mid-replication` is not offered: sends leave
/// through peer threads, so "sent to a follower" is not an instant the node loop can stop at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CrashPoint {
    /// The leader appended a client write and sent it to no one.
    BeforeReplicate,
    /// The leader committed a client write and has not applied or answered it.
    AfterCommit,
    /// The leader has just written its answer to a client write.
    AfterReply,
}

/// Stop the process the first time `point` is reached after `after_writes` client writes
/// reached it (counted per process, as leader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashAt {
    pub point: CrashPoint,
    pub after_writes: u64,
}

/// Why a node could not start or had to stop.
#[derive(Debug)]
pub enum ServeError {
    /// The options do not describe a cluster.
    Usage(String),
    /// The data directory is not this node's, was written under other session rules, or
    /// is damaged other than by a torn last write.
    BadState(StorageError),
    /// Disk or socket failure.
    Io(String),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Usage(m) | ServeError::Io(m) => f.write_str(m),
            ServeError::BadState(e) => write!(f, "{e}"),
        }
    }
}

impl From<StorageError> for ServeError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Invalid { .. }
            | StorageError::Corrupt { .. }
            | StorageError::RulesChanged { .. } => ServeError::BadState(e),
            StorageError::Io { .. } => ServeError::Io(e.to_string()),
        }
    }
}

/// Every node's address in node order, checking that the nodes are exactly `n1..=nN`.
pub fn members(options: &ServeOptions) -> Result<Vec<SocketAddr>, ServeError> {
    let mut all: BTreeMap<NodeId, SocketAddr> = BTreeMap::new();
    all.insert(options.id, options.listen);
    for &(id, addr) in &options.peers {
        if all.insert(id, addr).is_some() {
            return Err(ServeError::Usage(format!(
                "node {id} is listed twice (--id and --peers name each node once)"
            )));
        }
    }
    let n = all.len();
    if n > 9 {
        return Err(ServeError::Usage(format!(
            "{n} nodes; a cluster has 1 to 9"
        )));
    }
    for (i, id) in all.keys().enumerate() {
        if id.0 as usize != i + 1 {
            let ids: Vec<String> = all.keys().map(ToString::to_string).collect();
            return Err(ServeError::Usage(format!(
                "nodes {} are not n1..=n{n}: number the nodes of an {n}-node cluster 1 to {n}",
                ids.join(", ")
            )));
        }
    }
    Ok(all.into_values().collect())
}

/// The session limits of `--session-timeout-ms` and `--max-sessions` (0: never, unbounded).
/// Either one non-zero turns registration on: sessions are then opened only by registering
/// (`idemsim client --register`), and a request under any other id is refused as
/// session-expired. Both 0: the v1 table, where a session appears on first use and never
/// ends.
pub fn session_limits(timeout_ms: u64, max_sessions: u32) -> SessionLimits {
    SessionLimits {
        register: timeout_ms > 0 || max_sessions > 0,
        timeout_us: timeout_ms.saturating_mul(1000),
        max_sessions,
    }
}

/// The session limits, as the node's start-up line says them.
fn describe_limits(limits: SessionLimits) -> String {
    if !limits.register {
        return "sessions open on first use and never end".to_owned();
    }
    let timeout = match limits.timeout_us / 1000 {
        0 => "never expire".to_owned(),
        ms => format!("expire after {ms} ms idle (log time)"),
    };
    let bound = match limits.max_sessions {
        0 => "unbounded".to_owned(),
        n => format!("at most {n} live"),
    };
    format!("sessions are registered, {timeout}, {bound}")
}

/// A leader's heartbeats must come more often than followers' election timeouts.
pub fn check_timing(election_timeout_ms: u64, heartbeat_ms: u64) -> Result<(), String> {
    if election_timeout_ms == 0 || heartbeat_ms >= election_timeout_ms {
        return Err(format!(
            "heartbeat every {heartbeat_ms} ms must be shorter than the election timeout of \
             {election_timeout_ms} ms"
        ));
    }
    Ok(())
}

/// Run one node until the process is killed (or, with `exit_with_stdin`, until standard input
/// closes). Returns only on an error that stops the node.
pub fn serve(options: &ServeOptions) -> Result<(), ServeError> {
    let members = members(options)?;
    let cluster_size = u8::try_from(members.len()).expect("at most 9 members");
    check_timing(options.election_timeout_ms, options.heartbeat_ms).map_err(ServeError::Usage)?;
    let owner = Meta {
        node: options.id,
        cluster_size,
        rules: Rules::new(options.dedup, options.limits),
    };
    let (storage, durable) = Storage::open(&options.data_dir, owner)?;
    let listener = TcpListener::bind(options.listen)
        .map_err(|e| ServeError::Io(format!("cannot listen on {}: {e}", options.listen)))?;
    let config = NodeConfig {
        id: options.id,
        cluster_size,
        election_timeout_us: (
            options.election_timeout_ms * 1000,
            options.election_timeout_ms * 2000,
        ),
        heartbeat_us: options.heartbeat_ms * 1000,
        dedup: options.dedup,
        limits: options.limits,
        mutations: Mutations::default(),
        snapshot_every: options.snapshot_every,
        snapshot_chunk_bytes: 64 << 10,
        reads: Reads::Log,
    };
    let restored = durable.is_some();
    let durable = durable.unwrap_or_default();
    tracing::info!(
        "{} listening on {} ({cluster_size} nodes, dedup {}, {}, data in {}); {}",
        options.id,
        options.listen,
        options.dedup.name(),
        describe_limits(options.limits),
        options.data_dir.display(),
        if restored {
            format!(
                "restored term {} and {} log entries{}",
                durable.current_term,
                durable.log.last_index(),
                match durable.snapshot_index() {
                    LogIndex(0) => String::new(),
                    index => format!(" (snapshot up to index {index}, the rest from the log)"),
                }
            )
        } else {
            "fresh state".to_owned()
        }
    );

    let (inputs, input_rx) = sync_channel(conn::INPUT_QUEUE);
    let rules = SessionRules::from(options.limits);
    if options.exit_with_stdin {
        watch_stdin(inputs.clone());
    }
    conn::spawn_listener(listener, inputs, options.cluster_token.clone(), rules);
    let peers = members
        .iter()
        .enumerate()
        .map(|(i, &addr)| {
            let peer = NodeId::from_index(i);
            let token = options.cluster_token.as_deref();
            (peer != options.id)
                .then(|| conn::spawn_peer_sender(options.id, peer, addr, token, rules))
        })
        .collect();
    let start = Instant::now();
    let raft = RaftNode::recover(
        CrashedNode {
            config,
            durable,
            rng: ChaCha8Rng::seed_from_u64(super::random_u64()),
        },
        SimTime::ZERO,
    );
    let mut node = NodeLoop {
        saved: raft.durable_version(),
        persists: 0,
        raft,
        storage,
        start,
        peers,
        members: members.iter().map(ToString::to_string).collect(),
        conns: BTreeMap::new(),
        swept: start,
        line: String::new(),
        crash_at: options.crash_at,
        crash_seen: 0,
        crash_last: None,
        register: options.limits.register,
    };
    node.run(&input_rx)
}

/// Stop the node once standard input reaches end of file (the parent `cluster` is gone):
/// the node loop is told, and the process exits anyway if the loop has not within a second.
fn watch_stdin(inputs: SyncSender<Input>) {
    thread::Builder::new()
        .name("stdin".to_owned())
        .spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            if inputs.try_send(Input::Stop).is_ok() {
                thread::sleep(Duration::from_secs(1));
            }
            std::process::exit(0);
        })
        .expect("spawn stdin watcher");
}

/// Most inputs handled in one step of the loop, persisted together (group commit).
const MAX_BATCH: usize = 256;

/// How long a connection that stopped sending is kept for the reply it is owed.
const HALF_CLOSED_GRACE_S: u64 = 30;

/// One accepted connection, as the node loop sees it.
struct Conn {
    writer: ConnWriter,
    /// The request or registration last received on it and not yet answered.
    pending: Option<Pending>,
    /// When the other side stopped sending (closed or half-closed), if it has.
    closed_at: Option<Instant>,
}

/// What a connection waits to be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Request(ClientId, Seq),
    /// A registration, by attempt.
    Register(u32),
}

/// The node and everything it talks through.
struct NodeLoop {
    raft: RaftNode,
    storage: Storage,
    /// `durable_version()` of the state last written to disk.
    saved: (Term, Option<NodeId>, u64, LogIndex),
    /// Calls of `Storage::persist` so far (each is at most one fsync of the log).
    persists: u64,
    start: Instant,
    /// Send queue of each peer, by node index (`None` for this node).
    peers: Vec<Option<SyncSender<Vec<u8>>>>,
    /// Every node's address, by node index.
    members: Vec<String>,
    /// Open connections, for replies.
    conns: BTreeMap<ClientNo, Conn>,
    /// When half-closed connections were last swept.
    swept: Instant,
    /// Reused buffer for log lines.
    line: String,
    crash_at: Option<CrashAt>,
    /// Client writes that reached the crash point so far, and the last one's index.
    crash_seen: u64,
    crash_last: Option<LogIndex>,
    /// Sessions are registered (the node has session limits): `Register` is served.
    register: bool,
}

impl NodeLoop {
    fn now(&self) -> SimTime {
        let us = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        SimTime(us)
    }

    /// Serve until stopped. Each turn handles a due timer, or what has arrived (up to
    /// [`MAX_BATCH`] inputs; one at a time with `--crash-at`, whose crash points are
    /// moments of one step), then persists once and sends: one fsync covers every input of
    /// the turn.
    fn run(&mut self, inputs: &Receiver<Input>) -> Result<(), ServeError> {
        let batch = if self.crash_at.is_some() {
            1
        } else {
            MAX_BATCH
        };
        loop {
            let now = self.now();
            let wait = match self.raft.poll_timeout() {
                Some(due) if due <= now => {
                    self.raft.handle_timeout(now);
                    self.after_step()?;
                    continue;
                }
                Some(due) => Duration::from_micros(due.as_us() - now.as_us()),
                None => Duration::from_secs(1),
            };
            let first = match inputs.recv_timeout(wait) {
                Ok(input) => input,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ServeError::Io("the listener stopped".to_owned()));
                }
            };
            let mut stepped = false;
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(input) = next.take() {
                if matches!(input, Input::Stop) {
                    if stepped {
                        self.after_step()?;
                    }
                    self.stop();
                    return Ok(());
                }
                stepped |= self.handle(input);
                taken += 1;
                if taken < batch {
                    next = inputs.try_recv().ok();
                }
            }
            if stepped {
                self.after_step()?;
            }
            self.sweep();
        }
    }

    /// The node is stopping on its own (not killed): say so, with what persisting cost.
    fn stop(&self) {
        tracing::info!(
            "{}: standard input closed (cluster stopped); exiting after {} log writes with {} \
             fsyncs",
            self.raft.id(),
            self.persists,
            self.storage.fsyncs()
        );
    }

    /// Take one input; returns whether the Raft node took a step (to persist and send
    /// after).
    fn handle(&mut self, input: Input) -> bool {
        let now = self.now();
        match input {
            Input::Opened { conn, writer } => {
                let entry = Conn {
                    writer,
                    pending: None,
                    closed_at: None,
                };
                self.conns.insert(conn, entry);
            }
            Input::Closed { conn } => {
                // Keep a half-closed connection while it is owed a reply.
                let owed = self.conns.get_mut(&conn).is_some_and(|c| {
                    c.closed_at = Some(Instant::now());
                    c.pending.is_some()
                });
                if !owed {
                    self.conns.remove(&conn);
                }
            }
            Input::Peer { from, message } => {
                let size = u8::try_from(self.members.len()).expect("at most 9 members");
                if let Err(why) = guard::check_peer_message(&self.raft, size, from, &message) {
                    tracing::warn!("{}: dropping a peer message: {why}", self.raft.id());
                    return false;
                }
                let envelope = Envelope {
                    from: Addr::Node(from),
                    to: Addr::Node(self.raft.id()),
                    msg: message,
                };
                self.raft.handle_message(now, envelope);
                return true;
            }
            Input::Request {
                conn,
                request,
                attempt,
            } => {
                if let Err(reason) = check_request(&request, attempt) {
                    self.refuse(conn, &reason, false);
                    return false;
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending = Some(Pending::Request(request.client, request.seq));
                }
                tracing::info!(
                    "{} <- client {} seq {} attempt {attempt}: {}",
                    self.raft.id(),
                    request.client,
                    request.seq,
                    request.op
                );
                let envelope = Envelope {
                    from: Addr::Client(conn),
                    to: Addr::Node(self.raft.id()),
                    msg: Message::ClientRequest {
                        request: request.into(),
                        attempt,
                    },
                };
                self.raft.handle_message(now, envelope);
                return true;
            }
            Input::Register { conn, attempt } => {
                if let Err(reason) = self.check_register(attempt) {
                    self.refuse(conn, &reason, false);
                    return false;
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pending = Some(Pending::Register(attempt));
                }
                tracing::info!(
                    "{} <- register (connection {}) attempt {attempt}",
                    self.raft.id(),
                    conn.0
                );
                let envelope = Envelope {
                    from: Addr::Client(conn),
                    to: Addr::Node(self.raft.id()),
                    msg: Message::Register {
                        attempt,
                        incarnation: 0,
                    },
                };
                self.raft.handle_message(now, envelope);
                return true;
            }
            Input::Status { conn } => {
                let status = Frame::StatusReply(self.status());
                self.write_to(conn, &status);
            }
            Input::Refuse {
                conn,
                reason,
                retry,
            } => self.refuse(conn, &reason, retry),
            Input::Stop => {}
        }
        false
    }

    /// Drop half-closed connections that waited too long for their reply (at most once a
    /// second).
    fn sweep(&mut self) {
        if self.swept.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.swept = Instant::now();
        let grace = Duration::from_secs(HALF_CLOSED_GRACE_S);
        self.conns
            .retain(|_, c| c.closed_at.is_none_or(|at| at.elapsed() < grace));
    }

    /// After every step (or batch of steps): log what happened, persist, then send (Raft's
    /// persist-before-answer).
    fn after_step(&mut self) -> Result<(), ServeError> {
        while let Some(event) = self.raft.poll_event() {
            let line = &mut self.line;
            self.raft.trace(&event, |e| {
                line.clear();
                trace::format_event(line, e);
                tracing::info!("{line}");
            });
        }
        let version = self.raft.durable_version();
        if version != self.saved {
            self.storage.persist(self.raft.durable())?;
            self.saved = version;
            self.persists += 1;
        }
        self.maybe_crash(&[CrashPoint::BeforeReplicate, CrashPoint::AfterCommit]);
        while let Some(envelope) = self.raft.poll_transmit() {
            self.route(envelope);
        }
        self.maybe_crash(&[CrashPoint::AfterReply]);
        Ok(())
    }

    /// With `--crash-at`, exit now if the node stands at the crash point (one of `points`,
    /// the ones that make sense at this moment of the step) for the counted time.
    fn maybe_crash(&mut self, points: &[CrashPoint]) {
        let Some(crash) = self.crash_at.filter(|c| points.contains(&c.point)) else {
            return;
        };
        let at = self.raft.crash_points();
        let index = match crash.point {
            CrashPoint::BeforeReplicate => at.before_replicate,
            CrashPoint::AfterCommit => at.after_commit,
            CrashPoint::AfterReply => at.after_reply,
        };
        let Some(index) = index.filter(|&i| Some(i) != self.crash_last) else {
            return;
        };
        self.crash_last = Some(index);
        self.crash_seen += 1;
        if self.crash_seen > crash.after_writes {
            let name = crash
                .point
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_owned());
            tracing::warn!(
                "!! crash {} ({name}, client write at index {index}, term {}): exiting as \
                 --crash-at asked",
                self.raft.id(),
                self.raft.term()
            );
            std::process::exit(EXIT_CRASH_POINT);
        }
    }

    fn route(&mut self, envelope: Envelope) {
        match (envelope.to, envelope.msg) {
            (Addr::Node(peer), message) => {
                let frame = Frame::Peer {
                    from: self.raft.id(),
                    message: WireMessage(message),
                };
                let Some(Some(queue)) = self.peers.get(peer.index()) else {
                    return;
                };
                if let Err(TrySendError::Full(_)) = queue.try_send(wire::encode(&frame)) {
                    tracing::debug!("send queue to {peer} full; dropping a message");
                }
            }
            (
                Addr::Client(conn),
                Message::ClientReply {
                    client,
                    seq,
                    attempt,
                    reply,
                    ..
                },
            ) => {
                let reply = match reply {
                    Reply::Done { result, cached } => WireReply::Done {
                        result: result.map(|r| r.to_string()),
                        cached,
                    },
                    Reply::NotLeader { hint } => WireReply::NotLeader {
                        leader: hint,
                        leader_addr: hint.and_then(|l| self.members.get(l.index()).cloned()),
                    },
                    Reply::Forgotten { last_seq } => WireReply::Forgotten { last_seq },
                    Reply::Conflict { last_seq } => WireReply::Conflict { last_seq },
                    Reply::SessionExpired => WireReply::SessionExpired,
                };
                let frame = Frame::Reply {
                    node: self.raft.id(),
                    client,
                    seq,
                    attempt,
                    reply,
                    members: self.members.clone(),
                };
                self.write_to(conn, &frame);
                self.answered(conn, Pending::Request(client, seq));
            }
            (Addr::Client(conn), Message::RegisterReply { attempt, reply, .. }) => {
                let reply = match reply {
                    RegisterAnswer::Registered { client } => {
                        tracing::info!(
                            "{} -> registered session {client} (connection {})",
                            self.raft.id(),
                            conn.0
                        );
                        WireRegisterReply::Registered { client }
                    }
                    RegisterAnswer::NotLeader { hint } => WireRegisterReply::NotLeader {
                        leader: hint,
                        leader_addr: hint.and_then(|l| self.members.get(l.index()).cloned()),
                    },
                };
                let frame = Frame::RegisterReply {
                    node: self.raft.id(),
                    attempt,
                    reply,
                    members: self.members.clone(),
                };
                self.write_to(conn, &frame);
                self.answered(conn, Pending::Register(attempt));
            }
            (Addr::Client(_), _) => {}
        }
    }

    /// `conn` got its answer to `what`: a half-closed connection has nothing more coming.
    fn answered(&mut self, conn: ClientNo, what: Pending) {
        let done = self.conns.get_mut(&conn).is_some_and(|c| {
            if c.pending == Some(what) {
                c.pending = None;
            }
            c.pending.is_none() && c.closed_at.is_some()
        });
        if done {
            self.conns.remove(&conn);
        }
    }

    /// A registration is served only by a node whose sessions are registered, and counts
    /// its attempts from 1.
    fn check_register(&self, attempt: u32) -> Result<(), String> {
        if !self.register {
            return Err(format!(
                "{} does not register sessions (it runs without --session-timeout-ms or \
                 --max-sessions: a client id is a session from its first request); run the \
                 client without --register",
                self.raft.id()
            ));
        }
        if attempt == 0 {
            return Err("register attempt 0 (attempts start at 1)".to_owned());
        }
        Ok(())
    }

    /// Queue a frame for a connection (never blocks); a connection that failed or stopped
    /// reading is dropped.
    fn write_to(&mut self, conn: ClientNo, frame: &Frame) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if let Err(e) = c.writer.send(frame) {
            if e == WriteError::Stalled {
                tracing::warn!(
                    "{}: connection {} stopped reading its replies; closing it",
                    self.raft.id(),
                    conn.0
                );
            }
            self.conns.remove(&conn);
        }
    }

    /// Answer with an error frame and close the connection once it is written.
    fn refuse(&mut self, conn: ClientNo, reason: &str, retry: bool) {
        tracing::warn!(
            "{}: connection {}: {reason}; closing it",
            self.raft.id(),
            conn.0
        );
        let frame = Frame::Error {
            message: reason.to_owned(),
            retry,
        };
        self.write_to(conn, &frame);
        // Dropping the queue lets the writer finish the error frame, then close.
        self.conns.remove(&conn);
    }

    fn status(&self) -> NodeStatus {
        let role = match self.raft.role() {
            Role::Leader => "leader",
            Role::Candidate => "candidate",
            Role::Follower => "follower",
        };
        let leader = if self.raft.is_leader() {
            Some(self.raft.id())
        } else {
            self.raft.leader_hint()
        };
        NodeStatus {
            node: self.raft.id(),
            role: role.to_owned(),
            term: self.raft.term(),
            leader,
            commit_index: self.raft.commit_index(),
            last_applied: self.raft.last_applied(),
            log_length: self.raft.log().last_index().0,
            members: self.members.clone(),
        }
    }
}

/// A request's numbers and size must make sense before it reaches the session table.
fn check_request(request: &Request, attempt: u32) -> Result<(), String> {
    let (client, seq, lowest) = (request.client, request.seq, request.lowest_unacked);
    wire::check_op_size(&request.op).map_err(|e| format!("client {client} seq {seq}: {e}"))?;
    if seq.0 == 0 {
        return Err(format!("client {client}: seq 0 (seqs start at 1)"));
    }
    if lowest.0 == 0 || lowest > seq {
        return Err(format!(
            "client {client} seq {seq}: lowest_unacked {lowest} must be in 1..={seq}"
        ));
    }
    if attempt == 0 {
        return Err(format!(
            "client {client} seq {seq}: attempt 0 (attempts start at 1)"
        ));
    }
    Ok(())
}

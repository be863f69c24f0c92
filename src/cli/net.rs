//! `idemsim serve`, `cluster` and `client`: the real-network mode's command lines.
//!
//! Exit codes beyond docs/DESIGN.md §9's: 65 a node's data directory is another node's, was
//! written under other session rules, or is damaged (beyond a torn last write);
//! 69 no node answered the client (or a node refused its request, session-expired included);
//! 70 a node stopped at its `--crash-at` fault; 74 a disk or socket error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::EXIT_USAGE;
use crate::ids::{ClientId, NodeId, Seq};
use crate::kv::{Dedup, Op};
use crate::net::client::{self, CallError, CallOptions, Progress};
use crate::net::cluster::{self, ClusterError, ClusterOptions};
use crate::net::server::{self, CrashAt, CrashPoint, ServeError, ServeOptions};
use crate::net::wire::check_op_size;

/// A data directory that belongs to another node, was written under other session rules, or
/// is damaged beyond a torn last write (sysexits' EX_DATAERR).
pub const EXIT_BAD_STATE: u8 = 65;
/// No node answered, or a node refused the request: malformed, forgotten, conflicting, or
/// under a session that is not live (session-expired) (sysexits' EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// A disk or socket error (sysexits' EX_IOERR).
pub const EXIT_IO: u8 = 74;

/// Timing shared by `serve` and `cluster`.
#[derive(Clone, Copy, Debug, Args)]
pub struct TimingArgs {
    /// Election timeouts are drawn from [T, 2T] milliseconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub election_timeout_ms: u64,
    /// A leader sends heartbeats this often (milliseconds); must be below the election timeout.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub heartbeat_ms: u64,
    /// Dedup strategy of the replicas; `off` shows the double apply a retry causes.
    #[arg(long, value_enum, default_value = "sessions")]
    pub dedup: Dedup,
}

/// Longest `--session-timeout-ms`: a year.
const MAX_SESSION_TIMEOUT_MS: u64 = 365 * 24 * 3600 * 1000;

/// Session limits shared by `serve` and `cluster`. They are state-machine parameters: every
/// node of a cluster must have the same (nodes refuse peers whose limits differ).
#[derive(Clone, Copy, Debug, Args)]
pub struct SessionArgs {
    /// Expire a session idle longer than this many milliseconds of log time (the leader's
    /// clock, stamped on each entry); 0: never. Non-zero turns registration on: clients open
    /// sessions with `idemsim client --register`, and a request under any other client id
    /// (never registered, expired or evicted) is refused as session-expired. Every node of a
    /// cluster must be given the same value: nodes with different values refuse each
    /// other's connections (and log why), so the cluster does not form.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_SESSION_TIMEOUT_MS))]
    pub session_timeout_ms: u64,
    /// Keep at most this many live sessions; registering one more evicts the least recently
    /// active; 0: unbounded. Non-zero turns registration on, as --session-timeout-ms does.
    /// Every node of a cluster must be given the same value, as for --session-timeout-ms.
    #[arg(long, default_value_t = 0)]
    pub max_sessions: u32,
}

/// Snapshots, shared by `serve` and `cluster`.
#[derive(Clone, Copy, Debug, Args)]
pub struct SnapshotArgs {
    /// Snapshot the state machine (KV map and session table) every N applied entries, then
    /// drop the log it covers (on disk: the log segments it wholly covers); 0: never, and
    /// the log grows without bound. Each node snapshots on its own: nodes need not agree.
    #[arg(long, default_value_t = 1000)]
    pub snapshot_every: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// This node's number, 1..=9.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub id: u8,
    /// Address to listen on, e.g. 127.0.0.1:9001.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Every other node as ID=ADDR, comma-separated: 2=127.0.0.1:9002,3=127.0.0.1:9003.
    /// With --id the nodes must be numbered 1..=N. Empty for a one-node cluster.
    #[arg(long, value_delimiter = ',', value_parser = parse_peer)]
    pub peers: Vec<(NodeId, SocketAddr)>,
    /// Directory for this node's durable state (term, vote, snapshot, log); created if
    /// missing. A restarted node given the same directory rejoins with its log; it must be
    /// given the same --dedup, --session-timeout-ms and --max-sessions (recorded there).
    #[arg(long)]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub sessions: SessionArgs,
    #[command(flatten)]
    pub snapshots: SnapshotArgs,
    /// Exit when standard input closes (`cluster` sets it so nodes never outlive it).
    #[arg(long, hide = true)]
    pub exit_with_stdin: bool,
    /// Fault injection: exit (code 70) when this node, as leader, reaches this crash point,
    /// as the simulator's `[[faults]] when` crashes a node. Restart it with the same
    /// --data-dir and watch the retried request be deduplicated.
    #[arg(long, value_enum)]
    pub crash_at: Option<CrashPoint>,
    /// Take peer frames only from nodes that present this token (every node of a cluster
    /// gets the same one; `cluster` draws one). Without it, any connection may speak for a
    /// peer.
    #[arg(long)]
    pub cluster_token: Option<String>,
    /// With --crash-at: let this many client writes pass the crash point first.
    #[arg(long, default_value_t = 0, requires = "crash_at")]
    pub crash_after_writes: u64,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Number of nodes, 1..=9.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub nodes: u8,
    /// Node I listens on 127.0.0.1:(BASE_PORT + I - 1).
    #[arg(long, default_value_t = 9001)]
    pub base_port: u16,
    /// Each node keeps its state in DATA_DIR/nI.
    #[arg(long, default_value = "./kv-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub sessions: SessionArgs,
    #[command(flatten)]
    pub snapshots: SnapshotArgs,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Port of the node to ask first (on --host).
    #[arg(long, default_value_t = 9001, global = true)]
    pub port: u16,
    /// Host of the node to ask first.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// The client id; without it a random one is drawn (and printed).
    #[arg(long, global = true)]
    pub client_id: Option<u64>,
    /// Open a new session first and perform the operation under the client id the cluster
    /// gives it (printed as client_id). For a cluster whose nodes run with
    /// --session-timeout-ms or --max-sessions, which serve only registered sessions; send
    /// the session's later requests with --client-id ID and the next --seq.
    #[arg(long, global = true, conflicts_with = "client_id")]
    pub register: bool,
    /// The request number; re-use one to re-send a request.
    #[arg(long, default_value_t = 1, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub seq: u64,
    /// How long to wait for a node before re-sending to another (milliseconds).
    #[arg(long, default_value_t = 1000, global = true, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
    /// Most sends of this (client_id, seq) before giving up, counting redirects and nodes
    /// that could not be reached (and, with --register, as many sends of the registration).
    #[arg(long, default_value_t = 20, global = true, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub attempts: u32,
    #[command(subcommand)]
    pub op: ClientOp,
}

/// The operations of docs/DESIGN.md §5, and a status query.
#[derive(Debug, Subcommand)]
pub enum ClientOp {
    /// key = value; prints the previous value or null.
    Put { key: String, value: String },
    /// key = key + value; prints the new value.
    Append { key: String, value: String },
    /// key = key + amount (default 1) as a decimal; prints the new value.
    Incr {
        key: String,
        #[arg(default_value_t = 1, allow_negative_numbers = true)]
        amount: i64,
    },
    /// Remove key; prints the previous value or null.
    Delete { key: String },
    /// Read key (through the log, so linearizable); prints its value or null.
    Get { key: String },
    /// Print this node's view: role, term, leader, commit index, members.
    Status,
}

fn parse_peer(s: &str) -> Result<(NodeId, SocketAddr), String> {
    let (id, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ID=ADDR, e.g. 2=127.0.0.1:9002"))?;
    let id: u8 = id
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=9).contains(n))
        .ok_or_else(|| format!("`{s}`: node id `{id}` is not 1..=9"))?;
    let addr = addr
        .trim()
        .parse()
        .map_err(|e| format!("`{s}`: address `{addr}`: {e}"))?;
    Ok((NodeId(id), addr))
}

/// `idemsim serve`.
pub fn serve(args: &ServeArgs) -> u8 {
    super::logging::init("info", super::logging::Style::Node);
    let options = ServeOptions {
        id: NodeId(args.id),
        listen: args.listen,
        peers: args.peers.clone(),
        data_dir: args.data_dir.clone(),
        dedup: args.timing.dedup,
        limits: server::session_limits(
            args.sessions.session_timeout_ms,
            args.sessions.max_sessions,
        ),
        snapshot_every: args.snapshots.snapshot_every,
        election_timeout_ms: args.timing.election_timeout_ms,
        heartbeat_ms: args.timing.heartbeat_ms,
        exit_with_stdin: args.exit_with_stdin,
        cluster_token: args.cluster_token.clone(),
        crash_at: args.crash_at.map(|point| CrashAt {
            point,
            after_writes: args.crash_after_writes,
        }),
    };
    let Err(e) = server::serve(&options) else {
        return 0;
    };
    eprintln!("idemsim serve: n{}: {e}", args.id);
    match e {
        ServeError::Usage(_) => EXIT_USAGE,
        ServeError::BadState(_) => EXIT_BAD_STATE,
        ServeError::Io(_) => EXIT_IO,
    }
}

/// `idemsim cluster`.
pub fn cluster(args: &ClusterArgs) -> u8 {
    let options = ClusterOptions {
        nodes: args.nodes,
        base_port: args.base_port,
        data_dir: args.data_dir.clone(),
        dedup: args.timing.dedup,
        election_timeout_ms: args.timing.election_timeout_ms,
        heartbeat_ms: args.timing.heartbeat_ms,
        session_timeout_ms: args.sessions.session_timeout_ms,
        max_sessions: args.sessions.max_sessions,
        snapshot_every: args.snapshots.snapshot_every,
    };
    match cluster::run(&options) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("idemsim cluster: {e}");
            match e {
                ClusterError::Usage(_) => EXIT_USAGE,
                ClusterError::Start(_) => EXIT_IO,
            }
        }
    }
}

/// `idemsim client`.
pub fn client(args: &ClientArgs) -> u8 {
    let first = match client::resolve(&args.host, args.port) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("idemsim client: {}:{}: {e}", args.host, args.port);
            return EXIT_USAGE;
        }
    };
    let text = |s: &String| -> Arc<str> { Arc::from(s.as_str()) };
    let op = match &args.op {
        ClientOp::Put { key, value } => Op::Put {
            key: text(key),
            value: text(value),
        },
        ClientOp::Append { key, value } => Op::Append {
            key: text(key),
            value: text(value),
        },
        ClientOp::Incr { key, amount } => Op::Incr {
            key: text(key),
            amount: *amount,
        },
        ClientOp::Delete { key } => Op::Delete { key: text(key) },
        ClientOp::Get { key } => Op::Get { key: text(key) },
        ClientOp::Status => return status(first, args.timeout_ms),
    };
    if let Err(e) = check_op_size(&op) {
        eprintln!("idemsim client: {e}");
        return EXIT_USAGE;
    }
    // With --register the id comes from the cluster, and is printed once it does.
    let client =
        (!args.register).then(|| ClientId(args.client_id.unwrap_or_else(crate::net::random_u64)));
    if let Some(client) = client {
        println!("client_id: {client}");
        println!("seq: {}", args.seq);
    }
    let options = CallOptions {
        first,
        client,
        seq: Seq(args.seq),
        op,
        timeout_ms: args.timeout_ms,
        attempts: args.attempts,
    };
    let mut registered = None;
    let answer = client::call(&options, &mut |progress| match progress {
        Progress::Retry(line) => eprintln!("idemsim client: {line}"),
        Progress::Registered {
            client,
            node,
            node_addr,
        } => {
            registered = Some(client);
            println!("client_id: {client}");
            println!("session: new, registered by {node} at {node_addr}");
            println!("seq: {}", args.seq);
        }
    });
    let client = client.or(registered);
    match answer {
        Ok(answer) => {
            let result = answer
                .result
                .as_deref()
                .map_or_else(|| "null".to_owned(), |r| serde_json::json!(r).to_string());
            println!("result: {result}");
            println!(
                "cached duplicate: {}",
                if answer.cached {
                    "yes (already applied; answered from the session table, not applied again)"
                } else {
                    "no"
                }
            );
            println!(
                "answered by: {} at {} after {} attempt{}",
                answer.node,
                answer.node_addr,
                answer.attempts,
                if answer.attempts == 1 { "" } else { "s" }
            );
            0
        }
        Err(e) => {
            match client {
                Some(client) => eprintln!("idemsim client: client {client} seq {}: {e}", args.seq),
                None => eprintln!("idemsim client: registering a session: {e}"),
            }
            if let CallError::NoAnswer { .. }
            | CallError::NoCluster { .. }
            | CallError::NotRegistered { .. } = e
            {
                eprintln!(
                    "idemsim client: re-send the same request with: {}",
                    resend_command(args, client, &options.op)
                );
            }
            EXIT_UNAVAILABLE
        }
    }
}

/// The command that re-sends exactly this request, shell-quoted: under `client`, or, if no
/// session was opened for it, registering one again.
fn resend_command(args: &ClientArgs, client: Option<ClientId>, op: &Op) -> String {
    let mut words = vec!["idemsim".to_owned(), "client".to_owned()];
    if args.host != "127.0.0.1" {
        words.extend(["--host".to_owned(), args.host.clone()]);
    }
    words.extend(["--port".to_owned(), args.port.to_string()]);
    match client {
        Some(client) => words.extend(["--client-id".to_owned(), client.to_string()]),
        None => words.push("--register".to_owned()),
    }
    words.extend(["--seq".to_owned(), args.seq.to_string()]);
    words.extend([op.kind().name().to_owned(), op.key().to_owned()]);
    words.extend(op.value().map(|v| v.to_string()));
    let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    quoted.join(" ")
}

/// `word` as a POSIX shell reads it back: bare when it is safe, else in single quotes.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn status(addr: SocketAddr, timeout_ms: u64) -> u8 {
    match client::status(addr, std::time::Duration::from_millis(timeout_ms)) {
        Ok(s) => {
            let leader = s
                .leader
                .map_or_else(|| "none known".to_owned(), |l| l.to_string());
            println!("node: {}", s.node);
            println!("role: {}", s.role);
            println!("term: {}", s.term);
            println!("leader: {leader}");
            println!("commit index: {}", s.commit_index);
            println!("last applied: {}", s.last_applied);
            println!("log length: {}", s.log_length);
            println!("members: {}", s.members.join(" "));
            0
        }
        Err(e) => {
            eprintln!("idemsim client: status of {addr}: {e}");
            EXIT_UNAVAILABLE
        }
    }
}

//! `idemsim cluster`: N `idemsim serve` child processes on consecutive loopback ports. It
//! forwards their logs prefixed by node, reports when each is up and who leads, says how to
//! restart a node that dies, and stops them all on Ctrl-C (or when it is itself killed: each
//! child exits when its standard input, a pipe from this process, closes).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::client;
use crate::ids::NodeId;
use crate::kv::Dedup;

/// How often the cluster checks its nodes.
const POLL_MS: u64 = 200;

/// How long a node has to start answering before the cluster gives up on it.
const STARTUP_MS: u64 = 10_000;

/// Everything `idemsim cluster` needs.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub nodes: u8,
    pub base_port: u16,
    pub data_dir: PathBuf,
    pub dedup: Dedup,
    pub election_timeout_ms: u64,
    pub heartbeat_ms: u64,
    /// Passed to every node as `--session-timeout-ms` (0: sessions never expire).
    pub session_timeout_ms: u64,
    /// Passed to every node as `--max-sessions` (0: unbounded).
    pub max_sessions: u32,
    /// Passed to every node as `--snapshot-every` (0: never).
    pub snapshot_every: u64,
}

/// Why the cluster stopped other than by Ctrl-C.
#[derive(Debug)]
pub enum ClusterError {
    Usage(String),
    /// A node could not start, or the cluster could not spawn it.
    Start(String),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Usage(m) | ClusterError::Start(m) => f.write_str(m),
        }
    }
}

/// One child node.
struct Node {
    id: NodeId,
    addr: SocketAddr,
    command: Vec<String>,
    child: Child,
    up: bool,
    exited: bool,
}

/// Run the cluster until Ctrl-C (or SIGTERM). Prints to stdout where nodes listen, when they
/// are up and who leads; forwards node logs to stderr as `nI | line`.
pub fn run(options: &ClusterOptions) -> Result<(), ClusterError> {
    let n = options.nodes;
    if !(1..=9).contains(&n) {
        return Err(ClusterError::Usage(format!(
            "--nodes {n}: a cluster has 1 to 9 nodes"
        )));
    }
    super::server::check_timing(options.election_timeout_ms, options.heartbeat_ms)
        .map_err(ClusterError::Usage)?;
    let last_port = options.base_port.checked_add(u16::from(n) - 1);
    if options.base_port == 0 || last_port.is_none() {
        return Err(ClusterError::Usage(format!(
            "--base-port {}: ports {} to {} are not all valid",
            options.base_port,
            options.base_port,
            u32::from(options.base_port) + u32::from(n) - 1
        )));
    }
    let addrs: Vec<SocketAddr> = (0..n)
        .map(|i| {
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::LOCALHOST,
                options.base_port + u16::from(i),
            ))
        })
        .collect();
    for addr in &addrs {
        // Fail early and clearly rather than have a child die on it.
        TcpListener::bind(addr)
            .map_err(|e| ClusterError::Start(format!("cannot use {addr}: {e}")))?;
    }
    let exe = std::env::current_exe()
        .map_err(|e| ClusterError::Start(format!("cannot find the idemsim executable: {e}")))?;

    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .map_err(|e| ClusterError::Start(format!("cannot handle Ctrl-C: {e}")))?;

    // Only this cluster's nodes may speak for its peers.
    let token = format!("{:016x}{:016x}", super::random_u64(), super::random_u64());
    let mut nodes = Vec::with_capacity(usize::from(n));
    for (i, &addr) in addrs.iter().enumerate() {
        let id = NodeId::from_index(i);
        let command = serve_command(options, id, &addrs, &token);
        match spawn(&exe, &command, id) {
            Ok(child) => nodes.push(Node {
                id,
                addr,
                command,
                child,
                up: false,
                exited: false,
            }),
            Err(e) => {
                stop_all(&mut nodes);
                return Err(ClusterError::Start(format!("cannot start {id}: {e}")));
            }
        }
        say(&format!(
            "{id} listening on {addr} (data in {})",
            node_dir(&options.data_dir, id).display()
        ));
    }

    let started = Instant::now();
    let mut leader = None;
    loop {
        match stop_rx.recv_timeout(Duration::from_millis(POLL_MS)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Err(e) = check_nodes(&mut nodes, started) {
            stop_all(&mut nodes);
            return Err(e);
        }
        if let Some((id, term)) = find_leader(&nodes).filter(|&l| Some(l) != leader) {
            let addr = nodes[id.index()].addr;
            say(&format!("leader: {id} at {addr} (term {term})"));
            leader = Some((id, term));
        }
        if nodes.iter().all(|node| node.exited) {
            return Err(ClusterError::Start("every node has exited".to_owned()));
        }
    }
    stop_all(&mut nodes);
    say(&format!("stopped {n} nodes"));
    Ok(())
}

/// The `serve` arguments for node `id`.
fn serve_command(
    options: &ClusterOptions,
    id: NodeId,
    addrs: &[SocketAddr],
    token: &str,
) -> Vec<String> {
    let peers: Vec<String> = addrs
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != id.index())
        .map(|(i, addr)| format!("{}={addr}", i + 1))
        .collect();
    let dedup = options.dedup.name().to_owned();
    vec![
        "serve".to_owned(),
        "--id".to_owned(),
        id.0.to_string(),
        "--listen".to_owned(),
        addrs[id.index()].to_string(),
        "--peers".to_owned(),
        peers.join(","),
        "--data-dir".to_owned(),
        node_dir(&options.data_dir, id).display().to_string(),
        "--dedup".to_owned(),
        dedup,
        "--election-timeout-ms".to_owned(),
        options.election_timeout_ms.to_string(),
        "--heartbeat-ms".to_owned(),
        options.heartbeat_ms.to_string(),
        "--session-timeout-ms".to_owned(),
        options.session_timeout_ms.to_string(),
        "--max-sessions".to_owned(),
        options.max_sessions.to_string(),
        "--snapshot-every".to_owned(),
        options.snapshot_every.to_string(),
        "--cluster-token".to_owned(),
        token.to_owned(),
    ]
}

fn node_dir(data_dir: &Path, id: NodeId) -> PathBuf {
    data_dir.join(id.to_string())
}

/// Start one node with its stderr forwarded (prefixed) and its stdin a pipe it watches. (The
/// node creates its data directory.)
fn spawn(exe: &Path, command: &[String], id: NodeId) -> io::Result<Child> {
    let mut launch = Command::new(exe);
    launch
        .args(command)
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Own process group: a Ctrl-C at the terminal reaches only the cluster, which then stops
    // its nodes in order instead of racing them to the signal.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut launch, 0);
    let mut child = launch.spawn()?;
    if let Some(stderr) = child.stderr.take() {
        thread::Builder::new()
            .name(format!("log-{id}"))
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut err = io::stderr().lock();
                    let _ = writeln!(err, "{id} | {line}");
                }
            })?;
    }
    Ok(child)
}

/// Notice nodes that came up or exited. A node that exits before it ever answered could not
/// start (a bad data directory, a port taken): that stops the cluster.
fn check_nodes(nodes: &mut [Node], started: Instant) -> Result<(), ClusterError> {
    for node in nodes.iter_mut().filter(|node| !node.exited) {
        if let Ok(Some(status)) = node.child.try_wait() {
            node.exited = true;
            if !node.up {
                return Err(ClusterError::Start(format!(
                    "{} exited before it started ({status}); see its log above",
                    node.id
                )));
            }
            say(&format!(
                "{} exited ({status}); this cluster will not restart it. To bring it back \
                 (its log is in its data directory), run: {} {}",
                node.id,
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "idemsim".to_owned()),
                node.command.join(" ")
            ));
            continue;
        }
        if !node.up {
            if client::status(node.addr, Duration::from_millis(POLL_MS)).is_ok() {
                node.up = true;
                say(&format!("{} is up", node.id));
            } else if started.elapsed() > Duration::from_millis(STARTUP_MS) {
                return Err(ClusterError::Start(format!(
                    "{} did not answer within {} ms of starting",
                    node.id, STARTUP_MS
                )));
            }
        }
    }
    Ok(())
}

/// The leader with the highest term among the nodes that answer (including a node this
/// cluster started that exited and was restarted by hand), if any.
fn find_leader(nodes: &[Node]) -> Option<(NodeId, crate::ids::Term)> {
    nodes
        .iter()
        .filter(|node| node.up)
        .filter_map(|node| client::status(node.addr, Duration::from_millis(POLL_MS)).ok())
        .filter(|status| status.role == "leader")
        .map(|status| (status.node, status.term))
        .max_by_key(|&(_, term)| term)
}

fn stop_all(nodes: &mut [Node]) {
    for node in nodes.iter_mut().filter(|node| !node.exited) {
        let _ = node.child.kill();
        let _ = node.child.wait();
        node.exited = true;
    }
}

/// One line to stdout, flushed (the cluster often runs in the background of a shell).
fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node gets the cluster's session limits (state-machine parameters they must
    /// share) and snapshot interval.
    #[test]
    fn nodes_get_the_session_limits() {
        let options = ClusterOptions {
            nodes: 2,
            base_port: 9001,
            data_dir: PathBuf::from("d"),
            dedup: Dedup::Sessions,
            election_timeout_ms: 300,
            heartbeat_ms: 50,
            session_timeout_ms: 1500,
            max_sessions: 7,
            snapshot_every: 25,
        };
        let addrs: Vec<SocketAddr> = ["127.0.0.1:9001", "127.0.0.1:9002"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        for i in 0..2 {
            let command = serve_command(&options, NodeId::from_index(i), &addrs, "t");
            let after = |flag: &str| {
                let at = command.iter().position(|w| w == flag);
                at.map(|at| command[at + 1].clone())
            };
            assert_eq!(after("--session-timeout-ms").as_deref(), Some("1500"));
            assert_eq!(after("--max-sessions").as_deref(), Some("7"));
            assert_eq!(after("--snapshot-every").as_deref(), Some("25"));
        }
    }
}

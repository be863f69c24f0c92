//! `idemsim client`: one operation against a real cluster, exactly as the simulated client
//! does it: one `(client_id, seq)`, sent to the node given, redirected to the leader a node
//! names, and on a timeout or a dead node re-sent UNCHANGED to another node, until some node
//! answers or the attempts run out.

use std::fmt;
use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{self, Frame, FrameError, NodeStatus, WireReply};
use crate::ids::{ClientId, NodeId, Seq};
use crate::kv::{Op, Origin, Request};

/// Nodes a cluster can have. Without a member list, a client that cannot reach its first
/// node tries the ports around it, up to this many away (how `cluster` lays nodes out).
const MAX_NODES: u16 = 9;

/// Connection attempts allowed per `--attempts`, for nodes that refuse connections.
const MAX_PROBES_PER_ATTEMPT: u32 = 20;

/// One operation to perform.
#[derive(Clone, Debug)]
pub struct CallOptions {
    /// The node to try first.
    pub first: SocketAddr,
    pub client: ClientId,
    pub seq: Seq,
    pub op: Op,
    /// How long to wait for a node's answer before trying another node.
    pub timeout_ms: u64,
    /// Most sends of this `(client, seq)` before giving up.
    pub attempts: u32,
}

/// The answer a node gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub result: Option<String>,
    /// The node answered from its session table: this `(client, seq)` had already been
    /// applied, and was not applied again.
    pub cached: bool,
    pub node: NodeId,
    pub node_addr: SocketAddr,
    /// Sends it took (1 when the first node answered).
    pub attempts: u32,
}

/// Why no answer came.
#[derive(Debug)]
pub enum CallError {
    /// Every attempt timed out, hit a dead node, or was redirected.
    NoAnswer { attempts: u32, last: String },
    /// A node refused the request itself (it is malformed); retrying cannot help.
    Refused {
        node_addr: SocketAddr,
        message: String,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoAnswer { attempts: 0, last } => {
                write!(f, "no node could be reached (last: {last})")
            }
            CallError::NoAnswer { attempts, last } => {
                let s = if *attempts == 1 { "" } else { "s" };
                write!(
                    f,
                    "no node answered after {attempts} attempt{s} (last: {last})"
                )
            }
            CallError::Refused { node_addr, message } => {
                write!(f, "{node_addr} refused the request: {message}")
            }
        }
    }
}

/// What one attempt came to.
enum Attempt {
    Answered(Answer),
    /// Not the leader; try the leader it names, else another node.
    Redirected {
        leader_addr: Option<SocketAddr>,
        members: Vec<SocketAddr>,
    },
    Refused(String),
    /// No usable answer: not `sent` when the node could not even be connected to;
    /// otherwise a timeout, a closed connection, an overloaded node.
    Failed {
        why: String,
        sent: bool,
    },
}

impl Attempt {
    fn failed(why: impl Into<String>, sent: bool) -> Attempt {
        Attempt::Failed {
            why: why.into(),
            sent,
        }
    }
}

/// Perform one operation, retrying the same `(client, seq)` until a node answers. `progress`
/// hears one line per retry, for the user.
pub fn call(options: &CallOptions, progress: &mut dyn FnMut(&str)) -> Result<Answer, CallError> {
    let request = Request {
        client: options.client,
        seq: options.seq,
        lowest_unacked: options.seq,
        op: options.op.clone(),
        origin: Origin::default(),
    };
    let timeout = Duration::from_millis(options.timeout_ms.max(1));
    let mut members = nearby_ports(options.first);
    // Nodes that just failed to answer: not retried (nor believed as leader) for one
    // timeout, or until every other node has failed too. A node restarts; the mark fades.
    let mut dead = Suspects::new(timeout);
    let mut target = options.first;
    let mut last = String::from("nothing sent");
    // Attempts count sends that reached a node; connections refused while the members are
    // unknown (or all down) are bounded separately, so guessing ports cannot use them up.
    let mut sends = 0;
    let mut probes = 0;
    let max_probes = options.attempts.saturating_mul(MAX_PROBES_PER_ATTEMPT);
    while sends < options.attempts && probes < max_probes {
        probes += 1;
        let attempt = sends + 1;
        let next = match exchange(target, &request, attempt, timeout) {
            Attempt::Answered(answer) => return Ok(answer),
            Attempt::Refused(message) => {
                return Err(CallError::Refused {
                    node_addr: target,
                    message,
                });
            }
            Attempt::Redirected {
                leader_addr,
                members: known,
            } => {
                sends += 1;
                dead.clear(target);
                if !known.is_empty() {
                    members = known;
                }
                let believed = leader_addr.filter(|&l| l != target && !dead.is_down(l));
                if let Some(leader) = believed {
                    last = format!("{target} is not the leader; it names {leader}");
                    leader
                } else {
                    // No leader known, or a stale hint naming a node that just failed: an
                    // election is on, so give it a moment.
                    last = match leader_addr {
                        Some(l) => {
                            format!("{target} is not the leader; it names {l}, which is down")
                        }
                        None => format!("{target} is not the leader and knows of none"),
                    };
                    thread::sleep(backoff(attempt));
                    alive_after(&members, &mut dead, target)
                }
            }
            Attempt::Failed { why, sent } => {
                if sent {
                    sends += 1;
                }
                last = format!("{target}: {why}");
                dead.mark(target);
                if members.iter().all(|&m| dead.is_down(m)) {
                    // Every node is down or slow: give them a moment before the next round.
                    thread::sleep(backoff(attempt));
                }
                alive_after(&members, &mut dead, target)
            }
        };
        if sends < options.attempts {
            progress(&format!(
                "attempt {attempt}: {last}; re-sending client {} seq {} to {next}",
                options.client, options.seq
            ));
        }
        target = next;
    }
    Err(CallError::NoAnswer {
        attempts: sends,
        last,
    })
}

/// Ask one node for its status.
pub fn status(addr: SocketAddr, timeout: Duration) -> io::Result<NodeStatus> {
    let mut stream = connect(addr, timeout)?;
    wire::write_frame(&mut stream, &Frame::Status)?;
    match wire::read_frame(&mut BufReader::new(stream)) {
        Ok(Frame::StatusReply(status)) => Ok(status),
        Ok(other) => Err(io::Error::other(format!(
            "answered a status query with a {} frame",
            other.kind()
        ))),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

/// Resolve `host:port` (or a bare port on loopback) to one address.
pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{host}:{port} resolves to no address")))
}

/// Send the request once on a fresh connection and wait for the answer to this attempt.
fn exchange(target: SocketAddr, request: &Request, attempt: u32, timeout: Duration) -> Attempt {
    let deadline = Instant::now() + timeout;
    let mut stream = match connect(target, timeout) {
        Ok(s) => s,
        Err(e) => return Attempt::failed(e.to_string(), false),
    };
    let frame = Frame::Request {
        request: request.clone(),
        attempt,
    };
    if let Err(e) = wire::write_frame(&mut stream, &frame) {
        return Attempt::failed(e.to_string(), true);
    }
    let mut reader = BufReader::new(stream);
    let no_answer =
        || Attempt::failed(format!("no answer within {} ms", timeout.as_millis()), true);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return no_answer();
        }
        let _ = reader.get_ref().set_read_timeout(Some(left));
        let frame = match wire::read_frame(&mut reader) {
            Ok(frame) => frame,
            Err(FrameError::Idle) => return no_answer(),
            Err(FrameError::Io(e)) if wire::is_timeout(&e) => {
                let why = format!("answer cut short after {} ms", timeout.as_millis());
                return Attempt::failed(why, true);
            }
            Err(FrameError::Closed) => {
                return Attempt::failed("closed the connection without answering", true);
            }
            Err(e) => return Attempt::failed(e.to_string(), true),
        };
        match frame {
            Frame::Reply {
                node,
                client,
                seq,
                attempt: answered,
                reply,
                members,
            } if client == request.client && seq == request.seq && answered == attempt => {
                let members = members.iter().filter_map(|m| m.parse().ok()).collect();
                return match reply {
                    WireReply::Done { result, cached } => Attempt::Answered(Answer {
                        result,
                        cached,
                        node,
                        node_addr: target,
                        attempts: attempt,
                    }),
                    WireReply::NotLeader { leader_addr, .. } => Attempt::Redirected {
                        leader_addr: leader_addr.and_then(|a| a.parse().ok()),
                        members,
                    },
                };
            }
            Frame::Error {
                message,
                retry: true,
            } => return Attempt::failed(message, true),
            Frame::Error {
                message,
                retry: false,
            } => return Attempt::Refused(message),
            // A reply to some other request cannot arrive on this fresh connection; ignore it.
            _ => {}
        }
    }
}

fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    Ok(stream)
}

/// `first`, then the ports around it nearest first (`P+1`, `P-1`, `P+2`, …), as far as any
/// other node of a `cluster` could be.
fn nearby_ports(first: SocketAddr) -> Vec<SocketAddr> {
    let port = first.port();
    let around = (1..MAX_NODES).flat_map(|d| [port.checked_add(d), port.checked_sub(d)]);
    std::iter::once(Some(port))
        .chain(around)
        .flatten()
        .filter(|&p| p != 0)
        .map(|p| SocketAddr::new(first.ip(), p))
        .collect()
}

/// The first member after `current` (wrapping) that has not failed in this call. When every
/// member has failed, forget the failures (nodes restart) and take the next member.
fn alive_after(members: &[SocketAddr], dead: &mut Suspects, current: SocketAddr) -> SocketAddr {
    let start = members
        .iter()
        .position(|&m| m == current)
        .map_or(0, |i| i + 1);
    let in_turn = (0..members.len()).map(|k| members[(start + k) % members.len()]);
    if let Some(next) = in_turn.clone().find(|&m| !dead.is_down(m)) {
        return next;
    }
    dead.forget_all();
    in_turn.into_iter().next().unwrap_or(current)
}

/// Nodes that failed to answer recently, each for `ttl` after its failure.
struct Suspects {
    ttl: Duration,
    failed: Vec<(SocketAddr, Instant)>,
}

impl Suspects {
    fn new(ttl: Duration) -> Suspects {
        Suspects {
            ttl,
            failed: Vec::new(),
        }
    }

    fn mark(&mut self, addr: SocketAddr) {
        self.clear(addr);
        self.failed.push((addr, Instant::now()));
    }

    fn clear(&mut self, addr: SocketAddr) {
        self.failed.retain(|&(a, _)| a != addr);
    }

    fn forget_all(&mut self) {
        self.failed.clear();
    }

    fn is_down(&self, addr: SocketAddr) -> bool {
        self.failed
            .iter()
            .any(|&(a, at)| a == addr && at.elapsed() < self.ttl)
    }
}

/// How long to wait before asking again when no leader is known: 50 ms growing to 500 ms.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(u64::from(attempt.min(10)) * 50)
}

//! `idemsim client`: one operation against a real cluster, performed by the simulator's own
//! client state machine ([`crate::client::Client`]): its retries of the same
//! `(client_id, seq)`, its leader redirects, its back-off and its suspicion of nodes that
//! failed are the logic the simulator tests. This file is only the blocking driver around
//! it: it learns the cluster's members, carries the client's requests to nodes as frames on
//! TCP connections, feeds back their answers, turns the client's timer into socket timeouts,
//! and reports connections that fail as unreachable nodes.
//!
//! With registration the client first opens a session (the shared client sends the
//! `Register` itself) and performs the operation under the id it gets. An answer
//! session-expired ends the call: the shared client would register again by itself and go
//! on, but a one-shot command must tell the user instead.

use std::fmt;
use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::wire::{self, Frame, FrameError, NodeStatus, WireRegisterReply, WireReply};
use crate::client::{Client, ClientConfig, ClientEvent, OnRestart, Workload};
use crate::ids::{ClientId, ClientNo, NodeId, Seq, SimTime};
use crate::kv::{Op, Request};
use crate::message::{Addr, Envelope, Message, Refusal, RegisterAnswer, Reply};
use crate::process::Process;

/// Nodes a cluster can have. Without a member list, a client that cannot reach its first
/// node asks the ports around it, up to this many away (how `cluster` lays nodes out).
const MAX_NODES: u16 = 9;

/// Most rounds of status queries before the client says no cluster answers: enough for
/// nodes started a moment before the client, short for a client with no server.
const DISCOVERY_ROUNDS: u32 = 4;

/// One operation to perform.
#[derive(Clone, Debug)]
pub struct CallOptions {
    /// The node to ask first.
    pub first: SocketAddr,
    /// The client id to send under; `None`: register a new session first, and use its id.
    pub client: Option<ClientId>,
    pub seq: Seq,
    pub op: Op,
    /// How long to wait for a node's answer before trying another node.
    pub timeout_ms: u64,
    /// Most sends of this `(client, seq)` before giving up, counting redirects and nodes
    /// that could not be reached (and as many again for the registration).
    pub attempts: u32,
}

/// What the call tells its user as it goes.
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    /// A request or registration is being re-sent, and why.
    Retry(&'a str),
    /// A session opened: the operation goes on under this client id.
    Registered {
        client: ClientId,
        node: NodeId,
        node_addr: SocketAddr,
    },
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
    /// No node told the client who the members are: nothing answered a status query at the
    /// first address or the ports around it, in as many rounds as attempts. `why`: what the
    /// first address did last.
    NoCluster { first: SocketAddr, why: String },
    /// Every attempt timed out, hit a dead node, or was redirected.
    NoAnswer { attempts: u32, last: String },
    /// No node opened a session in `attempts` sends of the registration.
    NotRegistered { attempts: u32, last: String },
    /// The session of `client` is not live (it expired, was evicted, or was never
    /// registered): `seq` was not applied now, but an earlier attempt of it may have taken
    /// effect, so its outcome is unknown.
    SessionExpired {
        node_addr: SocketAddr,
        client: ClientId,
        seq: Seq,
    },
    /// A node refused the request: it is malformed, its seq was already acknowledged and
    /// forgotten, or its seq took effect as a different operation. Retrying the same request
    /// cannot help.
    Refused {
        node_addr: SocketAddr,
        message: String,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoCluster { first, why } => write!(
                f,
                "no node answered at {first} ({why}) or on the ports around it"
            ),
            CallError::NoAnswer { attempts, last } => {
                let s = if *attempts == 1 { "" } else { "s" };
                write!(
                    f,
                    "no node answered after {attempts} attempt{s} (last: {last})"
                )
            }
            CallError::NotRegistered { attempts, last } => {
                let s = if *attempts == 1 { "" } else { "s" };
                write!(
                    f,
                    "no node opened a session after {attempts} attempt{s} (last: {last}); \
                     nothing was applied"
                )
            }
            CallError::Refused { node_addr, message } => {
                write!(f, "{node_addr} refused the request: {message}")
            }
            CallError::SessionExpired {
                node_addr,
                client,
                seq,
            } => write!(
                f,
                "session-expired ({node_addr}): the session of client {client} is not live on \
                 the cluster (it expired, was evicted, or was never registered). Seq {seq} was \
                 not applied now, but an earlier attempt of it may have taken effect: its \
                 outcome is unknown. Re-run with --register to open a new session (a new \
                 session cannot tell whether the old one's operation took effect: check before \
                 repeating an incr or append)"
            ),
        }
    }
}

/// Perform one operation (registering a session first if `options.client` is `None`),
/// retrying the same `(client, seq)` until a node answers. `progress` hears of every re-send
/// and of the session opened, for the user.
pub fn call(
    options: &CallOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Answer, CallError> {
    let timeout = Duration::from_millis(options.timeout_ms.max(1));
    let timeout_us = options.timeout_ms.max(1) * 1000;
    let backoff = Duration::from_micros((timeout_us / 4).max(1));
    let rounds = options.attempts.min(DISCOVERY_ROUNDS);
    let (members, first_node) = discover(options.first, timeout, rounds, backoff)?;
    let config = ClientConfig {
        no: ClientNo(1),
        cluster_size: members.len() as u8,
        first_node,
        timeout_us,
        think_us: (0, 0),
        backoff_us: backoff.as_micros() as u64,
        suspect_us: timeout_us,
        max_attempts: Some(options.attempts),
        id: options.client,
        first_seq: options.seq,
        on_restart: OnRestart::FreshId,
        window: 1,
        register: options.client.is_none(),
        mutations: crate::mutation::Mutations::NONE,
    };
    let workload = Arc::new(Workload::given(vec![options.op.clone()]));
    let rng = ChaCha8Rng::seed_from_u64(super::random_u64());
    let start = Instant::now();
    let now = || SimTime(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut client = Client::new(config, rng, workload, now());
    let mut driver = Driver {
        members,
        client: client.id(),
        conn: None,
        last: String::from("nothing sent"),
    };
    loop {
        while let Some(event) = client.poll_event() {
            if let Some(done) = driver.event(options, event, progress) {
                return done;
            }
        }
        // One request at a time; after each send, its consequences' events come first.
        if let Some(envelope) = client.poll_transmit() {
            if let (Addr::Node(to), Message::Register { attempt, .. }) =
                (envelope.to, &envelope.msg)
            {
                // The shared client retries a registration without end: bound it here.
                if *attempt > options.attempts {
                    return Err(CallError::NotRegistered {
                        attempts: options.attempts,
                        last: driver.last,
                    });
                }
                if *attempt > 1 {
                    progress(Progress::Retry(&format!(
                        "registration attempt {}: {}; re-sending it to {}",
                        attempt - 1,
                        driver.last,
                        driver.members[to.index()]
                    )));
                }
            }
            if let Err(node) = driver.send(envelope, timeout) {
                client.handle_unreachable(now(), node);
            }
            continue;
        }
        let Some(due) = client.poll_timeout() else {
            // Not waiting for anything, and no operation left: cannot happen before the
            // operation ends, which returns above.
            return Err(CallError::NoAnswer {
                attempts: 0,
                last: driver.last,
            });
        };
        let wait = Duration::from_micros(due.as_us().saturating_sub(now().as_us()));
        match driver.receive(wait, options) {
            Received::Reply(envelope) => client.handle_message(now(), envelope),
            Received::Failed(node) => client.handle_unreachable(now(), node),
            Received::Refused(node, message) => {
                return Err(CallError::Refused {
                    node_addr: driver.members[node.index()],
                    message,
                });
            }
            Received::Nothing => client.handle_timeout(now()),
        }
    }
}

/// Ask one node for its status.
pub fn status(addr: SocketAddr, timeout: Duration) -> io::Result<NodeStatus> {
    let mut stream = connect(addr, timeout)?;
    wire::write_frame(&mut stream, &Frame::Status)?;
    match wire::read_frame(&mut BufReader::new(stream)) {
        Ok(Frame::StatusReply(status)) => Ok(status),
        Ok(Frame::Error { message, .. }) => Err(io::Error::other(message)),
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

/// The cluster's members, in node order, and a node that just answered: asked of `first`,
/// else of the ports around it, nearest first. Nodes may still be starting, so up to
/// `rounds` rounds, `pause` apart.
fn discover(
    first: SocketAddr,
    timeout: Duration,
    rounds: u32,
    pause: Duration,
) -> Result<(Vec<SocketAddr>, NodeId), CallError> {
    let mut why = String::new();
    for round in 0..rounds.max(1) {
        if round > 0 {
            thread::sleep(pause);
        }
        for addr in nearby_ports(first) {
            match status(addr, timeout) {
                Ok(status) => {
                    let members: Vec<SocketAddr> = status
                        .members
                        .iter()
                        .filter_map(|m| m.parse().ok())
                        .collect();
                    let listed = (1..=usize::from(MAX_NODES)).contains(&members.len())
                        && members.len() == status.members.len();
                    if listed && is_member(status.node, members.len()) {
                        return Ok((members, status.node));
                    }
                    if addr == first {
                        why = if listed {
                            format!(
                                "a node number {} outside its {}-member list",
                                status.node.0,
                                members.len()
                            )
                        } else {
                            format!("an unusable member list {:?}", status.members)
                        };
                    }
                }
                Err(e) if addr == first => why = e.to_string(),
                Err(_) => {}
            }
        }
    }
    Err(CallError::NoCluster { first, why })
}

/// Whether `node` names one of `members` nodes (numbered from 1).
fn is_member(node: NodeId, members: usize) -> bool {
    (1..=members).contains(&usize::from(node.0))
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

fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    Ok(stream)
}

/// What waiting on the current connection came to.
enum Received {
    /// The answer to the current attempt, as the client takes it.
    Reply(Envelope),
    /// The node failed: it closed the connection, or said it is overloaded.
    Failed(NodeId),
    /// The node refused the request itself.
    Refused(NodeId, String),
    /// Nothing before the client's timer (or no connection to wait on).
    Nothing,
}

/// The attempt in flight, and the connection its answer comes on.
struct Attempt {
    node: NodeId,
    /// The attempt number of the request or registration.
    attempt: u32,
    /// A registration, not the operation.
    register: bool,
    reader: BufReader<TcpStream>,
}

/// The sockets under one client.
struct Driver {
    /// Every node's address, in node order.
    members: Vec<SocketAddr>,
    /// The client id the operation goes under (0 until a registration gives one).
    client: ClientId,
    /// The attempt in flight.
    conn: Option<Attempt>,
    /// What went wrong last, for progress lines and the final message.
    last: String,
}

impl Driver {
    /// React to one client event; `Some` ends the call.
    fn event(
        &mut self,
        options: &CallOptions,
        event: ClientEvent,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Option<Result<Answer, CallError>> {
        match event {
            ClientEvent::Accepted {
                from,
                result,
                cached,
                ..
            } => Some(Ok(Answer {
                result: result.map(|r| r.to_string()),
                cached,
                node: from,
                node_addr: self.members[from.index()],
                attempts: self.conn.as_ref().map_or(0, |c| c.attempt),
            })),
            ClientEvent::Refused {
                from,
                last_seq,
                reason,
                ..
            } => {
                let node_addr = self.members[from.index()];
                let (client, seq) = (self.client, options.seq);
                Some(Err(match reason {
                    // The first event of an expired session: the call ends here, before the
                    // client registers a new session by itself.
                    Refusal::SessionExpired => CallError::SessionExpired {
                        node_addr,
                        client,
                        seq,
                    },
                    Refusal::Forgotten => CallError::Refused {
                        node_addr,
                        message: format!(
                            "client {client} seq {seq} was already acknowledged and its result \
                             is no longer kept (the last seq of this client that took effect is \
                             {last_seq}); it was not applied again. Use a new seq for a new \
                             operation"
                        ),
                    },
                    Refusal::Conflict => CallError::Refused {
                        node_addr,
                        message: format!(
                            "client {client} seq {seq} already took effect as a different \
                             operation (the last seq of this client that took effect is \
                             {last_seq}); this one was not applied. Use a new seq for a new \
                             operation"
                        ),
                    },
                }))
            }
            // Comes after the refusals of the requests in flight; never reached with one in
            // flight, but a session that ends must end the call all the same.
            ClientEvent::SessionExpired { from, .. } => Some(Err(CallError::SessionExpired {
                node_addr: self.members[from.index()],
                client: self.client,
                seq: options.seq,
            })),
            ClientEvent::GaveUp { attempts, .. } => Some(Err(CallError::NoAnswer {
                attempts,
                last: std::mem::take(&mut self.last),
            })),
            ClientEvent::Redirected { from, hint, .. } => {
                self.redirected(from, hint);
                None
            }
            ClientEvent::Sent { to, attempt, .. } if attempt > 1 => {
                progress(Progress::Retry(&format!(
                    "attempt {}: {}; re-sending client {} seq {} to {}",
                    attempt - 1,
                    self.last,
                    self.client,
                    options.seq,
                    self.members[to.index()]
                )));
                None
            }
            ClientEvent::Registered { client, from } => {
                // That connection has answered; nothing more comes on it.
                self.conn = None;
                self.client = client;
                self.last = String::from("nothing sent");
                progress(Progress::Registered {
                    client,
                    node: from,
                    node_addr: self.members[from.index()],
                });
                None
            }
            ClientEvent::Submitted { .. } | ClientEvent::Sent { .. } => None,
            ClientEvent::Failed { .. } => None,
        }
    }

    /// `from` said it is not the leader (naming `hint`, if it knows one).
    fn redirected(&mut self, from: NodeId, hint: Option<NodeId>) {
        // That connection has answered; nothing more comes on it.
        self.conn = None;
        let from = self.members[from.index()];
        self.last = match hint.and_then(|h| self.members.get(h.index())) {
            Some(leader) if *leader != from => {
                format!("{from} is not the leader; it names {leader}")
            }
            _ => format!("{from} is not the leader and knows of none"),
        };
    }

    /// Carry one client message to its node on a fresh connection; `Err(node)` if the node
    /// could not be reached.
    fn send(&mut self, envelope: Envelope, timeout: Duration) -> Result<(), NodeId> {
        let Addr::Node(node) = envelope.to else {
            return Ok(());
        };
        let (frame, attempt, register) = match envelope.msg {
            Message::ClientRequest { request, attempt } => {
                let request = Request::clone(&request);
                (Frame::Request { request, attempt }, attempt, false)
            }
            Message::Register { attempt, .. } => (Frame::Register { attempt }, attempt, true),
            _ => return Ok(()), // a client sends nothing else
        };
        let addr = self.members[node.index()];
        self.conn = None;
        let sent = connect(addr, timeout).and_then(|mut stream| {
            wire::write_frame(&mut stream, &frame)?;
            Ok(stream)
        });
        match sent {
            Ok(stream) => {
                self.conn = Some(Attempt {
                    node,
                    attempt,
                    register,
                    reader: BufReader::new(stream),
                });
                Ok(())
            }
            Err(e) => {
                self.last = format!("{addr}: {e}");
                Err(node)
            }
        }
    }

    /// Wait up to `wait` for the answer to the attempt in flight.
    fn receive(&mut self, wait: Duration, options: &CallOptions) -> Received {
        let Some(Attempt {
            node,
            attempt,
            register,
            reader,
        }) = &mut self.conn
        else {
            thread::sleep(wait);
            return Received::Nothing;
        };
        let (node, attempt, register) = (*node, *attempt, *register);
        let addr = self.members[node.index()];
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.last = format!("{addr}: no answer within {} ms", options.timeout_ms);
                return Received::Nothing;
            }
            let _ = reader.get_ref().set_read_timeout(Some(left));
            let frame = match wire::read_frame(reader) {
                Ok(frame) => frame,
                Err(FrameError::Idle) => continue,
                Err(FrameError::Io(e)) if wire::is_timeout(&e) => continue,
                Err(FrameError::Closed) => {
                    self.last = format!("{addr}: closed the connection without answering");
                    self.conn = None;
                    return Received::Failed(node);
                }
                Err(e) => {
                    self.last = format!("{addr}: {e}");
                    self.conn = None;
                    return Received::Failed(node);
                }
            };
            match frame {
                Frame::Reply {
                    client,
                    seq,
                    attempt: answered,
                    reply,
                    ..
                } if !register
                    && client == self.client
                    && seq == options.seq
                    && answered == attempt =>
                {
                    let reply = match reply {
                        WireReply::Done { result, cached } => Reply::Done {
                            result: result.map(Arc::from),
                            cached,
                        },
                        WireReply::NotLeader { leader, .. } => Reply::NotLeader {
                            hint: leader.filter(|&l| is_member(l, self.members.len())),
                        },
                        WireReply::Forgotten { last_seq } => Reply::Forgotten { last_seq },
                        WireReply::Conflict { last_seq } => Reply::Conflict { last_seq },
                        WireReply::SessionExpired => Reply::SessionExpired,
                    };
                    return Received::Reply(Envelope {
                        from: Addr::Node(node),
                        to: Addr::Client(ClientNo(1)),
                        msg: Message::ClientReply {
                            client,
                            seq,
                            attempt,
                            incarnation: 0,
                            reply,
                        },
                    });
                }
                Frame::RegisterReply {
                    attempt: answered,
                    reply,
                    ..
                } if register && answered == attempt => {
                    let reply = match reply {
                        WireRegisterReply::Registered { client } => {
                            RegisterAnswer::Registered { client }
                        }
                        WireRegisterReply::NotLeader { leader, .. } => {
                            let hint = leader.filter(|&l| is_member(l, self.members.len()));
                            self.redirected(node, hint);
                            RegisterAnswer::NotLeader { hint }
                        }
                    };
                    return Received::Reply(Envelope {
                        from: Addr::Node(node),
                        to: Addr::Client(ClientNo(1)),
                        msg: Message::RegisterReply {
                            attempt,
                            incarnation: 0,
                            reply,
                        },
                    });
                }
                Frame::Error {
                    message,
                    retry: true,
                } => {
                    self.last = format!("{addr}: {message}");
                    self.conn = None;
                    return Received::Failed(node);
                }
                Frame::Error {
                    message,
                    retry: false,
                } => return Received::Refused(node, message),
                // A reply to some other request cannot arrive on this fresh connection.
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_numbers_from_the_wire_are_checked_before_indexing() {
        assert!(!is_member(NodeId(0), 3), "node 0 is nobody");
        assert!(is_member(NodeId(1), 3));
        assert!(is_member(NodeId(3), 3));
        assert!(!is_member(NodeId(4), 3), "past the member list");
    }

    #[test]
    fn nearby_ports_start_at_the_first_and_widen() {
        let first: SocketAddr = "127.0.0.1:9002".parse().unwrap();
        let ports: Vec<u16> = nearby_ports(first).iter().map(|a| a.port()).collect();
        assert_eq!(&ports[..5], &[9002, 9003, 9001, 9004, 9000]);
        assert_eq!(ports.len(), 1 + 2 * (usize::from(MAX_NODES) - 1));
        let low: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(
            nearby_ports(low).iter().all(|a| a.port() != 0),
            "port 0 is never asked"
        );
    }
}

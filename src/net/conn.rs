//! The sockets around a real node: the listener, a reader and a writer thread per accepted
//! connection, and a sender thread per peer. Plain std threads with blocking sockets; every
//! queue between them and the node loop is bounded, and the node loop never blocks on a
//! socket.

use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{self, Frame, FrameError, SessionRules};
use crate::ids::{ClientNo, NodeId};
use crate::kv::Request;
use crate::message::Message;

/// Most connections a node serves at once; more are refused with a retryable error frame.
pub const MAX_CONNECTIONS: usize = 256;

/// Of those, the last this many are kept for peers: past `MAX_CONNECTIONS - PEER_RESERVE`,
/// a connection whose first frame is not a peer's is refused, so a flood of idle clients
/// cannot cut a node off from its cluster.
const PEER_RESERVE: usize = 16;

/// A connection that sends nothing for this long is closed. Peer senders ping a quiet
/// connection every [`KEEPALIVE_S`].
pub const IDLE_TIMEOUT_S: u64 = 30;

/// A peer sender with nothing to send for this long sends a `Ping`.
const KEEPALIVE_S: u64 = 10;

/// A connection in the slots kept for peers must show it is one this fast.
const PEER_PROOF_S: u64 = 2;

/// Frames up to this size are always read: every client request fits (a 16 KiB operation,
/// escaped at worst six bytes per byte). Larger frames come only from peers.
const SMALL_FRAME: usize = 128 << 10;

/// Bytes of larger frames a node reads at once, across all connections; a large frame that
/// finds no room is refused (retryably) rather than allowed to exhaust memory.
const LARGE_FRAME_BUDGET: usize = 4 * wire::MAX_FRAME;

/// Bytes of large frames being read now.
static LARGE_FRAME_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A reservation of large-frame bytes, returned when dropped.
struct LargeFrame(usize);

impl Drop for LargeFrame {
    fn drop(&mut self) {
        LARGE_FRAME_BYTES.fetch_sub(self.0, Ordering::SeqCst);
    }
}

/// Whether a frame of `len` bytes may be read now on a connection that is (or is not yet
/// known to be) a peer's.
fn admit(len: usize, peer: bool) -> Result<Option<LargeFrame>, FrameError> {
    if len <= SMALL_FRAME {
        return Ok(None);
    }
    if !peer {
        return Err(FrameError::Size(len));
    }
    let reserved = LARGE_FRAME_BYTES.fetch_add(len, Ordering::SeqCst);
    let reservation = LargeFrame(len);
    if reserved + len > LARGE_FRAME_BUDGET {
        return Err(FrameError::Busy(len));
    }
    Ok(Some(reservation))
}

/// Capacity of the queue from connection readers to the node loop (readers block when it is
/// full, which pushes back on the senders through TCP).
pub const INPUT_QUEUE: usize = 4096;

/// Frames waiting to be written to one connection; a connection that lets this many pile up
/// (it stopped reading) is closed rather than allowed to stall the node.
const CONN_QUEUE: usize = 64;

/// Capacity of each peer's send queue; a message that finds it full is dropped, which Raft
/// tolerates (the leader retransmits).
const PEER_QUEUE: usize = 1024;

/// How long a peer sender waits before trying to reconnect to a peer that is down.
const RECONNECT_MS: u64 = 100;

/// What connection threads hand to the node loop.
#[derive(Debug)]
pub enum Input {
    /// A connection was accepted; replies go through `writer`.
    Opened { conn: ClientNo, writer: ConnWriter },
    /// A Raft message from a peer.
    Peer { from: NodeId, message: Message },
    /// A client operation.
    Request {
        conn: ClientNo,
        request: Request,
        attempt: u32,
    },
    /// A client asks to open a session.
    Register { conn: ClientNo, attempt: u32 },
    /// A status query.
    Status { conn: ClientNo },
    /// The connection sent something unreadable or unexpected, or cannot be served: answer
    /// with an error frame (`retry` as in [`Frame::Error`]) and close it.
    Refuse {
        conn: ClientNo,
        reason: String,
        retry: bool,
    },
    /// The connection will send nothing more (closed, half-closed or idle). Replies may
    /// still be written to it.
    Closed { conn: ClientNo },
    /// Standard input closed (the `cluster` that started this node is gone): stop.
    Stop,
}

/// The writing half of a connection: a bounded queue drained by the connection's writer
/// thread, so the node loop never blocks on a socket.
#[derive(Debug)]
pub struct ConnWriter {
    queue: SyncSender<Vec<u8>>,
    stream: TcpStream,
}

/// Why a frame could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The writer thread is gone (the connection failed).
    Gone,
    /// The peer stopped reading; the connection has been shut down.
    Stalled,
}

impl ConnWriter {
    /// Queue one frame without blocking.
    pub fn send(&self, frame: &Frame) -> Result<(), WriteError> {
        match self.queue.try_send(wire::encode(frame)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(WriteError::Gone),
            Err(TrySendError::Full(_)) => {
                self.close_now();
                Err(WriteError::Stalled)
            }
        }
    }

    /// Shut the socket at once, dropping whatever is queued.
    pub fn close_now(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Counts a connection as open while any of its threads holds it.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accept connections on `listener` forever, each with a reader and a writer thread.
///
/// With a `token`, a connection may send peer frames only after a `Hello` carrying it. A
/// `Hello` whose session rules differ from `sessions` (this node's) is refused.
pub fn spawn_listener(
    listener: TcpListener,
    inputs: SyncSender<Input>,
    token: Option<String>,
    sessions: SessionRules,
) {
    let token: Arc<Option<String>> = Arc::new(token);
    let next_conn = AtomicU32::new(1);
    let open = Arc::new(AtomicUsize::new(0));
    thread::Builder::new()
        .name("listener".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => accept(stream, &next_conn, &open, &inputs, &token, sessions),
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        // Out of descriptors, say: let some connections close first.
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        })
        .expect("spawn listener thread");
}

fn accept(
    mut stream: TcpStream,
    next_conn: &AtomicU32,
    open: &Arc<AtomicUsize>,
    inputs: &SyncSender<Input>,
    token: &Arc<Option<String>>,
    sessions: SessionRules,
) {
    let already = open.fetch_add(1, Ordering::SeqCst);
    let slot = Arc::new(Slot(Arc::clone(open)));
    if already >= MAX_CONNECTIONS {
        let busy = Frame::Error {
            message: too_many_connections(),
            retry: true,
        };
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = wire::write_frame(&mut stream, &busy);
        return;
    }
    let peers_only = already >= MAX_CONNECTIONS - PEER_RESERVE;
    let conn = ClientNo(next_conn.fetch_add(1, Ordering::Relaxed));
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(IDLE_TIMEOUT_S)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let (Ok(write_half), Ok(shutdown_half)) = (stream.try_clone(), stream.try_clone()) else {
        tracing::warn!("connection {}: cannot clone its socket", conn.0);
        return;
    };
    let (queue, frames) = sync_channel::<Vec<u8>>(CONN_QUEUE);
    let writer_slot = Arc::clone(&slot);
    let spawned = thread::Builder::new()
        .name(format!("conn-{}-write", conn.0))
        .spawn(move || {
            write_connection(write_half, &frames);
            drop(writer_slot);
        });
    if let Err(e) = spawned {
        tracing::warn!("connection {}: no thread to write it: {e}", conn.0);
        return;
    }
    let writer = ConnWriter {
        queue,
        stream: shutdown_half,
    };
    if inputs.send(Input::Opened { conn, writer }).is_err() {
        return;
    }
    let inputs = inputs.clone();
    let token = Arc::clone(token);
    let spawned = thread::Builder::new()
        .name(format!("conn-{}-read", conn.0))
        .spawn(move || {
            let rules = Rules {
                token: token.as_deref(),
                sessions,
            };
            read_connection(conn, stream, peers_only, &rules, &inputs);
            let _ = inputs.send(Input::Closed { conn });
            drop(slot);
        });
    if let Err(e) = spawned {
        tracing::warn!("connection {}: no thread to read it: {e}", conn.0);
    }
}

/// Write queued frames until the node drops the queue or a write fails, then shut the
/// socket (which also ends the reader).
fn write_connection(mut stream: TcpStream, frames: &Receiver<Vec<u8>>) {
    while let Ok(bytes) = frames.recv() {
        if stream.write_all(&bytes).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// What a peer's hello must match.
struct Rules<'a> {
    /// The cluster token, if the node has one.
    token: Option<&'a str>,
    /// This node's session rules.
    sessions: SessionRules,
}

/// Read frames until the connection closes, idles, or sends something unreadable. In the
/// slots kept for peers, the first frame must come quickly and be a peer's. With a token,
/// peer frames are taken only after a `Hello` that carries it; a `Hello` with other session
/// rules than this node's is refused.
fn read_connection(
    conn: ClientNo,
    stream: TcpStream,
    peers_only: bool,
    rules: &Rules<'_>,
    inputs: &SyncSender<Input>,
) {
    let token = rules.token;
    if peers_only {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(PEER_PROOF_S)));
    }
    let mut reader = BufReader::new(stream);
    let mut first = true;
    let mut peer = false;
    let refuse = |reason: String, retry: bool| Input::Refuse {
        conn,
        reason,
        retry,
    };
    loop {
        let frame = wire::read_frame_admitting(&mut reader, |len| admit(len, peer));
        if first && peers_only && matches!(frame, Ok(Frame::Hello { .. } | Frame::Peer { .. })) {
            let idle = Some(Duration::from_secs(IDLE_TIMEOUT_S));
            let _ = reader.get_ref().set_read_timeout(idle);
        }
        let input = match frame {
            Ok(Frame::Hello {
                from,
                token: theirs,
                sessions,
            }) => {
                if token.is_some_and(|ours| !same_token(ours, &theirs)) {
                    refuse(format!("{from}: wrong cluster token"), false)
                } else if sessions != rules.sessions {
                    refuse(
                        format!(
                            "{from} runs with {sessions} but this node with {}: every node of \
                             a cluster must be started with the same --session-timeout-ms and \
                             --max-sessions",
                            rules.sessions
                        ),
                        false,
                    )
                } else {
                    peer = true;
                    first = false;
                    continue;
                }
            }
            Ok(Frame::Peer { .. }) if token.is_some() && !peer => refuse(
                "a peer frame before a hello with the cluster token (start every node with the \
                 same --cluster-token)"
                    .to_owned(),
                false,
            ),
            Ok(Frame::Peer { from, message }) => {
                peer = true;
                Input::Peer {
                    from,
                    message: message.0,
                }
            }
            Ok(_) | Err(FrameError::Idle) if first && peers_only => {
                refuse(too_many_connections(), true)
            }
            Ok(Frame::Ping) => {
                first = false;
                continue;
            }
            Ok(Frame::Request { request, attempt }) => Input::Request {
                conn,
                request,
                attempt,
            },
            Ok(Frame::Register { attempt }) => Input::Register { conn, attempt },
            Ok(Frame::Status) => Input::Status { conn },
            Ok(other) => refuse(
                format!("a node does not accept {} frames", other.kind()),
                false,
            ),
            Err(FrameError::Closed | FrameError::Idle) => return,
            Err(e) => {
                let retry = matches!(e, FrameError::Busy(_));
                refuse(e.to_string(), retry)
            }
        };
        first = false;
        let last = matches!(input, Input::Refuse { .. });
        if inputs.send(input).is_err() || last {
            return;
        }
    }
}

/// Why a connection past the limit is refused.
fn too_many_connections() -> String {
    format!("too many connections (at most {MAX_CONNECTIONS}); try another node")
}

/// Token comparison that takes the same time wherever the first difference is.
fn same_token(ours: &str, theirs: &str) -> bool {
    let (a, b) = (ours.as_bytes(), theirs.as_bytes());
    let differences = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && differences == 0
}

/// Start the thread that sends encoded frames to `peer` at `addr`, connecting (and
/// reconnecting after a failure) as needed. Frames sent while the peer is unreachable are
/// dropped: Raft retransmits what matters.
///
/// Every new connection opens with a `Hello` from `me` carrying `token` and this node's
/// session rules.
pub fn spawn_peer_sender(
    me: NodeId,
    peer: NodeId,
    addr: SocketAddr,
    token: Option<&str>,
    sessions: SessionRules,
) -> SyncSender<Vec<u8>> {
    let (tx, rx) = sync_channel::<Vec<u8>>(PEER_QUEUE);
    let hello = wire::encode(&Frame::Hello {
        from: me,
        token: token.unwrap_or_default().to_owned(),
        sessions,
    });
    thread::Builder::new()
        .name(format!("peer-{peer}"))
        .spawn(move || send_to_peer(peer, addr, &hello, &rx))
        .expect("spawn peer sender thread");
    tx
}

fn send_to_peer(peer: NodeId, addr: SocketAddr, hello: &[u8], frames: &Receiver<Vec<u8>>) {
    let mut stream: Option<TcpStream> = None;
    let mut retry_at = Instant::now();
    let mut reported_down = false;
    let ping = wire::encode(&Frame::Ping);
    let keepalive = Duration::from_secs(KEEPALIVE_S);
    loop {
        let bytes = match frames.recv_timeout(keepalive) {
            Ok(bytes) => bytes,
            // Quiet for a while: keep the connection (if any) from being closed as idle.
            Err(RecvTimeoutError::Timeout) if stream.is_some() => ping.clone(),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if stream.is_none() && Instant::now() >= retry_at {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(mut s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                    if s.write_all(hello).is_ok() {
                        tracing::info!("connected to {peer} at {addr}");
                        reported_down = false;
                        stream = Some(s);
                    } else {
                        retry_at = Instant::now() + Duration::from_millis(RECONNECT_MS);
                    }
                }
                Err(e) => {
                    if !reported_down {
                        tracing::info!("{peer} at {addr} unreachable ({e}); will keep trying");
                        reported_down = true;
                    }
                    retry_at = Instant::now() + Duration::from_millis(RECONNECT_MS);
                }
            }
        }
        let Some(s) = stream.as_mut() else { continue };
        if let Err(e) = s.write_all(&bytes) {
            tracing::info!("lost connection to {peer} at {addr}: {e}");
            stream = None;
            retry_at = Instant::now() + Duration::from_millis(RECONNECT_MS);
        }
    }
}

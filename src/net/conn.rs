//! The sockets around a real node: the listener, one reader thread per accepted connection,
//! and one sender thread per peer. Plain std threads with blocking sockets; every queue
//! between them and the node loop is bounded.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{self, Frame, FrameError};
use crate::ids::{ClientNo, NodeId};
use crate::kv::Request;
use crate::message::Message;

/// Most connections a node serves at once; more are refused with an error frame.
pub const MAX_CONNECTIONS: usize = 256;

/// Capacity of the queue from connection readers to the node loop (readers block when it is
/// full, which pushes back on the senders through TCP).
pub const INPUT_QUEUE: usize = 4096;

/// Capacity of each peer's send queue; a message that finds it full is dropped, which Raft
/// tolerates (the leader retransmits).
const PEER_QUEUE: usize = 1024;

/// How long a peer sender waits before trying to reconnect to a peer that is down.
const RECONNECT_MS: u64 = 100;

/// What connection threads hand to the node loop.
#[derive(Debug)]
pub enum Input {
    /// A connection was accepted; `stream` is its writing half.
    Opened { conn: ClientNo, stream: TcpStream },
    /// A Raft message from a peer.
    Peer { from: NodeId, message: Message },
    /// A client operation.
    Request {
        conn: ClientNo,
        request: Request,
        attempt: u32,
    },
    /// A status query.
    Status { conn: ClientNo },
    /// The connection sent something unreadable or unexpected: answer with an error frame
    /// and close it.
    Refuse { conn: ClientNo, reason: String },
    /// The connection closed.
    Closed { conn: ClientNo },
}

/// Accept connections on `listener` forever, one reader thread each.
pub fn spawn_listener(listener: TcpListener, inputs: SyncSender<Input>) {
    let next_conn = Arc::new(AtomicU32::new(1));
    let open = Arc::new(AtomicUsize::new(0));
    thread::Builder::new()
        .name("listener".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => accept(stream, &next_conn, &open, &inputs),
                    Err(e) => tracing::warn!("accept failed: {e}"),
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
) {
    if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        open.fetch_sub(1, Ordering::SeqCst);
        let refusal = Frame::Error {
            message: format!("too many connections (at most {MAX_CONNECTIONS})"),
        };
        let _ = wire::write_frame(&mut stream, &refusal);
        return;
    }
    let conn = ClientNo(next_conn.fetch_add(1, Ordering::Relaxed));
    let _ = stream.set_nodelay(true);
    // A client that stops reading must not stall the node loop for long.
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(e) => {
            tracing::warn!("connection {}: {e}", conn.0);
            open.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    };
    if inputs
        .send(Input::Opened {
            conn,
            stream: writer,
        })
        .is_err()
    {
        return;
    }
    let inputs = inputs.clone();
    let open = Arc::clone(open);
    let spawned = thread::Builder::new()
        .name(format!("conn-{}", conn.0))
        .spawn(move || {
            read_connection(conn, stream, &inputs);
            let _ = inputs.send(Input::Closed { conn });
            open.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        tracing::warn!("connection {}: no thread to read it: {e}", conn.0);
    }
}

/// Read frames until the connection closes or sends something unreadable.
fn read_connection(conn: ClientNo, stream: TcpStream, inputs: &SyncSender<Input>) {
    let mut reader = BufReader::new(stream);
    loop {
        let input = match wire::read_frame(&mut reader) {
            Ok(Frame::Peer { from, message }) => Input::Peer {
                from,
                message: message.0,
            },
            Ok(Frame::Request { request, attempt }) => Input::Request {
                conn,
                request,
                attempt,
            },
            Ok(Frame::Status) => Input::Status { conn },
            Ok(other) => Input::Refuse {
                conn,
                reason: format!("a node does not accept {} frames", frame_name(&other)),
            },
            Err(FrameError::Closed) => return,
            Err(e) => Input::Refuse {
                conn,
                reason: e.to_string(),
            },
        };
        let last = matches!(input, Input::Refuse { .. });
        if inputs.send(input).is_err() || last {
            return;
        }
    }
}

/// A frame's kind, as error messages name it.
pub fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Peer { .. } => "peer",
        Frame::Request { .. } => "request",
        Frame::Reply { .. } => "reply",
        Frame::Status => "status",
        Frame::StatusReply(_) => "status_reply",
        Frame::Error { .. } => "error",
    }
}

/// Start the thread that sends encoded frames to `peer` at `addr`, connecting (and
/// reconnecting after a failure) as needed. Frames sent while the peer is unreachable are
/// dropped: Raft retransmits what matters.
pub fn spawn_peer_sender(peer: NodeId, addr: SocketAddr) -> SyncSender<Vec<u8>> {
    let (tx, rx) = sync_channel::<Vec<u8>>(PEER_QUEUE);
    thread::Builder::new()
        .name(format!("peer-{peer}"))
        .spawn(move || send_to_peer(peer, addr, &rx))
        .expect("spawn peer sender thread");
    tx
}

fn send_to_peer(peer: NodeId, addr: SocketAddr, frames: &Receiver<Vec<u8>>) {
    let mut stream: Option<TcpStream> = None;
    let mut retry_at = Instant::now();
    let mut reported_down = false;
    while let Ok(bytes) = frames.recv() {
        if stream.is_none() && Instant::now() >= retry_at {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                    tracing::info!("connected to {peer} at {addr}");
                    reported_down = false;
                    stream = Some(s);
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

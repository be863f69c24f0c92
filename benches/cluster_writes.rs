//! The write path of a real cluster: three `idemsim serve` processes on loopback, `OPS`
//! increments written by `CLIENTS` concurrent client threads, and what it cost.
//!
//! ```sh
//! cargo bench --bench cluster_writes                                # 100,000 ops, 8 clients
//! OPS=1000,5000 CLIENTS=8 cargo bench --bench cluster_writes        # one row per size
//! IDEMSIM_BIN=/path/to/other/idemsim OPS=5000 cargo bench --bench cluster_writes
//! ```
//!
//! For each size it prints one row:
//!
//! - **ops/s**: acknowledged writes per second of wall time, from the first send to the
//!   last answer, in a run *without* strace; `tail ops/s` is the same over the last tenth of
//!   the ops (a cost per op that grows with the log shows as a tail slower than the whole);
//!   `p50`/`p99` are the latencies of single ops.
//! - **fsyncs/op**: `fsync`, `fdatasync`, `sync_file_range`, `sync`, `syncfs` and `msync`
//!   calls of all three nodes (every thread), counted by `strace -f -c` in a second run of
//!   the same size, divided by the ops. They include the few of start-up and elections.
//!   Durability through `O_SYNC`/`O_DSYNC` writes would not be counted: none of the storage
//!   engines here uses them. Skipped (`-`) without `/usr/bin/strace` or with `FSYNC=0`.
//! - **data**: the bytes of every file in the three data directories once the nodes have
//!   stopped (after the run without strace).
//!
//! Every client increments its own key by 1 per op on one connection to the leader (a frame
//! per request, the next sent when the answer comes). An answer other than a result (the
//! leader moved, a timeout) sends that op through `idemsim::net::client::call`, the real
//! client with its retries of the same `(client_id, seq)`, counted as `fallbacks`. At the
//! end every counter is read through the cluster and must equal the client's ops: a benchmark
//! of a store that loses or doubles writes stops with an error instead of a number.
//!
//! Environment:
//!
//! - `IDEMSIM_BIN`: the `idemsim` binary to run (default: the one cargo built with this
//!   bench). The wire protocol must be this build's (it is unchanged since sessions).
//! - `OPS`: ops per run, or a comma-separated list of sizes (default `100000`).
//! - `CLIENTS`: concurrent client threads (default 8).
//! - `FSYNC`: `0` skips the strace run.
//! - `BENCH_DIR`: where data directories go (default: cargo's target tmp directory, so on
//!   the same disk as the build, never a tmpfs). Removed after each run.
//! - `RUST_LOG`: the nodes' log level (default `warn`: a node logs every request at `info`).
//!
//! Nodes use the default election timeout and heartbeat (300 ms, 50 ms).

use std::fs;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use idemsim::ids::{ClientId, Seq};
use idemsim::kv::{Op, Origin, Request};
use idemsim::net::client::{CallOptions, call, status};
use idemsim::net::wire::{self, Frame, WireReply};

const STRACE: &str = "/usr/bin/strace";
const SYNC_CALLS: &str = "fsync,fdatasync,sync_file_range,sync,syncfs,msync";

fn main() {
    let bin =
        std::env::var("IDEMSIM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_idemsim").to_owned());
    let sizes: Vec<u64> = std::env::var("OPS")
        .unwrap_or_else(|_| "100000".to_owned())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("OPS: a number or a comma-separated list")
        })
        .collect();
    let clients: usize = std::env::var("CLIENTS").map_or(8, |s| s.parse().expect("CLIENTS"));
    assert!(clients >= 1, "CLIENTS must be at least 1");
    let strace = std::env::var("FSYNC").map_or(true, |v| v != "0") && Path::new(STRACE).exists();
    let bench_dir = std::env::var("BENCH_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
        PathBuf::from,
    );
    let log_level = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    fs::create_dir_all(&bench_dir).expect("create BENCH_DIR");

    println!("cluster_writes: 3 nodes, {clients} clients, binary {bin}");
    println!(
        "data in {}, node log level {log_level}",
        bench_dir.display()
    );
    if !strace {
        println!("fsyncs not counted ({STRACE} missing or FSYNC=0)");
    }
    let setup = Setup {
        bin,
        clients,
        bench_dir,
        log_level,
    };
    println!(
        "{:>8} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>10} {:>12}",
        "ops", "wall s", "ops/s", "tail ops/s", "p50 ms", "p99 ms", "fallback", "fsyncs/op", "data"
    );
    for &ops in &sizes {
        let timed = run(&setup, ops, false);
        let fsyncs = strace.then(|| run(&setup, ops, true).fsyncs);
        println!(
            "{:>8} {:>9.2} {:>9.0} {:>10.0} {:>9.2} {:>9.2} {:>9} {:>10} {:>12}",
            ops,
            timed.wall.as_secs_f64(),
            ops as f64 / timed.wall.as_secs_f64(),
            timed.tail_ops_per_s,
            timed.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            timed.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
            timed.fallbacks,
            fsyncs.map_or("-".to_owned(), |f| format!("{:.2}", f as f64 / ops as f64)),
            format!("{:.1} MiB", timed.data_bytes as f64 / (1 << 20) as f64),
        );
    }
}

struct Setup {
    bin: String,
    clients: usize,
    bench_dir: PathBuf,
    log_level: String,
}

/// What one run measured.
struct Measured {
    wall: Duration,
    tail_ops_per_s: f64,
    latency_us: Histogram<u64>,
    fallbacks: u64,
    /// Sync calls counted by strace (0 without it).
    fsyncs: u64,
    data_bytes: u64,
}

/// A node process; killed if still running when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One run: start the cluster (under strace if `count`), write `ops`, check, stop, measure.
fn run(setup: &Setup, ops: u64, count: bool) -> Measured {
    let dir = tempfile::Builder::new()
        .prefix("cluster-writes-")
        .tempdir_in(&setup.bench_dir)
        .expect("run directory");
    let base = free_ports();
    let ports = [base, base + 1, base + 2];
    let mut nodes: Vec<Node> = (1..=3u16)
        .map(|id| start_node(setup, dir.path(), &ports, id, count))
        .collect();
    let leader = wait_for_leader(&ports);

    let done = Arc::new(AtomicU64::new(0));
    let tail_start = Arc::new(Mutex::new(None::<Instant>));
    let tail_from = ops - ops / 10;
    let start = Instant::now();
    let threads: Vec<_> = (0..setup.clients)
        .map(|c| {
            let share =
                ops / setup.clients as u64 + u64::from((c as u64) < ops % setup.clients as u64);
            let (done, tail_start) = (Arc::clone(&done), Arc::clone(&tail_start));
            thread::spawn(move || {
                let mut writer = Writer::new(c, ports, leader);
                for _ in 0..share {
                    writer.incr();
                    if done.fetch_add(1, Ordering::SeqCst) + 1 == tail_from {
                        *tail_start.lock().expect("lock") = Some(Instant::now());
                    }
                }
                writer
            })
        })
        .collect();
    let writers: Vec<Writer> = threads
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect();
    let wall = start.elapsed();
    let tail_start = tail_start.lock().expect("lock").unwrap_or(start);
    let tail_ops_per_s = (ops - tail_from) as f64 / tail_start.elapsed().as_secs_f64();

    let mut latency_us = Histogram::new(3).expect("histogram");
    let mut fallbacks = 0;
    for w in &writers {
        latency_us.add(&w.latency_us).expect("histogram");
        fallbacks += w.fallbacks;
        let value = read(&ports, &w.key);
        assert_eq!(
            value.as_deref(),
            Some(w.seq.to_string().as_str()),
            "{}: {} increments acknowledged, the cluster holds {value:?}",
            w.key,
            w.seq
        );
    }

    // Stop: closing a node's stdin makes it exit (and strace write its counts).
    for node in &mut nodes {
        drop(node.0.stdin.take());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in &mut nodes {
        while node.0.try_wait().expect("poll node").is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }
    let mut fsyncs = 0;
    if count {
        for id in 1..=3 {
            let file = dir.path().join(format!("strace-n{id}.txt"));
            let text = fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e} (did the node exit cleanly?)", file.display()));
            fsyncs += sync_calls(&text);
        }
    }
    drop(nodes);
    let data_bytes = (1..=3)
        .map(|id| dir_bytes(&dir.path().join(format!("n{id}"))))
        .sum();
    Measured {
        wall,
        tail_ops_per_s,
        latency_us,
        fallbacks,
        fsyncs,
        data_bytes,
    }
}

/// Start node `id` of three (under `strace -f -c` when `count`), its log in the run
/// directory, outside its data directory.
fn start_node(setup: &Setup, dir: &Path, ports: &[u16; 3], id: u16, count: bool) -> Node {
    let peers: Vec<String> = (1..=3u16)
        .filter(|&p| p != id)
        .map(|p| format!("{p}={}", addr(ports[usize::from(p) - 1])))
        .collect();
    let serve = [
        "serve".to_owned(),
        "--id".to_owned(),
        id.to_string(),
        "--listen".to_owned(),
        addr(ports[usize::from(id) - 1]).to_string(),
        "--data-dir".to_owned(),
        dir.join(format!("n{id}")).display().to_string(),
        "--peers".to_owned(),
        peers.join(","),
        "--exit-with-stdin".to_owned(),
    ];
    let mut command = if count {
        let mut c = Command::new(STRACE);
        c.args(["-f", "-c", "-e", &format!("trace={SYNC_CALLS}"), "-o"])
            .arg(dir.join(format!("strace-n{id}.txt")))
            .arg(&setup.bin);
        c
    } else {
        Command::new(&setup.bin)
    };
    let log = fs::File::create(dir.join(format!("n{id}.log"))).expect("node log");
    let child = command
        .args(serve)
        .env("RUST_LOG", &setup.log_level)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", setup.bin));
    Node(child)
}

/// The sum of the `calls` column of an `strace -c` summary (every row but the total).
fn sync_calls(summary: &str) -> u64 {
    summary
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = *fields.last()?;
            if !SYNC_CALLS.split(',').any(|s| s == name) {
                return None;
            }
            // % time, seconds, usecs/call, calls, [errors,] syscall
            fields.get(3)?.parse::<u64>().ok()
        })
        .sum()
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One client thread: its key, its seqs, its connection to the leader.
struct Writer {
    client: ClientId,
    key: String,
    /// The last seq sent (and acknowledged): the number of increments.
    seq: u64,
    ports: [u16; 3],
    leader: usize,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
    latency_us: Histogram<u64>,
    fallbacks: u64,
}

impl Writer {
    fn new(c: usize, ports: [u16; 3], leader: usize) -> Writer {
        Writer {
            client: ClientId(1_000 + c as u64),
            key: format!("bench-c{c}"),
            seq: 0,
            ports,
            leader,
            conn: None,
            latency_us: Histogram::new(3).expect("histogram"),
            fallbacks: 0,
        }
    }

    /// One increment, acknowledged before it returns.
    fn incr(&mut self) {
        self.seq += 1;
        let op = Op::Incr {
            key: self.key.as_str().into(),
            amount: 1,
        };
        let start = Instant::now();
        if !self.send_to_leader(&op) {
            self.fallbacks += 1;
            self.conn = None;
            let options = CallOptions {
                first: addr(self.ports[self.leader]),
                client: Some(self.client),
                seq: Seq(self.seq),
                op,
                timeout_ms: 2_000,
                attempts: 50,
            };
            let answer = call(&options, &mut |_| {})
                .unwrap_or_else(|e| panic!("{} seq {}: {e}", self.key, self.seq));
            self.leader = answer.node.index();
        }
        let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.latency_us.record(us.max(1)).expect("histogram");
    }

    /// Send the current seq on the connection to the leader; whether it answered with a
    /// result.
    fn send_to_leader(&mut self, op: &Op) -> bool {
        if self.conn.is_none() {
            let Ok(stream) = TcpStream::connect(addr(self.ports[self.leader])) else {
                return false;
            };
            let _ = stream.set_nodelay(true);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(read_half) = stream.try_clone() else {
                return false;
            };
            self.conn = Some((stream, BufReader::new(read_half)));
        }
        let (stream, reader) = self.conn.as_mut().expect("connected");
        let request = Request {
            client: self.client,
            seq: Seq(self.seq),
            lowest_unacked: Seq(self.seq),
            op: op.clone(),
            origin: Origin::default(),
        };
        let frame = Frame::Request {
            request,
            attempt: 1,
        };
        if wire::write_frame(stream, &frame).is_err() {
            return false;
        }
        matches!(
            wire::read_frame(reader),
            Ok(Frame::Reply { seq, reply: WireReply::Done { .. }, .. }) if seq == Seq(self.seq)
        )
    }
}

/// Read `key` through the cluster (through the log, with the real client's retries).
fn read(ports: &[u16; 3], key: &str) -> Option<String> {
    let options = CallOptions {
        first: addr(ports[0]),
        client: Some(ClientId(idemsim::net::random_u64() | 1 << 63)),
        seq: Seq(1),
        op: Op::Get { key: key.into() },
        timeout_ms: 2_000,
        attempts: 50,
    };
    call(&options, &mut |_| {})
        .unwrap_or_else(|e| panic!("read {key}: {e}"))
        .result
}

/// The index of the node every node agrees leads (at most 30 s).
fn wait_for_leader(ports: &[u16; 3]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let leaders: Vec<_> = ports
            .iter()
            .filter_map(|&p| status(addr(p), Duration::from_millis(500)).ok())
            .map(|s| s.leader)
            .collect();
        if leaders.len() == 3
            && let Some(leader) = leaders[0]
            && leaders.iter().all(|&l| l == Some(leader))
        {
            return leader.index();
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("no leader all of {ports:?} agree on within 30 s");
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Three consecutive free ports, with eight free either side (a client that cannot reach a
/// node probes the ports around it), below Linux's ephemeral range.
fn free_ports() -> u16 {
    for i in 0..500u32 {
        let block = 20_000 + ((std::process::id().wrapping_mul(7873) + i * 32) % 12_000) as u16;
        let held: Vec<_> = (0..19)
            .map_while(|p| TcpListener::bind(("127.0.0.1", block + p)).ok())
            .collect();
        if held.len() == 19 {
            return block + 8;
        }
    }
    panic!("no free ports");
}

//! The real-network mode, as real processes on loopback: the seed lesson's own commands, a
//! leader killed while a client keeps incrementing, bad frames from a raw socket, and bad
//! command lines. Every wait is bounded in count and time; ports are found free at run time.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use idemsim::net::client::status;

mod loopback;
use idemsim::net::wire::{self, Frame};
use loopback::{BIN, Server, TIMING, addr};

/// A base port with `n` consecutive free ports after it.
fn free_ports(n: u16) -> u16 {
    loopback::free_ports(n, 7919)
}

/// A child process killed (if still running) when the test ends, even by a failed assert.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `idemsim client ARGS` against `port`.
fn client(port: u16, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("client")
        .args(["--port", &port.to_string()])
        .args(args)
        .output()
        .expect("run idemsim client")
}

/// The value of `key: value` in a client's stdout.
fn field(output: &Output, key: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_owned))
        .unwrap_or_else(|| {
            panic!(
                "no `{key}:` in client output\nstdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

fn assert_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The node that says it leads, among `ports`, polled for at most 15 s.
fn leader_now(ports: &[u16]) -> u8 {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let leading = ports
            .iter()
            .filter_map(|&p| status(addr(p), Duration::from_millis(200)).ok())
            .filter(|s| s.role == "leader")
            .max_by_key(|s| s.term);
        if let Some(s) = leading {
            return s.node.0;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("no node of {ports:?} led within 15 s");
}

/// The number of log entries a node's last start-up restored, from its log.
fn restored_entries(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains("restored term"))?;
    let before = line.split(" log entries").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// The node that leads, once one does and every node in `ports` agrees (at most 15 s).
fn wait_for_leader(ports: &[u16]) -> u8 {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let views: Vec<_> = ports
            .iter()
            .filter_map(|&p| status(addr(p), Duration::from_millis(200)).ok())
            .collect();
        if views.len() == ports.len() {
            let leaders: Vec<_> = views.iter().map(|s| s.leader).collect();
            if let Some(Some(leader)) = leaders.first().copied()
                && leaders.iter().all(|&l| l == Some(leader))
            {
                return leader.0;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("no leader that all of {ports:?} agree on within 15 s");
}

/// The seed lesson's verification, as written: `cluster` in the background, then the four
/// client commands; the second send of (42, 1) is answered from the session table, and the
/// server log shows the lesson's dedup line.
#[cfg(unix)]
#[test]
fn seed_lesson_commands_work_as_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let mut cluster = KillOnDrop(
        Command::new(BIN)
            .args(["cluster", "--nodes", "3", "--base-port", &base.to_string()])
            .args([
                "--data-dir",
                &dir.path().join("kv-data").display().to_string(),
            ])
            .args(TIMING)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn idemsim cluster"),
    );
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = cluster.0.stdout.take().expect("cluster stdout");
    let stdout_reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let stderr = cluster.0.stderr.take().expect("cluster stderr");
    let logs = thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });

    // The cluster says where each node listens, then who leads.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.iter().any(|l: &String| l.starts_with("leader: ")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("cluster named no leader within 15 s; it said: {seen:#?}"),
        }
    }
    for i in 0..3u16 {
        let expected = format!("n{} listening on {}", i + 1, addr(base + i));
        assert!(
            seen.iter().any(|l| l.starts_with(&expected)),
            "no `{expected}` in {seen:#?}"
        );
    }

    let first = client(base, &["put", "mykey", "myvalue"]);
    assert_ok(&first, "put without a client id");
    assert!(field(&first, "client_id").parse::<u64>().is_ok());
    assert_eq!(field(&first, "seq"), "1");

    let once = client(
        base,
        &["put", "mykey", "myvalue", "--client-id", "42", "--seq", "1"],
    );
    assert_ok(&once, "put (42, 1)");
    assert_eq!(field(&once, "client_id"), "42");
    assert_eq!(field(&once, "result"), "\"myvalue\"", "previous value");
    assert_eq!(field(&once, "cached duplicate"), "no");

    let again = client(
        base,
        &["put", "mykey", "myvalue", "--client-id", "42", "--seq", "1"],
    );
    assert_ok(&again, "put (42, 1) again");
    assert_eq!(field(&again, "result"), "\"myvalue\"", "the cached result");
    assert!(
        field(&again, "cached duplicate").starts_with("yes"),
        "the re-send must be reported as a cached duplicate"
    );

    let get = client(base, &["get", "mykey"]);
    assert_ok(&get, "get");
    assert_eq!(field(&get, "result"), "\"myvalue\"");

    // Ctrl-C stops every node, and the cluster says so.
    interrupt(&cluster.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = cluster.0.try_wait().expect("poll cluster") {
            break status;
        }
        assert!(Instant::now() < deadline, "cluster ignored Ctrl-C for 10 s");
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "cluster exit after Ctrl-C: {status}");
    stdout_reader.join().expect("stdout reader");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(
        rest.iter().any(|l| l == "stopped 3 nodes"),
        "no `stopped 3 nodes` in {rest:#?}"
    );
    let logs = logs.join().expect("log reader");
    let dedup = "[dedup] client 42 seq 1 is duplicate, returning cached result";
    assert!(
        logs.lines()
            .any(|l| l.starts_with("n") && l.contains(dedup)),
        "no `{dedup}` in the node logs:\n{logs}"
    );
    for i in 0..3u16 {
        assert!(
            TcpListener::bind(addr(base + i)).is_ok(),
            "port {} still taken after the cluster stopped",
            base + i
        );
    }
}

/// Ctrl-C, as a terminal sends it.
#[cfg(unix)]
fn interrupt(child: &Child) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let pid = i32::try_from(child.id()).expect("pid fits in i32");
    kill(Pid::from_raw(pid), Signal::SIGINT).expect("send SIGINT");
}

/// One `incr` per seq, re-sent (same client id and seq) until acknowledged; returns the
/// result and whether it was a cached duplicate.
fn incr_until_acknowledged(base: u16, seq: u64) -> (String, bool) {
    let seq = seq.to_string();
    let args = [
        "incr",
        "counter",
        "--client-id",
        "7",
        "--seq",
        &seq,
        "--timeout-ms",
        "300",
        "--attempts",
        "40",
    ];
    for _ in 0..5 {
        let out = client(base, &args);
        if out.status.success() {
            let cached = field(&out, "cached duplicate").starts_with("yes");
            return (field(&out, "result"), cached);
        }
    }
    panic!("client 7 seq {seq}: no acknowledgement in 5 invocations");
}

/// The counter reads `n`, the number of acknowledged increments of client 7, and re-sending
/// its seq `n` is answered from the session table with `n` (not applied again).
fn assert_counted_once(base: u16, n: u64, when: &str) {
    let get = client(
        base,
        &["get", "counter", "--timeout-ms", "300", "--attempts", "40"],
    );
    assert_ok(&get, &format!("get counter {when}"));
    assert_eq!(
        field(&get, "result"),
        format!("\"{n}\""),
        "{when}: the counter must equal the {n} acknowledged increments"
    );
    let (result, cached) = incr_until_acknowledged(base, n);
    assert!(cached, "{when}: re-sent seq {n} must be a cached duplicate");
    assert_eq!(result, format!("\"{n}\""), "{when}: re-sent seq {n}");
}

/// Raft §8 / dissertation §6.3 on real processes: the leader is SIGKILLed while a client
/// keeps sending `incr`, and restarted from its data directory. Every increment takes effect
/// exactly once: the k-th acknowledged increment reads k, the counter equals the number
/// acknowledged, a re-sent acknowledged request is answered from the session table, and the
/// restarted node catches up from its own log.
#[test]
fn killing_the_leader_loses_and_doubles_no_increment() {
    const INCREMENTS: u64 = 30;
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let ports = [base, base + 1, base + 2];
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), &[]))
        .collect();
    wait_for_leader(&ports);

    let (acks_tx, acks) = mpsc::channel();
    let writer = thread::spawn(move || {
        for seq in 1..=INCREMENTS {
            let ack = incr_until_acknowledged(base, seq);
            if acks_tx.send((seq, ack)).is_err() {
                return;
            }
        }
    });
    let mut results = Vec::new();
    let mut killed = None;
    while results.len() < INCREMENTS as usize {
        let ack = acks
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no acknowledgement for 60 s after {results:?}"));
        results.push(ack);
        if results.len() == 8 {
            // Mid-stream: the client is already sending the next increment. Kill whoever
            // leads now (leadership may have moved since start-up).
            let leader = leader_now(&ports);
            servers[usize::from(leader) - 1]
                .kill()
                .expect("kill server");
            killed = Some(leader);
        }
        if results.len() == 18 {
            let victim = killed.expect("killed at 8");
            servers[usize::from(victim) - 1].restart();
        }
    }
    writer.join().expect("client loop");
    let leader = killed.expect("a leader was killed");

    for (seq, (result, _)) in &results {
        assert_eq!(
            result,
            &format!("\"{seq}\""),
            "client 7 seq {seq}: the k-th increment must read k (exactly once)"
        );
    }

    // A client whose acknowledgement was lost re-sends it: answered from the session table.
    assert_counted_once(base, INCREMENTS, "after the leader's kill and restart");

    // The restarted node rejoined with its log and caught up.
    let restarted = &servers[usize::from(leader) - 1];
    let port = ports[usize::from(leader) - 1];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let lead = status(addr(base), Duration::from_millis(200))
            .ok()
            .and_then(|s| s.leader)
            .and_then(|l| status(addr(ports[l.index()]), Duration::from_millis(200)).ok());
        let mine = status(addr(port), Duration::from_millis(200)).ok();
        if let (Some(lead), Some(mine)) = (lead, mine)
            && mine.last_applied >= lead.commit_index
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted n{leader} did not catch up in 15 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let log = restarted.log_text();
    assert!(
        restored_entries(&log).is_some_and(|n| n > 0),
        "restarted n{leader} must reload its log from its data directory:\n{log}"
    );

    // Every node killed at once and restarted: nothing acknowledged is lost, and the session
    // table, rebuilt from the logs on disk, still knows seq {INCREMENTS}.
    for server in &mut servers {
        server.kill().expect("kill server");
    }
    for server in &mut servers {
        server.restart();
    }
    wait_for_leader(&ports);
    assert_counted_once(base, INCREMENTS, "after every node's kill and restart");

    let logs: String = servers.iter().map(Server::log_text).collect();
    let detected = logs
        .lines()
        .filter(|l| l.contains("[dedup] client 7 seq"))
        .count();
    assert!(
        detected >= 1,
        "the servers' logs show no duplicate detected:\n{logs}"
    );
    eprintln!("duplicates detected in the server logs: {detected}");
}

/// The check above can fire: with dedup off, a re-sent acknowledged increment is applied a
/// second time and the counter no longer equals the acknowledged increments.
#[test]
fn without_dedup_a_resent_increment_applies_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let _server = Server::start(1, base, 1, dir.path(), &["--dedup", "off"]);
    wait_for_leader(&[base]);
    let args = ["incr", "counter", "--client-id", "9", "--seq", "1"];
    let first = client(base, &args);
    assert_ok(&first, "first incr");
    assert_eq!(field(&first, "result"), "\"1\"");
    let resent = client(base, &args);
    assert_ok(&resent, "re-sent incr");
    assert_eq!(
        field(&resent, "result"),
        "\"2\"",
        "dedup off: applied twice"
    );
    assert_eq!(field(&resent, "cached duplicate"), "no");
}

/// Send raw bytes on a fresh connection; the answer is an error frame or a closed
/// connection, within 5 s.
fn send_raw(port: u16, bytes: &[u8]) -> Result<Frame, String> {
    let mut stream = TcpStream::connect(addr(port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    wire::read_frame(&mut stream).map_err(|e| e.to_string())
}

/// A frame with `body` as its JSON.
fn raw_frame(body: &str) -> Vec<u8> {
    let len = u32::try_from(body.len() + 1).expect("small body");
    [&len.to_be_bytes()[..], &[wire::VERSION], body.as_bytes()].concat()
}

/// Malformed, truncated, oversized, wrong-version and unexpected frames, and well-formed peer
/// messages no correct peer could send, get an error reply, a closed connection or are
/// dropped; the node keeps its term sane and goes on serving everyone else.
#[test]
fn bad_frames_do_not_crash_a_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let ports = [base, base + 1, base + 2];
    let servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), &[]))
        .collect();
    wait_for_leader(&ports);
    let leader = leader_now(&ports);
    let port = ports[usize::from(leader) - 1];
    let term = status(addr(port), Duration::from_secs(2))
        .expect("status")
        .term
        .0;
    let other = if leader == 1 { 2 } else { 1 };

    let unexpected = wire::encode(&Frame::Error {
        message: "hello".into(),
        retry: false,
    });
    let mut wrong_version = wire::encode(&Frame::Status);
    wrong_version[4] = 99;
    let request = |client: u64, seq: u64, lowest: u64, key: &str| {
        format!(
            r#"{{"frame":"request","request":{{"client":{client},"seq":{seq},"lowest_unacked":{lowest},"op":{{"op":"get","key":"{key}"}}}},"attempt":1}}"#
        )
    };
    let peer =
        |message: String| format!(r#"{{"frame":"peer","from":{other},"message":{message}}}"#);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        (
            "oversized",
            [u32::MAX.to_be_bytes().as_slice(), b"x"].concat(),
        ),
        ("zero length", vec![0, 0, 0, 0]),
        (
            "a client frame past 128 KiB",
            [&(200u32 << 10).to_be_bytes()[..], &[wire::VERSION]].concat(),
        ),
        ("truncated", unexpected[..unexpected.len() - 3].to_vec()),
        ("wrong version", wrong_version),
        ("not json", raw_frame("{x")),
        ("unexpected frame", unexpected.clone()),
        ("seq 0", raw_frame(&request(1, 0, 0, "k"))),
        ("lowest_unacked past seq", raw_frame(&request(1, 2, 3, "k"))),
        (
            "key too large",
            raw_frame(&request(1, 1, 1, &"k".repeat(wire::MAX_OP_BYTES + 1))),
        ),
        (
            "peer: term at u64::MAX",
            raw_frame(&peer(format!(
                r#"{{"type":"request_vote","term":{},"last_log_index":0,"last_log_term":0}}"#,
                u64::MAX
            ))),
        ),
        (
            "peer: a second leader in this term",
            raw_frame(&peer(format!(
                r#"{{"type":"append_entries","term":{term},"prev_log_index":0,"prev_log_term":0,"entries":[],"leader_commit":0}}"#
            ))),
        ),
        (
            "peer: acknowledges past the log end",
            raw_frame(&peer(format!(
                r#"{{"type":"append_reply","term":{term},"success":true,"match_index":999999,"hint":0}}"#
            ))),
        ),
        (
            "peer: from node 0",
            raw_frame(
                &peer(r#"{"type":"vote_reply","term":1,"granted":true}"#.into())
                    .replace(&format!("\"from\":{other}"), "\"from\":0"),
            ),
        ),
    ];
    for (i, (label, bytes)) in cases.iter().enumerate() {
        match send_raw(port, bytes) {
            Ok(Frame::Error { message, .. }) => assert!(!message.is_empty(), "case {i} ({label})"),
            Ok(other) => panic!("case {i} ({label}): answered {other:?}"),
            Err(_) => {} // closed, or a dropped peer message: both allowed
        }
        let alive = status(addr(port), Duration::from_secs(2));
        let alive =
            alive.unwrap_or_else(|e| panic!("case {i} ({label}): node stopped answering: {e}"));
        assert!(
            alive.term.0 < 1 << 62,
            "case {i} ({label}): term became {}",
            alive.term
        );
    }
    // A connection that stalls mid-frame does not hold anyone else up.
    let mut stalled = TcpStream::connect(addr(port)).expect("connect");
    stalled.write_all(&[0, 0, 1]).expect("partial length");

    let put = client(base, &["put", "k", "v"]);
    assert_ok(&put, "put after bad frames");
    let get = client(base, &["get", "k"]);
    assert_eq!(field(&get, "result"), "\"v\"");
    let log = servers[usize::from(leader) - 1].log_text();
    assert!(log.contains("closing it"), "bad frames are logged:\n{log}");
    assert!(
        log.contains("dropping a peer message"),
        "bad peer messages are logged:\n{log}"
    );
    drop(stalled);
}

/// With a cluster token, the nodes find each other (their hellos carry it), and a connection
/// without it cannot speak for a peer: a forged term bump is refused, not adopted.
#[test]
fn a_cluster_token_keeps_forged_peer_frames_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let ports = [base, base + 1, base + 2];
    let token = ["--cluster-token", "s3cret"];
    let _servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), &token))
        .collect();
    wait_for_leader(&ports);
    let leader = leader_now(&ports);
    let port = ports[usize::from(leader) - 1];
    let before = status(addr(port), Duration::from_secs(2))
        .expect("status")
        .term;
    let other = if leader == 1 { 2 } else { 1 };
    let bump = format!(
        r#"{{"frame":"peer","from":{other},"message":{{"type":"request_vote","term":{},"last_log_index":0,"last_log_term":0}}}}"#,
        before.0 + 1000
    );
    let hello = |t: &str| format!(r#"{{"frame":"hello","from":{other},"token":"{t}"}}"#);
    let cases: [(&str, Vec<u8>, &str); 2] = [
        ("no hello", raw_frame(&bump), "hello"),
        (
            "wrong token",
            [raw_frame(&hello("guess")), raw_frame(&bump)].concat(),
            "wrong cluster token",
        ),
    ];
    for (i, (label, bytes, expected)) in cases.iter().enumerate() {
        match send_raw(port, bytes) {
            Ok(Frame::Error { message, .. }) => {
                assert!(message.contains(expected), "case {i} ({label}): {message}");
            }
            other => panic!("case {i} ({label}): expected a refusal, got {other:?}"),
        }
    }
    let after = status(addr(port), Duration::from_secs(2)).expect("status");
    assert!(
        after.term.0 < before.0 + 1000,
        "a forged term was adopted: {} -> {}",
        before,
        after.term
    );
    let put = client(base, &["put", "k", "v"]);
    assert_ok(&put, "put in a token cluster");
}

/// A connection that floods requests and never reads its replies is cut off once its reply
/// queue fills, without stalling the node for anyone else.
#[test]
fn a_client_that_stops_reading_is_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let server = Server::start(1, base, 1, dir.path(), &[]);
    wait_for_leader(&[base]);
    let flood = thread::spawn(move || {
        let mut stream = TcpStream::connect(addr(base)).expect("connect");
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let status = wire::encode(&Frame::Status);
        // Bounded: the node must cut the connection long before this many.
        (0..2_000_000).position(|_| stream.write_all(&status).is_err())
    });
    let cut_after = flood.join().expect("flood thread");
    assert!(
        cut_after.is_some(),
        "the node never cut off a client that does not read"
    );
    let put = client(base, &["put", "k", "v"]);
    assert_ok(&put, "put after the flood");
    let log = server.log_text();
    assert!(log.contains("stopped reading its replies"), "{log}");
}

/// Past the connection limit a client gets a retryable refusal (and moves on), and slots come
/// back when connections close.
#[test]
fn connection_slots_are_limited_and_returned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let _server = Server::start(1, base, 1, dir.path(), &[]);
    wait_for_leader(&[base]);
    let idle: Vec<TcpStream> = (0..250)
        .map(|_| TcpStream::connect(addr(base)).expect("connect"))
        .collect();
    // Let the node account for all of them.
    thread::sleep(Duration::from_millis(300));
    match send_raw(base, &wire::encode(&Frame::Status)) {
        Ok(Frame::Error { retry, message }) => {
            assert!(retry, "overload must be retryable: {message}");
            assert!(message.contains("too many connections"), "{message}");
        }
        other => panic!("past the limit, a status query got {other:?}"),
    }
    let out = client(
        base,
        &["get", "k", "--timeout-ms", "200", "--attempts", "2"],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("too many connections"),
        "{}",
        stderr(&out)
    );
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(addr(base), Duration::from_millis(500)).is_err() {
        assert!(
            Instant::now() < deadline,
            "slots never came back after the idle connections closed"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A client pointed at a dead node finds the others on the ports around it, below as well
/// as above, without using up its attempts on refused connections.
#[test]
fn a_client_sent_to_a_dead_node_finds_the_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), &[]))
        .collect();
    wait_for_leader(&[base, base + 1, base + 2]);
    // n3 may be the leader: then the client also waits out an election, within its
    // default 20 sends. Before the fix, refused connections to the ports above n3 used
    // them all up in about a second.
    servers[2].kill().expect("kill server");
    let out = client(base + 2, &["put", "k", "v", "--timeout-ms", "300"]);
    assert_ok(&out, "put via the dead n3's port");
}

/// Re-sending a seq the server has already acknowledged and forgotten (the client has moved
/// on past it) gets a clear refusal at once, not a silent wait until the client times out.
#[test]
fn a_forgotten_seq_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let _server = Server::start(1, base, 1, dir.path(), &[]);
    wait_for_leader(&[base]);
    let send = |seq: &str| {
        let args = [
            "put",
            "k",
            seq,
            "--client-id",
            "11",
            "--seq",
            seq,
            "--attempts",
            "1",
        ];
        client(base, &args)
    };
    assert_ok(&send("1"), "seq 1");
    assert_ok(&send("2"), "seq 2");
    // One attempt: a node that stayed silent would end it with "no answer", not a refusal.
    let again = send("1");
    assert_eq!(again.status.code(), Some(69), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already acknowledged"),
        "{}",
        stderr(&again)
    );
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run idemsim")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Bad command lines and data directories get a clear message and the documented exit code.
#[test]
fn bad_network_arguments_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("d").display().to_string();
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &[
                "serve",
                "--id",
                "1",
                "--listen",
                "127.0.0.1:1",
                "--peers",
                "2=nowhere",
                "--data-dir",
                &data,
            ],
            2,
            "address `nowhere`",
        ),
        (
            &[
                "serve",
                "--id",
                "1",
                "--listen",
                "127.0.0.1:1",
                "--peers",
                "3=127.0.0.1:3",
                "--data-dir",
                &data,
            ],
            2,
            "number the nodes",
        ),
        (&["cluster", "--nodes", "10"], 2, "--nodes"),
        (&["client", "frobnicate", "k"], 2, "frobnicate"),
    ];
    for (i, (args, code, message)) in cases.iter().enumerate() {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "case {i} {args:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(message), "case {i}: {}", stderr(&out));
    }

    // Another node's state is refused, not loaded.
    let base = free_ports(1);
    let node_dir = dir.path().join("n1");
    fs::create_dir_all(&node_dir).expect("dir");
    fs::write(
        node_dir.join("state.json"),
        br#"{"format":1,"node":2,"cluster_size":1,"durable":{"current_term":0,"voted_for":null,"log":[]}}"#,
    )
    .expect("state file");
    let listen = addr(base).to_string();
    let dir_arg = node_dir.display().to_string();
    let out = run(&[
        "serve",
        "--id",
        "1",
        "--listen",
        &listen,
        "--data-dir",
        &dir_arg,
    ]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("belongs to node n2"),
        "{}",
        stderr(&out)
    );

    // No node at all: exit 69, with the command that re-sends the same request.
    let out = client(
        base,
        &[
            "incr",
            "k",
            "--client-id",
            "5",
            "--seq",
            "3",
            "--timeout-ms",
            "100",
            "--attempts",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "re-send the same request with: idemsim client --port {base} --client-id 5 --seq 3 \
             incr k 1"
        )),
        "{}",
        stderr(&out)
    );
    // Short: what happened and how to re-send, not a line per port tried.
    assert_eq!(stderr(&out).lines().count(), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("no node answered at 127.0.0.1:{base}")),
        "{}",
        stderr(&out)
    );
}

/// Drive `increments` increments (client 7, seqs 1..) against three nodes that each exit at
/// the after-commit crash point once `after_writes` writes have passed it; every node that
/// exits is restarted from its data directory without the fault. Returns each seq's
/// acknowledged result, how many nodes crashed, and the servers' logs.
fn increments_through_after_commit_crashes(
    dedup: &str,
    increments: u64,
    after_writes: u64,
) -> (Vec<(u64, String)>, usize, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let skip = after_writes.to_string();
    let fault = [
        "--dedup",
        dedup,
        "--crash-at",
        "after-commit",
        "--crash-after-writes",
        &skip,
    ];
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), &fault))
        .collect();
    wait_for_leader(&[base, base + 1, base + 2]);

    let (acks_tx, acks) = mpsc::channel();
    let writer = thread::spawn(move || {
        for seq in 1..=increments {
            let (result, _) = incr_until_acknowledged(base, seq);
            if acks_tx.send((seq, result)).is_err() {
                return;
            }
        }
    });
    let mut results = Vec::new();
    let mut crashes = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while results.len() < increments as usize {
        assert!(
            Instant::now() < deadline,
            "no progress in 90 s: {results:?}"
        );
        match acks.recv_timeout(Duration::from_millis(50)) {
            Ok(ack) => results.push(ack),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("client loop died: {results:?}"),
        }
        for server in &mut servers {
            let exited = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                assert_eq!(
                    status.code(),
                    Some(70),
                    "a node exited other than at its crash point"
                );
                crashes += 1;
                // Restart from the same data directory, without the fault.
                let at = server
                    .args
                    .iter()
                    .position(|a| a == "--crash-at")
                    .expect("fault");
                server.args.drain(at..at + 4);
                server.restart();
            }
        }
    }
    writer.join().expect("client loop");
    let logs = servers.iter().map(Server::log_text).collect();
    (results, crashes, logs)
}

/// The seed lesson on real processes: the leader commits a client's increment and dies
/// before answering; the client re-sends the same (client_id, seq) to the next leader, which
/// finds it in the replicated session table. Every increment reads exactly its seq, and the
/// logs show the duplicate caught.
#[test]
fn a_leader_dying_after_commit_leaves_a_duplicate_the_sessions_catch() {
    let (results, crashes, logs) = increments_through_after_commit_crashes("sessions", 12, 4);
    assert!(crashes >= 1, "no node reached its crash point");
    assert!(logs.contains("!! crash n"), "crash not logged:\n{logs}");
    for (seq, result) in &results {
        assert_eq!(
            result,
            &format!("\"{seq}\""),
            "client 7 seq {seq} applied other than once"
        );
    }
    assert!(
        logs.lines().any(|l| l.contains("[dedup] client 7 seq ")
            && l.contains("is duplicate, returning cached result")),
        "the retry after the crash was not caught as a duplicate:\n{logs}"
    );
}

/// The same run without deduplication applies the retried increment twice, and the
/// exactly-once check above sees it: some increment reads one more than its seq.
#[test]
fn a_leader_dying_after_commit_doubles_an_increment_without_dedup() {
    let (results, crashes, logs) = increments_through_after_commit_crashes("off", 12, 4);
    assert!(crashes >= 1, "no node reached its crash point:\n{logs}");
    let doubled: Vec<_> = results
        .iter()
        .filter(|(seq, result)| result != &format!("\"{seq}\""))
        .collect();
    assert!(
        !doubled.is_empty(),
        "dedup off and a retried committed write, yet no increment was applied twice: \
         {results:?}"
    );
}

/// The id a `client --register` printed, checked to be a number.
fn session_id(output: &Output) -> String {
    let id = field(output, "client_id");
    assert!(
        id.parse::<u64>().is_ok_and(|n| n > 0),
        "client_id `{id}` is not a session id"
    );
    assert!(
        field(output, "session").starts_with("new, registered by n"),
        "no new session reported"
    );
    id
}

/// A refusal as session-expired: exit 69 and one message saying what happened and what to do.
fn assert_session_expired(output: &Output, what: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(69), "{what}: {err}");
    for needed in [
        "session-expired",
        "is not live",
        "was not applied now",
        "outcome is unknown",
        "Re-run with --register",
    ] {
        assert!(err.contains(needed), "{what}: no `{needed}` in:\n{err}");
    }
    assert_eq!(err.lines().count(), 1, "{what}: one message:\n{err}");
}

/// With session limits a node serves registered sessions only: `client --register` opens one
/// and uses it; a client that never registered is refused as session-expired; and a session
/// idle past the timeout (once a later entry's log time passes it) is refused the same way,
/// with its late write not applied.
#[test]
fn a_registered_session_expires_and_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let server = Server::start(1, base, 1, dir.path(), &["--session-timeout-ms", "400"]);
    wait_for_leader(&[base]);

    let first = client(base, &["--register", "put", "k", "v"]);
    assert_ok(&first, "registered put");
    let id = session_id(&first);
    assert_eq!(field(&first, "seq"), "1");
    assert_eq!(field(&first, "result"), "null");

    let unregistered = client(base, &["put", "k", "x", "--attempts", "1"]);
    assert_session_expired(&unregistered, "a client that never registered");
    assert!(
        stderr(&unregistered).contains("never registered"),
        "{}",
        stderr(&unregistered)
    );

    // Idle past the timeout; then another session's entries move the log time past it.
    thread::sleep(Duration::from_millis(1000));
    let other = client(base, &["--register", "put", "other", "x"]);
    assert_ok(&other, "another session's put");
    assert_ne!(session_id(&other), id, "a new session gets a new id");

    let late = client(
        base,
        &[
            "--client-id",
            &id,
            "--seq",
            "2",
            "put",
            "k",
            "v2",
            "--attempts",
            "1",
        ],
    );
    assert_session_expired(&late, "the expired session");
    assert!(
        stderr(&late).contains(&format!("client {id} seq 2")),
        "{}",
        stderr(&late)
    );

    let get = client(base, &["--register", "get", "k"]);
    assert_ok(&get, "get in a new session");
    assert_eq!(
        field(&get, "result"),
        "\"v\"",
        "a refused write was applied"
    );
    let log = server.log_text();
    assert!(
        log.contains(&format!("client {id} expired")),
        "the expiry is not logged:\n{log}"
    );
}

/// A registered session serves its later requests, through any node, and its re-sends are
/// deduplicated; bad register frames get an error frame, not a crash.
#[test]
fn a_registered_session_serves_later_requests_on_any_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let ports = [base, base + 1, base + 2];
    let limits = ["--session-timeout-ms", "60000", "--max-sessions", "100"];
    let _servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), &limits))
        .collect();
    wait_for_leader(&ports);
    let leader = leader_now(&ports);
    // Register through a follower: the registration follows the redirect.
    let follower = ports[usize::from(leader % 3)];
    let first = client(follower, &["--register", "incr", "n"]);
    assert_ok(&first, "registered incr");
    let id = session_id(&first);
    assert_eq!(field(&first, "result"), "\"1\"");
    for port in ports {
        let again = client(port, &["--client-id", &id, "--seq", "2", "incr", "n"]);
        assert_ok(&again, "seq 2 of the session");
        assert_eq!(field(&again, "result"), "\"2\"", "applied once, via {port}");
    }
    let resent = client(base, &["--client-id", &id, "--seq", "2", "incr", "n"]);
    assert!(field(&resent, "cached duplicate").starts_with("yes"));

    let port = ports[usize::from(leader) - 1];
    let cases = [
        (r#"{"frame":"register","attempt":0}"#, "attempt 0"),
        (r#"{"frame":"register"}"#, "attempt"),
        (r#"{"frame":"register","attempt":-1}"#, "malformed"),
        (
            r#"{"frame":"register_reply","node":1,"attempt":1,"reply":{"status":"registered","client":1},"members":[]}"#,
            "does not accept register_reply",
        ),
    ];
    for (i, (body, expected)) in cases.iter().enumerate() {
        match send_raw(port, &raw_frame(body)) {
            Ok(Frame::Error { message, .. }) => {
                assert!(message.contains(expected), "case {i}: {message}");
            }
            other => panic!("case {i} ({body}): expected an error frame, got {other:?}"),
        }
    }
    let after = client(port, &["--client-id", &id, "--seq", "3", "get", "n"]);
    assert_eq!(field(&after, "result"), "\"2\"", "the node serves on");
}

/// A node without session limits refuses a registration clearly; nodes with different limits
/// refuse each other (and say why), so no leader is elected.
#[test]
fn session_limits_must_be_set_and_shared() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let plain = Server::start(1, base, 1, dir.path(), &[]);
    wait_for_leader(&[base]);
    let out = client(base, &["--register", "put", "k", "v", "--attempts", "2"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not register sessions")
            && stderr(&out).contains("without --register"),
        "{}",
        stderr(&out)
    );
    drop(plain);

    let pair = tempfile::tempdir().expect("temp dir");
    let base = free_ports(2);
    let servers = [
        Server::start(1, base, 2, pair.path(), &["--session-timeout-ms", "300"]),
        Server::start(2, base, 2, pair.path(), &[]),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let said = |s: &Server| s.log_text().contains("must be started with the same");
    while !servers.iter().all(said) {
        assert!(
            Instant::now() < deadline,
            "mismatched session limits went unnoticed:\n{}\n{}",
            servers[0].log_text(),
            servers[1].log_text()
        );
        thread::sleep(Duration::from_millis(50));
    }
    for port in [base, base + 1] {
        let s = status(addr(port), Duration::from_secs(2)).expect("status");
        assert_ne!(s.role, "leader", "a mismatched pair elected {}", s.node);
    }
}

/// Bad values of the session flags are usage errors (exit 2) naming the flag.
#[test]
fn bad_session_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("d").display().to_string();
    let serve = |flag: &'static str, value: &'static str| -> Vec<String> {
        [
            "serve",
            "--id",
            "1",
            "--listen",
            "127.0.0.1:1",
            "--data-dir",
            &data,
            // `--flag=VALUE`, so that clap reads `-5` as the value, not as a flag.
            &format!("{flag}={value}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let owned = |words: &[&str]| -> Vec<String> { words.iter().map(|s| s.to_string()).collect() };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (serve("--session-timeout-ms", "-5"), "--session-timeout-ms"),
        (
            serve("--session-timeout-ms", "soon"),
            "--session-timeout-ms",
        ),
        (
            serve("--session-timeout-ms", "99999999999999"),
            "--session-timeout-ms",
        ),
        (serve("--max-sessions", "-1"), "--max-sessions"),
        (serve("--max-sessions", "4294967296"), "--max-sessions"),
        (
            owned(&["cluster", "--session-timeout-ms", "1.5"]),
            "--session-timeout-ms",
        ),
        (
            owned(&["cluster", "--max-sessions", "many"]),
            "--max-sessions",
        ),
        (
            owned(&["client", "--register", "--client-id", "5", "put", "k", "v"]),
            "cannot be used with",
        ),
    ];
    for (i, (args, message)) in cases.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "case {i} {args:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(message), "case {i}: {}", stderr(&out));
    }
}

/// The files of a node's data directory whose names start with `prefix`.
fn data_files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|items| {
            items
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Wait (at most 15 s) until the node on `port` has applied everything the leader on
/// `ports` has committed.
fn wait_caught_up(ports: &[u16], port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let lead = ports
            .iter()
            .filter_map(|&p| status(addr(p), Duration::from_millis(200)).ok())
            .find(|s| s.role == "leader");
        let mine = status(addr(port), Duration::from_millis(200)).ok();
        if let (Some(lead), Some(mine)) = (lead, mine)
            && mine.last_applied >= lead.commit_index
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not catch up in 15 s");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Snapshots on real processes (`--snapshot-every 5`): the leader's data directory keeps a
/// snapshot and a few short segments instead of the whole log; a follower that was down
/// while the leader compacted catches up from the leader's snapshot (InstallSnapshot over
/// TCP); and every node killed and restarted from snapshot plus log still counts every
/// acknowledged increment exactly once.
#[test]
fn snapshots_bound_the_log_on_disk_and_catch_up_a_node_that_was_down() {
    const INCREMENTS: u64 = 30;
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let ports = [base, base + 1, base + 2];
    let extra = ["--snapshot-every", "5"];
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), &extra))
        .collect();
    let leader = wait_for_leader(&ports);
    let down: u8 = if leader == 3 { 2 } else { 3 };
    servers[usize::from(down) - 1].kill().expect("kill server");

    for seq in 1..=INCREMENTS {
        let (result, _) = incr_until_acknowledged(base, seq);
        assert_eq!(result, format!("\"{seq}\""), "seq {seq}");
    }
    let leader = leader_now(&ports);
    let leader_dir = dir.path().join(format!("n{leader}"));
    let snapshots = data_files(&leader_dir, "snapshot-");
    let segments = data_files(&leader_dir, "log-");
    assert_eq!(snapshots.len(), 1, "one snapshot file: {snapshots:?}");
    assert!(
        (1..=3).contains(&segments.len()) && !segments.contains(&"log-1.wal".to_owned()),
        "the segments a snapshot covers are removed: {segments:?}"
    );

    servers[usize::from(down) - 1].restart();
    wait_caught_up(&ports, ports[usize::from(down) - 1], &format!("n{down}"));
    let log = servers[usize::from(down) - 1].log_text();
    assert!(
        log.contains("[snapshot] installed"),
        "n{down} was behind the leader's snapshot and must have installed it:\n{log}"
    );
    assert_eq!(
        data_files(&dir.path().join(format!("n{down}")), "snapshot-").len(),
        1,
        "the installed snapshot is on n{down}'s disk"
    );

    for server in &mut servers {
        server.kill().expect("kill server");
    }
    for server in &mut servers {
        server.restart();
    }
    wait_for_leader(&ports);
    assert_counted_once(
        base,
        INCREMENTS,
        "after every node restarted from snapshots",
    );
    let logs: String = servers.iter().map(Server::log_text).collect();
    assert!(
        logs.contains("(snapshot up to index"),
        "a restart says it started from a snapshot:\n{logs}"
    );
}

/// The session rules a data directory was written under are kept there: restarting the
/// node with another `--max-sessions` (or none) is refused with exit 65, naming the
/// recorded and the requested value, before the log is replayed under the wrong rules; the
/// old flags still start it.
#[test]
fn a_restart_with_other_session_rules_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let mut server = Server::start(1, base, 1, dir.path(), &["--max-sessions", "4"]);
    wait_for_leader(&[base]);
    let out = client(base, &["--register", "put", "k", "v"]);
    assert_ok(&out, "put under a registered session");
    server.kill().expect("kill server");

    let listen = addr(base).to_string();
    let data = dir.path().join("n1").display().to_string();
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--id",
            "1",
            "--listen",
            &listen,
            "--data-dir",
            &data,
            // Should it start after all, it stops at once (stdin is closed) instead of
            // hanging the test.
            "--exit-with-stdin",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = serve(&["--max-sessions", "5"]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    for said in [
        "--max-sessions 4",
        "this start has --max-sessions 5",
        "Restart with the old flags",
        "fresh data directory",
    ] {
        assert!(stderr(&out).contains(said), "`{said}`: {}", stderr(&out));
    }
    let out = serve(&[]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this start has --max-sessions 0"),
        "{}",
        stderr(&out)
    );

    server.restart();
    wait_for_leader(&[base]);
    let out = client(base, &["--register", "get", "k"]);
    assert_ok(&out, "get after a restart with the old flags");
    assert_eq!(field(&out, "result"), "\"v\"");
}

/// What a crash leaves at the end of a real node's log (a record cut short) is cut off with
/// a warning and the node starts with everything before it; damage in the middle of the log
/// stops the node with exit 65, naming the file and byte offset, and leaves the file as it
/// was.
#[test]
fn a_torn_log_tail_is_cut_and_a_damaged_log_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(1);
    let mut server = Server::start(1, base, 1, dir.path(), &[]);
    wait_for_leader(&[base]);
    for seq in 1..=5 {
        incr_until_acknowledged(base, seq);
    }
    server.kill().expect("kill server");
    let node_dir = dir.path().join("n1");
    let segments = data_files(&node_dir, "log-");
    assert_eq!(segments.len(), 1, "{segments:?}");
    let segment = node_dir.join(&segments[0]);
    let sound = fs::read(&segment).expect("segment");

    // A record header saying 200 bytes, and only 10 of them: a write cut short.
    let mut torn = sound.clone();
    torn.extend_from_slice(&200u32.to_le_bytes());
    torn.extend_from_slice(&[0xab; 14]);
    fs::write(&segment, &torn).expect("tear");
    server.restart();
    wait_for_leader(&[base]);
    assert_counted_once(base, 5, "after a torn tail was cut");
    let log = server.log_text();
    assert!(
        log.contains("cut a torn record at byte offset"),
        "the cut is reported:\n{log}"
    );
    server.kill().expect("kill server");

    // One byte flipped early in the log, with sound records after it.
    let mut damaged = fs::read(&segment).expect("segment");
    damaged[20] ^= 0x01;
    fs::write(&segment, &damaged).expect("damage");
    let listen = addr(base).to_string();
    let data = node_dir.display().to_string();
    let out = run(&[
        "serve",
        "--id",
        "1",
        "--listen",
        &listen,
        "--data-dir",
        &data,
        "--exit-with-stdin",
    ]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&segments[0]) && stderr(&out).contains("byte offset 0:"),
        "names the file and offset: {}",
        stderr(&out)
    );
    assert_eq!(
        fs::read(&segment).expect("segment"),
        damaged,
        "the damaged file is left as it was"
    );
}

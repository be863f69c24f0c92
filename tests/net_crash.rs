//! Crash tests on real processes: a 3-node cluster of `idemsim serve` processes under a
//! steady load of concurrent writes, whose leader is SIGKILLed at random moments and
//! restarted from its data directory, then whose nodes are all SIGKILLed at once and
//! restarted. The load never pauses; its clients retry as the real client does (the same
//! `(client_id, seq)`, through `idemsim::net::client::call`, the driver behind
//! `idemsim client`).
//!
//! What is proved, per client, from what it saw and what the cluster holds at the end:
//!
//! - **counter**: the client's `incr` ops on its own key (by 1 each). With `acked` the
//!   increments acknowledged and `indefinite` those that ended without an answer (the
//!   client gave up: timeouts, unreachable nodes), the final value `v` satisfies
//!   `acked <= v <= acked + indefinite`: nothing acknowledged was lost, nothing applied
//!   twice. Each acknowledged result also lies between the acknowledged and the possible
//!   increments before it, plus one.
//! - **tokens**: the client's `append` ops of unique tokens (`c3s17;`) to its own key. Every
//!   acknowledged token appears exactly once, an indefinite one at most once, no token twice
//!   or out of order, nothing the client never sent, and every acknowledged result is a
//!   prefix of the final value ending with its token.
//!
//! The checker is a plain function over the recorded history, shown failing on broken
//! histories in the unit tests at the bottom, and on real cluster runs by two ignored tests
//! (`cargo test --test net_crash -- --ignored`): `dedup_off_is_caught` (`--dedup off`:
//! doubles) and `wiped_storage_is_caught` (data directories removed at a crash: losses).
//!
//! A SIGKILL leaves the page cache alone: these tests catch a write acknowledged before it
//! reached the kernel, and recovery that loses or replays entries, not a missing fsync.
//!
//! Nothing here reads the data directory's format: a node is only ever killed, restarted
//! with the same arguments, and asked over the wire. Every wait is bounded; the kill moments
//! come from a seeded RNG (`IDEMSIM_CRASH_SEED=N` replays the schedule; the operating
//! system's scheduling is not replayed). Server processes are SIGKILLed when the test ends,
//! however it ends, and exit by themselves if the test process dies (their stdin is ours).

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use idemsim::ids::{ClientId, Seq};

mod loopback;
use idemsim::kv::Op;
use idemsim::net::client::{CallError, CallOptions, call, status};
use loopback::{Server, addr};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Client threads writing at once.
const CLIENTS: usize = 4;

/// How long one client keeps re-sending one `(client_id, seq)` before it gives up and
/// records the operation as indefinite (then moves on to the next seq).
const OP_BUDGET: Duration = Duration::from_secs(20);

/// Longest pause a client takes between two operations (drawn from 0 up to this).
const THINK_MS: u64 = 8;

/// A base port with `n` consecutive free ports after it.
fn free_ports(n: u16) -> u16 {
    loopback::free_ports(n, 7907)
}

impl Server {
    /// Whether the process exited by itself (it should not), and how.
    fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// The last `n` lines of the node's log.
    fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The node that says it leads (the highest term among those that do), polled for at most
/// 20 s; `None` if none did.
fn find_leader(servers: &[Server]) -> Option<usize> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let leading = servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, status(addr(s.port), Duration::from_millis(300)).ok()?)))
            .filter(|(_, s)| s.role == "leader")
            .max_by_key(|(_, s)| s.term);
        if let Some((i, _)) = leading {
            return Some(i);
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Wait (at most 20 s) until the node answers a status query; panics with its log if it
/// exited or never answered.
fn wait_up(server: &mut Server, seed: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if status(addr(server.port), Duration::from_millis(300)).is_ok() {
            return;
        }
        if let Some(how) = server.exited() {
            panic!(
                "seed {seed}: n{} exited by itself ({how}) after a restart; its log ends:\n{}",
                server.id,
                server.log_tail(30)
            );
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: n{} did not answer within 20 s of its start; its log ends:\n{}",
            server.id,
            server.log_tail(30)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// The history a client records, and the checker.
// ---------------------------------------------------------------------------------------

/// What an operation was.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// `incr` of the client's counter by 1.
    Incr,
    /// `append` of this token (with its `;`) to the client's token key.
    Append(String),
}

/// How an operation ended for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// A node acknowledged it, with this result.
    Acked(Option<String>),
    /// The client gave up without an answer (why): it may or may not have taken effect.
    Indefinite(String),
}

#[derive(Clone, Debug)]
struct OpRecord {
    seq: u64,
    kind: Kind,
    outcome: Outcome,
    /// Sent more than once (a timeout, an unreachable node, a redirect).
    resent: bool,
    /// Answered from the session table: a retry of a write that had already taken effect.
    cached: bool,
}

/// Everything one client did, in order.
#[derive(Clone, Debug, Default)]
struct History {
    client: usize,
    ops: Vec<OpRecord>,
}

fn counter_key(client: usize) -> String {
    format!("count-c{client}")
}

fn token_key(client: usize) -> String {
    format!("tokens-c{client}")
}

fn token(client: usize, seq: u64) -> String {
    format!("c{client}s{seq};")
}

impl History {
    fn count(&self, incr: bool, acked: bool) -> usize {
        self.ops
            .iter()
            .filter(|o| (o.kind == Kind::Incr) == incr)
            .filter(|o| matches!(o.outcome, Outcome::Acked(_)) == acked)
            .count()
    }

    fn summary(&self) -> String {
        format!(
            "c{}: {} ops; incr {} acked + {} indefinite; append {} acked + {} indefinite; \
             {} re-sent, {} answered from the session table",
            self.client,
            self.ops.len(),
            self.count(true, true),
            self.count(true, false),
            self.count(false, true),
            self.count(false, false),
            self.ops.iter().filter(|o| o.resent).count(),
            self.ops.iter().filter(|o| o.cached).count(),
        )
    }
}

/// Violations found, the first few of each kind named and the rest counted: once a write is
/// lost or doubled, every later result of that client is off too.
struct Findings {
    client: usize,
    named: Vec<String>,
    totals: std::collections::BTreeMap<&'static str, usize>,
}

impl Findings {
    /// Violations of one kind named per client; the rest are counted.
    const NAMED: usize = 3;

    fn add(&mut self, kind: &'static str, message: String) {
        let total = self.totals.entry(kind).or_insert(0);
        *total += 1;
        if *total <= Self::NAMED {
            self.named.push(message);
        }
    }

    fn finish(mut self) -> Vec<String> {
        for (kind, total) in &self.totals {
            if *total > Self::NAMED {
                let more = total - Self::NAMED;
                self.named
                    .push(format!("c{}: and {more} more: {kind}", self.client));
            }
        }
        self.named
    }
}

/// Every way `history` and the values the cluster holds at the end (`counter` and `tokens`,
/// `None` for an absent key) contradict exactly-once; empty when they agree.
fn check(history: &History, counter: Option<&str>, tokens: Option<&str>) -> Vec<String> {
    let c = history.client;
    let mut bad = Findings {
        client: c,
        named: Vec::new(),
        totals: std::collections::BTreeMap::new(),
    };

    // The counter: acked <= value <= acked + indefinite.
    let acked = history.count(true, true) as u64;
    let indefinite = history.count(true, false) as u64;
    match counter.map_or(Ok(0), str::parse::<u64>) {
        Err(_) => bad.add(
            "counter",
            format!("c{c}: counter reads {counter:?}, not a number"),
        ),
        Ok(value) if value < acked => bad.add(
            "counter",
            format!(
                "c{c}: LOST: counter reads {value} but {acked} increments were acknowledged \
             ({indefinite} indefinite)"
            ),
        ),
        Ok(value) if value > acked + indefinite => bad.add(
            "counter",
            format!(
                "c{c}: APPLIED TWICE: counter reads {value} but only {acked} increments were \
             acknowledged and {indefinite} indefinite"
            ),
        ),
        Ok(_) => {}
    }
    // Each acknowledged result: one more than the increments applied before it, which lie
    // between those acknowledged and those possibly applied.
    let (mut acked_before, mut indefinite_before) = (0u64, 0u64);
    for op in history.ops.iter().filter(|o| o.kind == Kind::Incr) {
        match &op.outcome {
            Outcome::Acked(result) => {
                let low = acked_before + 1;
                let high = acked_before + indefinite_before + 1;
                let ok = result
                    .as_deref()
                    .and_then(|r| r.parse::<u64>().ok())
                    .is_some_and(|r| (low..=high).contains(&r));
                if !ok {
                    bad.add("incr results out of their bounds", format!(
                        "c{c} seq {}: incr acknowledged with {result:?}, expected {low}..={high} \
                         after {acked_before} acknowledged and {indefinite_before} indefinite \
                         increments",
                        op.seq
                    ),
                    );
                }
                acked_before += 1;
            }
            Outcome::Indefinite(_) => indefinite_before += 1,
        }
    }

    // The tokens: acked exactly once, indefinite at most once, in order, nothing foreign.
    let text = tokens.unwrap_or("");
    let found: Vec<&str> = text.split_terminator(';').collect();
    let mut position = std::collections::HashMap::new();
    for (i, t) in found.iter().enumerate() {
        position
            .entry(format!("{t};"))
            .or_insert_with(Vec::new)
            .push(i);
    }
    let mut last_position = None;
    let mut issued = std::collections::HashSet::new();
    for op in &history.ops {
        let Kind::Append(tok) = &op.kind else {
            continue;
        };
        issued.insert(tok.clone());
        let at = position.get(tok).map_or(&[][..], Vec::as_slice);
        match (&op.outcome, at.len()) {
            (Outcome::Acked(_), 0) => bad.add(
                "LOST tokens",
                format!(
                    "c{c} seq {}: LOST: token {tok} was acknowledged but is not in {}",
                    op.seq,
                    token_key(c)
                ),
            ),
            (_, n) if n > 1 => bad.add(
                "tokens APPLIED TWICE",
                format!(
                    "c{c} seq {}: APPLIED TWICE: token {tok} appears {n} times in {}",
                    op.seq,
                    token_key(c)
                ),
            ),
            _ => {}
        }
        if let Some(&p) = at.first() {
            if last_position.is_some_and(|last| p < last) {
                bad.add(
                    "tokens out of order",
                    format!(
                        "c{c} seq {}: token {tok} appears before an earlier seq's token",
                        op.seq
                    ),
                );
            }
            last_position = Some(p);
        }
        if let Outcome::Acked(result) = &op.outcome {
            let prefix = result
                .as_deref()
                .is_some_and(|r| r.ends_with(tok.as_str()) && text.starts_with(r));
            if !prefix {
                bad.add(
                    "append results not a prefix of the final value",
                    format!(
                        "c{c} seq {}: append acknowledged with {result:?}, which does not end \
                         with its token {tok} or is not a prefix of the final value",
                        op.seq
                    ),
                );
            }
        }
    }
    for t in found {
        let t = format!("{t};");
        if !issued.contains(&t) {
            bad.add(
                "tokens never sent",
                format!("c{c}: token {t} in {} was never sent", token_key(c)),
            );
        }
    }
    bad.finish()
}

// ---------------------------------------------------------------------------------------
// The load.
// ---------------------------------------------------------------------------------------

/// What the client threads share with the test.
struct Load {
    ports: [u16; 3],
    stop: AtomicBool,
    /// Operations acknowledged so far, across clients (progress for the kill schedule).
    acked: AtomicU64,
    /// Answers no correct cluster gives here (refusals), for the report.
    unexpected: Mutex<Vec<String>>,
}

/// Perform one operation as the real client does: the same `(client_id, seq)` re-sent until
/// a node answers, across calls (each call discovers the members again, starting at another
/// node), for at most [`OP_BUDGET`].
fn perform(load: &Load, client: usize, seq: u64, op: &Op) -> (Outcome, bool, bool) {
    let deadline = Instant::now() + OP_BUDGET;
    let mut last = String::from("nothing sent");
    for round in 0usize.. {
        let options = CallOptions {
            first: addr(load.ports[(client + round) % 3]),
            client: Some(ClientId(100 + client as u64)),
            seq: Seq(seq),
            op: op.clone(),
            timeout_ms: 500,
            attempts: 10,
        };
        match call(&options, &mut |_| {}) {
            Ok(answer) => {
                let resent = round > 0 || answer.attempts > 1;
                return (Outcome::Acked(answer.result), resent, answer.cached);
            }
            Err(e @ (CallError::NoCluster { .. } | CallError::NoAnswer { .. })) => {
                last = e.to_string();
            }
            Err(e) => {
                // Refused or session-expired: not expected without sessions limits. The
                // outcome is unknown to the client, so it counts as indefinite.
                let what = format!("c{client} seq {seq}: {e}");
                load.unexpected.lock().expect("lock").push(what);
                return (Outcome::Indefinite(e.to_string()), true, false);
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    (Outcome::Indefinite(last), true, false)
}

/// One client: `incr` and `append` ops alternately, one at a time, until told to stop.
fn run_client(load: Arc<Load>, client: usize, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (client as u64).wrapping_mul(0x9e37_79b9));
    let mut history = History {
        client,
        ops: Vec::new(),
    };
    let mut seq = 0;
    while !load.stop.load(Ordering::SeqCst) {
        seq += 1;
        let kind = if seq % 2 == 1 {
            Kind::Incr
        } else {
            Kind::Append(token(client, seq))
        };
        let op = match &kind {
            Kind::Incr => Op::Incr {
                key: counter_key(client).into(),
                amount: 1,
            },
            Kind::Append(tok) => Op::Append {
                key: token_key(client).into(),
                value: tok.as_str().into(),
            },
        };
        let (outcome, resent, cached) = perform(&load, client, seq, &op);
        if matches!(outcome, Outcome::Acked(_)) {
            load.acked.fetch_add(1, Ordering::SeqCst);
        }
        history.ops.push(OpRecord {
            seq,
            kind,
            outcome,
            resent,
            cached,
        });
        thread::sleep(Duration::from_millis(rng.random_range(0..=THINK_MS)));
    }
    history
}

/// Read `key` through the cluster (a `get` goes through the log), retried for at most 30 s.
fn read(ports: &[u16; 3], key: &str, seed: u64) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for round in 0usize.. {
        let options = CallOptions {
            first: addr(ports[round % 3]),
            client: Some(ClientId(idemsim::net::random_u64() | 1 << 63)),
            seq: Seq(1),
            op: Op::Get { key: key.into() },
            timeout_ms: 500,
            attempts: 10,
        };
        let last = match call(&options, &mut |_| {}) {
            Ok(answer) => return answer.result,
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "seed {seed}: no node answered a read of {key} within 30 s: {last}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    unreachable!("the loop returns or panics")
}

/// Sleep a random time in `range_ms`.
fn pause(rng: &mut ChaCha8Rng, range_ms: std::ops::RangeInclusive<u64>) {
    thread::sleep(Duration::from_millis(rng.random_range(range_ms)));
}

/// What one crash run saw.
struct RunReport {
    seed: u64,
    histories: Vec<History>,
    violations: Vec<String>,
    unexpected: Vec<String>,
    schedule: Vec<String>,
    logs: String,
}

impl RunReport {
    fn describe(&self) -> String {
        let histories: Vec<String> = self.histories.iter().map(History::summary).collect();
        format!(
            "seed {} (replay the kill schedule with IDEMSIM_CRASH_SEED={})\nschedule:\n  {}\n\
             clients:\n  {}\nunexpected answers: {:?}\nviolations:\n  {}",
            self.seed,
            self.seed,
            self.schedule.join("\n  "),
            histories.join("\n  "),
            self.unexpected,
            self.violations.join("\n  "),
        )
    }
}

/// The seed of this run: `IDEMSIM_CRASH_SEED` if set, else a fresh one.
fn seed() -> u64 {
    std::env::var("IDEMSIM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(idemsim::net::random_u64)
}

/// What a crash run does.
struct Scenario<'a> {
    /// Extra `serve` arguments for every node.
    extra: &'a [&'a str],
    /// Phase 1: times the leader is SIGKILLed and restarted.
    leader_kills: usize,
    /// Phase 2: times every node is SIGKILLed at once and all restarted.
    all_kills: usize,
    /// Deliberately broken: remove every data directory while all nodes are down, as a
    /// storage that loses what it acknowledged would. Only to show the checks fire.
    wipe: bool,
}

/// The scenario of the crash test: six leader kills, then three of the whole cluster.
const KILLS: Scenario<'static> = Scenario {
    extra: &[],
    leader_kills: 6,
    all_kills: 3,
    wipe: false,
};

/// Start a cluster, load it with [`CLIENTS`] clients, SIGKILL and restart its leader, then
/// every node at once, as `scenario` says, stop the load, read the final values and check
/// every client's history against them.
fn crash_run(seed: u64, scenario: &Scenario<'_>) -> RunReport {
    eprintln!("net_crash: seed {seed} (IDEMSIM_CRASH_SEED={seed} replays the kill schedule)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let base = free_ports(3);
    let ports = [base, base + 1, base + 2];
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| Server::start(id, base, 3, dir.path(), scenario.extra))
        .collect();
    let started = Instant::now();
    let mut schedule = Vec::new();
    let note = |schedule: &mut Vec<String>, load: &Load, what: String| {
        let line = format!(
            "t={:.2}s acked={} {what}",
            started.elapsed().as_secs_f64(),
            load.acked.load(Ordering::SeqCst)
        );
        eprintln!("net_crash: {line}");
        schedule.push(line);
    };
    let no_leader = |servers: &[Server]| -> String {
        let logs: Vec<String> = servers
            .iter()
            .map(|s| format!("n{} log ends:\n{}", s.id, s.log_tail(20)))
            .collect();
        format!("seed {seed}: no leader within 20 s\n{}", logs.join("\n"))
    };
    find_leader(&servers).unwrap_or_else(|| panic!("{}", no_leader(&servers)));

    let load = Arc::new(Load {
        ports,
        stop: AtomicBool::new(false),
        acked: AtomicU64::new(0),
        unexpected: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let load = Arc::clone(&load);
            thread::spawn(move || run_client(load, c, seed))
        })
        .collect();

    // Phase 1: the leader, SIGKILLed at a random moment, restarted after a random pause.
    for _ in 0..scenario.leader_kills {
        pause(&mut rng, 200..=1200);
        let leader = find_leader(&servers).unwrap_or_else(|| panic!("{}", no_leader(&servers)));
        let _ = servers[leader].kill(); // it may have exited by itself: restarted all the same
        note(
            &mut schedule,
            &load,
            format!("SIGKILL leader n{}", leader + 1),
        );
        pause(&mut rng, 50..=800);
        servers[leader].restart();
        note(&mut schedule, &load, format!("restart n{}", leader + 1));
        wait_up(&mut servers[leader], seed);
    }
    // Phase 2: every node SIGKILLed at once, all restarted after a random pause.
    for _ in 0..scenario.all_kills {
        pause(&mut rng, 300..=1200);
        for server in &mut servers {
            let _ = server.kill();
        }
        note(&mut schedule, &load, "SIGKILL n1 n2 n3".to_owned());
        if scenario.wipe {
            for id in 1..=3 {
                fs::remove_dir_all(dir.path().join(format!("n{id}"))).expect("wipe");
            }
            note(
                &mut schedule,
                &load,
                "(broken on purpose) data dirs wiped".to_owned(),
            );
        }
        pause(&mut rng, 100..=1000);
        let mut order: Vec<usize> = (0..servers.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        for &i in &order {
            servers[i].restart();
            pause(&mut rng, 0..=150);
        }
        let names: Vec<String> = order.iter().map(|i| format!("n{}", i + 1)).collect();
        note(&mut schedule, &load, format!("restart {}", names.join(" ")));
        for server in &mut servers {
            wait_up(server, seed);
        }
    }
    // Some load after the last restart, then stop: each client finishes its operation.
    find_leader(&servers).unwrap_or_else(|| panic!("{}", no_leader(&servers)));
    pause(&mut rng, 500..=1000);
    load.stop.store(true, Ordering::SeqCst);
    note(&mut schedule, &load, "stop the load".to_owned());
    let histories: Vec<History> = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .collect();

    let mut violations = Vec::new();
    for history in &histories {
        let c = history.client;
        if history.count(true, true) + history.count(false, true) == 0 {
            violations.push(format!("c{c}: no operation acknowledged at all"));
        }
        let counter = read(&ports, &counter_key(c), seed);
        let tokens = read(&ports, &token_key(c), seed);
        violations.extend(check(history, counter.as_deref(), tokens.as_deref()));
    }
    note(&mut schedule, &load, "final values read".to_owned());
    let logs = servers
        .iter()
        .map(|s| format!("n{} log ends:\n{}", s.id, s.log_tail(15)))
        .collect::<Vec<_>>()
        .join("\n");
    let unexpected = load.unexpected.lock().expect("lock").clone();
    drop(servers); // SIGKILL every node before the temp dir goes
    RunReport {
        seed,
        histories,
        violations,
        unexpected,
        schedule,
        logs,
    }
}

/// Raft §8 on real processes, under concurrent load: the leader SIGKILLed at random
/// moments and restarted, then the whole cluster SIGKILLed and restarted, and no
/// acknowledged write is lost and none is applied twice.
#[test]
fn kills_under_load_lose_and_double_nothing() {
    let report = crash_run(seed(), &KILLS);
    assert!(
        report.violations.is_empty(),
        "{}\n{}",
        report.describe(),
        report.logs
    );
    eprintln!("{}", report.describe());
}

/// The checks above can fire on a real cluster: with `--dedup off` a retry of a write that
/// already took effect applies again, which shows as a counter past its bound or a token
/// twice. Timing decides whether a retry meets an applied write, so this runs up to three
/// times. Ignored by default (it fails by design when it finds nothing):
/// `cargo test --test net_crash -- --ignored`.
#[test]
#[ignore = "demonstration that the checks fire; run with --ignored"]
fn dedup_off_is_caught() {
    let base_seed = seed();
    for attempt in 0..3u64 {
        let scenario = Scenario {
            extra: &["--dedup", "off"],
            ..KILLS
        };
        let report = crash_run(base_seed.wrapping_add(attempt), &scenario);
        eprintln!("{}", report.describe());
        if report
            .violations
            .iter()
            .any(|v| v.contains("APPLIED TWICE") || v.contains("acknowledged with"))
        {
            return;
        }
    }
    panic!("dedup off: three crash runs showed no double application");
}

/// The lost-write side on a real cluster: a storage that forgets everything at a crash
/// (here every data directory is removed while the nodes are down) loses acknowledged
/// increments and tokens, and the checks say so. Ignored by default, like the test above.
#[test]
#[ignore = "demonstration that the checks fire; run with --ignored"]
fn wiped_storage_is_caught() {
    let scenario = Scenario {
        leader_kills: 1,
        all_kills: 1,
        wipe: true,
        ..KILLS
    };
    let report = crash_run(seed(), &scenario);
    eprintln!("{}", report.describe());
    assert!(
        report.violations.iter().any(|v| v.contains("LOST")),
        "wiped storage: no lost write reported\n{}",
        report.describe()
    );
}

// ---------------------------------------------------------------------------------------
// The checker on histories built by hand: it passes what is right and names what is wrong.
// ---------------------------------------------------------------------------------------

fn acked(seq: u64, kind: Kind, result: &str) -> OpRecord {
    OpRecord {
        seq,
        kind,
        outcome: Outcome::Acked(Some(result.to_owned())),
        resent: false,
        cached: false,
    }
}

fn indefinite(seq: u64, kind: Kind) -> OpRecord {
    OpRecord {
        seq,
        kind,
        outcome: Outcome::Indefinite("gave up".to_owned()),
        resent: true,
        cached: false,
    }
}

fn app(seq: u64) -> Kind {
    Kind::Append(token(0, seq))
}

/// c0: incr (acked, 1), append s2 (acked), incr (indefinite), append s4 (indefinite), incr
/// (acked, 2 or 3).
fn sample(last_incr: &str) -> History {
    History {
        client: 0,
        ops: vec![
            acked(1, Kind::Incr, "1"),
            acked(2, app(2), "c0s2;"),
            indefinite(3, Kind::Incr),
            indefinite(4, app(4)),
            acked(5, Kind::Incr, last_incr),
        ],
    }
}

#[test]
fn checker_accepts_every_exactly_once_outcome() {
    let cases = [
        // (last incr result, counter, tokens): the indefinite ops applied or not.
        ("2", "2", "c0s2;"),
        ("3", "3", "c0s2;"),
        ("2", "2", "c0s2;c0s4;"),
        ("3", "3", "c0s2;c0s4;"),
    ];
    for (i, (last, counter, tokens)) in cases.iter().enumerate() {
        let bad = check(&sample(last), Some(counter), Some(tokens));
        assert!(bad.is_empty(), "case {i}: {bad:#?}");
    }
    let empty = History::default();
    assert!(check(&empty, None, None).is_empty(), "no ops, no keys");
}

#[test]
fn checker_catches_lost_and_doubled_writes() {
    let cases: [(&str, Option<&str>, Option<&str>, &str); 9] = [
        // An acknowledged increment missing from the counter.
        ("2", Some("1"), Some("c0s2;"), "LOST: counter reads 1"),
        // Applied twice: past acked + indefinite.
        (
            "3",
            Some("4"),
            Some("c0s2;"),
            "APPLIED TWICE: counter reads 4",
        ),
        // The counter key gone altogether.
        ("2", None, Some("c0s2;"), "LOST: counter reads 0"),
        // An acknowledged result that two applications before it would give.
        (
            "4",
            Some("3"),
            Some("c0s2;"),
            "incr acknowledged with Some(\"4\")",
        ),
        // An acknowledged token missing.
        ("2", Some("2"), Some(""), "LOST: token c0s2;"),
        // An acknowledged token twice.
        (
            "2",
            Some("2"),
            Some("c0s2;c0s2;"),
            "APPLIED TWICE: token c0s2;",
        ),
        // An indefinite token twice.
        (
            "2",
            Some("2"),
            Some("c0s2;c0s4;c0s4;"),
            "APPLIED TWICE: token c0s4;",
        ),
        // Out of order, and a token never sent.
        (
            "2",
            Some("2"),
            Some("c0s4;c0s2;"),
            "appears before an earlier seq",
        ),
        (
            "2",
            Some("2"),
            Some("c0s2;c0s9;"),
            "token c0s9; in tokens-c0 was never sent",
        ),
    ];
    for (i, (last, counter, tokens, expected)) in cases.iter().enumerate() {
        let bad = check(&sample(last), *counter, *tokens);
        assert!(
            bad.iter().any(|b| b.contains(expected)),
            "case {i}: expected `{expected}` among {bad:#?}"
        );
    }
}

//! How close the simulator runs to its limits, measured in one run beside a bare event loop
//! (release mode): `cargo bench --bench limits`.
//!
//! - **Idle five-node cluster** (heartbeats only, 600 simulated seconds): messages per wall
//!   second, beside the *bare loop*: a `BinaryHeap` of timed deliveries carrying the same
//!   traffic (a leader's heartbeat to each of four followers every `heartbeat_ms`, each
//!   answered, every delay drawn from the same ChaCha8 stream type over the same range) and
//!   doing no protocol work. The bare loop is the ceiling: it is what scheduling the
//!   messages costs and nothing else. A second loop carries the simulator's own messages
//!   (`Envelope`s with `AppendEntries` and `AppendReply`, built and dropped as a node would)
//!   through the simulator's own `EventQueue`: the floor of this design, what is left when
//!   the protocol, the network model's faults and the checkers are taken away.
//! - **Default scenario**: simulated over wall time (mean over seeds `0..SEEDS`).
//!
//! Rounds alternate the measurements, so a noisy neighbour slows both alike; each figure is
//! the median over rounds. Goals (issue 14): the idle cluster at ≥ 60% of the bare loop's
//! messages per second, the default scenario at ≥ 10,000× simulated over wall time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

use idemsim::ids::{LogIndex, NodeId, SimTime, Term};
use idemsim::message::{Addr, Envelope, Message};
use idemsim::scenario::{Scenario, default_scenario};
use idemsim::sim::{EventQueue, RunOptions, run};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROUNDS: usize = 15;
/// Default-scenario seeds per round.
const SEEDS: u64 = 64;
const IDLE_SIM_US: u64 = 600_000_000;

fn idle_cluster() -> Scenario {
    let mut s = default_scenario();
    s.name = "idle-five-nodes".to_owned();
    s.cluster.nodes = 5;
    s.clients.count = 0;
    s.faults.clear();
    s.duration_ms = IDLE_SIM_US / 1000;
    s
}

/// One idle run: (messages delivered or lost, seconds of wall time).
fn measure_idle(scenario: &Scenario, seed: u64) -> (u64, f64) {
    let started = Instant::now();
    let report = black_box(run(scenario, RunOptions::new(seed)));
    let wall = started.elapsed().as_secs_f64();
    assert!(report.passed(), "idle cluster seed {seed} failed");
    assert_eq!(report.end.as_us(), IDLE_SIM_US, "the idle run lasts 600 s");
    (report.stats.network.sent, wall)
}

/// The idle cluster's traffic, as both loops carry it: a leader's heartbeat to each of the
/// other nodes every `heartbeat_us`, each answered, every hop delayed by a draw from
/// `delay_min_us..=delay_max_us`.
struct Traffic {
    nodes: u8,
    heartbeat_us: u64,
    delay_min_us: u64,
    delay_max_us: u64,
}

impl Traffic {
    fn of(scenario: &Scenario) -> Traffic {
        Traffic {
            nodes: scenario.cluster.nodes,
            heartbeat_us: scenario.cluster.heartbeat_ms * 1000,
            delay_min_us: scenario.network.delay_ms.0 * 1000,
            delay_max_us: scenario.network.delay_ms.1 * 1000,
        }
    }
}

/// What the bare loop queues: a heartbeat's delivery to a follower, an answer's delivery
/// to the leader, or the leader's next heartbeat round.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bare {
    Heartbeat { to: u8 },
    Answer { from: u8 },
    Round,
}

/// The bare loop over the idle cluster's traffic: (messages sent, seconds of wall time).
fn measure_bare(scenario: &Scenario, seed: u64) -> (u64, f64) {
    let Traffic {
        nodes,
        heartbeat_us,
        delay_min_us,
        delay_max_us,
    } = Traffic::of(scenario);
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut heap: BinaryHeap<Reverse<(u64, u64, Bare)>> = BinaryHeap::with_capacity(1024);
    let mut counter = 0u64;
    let mut sent = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, at: u64, what: Bare| {
        counter += 1;
        heap.push(Reverse((at, counter, what)));
    };
    push(&mut heap, 0, Bare::Round);
    while let Some(Reverse((now, _, what))) = heap.pop() {
        if now >= IDLE_SIM_US {
            break;
        }
        match what {
            Bare::Round => {
                for to in 1..nodes {
                    sent += 1;
                    let delay = rng.random_range(delay_min_us..=delay_max_us);
                    push(&mut heap, now + delay, Bare::Heartbeat { to });
                }
                push(&mut heap, now + heartbeat_us, Bare::Round);
            }
            Bare::Heartbeat { to } => {
                sent += 1;
                let delay = rng.random_range(delay_min_us..=delay_max_us);
                push(&mut heap, now + delay, Bare::Answer { from: to });
            }
            Bare::Answer { from } => {
                black_box(from);
            }
        }
    }
    (black_box(sent), started.elapsed().as_secs_f64())
}

/// What the enveloped loop queues: a message in flight, or the leader's next round.
enum Queued {
    Message(Envelope),
    Round,
}

/// The same traffic as [`measure_bare`], carried as the simulator's messages through its
/// event queue: (messages sent, seconds of wall time).
fn measure_enveloped(scenario: &Scenario, seed: u64) -> (u64, f64) {
    let Traffic {
        nodes,
        heartbeat_us,
        delay_min_us,
        delay_max_us,
    } = Traffic::of(scenario);
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut queue: EventQueue<Queued> = EventQueue::new();
    let mut sent = 0u64;
    let leader = Addr::Node(NodeId::from_index(0));
    queue.push(SimTime(0), Queued::Round);
    while let Some((now, what)) = queue.pop() {
        if now.0 >= IDLE_SIM_US {
            break;
        }
        match what {
            Queued::Round => {
                for to in 1..usize::from(nodes) {
                    sent += 1;
                    let delay = rng.random_range(delay_min_us..=delay_max_us);
                    let heartbeat = Envelope {
                        from: leader,
                        to: Addr::Node(NodeId::from_index(to)),
                        msg: Message::AppendEntries {
                            term: Term(1),
                            prev_log_index: LogIndex(1),
                            prev_log_term: Term(1),
                            entries: Vec::new(),
                            leader_commit: LogIndex(1),
                        },
                    };
                    queue.push(SimTime(now.0 + delay), Queued::Message(heartbeat));
                }
                queue.push(SimTime(now.0 + heartbeat_us), Queued::Round);
            }
            Queued::Message(envelope) => {
                if let Message::AppendEntries { term, .. } = envelope.msg {
                    sent += 1;
                    let delay = rng.random_range(delay_min_us..=delay_max_us);
                    let reply = Envelope {
                        from: envelope.to,
                        to: envelope.from,
                        msg: Message::AppendReply {
                            term,
                            success: true,
                            match_index: LogIndex(1),
                            hint: LogIndex(0),
                        },
                    };
                    queue.push(SimTime(now.0 + delay), Queued::Message(reply));
                } else {
                    black_box(envelope);
                }
            }
        }
    }
    (black_box(sent), started.elapsed().as_secs_f64())
}

/// One round of the default scenario over `SEEDS` seeds: (simulated s, wall s).
fn measure_default(scenario: &Scenario) -> (f64, f64) {
    let started = Instant::now();
    let mut sim_us = 0u64;
    for seed in 0..SEEDS {
        let report = black_box(run(scenario, RunOptions::new(seed)));
        assert!(report.passed(), "default scenario seed {seed} failed");
        sim_us += report.end.as_us();
    }
    (sim_us as f64 / 1e6, started.elapsed().as_secs_f64())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // `cargo test --benches` runs every bench binary with `--test`: one quick round then.
    let quick = std::env::args().any(|a| a == "--test");
    let rounds = if quick { 1 } else { ROUNDS };
    let idle = idle_cluster();
    let default = default_scenario();
    let (mut sim_rates, mut bare_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut enveloped_rates = Vec::new();
    let (mut sim_msgs, mut bare_msgs) = (0, 0);
    for round in 0..rounds {
        let seed = round as u64;
        let (sent, wall) = measure_idle(&idle, seed);
        sim_msgs = sent;
        sim_rates.push(sent as f64 / wall);
        let (sent, wall) = measure_bare(&idle, seed);
        bare_msgs = sent;
        bare_rates.push(sent as f64 / wall);
        let (sent, wall) = measure_enveloped(&idle, seed);
        assert_eq!(sent, bare_msgs, "both loops carry the same traffic");
        enveloped_rates.push(sent as f64 / wall);
        let (sim_s, wall) = measure_default(&default);
        ratios.push(sim_s / wall);
    }
    let (sim_rate, bare_rate) = (median(sim_rates), median(bare_rates));
    let enveloped_rate = median(enveloped_rates);
    println!(
        "idle five-node cluster, 600 simulated s ({sim_msgs} messages; the bare loop {bare_msgs}), median of {rounds} rounds:"
    );
    println!("  simulator  {:>12.0} messages/s", sim_rate);
    println!("  bare loop  {:>12.0} messages/s", bare_rate);
    println!(
        "  the simulator's messages through its queue, no protocol  {:>12.0} messages/s",
        enveloped_rate
    );
    println!(
        "  simulator at {:.1}% of the bare loop (goal: at least 60%)",
        100.0 * sim_rate / bare_rate
    );
    println!(
        "  simulator at {:.1}% of its own queue and messages without the protocol",
        100.0 * sim_rate / enveloped_rate
    );
    println!(
        "default scenario, seeds 0..{SEEDS}, median of {rounds} rounds: {:.0}x simulated over wall time (goal: at least 10,000x)",
        median(ratios)
    );
}

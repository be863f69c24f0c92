//! Property tests over whole generated scenarios: the correct dedup strategies never break a
//! rule, whatever the cluster, workload, network and fault schedule, with simulated clients
//! and with clients that retry as `idemsim client` does on a real network; and the same
//! input always gives the same trace. Faults are an explicit list, so when a property fails
//! proptest shrinks by removing faults, not by mutating an opaque seed.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256, which keeps `cargo test` fast);
//! a nightly job can run `PROPTEST_CASES=20000 cargo test --release --test properties`.
//! A failing input is saved in `tests/properties.proptest-regressions` and replayed first
//! from then on; commit that file with the fix.

use idemsim::client::Mix;
use idemsim::ids::{ClientNo, NodeId};
use idemsim::kv::Dedup;
use idemsim::raft::Reads;
use idemsim::scenario::{
    self, ClientSelector, ClientsSpec, ClusterSpec, CrashWhen, FaultKind, FaultSpec, NetworkSpec,
    NodeSelector, Scenario, ServerSpec, Split,
};
use idemsim::sim::{RunOptions, run};
use proptest::prelude::*;

/// Cluster timing: election timeouts, a heartbeat well inside them, delays well inside both.
fn cluster_and_network() -> impl Strategy<Value = (ClusterSpec, NetworkSpec)> {
    (1u8..=7, 100u64..=300, 50u64..=300).prop_flat_map(|(nodes, min, spread)| {
        let cluster = ClusterSpec {
            nodes,
            election_timeout_ms: (min, min + spread),
            heartbeat_ms: 0,
            snapshot_every: 0,
        };
        (
            Just(cluster),
            10..=min / 3,
            0u64..=2,
            2..=min / 4,
            prop_oneof![Just(0.0), 0.0..0.15f64],
            prop_oneof![Just(0.0), 0.0..0.25f64],
            prop_oneof![2 => Just(0u64), 1 => 2u64..=30],
        )
            .prop_map(
                |(mut cluster, heartbeat_ms, dmin, dmax, drop, duplicate, every)| {
                    cluster.heartbeat_ms = heartbeat_ms;
                    cluster.snapshot_every = every;
                    let network = NetworkSpec {
                        delay_ms: (dmin, dmax),
                        drop,
                        duplicate,
                    };
                    (cluster, network)
                },
            )
    })
}

fn clients(delay_max: u64) -> impl Strategy<Value = ClientsSpec> {
    (
        1u32..=4,
        1u64..=40,
        1u32..=4,
        (4 * delay_max + 10)..=400,
        0u64..=20,
        prop::array::uniform5(0u32..=3),
        1u32..=4,
        any::<bool>(),
    )
        .prop_filter("some op has weight", |t| t.5.iter().any(|&w| w > 0))
        .prop_map(
            |(count, ops, keys, timeout_ms, think, weights, window, register)| ClientsSpec {
                count,
                ops,
                keys,
                timeout_ms,
                think_ms: (0, think),
                mix: Mix { weights },
                on_restart: Default::default(),
                window,
                register,
            },
        )
}

/// A node selector that fits crash moment `when` (`None`: any fault that picks a node).
fn node_selector(nodes: u8, when: Option<CrashWhen>) -> BoxedStrategy<NodeSelector> {
    let number = (1..=nodes).prop_map(|n| NodeSelector::Node(NodeId(n)));
    if when.is_some_and(CrashWhen::is_leader_moment) {
        prop_oneof![3 => Just(NodeSelector::Leader), 1 => number].boxed()
    } else if when.is_some_and(CrashWhen::is_follower_moment) {
        prop_oneof![3 => Just(NodeSelector::Follower), 1 => number].boxed()
    } else if when == Some(CrashWhen::MidSnapshot) {
        prop_oneof![
            Just(NodeSelector::Leader),
            Just(NodeSelector::Follower),
            number
        ]
        .boxed()
    } else {
        prop_oneof![
            Just(NodeSelector::Leader),
            Just(NodeSelector::Follower),
            Just(NodeSelector::MostUncommitted),
            number,
        ]
        .boxed()
    }
}

fn fault(nodes: u8, clients: u32, duration_ms: u64) -> BoxedStrategy<FaultSpec> {
    let at = 0..duration_ms;
    let restart = prop::option::of(0u64..=1500);
    let crash = (
        prop::sample::select([&CrashWhen::ALL[..], &CrashWhen::SNAPSHOT[..]].concat()),
        restart.clone(),
    )
        .prop_flat_map(move |(when, restart_after_ms)| {
            node_selector(nodes, Some(when)).prop_map(move |node| FaultKind::Crash {
                node,
                when,
                restart_after_ms,
            })
        });
    let network = (
        1u64..=1500,
        prop::option::of(0.0..0.5f64),
        prop::option::of(0.0..0.5f64),
    )
        .prop_map(|(for_ms, drop, duplicate)| FaultKind::Network {
            for_ms,
            drop: drop.or(Some(0.1)),
            duplicate,
            delay_ms: None,
        });
    let replay = (1u32..=5).prop_map(|count| FaultKind::Replay { count });
    let client_crash =
        ((1..=clients), prop::bool::ANY, restart).prop_map(|(c, any, restart_after_ms)| {
            FaultKind::ClientCrash {
                client: if any {
                    ClientSelector::Any
                } else {
                    ClientSelector::Client(ClientNo(c))
                },
                restart_after_ms,
            }
        });
    let stale_replay = ((1u32..=4), (1..=clients), prop::bool::ANY).prop_map(|(count, c, any)| {
        FaultKind::StaleReplay {
            count,
            client: if any {
                ClientSelector::Any
            } else {
                ClientSelector::Client(ClientNo(c))
            },
        }
    });
    let clock = (
        node_selector(nodes, None),
        -3000i64..=3000,
        prop_oneof![Just(0i64), -200_000i64..=200_000],
        1u64..=1500,
    )
        .prop_map(|(node, offset_ms, drift_ppm, for_ms)| FaultKind::Clock {
            node,
            // A clock fault must change something.
            offset_ms: if offset_ms == 0 && drift_ppm == 0 {
                1
            } else {
                offset_ms
            },
            drift_ppm,
            for_ms,
        });
    let mut kinds = vec![
        crash.boxed(),
        clock.boxed(),
        network.boxed(),
        replay.boxed(),
        client_crash.boxed(),
        stale_replay.boxed(),
    ];
    if nodes >= 2 {
        let split =
            prop::collection::vec(prop::bool::ANY, usize::from(nodes)).prop_map(move |sides| {
                let mut groups = vec![Vec::new(), Vec::new()];
                for (i, side) in sides.into_iter().enumerate() {
                    groups[usize::from(side)].push(NodeId::from_index(i));
                }
                if groups[0].is_empty() || groups[1].is_empty() {
                    let moved = groups
                        .iter_mut()
                        .find(|g| g.len() > 1)
                        .unwrap()
                        .pop()
                        .unwrap();
                    groups
                        .iter_mut()
                        .find(|g| g.is_empty())
                        .unwrap()
                        .push(moved);
                }
                Split::Groups(groups)
            });
        let isolate = node_selector(nodes, None).prop_map(Split::Isolate);
        let partition = (
            prop_oneof![split, isolate],
            prop::bool::ANY,
            prop::option::of(50u64..=1500),
        )
            .prop_map(|(split, one_way, heal_after_ms)| FaultKind::Partition {
                split,
                one_way,
                heal_after_ms,
            });
        kinds.push(partition.boxed());
    }
    (at, prop::strategy::Union::new(kinds))
        .prop_map(|(at_ms, kind)| FaultSpec { at_ms, kind })
        .boxed()
}

/// A whole scenario and a seed.
fn scenario_and_seed() -> impl Strategy<Value = (Scenario, u64)> {
    (cluster_and_network(), 500u64..=3000).prop_flat_map(|((cluster, network), duration_ms)| {
        clients(network.delay_ms.1).prop_flat_map(move |clients| {
            let faults =
                prop::collection::vec(fault(cluster.nodes, clients.count, duration_ms), 0..6);
            // Expiry and eviction need registration.
            let server = if clients.register {
                (
                    prop_oneof![Just(0u64), 100u64..=2000],
                    prop_oneof![Just(0u32), 1..=clients.count + 1],
                )
                    .prop_map(|(session_timeout_ms, max_sessions)| ServerSpec {
                        session_timeout_ms,
                        max_sessions,
                        ..ServerSpec::default()
                    })
                    .boxed()
            } else {
                Just(ServerSpec::default()).boxed()
            };
            // Every correct read path.
            let reads = prop_oneof![Just(Reads::Log), Just(Reads::ReadIndex), Just(Reads::Lease)];
            (faults, server, any::<u64>(), reads).prop_map(move |(faults, server, seed, reads)| {
                let mut server = server;
                // A lease assumes clocks that never stop; one set back past zero stops there.
                let stops_a_clock = faults.iter().any(|f| {
                    matches!(f.kind, FaultKind::Clock { offset_ms, .. } if offset_ms < -(f.at_ms as i64))
                });
                server.reads = if reads == Reads::Lease && stops_a_clock {
                    Reads::ReadIndex
                } else {
                    reads
                };
                // A crash that waits for a snapshot moment needs compaction.
                let mut cluster = cluster;
                let waits_for_snapshot = faults.iter().any(
                    |f| matches!(f.kind, FaultKind::Crash { when, .. } if when.needs_snapshots()),
                );
                if waits_for_snapshot && cluster.snapshot_every == 0 {
                    cluster.snapshot_every = 10;
                }
                let s = Scenario {
                    name: "generated".to_owned(),
                    description: None,
                    seed,
                    duration_ms,
                    liveness_ms: 30_000,
                    cluster,
                    network,
                    dedup: Dedup::Sessions,
                    server,
                    clients,
                    faults,
                    swarm: None,
                    budget: Default::default(),
                    mutations: Default::default(),
                    wire_clients: false,
                };
                (s, seed)
            })
        })
    })
}

proptest! {
    /// Correct strategies never break a rule, and the generated scenario is a valid file.
    #[test]
    fn correct_strategies_never_break_a_rule((s, seed) in scenario_and_seed()) {
        let text = scenario::to_toml(&s, &[]);
        prop_assert!(scenario::parse("generated.toml", &text).is_ok(), "not a valid file:\n{text}");
        for (dedup, wire_clients) in [
            (Dedup::Sessions, false),
            (Dedup::LastSeq, false),
            (Dedup::Sessions, true),
        ] {
            let mut s = s.clone();
            s.dedup = dedup;
            s.wire_clients = wire_clients;
            if !dedup.is_correct_for(s.clients.window) {
                s.clients.window = 1; // last-seq's contract: one request in flight
            }
            let report = run(&s, RunOptions::new(seed));
            prop_assert!(
                report.passed(),
                "{}{} broke {:?} with seed {seed}; save this as a file and replay it with \
                 `idemsim run FILE --seed {seed} --trace dedup`:\n{}",
                dedup.name(),
                if wire_clients { " (clients as on the real network)" } else { "" },
                report.violations.kept(),
                scenario::to_toml(&s, &[])
            );
        }
    }

    /// The same scenario and seed twice give the same trace digest.
    #[test]
    fn the_same_input_gives_the_same_trace((s, seed) in scenario_and_seed()) {
        let a = run(&s, RunOptions::new(seed).digested());
        let b = run(&s, RunOptions::new(seed).digested());
        prop_assert!(a.trace_digest.is_some());
        prop_assert_eq!(a.trace_digest, b.trace_digest);
        prop_assert_eq!(a.events, b.events);
    }
}

//! Scenario defaults and validation, on hand-written files.

use super::*;
use crate::ids::NodeId;

/// A file with only `name` gets every documented default (docs/DESIGN.md §4).
#[test]
fn every_section_but_name_has_a_default() {
    let s = parse("min.toml", "name = \"min\"\n").expect("a name is enough");
    assert_eq!(s.name, "min");
    assert_eq!(s.seed, 0);
    assert_eq!((s.duration_ms, s.liveness_ms), (5_000, 10_000));
    assert_eq!(
        s.cluster,
        ClusterSpec {
            nodes: 3,
            election_timeout_ms: (150, 300),
            heartbeat_ms: 50,
            snapshot_every: 0
        }
    );
    assert_eq!(s.network.delay_ms, (1, 10));
    assert_eq!((s.network.drop, s.network.duplicate), (0.0, 0.0));
    assert_eq!(s.dedup, Dedup::Sessions);
    assert_eq!((s.clients.count, s.clients.ops, s.clients.keys), (3, 50, 4));
    assert_eq!((s.clients.timeout_ms, s.clients.think_ms), (200, (0, 10)));
    assert_eq!(s.clients.mix.weights, [3, 3, 3, 1, 1]);
    assert!(s.faults.is_empty());
}

/// A written `mix` lists only what it wants: weights left out are 0, not the default.
#[test]
fn a_written_mix_replaces_the_default() {
    let s = parse("m.toml", "name = \"m\"\n[clients]\nmix = { incr = 2 }\n").unwrap();
    assert_eq!(s.clients.mix.weights, [0, 0, 2, 0, 0]);
}

/// Every fault kind and trigger parses into what it says.
#[test]
fn faults_parse_into_their_kinds() {
    let text = r#"
name = "f"
[cluster]
nodes = 5
[[faults]]
kind = "crash"
at_ms = 10
node = "leader"
when = "after-commit"
restart_after_ms = 5
[[faults]]
kind = "crash"
at_ms = 20
node = 4
[[faults]]
kind = "partition"
at_ms = 30
groups = [[1, 2], [3, 4, 5]]
[[faults]]
kind = "partition"
at_ms = 40
isolate = "follower"
heal_after_ms = 7
[[faults]]
kind = "network"
at_ms = 50
for_ms = 60
duplicate = 0.5
"#;
    let s = parse("f.toml", text).unwrap();
    let kinds: Vec<&FaultKind> = s.faults.iter().map(|f| &f.kind).collect();
    assert_eq!(
        kinds,
        [
            &FaultKind::Crash {
                node: NodeSelector::Leader,
                when: CrashWhen::AfterCommit,
                restart_after_ms: Some(5)
            },
            &FaultKind::Crash {
                node: NodeSelector::Node(NodeId(4)),
                when: CrashWhen::Now,
                restart_after_ms: None
            },
            &FaultKind::Partition {
                split: Split::Groups(vec![
                    vec![NodeId(1), NodeId(2)],
                    vec![NodeId(3), NodeId(4), NodeId(5)]
                ]),
                one_way: false,
                heal_after_ms: None
            },
            &FaultKind::Partition {
                split: Split::Isolate(NodeSelector::Follower),
                one_way: false,
                heal_after_ms: Some(7)
            },
            &FaultKind::Network {
                for_ms: 60,
                drop: None,
                duplicate: Some(0.5),
                delay_ms: None
            },
        ]
    );
}

/// The built-in default is the shipped leader-crash-mid-replication file.
#[test]
fn the_default_scenario_is_the_shipped_file() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sim-scenarios/leader-crash-mid-replication.toml"
    ))
    .unwrap();
    assert_eq!(shipped, DEFAULT_TEXT);
    assert_eq!(default_scenario().name, "leader-crash-mid-replication");
}

/// A file that cannot be read is "not found" (exit 66), not "invalid" (exit 65).
#[test]
fn unreadable_files_are_not_found() {
    let err = load(std::path::Path::new("/definitely/not/here.toml")).unwrap_err();
    assert!(matches!(err, ScenarioError::NotFound { .. }), "{err}");
    assert_eq!(err.exit_code(), 66);
    let err = parse("x.toml", "name = 3").unwrap_err();
    assert_eq!(err.exit_code(), 65);
}

/// Writing a scenario and parsing it back gives the same scenario: every shipped file, and
/// scenarios full of swarm-drawn faults of every kind.
#[test]
fn written_scenarios_parse_back_to_themselves() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios");
    let mut scenarios: Vec<Scenario> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| load(&e.unwrap().path()).unwrap())
        .collect();
    let mut swarmed = default_scenario();
    swarmed.swarm = Some(SwarmSpec::default());
    for seed in 0..40 {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        scenarios.push(swarmed.for_seed(&mut rng).0);
    }
    swarmed.description = Some("quotes \" and \\ and ünïcode".to_owned());
    scenarios.push(swarmed);
    for (i, s) in scenarios.iter().enumerate() {
        let text = to_toml(s, &["written by a test".to_owned()]);
        let back = parse("written.toml", &text).unwrap_or_else(|e| panic!("case {i}: {e}\n{text}"));
        assert_eq!(&back, s, "case {i}:\n{text}");
    }
}

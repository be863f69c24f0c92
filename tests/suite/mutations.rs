//! Mutation tests of the checkers: each deliberate Raft bug must make its checker fire in a
//! real simulated run, within a bounded number of seeds. A checker that never fires on a
//! real bug proves nothing when it stays quiet.

use std::path::Path;

use idemsim::raft::Mutations;
use idemsim::scenario;
use idemsim::sim::{RunOptions, RunReport, run};
use idemsim::verdict::Rule;

/// Seeds tried before a mutation counts as missed.
const WITHIN: u64 = 50;

fn scenario_file(name: &str) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sim-scenarios")
        .join(name);
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The first seed whose run breaks `rule` under `mutations`.
fn first_seed_breaking(file: &str, mutations: Mutations, rule: Rule) -> Option<(u64, RunReport)> {
    let mut s = scenario_file(file);
    s.mutations = mutations;
    (0..WITHIN)
        .map(|seed| (seed, run(&s, RunOptions::new(seed))))
        .find(|(_, r)| r.violations.count(rule) > 0)
}

fn caught(file: &str, mutations: Mutations, rule: Rule, expect_in_message: &str) {
    let (seed, report) = first_seed_breaking(file, mutations, rule)
        .unwrap_or_else(|| panic!("{mutations:?} on {file}: {rule} never fired in {WITHIN} seeds"));
    let message = report
        .violations
        .kept()
        .iter()
        .find(|v| v.rule == rule)
        .map(|v| v.message.clone())
        .expect("a kept violation of the rule");
    assert!(
        message.contains(expect_in_message),
        "{file} seed {seed}: {rule} fired but says: {message}"
    );
    assert_ne!(report.exit_code(), 0, "{file} seed {seed}");
}

/// Votes without the §5.4.1 log check let a stale node lead: Raft safety sees a leader that
/// lacks committed entries, and the followers' own assertion (never truncate a committed
/// entry) fires as an invariant violation.
#[test]
fn raft_safety_catches_votes_that_ignore_the_log() {
    let m = Mutations {
        vote_ignores_log: true,
        ..Mutations::default()
    };
    caught(
        "partitioned-leader.toml",
        m,
        Rule::RaftSafety,
        "leader completeness",
    );
    caught(
        "partitioned-leader.toml",
        m,
        Rule::Invariant,
        "conflict at committed index",
    );
}

/// Appends without the §5.3 consistency check leave divergent logs: Raft safety sees two
/// replicas apply different entries at one index.
#[test]
fn raft_safety_catches_appends_without_the_consistency_check() {
    let m = Mutations {
        skip_consistency_check: true,
        ..Mutations::default()
    };
    caught(
        "partitioned-leader.toml",
        m,
        Rule::RaftSafety,
        "state machine safety",
    );
}

/// Replicas that applied different entries end up with different states: the convergence
/// checker sees it in the state digests.
#[test]
fn convergence_catches_replicas_that_applied_different_logs() {
    let m = Mutations {
        vote_ignores_log: true,
        ..Mutations::default()
    };
    caught(
        "partitioned-leader.toml",
        m,
        Rule::Convergence,
        "diverge after applying index",
    );
}

/// A leader that drops every retry strands any client whose first attempt went nowhere:
/// liveness reports the operation, and the run exits 3 (liveness only).
#[test]
fn liveness_catches_a_leader_that_drops_retries() {
    let m = Mutations {
        leader_drops_retries: true,
        ..Mutations::default()
    };
    caught(
        "leader-crash-mid-replication.toml",
        m,
        Rule::Liveness,
        "still has no answer",
    );
    let (_, report) =
        first_seed_breaking("leader-crash-mid-replication.toml", m, Rule::Liveness).unwrap();
    assert_eq!(report.exit_code(), 3, "{:?}", report.violations.kept());
}

/// Without mutations the same scenarios are clean on the same seeds (the bug, not the
/// scenario, makes the checkers fire).
#[test]
fn the_unmutated_runs_are_clean() {
    for file in [
        "partitioned-leader.toml",
        "leader-crash-mid-replication.toml",
    ] {
        let s = scenario_file(file);
        for seed in 0..WITHIN {
            let r = run(&s, RunOptions::new(seed));
            assert!(r.passed(), "{file} seed {seed}: {:?}", r.violations.kept());
        }
    }
}

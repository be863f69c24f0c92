//! Mutation tests of the checkers: each deliberate bug must make the rule that names the
//! broken property fire in a real simulated run of a shipped scenario, within 20 seeds. A
//! checker that never fires on a real bug proves nothing when it stays quiet.

use std::path::Path;

use idemsim::mutation::{Mutation, Mutations};
use idemsim::scenario;
use idemsim::sim::{RunOptions, RunReport, run};
use idemsim::verdict::Rule;

/// Seeds tried before a mutation counts as missed.
const WITHIN: u64 = 20;

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
    let m = Mutations::of(Mutation::VoteIgnoresLog);
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
    let m = Mutations::of(Mutation::SkipConsistencyCheck);
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
    let m = Mutations::of(Mutation::VoteIgnoresLog);
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
    let m = Mutations::of(Mutation::LeaderDropsRetries);
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

/// A vote kept only in memory: the node that crashed right after voting (after-vote) votes
/// again in the same term, and two leaders win it.
#[test]
fn raft_safety_catches_a_vote_not_kept_across_a_crash() {
    caught(
        "vote-crashes.toml",
        Mutations::of(Mutation::VoteNotKept),
        Rule::RaftSafety,
        "election safety",
    );
}

/// A follower committing to its own log end applies the stale suffix it still holds.
#[test]
fn raft_safety_catches_a_commit_past_what_the_append_verified() {
    caught(
        "stale-suffix.toml",
        Mutations::of(Mutation::CommitPastVerified),
        Rule::RaftSafety,
        "state machine safety",
    );
}

/// A leader that counts a follower as holding its whole log commits entries a majority does
/// not hold; the next leader lacks them.
#[test]
fn raft_safety_catches_a_match_index_set_to_the_log_end() {
    caught(
        "stale-replays.toml",
        Mutations::of(Mutation::MatchIndexToLogEnd),
        Rule::RaftSafety,
        "leader completeness",
    );
}

/// Entries acknowledged before they were durable, lost in a crash right after the
/// acknowledgement (after-ack): a committed, answered write is missing from the next leader.
#[test]
fn raft_safety_catches_an_acknowledgement_before_persisting() {
    caught(
        "ack-crashes.toml",
        Mutations::of(Mutation::AckBeforePersist),
        Rule::RaftSafety,
        "leader completeness",
    );
}

/// A stale duplicate that moves its client's watermark back: the next stale request above it
/// (stale-replay) applies a second time.
#[test]
fn exactly_once_catches_a_duplicate_that_moves_the_watermark() {
    caught(
        "watermark-replays.toml",
        Mutations::of(Mutation::DuplicateMovesWatermark),
        Rule::ExactlyOnce,
        "took effect twice",
    );
}

/// A follower that never truncates a conflicting suffix applies entries no one committed.
#[test]
fn raft_safety_catches_a_follower_that_keeps_a_conflicting_suffix() {
    caught(
        "stale-suffix.toml",
        Mutations::of(Mutation::KeepConflictingSuffix),
        Rule::RaftSafety,
        "state machine safety",
    );
}

/// A client that rebuilds its request on retry under the same seq: the operation that took
/// effect is not the one submitted, and exactly-once names both.
#[test]
fn exactly_once_catches_a_request_rebuilt_under_the_same_seq() {
    caught(
        "leader-crash-mid-replication.toml",
        Mutations::of(Mutation::RebuildOnRetry),
        Rule::ExactlyOnce,
        "but the operation submitted under that seq was",
    );
}

/// The runaway the log and message budgets exist for: a follower whose log only grows,
/// resent to on every failure, on a duplicating network. The run stops at a bound with a
/// `budget` violation naming it, instead of growing until the machine gives out.
#[test]
fn a_run_that_runs_away_stops_at_its_budget() {
    let mut s = scenario_file("stale-suffix.toml");
    s.mutations = Mutations::of(Mutation::KeepConflictingSuffix);
    s.network.duplicate = 0.2;
    let (seed, report) = (0..WITHIN)
        .map(|seed| (seed, run(&s, RunOptions::new(seed))))
        .find(|(_, r)| r.violations.count(Rule::Budget) > 0)
        .unwrap_or_else(|| panic!("no run of {WITHIN} passed its budget"));
    let budget = s.budget();
    assert!(
        report.events <= budget.events + 1,
        "seed {seed}: stopped at once"
    );
    let message = report
        .violations
        .kept()
        .iter()
        .find(|v| v.rule == Rule::Budget)
        .map(|v| v.message.clone())
        .expect("a kept budget violation");
    assert!(
        message.contains("messages in flight passed 10,000") || message.contains("entries at t="),
        "seed {seed}: {message}"
    );
    assert_eq!(report.exit_code(), 1, "seed {seed}");
}

/// A bound set in the scenario file wins over the derived one, and the run stops there.
#[test]
fn a_budget_set_in_the_scenario_stops_the_run_there() {
    let mut s = scenario_file("leader-crash-mid-replication.toml");
    s.budget.events = Some(1_000);
    let report = run(&s, RunOptions::new(0));
    assert_eq!(report.violations.count(Rule::Budget), 1);
    assert!(
        report.violations.kept()[0]
            .message
            .starts_with("events passed 1,000 at t="),
        "{:?}",
        report.violations.kept()
    );
    assert!(report.events <= 1_001, "{} events", report.events);
    assert_eq!(
        report.violations.count(Rule::Liveness),
        0,
        "cut short, not judged"
    );
}

/// A table that never forgets an acknowledged result outgrows the client's window: the
/// table-size rule names the client and how many results it holds.
#[test]
fn table_size_catches_results_that_are_never_forgotten() {
    let m = Mutations::of(Mutation::KeepAcknowledged);
    caught(
        "pipelined-clients.toml",
        m,
        Rule::TableSize,
        "past its window of 4",
    );
}

/// Eviction that runs one session late leaves more live sessions than `max_sessions`.
#[test]
fn table_size_catches_eviction_past_the_bound() {
    let m = Mutations::of(Mutation::EvictLate);
    caught(
        "many-clients-eviction.toml",
        m,
        Rule::TableSize,
        "past max_sessions = 4",
    );
}

/// Without mutations the same scenarios are clean on the same seeds (the bug, not the
/// scenario, makes the checkers fire).
#[test]
fn the_unmutated_runs_are_clean() {
    for file in [
        "partitioned-leader.toml",
        "leader-crash-mid-replication.toml",
        "vote-crashes.toml",
        "stale-suffix.toml",
        "ack-crashes.toml",
        "watermark-replays.toml",
        "pipelined-clients.toml",
        "many-clients-eviction.toml",
    ] {
        let s = scenario_file(file);
        for seed in 0..WITHIN {
            let r = run(&s, RunOptions::new(seed));
            assert!(r.passed(), "{file} seed {seed}: {:?}", r.violations.kept());
        }
    }
}

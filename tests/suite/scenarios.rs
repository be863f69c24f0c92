//! Every shipped scenario, swept over seeds: the correct dedup strategies never break a rule,
//! and `off` (at-least-once) is caught within a few seeds, by the exactly-once checker.

use crate::common;

use std::path::Path;

use idemsim::kv::Dedup;
use idemsim::scenario::{self, Scenario};
use idemsim::sim::{RunOptions, RunReport, run};
use idemsim::verdict::Rule;

/// Seeds each correct strategy must pass on every shipped scenario.
const SEEDS: u64 = 200;
/// `off` must be caught on a scenario within this many seeds.
const CATCH_WITHIN: u64 = 20;

fn load(path: &Path, dedup: Dedup) -> Scenario {
    let mut s = scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    s.dedup = dedup;
    if !dedup.is_correct_for(s.clients.window) {
        s.clients.window = 1; // last-seq's contract: one request in flight per client
    }
    s
}

fn run_seed(s: &Scenario, seed: u64) -> RunReport {
    run(s, RunOptions::new(seed))
}

fn replay(path: &Path, seed: u64, dedup: Dedup) -> String {
    format!(
        "idemsim run {} --seed {seed} --dedup {} --trace text",
        path.display(),
        dedup.name()
    )
}

/// Sweep `SEEDS` seeds of every shipped scenario under a correct strategy: no violation of
/// any rule, every operation completes, and the faults the scenario describes really fire
/// (a fault that never triggers would make the scenario prove nothing).
fn correct_strategy_passes_everywhere(dedup: Dedup) {
    for path in common::shipped_scenarios() {
        let s = load(&path, dedup);
        let (mut duplicates, mut skipped, mut crashes) = (0, 0, 0);
        for seed in 0..SEEDS {
            let r = run_seed(&s, seed);
            assert!(
                r.passed(),
                "{} seed {seed} under {}: {:?}\nreplay: {}",
                s.name,
                dedup.name(),
                r.violations.kept(),
                replay(&path, seed, dedup)
            );
            let total = u64::from(s.clients.count) * s.clients.ops;
            // A refusal (a resumed client's new operation under a seq that already took
            // effect as its abandoned one) ends an operation too.
            assert_eq!(
                r.stats.completed + r.stats.abandoned + r.stats.refused,
                total,
                "{} seed {seed}: every op completes unless its client crashed or it was refused",
                s.name
            );
            duplicates += r.stats.duplicates();
            skipped += r.stats.faults_skipped;
            crashes += r.stats.crashes;
        }
        let faults = s.faults.len() as u64 * SEEDS;
        eprintln!(
            "{} under {}: {SEEDS} seeds pass; {duplicates} duplicates detected, {crashes} crashes, {skipped} of {faults} faults never triggered",
            s.name,
            dedup.name()
        );
        assert!(
            duplicates >= SEEDS / 4,
            "{}: the sweep hardly exercised dedup ({duplicates} duplicates)",
            s.name
        );
        assert!(
            skipped * 20 <= faults,
            "{}: {skipped} of {faults} scheduled faults never triggered (more than 5%)",
            s.name
        );
    }
}

#[test]
fn sessions_pass_every_shipped_scenario() {
    correct_strategy_passes_everywhere(Dedup::Sessions);
}

#[test]
fn last_seq_passes_every_shipped_scenario() {
    correct_strategy_passes_everywhere(Dedup::LastSeq);
}

/// The first seed below `CATCH_WITHIN` on which `off` breaks exactly-once, if any.
fn first_catch(path: &Path) -> Option<(u64, RunReport)> {
    let s = load(path, Dedup::Off);
    (0..CATCH_WITHIN)
        .map(|seed| (seed, run_seed(&s, seed)))
        .find(|(_, r)| !r.passed())
}

/// The bar: `off` is caught on leader-crash-mid-replication within 20 seeds, and the
/// rule it breaks is exactly-once (a retried write applied twice).
#[test]
fn off_is_caught_on_leader_crash_mid_replication() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sim-scenarios/leader-crash-mid-replication.toml");
    let (seed, report) =
        first_catch(&path).expect("off survived 20 seeds: the checker or the scenario is broken");
    assert!(
        report.violations.count(Rule::ExactlyOnce) > 0,
        "seed {seed}: {:?}",
        report.violations.kept()
    );
    assert_eq!(report.exit_code(), 1);
    let first = &report.violations.kept()[0];
    assert!(
        first.message.contains("took effect twice"),
        "seed {seed}: {first}"
    );
}

/// Every shipped scenario exercises duplicates: each catches `off` within 20 seeds.
#[test]
fn every_shipped_scenario_catches_off() {
    for path in common::shipped_scenarios() {
        let caught = first_catch(&path);
        assert!(
            caught.is_some(),
            "{}: off survived {CATCH_WITHIN} seeds",
            path.display()
        );
        let (seed, report) = caught.unwrap();
        assert!(
            report.violations.count(Rule::ExactlyOnce) > 0,
            "{} seed {seed}",
            path.display()
        );
    }
}

/// A client that restarts under its old id (`reuse-id`) against `sessions`: the leaders
/// refuse its new operations as acknowledged and forgotten seqs, at once, and exactly-once
/// names each refusal; nothing is left waiting for liveness to time out.
#[test]
fn a_reused_client_id_is_refused_clearly() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/client-restarts.toml");
    let mut s = load(&path, Dedup::Sessions);
    s.clients.on_restart = idemsim::client::OnRestart::ReuseId;
    let report = run_seed(&s, 0);
    assert_eq!(
        report.violations.count(Rule::Liveness),
        0,
        "{:?}",
        report.violations.kept()
    );
    assert!(report.stats.refused > 0, "no operation was refused");
    let refused = report
        .violations
        .kept()
        .iter()
        .find(|v| v.message.contains("as already acknowledged and forgotten"))
        .expect("exactly-once names a refusal");
    assert_eq!(refused.rule, Rule::ExactlyOnce);
    assert!(
        refused.message.contains("but it was never acknowledged"),
        "{refused}"
    );
}

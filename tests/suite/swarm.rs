//! Swarm faults: every seed draws its own profile, reproducibly; correct strategies survive
//! hundreds of drawn profiles; families switched off in `[swarm]` are never drawn.

use idemsim::kv::Dedup;
use idemsim::scenario::{self, SwarmSpec};
use idemsim::sim::{RunOptions, run};

fn swarmed(dedup: Dedup) -> scenario::Scenario {
    let mut s = scenario::default_scenario();
    s.swarm = Some(SwarmSpec::default());
    s.dedup = dedup;
    s
}

/// The same seed draws the same profile and replays byte for byte; different seeds draw
/// many different profiles, each printed in the report.
#[test]
fn each_seed_draws_its_own_reproducible_profile() {
    let s = swarmed(Dedup::Sessions);
    let mut profiles = std::collections::BTreeSet::new();
    for seed in 0..50 {
        let a = run(&s, RunOptions::new(seed).digested());
        let b = run(&s, RunOptions::new(seed).digested());
        assert!(a.trace_digest.is_some(), "seed {seed}: digested");
        assert_eq!(a.trace_digest, b.trace_digest, "seed {seed}");
        let profile = a
            .swarm
            .expect("a swarm run reports its profile")
            .to_string();
        assert_eq!(Some(profile.clone()), b.swarm.map(|p| p.to_string()));
        profiles.insert(profile);
    }
    assert!(
        profiles.len() >= 45,
        "only {} distinct profiles in 50 seeds",
        profiles.len()
    );
    assert!(profiles.iter().any(|p| p.contains("short and many")));
    assert!(profiles.iter().any(|p| p.contains("long and few")));
    assert!(profiles.iter().any(|p| p.contains("one-way")));
}

/// Correct strategies pass every drawn profile (300 seeds each); `off` does not.
#[test]
fn correct_strategies_survive_the_swarm() {
    for dedup in [Dedup::Sessions, Dedup::LastSeq] {
        let s = swarmed(dedup);
        for seed in 0..300 {
            let r = run(&s, RunOptions::new(seed));
            assert!(
                r.passed(),
                "{} seed {seed} ({}): {:?}\nreplay: idemsim run --seed {seed} --dedup {} --swarm --trace text",
                dedup.name(),
                r.swarm.unwrap(),
                r.violations.kept(),
                dedup.name()
            );
        }
    }
    let off = swarmed(Dedup::Off);
    let caught = (0..20)
        .filter(|&seed| !run(&off, RunOptions::new(seed)).passed())
        .count();
    assert!(
        caught >= 10,
        "off was caught on only {caught} of 20 swarm seeds"
    );
}

/// A family switched off is never drawn.
#[test]
fn families_switched_off_are_never_drawn() {
    let mut s = swarmed(Dedup::Sessions);
    s.faults.clear();
    s.swarm = Some(SwarmSpec {
        crashes: false,
        partitions: false,
        client_crashes: false,
        snapshots: true,
        ..SwarmSpec::default()
    });
    for seed in 0..50 {
        let r = run(&s, RunOptions::new(seed));
        let profile = r.swarm.unwrap();
        assert!(
            profile.crash_pattern.is_none()
                && profile.partitions == 0
                && profile.client_crashes == 0,
            "seed {seed}: {profile}"
        );
        assert_eq!(
            (r.stats.crashes, r.stats.partitions, r.stats.client_crashes),
            (0, 0, 0),
            "seed {seed}"
        );
    }
}

/// Profiles with long delays and long outages used to leave too little liveness budget for
/// the whole workload; the budget now grows with the drawn delays (these seeds failed
/// liveness before).
#[test]
fn slow_profiles_get_a_liveness_budget_to_match() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios");
    let cases = [
        ("leader-crash-after-commit.toml", 11917),
        ("leader-crash-mid-replication.toml", 5853),
        ("partitioned-leader.toml", 4370),
        ("partitioned-leader.toml", 25979),
    ];
    for (file, seed) in cases {
        let mut s = scenario::load(&dir.join(file)).unwrap();
        s.swarm = Some(SwarmSpec::default());
        for dedup in [Dedup::Sessions, Dedup::LastSeq] {
            s.dedup = dedup;
            let r = run(&s, RunOptions::new(seed));
            assert!(
                r.passed(),
                "{file} seed {seed} {}: {:?}",
                dedup.name(),
                r.violations.kept()
            );
        }
    }
}

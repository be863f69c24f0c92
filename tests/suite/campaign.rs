//! Campaigns: the catch table in both directions, sweeps whose output does not depend on
//! the number of threads, shards that partition a campaign, and panics reported per seed.

use crate::common;

use idemsim::campaign::catch::{Design, catch_table};
use idemsim::campaign::{Plan, RunSummary, SeedRange, Shard, Target, sweep};
use idemsim::kv::Dedup;
use idemsim::scenario;
use idemsim::verdict::Rule;

fn shipped() -> Vec<Target> {
    common::shipped_scenarios()
        .into_iter()
        .map(|path| Target {
            scenario: scenario::load(&path).unwrap(),
            path: Some(path),
        })
        .collect()
}

fn collect(plan: &Plan<'_>) -> Vec<RunSummary> {
    let mut runs = Vec::new();
    sweep(
        plan,
        |r| {
            runs.push(r.clone());
            true
        },
        || {},
    )
    .unwrap();
    runs
}

/// Every flawed design and every mutation is caught within 50 seeds, by some shipped
/// scenario within 20 and from at least half its starting seeds, and the correct strategies
/// never fail.
#[test]
fn the_catch_table_catches_every_flawed_design_and_clears_the_correct_ones() {
    let targets = shipped();
    let seeds = SeedRange { start: 0, end: 50 };
    let rows = catch_table(&targets, seeds, 2, || {}).unwrap();
    assert_eq!(rows.len(), Design::all().len());
    for row in &rows {
        let name = row.design.name();
        if row.design.is_correct() {
            assert_eq!(
                row.failed, 0,
                "{name} failed {} runs: a correct design must never fail",
                row.failed
            );
        } else {
            assert!(row.failed > 0, "{name} was never caught in 50 seeds");
            let needed = row.seeds_needed.unwrap();
            assert!(
                needed <= 20,
                "{name}: the best scenario needs {needed} seeds (more than 20)"
            );
            let d = row.detection.unwrap_or_else(|| {
                panic!("{name}: no scenario catches it from half its starting seeds")
            });
            assert!(d.median <= d.max, "{name}: {d:?}");
        }
    }
    let off = rows.iter().find(|r| r.design.dedup == Dedup::Off).unwrap();
    assert_eq!(
        off.rules[0].0,
        Rule::ExactlyOnce,
        "off breaks exactly-once first"
    );
}

/// The same plan on one thread and on two gives the same summaries in the same order.
#[test]
fn sweep_results_do_not_depend_on_the_number_of_jobs() {
    let mut targets = shipped();
    targets.truncate(2);
    for t in &mut targets {
        t.scenario.dedup = Dedup::Off;
    }
    let plan = |jobs| Plan {
        targets: &targets,
        seeds: SeedRange {
            start: 10,
            end: 150,
        },
        shard: Shard::ALL,
        jobs,
    };
    let one = collect(&plan(1));
    let two = collect(&plan(2));
    assert_eq!(one.len() as u64, plan(1).runs());
    assert_eq!(one, two);
    let order: Vec<(usize, u64)> = one.iter().map(|r| (r.target, r.seed)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "results come in (scenario, seed) order");
}

/// Shards K/N split a campaign: disjoint, and together every run of the whole.
#[test]
fn shards_partition_a_campaign() {
    let targets = vec![Target {
        path: None,
        scenario: scenario::default_scenario(),
    }];
    let seeds = SeedRange { start: 3, end: 40 };
    let whole = collect(&Plan {
        targets: &targets,
        seeds,
        shard: Shard::ALL,
        jobs: 2,
    });
    let mut merged = Vec::new();
    for index in 0..3 {
        let part = collect(&Plan {
            targets: &targets,
            seeds,
            shard: Shard { index, count: 3 },
            jobs: 2,
        });
        assert!(part.iter().all(|r| r.seed % 3 == index));
        merged.extend(part);
    }
    merged.sort_by_key(|r| r.seed);
    assert_eq!(merged, whole);
}

/// A run that panics, even before its world exists, is a failed run of its seed (rule
/// "invariant"), and the sweep goes on to the next seed.
#[test]
fn a_panicking_run_fails_its_seed_and_the_sweep_goes_on() {
    let mut broken = scenario::default_scenario();
    broken.cluster.nodes = 10; // past what validation allows: the node constructor asserts
    let targets = vec![
        Target {
            path: None,
            scenario: broken,
        },
        Target {
            path: None,
            scenario: scenario::default_scenario(),
        },
    ];
    let runs = collect(&Plan {
        targets: &targets,
        seeds: SeedRange { start: 0, end: 3 },
        shard: Shard::ALL,
        jobs: 2,
    });
    assert_eq!(runs.len(), 6);
    for r in &runs[..3] {
        assert!(
            r.broken.contains(Rule::Invariant),
            "seed {}: {:?}",
            r.seed,
            r.first
        );
        assert!(
            r.first
                .as_ref()
                .unwrap()
                .message
                .contains("cluster size 10"),
            "{:?}",
            r.first
        );
        assert_eq!(r.exit_code, 1);
    }
    assert!(runs[3..].iter().all(RunSummary::passed));
}

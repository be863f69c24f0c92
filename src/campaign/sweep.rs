//! Seed sweeps: every (scenario, seed) of a campaign, run in parallel, reported in order.
//!
//! Runs are independent worlds, so they parallelise perfectly; results come back batch by
//! batch and are handed on in (scenario, seed) order, so output does not depend on the
//! number of threads, and nothing but a compact [`RunSummary`] outlives a run.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::seeds::{SeedRange, Shard};
use crate::scenario::{FaultSpec, FaultTag, Scenario};
use crate::sim::{self, RunOptions};
use crate::verdict::{Rule, RuleSet, Violation};

/// One scenario of a campaign, with the file it came from (for replay commands).
#[derive(Clone, Debug)]
pub struct Target {
    pub path: Option<PathBuf>,
    pub scenario: Scenario,
}

/// What to sweep.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    pub targets: &'a [Target],
    pub seeds: SeedRange,
    pub shard: Shard,
    /// Worker threads; at least 1.
    pub jobs: usize,
}

impl Plan<'_> {
    /// Runs the plan holds (`u64::MAX` when there are more).
    pub fn runs(&self) -> u64 {
        let per_target = self.shard.seeds(self.seeds).count() as u64;
        per_target.saturating_mul(self.targets.len() as u64)
    }
}

/// All that is kept of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// Index into the plan's targets.
    pub target: usize,
    pub seed: u64,
    /// Rules broken.
    pub broken: RuleSet,
    /// The first violation, if any.
    pub first: Option<Violation>,
    pub exit_code: u8,
    pub completed: u64,
    pub abandoned: u64,
    pub duplicates: u64,
    pub retries: u64,
    pub crashes: u64,
    pub events: u64,
    /// Simulated time the run took to finish.
    pub sim_us: u64,
    /// The drawn swarm profile, for swarm runs.
    pub swarm: Option<String>,
    /// Faults whose trigger never came, by kind ([`FaultTag`] order).
    pub untriggered: [u32; FaultTag::COUNT],
}

impl RunSummary {
    pub fn passed(&self) -> bool {
        self.broken.is_empty()
    }

    /// The rules broken, in [`Rule::ALL`] order.
    pub fn rules(&self) -> impl Iterator<Item = Rule> {
        self.broken.iter()
    }
}

thread_local! {
    static IN_RUN: Cell<bool> = const { Cell::new(false) };
}

/// Is this thread inside [`run_one`]? A panic there becomes a failed run, reported with its
/// seed, so a panic hook may stay quiet about it.
pub fn in_run() -> bool {
    IN_RUN.with(Cell::get)
}

/// Run one seed of one target, turning a panic anywhere (not only inside the world, which
/// `sim::run` already reports) into a failed run.
pub fn run_one(targets: &[Target], target: usize, seed: u64) -> RunSummary {
    let scenario = &targets[target].scenario;
    IN_RUN.with(|f| f.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        sim::run(scenario, RunOptions::new(seed))
    }));
    IN_RUN.with(|f| f.set(false));
    match outcome {
        Ok(report) => {
            let s = &report.stats;
            RunSummary {
                target,
                seed,
                broken: report.violations.broken(),
                first: report.violations.kept().first().cloned(),
                exit_code: report.exit_code(),
                completed: s.completed,
                abandoned: s.abandoned,
                duplicates: s.duplicates(),
                retries: s.timeouts,
                crashes: s.crashes,
                events: report.events,
                sim_us: report.end.as_us(),
                swarm: report.swarm.map(|p| p.to_string()),
                untriggered: untriggered(&report.skipped_faults),
            }
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".to_owned());
            RunSummary {
                target,
                seed,
                broken: RuleSet::EMPTY.with(Rule::Invariant),
                first: Some(Violation {
                    rule: Rule::Invariant,
                    message: format!("the run panicked outside the world: {message}"),
                    about: None,
                }),
                exit_code: 1,
                completed: 0,
                abandoned: 0,
                duplicates: 0,
                retries: 0,
                crashes: 0,
                events: 0,
                sim_us: 0,
                swarm: None,
                untriggered: [0; FaultTag::COUNT],
            }
        }
    }
}

/// Count skipped faults by kind.
fn untriggered(skipped: &[(usize, FaultSpec)]) -> [u32; FaultTag::COUNT] {
    let mut counts = [0; FaultTag::COUNT];
    for (_, spec) in skipped {
        counts[spec.kind.tag() as usize] += 1;
    }
    counts
}

/// Run the plan on `plan.jobs` threads. `each` gets every run's summary in (target, seed)
/// order and returns whether to go on (false stops after the batch in hand, e.g. when the
/// reader of the output went away); `progress` is called from worker threads once per
/// finished run. `Ok(true)`: every run of the plan was handed to `each`; `Ok(false)`: the
/// sweep stopped early.
pub fn sweep(
    plan: &Plan<'_>,
    each: impl FnMut(&RunSummary) -> bool,
    progress: impl Fn() + Sync,
) -> Result<bool, rayon::ThreadPoolBuildError> {
    sweep_until(plan, &AtomicBool::new(false), each, progress)
}

/// [`sweep`], stopping early once `stop` is set (e.g. by Ctrl-C): workers start no new run,
/// and `each` gets the runs finished before the first one skipped, still in order, so what
/// was handed on is always a prefix of the plan. `Ok(true)` only when the whole plan ran.
pub fn sweep_until(
    plan: &Plan<'_>,
    stop: &AtomicBool,
    mut each: impl FnMut(&RunSummary) -> bool,
    progress: impl Fn() + Sync,
) -> Result<bool, rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs.max(1))
        .build()?;
    // Big enough to keep every thread busy between hand-offs, small enough that memory
    // stays flat however many seeds there are.
    let batch_len = 64 * plan.jobs.max(1);
    let mut batch: Vec<(usize, u64)> = Vec::with_capacity(batch_len);
    let mut handed = 0u64;
    let mut flush = |batch: &mut Vec<(usize, u64)>| -> bool {
        let results: Vec<Option<RunSummary>> = pool.install(|| {
            batch
                .par_iter()
                .map(|&(target, seed)| {
                    if stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    let summary = run_one(plan.targets, target, seed);
                    progress();
                    Some(summary)
                })
                .collect()
        });
        batch.clear();
        for run in &results {
            let Some(run) = run else { return false };
            handed += 1;
            if !each(run) {
                return false;
            }
        }
        !stop.load(Ordering::Relaxed)
    };
    'plan: for target in 0..plan.targets.len() {
        for seed in plan.shard.seeds(plan.seeds) {
            batch.push((target, seed));
            if batch.len() == batch_len && !flush(&mut batch) {
                break 'plan;
            }
        }
    }
    if !batch.is_empty() {
        flush(&mut batch);
    }
    Ok(handed == plan.runs())
}

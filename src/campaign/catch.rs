//! The catch table: every design, correct and flawed, against every scenario over a seed
//! range. A checker earns trust by catching each flawed design quickly, and by never firing
//! on a correct one.

use super::seeds::{SeedRange, Shard};
use super::sweep::{Plan, RunSummary, Target, sweep};
use crate::client::OnRestart;
use crate::kv::Dedup;
use crate::verdict::{PerRule, Rule};

/// A design under test: a dedup strategy on the servers, and what clients do with their
/// id when they restart (`None`: what each scenario says, a correct behaviour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Design {
    pub dedup: Dedup,
    pub on_restart: Option<OnRestart>,
}

impl Design {
    const fn servers(dedup: Dedup) -> Design {
        Design {
            dedup,
            on_restart: None,
        }
    }

    const fn reuse_id(dedup: Dedup) -> Design {
        Design {
            dedup,
            on_restart: Some(OnRestart::ReuseId),
        }
    }

    /// Every design: the correct ones first, then each flawed one. A client that reuses its
    /// id is run against both correct tables, which catch it differently.
    pub const ALL: [Design; 9] = [
        Design::servers(Dedup::Sessions),
        Design::servers(Dedup::LastSeq),
        Design::servers(Dedup::Off),
        Design::servers(Dedup::LeaderOnly),
        Design::servers(Dedup::CheckOnReceive),
        Design::servers(Dedup::CacheLatest),
        Design::servers(Dedup::TrustSeq),
        Design::reuse_id(Dedup::Sessions),
        Design::reuse_id(Dedup::LastSeq),
    ];

    /// `off`, or `reuse-id + last-seq`.
    pub fn name(self) -> String {
        match self.on_restart {
            None => self.dedup.name().to_owned(),
            Some(other) => format!("{} + {}", other.name(), self.dedup.name()),
        }
    }

    /// Correct designs must never fail; the others must be caught.
    pub fn is_correct(self) -> bool {
        self.dedup.is_correct() && self.on_restart != Some(OnRestart::ReuseId)
    }

    /// Apply the design to a scenario.
    pub fn apply(self, scenario: &mut crate::scenario::Scenario) {
        scenario.dedup = self.dedup;
        if let Some(on_restart) = self.on_restart {
            scenario.clients.on_restart = on_restart;
        }
    }
}

/// One design's row.
#[derive(Clone, Debug, PartialEq)]
pub struct CatchRow {
    pub design: Design,
    pub runs: u64,
    pub failed: u64,
    /// Runs that broke each rule (a run may break several), most frequent first.
    pub rules: Vec<(Rule, u64)>,
    /// The scenario (index into the targets) and seed that catch it soonest.
    pub first: Option<(usize, u64)>,
    /// Seeds a sweep from the range's start needs to catch it on that scenario.
    pub seeds_needed: Option<u64>,
    /// Median seeds to detection from a random starting seed, on the scenarios that catch it
    /// at all: the median of the geometric distribution with their failure rate p,
    /// ⌈ln ½ / ln(1 − p)⌉.
    pub median_seeds: Option<u64>,
}

impl CatchRow {
    /// A flawed design that was caught, or a correct one that never failed.
    pub fn as_expected(&self) -> bool {
        if self.design.is_correct() {
            self.failed == 0
        } else {
            self.failed > 0
        }
    }
}

/// Median of a geometric distribution with success probability `p` (0 < p <= 1).
fn geometric_median(p: f64) -> u64 {
    if p >= 1.0 {
        return 1;
    }
    ((0.5f64).ln() / (1.0 - p).ln()).ceil().max(1.0) as u64
}

/// A design's row, gathered run by run: memory does not grow with the number of seeds.
struct Tally {
    runs: u64,
    failed: u64,
    rules: PerRule<u64>,
    /// (seed, target) of the earliest failure.
    first: Option<(u64, usize)>,
    /// (runs, failures) per target.
    per_target: Vec<(u64, u64)>,
}

impl Tally {
    fn new(targets: usize) -> Tally {
        Tally {
            runs: 0,
            failed: 0,
            rules: PerRule::default(),
            first: None,
            per_target: vec![(0, 0); targets],
        }
    }

    fn add(&mut self, run: &RunSummary) {
        self.runs += 1;
        self.per_target[run.target].0 += 1;
        if run.passed() {
            return;
        }
        self.failed += 1;
        self.per_target[run.target].1 += 1;
        for rule in run.rules() {
            self.rules[rule] += 1;
        }
        let at = (run.seed, run.target);
        if self.first.is_none_or(|f| at < f) {
            self.first = Some(at);
        }
    }

    fn row(self, design: Design, seeds: SeedRange) -> CatchRow {
        let mut rules: Vec<(Rule, u64)> = Rule::ALL
            .into_iter()
            .map(|r| (r, self.rules[r]))
            .filter(|&(_, n)| n > 0)
            .collect();
        rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let (runs, failed) = self
            .per_target
            .iter()
            .filter(|&&(_, failed)| failed > 0)
            .fold((0, 0), |(r, f), &(tr, tf)| (r + tr, f + tf));
        let first = self.first.map(|(seed, target)| (target, seed));
        CatchRow {
            design,
            runs: self.runs,
            failed: self.failed,
            rules,
            first,
            seeds_needed: first.map(|(_, seed)| seed - seeds.start + 1),
            median_seeds: (failed > 0).then(|| geometric_median(failed as f64 / runs as f64)),
        }
    }
}

/// Run every design against every target over `seeds` on `jobs` threads. `progress` is
/// called once per finished run (from worker threads).
pub fn catch_table(
    targets: &[Target],
    seeds: SeedRange,
    jobs: usize,
    progress: impl Fn() + Sync,
) -> Result<Vec<CatchRow>, rayon::ThreadPoolBuildError> {
    let mut rows = Vec::with_capacity(Design::ALL.len());
    for design in Design::ALL {
        let designed: Vec<Target> = targets
            .iter()
            .map(|t| {
                let mut t = t.clone();
                design.apply(&mut t.scenario);
                t
            })
            .collect();
        let plan = Plan {
            targets: &designed,
            seeds,
            shard: Shard::ALL,
            jobs,
        };
        let mut tally = Tally::new(targets.len());
        sweep(
            &plan,
            |run| {
                tally.add(run);
                true
            },
            &progress,
        )?;
        rows.push(tally.row(design, seeds));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The median of a geometric distribution: 1 when every seed catches it, more as the
    /// rate falls (rate ½ → 1, rate 0.1 → 7).
    #[test]
    fn geometric_medians() {
        let cases = [(1.0, 1), (0.5, 1), (0.1, 7), (0.01, 69)];
        for (i, (p, want)) in cases.into_iter().enumerate() {
            assert_eq!(geometric_median(p), want, "case {i}: p = {p}");
        }
    }
}

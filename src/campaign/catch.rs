//! The catch table: every design, correct and flawed, and every deliberate bug (mutation),
//! against every scenario over a seed range. A checker earns trust by catching each flawed
//! design and each mutation quickly, and by never firing on a correct design.
//!
//! Quickly is measured: on each scenario, for every starting seed of the range, the number of
//! seeds a sweep from there needs to hit its first failure; a row reports the median and the
//! maximum of those on the scenario that catches it soonest.

use super::seeds::{SeedRange, Shard};
use super::sweep::{Plan, RunSummary, Target, sweep};
use crate::client::OnRestart;
use crate::kv::Dedup;
use crate::mutation::{Mutation, Mutations};
use crate::raft::Reads;
use crate::verdict::{PerRule, Rule};

/// A design under test: a dedup strategy on the servers, what clients do with their id when
/// they restart (`None`: what each scenario says, a correct behaviour), how many requests
/// each client pipelines (`None`: what each scenario says, except that `last-seq`, whose
/// contract is one request in flight, gets 1), how nodes answer gets (`None`: what each
/// scenario says), and a deliberate bug in the nodes or clients, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Design {
    pub dedup: Dedup,
    pub on_restart: Option<OnRestart>,
    pub window: Option<u32>,
    pub reads: Option<Reads>,
    pub mutation: Option<Mutation>,
}

impl Design {
    const fn servers(dedup: Dedup) -> Design {
        Design {
            dedup,
            on_restart: None,
            window: None,
            reads: None,
            mutation: None,
        }
    }

    const fn reuse_id(dedup: Dedup) -> Design {
        Design {
            on_restart: Some(OnRestart::ReuseId),
            ..Design::servers(dedup)
        }
    }

    /// Clients that pipeline `window` requests, against `dedup`.
    const fn pipelined(dedup: Dedup, window: u32) -> Design {
        Design {
            window: Some(window),
            ..Design::servers(dedup)
        }
    }

    /// `sessions`, answering gets by `reads`.
    const fn reading(reads: Reads) -> Design {
        Design {
            reads: Some(reads),
            ..Design::servers(Dedup::Sessions)
        }
    }

    /// `sessions` with one deliberate bug.
    const fn mutated(mutation: Mutation) -> Design {
        Design {
            mutation: Some(mutation),
            ..Design::servers(Dedup::Sessions)
        }
    }

    /// Every design: the correct ones first, then each flawed one, then every mutation.
    pub fn all() -> Vec<Design> {
        Design::DEDUP
            .into_iter()
            .chain(Design::READS)
            .chain(Mutation::ALL.into_iter().map(Design::mutated))
            .collect()
    }

    /// The dedup designs: the correct ones first, then each flawed one. A client that reuses
    /// its id is run against both correct tables, which catch it differently; `last-seq` is
    /// flawed as soon as clients pipeline.
    pub const DEDUP: [Design; 16] = [
        Design::servers(Dedup::Sessions),
        Design::servers(Dedup::LastSeq),
        Design::servers(Dedup::Off),
        Design::servers(Dedup::LeaderOnly),
        Design::servers(Dedup::CheckOnReceive),
        Design::servers(Dedup::CacheLatest),
        Design::servers(Dedup::TrustSeq),
        Design::servers(Dedup::ExpireLocalClock),
        Design::servers(Dedup::TtlResetOnLeaderChange),
        Design::servers(Dedup::EvictSilently),
        Design::servers(Dedup::SnapshotWithoutSessions),
        Design::servers(Dedup::SnapshotSplitIndex),
        Design::servers(Dedup::InstallKeepsTable),
        Design::reuse_id(Dedup::Sessions),
        Design::reuse_id(Dedup::LastSeq),
        Design::pipelined(Dedup::LastSeq, 4),
    ];

    /// The read paths other than `log`: the correct ones, then the flawed ones.
    pub const READS: [Design; 4] = [
        Design::reading(Reads::ReadIndex),
        Design::reading(Reads::Lease),
        Design::reading(Reads::Local),
        Design::reading(Reads::LeaseUnbounded),
    ];

    /// `off`, `reuse-id + last-seq`, `last-seq + window 4`, `reads local`, or
    /// `mutation vote-not-kept`.
    pub fn name(self) -> String {
        if let (None, Some(reads)) = (self.mutation, self.reads) {
            return format!("reads {}", reads.name());
        }
        match (self.mutation, self.on_restart, self.window) {
            (Some(m), _, _) => format!("mutation {m}"),
            (None, None, None) => self.dedup.name().to_owned(),
            (None, Some(other), _) => format!("{} + {}", other.name(), self.dedup.name()),
            (None, None, Some(window)) => format!("{} + window {window}", self.dedup.name()),
        }
    }

    /// Correct designs must never fail; the others must be caught.
    pub fn is_correct(self) -> bool {
        self.mutation.is_none()
            && self.dedup.is_correct_for(self.window.unwrap_or(1))
            && self.on_restart != Some(OnRestart::ReuseId)
            && !self.reads.is_some_and(Reads::is_flawed)
    }

    /// Apply the design to a scenario.
    pub fn apply(self, scenario: &mut crate::scenario::Scenario) {
        scenario.dedup = self.dedup;
        if let Some(on_restart) = self.on_restart {
            scenario.clients.on_restart = on_restart;
        }
        match self.window {
            Some(window) => scenario.clients.window = window,
            // `last-seq` promises exactly-once only to clients with one request in flight.
            None if self.dedup == Dedup::LastSeq => scenario.clients.window = 1,
            None => {}
        }
        if let Some(reads) = self.reads {
            scenario.server.reads = reads;
        }
        scenario.mutations = self.mutation.map_or(Mutations::NONE, Mutations::of);
    }
}

/// How soon a design is caught on one scenario, over the seed range: for each starting seed,
/// the seeds a sweep from there runs until its first failure (the failing one included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The scenario (index into the targets).
    pub target: usize,
    /// The median over every starting seed of the range.
    pub median: u64,
    /// The maximum; with `past_range`, a sweep from the last starting seeds ran out of range
    /// after this many seeds without a failure, so the true maximum is larger.
    pub max: u64,
    pub past_range: bool,
}

impl Detection {
    /// The mark the catch table puts on a slow row.
    pub const SLOW_MEDIAN: u64 = 5;

    /// `median` seeds and `max` (or `>max`), as the table prints them.
    pub fn max_text(self) -> String {
        if self.past_range {
            format!(">{}", self.max)
        } else {
            self.max.to_string()
        }
    }
}

/// Seeds to detection on one scenario from `fails` (one flag per seed of the range, in
/// order); `None` when fewer than half of the starting seeds reach a failure in range.
fn detection(target: usize, fails: &[bool]) -> Option<Detection> {
    let n = fails.len();
    let mut to_detection: Vec<u64> = Vec::with_capacity(n);
    let mut next: Option<usize> = None;
    for i in (0..n).rev() {
        if fails[i] {
            next = Some(i);
        }
        to_detection.push(next.map_or(u64::MAX, |j| (j - i + 1) as u64));
    }
    to_detection.sort_unstable();
    let median = *to_detection.get(n.checked_sub(1)? / 2)?;
    if median == u64::MAX {
        return None;
    }
    let last_fail = fails.iter().rposition(|&f| f)?;
    let tail = (n - 1 - last_fail) as u64;
    let max = *to_detection.last()?;
    Some(if max == u64::MAX {
        Detection {
            target,
            median,
            max: tail,
            past_range: true,
        }
    } else {
        Detection {
            target,
            median,
            max,
            past_range: false,
        }
    })
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
    /// Seeds to detection on the scenario that catches it soonest (lowest median, then
    /// lowest maximum); `None` if no scenario catches it from half its starting seeds.
    pub detection: Option<Detection>,
}

impl CatchRow {
    /// A flawed design that was caught, or a correct one that never failed.
    pub fn as_expected(&self) -> bool {
        as_expected(self.design.is_correct(), self.failed)
    }
}

/// A correct design that never failed, or a flawed one that failed at least once (caught).
pub fn as_expected(correct: bool, failed: u64) -> bool {
    correct == (failed == 0)
}

/// A design's row, gathered run by run: one bit of memory per run, nothing more.
struct Tally {
    runs: u64,
    failed: u64,
    rules: PerRule<u64>,
    /// (seed, target) of the earliest failure.
    first: Option<(u64, usize)>,
    /// Per target, per seed of the range: did that run fail?
    fails: Vec<Vec<bool>>,
    start: u64,
}

impl Tally {
    fn new(targets: usize, seeds: SeedRange) -> Tally {
        Tally {
            runs: 0,
            failed: 0,
            rules: PerRule::default(),
            first: None,
            fails: vec![vec![false; seeds.len() as usize]; targets],
            start: seeds.start,
        }
    }

    fn add(&mut self, run: &RunSummary) {
        self.runs += 1;
        if run.passed() {
            return;
        }
        self.failed += 1;
        self.fails[run.target][(run.seed - self.start) as usize] = true;
        for rule in run.rules() {
            self.rules[rule] += 1;
        }
        let at = (run.seed, run.target);
        if self.first.is_none_or(|f| at < f) {
            self.first = Some(at);
        }
    }

    fn row(self, design: Design, seeds: SeedRange) -> CatchRow {
        let rules = ranked(&self.rules);
        let detection = self
            .fails
            .iter()
            .enumerate()
            .filter_map(|(t, fails)| detection(t, fails))
            .min_by_key(|d| (d.median, d.past_range, d.max, d.target));
        let first = self.first.map(|(seed, target)| (target, seed));
        CatchRow {
            design,
            runs: self.runs,
            failed: self.failed,
            rules,
            first,
            seeds_needed: first.map(|(_, seed)| seed - seeds.start + 1),
            detection,
        }
    }
}

/// The rules some run broke, with how many runs broke each, most frequent first.
pub fn ranked(counts: &PerRule<u64>) -> Vec<(Rule, u64)> {
    let mut rules: Vec<(Rule, u64)> = Rule::ALL
        .into_iter()
        .map(|r| (r, counts[r]))
        .filter(|&(_, n)| n > 0)
        .collect();
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rules
}

/// Run every design against every target over `seeds` on `jobs` threads. `progress` is
/// called once per finished run (from worker threads).
pub fn catch_table(
    targets: &[Target],
    seeds: SeedRange,
    jobs: usize,
    progress: impl Fn() + Sync,
) -> Result<Vec<CatchRow>, rayon::ThreadPoolBuildError> {
    let designs = Design::all();
    let mut rows = Vec::with_capacity(designs.len());
    for design in designs {
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
        let mut tally = Tally::new(targets.len(), seeds);
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

    fn flags(text: &str) -> Vec<bool> {
        text.chars().map(|c| c == 'x').collect()
    }

    /// Seeds to detection from every start: a failure at every seed is 1 everywhere; one
    /// every third seed has median 2 and maximum 3; a clean tail after the last failure makes
    /// the maximum a lower bound; mostly clean ranges have no median.
    #[test]
    fn seeds_to_detection_from_every_start() {
        let d = |t: &str| detection(0, &flags(t)).map(|d| (d.median, d.max_text()));
        assert_eq!(d("xxxx"), Some((1, "1".to_owned())));
        assert_eq!(d("..x..x..x"), Some((2, "3".to_owned())));
        assert_eq!(d("x...x.."), Some((3, ">2".to_owned())));
        assert_eq!(d("x......"), None);
        assert_eq!(d("......."), None);
        assert_eq!(d(""), None);
    }
}

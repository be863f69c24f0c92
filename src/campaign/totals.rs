//! The numbers at the end of a sweep, gathered run by run in constant memory.

use hdrhistogram::Histogram;

use super::sweep::RunSummary;
use crate::scenario::FaultTag;
use crate::verdict::{PerRule, Rule};

/// Aggregates of a sweep.
#[derive(Clone, Debug)]
pub struct Totals {
    pub runs: u64,
    pub failed: u64,
    /// Runs that broke each rule.
    pub by_rule: PerRule<u64>,
    pub duplicates: u64,
    pub retries: u64,
    pub crashes: u64,
    pub events: u64,
    /// Faults whose trigger never came, by kind ([`FaultTag`] order).
    pub untriggered: [u64; FaultTag::COUNT],
    /// Simulated time to finish, in microseconds (3 significant digits).
    sim_us: Histogram<u64>,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            runs: 0,
            failed: 0,
            by_rule: PerRule::default(),
            duplicates: 0,
            retries: 0,
            crashes: 0,
            events: 0,
            untriggered: [0; FaultTag::COUNT],
            // 1 µs to 1,000 simulated days, 3 significant digits: fixed size, whatever the
            // number of runs.
            sim_us: Histogram::new_with_bounds(1, 86_400_000_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Totals {
    pub fn add(&mut self, run: &RunSummary) {
        self.runs += 1;
        self.failed += u64::from(!run.passed());
        for rule in run.rules() {
            self.by_rule[rule] += 1;
        }
        // Saturating: merge adds counts read from files, which may hold anything.
        self.duplicates = self.duplicates.saturating_add(run.duplicates);
        self.retries = self.retries.saturating_add(run.retries);
        self.crashes = self.crashes.saturating_add(run.crashes);
        self.events = self.events.saturating_add(run.events);
        for (total, n) in self.untriggered.iter_mut().zip(run.untriggered) {
            *total = total.saturating_add(u64::from(n));
        }
        self.sim_us.saturating_record(run.sim_us);
    }

    /// Runs that broke `rule`.
    pub fn broke(&self, rule: Rule) -> u64 {
        self.by_rule[rule]
    }

    /// The `q` quantile (0..=1) of simulated time to finish, in microseconds.
    pub fn sim_quantile_us(&self, q: f64) -> u64 {
        self.sim_us
            .median_equivalent(self.sim_us.value_at_quantile(q))
    }

    /// The exit code of the whole sweep: 1 if a safety rule broke anywhere, 3 if only
    /// liveness did, 0 if every run passed.
    pub fn exit_code(&self) -> u8 {
        self.by_rule.nonzero().exit_code()
    }
}

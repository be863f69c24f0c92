//! The linearizability rule against an independent reference, on the histories the
//! simulator really produces: every shipped scenario under every design (correct, flawed,
//! mutated), over a seed range. The rule must fail a run exactly when the reference finds
//! the run's history not linearizable.
//!
//! The reference is a memoized brute force written for this test alone: a recursive search
//! over every real-time respecting order of one key's operations, remembering (operations
//! placed, state) pairs already refuted. It shares nothing with `idemsim::history` but the
//! store's per-key semantics (`kv::apply_to_value`): no linked list, no interning, no greedy
//! reads, no sequential fast path; an indefinite operation is simply never required.
//!
//! Seeds 0..5 by default; `IDEMSIM_AGREEMENT_SEEDS=50 cargo test --release --test suite
//! agreement -- --nocapture` runs the full 0..50.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::sync::Arc;

use idemsim::campaign::catch::Design;
use idemsim::check::Linearizability;
use idemsim::history::{History, Operation};
use idemsim::ids::{Seq, SimTime};
use idemsim::kv::{Effect, apply_to_value};
use idemsim::kv::{Origin, Outcome};
use idemsim::message::Payload;
use idemsim::scenario;
use idemsim::sim::{RunOptions, run};
use idemsim::trace::{TraceEvent, TraceSink};
use idemsim::verdict::Rule;
use rayon::prelude::*;

use crate::common;

/// Configurations the reference may remember per key before it gives up.
const BUDGET: usize = 2_000_000;

/// `Some(linearizable)`, or `None` when a key needed more than [`BUDGET`] configurations.
pub fn memo_reference(history: &History) -> Option<bool> {
    let mut keys: Vec<&str> = history.ops().iter().map(|o| o.op.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let ops: Vec<&Operation> = history.ops().iter().filter(|o| o.op.key() == key).collect();
        let mut search = Reference {
            ops: &ops,
            placed: vec![false; ops.len()],
            seen: HashSet::new(),
        };
        match search.go(history.initial_value().cloned()) {
            Some(true) => {}
            other => return other,
        }
    }
    Some(true)
}

struct Reference<'a> {
    ops: &'a [&'a Operation],
    placed: Vec<bool>,
    seen: HashSet<(Vec<bool>, Option<Arc<str>>)>,
}

impl Reference<'_> {
    fn go(&mut self, state: Option<Arc<str>>) -> Option<bool> {
        let pending_definite =
            |r: &Reference<'_>, j: usize| !r.placed[j] && r.ops[j].return_us.is_some();
        if !(0..self.ops.len()).any(|j| pending_definite(self, j)) {
            return Some(true);
        }
        if !self.seen.insert((self.placed.clone(), state.clone())) {
            return Some(false);
        }
        if self.seen.len() > BUDGET {
            return None;
        }
        // The two earliest returns among unplaced operations: an operation may go next only
        // if no *other* unplaced operation returned before it was called.
        let (mut first, mut second) = ((u64::MAX, usize::MAX), u64::MAX);
        for j in 0..self.ops.len() {
            if let (false, Some(r)) = (self.placed[j], self.ops[j].return_us) {
                if r < first.0 {
                    second = first.0;
                    first = (r, j);
                } else if r < second {
                    second = r;
                }
            }
        }
        let mut scratch = String::new();
        for i in 0..self.ops.len() {
            if self.placed[i] {
                continue;
            }
            let earliest_other = if first.1 == i { second } else { first.0 };
            if earliest_other < self.ops[i].call_us {
                continue;
            }
            let (effect, result) = apply_to_value(&self.ops[i].op, state.as_ref(), &mut scratch);
            if self.ops[i]
                .result
                .as_ref()
                .is_some_and(|want| *want != result)
            {
                continue;
            }
            let next = match effect {
                Effect::Unchanged => state.clone(),
                Effect::Set(v) => Some(v),
                Effect::Remove => None,
            };
            self.placed[i] = true;
            let found = self.go(next);
            self.placed[i] = false;
            if found != Some(false) {
                return found;
            }
        }
        Some(false)
    }
}

/// Feeds a run's trace to the rule's history recorder, and notes which writes a replica
/// applied (what the exactly-once rule tells the recorder in a run).
#[derive(Default)]
struct Recorder {
    history: Linearizability,
    applied: BTreeSet<(Origin, Seq)>,
}

impl TraceSink for Recorder {
    fn event(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        self.history.observe(t, event);
        if let TraceEvent::Apply {
            payload: Payload::Client(request),
            outcome: Outcome::Applied,
            ..
        } = event
        {
            self.applied.insert((request.origin, request.seq));
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_rule_agrees_with_a_reference_on_every_shipped_scenario_and_design() {
    let seeds: u64 = std::env::var("IDEMSIM_AGREEMENT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let shipped = common::shipped_scenarios();
    let mut runs = Vec::new();
    for path in &shipped {
        for design in Design::all() {
            for seed in 0..seeds {
                runs.push((path.clone(), design, seed));
            }
        }
    }
    // Deep recursion on long histories: a big stack per worker.
    let pool = rayon::ThreadPoolBuilder::new()
        .stack_size(256 << 20)
        .build()
        .expect("thread pool");
    let outcomes: Vec<(bool, Option<bool>, bool)> = pool.install(|| {
        runs.par_iter()
            .map(|(path, design, seed)| {
                let mut s = scenario::load(path).expect("shipped scenario");
                design.apply(&mut s);
                let mut recorder = Recorder::default();
                let report = run(
                    &s,
                    RunOptions {
                        seed: *seed,
                        sink: Some(&mut recorder),
                        replay: String::new(),
                        messages: false,
                        digest: false,
                    },
                );
                let rule_failed = report
                    .violations
                    .kept()
                    .iter()
                    .any(|v| v.rule == Rule::Linearizability);
                let undecided = !report.violations.notes().is_empty();
                let Recorder { history, applied } = recorder;
                let (history, _) =
                    history.into_history(|origin, seq| applied.contains(&(origin, seq)));
                let reference = memo_reference(&history);
                if let Some(linearizable) = reference {
                    assert!(
                        undecided || rule_failed != linearizable,
                        "{} seed {seed} under {}: the rule says {}, the reference {}",
                        s.name,
                        design.name(),
                        if rule_failed {
                            "not linearizable"
                        } else {
                            "linearizable"
                        },
                        if linearizable {
                            "linearizable"
                        } else {
                            "not linearizable"
                        },
                    );
                }
                (rule_failed, reference, undecided)
            })
            .collect()
    });
    let total = outcomes.len();
    let failing = outcomes.iter().filter(|o| o.0).count();
    let reference_undecided = outcomes.iter().filter(|o| o.1.is_none()).count();
    let rule_undecided = outcomes.iter().filter(|o| o.2).count();
    eprintln!(
        "{total} runs ({} scenarios x {} designs x seeds 0..{seeds}): {failing} not \
         linearizable, both agreeing; undecided: reference {reference_undecided}, rule \
         {rule_undecided}",
        shipped.len(),
        Design::all().len()
    );
    assert!(failing > 0, "no run failed: the comparison proves nothing");
    assert_eq!(rule_undecided, 0, "the rule gave up on some run");
    assert!(
        reference_undecided * 100 <= total,
        "the reference gave up on {reference_undecided} of {total} runs"
    );
}

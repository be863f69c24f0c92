//! `--check-determinism`: run the same scenario and seed again and prove the trace is the
//! same, or report the first event where the runs diverge.

use super::{RunOptions, RunReport, run};
use crate::scenario::Scenario;
use crate::trace::RecordingSink;

/// The outcome of a determinism check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Determinism {
    /// Both runs produced the same trace digest.
    Identical { digest: u64 },
    /// The runs differ; `event` is the 0-based number of the first differing trace event and
    /// the lines are that event as each run rendered it (`None`: that run had ended).
    Diverged {
        event: usize,
        first: Option<String>,
        second: Option<String>,
    },
    /// The first two runs' digests differed, but the two recorded to locate the difference
    /// came out the same: nondeterminism that comes and goes.
    Flaky { first: u64, second: u64 },
}

impl Determinism {
    /// Did the runs disagree?
    pub fn failed(&self) -> bool {
        !matches!(self, Determinism::Identical { .. })
    }
}

/// Run `scenario` with `seed` again and compare with `first`, a report of the same run made
/// with the same `replay` command and `messages` setting. Costs one more run when the traces
/// agree, three when they do not (to find the event).
pub fn check(
    scenario: &Scenario,
    seed: u64,
    replay: &str,
    messages: bool,
    first: &RunReport,
) -> Determinism {
    let options = || RunOptions {
        seed,
        sink: None,
        replay: replay.to_owned(),
        messages,
        digest: true,
    };
    // A first run made without its digest is digested again here (one run more).
    let first_digest = match first.trace_digest {
        Some(digest) => digest,
        None => run(scenario, options()).trace_digest.unwrap_or_default(),
    };
    let again = run(scenario, options());
    let again_digest = again.trace_digest.unwrap_or_default();
    if again_digest == first_digest && again.events == first.events {
        return Determinism::Identical {
            digest: first_digest,
        };
    }
    let record = || {
        let mut sink = RecordingSink::default();
        run(
            scenario,
            RunOptions {
                seed,
                sink: Some(&mut sink),
                replay: replay.to_owned(),
                messages,
                digest: false,
            },
        );
        sink.lines
    };
    let (a, b) = (record(), record());
    if a == b {
        return Determinism::Flaky {
            first: first_digest,
            second: again_digest,
        };
    }
    let event = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Determinism::Diverged {
        event,
        first: a.get(event).cloned(),
        second: b.get(event).cloned(),
    }
}

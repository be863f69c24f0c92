//! Where every trace event goes: the checkers, the run digest, the summary counters, and the
//! trace sink when one is attached (and only then is anything formatted).

use super::stats::Stats;
use crate::check::{Checks, TableBounds};
use crate::ids::SimTime;
use crate::trace::{TraceDigest, TraceEvent, TraceSink};

pub(super) struct Observer<'s> {
    pub checks: Checks,
    pub digest: TraceDigest,
    pub stats: Stats,
    pub sink: Option<&'s mut dyn TraceSink>,
}

impl<'s> Observer<'s> {
    pub fn new(
        nodes: u8,
        bounds: TableBounds,
        sink: Option<&'s mut dyn TraceSink>,
    ) -> Observer<'s> {
        Observer {
            checks: Checks::bounded(nodes, bounds),
            digest: TraceDigest::default(),
            stats: Stats::default(),
            sink,
        }
    }

    #[inline]
    pub fn emit(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        self.digest.add(t, event);
        self.checks.observe(t, event);
        self.stats.observe(event);
        if let Some(sink) = self.sink.as_deref_mut() {
            sink.event(t, event);
        }
    }
}

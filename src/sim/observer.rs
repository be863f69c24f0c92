//! Where every trace event goes: the checkers, the run digest, the summary counters, and the
//! trace sink when one is attached (and only then is anything formatted).

use super::stats::Stats;
use crate::check::{Checks, TableBounds};
use crate::ids::SimTime;
use crate::trace::{TraceDigest, TraceEvent, TraceSink};

pub(super) struct Observer<'s> {
    pub checks: Checks,
    /// Present when the run was asked for its trace digest.
    pub digest: Option<TraceDigest>,
    /// Trace events emitted.
    pub trace_events: u64,
    pub stats: Stats,
    pub sink: Option<&'s mut dyn TraceSink>,
}

impl<'s> Observer<'s> {
    pub fn new(
        nodes: u8,
        bounds: TableBounds,
        sink: Option<&'s mut dyn TraceSink>,
        digest: bool,
    ) -> Observer<'s> {
        Observer {
            checks: Checks::bounded(nodes, bounds),
            digest: digest.then(TraceDigest::default),
            trace_events: 0,
            stats: Stats::default(),
            sink,
        }
    }

    #[inline]
    pub fn emit(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        if let Some(digest) = &mut self.digest {
            digest.add(t, event);
        }
        self.trace_events += 1;
        self.checks.observe(t, event);
        self.stats.observe(event);
        if let Some(sink) = self.sink.as_deref_mut() {
            sink.event(t, event);
        }
    }
}

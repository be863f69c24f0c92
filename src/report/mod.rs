//! `run --html FILE` and `sweep --html-failures DIR`: a self-contained HTML timeline of one
//! run (docs/DESIGN.md §7). It is built only from the run's JSONL trace lines, recorded by a
//! sink when a report is asked for, and the run's summary: it observes the simulated world
//! and cannot change it.

mod html;
mod model;

use std::io;

pub use html::{Header, escape_html, render, script_safe};
pub use model::{Model, build, parse_violation};

use crate::ids::SimTime;
use crate::trace::{RecordingSink, TraceEvent, TraceSink};

/// Hands every event to a sink (the `--trace` one, if any) and records it for the report.
pub struct Tee<'a, 'b> {
    pub first: Option<&'a mut (dyn TraceSink + 'b)>,
    pub record: &'a mut RecordingSink,
}

impl TraceSink for Tee<'_, '_> {
    fn event(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        if let Some(first) = self.first.as_mut() {
            first.event(t, event);
        }
        self.record.event(t, event);
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.first.as_mut() {
            Some(first) => first.finish(),
            None => Ok(()),
        }
    }
}

/// The page for a run whose trace lines are `lines`.
pub fn page<S: AsRef<str>>(header: &Header, lines: &[S], nodes: u64, clients: u64) -> String {
    render(header, &build(lines, nodes, clients))
}

//! `--trace tracing`: every trace event as a `tracing` event (target `idemsim::trace`), so
//! any subscriber (filters, JSON logs, collectors) can consume a run. The message is the
//! text-trace line; `t_us` and `event` are structured fields.

use std::io;

use super::{TraceEvent, TraceSink, jsonl, text};
use crate::ids::SimTime;

/// Forwards events to the `tracing` dispatcher. Formats nothing when no subscriber listens.
#[derive(Debug, Default)]
pub struct TracingSink {
    line: String,
}

impl TraceSink for TracingSink {
    fn event(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        if !tracing::enabled!(target: "idemsim::trace", tracing::Level::INFO) {
            return;
        }
        self.line.clear();
        text::format_event(&mut self.line, event);
        let name = jsonl::event_name(event);
        let line = self.line.as_str();
        tracing::info!(target: "idemsim::trace", t_us = t.as_us(), event = name, "{line}");
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

//! Table size: a replica's dedup state stays within its bounds after every apply. With
//! `max_sessions`, it never holds more live sessions than that; and a client never has more
//! cached results than it may have requests in flight (its window), since every result below
//! its lowest unacknowledged seq must be forgotten. A table that breaks either grows without
//! bound under a long run.

use crate::trace::TraceEvent;
use crate::verdict::{Rule, Violations};

/// What the table is bounded by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableBounds {
    /// Most live sessions; 0: unbounded.
    pub max_sessions: u32,
    /// Requests in flight per client: most results cached per client.
    pub window: u32,
}

#[derive(Default)]
pub struct TableSize {
    bounds: TableBounds,
    /// Each bound is reported once: every later apply inherits the breach.
    reported_sessions: bool,
    reported_results: bool,
}

impl TableSize {
    pub fn new(bounds: TableBounds) -> TableSize {
        TableSize {
            bounds,
            ..TableSize::default()
        }
    }

    #[inline]
    pub fn observe(&mut self, event: &TraceEvent<'_>, found: &mut Violations) {
        let TraceEvent::Apply {
            node,
            index,
            payload,
            table,
            ..
        } = *event
        else {
            return;
        };
        let size = table.0;
        let max = self.bounds.max_sessions;
        if max > 0 && size.sessions > max && !self.reported_sessions {
            self.reported_sessions = true;
            found.push(
                Rule::TableSize,
                format!(
                    "{node} holds {} live sessions after applying index {index}, past \
                     max_sessions = {max}",
                    size.sessions
                ),
            );
        }
        let window = self.bounds.window.max(1);
        if size.results > window && !self.reported_results {
            self.reported_results = true;
            let about = payload.request().map(|r| (r.client, r.seq));
            let whose = match about {
                Some((client, seq)) => format!("client {client} (at its seq {seq})"),
                None => "a client".to_owned(),
            };
            found.push_about(
                Rule::TableSize,
                about,
                format!(
                    "{node} caches {} results for {whose} after applying index {index}, past \
                     its window of {window}: results below the lowest unacknowledged seq are \
                     not being forgotten",
                    size.results
                ),
            );
        }
    }
}

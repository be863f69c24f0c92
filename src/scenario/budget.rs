//! Run budgets (`[budget]`): bounds on events, log length and messages in flight, so that a
//! run of a broken design ends with a verdict that names the bound instead of exhausting the
//! machine. Each is derived from the scenario unless the file sets it.

use serde::Deserialize;

/// `[budget]` as written: each bound optional (derived when absent).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    pub events: Option<u64>,
    pub log_entries: Option<u64>,
    pub in_flight: Option<u64>,
}

/// The bounds a scenario set itself; `None` means derived (see [`Budget::derive`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BudgetSpec {
    pub events: Option<u64>,
    pub log_entries: Option<u64>,
    pub in_flight: Option<u64>,
}

/// The bounds a run is held to. A run that passes one stops with a `budget` violation
/// naming it: at once for events; for a log or the queue, at the next check (every 1,024
/// events), so a bound is never passed by more than what 1,024 events can add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Events processed (deliveries, timer firings, faults).
    pub events: u64,
    /// Entries in any one node's log.
    pub log_entries: u64,
    /// Events queued at once: messages in flight (copies included), plus a timer or two
    /// per process.
    pub in_flight: u64,
}

impl Budget {
    /// The derived bounds: far above what any correct run of the scenario needs (a correct
    /// run uses a few dozen events per operation, a log of about one entry per operation plus
    /// one per election, and a few messages per node and client in flight), and low enough
    /// that a run stopped at one costs seconds and tens of megabytes:
    ///
    /// - events: 1,000,000 + 500 per client operation + 10 per node per simulated ms;
    /// - log entries: 100,000, or 20 per client operation if that is more;
    /// - in flight: 10,000, or 100 per node pair and client if that is more.
    pub fn derive(nodes: u8, clients: u32, ops_per_client: u64, total_ms: u64) -> Budget {
        let ops = u64::from(clients) * ops_per_client;
        let nodes = u64::from(nodes);
        Budget {
            events: 1_000_000 + 500 * ops + 10 * nodes * total_ms,
            log_entries: 100_000u64.max(20 * ops),
            in_flight: 10_000u64.max(100 * (nodes * nodes + u64::from(clients))),
        }
    }

    /// The derived bounds, overridden where `spec` sets one.
    pub fn with(self, spec: BudgetSpec) -> Budget {
        Budget {
            events: spec.events.unwrap_or(self.events),
            log_entries: spec.log_entries.unwrap_or(self.log_entries),
            in_flight: spec.in_flight.unwrap_or(self.in_flight),
        }
    }
}

//! Writing a scenario back as a scenario file: every field spelled out, so the file says
//! exactly what runs and parses back to the same scenario.

use std::fmt::Write as _;

use super::Scenario;
use crate::raft::Reads;

/// `s` as TOML, after `comments` (each written as a `# ` line).
pub fn to_toml(s: &Scenario, comments: &[String]) -> String {
    let mut out = String::new();
    for line in comments {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "name = {}", quote(&s.name));
    if let Some(d) = &s.description {
        let _ = writeln!(out, "description = {}", quote(d));
    }
    let _ = writeln!(out, "seed = {}", s.seed);
    let _ = writeln!(out, "duration_ms = {}", s.duration_ms);
    let _ = writeln!(out, "liveness_ms = {}", s.liveness_ms);

    let c = &s.cluster;
    let _ = writeln!(out, "\n[cluster]");
    let _ = writeln!(out, "nodes = {}", c.nodes);
    let _ = writeln!(
        out,
        "election_timeout_ms = {}",
        range(c.election_timeout_ms)
    );
    let _ = writeln!(out, "heartbeat_ms = {}", c.heartbeat_ms);
    if c.snapshot_every > 0 {
        let _ = writeln!(out, "snapshot_every = {}", c.snapshot_every);
    }

    let n = &s.network;
    let _ = writeln!(out, "\n[network]");
    let _ = writeln!(out, "delay_ms = {}", range(n.delay_ms));
    let _ = writeln!(out, "drop = {}", float(n.drop));
    let _ = writeln!(out, "duplicate = {}", float(n.duplicate));

    let _ = writeln!(out, "\n[server]");
    let _ = writeln!(out, "dedup = {}", quote(s.dedup.name()));
    if s.server.session_timeout_ms > 0 {
        let _ = writeln!(out, "session_timeout_ms = {}", s.server.session_timeout_ms);
    }
    if s.server.max_sessions > 0 {
        let _ = writeln!(out, "max_sessions = {}", s.server.max_sessions);
    }
    if s.server.reads != Reads::Log {
        let _ = writeln!(out, "reads = {}", quote(s.server.reads.name()));
    }

    let k = &s.clients;
    let _ = writeln!(out, "\n[clients]");
    let _ = writeln!(out, "count = {}", k.count);
    let _ = writeln!(out, "ops = {}", k.ops);
    let _ = writeln!(out, "keys = {}", k.keys);
    let _ = writeln!(out, "timeout_ms = {}", k.timeout_ms);
    let _ = writeln!(out, "think_ms = {}", range(k.think_ms));
    let [put, append, incr, delete, get] = k.mix.weights;
    let _ = writeln!(
        out,
        "mix = {{ put = {put}, append = {append}, incr = {incr}, delete = {delete}, get = {get} }}"
    );
    let _ = writeln!(out, "on_restart = {}", quote(k.on_restart.name()));
    if k.window != 1 {
        let _ = writeln!(out, "window = {}", k.window);
    }
    if k.register {
        let _ = writeln!(out, "register = true");
    }

    for f in &s.faults {
        super::faults::write(&mut out, f);
    }

    let b = &s.budget;
    if *b != super::BudgetSpec::default() {
        let _ = writeln!(out, "\n[budget]");
        for (key, value) in [
            ("events", b.events),
            ("log_entries", b.log_entries),
            ("in_flight", b.in_flight),
        ] {
            if let Some(v) = value {
                let _ = writeln!(out, "{key} = {v}");
            }
        }
    }

    if let Some(w) = &s.swarm {
        let _ = writeln!(out, "\n[swarm]");
        let _ = writeln!(out, "crashes = {}", w.crashes);
        let _ = writeln!(out, "partitions = {}", w.partitions);
        let _ = writeln!(out, "network = {}", w.network);
        let _ = writeln!(out, "client_crashes = {}", w.client_crashes);
        let _ = writeln!(out, "replays = {}", w.replays);
        let _ = writeln!(out, "timeouts = {}", w.timeouts);
        let _ = writeln!(out, "sessions = {}", w.sessions);
    }
    out
}

fn quote(s: &str) -> String {
    // A TOML basic string has JSON's escapes for everything a name or description can hold.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn range((min, max): (u64, u64)) -> String {
    format!("[{min}, {max}]")
}

/// A probability that reads back as the same `f64` (Rust prints the shortest such form).
pub(super) fn float(p: f64) -> String {
    let text = p.to_string();
    if text.contains('.') || text.contains('e') {
        text
    } else {
        format!("{text}.0")
    }
}

//! The summary of a run: for people (`--format text`) and for tools (`--format json`,
//! docs/DESIGN.md §9).

use std::fmt::Write as _;
use std::time::Duration;

use crate::raft::{ReadPath, Reads};
use crate::sim::RunReport;
use crate::sim::determinism::Determinism;
use crate::verdict::Rule;

pub(super) use crate::verdict::thousands;

pub(super) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// Render the summary. `wall` is the wall time of the (first) run; without it (for
/// snapshots, which must not depend on the machine) the time line leaves out wall-clock
/// figures.
pub fn render(
    report: &RunReport,
    wall: Option<Duration>,
    determinism: Option<&Determinism>,
    replay: &str,
) -> String {
    let s = &report.stats;
    let mut out = String::new();
    let total_ops = u64::from(report.clients) * report.ops_per_client;
    let _ = writeln!(out, "scenario  {}  seed {}", report.scenario, report.seed);
    let _ = writeln!(
        out,
        "cluster   {} · {} × {} · dedup={}",
        plural(u64::from(report.nodes), "node", "nodes"),
        plural(u64::from(report.clients), "client", "clients"),
        plural(report.ops_per_client, "op", "ops"),
        report.dedup.name()
    );
    if let Some(profile) = &report.swarm {
        let _ = writeln!(out, "swarm     {profile}");
    }
    let mut ended = String::new();
    if s.refused > 0 {
        let _ = write!(ended, ", {} refused", thousands(s.refused));
        if s.expired_ops > 0 {
            let _ = write!(ended, " ({} session-expired)", thousands(s.expired_ops));
        }
    }
    if s.abandoned > 0 {
        let _ = write!(ended, ", {} abandoned", thousands(s.abandoned));
    }
    let _ = writeln!(
        out,
        "ops       {} completed{ended}, {} pending · {} · {} · {} detected ({} at apply, {} on receive)",
        thousands(s.completed),
        thousands(total_ops.saturating_sub(s.completed + s.refused + s.abandoned)),
        plural(s.timeouts, "retry", "retries"),
        plural(s.redirects, "redirect", "redirects"),
        plural(s.duplicates(), "duplicate", "duplicates"),
        thousands(s.duplicates_at_apply),
        thousands(s.duplicates_at_receive),
    );
    if s.registrations > 0 || s.sessions_expired > 0 || s.sessions_evicted > 0 {
        let _ = writeln!(
            out,
            "sessions  {} · {} · {}",
            plural(s.registrations, "registration", "registrations"),
            plural(s.sessions_expired, "expired", "expired"),
            plural(s.sessions_evicted, "evicted", "evicted"),
        );
    }
    if report.reads != Reads::Log {
        let by_path: Vec<String> = ReadPath::ALL
            .into_iter()
            .filter(|&p| s.reads[p as usize] > 0)
            .map(|p| format!("{} by {}", thousands(s.reads[p as usize]), p.name()))
            .collect();
        let _ = writeln!(
            out,
            "reads     reads={} · {} answered outside the log{}{}",
            report.reads.name(),
            thousands(s.reads.iter().sum()),
            if by_path.is_empty() { "" } else { ": " },
            by_path.join(", ")
        );
    }
    if s.snapshots > 0 || s.installs > 0 {
        let _ = writeln!(
            out,
            "snapshots {} taken · {} installed from a leader",
            thousands(s.snapshots),
            thousands(s.installs),
        );
    }
    let mut faults = format!(
        "faults    {}, {} · {} · {}",
        plural(s.crashes, "crash", "crashes"),
        plural(s.restarts, "restart", "restarts"),
        plural(s.leader_changes, "leader change", "leader changes"),
        plural(s.partitions, "partition", "partitions"),
    );
    if s.client_crashes > 0 {
        let _ = write!(
            faults,
            " · {}",
            plural(s.client_crashes, "client crash", "client crashes")
        );
    }
    if s.replays > 0 {
        let _ = write!(
            faults,
            " · {}",
            plural(s.replays, "replayed request", "replayed requests")
        );
    }
    if s.faults_skipped > 0 {
        let _ = write!(
            faults,
            " · {} never triggered",
            plural(s.faults_skipped, "fault", "faults")
        );
    }
    let _ = writeln!(out, "{faults}");
    for (i, spec) in &report.skipped_faults {
        let _ = writeln!(
            out,
            "          faults[{i}] ({spec}) never triggered during the fault phase"
        );
    }
    let n = &s.network;
    let _ = writeln!(
        out,
        "network   {} · {} lost · {} duplicated · {} cut by partitions",
        plural(n.sent, "message", "messages"),
        thousands(n.lost),
        thousands(n.duplicated),
        thousands(n.partitioned),
    );
    let sim_s = report.end.as_secs_f64();
    match wall {
        Some(wall) => {
            let wall_s = wall.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "time      {:.3} s simulated in {:.3} s wall ({}x) · {} · {} events/s",
                sim_s,
                wall.as_secs_f64(),
                thousands((sim_s / wall_s) as u64),
                plural(report.events, "event", "events"),
                thousands((report.events as f64 / wall_s) as u64),
            );
        }
        None => {
            let _ = writeln!(
                out,
                "time      {:.3} s simulated · {}",
                sim_s,
                plural(report.events, "event", "events"),
            );
        }
    }
    match determinism {
        None => {}
        Some(Determinism::Identical { digest }) => {
            let _ = writeln!(
                out,
                "determinism  identical: 2 runs, same trace (digest {digest:016x})"
            );
        }
        Some(Determinism::Diverged {
            event,
            first,
            second,
        }) => {
            let _ = writeln!(
                out,
                "determinism  DIVERGED at trace event #{event}\n          run 1: {}\n          run 2: {}",
                first.as_deref().unwrap_or("(run had ended)"),
                second.as_deref().unwrap_or("(run had ended)")
            );
        }
        Some(Determinism::Flaky { first, second }) => {
            let _ = writeln!(
                out,
                "determinism  DIVERGED: digests {first:016x} and {second:016x} differ, but two \
                 more recorded runs agreed (nondeterminism that comes and goes)"
            );
        }
    }
    for note in report.violations.notes() {
        let _ = writeln!(out, "note      {note}");
    }
    if report.passed() {
        let rules: Vec<String> = Rule::ALL.iter().map(|r| format!("{r} ok")).collect();
        let _ = writeln!(out, "verdict   PASS  {}", rules.join(" · "));
    } else {
        let kept = report.violations.kept();
        for (i, v) in kept.iter().enumerate() {
            let head = if i == 0 {
                "verdict   FAIL  "
            } else {
                "                "
            };
            let _ = writeln!(out, "{head}{v}");
        }
        let hidden = report.violations.total() - kept.len() as u64;
        if hidden > 0 {
            let _ = writeln!(out, "                … and {} more", thousands(hidden));
        }
    }
    let diverged = determinism.is_some_and(Determinism::failed);
    if !report.passed() || diverged {
        let _ = writeln!(out, "replay    {replay}");
    }
    out
}

/// The summary as one JSON object (`run --format json`). `wall`: as for [`render`].
pub fn json(
    report: &RunReport,
    wall: Option<Duration>,
    determinism: Option<&Determinism>,
    replay: &str,
) -> serde_json::Value {
    let s = &report.stats;
    let n = &s.network;
    let sim_s = report.end.as_secs_f64();
    let wall_s = wall.map(|w| w.as_secs_f64());
    let per_s = |x: f64| wall_s.map(|w| x / w.max(1e-9));
    let violations: Vec<String> = report
        .violations
        .kept()
        .iter()
        .map(ToString::to_string)
        .collect();
    let rules: Vec<&str> = report.violations.broken().iter().map(Rule::name).collect();
    let skipped: Vec<serde_json::Value> = report
        .skipped_faults
        .iter()
        .map(|(i, spec)| {
            serde_json::json!({
                "fault": i,
                "kind": spec.kind.tag().name(),
                "at_ms": spec.at_ms,
                "what": spec.to_string(),
            })
        })
        .collect();
    let determinism = determinism.map(|d| match d {
        Determinism::Identical { digest } => {
            serde_json::json!({ "identical": true, "digest": format!("{digest:016x}") })
        }
        Determinism::Diverged {
            event,
            first,
            second,
        } => serde_json::json!({
            "identical": false, "event": event, "first": first, "second": second,
        }),
        Determinism::Flaky { first, second } => serde_json::json!({
            "identical": false,
            "first_digest": format!("{first:016x}"),
            "second_digest": format!("{second:016x}"),
        }),
    });
    serde_json::json!({
        "scenario": report.scenario,
        "seed": report.seed,
        "dedup": report.dedup.name(),
        "nodes": report.nodes,
        "clients": report.clients,
        "ops_per_client": report.ops_per_client,
        "ops_completed": s.completed,
        "ops_refused": s.refused,
        "ops_session_expired": s.expired_ops,
        "sessions_registered": s.registrations,
        "sessions_expired": s.sessions_expired,
        "sessions_evicted": s.sessions_evicted,
        "reads": report.reads.name(),
        "reads_outside_log": ReadPath::ALL
            .into_iter()
            .map(|p| (p.name().to_owned(), serde_json::Value::from(s.reads[p as usize])))
            .collect::<serde_json::Map<_, _>>(),
        "snapshots": s.snapshots,
        "snapshots_installed": s.installs,
        "ops_abandoned": s.abandoned,
        "retries": s.timeouts,
        "redirects": s.redirects,
        "duplicates": s.duplicates(),
        "duplicates_at_apply": s.duplicates_at_apply,
        "duplicates_at_receive": s.duplicates_at_receive,
        "crashes": s.crashes,
        "restarts": s.restarts,
        "client_crashes": s.client_crashes,
        "leader_changes": s.leader_changes,
        "partitions": s.partitions,
        "replays": s.replays,
        "faults_skipped": skipped,
        "messages": n.sent,
        "messages_lost": n.lost,
        "messages_duplicated": n.duplicated,
        "messages_cut": n.partitioned,
        "events": report.events,
        "sim_s": sim_s,
        "wall_s": wall_s,
        "events_per_s": per_s(report.events as f64),
        "sim_per_wall": per_s(sim_s),
        "swarm": report.swarm.as_ref().map(ToString::to_string),
        "determinism": determinism,
        "ok": report.passed(),
        "exit_code": report.exit_code(),
        "rules_broken": rules,
        "violations": violations,
        "notes": report.violations.notes(),
        "violations_total": report.violations.total(),
        "replay": (!report.passed()).then_some(replay),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
        ];
        for (i, (n, want)) in cases.into_iter().enumerate() {
            assert_eq!(thousands(n), want, "case {i}");
        }
    }
}

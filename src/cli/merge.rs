//! `idemsim merge`: the JSONL outputs of sweep shards, as one report.

use std::fs::File;
use std::io::{self, BufReader, Write};

use super::catch_table::{aligned, rules, verdict};
use super::net::EXIT_IO;
use super::summary::{plural, thousands};
use super::sweep::{fail_line, render_totals};
use super::{Format, MergeArgs};
use crate::campaign::merge::{MergeError, Merged, Merger, build_id};
use crate::scenario::FaultTag;
use crate::verdict::Rule;

/// Input that holds no campaign (as for malformed input).
const EXIT_DATA: u8 = 65;

pub fn merge(args: &MergeArgs) -> u8 {
    let merged = match read(args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    if merged.totals.runs == 0 {
        eprintln!(
            "error: the files hold no sweep lines, so there is no campaign to report (did the \
             shards run? an empty shard file is fine beside others)"
        );
        return EXIT_DATA;
    }
    let text = match args.format {
        Format::Text => render(&merged),
        Format::Jsonl => format!("{}\n", json(&merged)),
    };
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A reader that went away (`| head`) is no error of ours; any other failure to write
        // must not pass for a verdict.
        if e.kind() == io::ErrorKind::BrokenPipe {
            return merged.exit_code().max(1);
        }
        eprintln!("error: writing the report failed: {e}");
        return EXIT_IO;
    }
    merged.exit_code()
}

fn read(args: &MergeArgs) -> Result<Merged, MergeError> {
    let mut merger = Merger::new();
    for path in &args.files {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| MergeError::Read {
            file: name.clone(),
            message: e.to_string(),
        })?;
        merger.add_file(&name, BufReader::new(file))?;
    }
    Ok(merger.finish())
}

/// `build 3f…  (idemsim 0.1.0, commit 1a2b…)`.
fn build_text(build: &serde_json::Value) -> String {
    let field = |k: &str| build.get(k).and_then(serde_json::Value::as_str);
    format!(
        "build {} (idemsim {}, commit {})",
        build_id(build),
        field("version").unwrap_or("?"),
        field("commit").unwrap_or("unknown"),
    )
}

/// The failing seeds (smallest first) with their replay commands, the catch-table rows
/// when a flawed design was swept, then the totals. Nothing in it depends on how the runs
/// were split into files, or on the wall clock.
fn render(m: &Merged) -> String {
    let mut out = String::new();
    for f in &m.failures {
        let rules: Vec<&str> = f.rules.iter().map(String::as_str).collect();
        out.push_str(&fail_line(&f.scenario, f.seed, &rules, &f.replay));
        out.push('\n');
    }
    if m.flawed_designs() {
        let mut lines = vec![vec![
            "design".to_owned(),
            "verdict".to_owned(),
            "rules broken (runs)".to_owned(),
            "caught first by".to_owned(),
            "failed runs".to_owned(),
        ]];
        for row in &m.designs {
            lines.push(vec![
                row.name.clone(),
                verdict(row.correct, row.as_expected()).to_owned(),
                rules(&row.rules),
                row.first
                    .as_ref()
                    .map_or_else(|| "—".to_owned(), |(seed, s)| format!("{s} seed {seed}")),
                format!("{} / {}", thousands(row.failed), thousands(row.runs)),
            ]);
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&aligned(&lines));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    match (&m.build, m.seeds) {
        (Some(build), Some((lo, hi))) => out.push_str(&format!(
            "merge     {} × seeds {lo}..={hi} · {} · {}\n",
            plural(m.scenarios.len() as u64, "scenario", "scenarios"),
            plural(m.designs.len() as u64, "design", "designs"),
            build_text(build),
        )),
        _ => out.push_str("merge     no runs: the files hold no sweep lines\n"),
    }
    if let Some(gaps) = gaps(m) {
        out.push_str(&format!("gaps      {gaps}\n"));
    }
    out.push_str(&render_totals(&m.totals));
    out
}

/// What the campaigns planned and the files do not hold: `1,234 runs missing: shard 1/4 not
/// given; shard 2/4 stopped early (--max-failures or Ctrl-C)`. `None` when nothing is missing.
fn gaps(m: &Merged) -> Option<String> {
    if m.missing_runs == 0 && m.missing_shards == 0 && m.stopped_shards.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if m.missing_shards > 0 {
        let mut names = m.missing_shard_names.join(", ");
        let more = m.missing_shards - m.missing_shard_names.len() as u64;
        if more > 0 {
            names.push_str(&format!(" and {} more", thousands(more)));
        }
        let noun = if m.missing_shards == 1 {
            "shard"
        } else {
            "shards"
        };
        parts.push(format!("{noun} {names} not given"));
    }
    if !m.stopped_shards.is_empty() {
        let noun = if m.stopped_shards.len() == 1 {
            "shard"
        } else {
            "shards"
        };
        parts.push(format!(
            "{noun} {} stopped early (--max-failures or Ctrl-C)",
            m.stopped_shards.join(", ")
        ));
    }
    Some(format!(
        "{}: {}",
        plural(m.missing_runs, "run missing", "runs missing"),
        parts.join("; ")
    ))
}

/// One JSON object: the build, the totals, the design rows and the failing runs.
fn json(m: &Merged) -> serde_json::Value {
    let t = &m.totals;
    let by_rule: serde_json::Map<String, serde_json::Value> = Rule::ALL
        .iter()
        .map(|&r| (r.name().to_owned(), t.broke(r).into()))
        .collect();
    let untriggered: serde_json::Map<String, serde_json::Value> = FaultTag::ALL
        .into_iter()
        .zip(t.untriggered)
        .filter(|&(_, n)| n > 0)
        .map(|(tag, n)| (tag.name().to_owned(), n.into()))
        .collect();
    let designs: Vec<serde_json::Value> = m
        .designs
        .iter()
        .map(|d| {
            serde_json::json!({
                "design": d.name,
                "correct": d.correct,
                "as_expected": d.as_expected(),
                "runs": d.runs,
                "failed": d.failed,
                "rules": d.rules.iter().map(|(r, n)| serde_json::json!({"rule": r.name(), "runs": n})).collect::<Vec<_>>(),
                "caught_by": d.first.as_ref().map(|(seed, s)| serde_json::json!({"scenario": s, "seed": seed})),
            })
        })
        .collect();
    let failures: Vec<serde_json::Value> = m
        .failures
        .iter()
        .map(|f| {
            serde_json::json!({
                "scenario": f.scenario,
                "file": f.file,
                "seed": f.seed,
                "design": f.design,
                "rules": f.rules,
                "violation": f.violation,
                "replay": f.replay,
            })
        })
        .collect();
    let sim = |q| (t.runs > 0).then(|| t.sim_quantile_us(q) as f64 / 1e6);
    serde_json::json!({
        "build": m.build,
        "scenarios": m.scenarios,
        "seed_min": m.seeds.map(|s| s.0),
        "seed_max": m.seeds.map(|s| s.1),
        "missing_runs": m.missing_runs,
        "missing_shards": m.missing_shards,
        "missing_shard_names": m.missing_shard_names,
        "stopped_shards": m.stopped_shards,
        "runs": t.runs,
        "passed": t.runs - t.failed,
        "failed": t.failed,
        "by_rule": by_rule,
        "duplicates": t.duplicates,
        "retries": t.retries,
        "crashes": t.crashes,
        "events": t.events,
        "untriggered": untriggered,
        "sim_s_median": sim(0.5),
        "sim_s_p95": sim(0.95),
        "designs": designs,
        "failures": failures,
        "exit_code": m.exit_code(),
    })
}

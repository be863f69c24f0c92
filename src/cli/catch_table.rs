//! `idemsim catch-table`.

use std::path::Path;
use std::time::Instant;

use super::summary::thousands;
use super::{CatchTableArgs, Format, progress, targets};
use crate::campaign::Target;
use crate::campaign::catch::{CatchRow, Design, Detection, catch_table as compute};
use crate::verdict::Rule;

pub fn catch_table(args: &CatchTableArgs) -> u8 {
    let paths = if args.scenarios.is_empty() {
        match targets::shipped(Path::new("sim-scenarios")) {
            Ok(paths) => paths,
            Err(code) => return code,
        }
    } else {
        args.scenarios.clone()
    };
    let targets = match targets::load(&paths, None) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let jobs = super::jobs(args.jobs);
    let total = args.seeds.len() * targets.len() as u64 * Design::all().len() as u64;
    let bar = progress::bar(total, "catch-table");
    let started = Instant::now();
    progress::quiet_run_panics();
    let rows = compute(&targets, args.seeds, jobs, || bar.inc(1));
    bar.finish_and_clear();
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: cannot start {jobs} worker threads: {e}");
            return 2;
        }
    };
    match args.format {
        Format::Text => print!(
            "{}",
            render(&rows, &targets, args, started.elapsed().as_secs_f64())
        ),
        Format::Jsonl => {
            for row in &rows {
                println!("{}", json_row(row, &targets));
            }
        }
    }
    if rows.iter().all(CatchRow::as_expected) {
        0
    } else {
        1
    }
}

fn caught_by(row: &CatchRow, targets: &[Target]) -> String {
    match row.first {
        Some((t, seed)) => format!("{} seed {seed}", targets[t].scenario.name),
        None => "—".to_owned(),
    }
}

/// `exactly-once (12), liveness (1)`, or `—`.
pub(super) fn rules(rules: &[(Rule, u64)]) -> String {
    if rules.is_empty() {
        return "—".to_owned();
    }
    let parts: Vec<String> = rules
        .iter()
        .map(|(rule, n)| format!("{rule} ({n})"))
        .collect();
    parts.join(", ")
}

fn or_dash(v: Option<u64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

/// `1 / 3 on vote-crashes`, with `!` after a median above [`Detection::SLOW_MEDIAN`].
fn detection(row: &CatchRow, targets: &[Target]) -> String {
    match row.detection {
        None => "—".to_owned(),
        Some(d) => format!(
            "{}{} / {} on {}",
            d.median,
            if d.median > Detection::SLOW_MEDIAN {
                " !"
            } else {
                ""
            },
            d.max_text(),
            targets[d.target].scenario.name
        ),
    }
}

fn render(rows: &[CatchRow], targets: &[Target], args: &CatchTableArgs, wall_s: f64) -> String {
    let runs: u64 = rows.iter().map(|r| r.runs).sum();
    let mut lines = vec![vec![
        "design".to_owned(),
        "verdict".to_owned(),
        "rules broken (runs)".to_owned(),
        "caught first by".to_owned(),
        "seeds needed".to_owned(),
        "seeds to detection: median / max".to_owned(),
        "failed runs".to_owned(),
    ]];
    for row in rows {
        lines.push(vec![
            row.design.name(),
            verdict(row.design.is_correct(), row.as_expected()).to_owned(),
            rules(&row.rules),
            caught_by(row, targets),
            or_dash(row.seeds_needed),
            detection(row, targets),
            format!("{} / {}", thousands(row.failed), thousands(row.runs)),
        ]);
    }
    let mut out = aligned(&lines);
    out.push_str(&format!(
        "\n{} × seeds {} × {} designs = {} runs in {wall_s:.1} s.\nSeeds needed: a sweep from \
         seed {} catches it after this many seeds on the scenario that catches it first.\n\
         Seeds to detection: over every starting seed of the range, the seeds a sweep from \
         there runs until its first failure, on the scenario where that is fewest (median, \
         then maximum; >N: the range ran out after N). ! marks a median above {}.\n",
        super::summary::plural(targets.len() as u64, "scenario", "scenarios"),
        args.seeds,
        rows.len(),
        thousands(runs),
        args.seeds.start,
        Detection::SLOW_MEDIAN
    ));
    out
}

/// A correct design never fails; a flawed one is caught.
pub(super) fn verdict(correct: bool, as_expected: bool) -> &'static str {
    match (correct, as_expected) {
        (true, true) => "never fails",
        (true, false) => "FAILS (a bug)",
        (false, true) => "caught",
        (false, false) => "NOT CAUGHT",
    }
}

/// Rows of cells as left-aligned columns two spaces apart (the first row is the header).
pub(super) fn aligned(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn json_row(row: &CatchRow, targets: &[Target]) -> String {
    let rules: Vec<serde_json::Value> = row
        .rules
        .iter()
        .map(|(rule, n)| serde_json::json!({ "rule": rule.name(), "runs": n }))
        .collect();
    serde_json::json!({
        "design": row.design.name(),
        "correct": row.design.is_correct(),
        "as_expected": row.as_expected(),
        "runs": row.runs,
        "failed": row.failed,
        "rules": rules,
        "caught_by": row.first.map(|(t, seed)| serde_json::json!({
            "scenario": targets[t].scenario.name,
            "file": targets[t].path.as_ref().map(|p| p.display().to_string()),
            "seed": seed,
        })),
        "seeds_needed": row.seeds_needed,
        "median_seeds": row.detection.map(|d| d.median),
        "max_seeds": row.detection.map(|d| d.max),
        "max_past_range": row.detection.map(|d| d.past_range),
        "detected_on": row.detection.map(|d| targets[d.target].scenario.name.clone()),
        "slow": row.detection.is_none_or(|d| d.median > Detection::SLOW_MEDIAN),
    })
    .to_string()
}

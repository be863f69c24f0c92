//! `idemsim sweep`.

use std::io::{self, BufWriter, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::html;
use super::net::EXIT_IO;
use super::run::replay_command;
use super::summary::{plural, thousands};
use super::{Format, SweepArgs, progress, targets};
use crate::campaign::{self, Plan, RunSummary, Target, Totals};
use crate::scenario::FaultTag;
use crate::trace::RecordingSink;
use crate::verdict::Rule;

pub fn sweep(args: &SweepArgs) -> u8 {
    let targets = match targets::load(&args.scenarios, Some(&args.design)) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let plan = Plan {
        targets: &targets,
        seeds: args.seeds,
        shard: args.shard,
        jobs: super::jobs(args.jobs),
    };
    if let Some(dir) = &args.html_failures {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!(
                "error: cannot create the --html-failures directory {}: {e}",
                dir.display()
            );
            return EXIT_IO;
        }
    }
    let bar = progress::bar(plan.runs(), "sweep");
    let mut html_error = None;
    let mut totals = Totals::default();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut write_error = None;
    let started = Instant::now();
    progress::quiet_run_panics();
    let swept = campaign::sweep(
        &plan,
        |run| {
            totals.add(run);
            let page = match (&args.html_failures, run.passed()) {
                (Some(dir), false) => match bar.suspend(|| write_page(dir, &targets, run)) {
                    Ok(page) => page,
                    Err(e) => {
                        html_error = Some(e);
                        return false;
                    }
                },
                _ => None,
            };
            let line = match args.format {
                Format::Text if run.passed() => return true,
                Format::Text => {
                    let mut line = failure_line(&targets, run);
                    if let Some(page) = &page {
                        line.push_str(&format!("  html {}", page.display()));
                    }
                    line
                }
                Format::Jsonl => json_line(&targets, run, page.as_deref()),
            };
            let written = bar.suspend(|| writeln!(out, "{line}"));
            // A reader that went away (a closed pipe) ends the sweep.
            write_error = written.err();
            write_error.is_none()
        },
        || bar.inc(1),
    );
    bar.finish_and_clear();
    let wall = started.elapsed();
    if let Err(e) = swept {
        eprintln!("error: cannot start {} worker threads: {e}", plan.jobs);
        return 2;
    }
    let flushed = out.flush();
    drop(out);
    if let Some(e) = html_error {
        eprintln!("error: {e}");
        return EXIT_IO;
    }
    if let Some(e) = write_error.or(flushed.err()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("error: writing the results failed: {e}");
        }
        return totals.exit_code().max(1);
    }
    let table = render_totals(args, &plan, &totals, wall);
    let written = if args.format == Format::Jsonl {
        io::stderr().write_all(table.as_bytes())
    } else {
        io::stdout().write_all(table.as_bytes())
    };
    if let Some(e) = written
        .err()
        .filter(|e| e.kind() != io::ErrorKind::BrokenPipe)
    {
        eprintln!("error: writing the totals failed: {e}");
    }
    totals.exit_code()
}

fn replay(targets: &[Target], run: &RunSummary) -> String {
    let target = &targets[run.target];
    replay_command(target.path.as_deref(), run.seed, &target.scenario)
}

/// `FAIL  <scenario>  seed <N>  <rules>  <replay command>`: one line, greppable.
fn failure_line(targets: &[Target], run: &RunSummary) -> String {
    let rules: Vec<&str> = run.rules().map(Rule::name).collect();
    format!(
        "FAIL  {}  seed {}  {}  {}",
        targets[run.target].scenario.name,
        run.seed,
        rules.join(","),
        replay(targets, run)
    )
}

/// Run a failing seed again, recording its trace, and write its timeline page into `dir`.
/// `Ok(None)`: the run panicked again, so there is no page (the sweep line still names it).
fn write_page(dir: &Path, targets: &[Target], run: &RunSummary) -> Result<Option<PathBuf>, String> {
    let target = &targets[run.target];
    let stem = target
        .path
        .as_deref()
        .and_then(Path::file_stem)
        .map_or_else(
            || target.scenario.name.clone(),
            |s| s.to_string_lossy().into_owned(),
        );
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{stem}-seed{}.html", run.seed));
    let replay = replay(targets, run);
    let mut record = RecordingSink::default();
    let rerun = panic::catch_unwind(AssertUnwindSafe(|| {
        html::run_into(
            &target.scenario,
            run.seed,
            &replay,
            false,
            None,
            Some(&mut record),
        )
        .0
    }));
    let Ok(report) = rerun else {
        return Ok(None);
    };
    html::write(&path, &report, &replay, &record.lines)
        .map_err(|e| format!("cannot write the HTML report {}: {e}", path.display()))?;
    Ok(Some(path))
}

/// One JSON object per run (with the path of its timeline page, when one was written).
fn json_line(targets: &[Target], run: &RunSummary, page: Option<&Path>) -> String {
    let target = &targets[run.target];
    let rules: Vec<&str> = run.rules().map(Rule::name).collect();
    let line = serde_json::json!({
        "scenario": target.scenario.name,
        "file": target.path.as_ref().map(|p| p.display().to_string()),
        "seed": run.seed,
        "ok": run.passed(),
        "rules": rules,
        "violation": run.first.as_ref().map(ToString::to_string),
        "exit_code": run.exit_code,
        "completed": run.completed,
        "abandoned": run.abandoned,
        "duplicates": run.duplicates,
        "retries": run.retries,
        "crashes": run.crashes,
        "events": run.events,
        "sim_us": run.sim_us,
        "swarm": run.swarm,
        "untriggered": untriggered_json(&run.untriggered),
        "replay": replay(targets, run),
    });
    let mut line = line;
    if let Some(page) = page {
        line["html"] = page.display().to_string().into();
    }
    line.to_string()
}

/// Untriggered faults by kind name, only the kinds that have some.
fn untriggered_json(counts: &[u32; FaultTag::COUNT]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = FaultTag::ALL
        .into_iter()
        .zip(counts)
        .filter(|&(_, &n)| n > 0)
        .map(|(tag, &n)| (tag.name().to_owned(), n.into()))
        .collect();
    map.into()
}

fn render_totals(args: &SweepArgs, plan: &Plan<'_>, totals: &Totals, wall: Duration) -> String {
    let mut designs = Vec::new();
    if let Some(d) = args.design.dedup {
        designs.push(format!("dedup={}", d.name()));
    }
    if let Some(r) = args.design.reads {
        designs.push(format!("reads={}", r.name()));
    }
    if let Some(r) = args.design.on_restart {
        designs.push(format!("on_restart={}", r.name()));
    }
    for m in &args.design.mutations {
        designs.push(format!("mutation={m}"));
    }
    if args.design.swarm {
        designs.push("swarm".to_owned());
    }
    if designs.is_empty() {
        designs.push("designs from each scenario".to_owned());
    }
    let secs = wall.as_secs_f64().max(1e-9);
    let rules: Vec<String> = Rule::ALL
        .iter()
        .map(|&r| format!("{r} {}", thousands(totals.broke(r))))
        .collect();
    let mut out = String::new();
    out.push_str(&format!(
        "sweep     {} × seeds {} (shard {}) · {} · {}\n",
        plural(plan.targets.len() as u64, "scenario", "scenarios"),
        plan.seeds,
        plan.shard,
        designs.join(" · "),
        plural(plan.jobs as u64, "job", "jobs"),
    ));
    out.push_str(&format!(
        "runs      {} · {} passed · {} failed\n",
        thousands(totals.runs),
        thousands(totals.runs - totals.failed),
        thousands(totals.failed)
    ));
    out.push_str(&format!("failures  {}\n", rules.join(" · ")));
    out.push_str(&format!(
        "work      {} detected · {} · {}\n",
        plural(totals.duplicates, "duplicate", "duplicates"),
        plural(totals.retries, "retry", "retries"),
        plural(totals.crashes, "crash", "crashes"),
    ));
    let untriggered: Vec<String> = FaultTag::ALL
        .into_iter()
        .zip(totals.untriggered)
        .filter(|&(_, n)| n > 0)
        .map(|(tag, n)| format!("{} {}", tag.name(), thousands(n)))
        .collect();
    if !untriggered.is_empty() {
        out.push_str(&format!(
            "skipped   {} (faults whose moment never came: fault_skipped in the trace)\n",
            untriggered.join(" · ")
        ));
    }
    if totals.runs > 0 {
        out.push_str(&format!(
            "sim time  median {:.3} s · p95 {:.3} s to finish a run\n",
            totals.sim_quantile_us(0.5) as f64 / 1e6,
            totals.sim_quantile_us(0.95) as f64 / 1e6
        ));
    }
    out.push_str(&format!(
        "speed     {} runs/s · {} events/s · {:.2} s wall\n",
        thousands((totals.runs as f64 / secs) as u64),
        thousands((totals.events as f64 / secs) as u64),
        secs
    ));
    out
}

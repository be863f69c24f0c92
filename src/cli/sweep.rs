//! `idemsim sweep`.

use std::io::{self, BufWriter, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::build_info::{self, BuildInfo};
use super::html;
use super::net::EXIT_IO;
use super::run::replay_command;
use super::summary::{plural, thousands};
use super::{EXIT_USAGE, Format, ShardArg, SweepArgs, progress, targets};
use crate::campaign::catch::Design;
use crate::campaign::merge::{LineCampaign, LineDesign, SweepLine};
use crate::campaign::{self, Plan, RunSummary, Shard, Target, Totals};
use crate::scenario::FaultTag;
use crate::trace::RecordingSink;
use crate::verdict::Rule;

/// Exit code of a sweep stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The environment variables `--shard auto` reads.
pub const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";
pub const JOB_COUNT_VAR: &str = "JOB_COMPLETIONS";
pub const SHARD_VAR: &str = "IDEMSIM_SHARD";

/// `--shard auto`: the shard a Kubernetes Indexed Job gives (`JOB_COMPLETION_INDEX` of
/// `JOB_COMPLETIONS`), or else `IDEMSIM_SHARD=K/N`. Each argument is that variable's value
/// (`None` or empty: unset). Returns the shard and where it came from.
pub fn auto_shard(
    job_index: Option<&str>,
    job_count: Option<&str>,
    idemsim_shard: Option<&str>,
) -> Result<(Shard, String), String> {
    fn set(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    match (set(job_index), set(job_count)) {
        (Some(k), Some(n)) => {
            let number = |name: &str, v: &str| {
                v.parse::<u64>().map_err(|_| {
                    format!(
                        "--shard auto: {name}={v:?} is not a number (0 to {})",
                        u64::MAX
                    )
                })
            };
            let (index, count) = (number(JOB_INDEX_VAR, k)?, number(JOB_COUNT_VAR, n)?);
            if count == 0 {
                return Err(format!(
                    "--shard auto: {JOB_COUNT_VAR}=0, but a campaign splits into at least 1 shard"
                ));
            }
            if index >= count {
                return Err(format!(
                    "--shard auto: {JOB_INDEX_VAR}={index} must be below {JOB_COUNT_VAR}={count}"
                ));
            }
            Ok((
                Shard { index, count },
                format!("{JOB_INDEX_VAR}/{JOB_COUNT_VAR}"),
            ))
        }
        (Some(_), None) | (None, Some(_)) => Err(format!(
            "--shard auto: {JOB_INDEX_VAR} and {JOB_COUNT_VAR} go together (a Kubernetes Indexed \
             Job sets the index; set {JOB_COUNT_VAR} to the Job's completions), but only {} is set",
            if set(job_index).is_some() {
                JOB_INDEX_VAR
            } else {
                JOB_COUNT_VAR
            }
        )),
        (None, None) => match set(idemsim_shard) {
            Some(v) => v
                .parse::<Shard>()
                .map(|shard| (shard, SHARD_VAR.to_owned()))
                .map_err(|e| format!("--shard auto: {SHARD_VAR}: {e}")),
            None => Err(format!(
                "--shard auto: no shard in the environment: set {JOB_INDEX_VAR} and \
                 {JOB_COUNT_VAR} (a Kubernetes Indexed Job) or {SHARD_VAR}=K/N, or pass \
                 --shard K/N"
            )),
        },
    }
}

/// The shard to run, and where `auto` found it.
fn resolve_shard(arg: ShardArg) -> Result<(Shard, Option<String>), String> {
    match arg {
        ShardArg::Fixed(shard) => Ok((shard, None)),
        ShardArg::Auto => {
            let var = |name| std::env::var(name).ok();
            let (index, count, shard) = (var(JOB_INDEX_VAR), var(JOB_COUNT_VAR), var(SHARD_VAR));
            auto_shard(index.as_deref(), count.as_deref(), shard.as_deref())
                .map(|(shard, from)| (shard, Some(from)))
        }
    }
}

/// What each target's lines say about it, computed once: its digest and design.
struct Described {
    digest: String,
    design: LineDesign,
}

fn describe(target: &Target) -> Described {
    let s = &target.scenario;
    let correct = s.mutations.is_empty()
        && Design {
            dedup: s.dedup,
            on_restart: Some(s.clients.on_restart),
            window: Some(s.clients.window),
            reads: Some(s.server.reads),
            mutation: None,
        }
        .is_correct();
    Described {
        digest: build_info::scenario_digest(s),
        design: LineDesign {
            dedup: s.dedup.name().to_owned(),
            reads: s.server.reads.name().to_owned(),
            on_restart: s.clients.on_restart.name().to_owned(),
            mutations: s.mutations.iter().map(|m| m.to_string()).collect(),
            swarm: s.swarm.is_some(),
            window: s.clients.window,
            correct,
        },
    }
}

/// Two scenarios of one sweep with the same name (the same file twice, or two files naming
/// themselves alike): their runs could not be told apart in the output, nor by `merge`.
fn repeated_name(targets: &[Target]) -> Option<String> {
    let where_ = |t: &Target| {
        t.path.as_ref().map_or_else(
            || "the built-in default".to_owned(),
            |p| p.display().to_string(),
        )
    };
    for (i, a) in targets.iter().enumerate() {
        if let Some(b) = targets[..i]
            .iter()
            .find(|b| b.scenario.name == a.scenario.name)
        {
            return Some(format!(
                "two scenarios named {:?} ({} and {}): a sweep runs each scenario once, and its \
                 output tells runs apart by name",
                a.scenario.name,
                where_(b),
                where_(a)
            ));
        }
    }
    None
}

/// The campaign this sweep is a shard of: its id hashes what every shard shares (the seeds,
/// the shard count and the scenarios as run, in order), so the shards of one campaign agree
/// and another design or seed range differs.
fn campaign_of(plan: &Plan<'_>, described: &[Described]) -> LineCampaign {
    let mut key = format!("seeds {}\nshards {}\n", plan.seeds, plan.shard.count);
    for d in described {
        key.push_str(&d.digest);
        key.push('\n');
    }
    let whole = Plan {
        shard: Shard::ALL,
        ..plan.clone()
    };
    LineCampaign {
        id: build_info::hash16(key.as_bytes()),
        seeds: plan.seeds.to_string(),
        shard: plan.shard.to_string(),
        runs: whole.runs(),
        shard_runs: plan.runs(),
    }
}

/// Why a sweep ended before its plan did.
enum Stopped {
    /// `--max-failures`: at this (scenario, seed).
    MaxFailures(String, u64),
    Interrupted,
}

/// Ctrl-C (or SIGTERM, SIGHUP) sets the flag: the sweep stops after the runs in hand. A second
/// one ends the process at once, but only a second or more after the first: `timeout` and a
/// terminal both signal the whole process group, so one stop request can arrive twice at
/// once, and must not skip the totals. `None` if the handler cannot be installed (then
/// Ctrl-C kills).
fn interrupt_flag() -> Option<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let first = std::sync::Mutex::new(None::<Instant>);
    ctrlc::set_handler(move || {
        let mut first = first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *first {
            None => {
                *first = Some(Instant::now());
                set.store(true, Ordering::SeqCst);
                eprintln!("\ninterrupted: finishing the runs in hand (Ctrl-C again to stop now)");
            }
            Some(at) if at.elapsed() >= Duration::from_secs(1) => {
                eprintln!("\ninterrupted again: stopping now, without the totals");
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            Some(_) => {} // the same request, delivered twice
        }
    })
    .ok()?;
    Some(flag)
}

pub fn sweep(args: &SweepArgs) -> u8 {
    let (shard, shard_from) = match resolve_shard(args.shard) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let targets = match targets::load(&args.scenarios, Some(&args.design)) {
        Ok(t) => t,
        Err(code) => return code,
    };
    if let Some(message) = repeated_name(&targets) {
        eprintln!("error: {message}");
        return EXIT_USAGE;
    }
    let plan = Plan {
        targets: &targets,
        seeds: args.seeds,
        shard,
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
    let build = BuildInfo::current();
    let build_id = build.id();
    let build_json = build.json();
    let described: Vec<Described> = targets.iter().map(describe).collect();
    let campaign = campaign_of(&plan, &described);
    let interrupted = interrupt_flag().unwrap_or_default();
    let bar = progress::bar(plan.runs(), "sweep");
    let mut html_error = None;
    let mut totals = Totals::default();
    let mut stopped = None;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut write_error = None;
    let started = Instant::now();
    progress::quiet_run_panics();
    let swept = campaign::sweep_until(
        &plan,
        &interrupted,
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
            if args.max_failures.is_some_and(|max| totals.failed >= max) {
                let name = targets[run.target].scenario.name.clone();
                stopped = Some(Stopped::MaxFailures(name, run.seed));
            }
            let line = match args.format {
                Format::Text if run.passed() => None,
                Format::Text => {
                    let mut line = failure_line(&targets, run, &build_id);
                    if let Some(page) = &page {
                        line.push_str(&format!("  html {}", page.display()));
                    }
                    Some(line)
                }
                Format::Jsonl => Some(json_line(
                    &targets,
                    &described[run.target],
                    run,
                    page.as_deref(),
                    &build_json,
                    &build_id,
                    &campaign,
                )),
            };
            if let Some(mut line) = line {
                // One write of the whole line: the buffer then only ever holds whole lines,
                // so output cut short (a second Ctrl-C) never ends in half a line.
                line.push('\n');
                let written = bar.suspend(|| out.write_all(line.as_bytes()));
                // A reader that went away (a closed pipe) ends the sweep.
                write_error = written.err();
            }
            write_error.is_none() && stopped.is_none()
        },
        || bar.inc(1),
    );
    bar.finish_and_clear();
    let wall = started.elapsed();
    let complete = match swept {
        Ok(complete) => complete,
        Err(e) => {
            eprintln!("error: cannot start {} worker threads: {e}", plan.jobs);
            return 2;
        }
    };
    if complete {
        stopped = None; // the limit was reached on the plan's last run: nothing was left out
    } else if stopped.is_none() && interrupted.load(Ordering::SeqCst) {
        stopped = Some(Stopped::Interrupted);
    }
    let flushed = out.flush();
    drop(out);
    if let Some(e) = html_error {
        eprintln!("error: {e}");
        return EXIT_IO;
    }
    if let Some(e) = write_error.or(flushed.err()) {
        // A reader that went away (`| head`) is no error of ours; any other failure to write
        // (a full disk) must not pass for a verdict: the output is incomplete.
        if e.kind() == io::ErrorKind::BrokenPipe {
            return totals.exit_code().max(1);
        }
        eprintln!("error: writing the results failed: {e}");
        return EXIT_IO;
    }
    let mut table = render_header(args, &plan, shard_from.as_deref());
    table.push_str(&render_totals(&totals));
    table.push_str(&render_speed(&totals, wall));
    match &stopped {
        Some(Stopped::MaxFailures(scenario, seed)) => table.push_str(&format!(
            "stopped   early at {} (--max-failures {}), at {scenario} seed {seed}: {} of the \
             plan's {} runs done\n",
            plural(totals.failed, "failure", "failures"),
            args.max_failures.unwrap_or_default(),
            thousands(totals.runs),
            thousands(plan.runs()),
        )),
        Some(Stopped::Interrupted) => table.push_str(&format!(
            "interrupted  {} of the plan's {} runs done (Ctrl-C); the totals and failures above \
             cover those\n",
            thousands(totals.runs),
            thousands(plan.runs()),
        )),
        None => {}
    }
    let written = if args.format == Format::Jsonl {
        io::stderr().write_all(table.as_bytes())
    } else {
        let mut out = io::stdout().lock();
        out.write_all(table.as_bytes()).and_then(|()| out.flush())
    };
    if let Some(e) = written
        .err()
        .filter(|e| e.kind() != io::ErrorKind::BrokenPipe)
    {
        eprintln!("error: writing the totals failed: {e}");
        return EXIT_IO;
    }
    match stopped {
        Some(Stopped::Interrupted) => EXIT_INTERRUPTED,
        _ => totals.exit_code(),
    }
}

/// The run's replay command, naming `build` when given.
fn replay(targets: &[Target], run: &RunSummary, build: Option<&str>) -> String {
    let target = &targets[run.target];
    replay_command(target.path.as_deref(), run.seed, &target.scenario, build)
}

/// `FAIL  <scenario>  seed <N>  <rules>  <replay command>`: one line, greppable.
pub(super) fn fail_line(scenario: &str, seed: u64, rules: &[&str], replay: &str) -> String {
    format!(
        "FAIL  {scenario}  seed {seed}  {}  {replay}",
        rules.join(",")
    )
}

fn failure_line(targets: &[Target], run: &RunSummary, build: &str) -> String {
    let rules: Vec<&str> = run.rules().map(Rule::name).collect();
    fail_line(
        &targets[run.target].scenario.name,
        run.seed,
        &rules,
        &replay(targets, run, Some(build)),
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
    let replay = replay(targets, run, None);
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
fn json_line(
    targets: &[Target],
    described: &Described,
    run: &RunSummary,
    page: Option<&Path>,
    build: &serde_json::Value,
    build_id: &str,
    campaign: &LineCampaign,
) -> String {
    let target = &targets[run.target];
    let line = SweepLine {
        scenario: target.scenario.name.clone(),
        file: target.path.as_ref().map(|p| p.display().to_string()),
        seed: run.seed,
        ok: run.passed(),
        rules: run.rules().map(|r| r.name().to_owned()).collect(),
        violation: run.first.as_ref().map(ToString::to_string),
        exit_code: run.exit_code,
        completed: run.completed,
        abandoned: run.abandoned,
        duplicates: run.duplicates,
        retries: run.retries,
        crashes: run.crashes,
        events: run.events,
        sim_us: run.sim_us,
        swarm: run.swarm.clone(),
        untriggered: untriggered_json(&run.untriggered),
        replay: replay(targets, run, Some(build_id)),
        build: build.clone(),
        scenario_digest: described.digest.clone(),
        design: described.design.clone(),
        campaign: campaign.clone(),
        html: page.map(|p| p.display().to_string()),
    };
    serde_json::to_string(&line).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Untriggered faults by kind name, only the kinds that have some.
fn untriggered_json(counts: &[u32; FaultTag::COUNT]) -> serde_json::Map<String, serde_json::Value> {
    FaultTag::ALL
        .into_iter()
        .zip(counts)
        .filter(|&(_, &n)| n > 0)
        .map(|(tag, &n)| (tag.name().to_owned(), n.into()))
        .collect()
}

fn render_header(args: &SweepArgs, plan: &Plan<'_>, shard_from: Option<&str>) -> String {
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
    let from = shard_from.map_or_else(String::new, |from| format!(" from {from}"));
    format!(
        "sweep     {} × seeds {} (shard {}{from}) · {} · {}\n",
        plural(plan.targets.len() as u64, "scenario", "scenarios"),
        plan.seeds,
        plan.shard,
        designs.join(" · "),
        plural(plan.jobs as u64, "job", "jobs"),
    )
}

/// The totals block of a sweep (and of a merge): runs, failures by rule, work done, faults
/// that never triggered, and simulated time.
pub(super) fn render_totals(totals: &Totals) -> String {
    let rules: Vec<String> = Rule::ALL
        .iter()
        .map(|&r| format!("{r} {}", thousands(totals.broke(r))))
        .collect();
    let mut out = String::new();
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
    out
}

fn render_speed(totals: &Totals, wall: Duration) -> String {
    let secs = wall.as_secs_f64().max(1e-9);
    format!(
        "speed     {} runs/s · {} events/s · {:.2} s wall\n",
        thousands((totals.runs as f64 / secs) as u64),
        thousands((totals.events as f64 / secs) as u64),
        secs
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--shard auto` takes a Kubernetes Indexed Job's index and count first, else
    /// IDEMSIM_SHARD, and refuses a missing or malformed shard naming the variables.
    #[test]
    fn auto_shards_come_from_the_environment() {
        let shard = |index, count| Shard { index, count };
        assert_eq!(
            auto_shard(Some("2"), Some("4"), None),
            Ok((
                shard(2, 4),
                "JOB_COMPLETION_INDEX/JOB_COMPLETIONS".to_owned()
            ))
        );
        assert_eq!(
            auto_shard(Some("0"), Some("1"), Some("3/8")).map(|s| s.0),
            Ok(shard(0, 1)),
            "the Job wins over IDEMSIM_SHARD"
        );
        assert_eq!(
            auto_shard(None, None, Some("3/8")),
            Ok((shard(3, 8), "IDEMSIM_SHARD".to_owned()))
        );
        assert_eq!(
            auto_shard(Some(""), None, Some(" 1/2 ")).map(|s| s.0),
            Ok(shard(1, 2)),
            "empty is unset"
        );
        let refused = [
            (None, None, None, "IDEMSIM_SHARD=K/N"),
            (None, None, Some(""), "JOB_COMPLETION_INDEX"),
            (Some("1"), None, None, "only JOB_COMPLETION_INDEX is set"),
            (None, Some("4"), Some("1/4"), "only JOB_COMPLETIONS is set"),
            (
                Some("x"),
                Some("4"),
                None,
                "JOB_COMPLETION_INDEX=\"x\" is not a number",
            ),
            (
                Some("1"),
                Some("-4"),
                None,
                "JOB_COMPLETIONS=\"-4\" is not a number",
            ),
            (
                Some("4"),
                Some("4"),
                None,
                "must be below JOB_COMPLETIONS=4",
            ),
            (Some("0"), Some("0"), None, "JOB_COMPLETIONS=0"),
            (None, None, Some("4/4"), "IDEMSIM_SHARD: \"4/4\""),
            (None, None, Some("1/0"), "IDEMSIM_SHARD"),
            (
                None,
                None,
                Some("two"),
                "IDEMSIM_SHARD: \"two\" is not a shard",
            ),
        ];
        for (i, (index, count, env, wanted)) in refused.into_iter().enumerate() {
            let err = auto_shard(index, count, env).unwrap_err();
            assert!(err.contains(wanted), "case {i}: {err}");
        }
    }
}

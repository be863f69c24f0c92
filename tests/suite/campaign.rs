//! Campaigns: the catch table in both directions, sweeps whose output does not depend on
//! the number of threads, shards that partition a campaign, and panics reported per seed.

use crate::common;

use idemsim::campaign::catch::{Design, catch_table};
use idemsim::campaign::{Plan, RunSummary, SeedRange, Shard, Target, sweep};
use idemsim::kv::Dedup;
use idemsim::scenario;
use idemsim::verdict::Rule;

fn shipped() -> Vec<Target> {
    common::shipped_scenarios()
        .into_iter()
        .map(|path| Target {
            scenario: scenario::load(&path).unwrap(),
            path: Some(path),
        })
        .collect()
}

fn collect(plan: &Plan<'_>) -> Vec<RunSummary> {
    let mut runs = Vec::new();
    sweep(
        plan,
        |r| {
            runs.push(r.clone());
            true
        },
        || {},
    )
    .unwrap();
    runs
}

/// Every flawed design and every mutation is caught within 50 seeds, by some shipped
/// scenario within 20 and from at least half its starting seeds, and the correct strategies
/// never fail.
#[test]
fn the_catch_table_catches_every_flawed_design_and_clears_the_correct_ones() {
    let targets = shipped();
    let seeds = SeedRange { start: 0, end: 50 };
    let rows = catch_table(&targets, seeds, 2, || {}).unwrap();
    assert_eq!(rows.len(), Design::all().len());
    for row in &rows {
        let name = row.design.name();
        if row.design.is_correct() {
            assert_eq!(
                row.failed, 0,
                "{name} failed {} runs: a correct design must never fail",
                row.failed
            );
        } else {
            assert!(row.failed > 0, "{name} was never caught in 50 seeds");
            let needed = row.seeds_needed.unwrap();
            assert!(
                needed <= 20,
                "{name}: the best scenario needs {needed} seeds (more than 20)"
            );
            let d = row.detection.unwrap_or_else(|| {
                panic!("{name}: no scenario catches it from half its starting seeds")
            });
            assert!(d.median <= d.max, "{name}: {d:?}");
        }
    }
    let off = rows.iter().find(|r| r.design.dedup == Dedup::Off).unwrap();
    assert_eq!(
        off.rules[0].0,
        Rule::ExactlyOnce,
        "off breaks exactly-once first"
    );
}

/// The same plan on one thread and on two gives the same summaries in the same order.
#[test]
fn sweep_results_do_not_depend_on_the_number_of_jobs() {
    let mut targets = shipped();
    targets.truncate(2);
    for t in &mut targets {
        t.scenario.dedup = Dedup::Off;
    }
    let plan = |jobs| Plan {
        targets: &targets,
        seeds: SeedRange {
            start: 10,
            end: 150,
        },
        shard: Shard::ALL,
        jobs,
    };
    let one = collect(&plan(1));
    let two = collect(&plan(2));
    assert_eq!(one.len() as u64, plan(1).runs());
    assert_eq!(one, two);
    let order: Vec<(usize, u64)> = one.iter().map(|r| (r.target, r.seed)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "results come in (scenario, seed) order");
}

/// Shards K/N split a campaign: disjoint, and together every run of the whole.
#[test]
fn shards_partition_a_campaign() {
    let targets = vec![Target {
        path: None,
        scenario: scenario::default_scenario(),
    }];
    let seeds = SeedRange { start: 3, end: 40 };
    let whole = collect(&Plan {
        targets: &targets,
        seeds,
        shard: Shard::ALL,
        jobs: 2,
    });
    let mut merged = Vec::new();
    for index in 0..3 {
        let part = collect(&Plan {
            targets: &targets,
            seeds,
            shard: Shard { index, count: 3 },
            jobs: 2,
        });
        assert!(part.iter().all(|r| r.seed % 3 == index));
        merged.extend(part);
    }
    merged.sort_by_key(|r| r.seed);
    assert_eq!(merged, whole);
}

/// A run that panics, even before its world exists, is a failed run of its seed (rule
/// "invariant"), and the sweep goes on to the next seed.
#[test]
fn a_panicking_run_fails_its_seed_and_the_sweep_goes_on() {
    let mut broken = scenario::default_scenario();
    broken.cluster.nodes = 10; // past what validation allows: the node constructor asserts
    let targets = vec![
        Target {
            path: None,
            scenario: broken,
        },
        Target {
            path: None,
            scenario: scenario::default_scenario(),
        },
    ];
    let runs = collect(&Plan {
        targets: &targets,
        seeds: SeedRange { start: 0, end: 3 },
        shard: Shard::ALL,
        jobs: 2,
    });
    assert_eq!(runs.len(), 6);
    for r in &runs[..3] {
        assert!(
            r.broken.contains(Rule::Invariant),
            "seed {}: {:?}",
            r.seed,
            r.first
        );
        assert!(
            r.first
                .as_ref()
                .unwrap()
                .message
                .contains("cluster size 10"),
            "{:?}",
            r.first
        );
        assert_eq!(r.exit_code, 1);
    }
    assert!(runs[3..].iter().all(RunSummary::passed));
}

const MID: &str = "sim-scenarios/leader-crash-mid-replication.toml";

/// The built binary with `env` set and the shard variables otherwise unset.
fn idemsim_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_idemsim"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in ["JOB_COMPLETION_INDEX", "JOB_COMPLETIONS", "IDEMSIM_SHARD"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn fail_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("FAIL  ")).collect()
}

/// `--shard auto` runs the shard the environment names, like `--shard K/N`, and refuses a
/// missing or malformed one (exit 2) naming the variables.
#[test]
fn auto_shards_run_what_the_environment_says() {
    let fixed = common::idemsim(&[
        "sweep", MID, "--seeds", "0..9", "--format", "jsonl", "--shard", "1/3",
    ]);
    let sweep = [
        "sweep", MID, "--seeds", "0..9", "--format", "jsonl", "--shard", "auto",
    ];
    for env in [
        &[("IDEMSIM_SHARD", "1/3")][..],
        &[("JOB_COMPLETION_INDEX", "1"), ("JOB_COMPLETIONS", "3")][..],
        &[
            ("JOB_COMPLETION_INDEX", "1"),
            ("JOB_COMPLETIONS", "3"),
            ("IDEMSIM_SHARD", "0/2"),
        ][..],
    ] {
        let o = idemsim_env(&sweep, env);
        assert_eq!(common::code(&o), 0, "{env:?}: {}", common::stderr(&o));
        assert_eq!(common::stdout(&o), common::stdout(&fixed), "{env:?}");
    }
    for (env, wanted) in [
        (&[][..], "IDEMSIM_SHARD=K/N"),
        (
            &[("JOB_COMPLETION_INDEX", "1")][..],
            "only JOB_COMPLETION_INDEX is set",
        ),
        (
            &[("JOB_COMPLETION_INDEX", "3"), ("JOB_COMPLETIONS", "3")][..],
            "must be below",
        ),
        (
            &[("JOB_COMPLETION_INDEX", "a"), ("JOB_COMPLETIONS", "3")][..],
            "not a number",
        ),
        (&[("IDEMSIM_SHARD", "2/0")][..], "IDEMSIM_SHARD"),
    ] {
        let o = idemsim_env(&sweep, env);
        assert_eq!(common::code(&o), 2, "{env:?}");
        assert!(
            common::stderr(&o).contains(wanted),
            "{env:?}: {}",
            common::stderr(&o)
        );
        assert!(common::stdout(&o).is_empty(), "nothing swept");
    }
}

/// `--max-failures 3` reports exactly the first 3 failures in seed order, says where it
/// stopped, and exits as the failures say.
#[test]
fn max_failures_stops_after_the_first_n() {
    let o = common::idemsim(&[
        "sweep",
        MID,
        "--seeds",
        "0..500",
        "--dedup",
        "off",
        "--max-failures",
        "3",
    ]);
    assert_eq!(common::code(&o), 1, "{}", common::stderr(&o));
    let out = common::stdout(&o);
    let fails = fail_lines(&out);
    assert_eq!(fails.len(), 3, "{out}");
    let all = common::idemsim(&["sweep", MID, "--seeds", "0..40", "--dedup", "off"]);
    assert_eq!(
        fails,
        fail_lines(&common::stdout(&all))[..3],
        "the first three"
    );
    assert!(
        out.contains("stopped   early at 3 failures (--max-failures 3)"),
        "{out}"
    );
    assert!(
        out.contains("runs      ") && out.contains(" · 3 failed"),
        "{out}"
    );

    let o = common::idemsim(&[
        "sweep",
        MID,
        "--seeds",
        "0..500",
        "--dedup",
        "off",
        "--max-failures",
        "2",
        "--format",
        "jsonl",
    ]);
    let failed = common::stdout(&o)
        .lines()
        .filter(|l| l.contains("\"ok\":false"))
        .count();
    assert_eq!(failed, 2);
    assert!(common::stderr(&o).contains("stopped   early at 2 failures"));
    let o = common::idemsim(&["sweep", "--max-failures", "0"]);
    assert_eq!(common::code(&o), 2);
}

/// Ctrl-C during a sweep stops it after the runs in hand: partial totals with an
/// `interrupted` line, the failing seeds so far with their replay commands, exit 130.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_sweep_with_partial_totals() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let mut child = Command::new(env!("CARGO_BIN_EXE_idemsim"))
        .args(["sweep", "--seeds", "0..100000000", "--dedup", "off"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no FAIL line: {out}"
        );
        out.push_str(&line);
        if line.starts_with("FAIL") {
            break;
        }
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    stdout.read_to_string(&mut out).unwrap();
    let status = child.wait().unwrap();
    let err = read_all(child.stderr.take().unwrap());
    assert_eq!(status.code(), Some(130), "{out}\n{err}");
    let fails = fail_lines(&out);
    assert!(!fails.is_empty());
    assert!(
        fails
            .iter()
            .all(|l| l.contains("idemsim run --seed ") && l.contains(" --build ")),
        "{out}"
    );
    let interrupted = out
        .lines()
        .find(|l| l.starts_with("interrupted  "))
        .unwrap_or_else(|| panic!("no interrupted line: {out}"));
    assert!(
        interrupted.contains("of the plan's 100,000,000 runs done"),
        "{interrupted}"
    );
    assert!(
        out.contains("runs      ") && out.contains("failures  "),
        "{out}"
    );
}

/// Everything `r` gives, as text (a child's stdout or stderr).
#[cfg(unix)]
fn read_all(mut r: impl std::io::Read) -> String {
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    text
}

/// One stop request delivered twice at once (`timeout` and a terminal signal the whole
/// process group) is still a graceful stop: the totals, exit 130, and JSONL that ends on a
/// whole line, which merge reads. The sweep is held on a full pipe while both signals land.
#[cfg(unix)]
#[test]
fn a_doubled_interrupt_still_stops_gracefully() {
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let mut child = Command::new(env!("CARGO_BIN_EXE_idemsim"))
        .args(["sweep", "--seeds", "0..100000000", "--dedup", "off"])
        .args(["--format", "jsonl", "--jobs", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads yet: the pipe fills and the sweep waits on a write.
    std::thread::sleep(Duration::from_millis(1500));
    let pid = Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    kill(pid, Signal::SIGINT).unwrap();
    let out = read_all(child.stdout.take().unwrap());
    let status = child.wait().unwrap();
    let err = read_all(child.stderr.take().unwrap());
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("\ninterrupted  "), "no totals: {err}");
    assert!(out.ends_with('\n'), "a torn last line");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("part.jsonl");
    std::fs::write(&file, &out).unwrap();
    let merged = common::idemsim(&["merge", file.to_str().unwrap()]);
    assert_eq!(common::code(&merged), 1, "{}", common::stderr(&merged));
    assert!(
        common::stdout(&merged).contains("stopped early (--max-failures or Ctrl-C)"),
        "{}",
        common::stdout(&merged)
    );
}

/// Output that cannot be written (a full disk) is exit 74, never a verdict: a shard whose
/// results were lost must not pass for one that ran clean. Likewise for merge's report.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_an_io_error_not_a_verdict() {
    use std::process::{Command, Stdio};

    for args in [
        &["sweep", "--seeds", "0..3"][..],
        &["sweep", "--seeds", "0..3", "--format", "jsonl"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_idemsim"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::from(full))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(74), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{err}");
    }
}

/// `merge` refuses lines of another build, a run present twice and malformed lines (exit
/// 65, naming file:line), a missing file (66); `run --build` replays only its own build.
#[test]
fn merge_refuses_what_is_not_one_campaign_and_replays_name_their_build() {
    let dir = tempfile::tempdir().unwrap();
    let o = common::idemsim(&[
        "sweep", MID, "--seeds", "0..6", "--dedup", "off", "--format", "jsonl",
    ]);
    let lines = common::stdout(&o);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let id = first["build"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first["design"]["dedup"], "off");
    assert_eq!(first["design"]["correct"], false);
    assert_eq!(first["scenario_digest"].as_str().unwrap().len(), 16);
    assert!(
        first["replay"]
            .as_str()
            .unwrap()
            .contains(&format!("--build {id} "))
    );

    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let good = write("good.jsonl", &lines);
    let other = write(
        "other.jsonl",
        &lines
            .replace(&id, "0000000000000000")
            .replace("\"seed\":", "\"seed\":1000"),
    );
    let bad = write(
        "bad.jsonl",
        &format!("{}\nnot json\n", lines.lines().next().unwrap()),
    );
    let o = common::idemsim(&["merge", &good]);
    assert_eq!(common::code(&o), 1, "{}", common::stderr(&o));
    for (files, wanted) in [
        (
            vec![good.clone(), other.clone()],
            format!("{good}:1 and {other}:1: lines of different builds"),
        ),
        (
            vec![good.clone(), good.clone()],
            format!("{good}:1 and {good}:1: "),
        ),
        (
            vec![bad.clone()],
            format!("{bad}:2: not a line of `sweep --format jsonl`"),
        ),
    ] {
        let args: Vec<&str> = ["merge"]
            .into_iter()
            .chain(files.iter().map(String::as_str))
            .collect();
        let o = common::idemsim(&args);
        assert_eq!(common::code(&o), 65, "{files:?}");
        assert!(
            common::stderr(&o).contains(&wanted),
            "{}",
            common::stderr(&o)
        );
    }
    let o = common::idemsim(&["merge", &format!("{good}.missing")]);
    assert_eq!(common::code(&o), 66);
    assert_eq!(common::code(&common::idemsim(&["merge"])), 2);

    let o = common::idemsim(&["run", MID, "--seed", "0", "--dedup", "off", "--build", &id]);
    assert_eq!(
        common::code(&o),
        1,
        "the seed fails on its own build: {}",
        common::stderr(&o)
    );
    let o = common::idemsim(&["run", MID, "--seed", "0", "--build", "0000000000000000"]);
    assert_eq!(common::code(&o), 2);
    let err = common::stderr(&o);
    assert!(
        err.contains("found by build 0000000000000000") && err.contains(&id),
        "{err}"
    );
    let o = common::idemsim(&["build-info", "--format", "jsonl"]);
    let info: serde_json::Value = serde_json::from_str(&common::stdout(&o)).unwrap();
    assert_eq!(info["id"], id.as_str());
}

//! The command line as a user runs it (docs/DESIGN.md §9): outputs, and the documented exit codes
//! 0 pass, 1 safety violation, 2 usage error, 3 liveness failure, 65 invalid scenario file,
//! 66 scenario file not found.

use std::path::Path;

use crate::common::{code, idemsim, stderr, stdout};

const MID: &str = "sim-scenarios/leader-crash-mid-replication.toml";

/// `idemsim run` with no file runs the built-in default scenario and passes.
#[test]
fn default_scenario_passes() {
    let o = idemsim(&["run"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("scenario  leader-crash-mid-replication  seed 42\n"),
        "{out}"
    );
    for line in [
        "cluster   3 nodes",
        "ops       300 completed, 0 pending",
        "events/s",
        "verdict   PASS",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(!out.contains("replay"), "a pass prints no replay command");
}

/// The README's walk-through: a text trace with the lesson's line, then `--dedup off`
/// failing with the double apply and the replay command.
#[test]
fn readme_walkthrough() {
    let o = idemsim(&["run", MID, "--seed", "42", "--trace", "text"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(
        out.contains("[dedup] client ") && out.contains(" is duplicate, returning cached result")
    );
    assert!(out.contains("!! crash n"), "the trace shows the crash");

    let o = idemsim(&["run", MID, "--seed", "42", "--dedup", "off"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("verdict   FAIL  exactly-once: client "),
        "{out}"
    );
    assert!(out.contains("took effect twice"), "{out}");
    assert!(
        out.contains(&format!(
            "replay    idemsim run {MID} --seed 42 --dedup off --trace text"
        )),
        "{out}"
    );
}

/// `--trace jsonl`: stdout holds only JSON lines, the verdict last; the summary is on stderr.
#[test]
fn jsonl_keeps_stdout_clean() {
    let o = idemsim(&["run", "--trace", "jsonl", "--seed", "9", "--dedup", "off"]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {n}: {e}: {line}"));
        assert!(
            v["t_us"].is_u64() && v["event"].is_string(),
            "line {n}: {line}"
        );
    }
    let verdict: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(verdict["event"], "verdict");
    assert_eq!(verdict["ok"], false);
    assert_eq!(
        verdict["replay"],
        "idemsim run --seed 9 --dedup off --trace text"
    );
    let err = stderr(&o);
    assert!(
        err.contains("verdict   FAIL") && err.contains("replay    idemsim run --seed 9"),
        "{err}"
    );
}

/// `--format json`: the summary as one JSON object with the documented keys, on stdout; a
/// failing run carries its violations and replay command; with `--trace jsonl` the object
/// goes to stderr and stdout keeps only trace lines.
#[test]
fn json_summary_has_the_documented_keys() {
    let o = idemsim(&["run", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    for key in [
        "scenario",
        "seed",
        "dedup",
        "nodes",
        "clients",
        "ops_completed",
        "retries",
        "duplicates",
        "messages",
        "events",
        "sim_s",
        "wall_s",
        "events_per_s",
        "ok",
        "violations",
    ] {
        assert!(v.get(key).is_some(), "no {key:?} in {v}");
    }
    assert_eq!(v["scenario"], "leader-crash-mid-replication");
    assert_eq!(
        (v["seed"].as_u64(), v["ops_completed"].as_u64()),
        (Some(42), Some(300))
    );
    assert_eq!(v["ok"], true);
    assert_eq!(v["violations"], serde_json::json!([]));
    assert!(v["messages"].as_u64().is_some_and(|m| m > 0));

    let o = idemsim(&["run", "--format", "json", "--dedup", "off"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert_eq!(v["ok"], false);
    assert!(
        v["violations"][0]
            .as_str()
            .unwrap()
            .starts_with("exactly-once: ")
    );
    assert_eq!(
        v["replay"],
        "idemsim run --seed 42 --dedup off --trace text"
    );

    let o = idemsim(&["run", "--format", "json", "--trace", "jsonl"]);
    assert!(stdout(&o).lines().all(|l| l.starts_with("{\"t_us\":")));
    let v: serde_json::Value = serde_json::from_str(stderr(&o).trim()).expect("JSON on stderr");
    assert_eq!(v["ok"], true);
}

/// A fault whose moment never comes is named in the summary, and counted by kind in a
/// sweep's totals.
#[test]
fn untriggered_faults_are_named_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("idle.toml");
    std::fs::write(
        &file,
        "name = \"idle\"\nduration_ms = 1000\nliveness_ms = 1000\n[clients]\ncount = 0\n\
         [[faults]]\nkind = \"crash\"\nat_ms = 100\nnode = \"leader\"\nwhen = \"after-commit\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let o = idemsim(&["run", file]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(
            "faults[0] (crash leader after-commit at 100 ms) never triggered during the fault phase"
        ),
        "{}",
        stdout(&o)
    );
    let o = idemsim(&["sweep", file, "--seeds", "0..4"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("skipped   crash 4 "), "{}", stdout(&o));
}

/// `--check-determinism` runs twice and says the traces are identical.
#[test]
fn check_determinism_reports_identical_runs() {
    let o = idemsim(&["run", MID, "--seed", "3", "--check-determinism"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("determinism  identical: 2 runs, same trace (digest "));
}

/// Every shipped scenario runs from the command line and passes at its own seed.
#[test]
fn every_shipped_scenario_passes_at_its_seed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let o = idemsim(&["run", path.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}: {}", path.display(), stdout(&o));
    }
}

/// Bad input gets its documented exit code and a message, never a panic.
#[test]
fn exit_codes_for_bad_input() {
    let dir = std::env::temp_dir().join(format!("idemsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[cluster]\nnodes = 12\n").unwrap();
    let o = idemsim(&["run", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 65);
    assert!(
        stderr(&o).contains("bad.toml:3:9: cluster.nodes: must be in 1..=9, got 12"),
        "{}",
        stderr(&o)
    );

    let o = idemsim(&["run", dir.join("missing.toml").to_str().unwrap()]);
    assert_eq!(code(&o), 66);
    assert!(
        stderr(&o).contains("cannot read scenario file"),
        "{}",
        stderr(&o)
    );

    for args in [
        &["run", "--seed", "minus-one"][..],
        &["run", "--dedup", "maybe"],
        &["walk"],
        &["run", "--trace", "xml"],
    ] {
        let o = idemsim(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error:"), "{args:?}");
    }
    assert_eq!(code(&idemsim(&["--help"])), 0);
    assert_eq!(code(&idemsim(&["run", "--help"])), 0);

    // A run that cannot finish its work within the liveness budget: exit 3.
    let slow = dir.join("slow.toml");
    std::fs::write(
        &slow,
        "name = \"slow\"\nduration_ms = 50\nliveness_ms = 100\n[clients]\nops = 1000\n",
    )
    .unwrap();
    let o = idemsim(&["run", slow.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("verdict   FAIL  liveness: c1"),
        "{}",
        stdout(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sweep`: totals, one greppable line per failing run with its replay command, the
/// documented exit codes, and JSONL in seed order.
#[test]
fn sweep_reports_failures_with_replay_commands() {
    let o = idemsim(&["sweep", "--seeds", "0..20", "--jobs", "2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("runs      20 · 20 passed · 0 failed"), "{out}");
    assert!(
        out.contains("runs/s") && out.contains("events/s") && out.contains("p95"),
        "{out}"
    );

    let o = idemsim(&["sweep", MID, "--seeds", "0..10", "--dedup", "off"]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(!fails.is_empty(), "{out}");
    for line in &fails {
        let seed = line
            .split("  seed ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let replay = format!("idemsim run {MID} --seed {seed} --dedup off --build ");
        assert!(
            line.starts_with("FAIL  leader-crash-mid-replication  seed ")
                && line.contains(&replay)
                && line.ends_with(" --trace text"),
            "{line}"
        );
    }

    let o = idemsim(&[
        "sweep", MID, "--seeds", "5..12", "--format", "jsonl", "--dedup", "off",
    ]);
    assert_eq!(code(&o), 1);
    let seeds: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seed"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seeds, (5..12).collect::<Vec<u64>>());
    assert!(
        stderr(&o).contains("runs      7 · "),
        "totals go to stderr: {}",
        stderr(&o)
    );
}

/// `run --html FILE` writes one self-contained page (with or without `--trace`, messages
/// allowed without a trace) and leaves stdout as it was; a path it cannot write is exit 74.
#[test]
fn run_writes_an_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("run.html");
    let page_arg = page.to_str().unwrap();
    let plain = idemsim(&["run", MID, "--seed", "3", "--trace", "jsonl"]);
    let o = idemsim(&[
        "run", MID, "--seed", "3", "--trace", "jsonl", "--html", page_arg,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&plain), "--html changes no trace line");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("\"scenario\":\"leader-crash-mid-replication\""));
    assert!(!html.contains("https://"), "nothing fetched");

    let o = idemsim(&["run", MID, "--seed", "3", "--messages", "--html", page_arg]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("\"append_entries\""),
        "messages are in the page"
    );

    let o = idemsim(&["run", "--messages"]);
    assert_eq!(code(&o), 2, "--messages still needs --trace or --html");

    let bad = dir.path().join("missing-dir").join("run.html");
    let o = idemsim(&["run", "--html", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 74, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write the HTML report"),
        "{}",
        stderr(&o)
    );
}

/// `sweep --html-failures DIR` writes a page per failing run, named by scenario and seed,
/// prints it next to the replay command (and in JSONL), creates DIR, and exits 74 when DIR
/// cannot be made.
#[test]
fn sweep_writes_pages_for_failures() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("pages");
    let out_arg = out_dir.to_str().unwrap();
    let o = idemsim(&[
        "sweep",
        MID,
        "--seeds",
        "40..44",
        "--dedup",
        "off",
        "--html-failures",
        out_arg,
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let fails: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .map(str::to_owned)
        .collect();
    assert!(!fails.is_empty(), "{}", stdout(&o));
    for line in &fails {
        let seed = line
            .split("  seed ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let page = out_dir.join(format!("leader-crash-mid-replication-seed{seed}.html"));
        assert!(
            line.contains("--trace text  html ") && line.ends_with(page.to_str().unwrap()),
            "{line}"
        );
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("exactly-once"), "the page names the rule");
    }
    let pages = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(
        pages,
        fails.len(),
        "one page per failing run, none for a pass"
    );

    // JSONL names the page of a failing run, and a passing run gets none.
    for (dedup, sub) in [("off", "fail"), ("sessions", "pass")] {
        let sub_dir = dir.path().join(sub);
        let o = idemsim(&[
            "sweep",
            MID,
            "--seeds",
            "40..42",
            "--dedup",
            dedup,
            "--format",
            "jsonl",
            "--html-failures",
            sub_dir.to_str().unwrap(),
        ]);
        let mut pages = 0;
        for line in stdout(&o).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let failed = v["ok"].as_bool() == Some(false);
            assert_eq!(failed, v.get("html").is_some(), "{line}");
            pages += usize::from(failed);
        }
        assert_eq!(
            pages,
            std::fs::read_dir(&sub_dir).unwrap().count(),
            "{dedup}"
        );
    }

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let o = idemsim(&[
        "sweep",
        MID,
        "--seeds",
        "0..2",
        "--html-failures",
        file.join("sub").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 74, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot create the --html-failures directory"),
        "{}",
        stderr(&o)
    );
}

/// `sweep` and `catch-table` refuse bad arguments with exit 2 and say why.
#[test]
fn campaign_arguments_are_checked() {
    let cases: &[(&[&str], &str)] = &[
        (&["sweep", "--seeds", "9..3"], "empty seed range"),
        (&["sweep", "--seeds", "a..b"], "is not a seed"),
        (&["sweep", "--shard", "3/3"], "K must be below 3"),
        (&["sweep", "--shard", "0/0"], "at least 1 shard"),
        (&["sweep", "--shard", "two"], "write K/N"),
        (&["sweep", "--jobs", "0"], "0 is not in 1.."),
        (
            &["sweep", "--dedup", "sometimes"],
            "invalid value 'sometimes'",
        ),
        (&["catch-table", "--seeds", "5"], ""),
    ];
    for (i, (args, says)) in cases.iter().enumerate() {
        let o = idemsim(args);
        if says.is_empty() {
            continue; // a valid command, listed to keep the table honest about what passes
        }
        assert_eq!(code(&o), 2, "case {i}: {args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(says),
            "case {i}: {args:?}: {}",
            stderr(&o)
        );
    }
}

/// `catch-table` over the shipped scenarios: every design listed, every flawed one caught,
/// the correct ones never failing (exit 0).
#[test]
fn catch_table_lists_every_design() {
    let o = idemsim(&["catch-table", "--seeds", "0..10"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for design in [
        "sessions ",
        "last-seq ",
        "off ",
        "leader-only ",
        "check-on-receive ",
        "cache-latest ",
        "trust-seq ",
        "reuse-id + sessions",
        "reuse-id + last-seq",
        "expire-local-clock ",
        "ttl-reset-on-leader-change ",
        "evict-silently ",
        "snapshot-without-sessions ",
        "snapshot-split-index ",
        "install-keeps-table ",
        "last-seq + window 4",
        "reads read-index ",
        "reads lease ",
        "reads local ",
        "reads lease-unbounded ",
        "mutation vote-not-kept",
        "mutation rebuild-on-retry",
        "mutation keep-acknowledged",
        "mutation evict-late",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(design)),
            "{design} missing:\n{out}"
        );
    }
    // sessions, last-seq, reads read-index, reads lease.
    assert_eq!(out.matches("never fails").count(), 4, "{out}");
    assert_eq!(out.matches("  caught  ").count(), 28, "{out}");
}

//! Shrinking: a failing run becomes a small scenario file that still fails the same way.

use std::path::Path;
use std::process::Command;

use idemsim::campaign::shrink::shrink;
use idemsim::kv::Dedup;
use idemsim::scenario;
use idemsim::sim::{RunOptions, run};
use idemsim::verdict::Rule;

const MID: &str = "sim-scenarios/leader-crash-mid-replication.toml";

/// `off` on the default scenario at its seed shrinks to at most one fault and a handful of
/// operations, still breaking exactly-once with the same seed.
#[test]
fn a_failing_off_run_shrinks_to_one_fault_and_a_few_ops() {
    let mut s = scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(MID)).unwrap();
    s.dedup = Dedup::Off;
    let shrunk = shrink(&s, 42).expect("off fails at seed 42");
    assert_eq!(shrunk.rule, Rule::ExactlyOnce);
    assert!(shrunk.after.faults <= 1, "{:?}", shrunk.after);
    assert!(shrunk.after.ops <= 5, "{:?}", shrunk.after);
    assert!(
        shrunk.after.events < shrunk.before.events / 10,
        "{:?} -> {:?}",
        shrunk.before,
        shrunk.after
    );
    let again = run(&shrunk.scenario, RunOptions::new(42));
    assert!(
        again.violations.count(Rule::ExactlyOnce) > 0,
        "the minimal scenario still fails"
    );
    let text = scenario::to_toml(&shrunk.scenario, &[]);
    assert_eq!(
        scenario::parse("min.toml", &text).unwrap(),
        shrunk.scenario,
        "and is a valid file"
    );
}

/// A correct run has nothing to shrink.
#[test]
fn a_passing_run_is_not_shrunk() {
    let s = scenario::default_scenario();
    assert!(shrink(&s, 42).is_none());
}

/// The command writes the minimal file, commented with where it came from, and a replay
/// command that reproduces the failure; a passing run is refused with exit 2.
#[test]
fn the_shrink_command_writes_a_replayable_file() {
    let dir = std::env::temp_dir().join(format!("idemsim-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("min.toml");
    let idemsim = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_idemsim"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let o = idemsim(&[
        "shrink",
        MID,
        "--seed",
        "42",
        "--dedup",
        "off",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        stdout.contains("rule      exactly-once still broken with seed 42"),
        "{stdout}"
    );
    // Counts of one read as such: "1 fault", not "1 faults".
    assert!(
        stdout.contains("after     1 fault · 2 nodes · 1 client · 1 op · "),
        "{stdout}"
    );
    let file = std::fs::read_to_string(&out).unwrap();
    assert!(
        file.starts_with(&format!(
            "# Shrunk by idemsim shrink from: idemsim run {MID} --seed 42 --dedup off"
        )),
        "{file}"
    );
    let replay = idemsim(&["run", out.to_str().unwrap(), "--seed", "42"]);
    assert_eq!(
        replay.status.code(),
        Some(1),
        "the minimal file still fails"
    );

    let o = idemsim(&[
        "shrink",
        MID,
        "--seed",
        "42",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to shrink"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A failure that needs pipelining keeps a window of at least two, and sheds the session
/// settings it does not need (here the expiry and the registration of
/// session-expiry-under-partition, against `last-seq`, which pipelining alone breaks).
#[test]
fn shrinking_keeps_the_window_a_failure_needs_and_drops_the_rest() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sim-scenarios/session-expiry-under-partition.toml");
    let mut s = scenario::load(&path).unwrap();
    s.dedup = Dedup::LastSeq;
    let seed = (0..20)
        .find(|&seed| !run(&s, RunOptions::new(seed)).passed())
        .expect("last-seq with a window fails within 20 seeds");
    let shrunk = shrink(&s, seed).expect("it fails");
    let min = &shrunk.scenario;
    assert!(min.clients.window >= 2, "window {}", min.clients.window);
    let mut one = min.clone();
    one.clients.window = 1;
    assert!(
        run(&one, RunOptions::new(seed)).passed(),
        "the same minimal scenario without pipelining passes"
    );
    assert_eq!(min.server.session_timeout_ms, 0, "expiry not needed");
    assert!(!min.clients.register, "registration not needed");
}

//! `idemsim check-history` as a user runs it: porcupine's six key-value histories, idemsim's
//! own JSONL traces of a correct and a flawed run, and malformed input.

use std::path::{Path, PathBuf};

use crate::common::idemsim;

fn porcupine(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/porcupine-kv")
        .join(format!("{name}.txt"))
}

fn check(path: &Path) -> (i32, String, String) {
    let o = idemsim(&["check-history", path.to_str().unwrap()]);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn porcupine_ok_histories_are_linearizable() {
    for name in ["c01-ok", "c10-ok", "c50-ok"] {
        let (code, out, err) = check(&porcupine(name));
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.starts_with("linearizable: "), "{name}: {out}");
    }
}

#[test]
fn porcupine_bad_histories_are_not_and_show_a_window() {
    for name in ["c01-bad", "c10-bad", "c50-bad"] {
        let (code, out, err) = check(&porcupine(name));
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(out.starts_with("NOT linearizable: "), "{name}: {out}");
        assert!(out.contains("\nkey \""), "{name}: {out}");
        assert!(
            out.contains("<- its answer ends the window"),
            "{name}: {out}"
        );
    }
}

#[test]
fn malformed_histories_exit_65_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(
        &path,
        "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n\
         {:process 0, :type :ok, :f :get, :key \"k\" :value}\n",
    )
    .unwrap();
    let (code, out, err) = check(&path);
    assert_eq!(code, 65, "{out}{err}");
    assert!(err.contains("bad.txt:2: "), "{err}");
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, "{\"t_us\":0,\"event\":\"submit\"}\n").unwrap();
    let (code, _, err) = check(&path);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("bad.jsonl:1: submit: no \"client_no\" number"),
        "{err}"
    );
}

#[test]
fn a_missing_file_exits_66_and_no_file_exits_2() {
    let (code, _, err) = check(Path::new("no/such/history.jsonl"));
    assert_eq!(code, 66, "{err}");
    assert_eq!(idemsim(&["check-history"]).status.code(), Some(2));
}

/// The JSONL trace of `idemsim run ARGS`.
fn trace(dir: &Path, args: &[&str]) -> PathBuf {
    let mut all = vec!["run", "--trace", "jsonl"];
    all.extend_from_slice(args);
    let o = idemsim(&all);
    let path = dir.join("trace.jsonl");
    std::fs::write(&path, &o.stdout).unwrap();
    path
}

#[test]
fn a_correct_runs_trace_is_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &[
            "sim-scenarios/lossy-duplicating-network.toml",
            "--seed",
            "3",
        ][..],
    ] {
        let (code, out, err) = check(&trace(dir.path(), args));
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
}

#[test]
fn a_run_without_dedup_that_applies_twice_is_not_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let path = trace(
        dir.path(),
        &[
            "sim-scenarios/lossy-duplicating-network.toml",
            "--dedup",
            "off",
            "--seed",
            "0",
        ],
    );
    let (code, out, err) = check(&path);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("<- its answer ends the window"), "{out}");
}

/// A regression: the window search runs on truncations and segments of one key's operations
/// with one model, and the model once cached transitions by an operation's index in the
/// slice, which names another operation in the next slice. On this history (`run --seed 9
/// --dedup off --swarm`, submits and replies only) that made the window come out
/// linearizable, which the debug build asserts against.
#[test]
fn the_window_of_a_long_history_fails_on_its_own() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/window-regression.jsonl");
    let (code, out, err) = check(&path);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("key \"k3\""), "{out}");
}

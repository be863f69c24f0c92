//! The trace interface (docs/DESIGN.md §7) and determinism (§3): JSONL lines carry the required
//! events and fields, the verdict is last, and the same seed gives a byte-identical trace.

use crate::common;

use std::collections::BTreeMap;

use idemsim::kv::Dedup;
use idemsim::scenario::{self, Scenario};
use idemsim::sim::determinism::{self, Determinism};
use idemsim::sim::{RunOptions, RunReport, run};
use idemsim::trace::{LineSink, TraceSink};
use serde_json::Value;

fn traced(s: &Scenario, seed: u64, sink: &mut dyn TraceSink, messages: bool) -> RunReport {
    let report = run(
        s,
        RunOptions {
            seed,
            sink: Some(&mut *sink),
            replay: "idemsim run --seed 1".to_owned(),
            messages,
            digest: true,
        },
    );
    sink.finish().expect("in-memory trace");
    report
}

fn jsonl(s: &Scenario, seed: u64) -> Vec<u8> {
    jsonl_with(s, seed, false)
}

fn jsonl_with(s: &Scenario, seed: u64, messages: bool) -> Vec<u8> {
    let mut sink = LineSink::jsonl(Vec::new());
    traced(s, seed, &mut sink, messages);
    sink.into_inner()
}

fn text(s: &Scenario, seed: u64) -> String {
    let mut sink = LineSink::text(Vec::new());
    traced(s, seed, &mut sink, false);
    String::from_utf8(sink.into_inner()).expect("utf-8 trace")
}

/// The message events `--messages` adds.
const MESSAGE_EVENTS: [&str; 5] = ["send", "deliver", "drop", "dup", "cut"];

/// `--messages` adds `send`, `deliver`, `drop`, `dup` and `cut` events with `from`, `to`,
/// `kind` and `bytes`, and changes nothing else: without them the trace is byte-for-byte the
/// trace of a run without `--messages`. On no link does more of a kind arrive (delivered,
/// dropped at a down process, cut) than was sent and duplicated.
#[test]
fn messages_add_events_and_change_nothing_else() {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for name in ["lossy-duplicating-network", "partitioned-leader"] {
        let path = common::shipped_scenarios()
            .into_iter()
            .find(|p| p.ends_with(format!("{name}.toml")))
            .expect("the scenario ships");
        let s = scenario::load(&path).unwrap();
        let plain = String::from_utf8(jsonl(&s, 3)).unwrap();
        assert!(
            !plain.contains(r#""event":"send""#),
            "{name}: message events are off by default"
        );
        let with = String::from_utf8(jsonl_with(&s, 3, true)).unwrap();
        let mut mine: BTreeMap<String, u64> = BTreeMap::new();
        let mut others = String::new();
        for (n, line) in with.lines().enumerate() {
            let v: Value = serde_json::from_str(line).expect("a JSON line");
            let event = v["event"].as_str().expect("an event name").to_owned();
            if MESSAGE_EVENTS.contains(&event.as_str()) {
                for key in ["from", "to", "kind", "bytes"] {
                    field(&v, key, n);
                }
                assert!(
                    v["bytes"].as_u64().is_some_and(|b| b > 0),
                    "line {n}: {line}"
                );
                if event == "drop" {
                    assert!(["lost", "down"].contains(&v["reason"].as_str().unwrap()));
                }
                *mine.entry(event).or_default() += 1;
            } else {
                others.push_str(line);
                others.push('\n');
            }
        }
        assert_eq!(
            others, plain,
            "{name}: message events changed the rest of the trace"
        );
        let count = |e: &str| mine.get(e).copied().unwrap_or(0);
        assert_eq!(
            count("send") + count("dup"),
            count("deliver") + count("drop") + count("cut") + in_flight_at_end(&with),
            "{name}: a link delivered a message kind more often than it carried it: {mine:?}"
        );
        for (e, n) in mine {
            *counts.entry(e).or_default() += n;
        }
    }
    for e in MESSAGE_EVENTS {
        assert!(counts.contains_key(e), "no {e} event: {counts:?}");
    }
}

/// Copies per (from, to, kind) sent or duplicated but not (yet) delivered, dropped or cut
/// when the run ended; a link where more arrived than left counts 0, and unbalances the sum.
fn in_flight_at_end(trace: &str) -> u64 {
    let mut open: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for line in trace.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = |v: &Value| {
            (
                v["from"].as_str().unwrap_or("").to_owned(),
                v["to"].as_str().unwrap_or("").to_owned(),
                v["kind"].as_str().unwrap_or("").to_owned(),
            )
        };
        match v["event"].as_str().unwrap() {
            "send" | "dup" => *open.entry(key(&v)).or_default() += 1,
            "deliver" | "cut" => *open.entry(key(&v)).or_default() -= 1,
            "drop" => *open.entry(key(&v)).or_default() -= 1,
            _ => {}
        }
    }
    open.values().map(|&n| n.max(0) as u64).sum()
}

/// The same seed twice: byte-identical JSONL, for every shipped scenario; another seed gives
/// another trace.
#[test]
fn same_seed_same_bytes() {
    for path in common::shipped_scenarios() {
        let s = scenario::load(&path).unwrap();
        for seed in [0, 1, s.seed] {
            let (a, b) = (jsonl(&s, seed), jsonl(&s, seed));
            assert!(a == b, "{} seed {seed}: two runs differ", s.name);
        }
        assert_ne!(
            jsonl(&s, 0),
            jsonl(&s, 1),
            "{}: seeds 0 and 1 gave one trace",
            s.name
        );
    }
}

/// `--check-determinism`'s library half: a rerun reproduces the digest.
#[test]
fn determinism_check_agrees_with_itself() {
    let s = scenario::default_scenario();
    let first = run(&s, RunOptions::new(5).digested());
    let again = run(&s, RunOptions::new(5).digested());
    let digest = first.trace_digest.expect("a digested run has a digest");
    assert_eq!(Some(digest), again.trace_digest);
    assert_eq!(
        determinism::check(&s, 5, "", false, &first),
        Determinism::Identical { digest }
    );
    // A first run made without its digest (as sweeps run) is digested again by the check.
    let undigested = run(&s, RunOptions::new(5));
    assert_eq!(undigested.trace_digest, None);
    assert_eq!(
        determinism::check(&s, 5, "", false, &undigested),
        Determinism::Identical { digest }
    );
    let other = run(&s, RunOptions::new(6).digested());
    assert_ne!(Some(digest), other.trace_digest);
}

fn field<'a>(line: &'a Value, key: &str, n: usize) -> &'a Value {
    line.get(key)
        .unwrap_or_else(|| panic!("line {n}: {} lacks \"{key}\": {line}", line["event"]))
}

fn is_u64(v: &Value) -> bool {
    v.as_u64().is_some()
}

fn is_str_or_null(v: &Value) -> bool {
    v.is_string() || v.is_null()
}

/// Every line is a JSON object with a non-decreasing `t_us` and an `event`; every required
/// event has its required fields with the right types; the verdict is the last line; each
/// node's apply indexes increase strictly between restarts.
#[test]
fn jsonl_lines_follow_the_interface() {
    let mut s = scenario::default_scenario();
    for dedup in [Dedup::Sessions, Dedup::Off] {
        s.dedup = dedup;
        let bytes = jsonl(&s, 3);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .enumerate()
            .map(|(n, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("line {n} is not JSON ({e}): {l}"))
            })
            .collect();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut last_t = 0;
        let mut last_applied: BTreeMap<u64, u64> = BTreeMap::new();
        for (n, line) in lines.iter().enumerate() {
            let t = field(line, "t_us", n).as_u64().expect("t_us is a number");
            assert!(t >= last_t, "line {n}: t_us went back from {last_t} to {t}");
            last_t = t;
            let event = field(line, "event", n)
                .as_str()
                .expect("event is a string")
                .to_owned();
            *seen.entry(event.clone()).or_default() += 1;
            let numbers: &[&str] = match event.as_str() {
                "submit" => &["client", "seq"],
                "request" => &["client", "seq", "node", "attempt"],
                "reply" => &["client", "seq", "node"],
                "apply" => &["node", "index", "term"],
                "dedup" => &["node", "client", "seq", "last_seq"],
                "leader" => &["node", "term"],
                "crash" | "restart" => &["node"],
                _ => &[],
            };
            for key in numbers {
                assert!(
                    is_u64(field(line, key, n)),
                    "line {n}: {key} is not a u64: {line}"
                );
            }
            match event.as_str() {
                "submit" => {
                    assert!(field(line, "op", n).is_string());
                    assert!(field(line, "key", n).is_string());
                    assert!(is_str_or_null(field(line, "value", n)));
                }
                "reply" => assert!(is_str_or_null(field(line, "result", n))),
                "apply" => {
                    let op = field(line, "op", n).as_str().unwrap();
                    if op == "noop" {
                        assert!(field(line, "client", n).is_null());
                    } else {
                        assert!(is_u64(field(line, "client", n)) && is_u64(field(line, "seq", n)));
                        assert!(field(line, "key", n).is_string());
                    }
                    assert!(is_str_or_null(field(line, "value", n)));
                    let outcome = field(line, "outcome", n).as_str().unwrap();
                    assert!(
                        ["applied", "duplicate"].contains(&outcome),
                        "line {n}: outcome {outcome}"
                    );
                    assert!(is_str_or_null(field(line, "result", n)));
                    let node = line["node"].as_u64().unwrap();
                    let index = line["index"].as_u64().unwrap();
                    let last = last_applied.insert(node, index).unwrap_or(0);
                    assert!(
                        index > last,
                        "line {n}: n{node} applied {index} after {last}"
                    );
                }
                "crash" | "restart" => {
                    last_applied.remove(&line["node"].as_u64().unwrap());
                }
                "verdict" => {
                    assert_eq!(n, lines.len() - 1, "the verdict is the last line");
                    assert!(field(line, "ok", n).is_boolean());
                    assert!(field(line, "violations", n).is_array());
                    assert_eq!(
                        line["ok"].as_bool(),
                        Some(dedup != Dedup::Off),
                        "{dedup:?}: {line}"
                    );
                }
                _ => {}
            }
        }
        for required in [
            "submit", "request", "reply", "apply", "leader", "crash", "restart", "verdict",
        ] {
            assert!(
                seen.contains_key(required),
                "{dedup:?}: no {required} event in {seen:?}"
            );
        }
        if dedup == Dedup::Sessions {
            assert!(
                seen.contains_key("dedup"),
                "sessions detected no duplicate: {seen:?}"
            );
        }
    }
}

/// The text trace keeps the seed lesson's line word for word, after the time and the node.
#[test]
fn text_trace_has_the_lesson_line() {
    let s = scenario::default_scenario();
    let trace = text(&s, s.seed);
    let lesson = trace
        .lines()
        .find(|l| l.contains("[dedup]"))
        .expect("a dedup line at the default seed");
    let (prefix, rest) = lesson.split_once(" [dedup] ").unwrap();
    assert!(
        prefix.starts_with("t=") && prefix.ends_with(|c: char| c.is_ascii_digit()),
        "{lesson}"
    );
    let words: Vec<&str> = rest.split(' ').collect();
    assert_eq!(words[0], "client");
    assert!(words[1].parse::<u64>().is_ok(), "{lesson}");
    assert_eq!(words[2], "seq");
    assert!(words[3].parse::<u64>().is_ok(), "{lesson}");
    assert!(
        rest.contains(" is duplicate, returning cached result"),
        "{lesson}"
    );
    assert!(trace.lines().last().unwrap().starts_with("t=") && trace.contains("verdict PASS"));
}

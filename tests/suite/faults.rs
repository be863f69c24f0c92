//! Fault triggers fire in the state docs/DESIGN.md §4 defines, and the run does not end while a
//! fault's consequences are still on the wire.

use idemsim::kv::Dedup;
use idemsim::scenario;
use idemsim::sim::{RunOptions, run};
use idemsim::trace::RecordingSink;
use serde_json::Value;

/// Two crash faults due at the same moment: the second one arms while there is no leader and
/// must then wait for the new leader's own writes, not fire on entries it inherited.
fn back_to_back(when: &str) -> String {
    format!(
        r#"
name = "back-to-back"
duration_ms = 3000
liveness_ms = 10000
[clients]
count = 3
ops = 60
keys = 2
mix = {{ append = 1, incr = 1 }}
[[faults]]
kind = "crash"
at_ms = 400
node = "leader"
when = "{when}"
restart_after_ms = 300
[[faults]]
kind = "crash"
at_ms = 400
node = "leader"
when = "{when}"
restart_after_ms = 300
"#
    )
}

fn events(s: &scenario::Scenario, seed: u64) -> Vec<Value> {
    let mut sink = RecordingSink::default();
    run(
        s,
        RunOptions {
            seed,
            sink: Some(&mut sink),
            replay: String::new(),
            messages: false,
            digest: false,
        },
    );
    sink.lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Every crash of `when` over seeds 0..20, with the trace before it and the append (by the
/// crashing leader, in its term) of the write the crash names.
fn crashes_with_their_writes(when: &str) -> Vec<(u64, Vec<Value>, Value, Value)> {
    let s = scenario::parse("b.toml", &back_to_back(when)).unwrap();
    let mut found = Vec::new();
    for seed in 0..20 {
        let ev = events(&s, seed);
        for (i, e) in ev.iter().enumerate().filter(|(_, e)| e["event"] == "crash") {
            let before = ev[..i].to_vec();
            let append = before
                .iter()
                .find(|a| {
                    a["event"] == "append"
                        && a["node"] == e["node"]
                        && a["term"] == e["term"]
                        && a["index"] == e["index"]
                })
                .unwrap_or_else(|| {
                    panic!("seed {seed}: crash on a write its leader did not append: {e}")
                })
                .clone();
            found.push((seed, before, e.clone(), append));
        }
    }
    assert!(
        found.len() >= 20,
        "only {} {when} crashes fired in 20 seeds",
        found.len()
    );
    found
}

/// mid-replication: the crash names a write the crashing leader appended in its own term,
/// that no replica had applied yet (so it was not committed).
#[test]
fn mid_replication_crashes_on_the_leaders_own_uncommitted_write() {
    for (seed, before, crash, _) in crashes_with_their_writes("mid-replication") {
        let applied = before
            .iter()
            .any(|a| a["event"] == "apply" && a["index"] == crash["index"]);
        assert!(
            !applied,
            "seed {seed}: crash on an already applied write: {crash}"
        );
    }
}

/// after-commit: the crash names a write the crashing leader appended in its own term and
/// still owed an answer for: its client had accepted no reply for that seq.
#[test]
fn after_commit_crashes_before_the_client_has_its_answer() {
    for (seed, before, crash, append) in crashes_with_their_writes("after-commit") {
        let answered = before.iter().any(|r| {
            r["event"] == "reply" && r["client"] == append["client"] && r["seq"] == append["seq"]
        });
        assert!(
            !answered,
            "seed {seed}: the client already had its answer: {crash}"
        );
    }
}

/// A slow duplicate of a client request still in flight when all work is done must be
/// waited for: with `off` it takes effect a second time, which must be seen.
#[test]
fn the_run_waits_for_late_duplicate_requests() {
    let text = r#"
name = "slow-duplicates"
duration_ms = 2000
liveness_ms = 20000
[clients]
count = 3
ops = 50
timeout_ms = 100
[[faults]]
kind = "network"
at_ms = 1500
for_ms = 400
duplicate = 0.5
delay_ms = [1, 8000]
"#;
    let mut s = scenario::parse("slow.toml", text).unwrap();
    s.dedup = Dedup::Off;
    let passed: Vec<u64> = [7u64, 12, 18]
        .into_iter()
        .filter(|&seed| run(&s, RunOptions::new(seed)).passed())
        .collect();
    assert!(
        passed.is_empty(),
        "off passed on seeds {passed:?}: late duplicates were not waited for"
    );
    s.dedup = Dedup::Sessions;
    for seed in [7, 12, 18] {
        let r = run(&s, RunOptions::new(seed));
        assert!(r.passed(), "seed {seed}: {:?}", r.violations.kept());
    }
}

/// before-replicate: the write the crash names was sent to no one, so it never commits: no
/// replica ever applies that index with the crashed leader's term.
#[test]
fn before_replicate_crashes_on_a_write_no_one_received() {
    let s = scenario::parse("b.toml", &back_to_back("before-replicate")).unwrap();
    let mut crashes = 0;
    for seed in 0..20 {
        let ev = events(&s, seed);
        for (i, crash) in ev.iter().enumerate().filter(|(_, e)| e["event"] == "crash") {
            crashes += 1;
            let appended = ev[..i].iter().any(|a| {
                a["event"] == "append"
                    && a["node"] == crash["node"]
                    && a["term"] == crash["term"]
                    && a["index"] == crash["index"]
            });
            assert!(appended, "seed {seed}: {crash}");
            let committed = ev.iter().any(|a| {
                a["event"] == "apply" && a["index"] == crash["index"] && a["term"] == crash["term"]
            });
            assert!(
                !committed,
                "seed {seed}: a write sent to no one was applied: {crash}"
            );
        }
    }
    assert!(crashes >= 20, "only {crashes} crashes fired in 20 seeds");
}

/// after-reply: the crashing leader applied the write the crash names at that very instant
/// (and so answered its client, whose reply is on the wire).
#[test]
fn after_reply_crashes_right_after_answering() {
    let s = scenario::parse("b.toml", &back_to_back("after-reply")).unwrap();
    let mut crashes = 0;
    for seed in 0..20 {
        let ev = events(&s, seed);
        for (i, crash) in ev.iter().enumerate().filter(|(_, e)| e["event"] == "crash") {
            crashes += 1;
            let answered_now = ev[..i].iter().any(|a| {
                a["event"] == "apply"
                    && a["node"] == crash["node"]
                    && a["index"] == crash["index"]
                    && a["t_us"] == crash["t_us"]
                    && a["outcome"] == "applied"
            });
            assert!(answered_now, "seed {seed}: {crash}");
        }
    }
    assert!(crashes >= 20, "only {crashes} crashes fired in 20 seeds");
}

/// A replay re-delivers old requests only after a leader change, to the new leader, and the
/// session table keeps them from taking effect again.
#[test]
fn replays_follow_a_leader_change_and_take_no_effect() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/stale-replays.toml");
    let s = scenario::load(&path).unwrap();
    let mut replays = 0;
    for seed in 0..20 {
        let ev = events(&s, seed);
        for (i, replay) in ev
            .iter()
            .enumerate()
            .filter(|(_, e)| e["event"] == "replay")
        {
            replays += 1;
            let leader = ev[..i]
                .iter()
                .rev()
                .find(|e| e["event"] == "leader")
                .unwrap_or_else(|| panic!("seed {seed}: a replay before any leader: {replay}"));
            assert_eq!(
                leader["node"], replay["node"],
                "seed {seed}: replayed to the latest leader"
            );
        }
        assert_eq!(
            ev.last().unwrap()["ok"],
            true,
            "seed {seed}: {}",
            ev.last().unwrap()
        );
    }
    assert!(
        replays >= 100,
        "only {replays} requests replayed in 20 seeds"
    );
}

/// after-reply, under swarm profiles where the leader's timers interleave with its replies:
/// the crash always comes in the same instant as the apply that answered the client.
#[test]
fn after_reply_never_reads_an_old_reply() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/client-restarts.toml");
    let mut s = scenario::load(&path).unwrap();
    s.swarm = Some(scenario::SwarmSpec::default());
    let mut crashes = 0;
    for seed in 0..60 {
        let ev = events(&s, seed);
        for (i, crash) in ev.iter().enumerate() {
            if crash["event"] != "crash" || crash["when"] != "after-reply" {
                continue;
            }
            crashes += 1;
            let just_now = ev[..i].iter().any(|a| {
                a["event"] == "apply"
                    && a["node"] == crash["node"]
                    && a["index"] == crash["index"]
                    && a["t_us"] == crash["t_us"]
            });
            assert!(just_now, "swarm seed {seed}: {crash}");
        }
    }
    assert!(
        crashes >= 10,
        "only {crashes} after-reply crashes in 60 swarm seeds"
    );
}

/// A clock fault moves what a node reads as now, not how long its timers wait: clocks an
/// hour ahead, cleared at the liveness phase, leave the cluster electing and serving (timers
/// armed on the skewed clock move back with it), and the stamps jump ahead with the leader's
/// clock but never back.
#[test]
fn clock_jumps_move_readings_not_timer_waits() {
    let text = r#"
name = "clock-jumps"
duration_ms = 3000
liveness_ms = 10000
[clients]
count = 2
ops = 200
think_ms = [0, 60]
[[faults]]
kind = "clock"
at_ms = 100
node = 1
offset_ms = 3600000
for_ms = 10000
[[faults]]
kind = "clock"
at_ms = 100
node = 2
offset_ms = 3600000
for_ms = 10000
[[faults]]
kind = "clock"
at_ms = 100
node = 3
offset_ms = 3600000
for_ms = 10000
[[faults]]
kind = "crash"
at_ms = 2990
node = "leader"
restart_after_ms = 5
"#;
    let s = scenario::parse("clock-jumps.toml", text).unwrap();
    for seed in 0..4 {
        let r = run(&s, RunOptions::new(seed));
        assert!(r.passed(), "seed {seed}: {:?}", r.violations.kept());
        let clocks: Vec<i64> = events(&s, seed)
            .iter()
            .filter(|e| e["event"] == "clock")
            .map(|e| e["offset_us"].as_i64().unwrap())
            .collect();
        assert_eq!(clocks.len(), 6, "seed {seed}: three set, three cleared");
    }
}

/// Two clock faults on one node: the later one takes the clock over, and the earlier one's
/// end leaves it alone (it is the later one's to clear).
#[test]
fn a_later_clock_fault_owns_the_clock() {
    let text = r#"
name = "clock-overlap"
duration_ms = 3000
[clients]
count = 1
ops = 20
[[faults]]
kind = "clock"
at_ms = 100
node = 1
offset_ms = 1000
for_ms = 500
[[faults]]
kind = "clock"
at_ms = 300
node = 1
drift_ppm = 100000
for_ms = 1000
"#;
    let s = scenario::parse("clock-overlap.toml", text).unwrap();
    let clocks: Vec<(u64, u64, i64)> = events(&s, 0)
        .iter()
        .filter(|e| e["event"] == "clock")
        .map(|e| {
            (
                e["t_us"].as_u64().unwrap(),
                e["fault"].as_u64().unwrap(),
                e["drift_ppm"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        clocks,
        [(100_000, 0, 0), (300_000, 1, 100_000), (1_300_000, 1, 0)],
        "fault 0's end at 600 ms changes nothing"
    );
}

/// A client that resumes after a crash with several requests in flight reuses exactly the
/// abandoned seqs, never one between them that was acknowledged (the servers still hold that
/// result, so reusing it would answer a new operation with an old result).
#[test]
fn a_pipelining_client_resumes_only_its_abandoned_seqs() {
    let text = r#"
name = "resume-window"
duration_ms = 3000
[network]
delay_ms = [1, 10]
drop = 0.05
[clients]
count = 3
ops = 80
keys = 2
timeout_ms = 200
think_ms = [0, 10]
mix = { incr = 1 }
window = 4
on_restart = "resume"
[[faults]]
kind = "client-crash"
at_ms = 300
restart_after_ms = 5
[[faults]]
kind = "client-crash"
at_ms = 700
restart_after_ms = 5
[[faults]]
kind = "client-crash"
at_ms = 1100
restart_after_ms = 5
"#;
    let s = scenario::parse("resume-window.toml", text).unwrap();
    for seed in 0..40 {
        let r = run(&s, RunOptions::new(seed));
        assert!(r.passed(), "seed {seed}: {:?}", r.violations.kept());
    }
}

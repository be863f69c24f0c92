//! Each checker, fed hand-made event sequences: it stays quiet on a correct history and fires,
//! naming the rule, client, seq, node and index, on each kind of broken one.

use std::sync::Arc;

use super::*;
use crate::digest::Digest;
use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, SimTime, Term};
use crate::kv::{Op, OpResult, Origin, Outcome, Request, StateDigest};
use crate::message::{Entry, Payload};
use crate::raft::Log;
use crate::trace::{LogView, TraceEvent};

const T: SimTime = SimTime(1_000);
const C: ClientId = ClientId(42);
const ORIGIN: Origin = Origin {
    client_no: ClientNo(1),
    incarnation: 0,
};

fn incr(seq: u64) -> Arc<Request> {
    Arc::new(Request {
        client: C,
        seq: Seq(seq),
        lowest_unacked: Seq(seq),
        op: Op::Incr {
            key: Arc::from("k"),
            amount: 1,
        },
        origin: ORIGIN,
    })
}

fn result(s: &str) -> OpResult {
    Some(Arc::from(s))
}

fn digest(n: u64) -> StateDigest {
    StateDigest {
        kv: Digest(n),
        sessions: Digest(0),
    }
}

fn apply(
    checks: &mut Checks,
    node: u8,
    index: u64,
    payload: &Payload,
    outcome: Outcome,
    r: &OpResult,
    d: StateDigest,
) {
    checks.observe(
        T,
        &TraceEvent::Apply {
            node: NodeId(node),
            index: LogIndex(index),
            term: Term(1),
            payload,
            outcome,
            result: r,
            digest: d,
            table: crate::trace::TableView(Default::default()),
        },
    );
}

fn submit(checks: &mut Checks, request: &Arc<Request>) {
    checks.observe(
        T,
        &TraceEvent::Submit {
            client_no: ClientNo(1),
            request,
        },
    );
}

fn reply(checks: &mut Checks, seq: u64, r: &OpResult) {
    checks.observe(
        T,
        &TraceEvent::Reply {
            client_no: ClientNo(1),
            origin: ORIGIN,
            client: C,
            seq: Seq(seq),
            node: NodeId(1),
            result: r,
            cached: false,
        },
    );
}

fn rules(v: &Violations) -> Vec<Rule> {
    v.kept().iter().map(|v| v.rule).collect()
}

/// A correct history: one write applied at one index on three replicas (plus a duplicate
/// copy at a later index), acknowledged with the result of that application.
#[test]
fn a_correct_history_passes_every_checker() {
    let mut checks = Checks::new(3);
    let r = incr(1);
    let payload = Payload::Client(Arc::clone(&r));
    submit(&mut checks, &r);
    for node in 1..=3 {
        apply(
            &mut checks,
            node,
            1,
            &payload,
            Outcome::Applied,
            &result("1"),
            digest(7),
        );
        let dup = Outcome::Duplicate {
            last_seq: Seq(1),
            expired: false,
        };
        apply(&mut checks, node, 2, &payload, dup, &result("1"), digest(7));
    }
    reply(&mut checks, 1, &result("1"));
    let found = checks.finish(T, &[]);
    assert_eq!(found.total(), 0, "{:?}", found.kept());
}

/// Exactly once: the same (client, seq) taking effect at two indexes is caught, with both
/// indexes and results in the message.
#[test]
fn exactly_once_catches_a_double_apply() {
    let mut checks = Checks::new(3);
    let r = incr(7);
    let payload = Payload::Client(Arc::clone(&r));
    submit(&mut checks, &r);
    apply(
        &mut checks,
        3,
        31,
        &payload,
        Outcome::Applied,
        &result("5"),
        digest(1),
    );
    apply(
        &mut checks,
        3,
        33,
        &payload,
        Outcome::Applied,
        &result("6"),
        digest(2),
    );
    reply(&mut checks, 7, &result("6"));
    let found = checks.finish(T, &[]);
    assert_eq!(found.count(Rule::ExactlyOnce), 1, "{:?}", found.kept());
    let message = &found
        .kept()
        .iter()
        .find(|v| v.rule == Rule::ExactlyOnce)
        .expect("kept")
        .message;
    for part in [
        "client 42 seq 7",
        "on n3 (index 31 and index 33)",
        "\"5\"",
        "\"6\"",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

/// Exactly once: an acknowledged write that never took effect, and an acknowledgement whose
/// result is not the result of the one application, are both caught.
#[test]
fn exactly_once_catches_lost_writes_and_wrong_results() {
    let mut checks = Checks::new(3);
    let (lost, wrong) = (incr(1), incr(2));
    submit(&mut checks, &lost);
    reply(&mut checks, 1, &result("1"));
    submit(&mut checks, &wrong);
    let payload = Payload::Client(Arc::clone(&wrong));
    apply(
        &mut checks,
        1,
        1,
        &payload,
        Outcome::Applied,
        &result("1"),
        digest(1),
    );
    reply(&mut checks, 2, &result("2"));
    let found = checks.finish(T, &[]);
    let messages: Vec<&str> = found.kept().iter().map(|v| v.message.as_str()).collect();
    assert_eq!(found.count(Rule::ExactlyOnce), 2, "{messages:?}");
    assert!(
        messages[0].contains("seq 1") && messages[0].contains("never took effect"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("seq 2") && messages[1].contains("got \"2\""),
        "{}",
        messages[1]
    );
}

/// Election safety: two leaders in one term.
#[test]
fn raft_safety_catches_two_leaders_in_a_term() {
    let mut checks = Checks::new(3);
    checks.observe(
        T,
        &TraceEvent::Leader {
            node: NodeId(1),
            term: Term(4),
            log: LogView(&Log::new()),
        },
    );
    checks.observe(
        T,
        &TraceEvent::Leader {
            node: NodeId(2),
            term: Term(5),
            log: LogView(&Log::new()),
        },
    );
    checks.observe(
        T,
        &TraceEvent::Leader {
            node: NodeId(3),
            term: Term(4),
            log: LogView(&Log::new()),
        },
    );
    let found = checks.finish(T, &[]);
    assert_eq!(rules(&found), [Rule::RaftSafety]);
    assert!(
        found.kept()[0]
            .message
            .contains("two leaders in term 4: n1 and n3")
    );
}

/// State machine safety: two replicas apply different entries at one index; and a replica
/// applying out of index order.
#[test]
fn raft_safety_catches_divergent_and_out_of_order_applies() {
    let mut checks = Checks::new(3);
    let (a, b) = (Payload::Client(incr(1)), Payload::Client(incr(2)));
    apply(&mut checks, 1, 1, &a, Outcome::Applied, &None, digest(1));
    apply(&mut checks, 2, 1, &b, Outcome::Applied, &None, digest(1));
    apply(
        &mut checks,
        3,
        2,
        &Payload::Noop,
        Outcome::Applied,
        &None,
        digest(1),
    );
    let found = checks.finish(T, &[]);
    let messages: Vec<&str> = found.kept().iter().map(|v| v.message.as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("index 1 was applied as term 1 client 42 seq 1 on n1 but as term 1 client 42 seq 2 on n2")), "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("n3 applied index 2 right after index 0")),
        "{messages:?}"
    );
}

/// Leader completeness: a new leader whose log lacks an applied (committed) entry.
#[test]
fn raft_safety_catches_an_incomplete_leader() {
    let mut checks = Checks::new(3);
    apply(
        &mut checks,
        1,
        1,
        &Payload::Noop,
        Outcome::Applied,
        &None,
        digest(1),
    );
    let mut log = Log::new();
    log.push(Entry {
        term: Term(1),
        payload: Payload::Noop,
        stamp_us: 0,
    });
    fn leader(node: u8, term: u64, log: &Log) -> TraceEvent<'_> {
        TraceEvent::Leader {
            node: NodeId(node),
            term: Term(term),
            log: LogView(log),
        }
    }
    checks.observe(T, &leader(2, 2, &log));
    assert_eq!(checks.found().total(), 0, "n2 holds index 1");
    checks.observe(T, &leader(3, 3, &Log::new()));
    let found = checks.finish(T, &[]);
    assert_eq!(rules(&found), [Rule::RaftSafety]);
    assert!(
        found.kept()[0]
            .message
            .contains("n3 became leader of term 3 without committed index 1")
    );
}

/// Convergence: equal index, different state; reported once, naming both replicas.
#[test]
fn convergence_catches_diverging_replicas_once() {
    let mut checks = Checks::new(3);
    let p = Payload::Client(incr(1));
    apply(&mut checks, 1, 1, &p, Outcome::Applied, &None, digest(1));
    let skewed = StateDigest {
        kv: Digest(1),
        sessions: Digest(9),
    };
    apply(&mut checks, 2, 1, &p, Outcome::Applied, &None, skewed);
    apply(&mut checks, 3, 1, &p, Outcome::Applied, &None, skewed);
    let found = checks.finish(T, &[]);
    assert_eq!(rules(&found), [Rule::Convergence]);
    assert_eq!(
        found.kept()[0].message,
        "n1 and n2 diverge after applying index 1: session tables differ"
    );
}

/// Liveness: a client with an unanswered operation at the end of the run.
#[test]
fn liveness_reports_pending_operations() {
    let checks = Checks::new(3);
    let pending = [PendingOp {
        client_no: ClientNo(2),
        client: C,
        waiting: Some((Seq(9), "incr k 1".to_owned(), SimTime(4_000_000))),
        unsubmitted: 3,
    }];
    let found = checks.finish(SimTime(20_000_000), &pending);
    assert_eq!(rules(&found), [Rule::Liveness]);
    assert_eq!(
        found.kept()[0].message,
        "c2 (client 42) seq 9 (incr k 1) submitted at t=4.000000s still has no answer at t=20.000000s; 3 more ops never submitted"
    );
}

/// Payload identity: a `(client, seq)` that took effect as another operation than the one
/// submitted under it is an exactly-once violation naming both operations, even though the
/// seq took effect exactly once and the client got that application's result.
#[test]
fn exactly_once_catches_another_operation_under_the_submitted_seq() {
    let mut checks = Checks::new(1);
    let submitted = incr(3);
    submit(&mut checks, &submitted);
    let rebuilt = Arc::new(Request {
        op: Op::Put {
            key: Arc::from("k"),
            value: Arc::from("9"),
        },
        ..(*submitted).clone()
    });
    let payload = Payload::Client(rebuilt);
    apply(
        &mut checks,
        1,
        1,
        &payload,
        Outcome::Applied,
        &None,
        digest(1),
    );
    reply(&mut checks, 3, &None);
    let found = checks.finish(T, &[]);
    // The client was told its incr returned null, which no incr can: its history is not
    // linearizable either.
    assert_eq!(
        rules(&found),
        vec![Rule::ExactlyOnce, Rule::Linearizability],
        "{:?}",
        found.kept()
    );
    let message = &found.kept()[0].message;
    for part in [
        "seq 3",
        "took effect as put k 9",
        "at index 1 on n1",
        "incr k 1",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

/// An operation ended `session-expired` is indefinite: taking effect once is fine, twice is
/// an exactly-once violation like any other.
#[test]
fn exactly_once_judges_an_expired_operation_as_indefinite() {
    let expired = |checks: &mut Checks| {
        checks.observe(
            T,
            &TraceEvent::Refused {
                client_no: ClientNo(1),
                origin: ORIGIN,
                client: C,
                seq: Seq(1),
                node: NodeId(1),
                last_seq: Seq(0),
                reason: crate::message::Refusal::SessionExpired,
            },
        )
    };
    let request = incr(1);
    let p = Payload::Client(Arc::clone(&request));
    let mut once = Checks::new(3);
    submit(&mut once, &request);
    apply(
        &mut once,
        1,
        1,
        &p,
        Outcome::Applied,
        &result("1"),
        digest(1),
    );
    expired(&mut once);
    assert_eq!(rules(&once.finish(T, &[])), [], "took effect once: fine");

    let mut twice = Checks::new(3);
    submit(&mut twice, &request);
    apply(
        &mut twice,
        1,
        1,
        &p,
        Outcome::Applied,
        &result("1"),
        digest(1),
    );
    apply(
        &mut twice,
        1,
        2,
        &p,
        Outcome::Applied,
        &result("2"),
        digest(2),
    );
    expired(&mut twice);
    let found = twice.finish(T, &[]);
    assert_eq!(rules(&found), [Rule::ExactlyOnce]);
    assert!(found.kept()[0].message.contains("took effect twice"));
}

/// Table size: more live sessions than `max_sessions`, or more cached results for a client
/// than its window, after an apply; each reported once, naming the node and index.
#[test]
fn table_size_catches_a_table_past_its_bounds() {
    use crate::kv::TableSize;
    use crate::trace::TableView;
    let mut checks = Checks::bounded(
        3,
        TableBounds {
            max_sessions: 2,
            window: 2,
        },
    );
    let p = Payload::Client(incr(3));
    let at = |checks: &mut Checks, index: u64, sessions: u32, results: u32| {
        checks.observe(
            T,
            &TraceEvent::Apply {
                node: NodeId(2),
                index: LogIndex(index),
                term: Term(1),
                payload: &p,
                outcome: Outcome::Applied,
                result: &None,
                digest: digest(index),
                table: TableView(TableSize { sessions, results }),
            },
        )
    };
    at(&mut checks, 1, 2, 2);
    assert_eq!(checks.found().total(), 0, "at the bounds: fine");
    at(&mut checks, 2, 3, 2);
    at(&mut checks, 3, 3, 3);
    at(&mut checks, 4, 4, 4);
    let found = checks.finish(T, &[]);
    let table: Vec<&str> = found
        .kept()
        .iter()
        .filter(|v| v.rule == Rule::TableSize)
        .map(|v| v.message.as_str())
        .collect();
    assert_eq!(table.len(), 2, "{table:?}");
    assert_eq!(
        table[0],
        "n2 holds 3 live sessions after applying index 2, past max_sessions = 2"
    );
    assert!(
        table[1]
            .starts_with("n2 caches 3 results for client 42 (at its seq 3) after applying index 3"),
        "{}",
        table[1]
    );
}

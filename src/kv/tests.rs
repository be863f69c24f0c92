//! The dedup strategies, each on the request sequences that tell them apart.

use std::sync::Arc;

use super::*;
use crate::ids::ClientId;

const CLIENT: ClientId = ClientId(42);

fn incr(seq: u64, lowest_unacked: u64, amount: i64) -> Arc<Request> {
    Arc::new(Request {
        client: CLIENT,
        seq: Seq(seq),
        lowest_unacked: Seq(lowest_unacked),
        op: Op::Incr {
            key: Arc::from("n"),
            amount,
        },
        origin: Origin::default(),
    })
}

fn get(seq: u64) -> Arc<Request> {
    Arc::new(Request {
        client: CLIENT,
        seq: Seq(seq),
        lowest_unacked: Seq(seq),
        op: Op::Get {
            key: Arc::from("n"),
        },
        origin: Origin::default(),
    })
}

fn value(sm: &StateMachine) -> Option<&str> {
    sm.store().get("n").map(|v| &**v)
}

fn res(r: &OpResult) -> Option<&str> {
    r.as_deref()
}

/// The seed lesson's scenario: the same `(client_id, seq)` applied twice takes effect once
/// and the second copy gets the cached result (both correct strategies).
#[test]
fn retry_of_applied_write_returns_cached_result() {
    for dedup in [Dedup::Sessions, Dedup::LastSeq] {
        let mut sm = StateMachine::new(dedup);
        let (outcome, result) = sm.apply(&incr(1, 1, 5), true);
        assert_eq!(outcome, Outcome::Applied, "{dedup:?}");
        assert_eq!(res(&result), Some("5"), "{dedup:?}");
        let (outcome, result) = sm.apply(&incr(1, 1, 5), true);
        assert_eq!(
            outcome,
            Outcome::Duplicate {
                last_seq: Seq(1),
                expired: false
            },
            "{dedup:?}"
        );
        assert_eq!(res(&result), Some("5"), "{dedup:?}: cached result");
        assert_eq!(value(&sm), Some("5"), "{dedup:?}: applied once");
        let (outcome, result) = sm.apply(&incr(2, 2, 1), true);
        assert_eq!(outcome, Outcome::Applied, "{dedup:?}");
        assert_eq!(res(&result), Some("6"), "{dedup:?}");
    }
}

/// `off` is at-least-once: a retried increment takes effect twice.
#[test]
fn off_applies_a_retry_twice() {
    let mut sm = StateMachine::new(Dedup::Off);
    sm.apply(&incr(1, 1, 5), true);
    let (outcome, result) = sm.apply(&incr(1, 1, 5), true);
    assert_eq!(outcome, Outcome::Applied);
    assert_eq!(res(&result), Some("10"));
    assert_eq!(value(&sm), Some("10"));
}

/// `sessions` forgets a result once the client says it was acknowledged, and a late copy of
/// that request is still recognised as a duplicate (expired), never re-applied.
#[test]
fn sessions_forget_acknowledged_results_but_still_reject_them() {
    let mut sm = StateMachine::new(Dedup::Sessions);
    sm.apply(&incr(1, 1, 5), true);
    sm.apply(&incr(2, 2, 1), true); // seq 1 acknowledged
    let (outcome, result) = sm.apply(&incr(1, 1, 5), true);
    assert_eq!(
        outcome,
        Outcome::Duplicate {
            last_seq: Seq(2),
            expired: true
        }
    );
    assert_eq!(res(&result), None);
    assert_eq!(value(&sm), Some("6"));
}

/// With two requests in flight, `sessions` returns each retry its own result while
/// `last-seq` returns the newer one's: the documented limit of `last-seq`.
#[test]
fn pipelined_requests_tell_sessions_from_last_seq() {
    let mut sessions = StateMachine::new(Dedup::Sessions);
    let mut last_seq = StateMachine::new(Dedup::LastSeq);
    for sm in [&mut sessions, &mut last_seq] {
        sm.apply(&incr(1, 1, 10), true); // "10"
        sm.apply(&incr(2, 1, 1), true); // "11", seq 1 still unacknowledged
    }
    let (_, result) = sessions.apply(&incr(1, 1, 10), true);
    assert_eq!(res(&result), Some("10"), "sessions caches per seq");
    let (_, result) = last_seq.apply(&incr(1, 1, 10), true);
    assert_eq!(
        res(&result),
        Some("11"),
        "last-seq returns last_seq's result"
    );
    assert_eq!(value(&sessions), Some("11"));
    assert_eq!(value(&last_seq), Some("11"));
}

/// Reads are never deduplicated: a repeated get is applied (and may see newer data).
#[test]
fn gets_are_never_deduplicated() {
    for dedup in [Dedup::Sessions, Dedup::LastSeq, Dedup::Off] {
        let mut sm = StateMachine::new(dedup);
        sm.apply(&incr(1, 1, 3), true);
        let (outcome, result) = sm.apply(&get(2), true);
        assert_eq!(outcome, Outcome::Applied, "{dedup:?}");
        assert_eq!(res(&result), Some("3"), "{dedup:?}");
        let (outcome, _) = sm.apply(&get(2), true);
        assert_eq!(outcome, Outcome::Applied, "{dedup:?}");
        assert_eq!(sm.check_on_receive(&get(2)), Decision::Apply, "{dedup:?}");
    }
}

/// A leader's receive-time check sees exactly what apply would decide.
#[test]
fn check_on_receive_agrees_with_apply() {
    let mut sm = StateMachine::new(Dedup::Sessions);
    assert_eq!(sm.check_on_receive(&incr(1, 1, 2)), Decision::Apply);
    sm.apply(&incr(1, 1, 2), true);
    assert_eq!(
        sm.check_on_receive(&incr(1, 1, 2)),
        Decision::Duplicate {
            last_seq: Seq(1),
            cached: Some(Some(Arc::from("2")))
        }
    );
    let off = StateMachine::new(Dedup::Off);
    assert_eq!(off.check_on_receive(&incr(1, 1, 2)), Decision::Apply);
}

/// Replicas applying the same entries reach the same digest, including the session table;
/// one that skipped the dedup (a different table) does not.
#[test]
fn digests_agree_for_equal_histories() {
    let history = [
        incr(1, 1, 1),
        incr(1, 1, 1),
        incr(2, 2, 4),
        get(3),
        incr(4, 4, 2),
    ];
    let mut a = StateMachine::new(Dedup::Sessions);
    let mut b = StateMachine::new(Dedup::Sessions);
    for r in &history {
        a.apply(r, true);
        b.apply(r, true);
        assert_eq!(a.digest(), b.digest());
    }
    let mut c = StateMachine::new(Dedup::Sessions);
    for r in history.iter().filter(|r| r.seq != Seq(2)) {
        c.apply(r, true);
    }
    assert_ne!(a.digest().sessions, c.digest().sessions);
    assert_eq!(a.sessions().clients(), 1);
}

/// `leader-only`: only the leader, as it applies, fills its table, and only arriving
/// requests are checked against it: a follower that becomes leader knows nothing of a write
/// it applied, and nothing is ever caught at apply. Its table is not replicated state.
#[test]
fn leader_only_forgets_on_a_leader_change() {
    let mut leader = StateMachine::new(Dedup::LeaderOnly);
    let mut follower = StateMachine::new(Dedup::LeaderOnly);
    leader.apply(&incr(1, 1, 5), true);
    follower.apply(&incr(1, 1, 5), false);
    assert!(matches!(
        leader.check_on_receive(&incr(1, 1, 5)),
        Decision::Duplicate { .. }
    ));
    assert_eq!(follower.check_on_receive(&incr(1, 1, 5)), Decision::Apply);
    assert_eq!(
        leader.digest(),
        follower.digest(),
        "the local table is not replicated state"
    );
    // The follower, now leader, appends the retry and applies it again:
    let (outcome, result) = follower.apply(&incr(1, 1, 5), true);
    assert_eq!(outcome, Outcome::Applied);
    assert_eq!(res(&result), Some("10"), "applied twice");
}

/// `check-on-receive`: a retry that made it into the log is applied again at apply time,
/// though a late one is still caught on arrival.
#[test]
fn check_on_receive_never_dedups_at_apply() {
    let mut sm = StateMachine::new(Dedup::CheckOnReceive);
    sm.apply(&incr(1, 1, 5), true);
    assert!(matches!(
        sm.check_on_receive(&incr(1, 1, 5)),
        Decision::Duplicate { .. }
    ));
    let (outcome, result) = sm.apply(&incr(1, 1, 5), true);
    assert_eq!(outcome, Outcome::Applied);
    assert_eq!(res(&result), Some("10"));
}

/// `cache-latest`: a duplicate is recognised but answered with the key's current value,
/// not the result of its own application.
#[test]
fn cache_latest_answers_with_the_current_value() {
    let mut sm = StateMachine::new(Dedup::CacheLatest);
    sm.apply(&incr(1, 1, 5), true); // "5"
    let other = Arc::new(Request {
        client: ClientId(7),
        ..(*incr(1, 1, 3)).clone()
    });
    sm.apply(&other, true); // another client: "8"
    let (outcome, result) = sm.apply(&incr(1, 1, 5), true);
    assert!(matches!(outcome, Outcome::Duplicate { .. }));
    assert_eq!(
        res(&result),
        Some("8"),
        "the latest value, not the cached \"5\""
    );
    assert_eq!(value(&sm), Some("8"), "not applied again");
    let Decision::Duplicate { cached, .. } = sm.check_on_receive(&incr(1, 1, 5)) else {
        panic!("a duplicate on receive too");
    };
    assert_eq!(cached.flatten().as_deref(), Some("8"));
}

/// Payload identity: a seq that already took effect, arriving with another operation, is a
/// conflict for both correct strategies (at apply and on receive), takes no effect and gets
/// no cached result; the flawed `trust-seq` answers it with the other operation's result.
#[test]
fn another_operation_under_an_applied_seq_is_a_conflict() {
    for dedup in [Dedup::Sessions, Dedup::LastSeq] {
        let mut sm = StateMachine::new(dedup);
        sm.apply(&incr(1, 1, 5), true);
        let other = incr(1, 1, 7);
        assert_eq!(
            sm.check_on_receive(&other),
            Decision::Conflict { last_seq: Seq(1) },
            "{dedup:?} on receive"
        );
        let (outcome, result) = sm.apply(&other, true);
        assert_eq!(outcome, Outcome::Conflict { last_seq: Seq(1) }, "{dedup:?}");
        assert_eq!(res(&result), None, "{dedup:?}");
        assert_eq!(
            value(&sm),
            Some("5"),
            "{dedup:?}: the conflict took no effect"
        );
        // The same operation again is still a plain duplicate.
        let (outcome, result) = sm.apply(&incr(1, 1, 5), true);
        assert!(matches!(outcome, Outcome::Duplicate { .. }), "{dedup:?}");
        assert_eq!(res(&result), Some("5"), "{dedup:?}");
    }
    let mut sm = StateMachine::new(Dedup::TrustSeq);
    sm.apply(&incr(1, 1, 5), true);
    let (outcome, result) = sm.apply(&incr(1, 1, 7), true);
    assert!(matches!(outcome, Outcome::Duplicate { .. }), "{outcome:?}");
    assert_eq!(res(&result), Some("5"), "trust-seq answers from the cache");
}

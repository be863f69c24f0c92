//! The KV store and session table against a reference model, over generated sequences of new
//! requests, retries (duplicates, delivered late and out of order, with the stale
//! `lowest_unacked` they were sent with) and acknowledgements, from several clients.
//!
//! The model is exactly-once by construction: each `(client, seq)` applies to a plain map
//! the first time it is seen, and never again. The state machine must agree on every result
//! and on the whole map after every step; a retry must get its first result while the
//! client has not acknowledged it, and nothing (an expired duplicate) after.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use idemsim::ids::{ClientId, Seq};
use idemsim::kv::{Dedup, Op, OpResult, Origin, Outcome, Request, StateMachine};
use proptest::prelude::*;

const KEYS: [&str; 3] = ["a", "b", "c"];

#[derive(Clone, Debug)]
enum Action {
    /// Client `c` issues a new operation.
    New { c: usize, op: (u8, usize, i64) },
    /// A copy of one of client `c`'s earlier requests arrives again (`pick` chooses which).
    Retry { c: usize, pick: usize },
    /// Client `c` gets the answer to its oldest request in flight.
    Ack { c: usize },
}

fn action(clients: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..clients, (0u8..5, 0..KEYS.len(), 1i64..10)).prop_map(|(c, op)| Action::New { c, op }),
        3 => (0..clients, any::<usize>()).prop_map(|(c, pick)| Action::Retry { c, pick }),
        2 => (0..clients).prop_map(|c| Action::Ack { c }),
    ]
}

fn op((kind, key, n): (u8, usize, i64)) -> Op {
    let key: Arc<str> = Arc::from(KEYS[key]);
    match kind {
        0 => Op::Put {
            key,
            value: Arc::from(n.to_string()),
        },
        1 => Op::Append {
            key,
            value: Arc::from(n.to_string()),
        },
        2 => Op::Incr { key, amount: n },
        3 => Op::Delete { key },
        _ => Op::Get { key },
    }
}

/// What a plain map does with an operation: the reference semantics of docs/DESIGN.md §5.
fn reference(map: &mut BTreeMap<String, String>, op: &Op) -> Option<String> {
    let key = op.key().to_owned();
    match op {
        Op::Put { value, .. } => map.insert(key, value.to_string()),
        Op::Append { value, .. } => {
            let new = format!("{}{}", map.get(&key).cloned().unwrap_or_default(), value);
            map.insert(key, new.clone());
            Some(new)
        }
        Op::Incr { amount, .. } => {
            let current = map.get(&key).map(|v| v.parse::<i128>());
            match current {
                Some(Err(_)) => Some("ERR not an integer".to_owned()),
                other => {
                    let new =
                        (other.map(Result::unwrap).unwrap_or(0) + i128::from(*amount)).to_string();
                    map.insert(key, new.clone());
                    Some(new)
                }
            }
        }
        Op::Delete { .. } => map.remove(&key),
        Op::Get { .. } => map.get(&key).cloned(),
    }
}

#[derive(Default)]
struct ClientModel {
    next: u64,
    /// Every request sent, with the result of its first application.
    sent: Vec<(Arc<Request>, Option<String>)>,
    in_flight: BTreeSet<u64>,
}

fn text(r: &OpResult) -> Option<String> {
    r.as_ref().map(|s| s.to_string())
}

/// Run `actions` through a state machine with `dedup` and the model side by side.
/// `one_in_flight`: a new request waits until the previous one is acknowledged.
fn check(dedup: Dedup, actions: &[Action], one_in_flight: bool) -> Result<(), TestCaseError> {
    let mut sm = StateMachine::new(dedup);
    let mut map = BTreeMap::new();
    let mut clients: Vec<ClientModel> = (0..3)
        .map(|_| ClientModel {
            next: 1,
            ..Default::default()
        })
        .collect();
    // `sessions`: the highest lowest_unacked each client's requests carried so far; the
    // server forgets results below it.
    let mut forgotten_below: BTreeMap<usize, u64> = BTreeMap::new();
    // `last-seq`: each client's last write and its result; any earlier seq gets that result.
    let mut last_write: BTreeMap<usize, (u64, Option<String>)> = BTreeMap::new();
    for (step, action) in actions.iter().enumerate() {
        match action {
            Action::New { c, op: o } => {
                let m = &mut clients[*c];
                if one_in_flight && !m.in_flight.is_empty() {
                    continue;
                }
                let seq = m.next;
                m.next += 1;
                m.in_flight.insert(seq);
                let lowest = *m.in_flight.first().unwrap();
                let request = Arc::new(Request {
                    client: ClientId(100 + *c as u64),
                    seq: Seq(seq),
                    lowest_unacked: Seq(lowest),
                    op: op(*o),
                    origin: Origin::default(),
                });
                let (outcome, result) = sm.apply(&request, true);
                let expected = reference(&mut map, &request.op);
                prop_assert_eq!(outcome, Outcome::Applied, "step {}: {:?}", step, action);
                prop_assert_eq!(
                    text(&result),
                    expected.clone(),
                    "step {}: {:?}",
                    step,
                    action
                );
                let below = forgotten_below.entry(*c).or_insert(0);
                *below = (*below).max(lowest);
                if request.op.kind().is_write() {
                    last_write.insert(*c, (seq, expected.clone()));
                }
                m.sent.push((request, expected));
            }
            Action::Retry { c, pick } => {
                let m = &clients[*c];
                if m.sent.is_empty() {
                    continue;
                }
                let (request, first) = &m.sent[pick % m.sent.len()];
                let (outcome, result) = sm.apply(request, true);
                if request.op.kind().is_write() {
                    let (expired, want) = match dedup {
                        Dedup::LastSeq => (false, last_write[c].1.clone()),
                        _ => {
                            let expired =
                                request.seq.0 < forgotten_below.get(c).copied().unwrap_or(0);
                            (expired, if expired { None } else { first.clone() })
                        }
                    };
                    prop_assert!(
                        matches!(outcome, Outcome::Duplicate { expired: e, .. } if e == expired),
                        "step {}: {:?}: {:?} (expired: {})",
                        step,
                        action,
                        outcome,
                        expired
                    );
                    prop_assert_eq!(text(&result), want, "step {}: {:?}", step, action);
                } else {
                    let now = reference(&mut map, &request.op);
                    prop_assert_eq!(outcome, Outcome::Applied, "a read is never deduplicated");
                    prop_assert_eq!(text(&result), now, "step {}: {:?}", step, action);
                }
            }
            Action::Ack { c } => {
                let m = &mut clients[*c];
                let oldest = m.in_flight.first().copied();
                if let Some(seq) = oldest {
                    m.in_flight.remove(&seq);
                }
            }
        }
        for key in KEYS {
            let got = sm.store().get(key).map(|v| v.to_string());
            prop_assert_eq!(
                got,
                map.get(key).cloned(),
                "step {}: key {} after {:?}",
                step,
                key,
                action
            );
        }
    }
    Ok(())
}

proptest! {
    /// `sessions`, with several requests in flight per client and retries of any earlier
    /// request, in any order.
    #[test]
    fn sessions_match_the_exactly_once_model(actions in prop::collection::vec(action(3), 1..80)) {
        check(Dedup::Sessions, &actions, false)?;
    }

    /// `last-seq`, within its contract: one request in flight per client.
    #[test]
    fn last_seq_matches_the_model_with_one_request_in_flight(actions in prop::collection::vec(action(3), 1..80)) {
        check(Dedup::LastSeq, &actions, true)?;
    }
}

/// One step of the registered-sessions model.
#[derive(Clone, Debug)]
enum LifeAction {
    /// Client `c` opens a (new) session.
    Register { c: usize },
    /// Client `c` issues a new operation in its current session, if its window has room.
    New { c: usize, op: (u8, usize, i64) },
    /// A copy of one of client `c`'s earlier requests (any session) arrives again.
    Retry { c: usize, pick: usize },
    /// Client `c` gets the answer to its oldest request in flight.
    Ack { c: usize },
    /// The leader's clock moves on by this many milliseconds before the next entry.
    Wait { ms: u64 },
}

fn life_action(clients: usize) -> impl Strategy<Value = LifeAction> {
    prop_oneof![
        1 => (0..clients).prop_map(|c| LifeAction::Register { c }),
        4 => (0..clients, (0u8..5, 0..KEYS.len(), 1i64..10)).prop_map(|(c, op)| LifeAction::New { c, op }),
        3 => (0..clients, any::<usize>()).prop_map(|(c, pick)| LifeAction::Retry { c, pick }),
        2 => (0..clients).prop_map(|c| LifeAction::Ack { c }),
        1 => (0u64..400).prop_map(|ms| LifeAction::Wait { ms }),
    ]
}

/// A client of the lifetime model: its current session, requests in flight, and every
/// request it sent (with the session it was sent in).
#[derive(Clone, Debug, Default)]
struct LifeClient {
    session: Option<u64>,
    next: u64,
    in_flight: BTreeSet<u64>,
    sent: Vec<Arc<Request>>,
}

/// `sessions` with registration, expiry after `timeout_ms` of log time, at most
/// `max_sessions`, and clients pipelining `window` requests, against a model: sessions live
/// from their register entry until idle past the timeout (at the first entry whose stamp
/// passes it) or evicted (least recently active first, ties to the older session); a request
/// from a session that is not live is refused and changes nothing; otherwise exactly once.
fn check_lifetimes(
    actions: &[LifeAction],
    timeout_ms: u64,
    max_sessions: u32,
    window: u64,
) -> Result<(), TestCaseError> {
    use idemsim::ids::{LogIndex, Term};
    use idemsim::kv::SessionLimits;
    use idemsim::message::{Entry, Payload};
    use idemsim::mutation::Mutations;

    let limits = SessionLimits {
        register: true,
        timeout_us: timeout_ms * 1000,
        max_sessions,
    };
    let mut sm = StateMachine::mutated(Dedup::Sessions, Mutations::NONE, limits);
    let mut map = BTreeMap::new();
    let mut clients: Vec<LifeClient> = vec![LifeClient::default(); 3];
    // Model: live session -> last active (log time, us); results per (session, seq).
    let mut live: BTreeMap<u64, u64> = BTreeMap::new();
    let mut results: BTreeMap<(u64, u64), Option<String>> = BTreeMap::new();
    let (mut index, mut stamp_us, mut clock_us) = (0u64, 0u64, 0u64);
    for (step, action) in actions.iter().enumerate() {
        let payload = match action {
            LifeAction::Wait { ms } => {
                stamp_us += ms * 1000;
                continue;
            }
            LifeAction::Ack { c } => {
                let m = &mut clients[*c];
                if let Some(seq) = m.in_flight.first().copied() {
                    m.in_flight.remove(&seq);
                }
                continue;
            }
            LifeAction::Register { .. } => Payload::Register {
                origin: Origin::default(),
            },
            LifeAction::New { c, op: o } => {
                let m = &mut clients[*c];
                let Some(session) = m.session else { continue };
                let lowest = m.in_flight.first().copied().unwrap_or(m.next);
                if m.next >= lowest + window {
                    continue; // the window is full
                }
                let seq = m.next;
                m.next += 1;
                m.in_flight.insert(seq);
                let request = Arc::new(Request {
                    client: ClientId(session),
                    seq: Seq(seq),
                    lowest_unacked: Seq(lowest),
                    op: op(*o),
                    origin: Origin::default(),
                });
                m.sent.push(Arc::clone(&request));
                Payload::Client(request)
            }
            LifeAction::Retry { c, pick } => {
                let m = &clients[*c];
                if m.sent.is_empty() {
                    continue;
                }
                Payload::Client(Arc::clone(&m.sent[pick % m.sent.len()]))
            }
        };
        index += 1;
        let entry = Entry {
            term: Term(1),
            payload,
            stamp_us,
        };
        // The model: time, expiry, then the entry.
        clock_us = clock_us.max(stamp_us);
        live.retain(|_, last| clock_us - *last <= timeout_ms * 1000 || timeout_ms == 0);
        let (outcome, result) = sm.apply_entry(LogIndex(index), &entry, true, 0);
        match (&entry.payload, action) {
            (Payload::Register { .. }, LifeAction::Register { c }) => {
                live.insert(index, clock_us);
                while max_sessions > 0 && live.len() > max_sessions as usize {
                    let (&oldest, _) = live
                        .iter()
                        .min_by_key(|&(&id, &last)| (last, id))
                        .expect("non-empty");
                    live.remove(&oldest);
                }
                let m = &mut clients[*c];
                m.session = Some(index);
                m.in_flight.clear(); // a new session starts with nothing in flight
                prop_assert_eq!(outcome, Outcome::Applied, "step {}", step);
            }
            (Payload::Client(request), _) => {
                let session = request.client.0;
                if let Some(last) = live.get_mut(&session) {
                    *last = clock_us;
                } else {
                    prop_assert_eq!(
                        outcome,
                        Outcome::SessionExpired,
                        "step {}: {:?}: session {} is not live",
                        step,
                        action,
                        session
                    );
                }
                if live.contains_key(&session) {
                    let key = (session, request.seq.0);
                    if !request.op.kind().is_write() {
                        let now = reference(&mut map, &request.op);
                        prop_assert_eq!(text(&result), now, "step {}", step);
                    } else if let Some(first) = results.get(&key) {
                        prop_assert!(
                            matches!(outcome, Outcome::Duplicate { .. }),
                            "step {}: {:?}: {:?}",
                            step,
                            action,
                            outcome
                        );
                        if let Outcome::Duplicate { expired: false, .. } = outcome {
                            prop_assert_eq!(text(&result), first.clone(), "step {}", step);
                        }
                    } else {
                        let expected = reference(&mut map, &request.op);
                        prop_assert_eq!(outcome, Outcome::Applied, "step {}: {:?}", step, action);
                        prop_assert_eq!(text(&result), expected.clone(), "step {}", step);
                        results.insert(key, expected);
                    }
                }
            }
            _ => unreachable!("step {step}: entry and action disagree"),
        }
        let size = sm.table_size();
        prop_assert_eq!(
            size.sessions as usize,
            live.len(),
            "step {}: live sessions",
            step
        );
        prop_assert!(
            u64::from(size.results) <= window,
            "step {}: {} results cached for one client, window {}",
            step,
            size.results,
            window
        );
        for key in KEYS {
            let got = sm.store().get(key).map(|v| v.to_string());
            prop_assert_eq!(got, map.get(key).cloned(), "step {}: key {}", step, key);
        }
    }
    Ok(())
}

proptest! {
    /// `sessions` with registration, pipelining, expiry and eviction match the model.
    #[test]
    fn registered_sessions_match_the_lifetime_model(
        actions in prop::collection::vec(life_action(3), 1..120),
        timeout_ms in prop_oneof![Just(0u64), 100u64..1000],
        max_sessions in 0u32..4,
        window in 1u64..5,
    ) {
        check_lifetimes(&actions, timeout_ms, max_sessions, window)?;
    }
}

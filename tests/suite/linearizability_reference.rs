//! A brute-force linearizability checker, for tests only: independent of
//! `idemsim::history::check` (no cache, no linked list, no shared code besides the store's
//! per-key semantics, `kv::apply_to_value`). Per key, it drops every subset of the
//! indefinite operations ("never took effect"), then tries every order of the rest that
//! respects real time. Exponential: small histories only.

use std::sync::Arc;

use idemsim::history::{History, Operation};
use idemsim::history::{Verdict, check};
use idemsim::kv::{Effect, Op, apply_to_value};

/// True if `history` is linearizable.
pub fn brute_force(history: &History) -> bool {
    let mut keys: Vec<&str> = history.ops().iter().map(|o| o.op.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|key| {
        let ops: Vec<&Operation> = history
            .ops()
            .iter()
            .filter(|o| o.op.key() == *key)
            .collect();
        key_linearizable(&ops, history.initial_value().cloned())
    })
}

fn key_linearizable(ops: &[&Operation], initial: Option<Arc<str>>) -> bool {
    let indefinite: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].return_us.is_none())
        .collect();
    assert!(
        indefinite.len() < 16,
        "too many indefinite operations for brute force"
    );
    (0u32..1 << indefinite.len()).any(|dropped| {
        let kept: Vec<&Operation> = (0..ops.len())
            .filter(|i| {
                indefinite
                    .iter()
                    .position(|j| j == i)
                    .is_none_or(|bit| dropped & (1 << bit) == 0)
            })
            .map(|i| ops[i])
            .collect();
        let mut used = vec![false; kept.len()];
        orders(&kept, &mut used, initial.clone())
    })
}

/// Whether the unused operations of `ops` can all be placed, in some real-time respecting
/// order, from `state`.
fn orders(ops: &[&Operation], used: &mut [bool], state: Option<Arc<str>>) -> bool {
    if used.iter().all(|&u| u) {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] {
            continue;
        }
        // `i` may go next only if no other unplaced operation returned before it was called.
        let must_wait = (0..ops.len())
            .any(|j| !used[j] && j != i && ops[j].return_us.is_some_and(|r| r < ops[i].call_us));
        if must_wait {
            continue;
        }
        let mut scratch = String::new();
        let (effect, result) = apply_to_value(&ops[i].op, state.as_ref(), &mut scratch);
        if ops[i]
            .result
            .as_ref()
            .is_some_and(|expected| *expected != result)
        {
            continue;
        }
        let next = match effect {
            Effect::Unchanged => state.clone(),
            Effect::Set(v) => Some(v),
            Effect::Remove => None,
        };
        used[i] = true;
        let ok = orders(ops, used, next);
        used[i] = false;
        if ok {
            return true;
        }
    }
    false
}

/// xorshift64*: a seeded, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A small random history: operations with random intervals, results computed from a random
/// linearization, then some results corrupted, some unknown, some operations indefinite.
fn random_history(rng: &mut Rng) -> History {
    let mut h = History::default();
    if rng.chance(20) {
        h.set_initial_value(Some(Arc::from("")));
    }
    let n = 1 + rng.below(7) as usize;
    let keys = 1 + rng.below(2);
    let values = ["a", "b", "1", "12"];
    let mut ops: Vec<(Op, u64, u64, u64)> = (0..n)
        .map(|_| {
            let key: Arc<str> = Arc::from(format!("k{}", rng.below(keys)));
            let value: Arc<str> = Arc::from(values[rng.below(4) as usize]);
            let op = match rng.below(6) {
                0 => Op::Put { key, value },
                1 => Op::Append { key, value },
                2 => Op::Incr {
                    key,
                    amount: rng.below(5) as i64 - 2,
                },
                3 => Op::Delete { key },
                _ => Op::Get { key },
            };
            let call = rng.below(30);
            let ret = call + rng.below(15);
            let point = call + rng.below(ret - call + 1);
            (op, call, ret, point)
        })
        .collect();
    ops.sort_by_key(|o| o.3);
    let mut state: std::collections::HashMap<Arc<str>, Option<Arc<str>>> = Default::default();
    let mut scratch = String::new();
    for (process, (op, call, ret, _)) in ops.into_iter().enumerate() {
        let current = state
            .entry(Arc::from(op.key()))
            .or_insert_with(|| h.initial_value().cloned());
        let (effect, mut result) = apply_to_value(&op, current.as_ref(), &mut scratch);
        match effect {
            Effect::Unchanged => {}
            Effect::Set(v) => *current = Some(v),
            Effect::Remove => *current = None,
        }
        if rng.chance(15) {
            result = Some(Arc::from(values[rng.below(4) as usize]));
        }
        let indefinite = rng.chance(20);
        h.push(Operation {
            process: process as u64,
            seq: None,
            op,
            call_us: call,
            return_us: (!indefinite).then_some(ret),
            result: (!indefinite && !rng.chance(10)).then_some(result),
        });
    }
    h
}

#[test]
fn the_search_agrees_with_brute_force_on_random_small_histories() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut yes, mut no) = (0, 0);
    for i in 0..5000 {
        let h = random_history(&mut rng);
        let expected = brute_force(&h);
        let verdict = check(&h);
        assert_eq!(
            matches!(verdict, Verdict::Linearizable),
            expected,
            "history {i} disagrees: {h:#?}"
        );
        if let Verdict::NotLinearizable(w) = &verdict {
            // The window is itself a failing history, from the state it names.
            let mut window = History::default();
            window.set_initial_value(w.state_before.clone());
            for &j in &w.ops {
                let mut op = h.ops()[j].clone();
                if op.return_us.is_none_or(|r| r > w.end_us) {
                    op.return_us = None;
                    op.result = None;
                }
                window.push(op);
            }
            assert!(
                !brute_force(&window),
                "history {i}: window passes: {w:?} {h:#?}"
            );
        }
        if expected { yes += 1 } else { no += 1 }
    }
    assert!(
        yes > 1000 && no > 1000,
        "{yes} linearizable, {no} not: a poor mix"
    );
}

fn op(op: Op, call: u64, ret: Option<u64>, result: Option<Option<&str>>) -> Operation {
    Operation {
        process: 0,
        seq: None,
        op,
        call_us: call,
        return_us: ret,
        result: result.map(|r| r.map(Arc::from)),
    }
}

#[test]
fn brute_force_detects_the_hand_made_violations() {
    let k = || Arc::<str>::from("k");
    let put = |v: &str| Op::Put {
        key: k(),
        value: Arc::from(v),
    };
    let get = || Op::Get { key: k() };
    let incr = |amount: i64| Op::Incr { key: k(), amount };
    let append = |v: &str| Op::Append {
        key: k(),
        value: Arc::from(v),
    };
    let cases: Vec<(Vec<Operation>, bool)> = vec![
        // A stale read.
        (
            vec![
                op(put("a"), 0, Some(10), Some(None)),
                op(put("b"), 20, Some(30), Some(Some("a"))),
                op(get(), 40, Some(50), Some(Some("a"))),
            ],
            false,
        ),
        // Concurrent writes, either order.
        (
            vec![
                op(put("a"), 0, Some(10), Some(None)),
                op(put("b"), 0, Some(10), Some(Some("a"))),
                op(get(), 20, Some(30), Some(Some("b"))),
            ],
            true,
        ),
        (
            vec![
                op(put("a"), 0, Some(10), Some(Some("b"))),
                op(put("b"), 0, Some(10), Some(None)),
                op(get(), 20, Some(30), Some(Some("a"))),
            ],
            true,
        ),
        // An indefinite append that shows up later, and one that shows up twice.
        (
            vec![
                op(append("x"), 0, None, None),
                op(get(), 10, Some(20), Some(None)),
                op(get(), 30, Some(40), Some(Some("x"))),
            ],
            true,
        ),
        (
            vec![
                op(append("x"), 0, None, None),
                op(get(), 10, Some(20), Some(Some("x"))),
                op(get(), 30, Some(40), Some(Some("xx"))),
            ],
            false,
        ),
        // Two incrs that both saw 0.
        (
            vec![
                op(incr(1), 0, Some(10), Some(Some("1"))),
                op(incr(1), 0, Some(10), Some(Some("1"))),
            ],
            false,
        ),
    ];
    for (i, (ops, linearizable)) in cases.into_iter().enumerate() {
        let mut h = History::default();
        for o in ops {
            h.push(o);
        }
        assert_eq!(brute_force(&h), linearizable, "case {i}");
        assert_eq!(
            matches!(check(&h), Verdict::Linearizable),
            linearizable,
            "case {i}"
        );
    }
}

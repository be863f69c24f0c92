//! Client histories and a linearizability checker for the key-value store (docs/DESIGN.md
//! §12). A [`History`] is a list of [`Operation`]s, each with its invocation time, its return
//! time (or none: indefinite) and its result (or none: unknown). [`check`] decides whether
//! some total order of the operations, each taking effect between its call and its return,
//! produces every known result under the store's own semantics ([`crate::kv::apply_to_value`]).
//!
//! Keys are independent (linearizability is compositional), so each key is checked on its
//! own: Wing & Gong's search with Lowe's and porcupine's cache of explored configurations
//! (`search`). A key whose operations never overlap in time takes one linear pass.
//!
//! An indefinite operation (no answer: a timeout, an expired session, a crash) has its
//! return at +infinity and an unconstrained result: it may take effect at any point after
//! its call, or never. An operation with a return time but an unknown result must take
//! effect before its return. Operations whose times are equal count as concurrent.

pub mod parse;
mod search;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use foldhash::fast::FixedState;

use crate::kv::{Op, OpResult};
use search::{Goal, INFINITY, KeyOp, Kind, Model, Search};

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Who issued it (client number or porcupine process), for display.
    pub process: u64,
    /// The request seq when known, for display.
    pub seq: Option<u64>,
    pub op: Op,
    /// Invocation time.
    pub call_us: u64,
    /// `None` = indefinite: no answer; it may take effect at any time after `call_us`, or
    /// never.
    pub return_us: Option<u64>,
    /// `None` = result unknown (any result accepted).
    pub result: Option<OpResult>,
}

/// A client history: operations in any order.
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Vec<Operation>,
    initial: Option<Arc<str>>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Add an operation; returns its index in [`History::ops`].
    pub fn push(&mut self, op: Operation) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    /// Remove every operation (the initial value stays).
    pub fn clear(&mut self) {
        self.ops.clear();
    }

    /// The value every key holds before the first operation: `None` (absent, the store's
    /// case and the default) or, for porcupine's model where a missing key reads as `""`,
    /// `Some("")`.
    pub fn set_initial_value(&mut self, value: Option<Arc<str>>) {
        self.initial = value;
    }

    pub fn initial_value(&self) -> Option<&Arc<str>> {
        self.initial.as_ref()
    }

    /// Number of distinct keys.
    pub fn keys(&self) -> usize {
        self.by_key().len()
    }

    /// Operation indices per key, keys in order of first appearance.
    fn by_key(&self) -> Vec<(Arc<str>, Vec<usize>)> {
        let mut index: HashMap<&str, usize, FixedState> = HashMap::default();
        let mut keys: Vec<(Arc<str>, Vec<usize>)> = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            let k = *index.entry(op.op.key()).or_insert_with(|| {
                keys.push((Arc::clone(op.op.key_arc()), Vec::new()));
                keys.len() - 1
            });
            keys[k].1.push(i);
        }
        keys
    }
}

/// The outcome of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Window),
    /// The search of `key` explored `configurations` without an answer and gave up (its
    /// cache reached its memory bound): the history may or may not be linearizable.
    Undecided {
        key: Arc<str>,
        configurations: usize,
    },
}

/// A minimal non-linearizable window of one key.
///
/// Definition. Truncating a key's history at time `T` keeps the operations called at or
/// before `T`; those that had not returned by `T` become indefinite with unknown results.
/// Truncation is monotone: if the history truncated at `T` is linearizable, so is every
/// earlier truncation. The window ends at the earliest return time `T` at which the
/// truncated history is not linearizable (`failing`: the operations returning at `T`, whose
/// answer made it fail). It starts at the latest quiescent point `S` (no operation is open at
/// `S`, none called before `S` is indefinite) at which every linearization of the operations
/// before `S` ends in one and the same state (`state_before`). The window's operations are
/// those of the truncation called at or after `S`; from `state_before` they are themselves
/// not linearizable. `S` is the start of the history when no later point qualifies (or when
/// the possible states there are too many to enumerate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub key: Arc<str>,
    /// Indices into [`History::ops`], by call time.
    pub ops: Vec<usize>,
    /// The key's value at the window's start (`None` = absent).
    pub state_before: Option<Arc<str>>,
    /// The operations whose return ends the window (a subset of `ops`).
    pub failing: Vec<usize>,
    /// The window's end: the return time of `failing`.
    pub end_us: u64,
}

impl Window {
    /// The key, the state at the window's start, then each operation: process, seq, op,
    /// [call, return] times and result.
    pub fn describe(&self, history: &History) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "key {:?}: {} operation{} from state {} not linearizable (window ends at t={})",
            &*self.key,
            self.ops.len(),
            if self.ops.len() == 1 { "" } else { "s" },
            show_value(self.state_before.as_deref()),
            self.end_us
        );
        for &i in &self.ops {
            let op = &history.ops[i];
            let seq = op.seq.map_or_else(|| "-".to_string(), |s| s.to_string());
            let ret = op
                .return_us
                .map_or_else(|| "none".to_string(), |r| r.to_string());
            let result = match &op.result {
                None => "?".to_string(),
                Some(r) => show_value(r.as_deref()),
            };
            let mark = if self.failing.contains(&i) {
                "  <- its answer ends the window"
            } else if op.return_us.is_none_or(|r| r > self.end_us) {
                "  (open at the window's end)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  p{} seq {seq}  {}  [{}, {ret}]  -> {result}{mark}",
                op.process, op.op, op.call_us
            );
        }
        out
    }
}

fn show_value(v: Option<&str>) -> String {
    v.map_or_else(|| "absent".to_string(), |s| format!("{s:?}"))
}

/// Whether `history` is linearizable; if not, the minimal failing window of the first key
/// (in order of first appearance) that fails.
pub fn check(history: &History) -> Verdict {
    check_bounded(history, search::MAX_CACHE_WORDS)
}

/// [`check`], with the search's configuration cache bounded to `max_cache_words` 64-bit
/// words per key instead of 128 MiB.
pub fn check_bounded(history: &History, max_cache_words: usize) -> Verdict {
    thread_local! {
        /// A search's buffers and a model, kept from check to check on this thread: a sweep
        /// checks a history per run, and allocating them each time showed in its profile.
        static SCRATCH: std::cell::RefCell<(Search, Model)> = Default::default();
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            let (search, model) = &mut *scratch;
            check_with(history, max_cache_words, search, model)
        }
        // Re-entered on this thread (never, today): fresh buffers.
        Err(_) => check_with(
            history,
            max_cache_words,
            &mut Search::default(),
            &mut Model::default(),
        ),
    })
}

fn check_with(
    history: &History,
    max_cache_words: usize,
    search: &mut Search,
    model: &mut Model,
) -> Verdict {
    search.max_cache_words = max_cache_words;
    for (key, indices) in history.by_key() {
        model.clear();
        let init = model.states.intern(history.initial.as_ref());
        let ops = key_ops(model, history, &indices);
        if !search.run(model, &ops, &history.ops, init, Goal::Any) {
            if search.exhausted {
                return Verdict::Undecided {
                    key,
                    configurations: search.configurations(),
                };
            }
            let window = window(search, model, history, key, &ops, init);
            return Verdict::NotLinearizable(window);
        }
    }
    Verdict::Linearizable
}

/// One key's operations for the search, sorted by call time.
fn key_ops(model: &mut Model, history: &History, indices: &[usize]) -> Vec<KeyOp> {
    let mut ops: Vec<KeyOp> = indices
        .iter()
        .map(|&i| {
            let o = &history.ops[i];
            let kind = match &o.op {
                Op::Get { .. } => Kind::Get,
                Op::Put { value, .. } => Kind::Put(model.states.intern(Some(value))),
                Op::Delete { .. } => Kind::Delete,
                Op::Append { .. } | Op::Incr { .. } => Kind::Computed,
            };
            KeyOp {
                hist: i,
                call: o.call_us,
                // A return before its call (malformed) counts as at the call.
                ret: o.return_us.map_or(INFINITY, |r| r.max(o.call_us)),
                result: o.result.as_ref().map(|r| model.states.intern(r.as_ref())),
                kind,
            }
        })
        .collect();
    ops.sort_by_key(|o| (o.call, o.hist));
    ops
}

/// The history truncated at `t`: operations called at or before `t`; those still open at
/// `t` become indefinite with unknown results.
fn truncate(ops: &[KeyOp], t: u64, out: &mut Vec<KeyOp>) {
    out.clear();
    for op in ops.iter().take_while(|o| o.call <= t) {
        let mut op = *op;
        if op.ret > t {
            op.ret = INFINITY;
            op.result = None;
        }
        out.push(op);
    }
}

/// Most end states tracked at a quiescent point before giving up on knowing the state.
const MAX_END_STATES: usize = 64;

/// The minimal failing window of a key known to fail (see [`Window`]).
fn window(
    search: &mut Search,
    model: &mut Model,
    history: &History,
    key: Arc<str>,
    ops: &[KeyOp],
    init: u32,
) -> Window {
    let mut returns: Vec<u64> = ops
        .iter()
        .filter(|o| o.ret != INFINITY)
        .map(|o| o.ret)
        .collect();
    returns.sort_unstable();
    returns.dedup();
    // The earliest failing truncation, by binary search (truncation is monotone).
    let mut buf = Vec::new();
    let (mut lo, mut hi) = (0, returns.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi) / 2;
        truncate(ops, returns[mid], &mut buf);
        // A truncation the search cannot decide counts as passing: the window then ends
        // later, never at a point not known to fail.
        if search.run(model, &buf, &history.ops, init, Goal::Any) || search.exhausted {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let end = returns.get(lo).copied().unwrap_or(INFINITY);
    truncate(ops, end, &mut buf);

    // The latest quiescent point with a single possible state, walking forward segment by
    // segment: the end states after a segment are the union over its possible start states.
    let (mut start, mut start_state) = (0, init);
    let mut states = vec![init];
    let mut segment_start = 0;
    let mut max_ret = 0;
    let mut next_states = Vec::new();
    for j in 0..buf.len() {
        if j > 0 && max_ret < buf[j].call {
            next_states.clear();
            let mut known = true;
            for &s in &states {
                let all = search.run(
                    model,
                    &buf[segment_start..j],
                    &history.ops,
                    s,
                    Goal::EndStates(MAX_END_STATES),
                );
                if !all || next_states.len() + search.ends.len() > MAX_END_STATES {
                    known = false;
                    break;
                }
                for &e in &search.ends {
                    if !next_states.contains(&e) {
                        next_states.push(e);
                    }
                }
            }
            if !known || next_states.is_empty() {
                break;
            }
            std::mem::swap(&mut states, &mut next_states);
            segment_start = j;
            if let [only] = states[..] {
                (start, start_state) = (j, only);
            }
        }
        max_ret = max_ret.max(buf[j].ret);
    }
    let window_ops = &buf[start..];
    debug_assert!(
        !search.run(model, window_ops, &history.ops, start_state, Goal::Any) || search.exhausted
    );
    Window {
        key,
        ops: window_ops.iter().map(|o| o.hist).collect(),
        state_before: model.states.value(start_state).cloned(),
        failing: window_ops
            .iter()
            .filter(|o| o.ret == end)
            .map(|o| o.hist)
            .collect(),
        end_us: end,
    }
}

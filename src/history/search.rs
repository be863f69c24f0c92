//! The per-key search: Wing & Gong's algorithm with Lowe's cache, as porcupine does it. Call
//! and return entries sit in one doubly-linked list in time order; linearizing an operation
//! lifts its two entries out of the list, backtracking puts them back. A set of
//! (linearized operations as a bitset, state) configurations already explored means no
//! configuration is explored twice. States are interned per key (string → `u32`), and
//! transitions of appends and incrs are cached, so a step allocates nothing once seen.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::Operation;
use crate::kv::{Effect, apply_to_value, sets_to};

/// Interned state id of an absent key.
pub(crate) const ABSENT: u32 = 0;
/// Return time of an indefinite operation.
pub(crate) const INFINITY: u64 = u64::MAX;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// What a step does, precomputed where it needs no string work.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Get,
    Put(u32),
    Delete,
    /// Append or incr: through [`apply_to_value`], cached per (state, operation).
    Computed,
}

/// One operation of one key, as the search sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyOp {
    /// Index into `History::ops`.
    pub hist: usize,
    pub call: u64,
    /// [`INFINITY`] if indefinite.
    pub ret: u64,
    /// Interned expected result; `None` = any.
    pub result: Option<u32>,
    pub kind: Kind,
}

/// States of one key, interned. Id 0 is "absent"; id `k >= 1` is `values[k - 1]`.
#[derive(Default)]
pub(crate) struct Interner {
    ids: HashMap<Arc<str>, u32, FixedState>,
    values: Vec<Arc<str>>,
}

impl Interner {
    pub fn intern(&mut self, value: Option<&Arc<str>>) -> u32 {
        let Some(value) = value else {
            return ABSENT;
        };
        if let Some(&id) = self.ids.get(&**value) {
            return id;
        }
        self.values.push(Arc::clone(value));
        let id = self.values.len() as u32;
        self.ids.insert(Arc::clone(value), id);
        id
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.values.clear();
    }

    pub fn value(&self, id: u32) -> Option<&Arc<str>> {
        (id != ABSENT).then(|| &self.values[id as usize - 1])
    }
}

/// The model of one key: interned states and cached transitions.
#[derive(Default)]
pub(crate) struct Model {
    pub states: Interner,
    transitions: HashMap<(u32, u32), (u32, u32), FixedState>,
    scratch: String,
}

impl Model {
    /// Forget every state and transition, keeping the allocations for the next key.
    pub fn clear(&mut self) {
        self.states.clear();
        self.transitions.clear();
    }

    /// The state after `ops[i]` from `state`, or `None` if its result cannot be produced
    /// from `state`.
    #[inline]
    pub fn step(
        &mut self,
        ops: &[KeyOp],
        history: &[Operation],
        i: u32,
        state: u32,
    ) -> Option<u32> {
        let op = &ops[i as usize];
        let (new, result) = match op.kind {
            Kind::Get => (state, state),
            Kind::Put(v) => (v, state),
            Kind::Delete => (ABSENT, state),
            Kind::Computed if op.result.is_some_and(|r| r != ABSENT) => {
                // An append or incr that took effect returns the value it set: with a known
                // result, the step is valid exactly when it sets that value, which
                // `sets_to` decides without building the string.
                let expected = op.result.expect("checked");
                let current = self.states.value(state).map(|s| &**s);
                let want = self.states.value(expected).expect("not absent");
                match sets_to(&history[op.hist].op, current, want) {
                    Some(true) => return Some(expected),
                    Some(false) => return None,
                    None => self.computed(ops, history, i, state),
                }
            }
            Kind::Computed => self.computed(ops, history, i, state),
        };
        match op.result {
            Some(expected) if expected != result => None,
            _ => Some(new),
        }
    }

    /// The step of an append or incr through [`apply_to_value`], cached per (state, op).
    fn computed(&mut self, ops: &[KeyOp], history: &[Operation], i: u32, state: u32) -> (u32, u32) {
        // Keyed by the operation's index in the history, not in `ops`: the window search runs
        // on truncations and segments of a key's operations with one model, where the same
        // slice index names different operations.
        let hist = ops[i as usize].hist;
        let key = (state, hist as u32);
        match self.transitions.get(&key) {
            Some(&t) => t,
            None => {
                let t = self.compute(&history[hist].op, state);
                self.transitions.insert(key, t);
                t
            }
        }
    }

    fn compute(&mut self, op: &crate::kv::Op, state: u32) -> (u32, u32) {
        let current = self.states.value(state).cloned();
        let (effect, result) = apply_to_value(op, current.as_ref(), &mut self.scratch);
        let (new, set) = match effect {
            Effect::Unchanged => (state, None),
            Effect::Set(v) => (self.states.intern(Some(&v)), Some(v)),
            Effect::Remove => (ABSENT, None),
        };
        // Append and incr return the value they set: do not hash it twice.
        let result = match (&result, &set) {
            (Some(r), Some(v)) if Arc::ptr_eq(r, v) => new,
            _ => self.states.intern(result.as_ref()),
        };
        (new, result)
    }
}

/// Zobrist value of operation `i`: the bitset's hash is the XOR of its members'.
#[inline]
fn zobrist(i: u32) -> u64 {
    mix(u64::from(i).wrapping_add(0x9e37_79b9_7f4a_7c15))
}

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The set of explored configurations: open addressing over an arena of fixed-stride
/// records (state, then the bitset's words).
#[derive(Default)]
struct Cache {
    stride: usize,
    arena: Vec<u64>,
    hashes: Vec<u64>,
    /// 0 = empty, else record index + 1.
    slots: Vec<u32>,
    len: usize,
}

impl Cache {
    fn reset(&mut self, words: usize) {
        self.stride = words + 1;
        self.arena.clear();
        self.hashes.clear();
        self.len = 0;
        self.slots.clear();
        self.slots.resize(1024, 0);
    }

    /// Insert; false if it was there.
    fn insert(&mut self, bits: &[u64], state: u32, hash: u64) -> bool {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                break;
            }
            let r = slot as usize - 1;
            if self.hashes[r] == hash {
                let rec = &self.arena[r * self.stride..(r + 1) * self.stride];
                if rec[0] == u64::from(state) && rec[1..] == *bits {
                    return false;
                }
            }
            at = (at + 1) & mask;
        }
        self.slots[at] = self.len as u32 + 1;
        self.hashes.push(hash);
        self.arena.push(u64::from(state));
        self.arena.extend_from_slice(bits);
        self.len += 1;
        true
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        self.slots.clear();
        self.slots.resize(size, 0);
        let mask = size - 1;
        for (r, &hash) in self.hashes.iter().enumerate() {
            let mut at = hash as usize & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = r as u32 + 1;
        }
    }
}

/// What [`Search::take`] did.
enum Take {
    Taken,
    /// The configuration it leads to was explored before.
    Seen,
    /// The cache passed its bound.
    Exhausted,
}

/// What a search is after.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Is there a linearization?
    Any,
    /// Every state a linearization can end in, up to this many (more: `None`).
    EndStates(usize),
}

/// Buffers reused from key to key.
#[derive(Default)]
pub(crate) struct Search {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Per entry: operation index, with the top bit set on a return entry.
    entry_op: Vec<u32>,
    /// Per operation: its call entry and its return entry (or NIL).
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
    order: Vec<(u64, u8, u32)>,
    bits: Vec<u64>,
    cache: Cache,
    /// Linearized operations: the operation, the state before it, and whether it was taken
    /// greedily (see [`Search::greedy`]).
    stack: Vec<(u32, u32, bool)>,
    pub ends: Vec<u32>,
    /// The last run stopped at its bound: its answer is no answer.
    pub exhausted: bool,
    /// The bound, in words ([`MAX_CACHE_WORDS`] when 0).
    pub max_cache_words: usize,
    /// Whether configurations are being remembered: only from the first backtrack on. A
    /// search that never backtracks (a linearizable history whose first choices are right,
    /// the common case) visits no configuration twice, so remembering them would only cost;
    /// skipping it loses nothing but the pruning of repeats.
    caching: bool,
}

/// The most memory one search's configuration cache may take, in 64-bit words (128 MiB):
/// past it the search gives up and says so, so that a run always ends.
pub(crate) const MAX_CACHE_WORDS: usize = 1 << 24;

const RET_BIT: u32 = 1 << 31;

impl Search {
    /// Whether `ops` (one key's) are linearizable from `init`; with [`Goal::EndStates`],
    /// also collects the end states into `self.ends` (returns false if there are more than
    /// the limit).
    pub fn run(
        &mut self,
        model: &mut Model,
        ops: &[KeyOp],
        history: &[Operation],
        init: u32,
        goal: Goal,
    ) -> bool {
        self.ends.clear();
        self.exhausted = false;
        if ops.is_empty() {
            self.ends.push(init);
            return true;
        }
        if goal == Goal::Any {
            if let Some(ok) = sequential(model, ops, history, init) {
                return ok;
            }
        }
        self.build(ops);
        let words = ops.len().div_ceil(64);
        self.bits.clear();
        self.bits.resize(words, 0);
        self.cache.reset(words);
        self.caching = false;
        self.stack.clear();
        let mut hash = 0u64;
        let mut state = init;
        let mut entry = self.next[HEAD as usize];
        loop {
            if entry == self.next[HEAD as usize] {
                // A new level: first, a read that matches the state goes, with no
                // alternative tried.
                if let Some(i) = self.greedy(model, ops, history, state) {
                    match self.take(i, state, state, true, &mut hash, words) {
                        Take::Taken => {
                            entry = self.next[HEAD as usize];
                            continue;
                        }
                        Take::Exhausted => return false,
                        // Explored before, and it failed: so does this configuration.
                        Take::Seen => match self.backtrack(&mut state, &mut hash) {
                            Some(next) => entry = next,
                            None => return goal != Goal::Any && !self.ends.is_empty(),
                        },
                    }
                    continue;
                }
            }
            if entry == NIL {
                // No return entry left: every definite operation is linearized.
                match goal {
                    Goal::Any => return true,
                    Goal::EndStates(limit) => {
                        if !self.ends.contains(&state) {
                            if self.ends.len() == limit {
                                return false;
                            }
                            self.ends.push(state);
                        }
                        match self.backtrack(&mut state, &mut hash) {
                            Some(next) => entry = next,
                            None => return true,
                        }
                        continue;
                    }
                }
            }
            let e = self.entry_op[entry as usize];
            if e & RET_BIT == 0 {
                let i = e;
                if let Some(new) = model.step(ops, history, i, state) {
                    match self.take(i, state, new, false, &mut hash, words) {
                        Take::Taken => {
                            state = new;
                            entry = self.next[HEAD as usize];
                            continue;
                        }
                        Take::Exhausted => return false,
                        Take::Seen => {}
                    }
                }
                entry = self.next[entry as usize];
            } else {
                match self.backtrack(&mut state, &mut hash) {
                    Some(next) => entry = next,
                    None => return goal != Goal::Any && !self.ends.is_empty(),
                }
            }
        }
    }

    /// Linearize operation `i`, which takes the state from `before` to `after` (`greedy`: with
    /// no alternative to try), unless that configuration was explored before.
    fn take(
        &mut self,
        i: u32,
        before: u32,
        after: u32,
        greedy: bool,
        hash: &mut u64,
        words: usize,
    ) -> Take {
        let word = (i / 64) as usize;
        let bit = 1u64 << (i % 64);
        self.bits[word] |= bit;
        let h = *hash ^ zobrist(i);
        let key = h ^ mix(u64::from(after) | 1 << 40);
        if self.caching && !self.cache.insert(&self.bits, after, key) {
            self.bits[word] &= !bit;
            return Take::Seen;
        }
        if self.over_budget(words) {
            return Take::Exhausted;
        }
        self.stack.push((i, before, greedy));
        *hash = h;
        self.lift(i);
        Take::Taken
    }

    /// Configurations the last run explored.
    pub fn configurations(&self) -> usize {
        self.cache.len
    }

    /// Whether the cache has grown past [`MAX_CACHE_WORDS`] (then the search is exhausted).
    fn over_budget(&mut self, words: usize) -> bool {
        let max = match self.max_cache_words {
            0 => MAX_CACHE_WORDS,
            max => max,
        };
        self.exhausted = self.cache.len * (words + 2) > max;
        self.exhausted
    }

    /// Undo the last linearized operation; the entry to go on from, or `None` if there is
    /// nothing to undo.
    ///
    /// An operation taken greedily has no alternative: the configuration before it fails if
    /// the one after it does, so backtracking goes on past it.
    fn backtrack(&mut self, state: &mut u32, hash: &mut u64) -> Option<u32> {
        self.caching = true;
        loop {
            let (i, s, greedy) = self.stack.pop()?;
            self.bits[(i / 64) as usize] &= !(1u64 << (i % 64));
            *hash ^= zobrist(i);
            *state = s;
            self.unlift(i);
            if !greedy {
                return Some(self.next[self.call_entry[i as usize] as usize]);
            }
        }
    }

    /// A pending read that may be linearized now and matches `state`. Taking it first loses
    /// nothing: in any linearization from here it can move to the front, since every
    /// operation that must precede it (returned before its call) is already linearized, and
    /// a read changes no state wherever it stands. So the search takes it without branching.
    /// (Only reads: a put of the value already there changes nothing now, but may be needed
    /// later, where it would.)
    fn greedy(
        &mut self,
        model: &mut Model,
        ops: &[KeyOp],
        history: &[Operation],
        state: u32,
    ) -> Option<u32> {
        let mut entry = self.next[HEAD as usize];
        while entry != NIL {
            let e = self.entry_op[entry as usize];
            if e & RET_BIT != 0 {
                return None; // past the last operation that may go now
            }
            let read = matches!(ops[e as usize].kind, Kind::Get);
            if read && model.step(ops, history, e, state) == Some(state) {
                return Some(e);
            }
            entry = self.next[entry as usize];
        }
        None
    }

    fn build(&mut self, ops: &[KeyOp]) {
        self.order.clear();
        for (i, op) in ops.iter().enumerate() {
            self.order.push((op.call, 0, i as u32));
            if op.ret != INFINITY {
                self.order.push((op.ret, 1, i as u32));
            }
        }
        // At equal times calls come first: such operations count as concurrent.
        self.order.sort_unstable();
        let n = self.order.len() + 1;
        self.next.clear();
        self.prev.clear();
        self.entry_op.clear();
        self.call_entry.clear();
        self.call_entry.resize(ops.len(), NIL);
        self.ret_entry.clear();
        self.ret_entry.resize(ops.len(), NIL);
        self.entry_op.push(NIL);
        for (k, &(_, is_ret, i)) in self.order.iter().enumerate() {
            let entry = k as u32 + 1;
            if is_ret == 1 {
                self.entry_op.push(i | RET_BIT);
                self.ret_entry[i as usize] = entry;
            } else {
                self.entry_op.push(i);
                self.call_entry[i as usize] = entry;
            }
        }
        for entry in 0..n as u32 {
            self.next.push(if entry + 1 == n as u32 {
                NIL
            } else {
                entry + 1
            });
            self.prev.push(entry.wrapping_sub(1));
        }
    }

    fn remove(&mut self, entry: u32) {
        let (p, n) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn reinsert(&mut self, entry: u32) {
        let (p, n) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[p as usize] = entry;
        if n != NIL {
            self.prev[n as usize] = entry;
        }
    }

    fn lift(&mut self, i: u32) {
        self.remove(self.call_entry[i as usize]);
        let r = self.ret_entry[i as usize];
        if r != NIL {
            self.remove(r);
        }
    }

    fn unlift(&mut self, i: u32) {
        let r = self.ret_entry[i as usize];
        if r != NIL {
            self.reinsert(r);
        }
        self.reinsert(self.call_entry[i as usize]);
    }
}

/// The fast path: if every operation is definite and each returns before the next is
/// called, there is one order to try. `None` if the operations overlap. `ops` must be
/// sorted by call time.
fn sequential(model: &mut Model, ops: &[KeyOp], history: &[Operation], init: u32) -> Option<bool> {
    let mut last_ret = None;
    for op in ops {
        if op.ret == INFINITY || last_ret.is_some_and(|r| r >= op.call) {
            return None;
        }
        last_ret = Some(op.ret);
    }
    let mut state = init;
    for i in 0..ops.len() as u32 {
        match model.step(ops, history, i, state) {
            Some(new) => state = new,
            None => return Some(false),
        }
    }
    Some(true)
}

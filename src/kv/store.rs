//! The key-value map and the exact semantics of the five operations (docs/DESIGN.md §5).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::op::{Op, OpResult};
use num_bigint::BigInt;

use crate::digest::{Digest, hash_of};

/// The result of an `incr` on a value that is not a decimal integer (docs/DESIGN.md §5, word
/// for word).
pub const ERR_NOT_AN_INTEGER: &str = "ERR not an integer";

/// A value with its digest element hash, so replacing or removing it costs no rehash.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Stored {
    value: Arc<str>,
    hash: u64,
}

/// The replicated map. Ordered, so that anything derived from it is deterministic.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct KvStore {
    map: BTreeMap<Arc<str>, Stored>,
    digest: Digest,
    #[serde(skip)]
    /// Reused to build appended values, so each costs one allocation (the shared string).
    scratch: String,
}

impl KvStore {
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// Apply one operation and return its result. Never deduplicates: that is the session
    /// table's job, decided before this is called. The semantics live in [`apply_to_value`],
    /// which the linearizability checker's model calls too.
    ///
    /// One search of the map for an operation on a present key (the common case); a delete
    /// or the first write of a key searches twice.
    pub fn apply(&mut self, op: &Op) -> OpResult {
        let Some(stored) = self.map.get_mut(op.key()) else {
            let (effect, result) = apply_to_value(op, None, &mut self.scratch);
            if let Effect::Set(value) = effect {
                let hash = Self::element_hash(op.key(), &value);
                self.digest.add_hash(hash);
                self.map
                    .insert(Arc::clone(op.key_arc()), Stored { value, hash });
            }
            return result;
        };
        let (effect, result) = apply_to_value(op, Some(&stored.value), &mut self.scratch);
        match effect {
            Effect::Unchanged => {}
            Effect::Set(value) => {
                let hash = Self::element_hash(op.key(), &value);
                self.digest.add_hash(hash);
                self.digest.remove_hash(stored.hash);
                *stored = Stored { value, hash };
            }
            Effect::Remove => {
                self.digest.remove_hash(stored.hash);
                self.map.remove(op.key());
            }
        }
        result
    }

    /// The digest element of `key` holding `value`.
    #[inline]
    fn element_hash(key: &str, value: &str) -> u64 {
        hash_of(&(key, value))
    }

    /// The current value of `key`.
    pub fn get(&self, key: &str) -> Option<&Arc<str>> {
        self.map.get(key).map(|s| &s.value)
    }

    /// An order-independent digest of every (key, value) pair.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Number of keys present.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// What an operation does to its key's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Unchanged,
    Set(Arc<str>),
    Remove,
}

/// The semantics of the five operations on one key (docs/DESIGN.md §5), as a pure function
/// of the key's current value (`None` = absent): what happens to the value, and the result.
/// The store and the linearizability checker's model ([`crate::history`]) both call it, so
/// the two cannot drift. `scratch` is reused to build appended values.
pub fn apply_to_value(
    op: &Op,
    current: Option<&Arc<str>>,
    scratch: &mut String,
) -> (Effect, OpResult) {
    match op {
        Op::Put { value, .. } => (Effect::Set(Arc::clone(value)), current.cloned()),
        Op::Append { value, .. } => {
            let new: Arc<str> = match current {
                Some(old) => {
                    scratch.clear();
                    scratch.push_str(old);
                    scratch.push_str(value);
                    Arc::from(scratch.as_str())
                }
                None => Arc::clone(value),
            };
            (Effect::Set(Arc::clone(&new)), Some(new))
        }
        Op::Incr { amount, .. } => match incremented(current.map(|s| &**s), *amount) {
            Some(new) => (Effect::Set(Arc::clone(&new)), Some(new)),
            None => (Effect::Unchanged, Some(Arc::from(ERR_NOT_AN_INTEGER))),
        },
        Op::Delete { .. } => match current {
            Some(old) => (Effect::Remove, Some(Arc::clone(old))),
            None => (Effect::Unchanged, None),
        },
        Op::Get { .. } => (Effect::Unchanged, current.cloned()),
    }
}

/// Whether an append or incr of `current` sets (and returns) exactly `expected`, decided
/// without building the new value: what a history checker asks of every candidate order.
/// `Some(answer)` when this can tell (an append; an incr whose operands fit an `i64`);
/// `None` otherwise (ask [`apply_to_value`]). Agrees with `apply_to_value` (tested).
pub fn sets_to(op: &Op, current: Option<&str>, expected: &str) -> Option<bool> {
    match op {
        Op::Append { value, .. } => {
            let current = current.unwrap_or("");
            Some(
                expected.len() == current.len() + value.len()
                    && expected.starts_with(current)
                    && expected.ends_with(&**value),
            )
        }
        Op::Incr { amount, .. } => {
            let n = match current {
                None => 0,
                Some(c) if is_decimal_integer(c) => c.parse::<i64>().ok()?,
                Some(_) => return None, // answered "ERR not an integer", and no change
            };
            let sum = n.checked_add(*amount)?;
            Some(itoa::Buffer::new().format(sum) == expected)
        }
        _ => None,
    }
}

/// `current + amount` in decimal (absent = 0), of any length; `None` if `current` is not a
/// decimal integer.
fn incremented(current: Option<&str>, amount: i64) -> Option<Arc<str>> {
    let Some(current) = current else {
        return Some(decimal(amount));
    };
    if !is_decimal_integer(current) {
        return None;
    }
    if let Some(sum) = current
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_add(amount))
    {
        return Some(decimal(sum));
    }
    let big: BigInt = current.parse().expect("a validated decimal integer parses");
    Some(Arc::from((big + amount).to_string()))
}

/// An optional sign, then one or more ASCII digits: nothing else is a decimal integer (no
/// spaces, no underscores, no exponent).
fn is_decimal_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `n` in decimal as a shared string, formatted on the stack (by `itoa`, which `core::fmt`
/// is several times slower than on every applied `incr`).
fn decimal(n: i64) -> Arc<str> {
    Arc::from(itoa::Buffer::new().format(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sets_to` answers, when it answers, what `apply_to_value` does.
    #[test]
    fn sets_to_agrees_with_apply() {
        let values = [
            None,
            Some(""),
            Some("7"),
            Some("-3"),
            Some("+4"),
            Some("007"),
            Some("ab"),
            Some("9223372036854775807"),
            Some("99999999999999999999"),
            Some("12"),
            Some("125"),
        ];
        let ops = [
            Op::Append {
                key: key("k"),
                value: key("5"),
            },
            Op::Append {
                key: key("k"),
                value: key(""),
            },
            Op::Incr {
                key: key("k"),
                amount: 1,
            },
            Op::Incr {
                key: key("k"),
                amount: -10,
            },
            Op::Incr {
                key: key("k"),
                amount: i64::MAX,
            },
        ];
        let mut scratch = String::new();
        for op in &ops {
            for current in values {
                let current = current.map(Arc::<str>::from);
                let (effect, result) = apply_to_value(op, current.as_ref(), &mut scratch);
                for expected in values
                    .iter()
                    .flatten()
                    .copied()
                    .chain(["8", "75", "-13", "1"])
                {
                    let Some(answer) = sets_to(op, current.as_deref(), expected) else {
                        continue;
                    };
                    let truth = matches!(&effect, Effect::Set(v) if &**v == expected)
                        && result.as_deref() == Some(expected);
                    assert_eq!(answer, truth, "{op} on {current:?} to {expected:?}");
                }
            }
        }
    }

    fn key(k: &str) -> Arc<str> {
        Arc::from(k)
    }

    fn val(v: &str) -> Arc<str> {
        Arc::from(v)
    }

    fn result(r: &OpResult) -> Option<&str> {
        r.as_deref()
    }

    /// Each operation returns exactly the result docs/DESIGN.md §5 states; table rows print
    /// their index.
    #[test]
    #[rustfmt::skip]
    fn operation_results_match_the_design_table() {
        let k = key("k");
        let put = |v: &str| Op::Put { key: k.clone(), value: val(v) };
        let append = |v: &str| Op::Append { key: k.clone(), value: val(v) };
        let incr = |amount: i64| Op::Incr { key: k.clone(), amount };
        let delete = || Op::Delete { key: k.clone() };
        let get = || Op::Get { key: k.clone() };
        let cases: Vec<(Op, Option<&str>, Option<&str>)> = vec![
            // (op, expected result, expected value of k afterwards)
            (get(), None, None),
            (put("a"), None, Some("a")),
            (put("b"), Some("a"), Some("b")),
            (append("c"), Some("bc"), Some("bc")),
            (get(), Some("bc"), Some("bc")),
            (incr(1), Some(ERR_NOT_AN_INTEGER), Some("bc")),
            (delete(), Some("bc"), None),
            (delete(), None, None),
            (incr(5), Some("5"), Some("5")),
            (incr(-7), Some("-2"), Some("-2")),
            (append("1"), Some("-21"), Some("-21")),
            (incr(1), Some("-20"), Some("-20")),
            // Decimal integers of any length: past i64 the sum is still exact.
            (put("9223372036854775807"), Some("-20"), Some("9223372036854775807")),
            (incr(1), Some("9223372036854775808"), Some("9223372036854775808")),
            (append("0"), Some("92233720368547758080"), Some("92233720368547758080")),
            (incr(-92233720368547758), Some("92141486648179210322"), Some("92141486648179210322")),
            (put("-0099"), Some("92141486648179210322"), Some("-0099")),
            (incr(100), Some("1"), Some("1")),
            // Not decimal integers: no underscores, not empty, not a bare sign.
            (put("1_000"), Some("1"), Some("1_000")),
            (incr(1), Some(ERR_NOT_AN_INTEGER), Some("1_000")),
            (put(""), Some("1_000"), Some("")),
            (incr(1), Some(ERR_NOT_AN_INTEGER), Some("")),
            (put("-"), Some(""), Some("-")),
            (incr(1), Some(ERR_NOT_AN_INTEGER), Some("-")),
            (delete(), Some("-"), None),
            (append("x"), Some("x"), Some("x")),
        ];
        let mut kv = KvStore::new();
        for (i, (op, want_result, want_value)) in cases.into_iter().enumerate() {
            let got = kv.apply(&op);
            assert_eq!(result(&got), want_result, "case {i}: result of {op}");
            assert_eq!(kv.get("k").map(|v| &**v), want_value, "case {i}: value after {op}");
        }
    }

    /// `incr` and `append` are not idempotent: applying one twice changes the value twice,
    /// which is what makes a double apply visible in the data itself.
    #[test]
    fn incr_and_append_applied_twice_show_in_the_value() {
        let mut kv = KvStore::new();
        let op = Op::Incr {
            key: key("n"),
            amount: 3,
        };
        kv.apply(&op);
        kv.apply(&op);
        assert_eq!(kv.get("n").map(|v| &**v), Some("6"));
        let op = Op::Append {
            key: key("s"),
            value: val("ab"),
        };
        kv.apply(&op);
        kv.apply(&op);
        assert_eq!(kv.get("s").map(|v| &**v), Some("abab"));
    }

    /// Two stores that reach the same map by different paths have the same digest.
    #[test]
    fn digest_tracks_contents_not_history() {
        let mut a = KvStore::new();
        a.apply(&Op::Put {
            key: key("x"),
            value: val("1"),
        });
        a.apply(&Op::Put {
            key: key("y"),
            value: val("2"),
        });
        a.apply(&Op::Delete { key: key("x") });
        let mut b = KvStore::new();
        b.apply(&Op::Incr {
            key: key("y"),
            amount: 2,
        });
        assert_eq!(a.digest(), b.digest());
        b.apply(&Op::Append {
            key: key("y"),
            value: val("0"),
        });
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.len(), 1);
    }
}

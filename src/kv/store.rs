//! The key-value map and the exact semantics of the five operations (DESIGN §5).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::op::{Op, OpResult};
use crate::digest::{Digest, hash_of};

/// The result of an `incr` on a value that is not a decimal integer (DESIGN §5, word for word).
pub const ERR_NOT_AN_INTEGER: &str = "ERR not an integer";
/// The result of an `incr` whose sum does not fit in a signed 64-bit integer; no change.
pub const ERR_OVERFLOW: &str = "ERR increment would overflow";

/// A value with its digest element hash, so replacing or removing it costs no rehash.
#[derive(Clone, Debug)]
struct Stored {
    value: Arc<str>,
    hash: u64,
}

/// The replicated map. Ordered, so that anything derived from it is deterministic.
#[derive(Clone, Debug, Default)]
pub struct KvStore {
    map: BTreeMap<Arc<str>, Stored>,
    digest: Digest,
    /// Reused to build appended values, so each costs one allocation (the shared string).
    scratch: String,
}

impl KvStore {
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// Apply one operation and return its result. Never deduplicates: that is the session
    /// table's job, decided before this is called.
    pub fn apply(&mut self, op: &Op) -> OpResult {
        match op {
            Op::Put { key, value } => self.set(key, Arc::clone(value)),
            Op::Append { key, value } => {
                let new: Arc<str> = match self.map.get(&**key) {
                    Some(old) => {
                        self.scratch.clear();
                        self.scratch.push_str(&old.value);
                        self.scratch.push_str(value);
                        Arc::from(self.scratch.as_str())
                    }
                    None => Arc::clone(value),
                };
                self.set(key, Arc::clone(&new));
                Some(new)
            }
            Op::Incr { key, amount } => {
                let current = match self.map.get(&**key) {
                    Some(old) => match old.value.parse::<i64>() {
                        Ok(n) => n,
                        Err(_) => return Some(Arc::from(ERR_NOT_AN_INTEGER)),
                    },
                    None => 0,
                };
                let Some(sum) = current.checked_add(*amount) else {
                    return Some(Arc::from(ERR_OVERFLOW));
                };
                let new = decimal(sum);
                self.set(key, Arc::clone(&new));
                Some(new)
            }
            Op::Delete { key } => {
                let old = self.map.remove(&**key)?;
                self.digest.remove_hash(old.hash);
                Some(old.value)
            }
            Op::Get { key } => self.map.get(&**key).map(|s| Arc::clone(&s.value)),
        }
    }

    /// Set `key` to `value`, returning the previous value.
    fn set(&mut self, key: &Arc<str>, value: Arc<str>) -> OpResult {
        let hash = hash_of(&(&**key, &*value));
        self.digest.add_hash(hash);
        let new = Stored { value, hash };
        let Some(slot) = self.map.get_mut(&**key) else {
            self.map.insert(Arc::clone(key), new);
            return None;
        };
        let old = std::mem::replace(slot, new);
        self.digest.remove_hash(old.hash);
        Some(old.value)
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

/// `n` in decimal as a shared string, formatted on the stack.
fn decimal(n: i64) -> Arc<str> {
    use std::io::Write as _;
    let mut buf = [0u8; 20];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    write!(cursor, "{n}").expect("an i64 fits in 20 bytes");
    let len = cursor.position() as usize;
    Arc::from(std::str::from_utf8(&buf[..len]).expect("decimal digits are UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Arc<str> {
        Arc::from(k)
    }

    fn val(v: &str) -> Arc<str> {
        Arc::from(v)
    }

    fn result(r: &OpResult) -> Option<&str> {
        r.as_deref()
    }

    /// Each operation returns exactly the result DESIGN §5 states; table rows print their index.
    #[test]
    fn operation_results_match_the_design_table() {
        let mut kv = KvStore::new();
        let k = key("k");
        let cases: Vec<(Op, Option<&str>, Option<&str>)> = vec![
            // (op, expected result, expected value of k afterwards)
            (Op::Get { key: k.clone() }, None, None),
            (
                Op::Put {
                    key: k.clone(),
                    value: val("a"),
                },
                None,
                Some("a"),
            ),
            (
                Op::Put {
                    key: k.clone(),
                    value: val("b"),
                },
                Some("a"),
                Some("b"),
            ),
            (
                Op::Append {
                    key: k.clone(),
                    value: val("c"),
                },
                Some("bc"),
                Some("bc"),
            ),
            (Op::Get { key: k.clone() }, Some("bc"), Some("bc")),
            (
                Op::Incr {
                    key: k.clone(),
                    amount: 1,
                },
                Some(ERR_NOT_AN_INTEGER),
                Some("bc"),
            ),
            (Op::Delete { key: k.clone() }, Some("bc"), None),
            (Op::Delete { key: k.clone() }, None, None),
            (
                Op::Incr {
                    key: k.clone(),
                    amount: 5,
                },
                Some("5"),
                Some("5"),
            ),
            (
                Op::Incr {
                    key: k.clone(),
                    amount: -7,
                },
                Some("-2"),
                Some("-2"),
            ),
            (
                Op::Append {
                    key: k.clone(),
                    value: val("1"),
                },
                Some("-21"),
                Some("-21"),
            ),
            (
                Op::Incr {
                    key: k.clone(),
                    amount: 1,
                },
                Some("-20"),
                Some("-20"),
            ),
            (
                Op::Put {
                    key: k.clone(),
                    value: val("9223372036854775807"),
                },
                Some("-20"),
                Some("9223372036854775807"),
            ),
            (
                Op::Incr {
                    key: k.clone(),
                    amount: 1,
                },
                Some(ERR_OVERFLOW),
                Some("9223372036854775807"),
            ),
            (
                Op::Delete { key: k.clone() },
                Some("9223372036854775807"),
                None,
            ),
            (
                Op::Append {
                    key: k.clone(),
                    value: val("x"),
                },
                Some("x"),
                Some("x"),
            ),
        ];
        for (i, (op, want_result, want_value)) in cases.into_iter().enumerate() {
            let got = kv.apply(&op);
            assert_eq!(result(&got), want_result, "case {i}: result of {op}");
            assert_eq!(
                kv.get("k").map(|v| &**v),
                want_value,
                "case {i}: value after {op}"
            );
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

//! The operations a client issues: drawn from the client's own seeded stream according to
//! `[clients]` (key count, op mix) in the simulator, or given one by one (`idemsim client`).

use std::sync::Arc;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::kv::{Op, OpKind};

/// Relative weights of the five operations; at least one must be positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub weights: [u32; 5],
}

impl Mix {
    /// The weight of `kind`.
    pub fn weight(&self, kind: OpKind) -> u32 {
        self.weights[kind as usize]
    }

    fn total(&self) -> u64 {
        self.weights.iter().map(|&w| u64::from(w)).sum()
    }
}

/// What clients draw their operations from: shared by all clients of a run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Operations each client issues.
    pub ops: u64,
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    /// Random operations over a key space, `k0..k{n-1}` (allocated once per run).
    Drawn {
        keys: Vec<Arc<str>>,
        mix: Mix,
        total_weight: u64,
    },
    /// These operations, in order.
    Given(Vec<Op>),
}

impl Workload {
    /// A workload of `ops` operations per client over `key_count` keys (at least one), with
    /// `mix` (total weight at least one).
    pub fn new(ops: u64, key_count: u32, mix: Mix) -> Workload {
        assert!(key_count >= 1, "workload: key count must be at least 1");
        let total_weight = mix.total();
        assert!(total_weight >= 1, "workload: op mix has no positive weight");
        Workload {
            ops,
            source: Source::Drawn {
                keys: (0..key_count).map(|i| Arc::from(format!("k{i}"))).collect(),
                mix,
                total_weight,
            },
        }
    }

    /// A workload of exactly these operations, in order (a client on the real network).
    pub fn given(ops: Vec<Op>) -> Workload {
        Workload {
            ops: ops.len() as u64,
            source: Source::Given(ops),
        }
    }

    /// The operation a client issues as its `index`-th (0-based, below `ops`). Drawn ones keep
    /// every key a decimal integer under put and append (put: a number; append: one digit),
    /// so that `incr` stays meaningful and a double `incr` or `append` shows in the value
    /// itself.
    pub fn next_op(&self, rng: &mut ChaCha8Rng, index: u64) -> Op {
        let (keys, mix, total_weight) = match &self.source {
            Source::Given(ops) => {
                return ops
                    .get(index as usize)
                    .cloned()
                    .expect("a client issues at most `ops` operations");
            }
            Source::Drawn {
                keys,
                mix,
                total_weight,
            } => (keys, mix, *total_weight),
        };
        let mut pick = rng.random_range(0..total_weight);
        let mut kind = OpKind::Get;
        for candidate in OpKind::ALL {
            let w = u64::from(mix.weight(candidate));
            if pick < w {
                kind = candidate;
                break;
            }
            pick -= w;
        }
        let key = Arc::clone(&keys[rng.random_range(0..keys.len())]);
        match kind {
            OpKind::Put => Op::Put {
                key,
                value: Arc::from(rng.random_range(1..1000u32).to_string()),
            },
            OpKind::Append => Op::Append {
                key,
                value: Arc::from(rng.random_range(1..10u32).to_string()),
            },
            OpKind::Incr => Op::Incr {
                key,
                amount: rng.random_range(1..10i64),
            },
            OpKind::Delete => Op::Delete { key },
            OpKind::Get => Op::Get { key },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Only kinds with positive weight are drawn, and every key drawn is in the key space.
    #[test]
    fn draws_follow_the_mix_and_key_space() {
        let mix = Mix {
            weights: [0, 2, 1, 0, 0],
        };
        let workload = Workload::new(10, 3, mix);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = [0u32; 5];
        for _ in 0..300 {
            let op = workload.next_op(&mut rng, 0);
            seen[op.kind() as usize] += 1;
            assert!(["k0", "k1", "k2"].contains(&op.key()), "key {}", op.key());
        }
        assert_eq!(seen[OpKind::Put as usize], 0);
        assert_eq!(seen[OpKind::Delete as usize], 0);
        assert_eq!(seen[OpKind::Get as usize], 0);
        assert!(seen[OpKind::Append as usize] > seen[OpKind::Incr as usize]);
        assert!(seen[OpKind::Incr as usize] > 0);
    }
}

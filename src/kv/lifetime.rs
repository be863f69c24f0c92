//! When sessions begin and end: registration, expiry by log time, and eviction past a bound.
//!
//! Time here is the *log time*: the highest leader stamp among the entries applied so far
//! ([`crate::message::Entry::stamp_us`]). Every replica applies the same entries in the same
//! order, so every replica expires and evicts the same sessions at the same index. Nothing
//! here reads a clock (the flawed `expire-local-clock` design is the state machine handing
//! in a replica's own clock instead of the stamp).

use std::collections::{BTreeMap, BTreeSet};

use crate::digest::{Digest, hash_of};
use crate::ids::ClientId;

/// How sessions end (`[server] session_timeout_ms`, `max_sessions`; `[clients] register`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SessionLimits {
    /// Sessions are opened through the log; a request from an unknown session is refused
    /// as `session-expired`. Without it the table is the v1 one: sessions appear on first
    /// use and never end.
    pub register: bool,
    /// A session idle (in log time) longer than this expires; 0: never.
    pub timeout_us: u64,
    /// Most live sessions; past it the least recently active one is evicted; 0: unbounded.
    pub max_sessions: u32,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EndReason {
    /// Idle past the timeout.
    Timeout,
    /// The least recently active when the table passed its bound.
    Evicted,
}

impl EndReason {
    /// The `reason` of the trace's `expire` event.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Evicted => "evicted",
        }
    }
}

/// The live sessions of one replica and when each was last active.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Lifetimes {
    limits: SessionLimits,
    /// The log time: the highest stamp seen.
    clock_us: u64,
    /// Live session -> last active (log time).
    live: BTreeMap<ClientId, u64>,
    /// The same, ordered by activity: the first is the least recently active (ties: the
    /// lower id, the older session).
    by_activity: BTreeSet<(u64, ClientId)>,
    digest: Digest,
    /// Sessions ended since the owner last took them, in the order they ended.
    ended: Vec<(ClientId, EndReason)>,
    /// [`crate::mutation::Mutation::EvictLate`]: evict only when two past the bound.
    evict_late: bool,
}

impl Lifetimes {
    pub fn new(limits: SessionLimits, evict_late: bool) -> Lifetimes {
        Lifetimes {
            limits,
            evict_late,
            ..Lifetimes::default()
        }
    }

    /// No live session, with the same limits (what a snapshot without sessions carries).
    pub fn emptied(&self) -> Lifetimes {
        Lifetimes::new(self.limits, self.evict_late)
    }

    /// Sessions are tracked at all (registration is on).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.limits.register
    }

    /// Live sessions.
    pub fn live_sessions(&self) -> usize {
        self.live.len()
    }

    /// Move the log time to `now_us` (never back) and expire every session idle past the
    /// timeout.
    pub fn advance(&mut self, now_us: u64) {
        self.clock_us = self.clock_us.max(now_us);
        let timeout_us = self.limits.timeout_us;
        if timeout_us == 0 {
            return;
        }
        while let Some(&(last_us, client)) = self.by_activity.first() {
            if self.clock_us.saturating_sub(last_us) <= timeout_us {
                break;
            }
            self.end(client, EndReason::Timeout);
        }
    }

    /// Open session `client`, active now; past the bound, evict the least recently active.
    pub fn open(&mut self, client: ClientId) {
        self.set_active(client, None);
        let max = self.limits.max_sessions as usize;
        let bound = if self.evict_late { max + 1 } else { max };
        while max > 0 && self.live.len() > bound {
            let Some(&(_, oldest)) = self.by_activity.first() else {
                break;
            };
            self.end(oldest, EndReason::Evicted);
        }
    }

    /// Mark `client` active now; false (and nothing changes) if it is not live.
    pub fn touch(&mut self, client: ClientId) -> bool {
        match self.live.get(&client).copied() {
            Some(last_us) => {
                if last_us != self.clock_us {
                    self.set_active(client, Some(last_us));
                }
                true
            }
            None => false,
        }
    }

    /// The flawed `ttl-reset-on-leader-change`: every session counts as active now.
    pub fn reset_all(&mut self) {
        let clients: Vec<(ClientId, u64)> = self.live.iter().map(|(&c, &t)| (c, t)).collect();
        for (client, last_us) in clients {
            if last_us != self.clock_us {
                self.set_active(client, Some(last_us));
            }
        }
    }

    /// Sessions ended since the last [`Lifetimes::take_ended`], oldest first.
    #[inline]
    pub fn ended(&self) -> &[(ClientId, EndReason)] {
        &self.ended
    }

    /// Sessions ended since the last call, oldest first.
    pub fn take_ended(&mut self) -> impl Iterator<Item = (ClientId, EndReason)> + '_ {
        self.ended.drain(..)
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    fn set_active(&mut self, client: ClientId, was_us: Option<u64>) {
        let now_us = self.clock_us;
        if let Some(was_us) = was_us {
            self.by_activity.remove(&(was_us, client));
            self.digest.remove(&(client, "live", was_us));
        }
        self.live.insert(client, now_us);
        self.by_activity.insert((now_us, client));
        self.digest.add(&(client, "live", now_us));
    }

    fn end(&mut self, client: ClientId, reason: EndReason) {
        let Some(last_us) = self.live.remove(&client) else {
            return;
        };
        self.by_activity.remove(&(last_us, client));
        self.digest.remove_hash(hash_of(&(client, "live", last_us)));
        self.ended.push((client, reason));
    }
}

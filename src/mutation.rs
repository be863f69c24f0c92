//! Deliberate bugs, for proving that the checkers catch real implementation mistakes
//! (mutation testing): each must make the rule that names the broken property fire in a real
//! simulated run. Never read from scenario files; `--mutation NAME` (run, sweep) and the catch
//! table turn them on. Each costs one predictable branch where it lives.

use std::fmt;

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Mutation {
    /// Drop the election restriction (Raft §5.4.1): grant a vote whatever the candidate's
    /// log. Raft safety must catch the leader that lacks committed entries.
    VoteIgnoresLog,
    /// Drop the consistency check (§5.3): append entries after `prev_log_index` without
    /// checking that the terms match there. Raft safety must catch the divergent logs.
    SkipConsistencyCheck,
    /// A leader drops retried requests (attempt > 1) as if they were replays. Liveness must
    /// catch the operations that then never complete.
    LeaderDropsRetries,
    /// A vote kept only in memory: a node that crashes forgets whom it voted for, so after a
    /// restart in the same term it can vote again. Raft safety must catch two leaders in one
    /// term (aimed at by `when = "after-vote"`).
    VoteNotKept,
    /// A follower takes its commit index to `min(leader_commit, its own log end)` instead of
    /// the last entry this append verified, committing a stale suffix it still holds. Raft
    /// safety must catch the replicas that then apply different entries at one index.
    CommitPastVerified,
    /// A leader sets a follower's match index to its own log end on any successful append,
    /// counting entries the follower never received. Raft safety must catch the committed
    /// entry a new leader lacks.
    MatchIndexToLogEnd,
    /// Applying a duplicate sets the client's session watermark (its lowest unacknowledged
    /// seq) from the duplicate, so a stale request moves it back and the seqs above it can
    /// apply again. Exactly-once must catch the second application (aimed at by
    /// `kind = "stale-replay"`).
    DuplicateMovesWatermark,
    /// A follower acknowledges entries before they are durable: a crash right after the
    /// acknowledgement loses them. Raft safety must catch the committed entry that was on a
    /// majority only in their acknowledgements (aimed at by `when = "after-ack"`).
    AckBeforePersist,
    /// A follower that finds an entry conflicting with the leader's appends the leader's
    /// entry after its own log instead of truncating from the conflict: its log only grows,
    /// and every resend makes it grow more. The run's log budget must stop it.
    KeepConflictingSuffix,
    /// A client that rebuilds its request when it retries (a new operation, the same seq),
    /// without telling anyone. Exactly-once must catch the operation that took effect in
    /// place of the one submitted.
    RebuildOnRetry,
    /// The session table never forgets a cached result, even below the client's lowest
    /// unacknowledged seq. The table-size rule must catch a client's results outgrowing its
    /// window.
    KeepAcknowledged,
    /// Eviction runs one session late: the table holds `max_sessions + 1`. The table-size
    /// rule must catch the bound passed (aimed at by `max_sessions`).
    EvictLate,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Mutation; 12] = [
        Mutation::VoteIgnoresLog,
        Mutation::SkipConsistencyCheck,
        Mutation::LeaderDropsRetries,
        Mutation::VoteNotKept,
        Mutation::CommitPastVerified,
        Mutation::MatchIndexToLogEnd,
        Mutation::DuplicateMovesWatermark,
        Mutation::AckBeforePersist,
        Mutation::KeepConflictingSuffix,
        Mutation::RebuildOnRetry,
        Mutation::KeepAcknowledged,
        Mutation::EvictLate,
    ];

    /// The name on the command line and in the catch table.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::VoteIgnoresLog => "vote-ignores-log",
            Mutation::SkipConsistencyCheck => "skip-consistency-check",
            Mutation::LeaderDropsRetries => "leader-drops-retries",
            Mutation::VoteNotKept => "vote-not-kept",
            Mutation::CommitPastVerified => "commit-past-verified",
            Mutation::MatchIndexToLogEnd => "match-index-to-log-end",
            Mutation::DuplicateMovesWatermark => "duplicate-moves-watermark",
            Mutation::AckBeforePersist => "ack-before-persist",
            Mutation::KeepConflictingSuffix => "keep-conflicting-suffix",
            Mutation::RebuildOnRetry => "rebuild-on-retry",
            Mutation::KeepAcknowledged => "keep-acknowledged",
            Mutation::EvictLate => "evict-late",
        }
    }
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of mutations; empty by default (no bug).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mutations(u16);

impl Mutations {
    pub const NONE: Mutations = Mutations(0);

    /// Just `m`.
    pub fn of(m: Mutation) -> Mutations {
        Mutations::NONE.with(m)
    }

    /// This set and `m`.
    #[must_use]
    pub fn with(self, m: Mutation) -> Mutations {
        Mutations(self.0 | 1 << m as u16)
    }

    /// Is `m` on?
    #[inline]
    pub fn has(self, m: Mutation) -> bool {
        self.0 & (1 << m as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The mutations on, in [`Mutation::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Mutation> {
        Mutation::ALL.into_iter().filter(move |&m| self.has(m))
    }
}

//! What a real node checks before it hands a peer's message to Raft.
//!
//! The Raft node asserts the invariants that correct peers guarantee: a node that finds one
//! broken stops rather than risk its state. Over a real network a well-formed frame may come
//! from a buggy or hostile sender (anyone, when the node has no `--cluster-token`), so the
//! server drops — and logs — a message that would trip one of those asserts instead of
//! letting it stop the node.

use crate::ids::{LogIndex, NodeId, Term};
use crate::message::{Install, Message};
use crate::raft::RaftNode;

/// Terms and indices past `u64::MAX - HEADROOM` are refused, so `term + 1` and
/// `index + entries` never overflow.
const HEADROOM: u64 = 1 << 32;

/// A message's term may be at most this far ahead of the node's own. Terms grow by one per
/// election: a node cut off for years at the shortest election timeout stays well inside
/// it, while a forged term cannot push the cluster anywhere near `u64::MAX`.
const MAX_TERM_JUMP: u64 = 1 << 32;

/// Largest snapshot a node takes from a peer (bytes): what it holds in memory while the
/// chunks arrive.
pub const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

/// Whether `message` from `from` is one a correct peer could have sent to `node`, in a
/// cluster of `cluster_size` nodes.
pub fn check_peer_message(
    node: &RaftNode,
    cluster_size: u8,
    from: NodeId,
    message: &Message,
) -> Result<(), String> {
    if from.0 == 0 || from.0 > cluster_size || from == node.id() {
        return Err(format!(
            "claims to be from {from}, not a peer of {}",
            node.id()
        ));
    }
    let current = node.term();
    // The sender's term: sane, and not absurdly far ahead.
    let sender_term = |term: Term| -> Result<(), String> {
        if term.0 > u64::MAX - HEADROOM {
            return Err(format!("term {term} is out of range"));
        }
        if term.0 > current.0.saturating_add(MAX_TERM_JUMP) {
            return Err(format!(
                "term {term} is more than {MAX_TERM_JUMP} ahead of this node's term {current}"
            ));
        }
        Ok(())
    };
    // A log term the sender claims: never past the sender's own term.
    let log_term = |what: &str, t: Term, term: Term| -> Result<(), String> {
        if t > term {
            Err(format!("{what} {t} is past the message's term {term}"))
        } else {
            Ok(())
        }
    };
    let index = |what: &str, i: LogIndex| -> Result<(), String> {
        if i.0 > u64::MAX - HEADROOM {
            Err(format!("{what} {i} is out of range"))
        } else {
            Ok(())
        }
    };
    match message {
        Message::RequestVote {
            term,
            last_log_index,
            last_log_term,
        } => {
            sender_term(*term)?;
            index("last_log_index", *last_log_index)?;
            log_term("last_log_term", *last_log_term, *term)
        }
        Message::VoteReply { term, .. } => sender_term(*term),
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => {
            sender_term(*term)?;
            index("prev_log_index", *prev_log_index)?;
            log_term("prev_log_term", *prev_log_term, *term)?;
            index("leader_commit", *leader_commit)?;
            if *term == current && node.is_leader() {
                return Err(format!(
                    "AppendEntries for term {term}, in which {} is the leader",
                    node.id()
                ));
            }
            let log = node.log();
            let mut at = *prev_log_index;
            for entry in entries {
                log_term("entry term", entry.term, *term)?;
                at = at.next();
                // An entry that differs from a committed one: Raft's log matching forbids it.
                let committed = at <= node.commit_index();
                let differs = log.term_at(at).is_some_and(|t| t != entry.term);
                if *term >= current && committed && differs {
                    return Err(format!(
                        "entry at index {at} (term {}) conflicts with a committed entry",
                        entry.term
                    ));
                }
            }
            Ok(())
        }
        Message::AppendReply {
            term,
            success,
            match_index,
            hint,
        } => {
            sender_term(*term)?;
            index("hint", *hint)?;
            let last = node.log().last_index();
            if *success && *term == current && node.is_leader() && *match_index > last {
                return Err(format!(
                    "acknowledges index {match_index} past the log end {last}"
                ));
            }
            Ok(())
        }
        Message::InstallSnapshot(install) => {
            let Install {
                term, base, offset, ..
            } = &**install;
            sender_term(*term)?;
            index("snapshot index", base.index)?;
            log_term("snapshot term", base.term, *term)?;
            if *offset > MAX_SNAPSHOT_BYTES {
                return Err(format!(
                    "snapshot offset {offset} past the largest snapshot ({MAX_SNAPSHOT_BYTES} bytes)"
                ));
            }
            if *term == current && node.is_leader() {
                return Err(format!(
                    "InstallSnapshot for term {term}, in which {} is the leader",
                    node.id()
                ));
            }
            Ok(())
        }
        Message::InstallReply { term, index: i, .. } => {
            sender_term(*term)?;
            index("index", *i)
        }
        Message::ReadProbe { term, .. } => {
            sender_term(*term)?;
            if *term == current && node.is_leader() {
                return Err(format!(
                    "ReadProbe for term {term}, in which {} is the leader",
                    node.id()
                ));
            }
            Ok(())
        }
        Message::ProbeReply { term, .. } => sender_term(*term),
        Message::ReadIndex { .. } | Message::ReadIndexReply { index: None, .. } => Ok(()),
        Message::ReadIndexReply { index: Some(i), .. } => index("read index", *i),
        Message::ClientRequest { .. }
        | Message::ClientReply { .. }
        | Message::Register { .. }
        | Message::RegisterReply { .. } => Err("client traffic inside a peer frame".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::ids::{ClientId, Seq, SimTime};
    use crate::kv::{Dedup, Op, Origin, Request};
    use crate::message::{Addr, Envelope};
    use crate::message::{Entry, Payload};
    use crate::process::Process;
    use crate::raft::{CrashedNode, Durable, Mutations, NodeConfig, Reads};

    /// Node 1 of a cluster of one, leader of term 1 with its no-op and one write committed.
    fn leader() -> RaftNode {
        let config = NodeConfig {
            id: NodeId(1),
            cluster_size: 1,
            election_timeout_us: (1000, 2000),
            heartbeat_us: 100,
            dedup: Dedup::Sessions,
            limits: crate::kv::SessionLimits::default(),
            mutations: Mutations::default(),
            snapshot_every: 0,
            snapshot_chunk_bytes: 64,
            reads: Reads::Log,
        };
        let crashed = CrashedNode {
            config,
            durable: Durable::default(),
            rng: ChaCha8Rng::seed_from_u64(1),
        };
        let mut node = RaftNode::recover(crashed, SimTime::ZERO);
        node.handle_timeout(SimTime::from_ms(10));
        let request = Request {
            client: ClientId(1),
            seq: Seq(1),
            lowest_unacked: Seq(1),
            op: Op::Get {
                key: Arc::from("k"),
            },
            origin: Origin::default(),
        };
        node.handle_message(
            SimTime::from_ms(11),
            Envelope {
                from: Addr::Client(crate::ids::ClientNo(1)),
                to: Addr::Node(NodeId(1)),
                msg: Message::ClientRequest {
                    request: Arc::new(request),
                    attempt: 1,
                },
            },
        );
        node.handle_timeout(SimTime::from_ms(11));
        assert!(node.is_leader(), "a one-node cluster elects itself");
        assert_eq!(
            node.commit_index(),
            LogIndex(2),
            "no-op and write committed"
        );
        node
    }

    /// Each message a correct peer could never send is refused, with a reason; the ordinary
    /// ones pass.
    #[test]
    fn impossible_peer_messages_are_refused() {
        let node = leader();
        let term = node.term();
        let entry = |t: u64| Entry {
            term: Term(t),
            payload: Payload::Noop,
            stamp_us: 0,
        };
        let refused: Vec<(&str, NodeId, Message)> = vec![
            (
                "from itself",
                NodeId(1),
                Message::VoteReply {
                    term,
                    granted: true,
                },
            ),
            (
                "from node 0",
                NodeId(0),
                Message::VoteReply {
                    term,
                    granted: true,
                },
            ),
            (
                "term at the limit",
                NodeId(2),
                Message::RequestVote {
                    term: Term(u64::MAX),
                    last_log_index: LogIndex(0),
                    last_log_term: Term(0),
                },
            ),
            (
                "term too far ahead",
                NodeId(2),
                Message::VoteReply {
                    term: Term(term.0 + MAX_TERM_JUMP + 1),
                    granted: false,
                },
            ),
            (
                "a log term past the sender's term",
                NodeId(2),
                Message::RequestVote {
                    term,
                    last_log_index: LogIndex(9),
                    last_log_term: Term(term.0 + 1),
                },
            ),
            (
                "a second leader in this term",
                NodeId(2),
                Message::AppendEntries {
                    term,
                    prev_log_index: LogIndex(0),
                    prev_log_term: Term(0),
                    entries: vec![],
                    leader_commit: LogIndex(0),
                },
            ),
            (
                "overwrites a committed entry",
                NodeId(2),
                Message::AppendEntries {
                    term: Term(term.0 + 1),
                    prev_log_index: LogIndex(0),
                    prev_log_term: Term(0),
                    entries: vec![entry(term.0 + 1)],
                    leader_commit: LogIndex(0),
                },
            ),
            (
                "acknowledges past the log end",
                NodeId(2),
                Message::AppendReply {
                    term,
                    success: true,
                    match_index: LogIndex(99),
                    hint: LogIndex(0),
                },
            ),
        ];
        for (i, (label, from, message)) in refused.iter().enumerate() {
            // Cluster size 3 so that n2 and n3 are peers.
            let verdict = check_peer_message(&node, 3, *from, message);
            assert!(verdict.is_err(), "case {i} ({label}) was let through");
        }
        let fine = [
            Message::VoteReply {
                term,
                granted: false,
            },
            Message::AppendReply {
                term,
                success: true,
                match_index: LogIndex(2),
                hint: LogIndex(0),
            },
            Message::AppendEntries {
                term: Term(term.0 + 1),
                prev_log_index: LogIndex(2),
                prev_log_term: term,
                entries: vec![entry(term.0 + 1)],
                leader_commit: LogIndex(2),
            },
        ];
        for (i, message) in fine.iter().enumerate() {
            let verdict = check_peer_message(&node, 3, NodeId(2), message);
            assert!(verdict.is_ok(), "ordinary case {i} refused: {verdict:?}");
        }
    }
}

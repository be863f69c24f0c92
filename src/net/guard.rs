//! What a real node checks before it hands a peer's message to Raft.
//!
//! Peers are trusted to run Raft (there is no authentication on the wire), and the Raft node
//! asserts the invariants that correct peers guarantee: a node that finds one broken stops
//! rather than risk its state. Over a real network anyone can connect and send a well-formed
//! frame, so the server drops — and logs — a message that would trip one of those asserts
//! instead of letting it stop the node.

use crate::ids::NodeId;
use crate::message::Message;
use crate::raft::RaftNode;

/// Terms and indices at or past this are refused: far beyond any real cluster, and far
/// enough from `u64::MAX` that `term + 1` and `index + entries` never overflow.
const LIMIT: u64 = 1 << 62;

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
    let too_big = |what: &str, value: u64| -> Result<(), String> {
        if value >= LIMIT {
            Err(format!("{what} {value} is out of range"))
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
            too_big("term", term.0)?;
            too_big("last_log_index", last_log_index.0)?;
            too_big("last_log_term", last_log_term.0)
        }
        Message::VoteReply { term, .. } => too_big("term", term.0),
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => {
            too_big("term", term.0)?;
            too_big("prev_log_index", prev_log_index.0)?;
            too_big("prev_log_term", prev_log_term.0)?;
            too_big("leader_commit", leader_commit.0)?;
            let current = node.term();
            if *term == current && node.is_leader() {
                return Err(format!(
                    "AppendEntries for term {term}, in which {} is the leader",
                    node.id()
                ));
            }
            let log = node.log();
            let mut index = *prev_log_index;
            for entry in entries {
                too_big("entry term", entry.term.0)?;
                index = index.next();
                // An entry that differs from a committed one: Raft's log matching forbids it.
                let committed = index <= node.commit_index();
                let differs = log.term_at(index).is_some_and(|t| t != entry.term);
                if *term >= current && committed && differs {
                    return Err(format!(
                        "entry at index {index} (term {}) conflicts with a committed entry",
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
            too_big("term", term.0)?;
            too_big("hint", hint.0)?;
            let last = node.log().last_index();
            if *success && *term == node.term() && node.is_leader() && *match_index > last {
                return Err(format!(
                    "acknowledges index {match_index} past the log end {last}"
                ));
            }
            Ok(())
        }
        Message::ClientRequest { .. } | Message::ClientReply { .. } => {
            Err("client traffic inside a peer frame".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::ids::{ClientId, LogIndex, Seq, SimTime, Term};
    use crate::kv::{Dedup, Op, Origin, Request};
    use crate::message::{Addr, Envelope};
    use crate::process::Process;
    use crate::raft::{CrashedNode, Durable, Entry, Mutations, NodeConfig, Payload};

    /// Node 1 of a cluster of one, leader of term 1 with its no-op and one write committed.
    fn leader() -> RaftNode {
        let config = NodeConfig {
            id: NodeId(1),
            cluster_size: 1,
            election_timeout_us: (1000, 2000),
            heartbeat_us: 100,
            dedup: Dedup::Sessions,
            mutations: Mutations::default(),
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

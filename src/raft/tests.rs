//! Raft cases from the paper, driving one node with hand-made messages. Each test opens with
//! what it checks and the section of Ongaro & Ousterhout (2014) it comes from.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, SimTime, Term};
use crate::kv::{Dedup, Op, Request};
use crate::message::{Addr, Envelope, Message, Payload, Reply};
use crate::process::Process;

const T0: SimTime = SimTime(0);

fn config(id: u8, nodes: u8) -> NodeConfig {
    NodeConfig {
        id: NodeId(id),
        cluster_size: nodes,
        election_timeout_us: (150_000, 300_000),
        heartbeat_us: 50_000,
        dedup: Dedup::Sessions,
        limits: crate::kv::SessionLimits::default(),
        mutations: Mutations::default(),
        snapshot_every: 0,
        snapshot_chunk_bytes: 64,
        reads: Reads::Log,
    }
}

/// A node of a `nodes`-node cluster that restarts with `term`, `voted_for` and a log whose
/// entries have the given terms (no-op payloads).
fn node_with(id: u8, nodes: u8, term: u64, voted_for: Option<u8>, log_terms: &[u64]) -> RaftNode {
    let mut log = Log::new();
    for &t in log_terms {
        log.push(Entry {
            term: Term(t),
            payload: Payload::Noop,
            stamp_us: 0,
        });
    }
    RaftNode::recover(
        CrashedNode {
            config: config(id, nodes),
            durable: Durable {
                current_term: Term(term),
                voted_for: voted_for.map(NodeId),
                log,
                snapshot: None,
            },
            rng: ChaCha8Rng::seed_from_u64(u64::from(id)),
        },
        T0,
    )
}

fn from_node(node: &mut RaftNode, from: u8, msg: Message) {
    let to = Addr::Node(node.id());
    node.handle_message(
        T0,
        Envelope {
            from: Addr::Node(NodeId(from)),
            to,
            msg,
        },
    );
}

fn sent(node: &mut RaftNode) -> Vec<Envelope> {
    std::iter::from_fn(|| node.poll_transmit()).collect()
}

fn events(node: &mut RaftNode) -> Vec<NodeEvent> {
    std::iter::from_fn(|| node.poll_event()).collect()
}

fn vote_request(term: u64, last_index: u64, last_term: u64) -> Message {
    Message::RequestVote {
        term: Term(term),
        last_log_index: LogIndex(last_index),
        last_log_term: Term(last_term),
    }
}

fn vote_granted(out: &[Envelope]) -> bool {
    match out {
        [
            Envelope {
                msg: Message::VoteReply { granted, .. },
                ..
            },
        ] => *granted,
        other => panic!("expected one VoteReply, got {other:?}"),
    }
}

fn append(term: u64, prev: (u64, u64), entry_terms: &[u64], commit: u64) -> Message {
    Message::AppendEntries {
        term: Term(term),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        entries: entry_terms
            .iter()
            .map(|&t| Entry {
                term: Term(t),
                payload: Payload::Noop,
                stamp_us: 0,
            })
            .collect(),
        leader_commit: LogIndex(commit),
    }
}

fn append_reply(out: &[Envelope]) -> (bool, LogIndex, LogIndex) {
    match out {
        [
            Envelope {
                msg:
                    Message::AppendReply {
                        success,
                        match_index,
                        hint,
                        ..
                    },
                ..
            },
        ] => (*success, *match_index, *hint),
        other => panic!("expected one AppendReply, got {other:?}"),
    }
}

fn log_terms(node: &RaftNode) -> Vec<u64> {
    let log = node.log();
    (1..=log.last_index().0)
        .map(|i| log.term_at(LogIndex(i)).expect("index within log").0)
        .collect()
}

/// Election Safety (§5.2): a node grants at most one vote per term, first come first served.
#[test]
fn one_vote_per_term() {
    let mut n1 = node_with(1, 3, 0, None, &[]);
    from_node(&mut n1, 2, vote_request(1, 0, 0));
    assert!(
        vote_granted(&sent(&mut n1)),
        "first candidate of term 1 gets the vote"
    );
    from_node(&mut n1, 3, vote_request(1, 0, 0));
    assert!(
        !vote_granted(&sent(&mut n1)),
        "second candidate of term 1 is refused"
    );
    from_node(&mut n1, 2, vote_request(1, 0, 0));
    assert!(
        vote_granted(&sent(&mut n1)),
        "the same candidate may ask again"
    );
    from_node(&mut n1, 3, vote_request(2, 0, 0));
    assert!(vote_granted(&sent(&mut n1)), "a new term brings a new vote");
}

/// Election restriction (§5.4.1): a vote goes only to a candidate whose log is at least as
/// up-to-date: a higher last term wins, equal last terms compare length.
#[test]
fn vote_requires_an_up_to_date_log() {
    let cases = [
        // (candidate last index, candidate last term, granted?)
        (5, 1, false), // longer, but older last term
        (1, 2, false), // same last term, shorter
        (2, 2, true),  // same last term, same length
        (1, 3, true),  // newer last term, shorter
    ];
    for (i, (last_index, last_term, want)) in cases.into_iter().enumerate() {
        let mut n1 = node_with(1, 3, 2, None, &[1, 2]);
        from_node(&mut n1, 2, vote_request(3, last_index, last_term));
        assert_eq!(vote_granted(&sent(&mut n1)), want, "case {i}");
    }
}

/// Log Matching, consistency check (§5.3): a follower rejects entries whose predecessor it
/// does not hold, and hints where the leader should back up to.
#[test]
fn append_rejected_without_matching_predecessor() {
    let mut n1 = node_with(1, 3, 1, None, &[1]);
    from_node(&mut n1, 2, append(2, (3, 1), &[2], 0));
    let (ok, _, hint) = append_reply(&sent(&mut n1));
    assert!(!ok, "index 3 is past the follower's log end");
    assert_eq!(hint, LogIndex(2), "hint: the follower's log end + 1");

    let mut n1 = node_with(1, 3, 2, None, &[1, 2, 2]);
    from_node(&mut n1, 2, append(3, (3, 3), &[3], 0));
    let (ok, _, hint) = append_reply(&sent(&mut n1));
    assert!(!ok, "term at index 3 differs");
    assert_eq!(
        hint,
        LogIndex(2),
        "hint: first index of the conflicting term 2"
    );
    assert_eq!(
        log_terms(&n1),
        [1, 2, 2],
        "a rejected append changes nothing"
    );
}

/// Log Matching (§5.3): a conflicting suffix is truncated and replaced; entries that match
/// are kept, and a stale, shorter append never truncates a longer matching log.
#[test]
fn conflicts_truncate_and_matches_are_kept() {
    let mut n1 = node_with(1, 3, 2, None, &[1, 1, 2, 2]);
    from_node(&mut n1, 2, append(3, (2, 1), &[3], 0));
    let (ok, matched, _) = append_reply(&sent(&mut n1));
    assert!(ok);
    assert_eq!(matched, LogIndex(3));
    assert_eq!(
        log_terms(&n1),
        [1, 1, 3],
        "index 3 conflicted: suffix replaced"
    );

    let mut n1 = node_with(1, 3, 1, None, &[1, 1, 1]);
    from_node(&mut n1, 2, append(1, (0, 0), &[1], 0));
    let (ok, matched, _) = append_reply(&sent(&mut n1));
    assert!(ok);
    assert_eq!(
        matched,
        LogIndex(1),
        "acknowledges only what the message covered"
    );
    assert_eq!(
        log_terms(&n1),
        [1, 1, 1],
        "a stale shorter append truncates nothing"
    );
}

/// Drive `n1` (of 3) through an election in `term` with votes from n2.
fn elect(n1: &mut RaftNode) {
    n1.handle_timeout(SimTime(10_000_000)); // election timeout long past
    let term = n1.term();
    sent(n1);
    from_node(
        n1,
        2,
        Message::VoteReply {
            term,
            granted: true,
        },
    );
    assert!(n1.is_leader(), "two of three votes elect n1");
}

/// Commitment rule (§5.4.2, Figure 8): a leader never commits an entry of an earlier term by
/// counting replicas; it commits it only together with an entry of its own term.
#[test]
fn leader_commits_only_current_term_entries_by_counting() {
    let mut n1 = node_with(1, 3, 2, None, &[1, 2]);
    elect(&mut n1); // term 3, appends its no-op at index 3
    assert_eq!(n1.term(), Term(3));
    assert_eq!(log_terms(&n1), [1, 2, 3]);
    let ack = |m: u64| Message::AppendReply {
        term: Term(3),
        success: true,
        match_index: LogIndex(m),
        hint: LogIndex(0),
    };
    from_node(&mut n1, 2, ack(2));
    assert_eq!(
        n1.commit_index(),
        LogIndex(0),
        "index 2 (term 2) on a majority is not enough"
    );
    from_node(&mut n1, 2, ack(3));
    assert_eq!(
        n1.commit_index(),
        LogIndex(3),
        "the term-3 no-op commits, and index 2 with it"
    );
}

/// Persistent state (§5.1, Figure 2): term, vote and log survive a crash; nothing else does,
/// so the restarted node still refuses a second vote in the same term and must relearn the
/// commit index before it re-applies anything.
#[test]
fn crash_keeps_term_vote_and_log_only() {
    let mut n1 = node_with(1, 3, 4, None, &[1, 4]);
    from_node(&mut n1, 2, append(4, (2, 4), &[], 2));
    sent(&mut n1);
    n1.handle_timeout(T0);
    assert_eq!(n1.last_applied(), LogIndex(2));
    from_node(&mut n1, 2, vote_request(5, 2, 4));
    assert!(vote_granted(&sent(&mut n1)));

    let mut n1 = RaftNode::recover(n1.crash(), T0);
    assert_eq!(n1.term(), Term(5));
    assert_eq!(log_terms(&n1), [1, 4]);
    assert_eq!(n1.commit_index(), LogIndex(0), "commit index is volatile");
    assert_eq!(
        n1.last_applied(),
        LogIndex(0),
        "the state machine is rebuilt from the log"
    );
    from_node(&mut n1, 3, vote_request(5, 9, 9));
    assert!(
        !vote_granted(&sent(&mut n1)),
        "the vote of term 5 went to n2 before the crash"
    );
}

fn client_request(node: &mut RaftNode, seq: u64) {
    let request = Arc::new(Request {
        client: ClientId(42),
        seq: Seq(seq),
        lowest_unacked: Seq(seq),
        op: Op::Incr {
            key: Arc::from("k"),
            amount: 1,
        },
        origin: Default::default(),
    });
    let to = Addr::Node(node.id());
    node.handle_message(
        T0,
        Envelope {
            from: Addr::Client(ClientNo(1)),
            to,
            msg: Message::ClientRequest {
                request,
                attempt: 1,
            },
        },
    );
}

/// Client requests (§8): a follower redirects a client to the leader it knows of.
#[test]
fn follower_redirects_clients_to_the_leader() {
    let mut n1 = node_with(1, 3, 1, None, &[]);
    client_request(&mut n1, 1);
    let out = sent(&mut n1);
    assert!(
        matches!(
            &out[..],
            [Envelope {
                msg: Message::ClientReply {
                    reply: Reply::NotLeader { hint: None },
                    ..
                },
                ..
            }]
        ),
        "no leader known yet: {out:?}"
    );
    from_node(&mut n1, 2, append(1, (0, 0), &[], 0));
    sent(&mut n1);
    client_request(&mut n1, 1);
    let out = sent(&mut n1);
    assert!(
        matches!(
            &out[..],
            [Envelope {
                msg: Message::ClientReply {
                    reply: Reply::NotLeader {
                        hint: Some(NodeId(2))
                    },
                    ..
                },
                ..
            }]
        ),
        "redirect to n2: {out:?}"
    );
}

/// The seed lesson end to end in one node (§6.3 of the dissertation): a single-node leader
/// applies a write once, and answers the same (client_id, seq) again from the session table
/// without appending it.
#[test]
fn single_node_applies_once_and_answers_a_retry_from_the_cache() {
    let mut n1 = node_with(1, 1, 0, None, &[]);
    n1.handle_timeout(SimTime(10_000_000));
    assert!(n1.is_leader(), "a one-node cluster elects itself");
    client_request(&mut n1, 1);
    assert_eq!(
        n1.commit_index(),
        LogIndex(2),
        "no-op and write commit at once"
    );
    n1.handle_timeout(SimTime(10_000_000));
    let out = sent(&mut n1);
    assert!(
        matches!(
            &out[..],
            [Envelope {
                msg: Message::ClientReply {
                    reply: Reply::Done { cached: false, .. },
                    ..
                },
                ..
            }]
        ),
        "{out:?}"
    );
    events(&mut n1);
    client_request(&mut n1, 1);
    let out = sent(&mut n1);
    assert!(
        matches!(
            &out[..],
            [Envelope {
                msg: Message::ClientReply {
                    reply: Reply::Done { cached: true, .. },
                    ..
                },
                ..
            }]
        ),
        "{out:?}"
    );
    assert_eq!(
        n1.log().last_index(),
        LogIndex(2),
        "the retry was not appended"
    );
    assert!(matches!(
        &events(&mut n1)[..],
        [NodeEvent::DuplicateOnReceive { .. }]
    ));
    assert_eq!(
        n1.state_machine().store().get("k").map(|v| &**v),
        Some("1"),
        "applied once"
    );
    // Seq 2 applies and acknowledges seq 1, whose result the table then forgets: a late copy
    // of seq 1 is refused as forgotten, at once, and not appended.
    client_request(&mut n1, 2);
    n1.handle_timeout(SimTime(20_000_000));
    sent(&mut n1);
    events(&mut n1);
    let before = n1.log().last_index();
    client_request(&mut n1, 1);
    let out = sent(&mut n1);
    assert!(
        matches!(
            &out[..],
            [Envelope {
                msg: Message::ClientReply {
                    seq: Seq(1),
                    reply: Reply::Forgotten { last_seq: Seq(2) },
                    ..
                },
                ..
            }]
        ),
        "{out:?}"
    );
    assert_eq!(
        n1.log().last_index(),
        before,
        "the stale seq was not appended"
    );
}

/// Crash points (docs/DESIGN.md §4): a new write is first in the log and on no wire
/// (before-replicate), then sent and unacknowledged by a majority (mid-replication), then
/// committed and not applied (after-commit), then just answered (after-reply).
#[test]
fn crash_points_track_replication() {
    let mut n1 = node_with(1, 3, 0, None, &[]);
    elect(&mut n1);
    let term = n1.term();
    let ack = |m: u64| Message::AppendReply {
        term,
        success: true,
        match_index: LogIndex(m),
        hint: LogIndex(0),
    };
    from_node(&mut n1, 2, ack(1));
    n1.handle_timeout(T0);
    sent(&mut n1);
    let none = CrashPoints::default();
    assert_eq!(n1.crash_points(), none, "only a no-op so far");

    client_request(&mut n1, 1);
    let points = n1.crash_points();
    assert_eq!(
        points.before_replicate,
        Some(LogIndex(2)),
        "appended, sent to no one"
    );
    assert_eq!(points.mid_replication, None);
    assert!(
        sent(&mut n1).is_empty(),
        "nothing on the wire until the replicate step"
    );

    n1.handle_timeout(T0);
    assert_eq!(sent(&mut n1).len(), 2, "the write goes to both followers");
    let points = n1.crash_points();
    assert_eq!(points.before_replicate, None);
    assert_eq!(
        points.mid_replication,
        Some((LogIndex(2), NodeId(2))),
        "write at index 2 sent to n2, not acknowledged"
    );

    from_node(&mut n1, 2, ack(2));
    let points = n1.crash_points();
    assert_eq!(points.mid_replication, None, "acknowledged by a majority");
    assert_eq!(
        points.after_commit,
        Some(LogIndex(2)),
        "committed, not yet applied"
    );

    n1.handle_timeout(T0);
    let points = n1.crash_points();
    assert_eq!(points.after_commit, None, "applied and answered");
    assert_eq!(
        points.after_reply,
        Some(LogIndex(2)),
        "answered in this very step"
    );
    from_node(&mut n1, 3, ack(1));
    assert_eq!(
        n1.crash_points(),
        none,
        "the next step is no longer right after the reply"
    );
}

//! Reads outside the log, driven message by message: what each path answers, and what a
//! leader cut off from the others answers after a new leader took a write.

use std::sync::Arc;

use super::test_cluster::{Cluster, config};
use super::*;
use crate::kv::Op;

fn cluster(reads: Reads) -> Cluster {
    Cluster::with(|id| NodeConfig {
        reads,
        ..config(id, 0)
    })
}

fn get() -> Op {
    Op::Get {
        key: Arc::from("k"),
    }
}

/// What the nodes answered client 7's `seq` (the last answer, if several).
fn answer(c: &Cluster, seq: u64) -> Option<Reply> {
    c.to_clients.iter().rev().find_map(|e| match &e.msg {
        Message::ClientReply { seq: s, reply, .. } if s.0 == seq => Some(reply.clone()),
        _ => None,
    })
}

fn done(value: &str) -> Option<Reply> {
    Some(Reply::Done {
        result: Some(Arc::from(value)),
        cached: false,
    })
}

/// The paths the `read` events of client 7's `seq` name.
fn paths(c: &Cluster, seq: u64) -> Vec<(NodeId, ReadPath)> {
    c.events
        .iter()
        .filter_map(|(node, e)| match e {
            NodeEvent::Read { seq: s, path, .. } if s.0 == seq => Some((*node, *path)),
            _ => None,
        })
        .collect()
}

/// Elect a leader and have it apply `k = 1` (seq 1); returns the leader.
fn with_one_write(c: &mut Cluster) -> NodeId {
    let leader = c.elect();
    c.write(leader, 1);
    for _ in 0..5 {
        c.tick(1_000);
    }
    assert_eq!(answer(c, 1), done("1"), "the write is answered");
    leader
}

/// Cut `old` off, let the others elect a leader and apply `k = 2` (seq 2); returns the new
/// leader.
fn partition_and_write(c: &mut Cluster, old: NodeId) -> NodeId {
    c.cut[old.index()] = true;
    let mut new = None;
    for _ in 0..100 {
        c.tick(10_000);
        new = c
            .nodes
            .iter()
            .flatten()
            .find(|n| n.is_leader() && n.id() != old)
            .map(|n| n.id());
        if new.is_some() {
            break;
        }
    }
    let new = new.expect("the majority elects a leader");
    c.write(new, 2);
    for _ in 0..5 {
        c.tick(1_000);
    }
    assert_eq!(
        answer(c, 2),
        done("2"),
        "the new leader's write is answered"
    );
    new
}

#[test]
fn read_index_answers_after_a_round_at_the_leader_and_a_follower() {
    let mut c = cluster(Reads::ReadIndex);
    let leader = with_one_write(&mut c);
    c.request(leader, 2, get());
    assert_eq!(
        answer(&c, 2),
        None,
        "no answer before the round is confirmed"
    );
    c.tick(1);
    assert_eq!(answer(&c, 2), done("1"));
    assert_eq!(paths(&c, 2), vec![(leader, ReadPath::ReadIndex)]);

    let follower = NodeId(if leader.0 == 1 { 2 } else { 1 });
    c.request(follower, 3, get());
    c.tick(1); // the follower asks the leader, which starts a round
    c.tick(1);
    assert_eq!(
        answer(&c, 3),
        None,
        "answered before applying the read index"
    );
    c.tick(50_000); // the next heartbeat carries the commit index
    c.tick(1); // and the follower applies
    assert_eq!(answer(&c, 3), done("1"));
    assert_eq!(paths(&c, 3), vec![(follower, ReadPath::FollowerReadIndex)]);
    assert_eq!(
        c.node(leader.0).log().last_index(),
        c.node(follower.0).log().last_index(),
        "reads appended nothing"
    );
}

/// The stale read the linearizability rule exists for: `local` answers from a cut-off
/// leader's state after the new leader acknowledged a newer write; the correct paths never
/// answer there.
#[test]
fn a_cut_off_leader_answers_stale_only_under_local() {
    for reads in [Reads::Local, Reads::ReadIndex, Reads::Lease] {
        let mut c = cluster(reads);
        let old = with_one_write(&mut c);
        partition_and_write(&mut c, old);
        c.request(old, 3, get());
        for _ in 0..5 {
            c.tick(10_000);
        }
        let got = answer(&c, 3);
        if reads == Reads::Local {
            assert_eq!(got, done("1"), "{}: the stale value", reads.name());
        } else {
            assert!(
                !matches!(got, Some(Reply::Done { .. })),
                "{}: a cut-off leader answered {got:?}",
                reads.name()
            );
        }
    }
}

/// A lease measured on the clock that jumped back outlives the new leader's election; the
/// correct lease, measured without the jump, has run out.
#[test]
fn a_clock_jumping_back_extends_only_the_unbounded_lease() {
    for reads in [Reads::LeaseUnbounded, Reads::Lease] {
        let mut c = cluster(reads);
        let old = with_one_write(&mut c);
        // Three seconds on (so the clock can go 2 s back), with a fresh lease: a heartbeat
        // round confirmed.
        for _ in 0..60 {
            c.tick(50_000);
        }
        c.jump(old, -2_000_000);
        partition_and_write(&mut c, old);
        c.request(old, 3, get());
        c.tick(1);
        let got = answer(&c, 3);
        if reads == Reads::LeaseUnbounded {
            assert_eq!(got, done("1"), "{}: the stale value", reads.name());
            assert_eq!(paths(&c, 3), vec![(old, ReadPath::LeaseUnbounded)]);
        } else {
            assert_eq!(got, None, "{}: answered {got:?}", reads.name());
        }
    }
}

/// Under a lease a node that heard from its leader ignores a newer term's vote requests for
/// a minimum election timeout, and votes after it.
#[test]
fn lease_followers_refuse_votes_while_a_lease_may_hold() {
    let mut c = cluster(Reads::Lease);
    let leader = with_one_write(&mut c);
    let follower = NodeId(if leader.0 == 1 { 2 } else { 1 });
    let term = c.node(follower.0).term();
    let last = c.node(follower.0).log().last_index();
    let last_term = c.node(follower.0).log().last_term();
    let ask = |c: &mut Cluster| {
        let now = c.now_of(follower);
        let candidate = NodeId(6 - leader.0 - follower.0);
        c.node(follower.0).handle_message(
            now,
            Envelope {
                from: Addr::Node(candidate),
                to: Addr::Node(follower),
                msg: Message::RequestVote {
                    term: Term(term.0 + 1),
                    last_log_index: last,
                    last_log_term: last_term,
                },
            },
        );
        let out: Vec<Envelope> =
            std::iter::from_fn(|| c.node(follower.0).poll_transmit()).collect();
        out.iter()
            .any(|e| matches!(e.msg, Message::VoteReply { granted: true, .. }))
    };
    assert!(!ask(&mut c), "voted inside the lease");
    assert_eq!(c.node(follower.0).term(), term, "adopted the newer term");
    c.cut = vec![true; 3];
    c.tick(200_000);
    assert!(
        ask(&mut c),
        "refused a vote a minimum election timeout later"
    );
}

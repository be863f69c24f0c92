//! The client's retry logic, driven by hand: where each attempt goes after a timeout, a
//! redirect, an unreachable node or a refusal, with the simulator's settings and with the
//! real network's (suspicion, an attempt limit, a given id and seq).

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::kv::Op;

const T0: SimTime = SimTime(0);
const TIMEOUT_US: u64 = 1_000;

fn op() -> Op {
    Op::Incr {
        key: Arc::from("k"),
        amount: 1,
    }
}

/// A client of a 3-node cluster with one operation; `real`: the real network's settings.
fn client(real: bool) -> Client {
    let mut config =
        ClientConfig::simulated(ClientNo(1), 3, TIMEOUT_US, (0, 0), OnRestart::FreshId);
    if real {
        config.suspect_us = TIMEOUT_US;
        config.max_attempts = Some(4);
        config.id = Some(ClientId(42));
        config.first_seq = Seq(7);
    }
    let workload = Arc::new(Workload::given(vec![op()]));
    let mut c = Client::new(config, ChaCha8Rng::seed_from_u64(1), workload, T0);
    c.handle_timeout(T0); // think time 0: submit now
    c
}

/// Where each message the client sent since the last call went, with its attempt number.
fn sent(c: &mut Client) -> Vec<(NodeId, u32)> {
    std::iter::from_fn(|| c.poll_transmit())
        .map(|e| match (e.to, e.msg) {
            (Addr::Node(n), Message::ClientRequest { attempt, .. }) => (n, attempt),
            other => panic!("a client sent {other:?}"),
        })
        .collect()
}

fn events(c: &mut Client) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn reply(c: &mut Client, now: SimTime, from: u8, attempt: u32, reply: Reply) {
    let (client, seq) = c
        .pending()
        .map(|(r, _)| (r.client, r.seq))
        .expect("pending");
    c.handle_message(
        now,
        Envelope {
            from: Addr::Node(NodeId(from)),
            to: Addr::Client(ClientNo(1)),
            msg: Message::ClientReply {
                client,
                seq,
                attempt,
                incarnation: 0,
                reply,
            },
        },
    );
}

/// A timeout re-sends the same `(client_id, seq)` to the next node; a redirect with a hint
/// goes straight to the hinted leader; one without a hint backs off, then tries the next node.
#[test]
fn timeouts_and_redirects_move_the_same_request_on() {
    let mut c = client(false);
    assert_eq!(sent(&mut c), [(NodeId(1), 1)], "client 1 starts at n1");
    let t1 = SimTime(TIMEOUT_US);
    c.handle_timeout(t1);
    assert_eq!(sent(&mut c), [(NodeId(2), 2)]);
    reply(
        &mut c,
        t1,
        2,
        2,
        Reply::NotLeader {
            hint: Some(NodeId(3)),
        },
    );
    assert_eq!(sent(&mut c), [(NodeId(3), 3)]);
    reply(&mut c, t1, 3, 3, Reply::NotLeader { hint: None });
    assert!(sent(&mut c).is_empty(), "no leader known: back off first");
    let backoff = c.poll_timeout().expect("a back-off timer");
    assert_eq!(backoff, t1.plus_us(TIMEOUT_US / 4));
    c.handle_timeout(backoff);
    assert_eq!(sent(&mut c), [(NodeId(1), 4)]);
    reply(
        &mut c,
        backoff,
        1,
        4,
        Reply::Done {
            result: Some(Arc::from("1")),
            cached: false,
        },
    );
    assert!(c.is_done());
    assert_eq!(c.completed(), 1);
}

/// With suspicion (the real network), a redirect naming a node that just failed is not
/// followed: the client backs off and tries a node it still trusts.
#[test]
fn a_suspected_node_is_passed_over() {
    let mut c = client(true);
    assert_eq!(sent(&mut c), [(NodeId(1), 1)]);
    let t1 = SimTime(TIMEOUT_US);
    c.handle_timeout(t1); // n1 failed: suspected
    assert_eq!(sent(&mut c), [(NodeId(2), 2)]);
    reply(
        &mut c,
        t1,
        2,
        2,
        Reply::NotLeader {
            hint: Some(NodeId(1)),
        },
    );
    assert!(sent(&mut c).is_empty(), "n1 just failed: not believed");
    let backoff = c.poll_timeout().expect("back-off");
    c.handle_timeout(backoff);
    assert_eq!(
        sent(&mut c),
        [(NodeId(3), 3)],
        "past n2 and the suspected n1"
    );
    // The simulator's client (no suspicion) follows the same stale hint at once.
    let mut sim = client(false);
    sent(&mut sim);
    sim.handle_timeout(t1);
    sent(&mut sim);
    reply(
        &mut sim,
        t1,
        2,
        2,
        Reply::NotLeader {
            hint: Some(NodeId(1)),
        },
    );
    assert_eq!(sent(&mut sim), [(NodeId(1), 3)]);
}

/// An unreachable node fails the attempt at once; when every node has failed, the client
/// forgets its suspicions, backs off, and starts a new round; past `max_attempts` it gives
/// the operation up.
#[test]
fn unreachable_nodes_fail_fast_and_attempts_run_out() {
    let mut c = client(true);
    assert_eq!(sent(&mut c), [(NodeId(1), 1)]);
    c.handle_unreachable(T0, NodeId(2)); // not the node it waits on: ignored
    assert!(sent(&mut c).is_empty());
    c.handle_unreachable(T0, NodeId(1));
    assert_eq!(sent(&mut c), [(NodeId(2), 2)]);
    c.handle_unreachable(T0, NodeId(2));
    assert_eq!(sent(&mut c), [(NodeId(3), 3)]);
    c.handle_unreachable(T0, NodeId(3));
    assert!(sent(&mut c).is_empty(), "every node failed: back off");
    let backoff = c.poll_timeout().expect("back-off");
    assert!(backoff > T0);
    c.handle_timeout(backoff);
    assert_eq!(sent(&mut c), [(NodeId(1), 4)], "a new round");
    c.handle_unreachable(backoff, NodeId(1));
    assert!(sent(&mut c).is_empty(), "4 attempts used");
    let gave_up = events(&mut c).into_iter().any(|e| {
        matches!(
            e,
            ClientEvent::GaveUp {
                seq: Seq(7),
                attempts: 4
            }
        )
    });
    assert!(gave_up, "the operation is given up after its 4 attempts");
    assert!(c.is_done());
    assert_eq!(c.given_up(), 1);
}

/// The given id and first seq are what the request carries; a refusal of a forgotten seq
/// ends the operation without a result.
#[test]
fn a_forgotten_seq_ends_the_operation() {
    let mut c = client(true);
    sent(&mut c);
    let (request, _) = c.pending().expect("pending");
    assert_eq!((request.client, request.seq), (ClientId(42), Seq(7)));
    assert_eq!(request.lowest_unacked, Seq(7));
    events(&mut c);
    reply(&mut c, T0, 1, 1, Reply::Forgotten { last_seq: Seq(9) });
    let refused = events(&mut c).into_iter().any(|e| {
        matches!(
            e,
            ClientEvent::Refused {
                seq: Seq(7),
                last_seq: Seq(9),
                ..
            }
        )
    });
    assert!(refused);
    assert!(c.is_done());
    assert_eq!((c.completed(), c.refused()), (0, 1));
}

/// A pipelining client of a 3-node cluster: `window` requests in flight, `ops` operations,
/// no think time; registering first when `register`.
fn pipelined(window: u32, ops: usize, register: bool) -> Client {
    let mut config =
        ClientConfig::simulated(ClientNo(1), 3, TIMEOUT_US, (0, 0), OnRestart::FreshId);
    config.window = window;
    config.register = register;
    let workload = Arc::new(Workload::given(vec![op(); ops]));
    Client::new(config, ChaCha8Rng::seed_from_u64(1), workload, T0)
}

/// Every message sent since the last call: (to, seq or 0 for a register, lowest unacked).
fn sent_all(c: &mut Client) -> Vec<(NodeId, u64, u64)> {
    std::iter::from_fn(|| c.poll_transmit())
        .map(|e| match (e.to, e.msg) {
            (Addr::Node(n), Message::ClientRequest { request, .. }) => {
                (n, request.seq.0, request.lowest_unacked.0)
            }
            (Addr::Node(n), Message::Register { .. }) => (n, 0, 0),
            other => panic!("a client sent {other:?}"),
        })
        .collect()
}

fn answer(c: &mut Client, seq: u64, reply: Reply) {
    let client = c.id();
    c.handle_message(
        T0,
        Envelope {
            from: Addr::Node(NodeId(1)),
            to: Addr::Client(ClientNo(1)),
            msg: Message::ClientReply {
                client,
                seq: Seq(seq),
                attempt: 1,
                incarnation: 0,
                reply,
            },
        },
    );
}

fn done(result: &str) -> Reply {
    Reply::Done {
        result: Some(Arc::from(result)),
        cached: false,
    }
}

/// The window slides over seqs: three requests go out at once, each carrying the lowest seq
/// not yet answered; an answer to seq 2 opens no room (seq 4 would be three past seq 1,
/// still unanswered), and the answer to seq 1 lets seq 4 go with lowest unacked 3.
#[test]
fn the_window_slides_over_seqs() {
    let mut c = pipelined(3, 5, false);
    for _ in 0..3 {
        let due = c.poll_timeout().expect("thinking");
        c.handle_timeout(due);
    }
    assert_eq!(
        sent_all(&mut c),
        [(NodeId(1), 1, 1), (NodeId(1), 2, 1), (NodeId(1), 3, 1)]
    );
    assert_eq!(
        c.poll_timeout(),
        Some(T0.plus_us(TIMEOUT_US)),
        "window full"
    );
    answer(&mut c, 2, done("2"));
    assert!(c.poll_timeout() > Some(T0), "no room: seq 1 is still open");
    answer(&mut c, 1, done("1"));
    let due = c.poll_timeout().expect("room again");
    c.handle_timeout(due);
    assert_eq!(sent_all(&mut c), [(NodeId(1), 4, 3)]);
    assert_eq!(c.completed(), 2);
}

/// A registering client opens its session first and takes the id the cluster gives it; an
/// answer `session-expired` ends every request in flight (refused, indefinite) and opens a
/// new session, the seqs counting on.
#[test]
fn an_expired_session_ends_the_window_and_registers_again() {
    let mut c = pipelined(2, 4, true);
    assert_eq!(sent_all(&mut c), [(NodeId(1), 0, 0)], "register first");
    assert!(
        c.poll_timeout().is_some_and(|t| t > T0),
        "no op before the session"
    );
    let registered = |c: &mut Client, id: u64| {
        c.handle_message(
            T0,
            Envelope {
                from: Addr::Node(NodeId(1)),
                to: Addr::Client(ClientNo(1)),
                msg: Message::RegisterReply {
                    attempt: 1,
                    incarnation: 0,
                    reply: RegisterAnswer::Registered {
                        client: ClientId(id),
                    },
                },
            },
        )
    };
    registered(&mut c, 7);
    assert_eq!(c.id(), ClientId(7));
    for _ in 0..2 {
        let due = c.poll_timeout().expect("thinking");
        c.handle_timeout(due);
    }
    assert_eq!(sent_all(&mut c), [(NodeId(1), 1, 1), (NodeId(1), 2, 1)]);
    events(&mut c);
    answer(&mut c, 2, Reply::SessionExpired);
    let ended: Vec<Seq> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Refused {
                seq,
                reason: Refusal::SessionExpired,
                ..
            } => Some(seq),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        [Seq(1), Seq(2)],
        "both requests in flight end indefinite"
    );
    assert_eq!(c.expired(), 2);
    assert_eq!(sent_all(&mut c), [(NodeId(1), 0, 0)], "a new session");
    registered(&mut c, 12);
    let due = c.poll_timeout().expect("thinking");
    c.handle_timeout(due);
    assert_eq!(sent_all(&mut c), [(NodeId(1), 3, 3)], "seqs count on");
    assert_eq!(c.id(), ClientId(12));
}

/// A client whose last operations end `session-expired` has nothing left to do: it opens no
/// new session (with a bounded table that would only evict another client's).
#[test]
fn a_finished_client_does_not_register_again() {
    let mut c = pipelined(2, 2, false);
    for _ in 0..2 {
        let due = c.poll_timeout().expect("thinking");
        c.handle_timeout(due);
    }
    assert_eq!(sent_all(&mut c).len(), 2);
    answer(&mut c, 1, Reply::SessionExpired);
    assert!(sent_all(&mut c).is_empty(), "no register");
    assert!(c.is_done());
    assert_eq!(c.expired(), 2);
}

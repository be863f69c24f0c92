//! Exactly once (DESIGN §8): in every replica's apply history each `(client_id, seq)` takes
//! effect at most once, at the same log index on every replica; every acknowledged write took
//! effect; and the result the client got equals the result of that one application.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Rule, Violations};
use crate::ids::{ClientId, ClientNo, LogIndex, NodeId, Seq, SimTime};
use crate::kv::{OpResult, Outcome, Request};
use crate::raft::Payload;
use crate::trace::TraceEvent;

/// The one application of a write.
#[derive(Clone, Debug)]
struct Effect {
    index: LogIndex,
    node: NodeId,
    result: OpResult,
    /// Another index where the same write took effect again, if any (reported at finish).
    again: Option<(LogIndex, NodeId, OpResult)>,
}

/// What the checker knows of one `(client, seq)`.
#[derive(Clone, Debug, Default)]
struct Op {
    /// The client's submission (number and request).
    submitted: Option<(ClientNo, Arc<Request>)>,
    effect: Option<Effect>,
    reply: Option<(OpResult, NodeId, SimTime)>,
}

/// Every op of every client: clients by id, then ops by seq (seqs count up from 1, so a
/// vector indexed by seq beats a map on the hot path of every apply).
#[derive(Default)]
pub struct ExactlyOnce {
    clients: BTreeMap<ClientId, usize>,
    ops: Vec<Vec<Op>>,
}

fn quoted(r: &OpResult) -> String {
    match r {
        Some(s) => format!("{s:?}"),
        None => "null".to_owned(),
    }
}

impl ExactlyOnce {
    /// The record of `(client, seq)`, created on first sight.
    fn op(&mut self, client: ClientId, seq: Seq) -> &mut Op {
        let next = self.ops.len();
        let c = *self.clients.entry(client).or_insert(next);
        if c == next {
            self.ops.push(Vec::new());
        }
        let ops = &mut self.ops[c];
        let i = seq.0.saturating_sub(1) as usize;
        if i >= ops.len() {
            ops.resize_with(i + 1, Op::default);
        }
        &mut ops[i]
    }

    pub fn observe(&mut self, t: SimTime, event: &TraceEvent<'_>, found: &mut Violations) {
        match *event {
            TraceEvent::Submit { client_no, request } => {
                self.op(request.client, request.seq).submitted =
                    Some((client_no, Arc::clone(request)));
            }
            TraceEvent::Reply {
                client,
                seq,
                node,
                result,
                ..
            } => {
                let op = self.op(client, seq);
                if op.submitted.is_none() {
                    found.push(
                        Rule::ExactlyOnce,
                        format!(
                            "client {client} seq {seq} got a reply for an op it never submitted"
                        ),
                    );
                }
                assert!(
                    op.reply.is_none(),
                    "client {client} seq {seq}: accepted two replies"
                );
                op.reply = Some((result.clone(), node, t));
            }
            TraceEvent::Apply {
                node,
                index,
                payload: Payload::Client(request),
                outcome: Outcome::Applied,
                result,
                ..
            } if request.op.kind().is_write() => {
                let op = self.op(request.client, request.seq);
                match &mut op.effect {
                    None => {
                        op.effect = Some(Effect {
                            index,
                            node,
                            result: result.clone(),
                            again: None,
                        });
                    }
                    Some(effect) if effect.index != index && effect.again.is_none() => {
                        effect.again = Some((index, node, result.clone()));
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }

    pub fn finish(&mut self, found: &mut Violations) {
        for (&client, &c) in &self.clients {
            for (i, op) in self.ops[c].iter().enumerate() {
                let seq = Seq(i as u64 + 1);
                let what = || {
                    op.submitted
                        .as_ref()
                        .map(|(no, r)| format!(" ({no} {})", r.op))
                        .unwrap_or_default()
                };
                if let Some(effect) = &op.effect {
                    if let Some((index, node, result)) = &effect.again {
                        let place = if *node == effect.node {
                            format!("on {node} (index {} and index {index})", effect.index)
                        } else {
                            format!(
                                "(index {} on {} and index {index} on {node})",
                                effect.index, effect.node
                            )
                        };
                        let got = match &op.reply {
                            Some((got, _, _)) => format!(
                                "the client got {}, its first application returned {} and the second {}",
                                quoted(got),
                                quoted(&effect.result),
                                quoted(result)
                            ),
                            None => format!(
                                "the first application returned {}, the second {}",
                                quoted(&effect.result),
                                quoted(result)
                            ),
                        };
                        found.push(
                            Rule::ExactlyOnce,
                            format!(
                                "client {client} seq {seq}{} took effect twice {place}; {got}",
                                what()
                            ),
                        );
                    }
                }
                let (Some((got, node, t)), Some((_, request))) = (&op.reply, &op.submitted) else {
                    continue;
                };
                if !request.op.kind().is_write() {
                    continue;
                }
                match &op.effect {
                    None => found.push(
                        Rule::ExactlyOnce,
                        format!(
                            "client {client} seq {seq}{} was acknowledged by {node} at t={t} \
                             with {} but never took effect on any replica",
                            what(),
                            quoted(got)
                        ),
                    ),
                    // A write that took effect twice is reported above, with what the client got.
                    Some(effect) if effect.result != *got && effect.again.is_none() => found.push(
                        Rule::ExactlyOnce,
                        format!(
                            "client {client} seq {seq}{} got {} from {node}, but its \
                             application at index {} on {} returned {}",
                            what(),
                            quoted(got),
                            effect.index,
                            effect.node,
                            quoted(&effect.result)
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}

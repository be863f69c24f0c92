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

/// What the client submitted and what it accepted.
#[derive(Clone, Debug)]
struct Submitted {
    client_no: ClientNo,
    request: Arc<Request>,
    reply: Option<(OpResult, NodeId, SimTime)>,
}

#[derive(Default)]
pub struct ExactlyOnce {
    effects: BTreeMap<(ClientId, Seq), Effect>,
    submitted: BTreeMap<(ClientId, Seq), Submitted>,
}

fn quoted(r: &OpResult) -> String {
    match r {
        Some(s) => format!("{s:?}"),
        None => "null".to_owned(),
    }
}

impl ExactlyOnce {
    pub fn observe(&mut self, t: SimTime, event: &TraceEvent<'_>, found: &mut Violations) {
        match *event {
            TraceEvent::Submit { client_no, request } => {
                self.submitted.insert(
                    (request.client, request.seq),
                    Submitted {
                        client_no,
                        request: Arc::clone(request),
                        reply: None,
                    },
                );
            }
            TraceEvent::Reply {
                client,
                seq,
                node,
                result,
                ..
            } => {
                if let Some(s) = self.submitted.get_mut(&(client, seq)) {
                    assert!(
                        s.reply.is_none(),
                        "client {client} seq {seq}: accepted two replies"
                    );
                    s.reply = Some((result.clone(), node, t));
                } else {
                    found.push(
                        Rule::ExactlyOnce,
                        format!(
                            "client {client} seq {seq} got a reply for an op it never submitted"
                        ),
                    );
                }
            }
            TraceEvent::Apply {
                node,
                index,
                payload: Payload::Client(request),
                outcome: Outcome::Applied,
                result,
                ..
            } if request.op.kind().is_write() => self.took_effect(node, index, request, result),
            _ => {}
        }
    }

    fn took_effect(&mut self, node: NodeId, index: LogIndex, request: &Request, result: &OpResult) {
        let key = (request.client, request.seq);
        match self.effects.get_mut(&key) {
            None => {
                self.effects.insert(
                    key,
                    Effect {
                        index,
                        node,
                        result: result.clone(),
                        again: None,
                    },
                );
            }
            Some(effect) if effect.index != index && effect.again.is_none() => {
                effect.again = Some((index, node, result.clone()));
            }
            Some(_) => {}
        }
    }

    pub fn finish(&mut self, found: &mut Violations) {
        for (&(client, seq), effect) in &self.effects {
            let Some((index, node, result)) = &effect.again else {
                continue;
            };
            let place = if *node == effect.node {
                format!("on {node} (index {} and index {index})", effect.index)
            } else {
                format!(
                    "(index {} on {} and index {index} on {node})",
                    effect.index, effect.node
                )
            };
            let mut message = format!("client {client} seq {seq}");
            if let Some(s) = self.submitted.get(&(client, seq)) {
                message.push_str(&format!(" ({} {})", s.client_no, s.request.op));
            }
            message.push_str(&format!(" took effect twice {place}"));
            match self
                .submitted
                .get(&(client, seq))
                .and_then(|s| s.reply.as_ref())
            {
                Some((got, _, _)) => message.push_str(&format!(
                    "; the client got {}, its first application returned {} and the second {}",
                    quoted(got),
                    quoted(&effect.result),
                    quoted(result)
                )),
                None => message.push_str(&format!(
                    "; the first application returned {}, the second {}",
                    quoted(&effect.result),
                    quoted(result)
                )),
            }
            found.push(Rule::ExactlyOnce, message);
        }
        for (&(client, seq), s) in &self.submitted {
            let Some((got, node, t)) = &s.reply else {
                continue;
            };
            if !s.request.op.kind().is_write() {
                continue;
            }
            match self.effects.get(&(client, seq)) {
                None => found.push(
                    Rule::ExactlyOnce,
                    format!(
                        "client {client} seq {seq} ({} {}) was acknowledged by {node} at t={t} \
                         with {} but never took effect on any replica",
                        s.client_no,
                        s.request.op,
                        quoted(got)
                    ),
                ),
                // A write that took effect twice is reported above, with what the client got.
                Some(effect) if effect.result != *got && effect.again.is_none() => found.push(
                    Rule::ExactlyOnce,
                    format!(
                        "client {client} seq {seq} ({} {}) got {} from {node}, but its \
                         application at index {} on {} returned {}",
                        s.client_no,
                        s.request.op,
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

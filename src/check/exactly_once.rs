//! Exactly once (docs/DESIGN.md §8): in every replica's apply history each
//! `(client_id, seq)` takes effect at most once, at the same log index on every replica;
//! every acknowledged write took effect; the operation that took effect under a seq is the
//! one the client submitted under it (kind, key and value: a `(client_id, seq)` alone does not
//! identify an operation); the result the client got equals the result of that one
//! application; and no operation is refused as an already acknowledged seq when it never was
//! acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ids::{ClientId, LogIndex, NodeId, Seq, SimTime};
use crate::kv::{OpResult, Origin, Outcome, Request};
use crate::message::{Payload, Refusal};
use crate::trace::TraceEvent;
use crate::verdict::{Rule, Violations};

/// The one application of a write.
#[derive(Clone, Debug)]
struct Effect {
    index: LogIndex,
    node: NodeId,
    /// The request that took effect: its operation must be the one submitted.
    request: Arc<Request>,
    result: OpResult,
    /// Every later index where the same write took effect again (the first few of them;
    /// `again_total` counts all), reported at finish.
    again: Vec<(LogIndex, NodeId, OpResult)>,
    again_total: u64,
}

/// Repeat applications kept per write for the message; the rest are only counted.
const MAX_KEPT_REPEATS: usize = 4;

/// What the checker knows of one operation: one client incarnation's seq.
#[derive(Clone, Debug, Default)]
struct Op {
    /// The client's submission.
    submitted: Option<Arc<Request>>,
    effect: Option<Effect>,
    reply: Option<(OpResult, NodeId, SimTime)>,
    /// A node refused it: the node, its `last_seq`, when, and why.
    refused: Option<(NodeId, Seq, SimTime, Refusal)>,
}

/// Every op of every client incarnation: incarnations by [`Origin`], then ops by seq (seqs
/// count up from 1, so a vector indexed by seq beats a map on the hot path of every apply).
/// Operations are told apart by who issued them, not by `(client_id, seq)`: a client that
/// restarts and reuses its id issues different operations under the same pair.
#[derive(Default)]
pub struct ExactlyOnce {
    clients: BTreeMap<Origin, (ClientId, usize)>,
    ops: Vec<Vec<Op>>,
}

fn quoted(r: &OpResult) -> String {
    match r {
        Some(s) => format!("{s:?}"),
        None => "null".to_owned(),
    }
}

impl ExactlyOnce {
    /// The record of `origin`'s `seq` (sent as `client`), created on first sight.
    fn op(&mut self, origin: Origin, client: ClientId, seq: Seq) -> &mut Op {
        let next = self.ops.len();
        let (_, c) = *self.clients.entry(origin).or_insert((client, next));
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
            TraceEvent::Submit { request, .. } => {
                self.op(request.origin, request.client, request.seq)
                    .submitted = Some(Arc::clone(request));
            }
            TraceEvent::Reply {
                origin,
                client,
                seq,
                node,
                result,
                ..
            } => {
                let op = self.op(origin, client, seq);
                if op.submitted.is_none() {
                    found.push(
                        Rule::ExactlyOnce,
                        format!(
                            "client {client} seq {seq} got a reply for an op it never submitted"
                        ),
                    );
                }
                assert!(
                    op.reply.is_none() && op.refused.is_none(),
                    "client {client} seq {seq}: accepted two replies"
                );
                op.reply = Some((result.clone(), node, t));
            }
            TraceEvent::Refused {
                origin,
                client,
                seq,
                node,
                last_seq,
                reason,
                ..
            } => {
                let op = self.op(origin, client, seq);
                assert!(
                    op.reply.is_none() && op.refused.is_none(),
                    "client {client} seq {seq}: accepted a refusal after an answer"
                );
                op.refused = Some((node, last_seq, t, reason));
            }
            TraceEvent::Apply {
                node,
                index,
                payload: Payload::Client(request),
                outcome: Outcome::Applied,
                result,
                ..
            } if request.op.kind().is_write() => {
                let op = self.op(request.origin, request.client, request.seq);
                match &mut op.effect {
                    None => {
                        op.effect = Some(Effect {
                            index,
                            node,
                            request: Arc::clone(request),
                            result: result.clone(),
                            again: Vec::new(),
                            again_total: 0,
                        });
                    }
                    Some(effect)
                        if effect.index != index && !effect.again.iter().any(|a| a.0 == index) =>
                    {
                        effect.again_total += 1;
                        if effect.again.len() < MAX_KEPT_REPEATS {
                            effect.again.push((index, node, result.clone()));
                        }
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }

    /// Whether `origin`'s `seq` took effect on some replica (a write applied, not refused).
    pub fn took_effect(&self, origin: Origin, seq: Seq) -> bool {
        let Some(&(_, c)) = self.clients.get(&origin) else {
            return false;
        };
        let i = seq.0.saturating_sub(1) as usize;
        self.ops[c].get(i).is_some_and(|op| op.effect.is_some())
    }

    /// Report, earliest first: writes that took effect more than once (by log index of the
    /// first repeat), then acknowledged writes whose effect is missing or differs (by time of
    /// the reply).
    pub fn finish(&mut self, found: &mut Violations) {
        let mut repeats: Vec<(LogIndex, (ClientId, Seq), String)> = Vec::new();
        let mut acks: Vec<(SimTime, (ClientId, Seq), String)> = Vec::new();
        for (&origin, &(client, c)) in &self.clients {
            for (i, op) in self.ops[c].iter().enumerate() {
                let seq = Seq(i as u64 + 1);
                let what = || {
                    op.submitted
                        .as_ref()
                        .map(|r| format!(" ({origin} {})", r.op))
                        .unwrap_or_default()
                };
                if let Some(effect) = op.effect.as_ref().filter(|e| e.again_total > 0) {
                    let first_repeat = effect
                        .again
                        .iter()
                        .map(|a| a.0)
                        .min()
                        .unwrap_or(effect.index);
                    repeats.push((
                        first_repeat,
                        (client, seq),
                        format!(
                            "client {client} seq {seq}{} {}",
                            what(),
                            describe_repeats(effect, op.reply.as_ref().map(|r| &r.0))
                        ),
                    ));
                }
                // A correct client never re-sends an acknowledged seq, so a refusal of one of its
                // operations as "acknowledged and forgotten" confuses it with another operation
                // that had the same (client_id, seq). A conflict refusal tells the truth: this
                // operation did not take effect under that seq (it ends indefinite).
                if let Some((node, last_seq, t, Refusal::Forgotten)) = op.refused {
                    let effect = match &op.effect {
                        None => "it never took effect".to_owned(),
                        Some(e) => format!("it took effect at index {} on {}", e.index, e.node),
                    };
                    acks.push((
                        t,
                        (client, seq),
                        format!(
                            "client {client} seq {seq}{} was refused by {node} at t={t} as \
                             already acknowledged and forgotten (last_seq {last_seq}), but it \
                             was never acknowledged and {effect}: another operation had used \
                             client {client} seq {seq}",
                            what()
                        ),
                    ));
                }
                // The operation that took effect under this seq must be the one submitted.
                if let (Some(effect), Some(request)) = (&op.effect, &op.submitted) {
                    if !Arc::ptr_eq(&effect.request, request) && effect.request.op != request.op {
                        let accepted = match &op.reply {
                            Some((got, node, t)) => format!(
                                "; the client accepted {} from {node} at t={t} as its result",
                                quoted(got)
                            ),
                            None => String::new(),
                        };
                        repeats.push((
                            effect.index,
                            (client, seq),
                            format!(
                                "client {client} seq {seq} ({origin}) took effect as {} at index \
                                 {} on {}, but the operation submitted under that seq was {}{accepted}",
                                effect.request.op, effect.index, effect.node, request.op
                            ),
                        ));
                        continue;
                    }
                }
                let (Some((got, node, t)), Some(request)) = (&op.reply, &op.submitted) else {
                    continue;
                };
                if !request.op.kind().is_write() {
                    continue;
                }
                match &op.effect {
                    // The same operation under the same (client_id, seq), from an earlier
                    // process that never got its answer: servers cannot tell the two apart,
                    // and that one application is this operation's.
                    None if self.identical_elsewhere(origin, client, seq, request, got) => {}
                    None => acks.push((
                        *t,
                        (client, seq),
                        format!(
                            "client {client} seq {seq}{} was acknowledged by {node} at t={t} \
                             with {} but never took effect on any replica{}",
                            what(),
                            quoted(got),
                            self.taken_by_another(origin, client, seq)
                        ),
                    )),
                    // A write that took effect twice is reported above, with what the client got.
                    Some(effect) if effect.result != *got && effect.again_total == 0 => {
                        acks.push((
                            *t,
                            (client, seq),
                            format!(
                                "client {client} seq {seq}{} got {} from {node}, but its \
                             application at index {} on {} returned {}",
                                what(),
                                quoted(got),
                                effect.index,
                                effect.node,
                                quoted(&effect.result)
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        repeats.sort();
        acks.sort();
        let in_order = repeats
            .into_iter()
            .map(|(_, op, m)| (op, m))
            .chain(acks.into_iter().map(|(_, op, m)| (op, m)));
        for (op, message) in in_order {
            found.push_about(Rule::ExactlyOnce, Some(op), message);
        }
    }
}

impl ExactlyOnce {
    /// Did an identical operation (same kind, key and value) of another process, under the
    /// same `(client, seq)`, take effect with result `got` without being acknowledged itself?
    fn identical_elsewhere(
        &self,
        origin: Origin,
        client: ClientId,
        seq: Seq,
        request: &Request,
        got: &OpResult,
    ) -> bool {
        let i = seq.0.saturating_sub(1) as usize;
        self.clients
            .iter()
            .filter(|&(&o, &(id, _))| o != origin && id == client)
            .any(|(_, &(_, c))| {
                self.ops[c].get(i).is_some_and(|other| {
                    other.reply.is_none()
                        && other
                            .effect
                            .as_ref()
                            .is_some_and(|e| e.request.op == request.op && e.result == *got)
                })
            })
    }

    /// When another process's operation took effect under the same `(client, seq)` (a
    /// client id used twice): "; another operation took effect under that client id and seq:
    /// put k0 3 (c1#0) at index 12 on n2". Empty otherwise. Only for messages, never on the
    /// hot path.
    fn taken_by_another(&self, origin: Origin, client: ClientId, seq: Seq) -> String {
        let i = seq.0.saturating_sub(1) as usize;
        self.clients
            .iter()
            .filter(|&(&o, &(id, _))| o != origin && id == client)
            .find_map(|(&o, &(_, c))| {
                let effect = self.ops[c].get(i)?.effect.as_ref()?;
                Some(format!(
                    "; another operation took effect under that client id and seq: {} ({o}) at \
                     index {} on {}",
                    effect.request.op, effect.index, effect.node
                ))
            })
            .unwrap_or_default()
    }
}

/// "took effect twice on n3 (index 31 and index 33); the client got "6", the result of the
/// application at index 33 ("5" at index 31)" — every application named, and which one the
/// client's result came from.
fn describe_repeats(effect: &Effect, got: Option<&OpResult>) -> String {
    let times = match effect.again_total + 1 {
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    };
    let mut all = vec![(effect.index, effect.node, &effect.result)];
    all.extend(effect.again.iter().map(|(i, n, r)| (*i, *n, r)));
    let one_node = all.iter().all(|a| a.1 == effect.node);
    let indexes: Vec<String> = all
        .iter()
        .map(|(i, n, _)| {
            if one_node {
                format!("index {i}")
            } else {
                format!("index {i} on {n}")
            }
        })
        .collect();
    let more = effect.again_total as usize + 1 - all.len();
    let mut list = indexes.join(if all.len() == 2 { " and " } else { ", " });
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    let place = if one_node {
        format!("on {} ({list})", effect.node)
    } else {
        format!("({list})")
    };
    let results: Vec<String> = all
        .iter()
        .map(|(i, _, r)| format!("{} at index {i}", quoted(r)))
        .collect();
    let results = results.join(", ");
    match got {
        None => format!("took effect {times} {place}; results: {results}; no reply was accepted"),
        Some(got) => match all.iter().find(|a| a.2 == got) {
            Some((i, _, _)) => format!(
                "took effect {times} {place}; the client got {}, the result of the application at index {i} (results: {results})",
                quoted(got)
            ),
            None => format!(
                "took effect {times} {place}; the client got {}, the result of none of them (results: {results})",
                quoted(got)
            ),
        },
    }
}

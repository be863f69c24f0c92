//! The linearizability rule: the clients' history (every operation from its submit to the
//! reply the client accepted) must be linearizable per key against the KV semantics of
//! docs/DESIGN.md §5. An operation without an accepted answer (refused as `session-expired`,
//! `forgotten` or `conflict`, given up, abandoned by a crashed client, or still waiting at
//! the end) is indefinite: it may have taken effect at any time after its submit, or never.
//!
//! An operation is known by its `(client_id, seq)`: a restarted client that kept both
//! (`on_restart = "resume"`) and reissues the very operation its earlier process left
//! unanswered continues that operation (called when it first was), as the servers see it.
//!
//! The simulator knows more than a client: it sees every replica apply. An indefinite write
//! that no replica ever applied took effect nowhere, so the rule resolves it as never having
//! taken effect, and an indefinite read constrains nothing; both are left out of the search.
//! (Each indefinite operation left in doubles what the search may have to explore; a run
//! that expires sessions leaves dozens.) What remains is checked as any history would be
//! (`idemsim check-history` applies no such resolution: it sees only the history).
//!
//! The rule only collects the history while the run goes on (one push per submit, one
//! lookup per reply or refusal; whether an unanswered write was applied it asks the
//! exactly-once rule, which follows every apply anyway, at the end); the search ([`crate::history::check`]) runs once, at the end.

use crate::history::{self, History, Operation, Verdict};
use crate::ids::{ClientId, Seq, SimTime};
use crate::kv::{Op, Origin};
use crate::trace::TraceEvent;
use crate::verdict::{Rule, Violations};

/// The operations of one client process incarnation, by seq.
struct Issued {
    origin: Origin,
    /// `ops[seq - 1]`: the operation's index in the history, and the client id it was sent
    /// under; `NONE` for a seq not seen.
    ops: Vec<(u32, ClientId)>,
}

const NONE: u32 = u32::MAX;

#[derive(Default)]
pub struct Linearizability {
    ops: Vec<Operation>,
    /// The client id of each operation, for the verdict.
    clients: Vec<ClientId>,
    /// Whether each operation has ended (answered or refused).
    ended: Vec<bool>,
    /// Every client process incarnation seen, in order of first submit (a handful: a linear
    /// scan beats a map).
    issued: Vec<Issued>,
}

impl Linearizability {
    /// The history index of `origin`'s `seq` sent as `client`, if submitted.
    #[inline]
    fn find(&self, origin: Origin, client: ClientId, seq: Seq) -> Option<usize> {
        let issued = self.issued.iter().find(|i| i.origin == origin)?;
        match issued.ops.get(seq.0.checked_sub(1)? as usize) {
            Some(&(at, c)) if at != NONE && c == client => Some(at as usize),
            _ => None,
        }
    }

    /// Record that `origin`'s `seq` is the operation at `at`.
    fn remember(&mut self, origin: Origin, client: ClientId, seq: Seq, at: usize) {
        let slot = match self.issued.iter().position(|i| i.origin == origin) {
            Some(p) => p,
            None => {
                self.issued.push(Issued {
                    origin,
                    ops: Vec::new(),
                });
                self.issued.len() - 1
            }
        };
        let ops = &mut self.issued[slot].ops;
        let i = seq.0.saturating_sub(1) as usize;
        if i >= ops.len() {
            ops.resize(i + 1, (NONE, ClientId(0)));
        }
        ops[i] = (at as u32, client);
    }

    /// An earlier incarnation of `origin`'s client that sent the same operation under the
    /// same `(client_id, seq)` and never had it answered.
    fn reissued(&self, origin: Origin, client: ClientId, seq: Seq, op: &Op) -> Option<usize> {
        (0..origin.incarnation).rev().find_map(|incarnation| {
            let earlier = Origin {
                incarnation,
                ..origin
            };
            self.find(earlier, client, seq)
                .filter(|&at| !self.ended[at] && self.ops[at].op == *op)
        })
    }

    #[inline]
    pub fn observe(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        match *event {
            TraceEvent::Submit { request, .. } => {
                let (origin, client, seq) = (request.origin, request.client, request.seq);
                if origin.incarnation > 0 {
                    if let Some(at) = self.reissued(origin, client, seq, &request.op) {
                        // A restarted client that kept its id and seq counter reissued the
                        // same operation its earlier process never had answered: servers
                        // know an operation only by (client_id, seq), so this is that
                        // operation, called when it first was.
                        self.remember(origin, client, seq, at);
                        return;
                    }
                }
                let at = self.ops.len();
                self.ops.push(Operation {
                    process: u64::from(origin.client_no.0),
                    seq: Some(seq.0),
                    op: request.op.clone(),
                    call_us: t.0,
                    return_us: None,
                    result: None,
                });
                self.clients.push(client);
                self.ended.push(false);
                self.remember(origin, client, seq, at);
            }
            TraceEvent::Reply {
                origin,
                client,
                seq,
                result,
                ..
            } => {
                if let Some(at) = self.find(origin, client, seq).filter(|&at| !self.ended[at]) {
                    self.ended[at] = true;
                    let op = &mut self.ops[at];
                    op.return_us = Some(t.0);
                    op.result = Some(result.clone());
                }
            }
            // Ended without a result: indefinite, as it already is.
            TraceEvent::Refused {
                origin,
                client,
                seq,
                ..
            } => {
                if let Some(at) = self.find(origin, client, seq) {
                    self.ended[at] = true;
                }
            }
            _ => {}
        }
    }

    /// The history the rule searches: every operation but the indefinite ones it leaves out
    /// (see the module doc), with the client id of each. `took_effect(origin, seq)`: whether
    /// a replica applied that process incarnation's write (the exactly-once rule knows).
    pub fn into_history(
        self,
        took_effect: impl Fn(Origin, Seq) -> bool,
    ) -> (History, Vec<ClientId>) {
        // Asked only of writes that never had an answer, under each incarnation that sent
        // them (a resumed client's reissue may be the one that applied).
        let mut applied = vec![false; self.ops.len()];
        for issued in &self.issued {
            for (i, &(at, _)) in issued.ops.iter().enumerate() {
                let Some(op) = self.ops.get(at as usize) else {
                    continue; // NONE: a seq not seen
                };
                if op.return_us.is_none() && op.op.kind().is_write() && !applied[at as usize] {
                    applied[at as usize] = took_effect(issued.origin, Seq(i as u64 + 1));
                }
            }
        }
        let Linearizability { ops, clients, .. } = self;
        let mut history = History::default();
        let mut kept = Vec::with_capacity(ops.len());
        for (i, op) in ops.into_iter().enumerate() {
            let indefinite = op.return_us.is_none();
            if indefinite && (!op.op.kind().is_write() || !applied[i]) {
                continue; // it constrains nothing, or it took effect nowhere
            }
            history.push(op);
            kept.push(clients[i]);
        }
        (history, kept)
    }

    /// Search the whole history; report the smallest window that cannot be linearized.
    pub fn finish(self, took_effect: impl Fn(Origin, Seq) -> bool, found: &mut Violations) {
        let (history, clients) = self.into_history(took_effect);
        let verdict = history::check(&history);
        if let Verdict::Undecided {
            key,
            configurations,
        } = &verdict
        {
            found.note(format!(
                "linearizability undecided: the search of key {key} explored {configurations} \
                 configurations, its memory bound, without an answer"
            ));
        }
        if let Verdict::NotLinearizable(window) = verdict {
            // About the operation whose answer no order explains.
            let about = window.failing.first().or(window.ops.first()).map(|&i| {
                let op = &history.ops()[i];
                (clients[i], Seq(op.seq.unwrap_or(0)))
            });
            let whose = about.map_or(String::new(), |(client, seq)| {
                format!("client {client} seq {seq}: ")
            });
            let mut message = format!(
                "{whose}the reads and writes of key {} cannot be put in any order that respects \
                 their real times and the KV semantics:",
                window.key
            );
            for line in window.describe(&history).lines() {
                message.push_str("\n    ");
                message.push_str(line);
            }
            found.push_about(Rule::Linearizability, about, message);
        }
    }
}

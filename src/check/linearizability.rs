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
//! lookup per reply or apply); the search ([`crate::history::check`]) runs once, at the end.

use std::collections::BTreeMap;

use crate::history::{self, History, Operation, Verdict};
use crate::ids::{ClientId, Seq, SimTime};
use crate::kv::{Origin, Outcome};
use crate::message::Payload;
use crate::trace::TraceEvent;
use crate::verdict::{Rule, Violations};

#[derive(Default)]
pub struct Linearizability {
    ops: Vec<Operation>,
    /// The client id of each operation, for the verdict.
    clients: Vec<ClientId>,
    /// Whether a replica applied each operation (took effect somewhere).
    applied: Vec<bool>,
    /// Every operation, by who issued it; `true` while it waits for its answer.
    index: BTreeMap<(Origin, ClientId, Seq), (usize, bool)>,
    /// The last operation submitted under each `(client_id, seq)`.
    by_id: BTreeMap<(ClientId, Seq), usize>,
}

impl Linearizability {
    #[inline]
    pub fn observe(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        match *event {
            TraceEvent::Submit { request, .. } => {
                let id = (request.client, request.seq);
                if let Some(&at) = self.by_id.get(&id) {
                    if self.ops[at].return_us.is_none() && self.ops[at].op == request.op {
                        // A restarted client that kept its id and seq counter reissued the
                        // same operation its earlier process never had answered: servers
                        // know an operation only by (client_id, seq), so this is that
                        // operation, called when it first was.
                        self.index
                            .insert((request.origin, request.client, request.seq), (at, true));
                        return;
                    }
                }
                let at = self.ops.len();
                self.by_id.insert(id, at);
                self.ops.push(Operation {
                    process: u64::from(request.origin.client_no.0),
                    seq: Some(request.seq.0),
                    op: request.op.clone(),
                    call_us: t.0,
                    return_us: None,
                    result: None,
                });
                self.clients.push(request.client);
                self.applied.push(false);
                self.index
                    .insert((request.origin, request.client, request.seq), (at, true));
            }
            TraceEvent::Reply {
                origin,
                client,
                seq,
                result,
                ..
            } => {
                if let Some((at, open)) = self.index.get_mut(&(origin, client, seq)) {
                    if *open {
                        *open = false;
                        let op = &mut self.ops[*at];
                        op.return_us = Some(t.0);
                        op.result = Some(result.clone());
                    }
                }
            }
            // Ended without a result: indefinite, as it already is.
            TraceEvent::Refused {
                origin,
                client,
                seq,
                ..
            } => {
                if let Some((_, open)) = self.index.get_mut(&(origin, client, seq)) {
                    *open = false;
                }
            }
            TraceEvent::Apply {
                payload: Payload::Client(request),
                outcome: Outcome::Applied,
                ..
            } => {
                if let Some(&(at, _)) =
                    self.index
                        .get(&(request.origin, request.client, request.seq))
                {
                    self.applied[at] = true;
                }
            }
            _ => {}
        }
    }

    /// The history the rule searches: every operation but the indefinite ones it leaves out
    /// (see the module doc), with the client id of each.
    pub fn into_history(self) -> (History, Vec<ClientId>) {
        let Linearizability {
            ops,
            clients,
            applied,
            ..
        } = self;
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
    pub fn finish(self, found: &mut Violations) {
        let (history, clients) = self.into_history();
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
            let about = window.ops.first().map(|&i| {
                let op = &history.ops()[i];
                (clients[i], Seq(op.seq.unwrap_or(0)))
            });
            let message = format!(
                "the reads and writes of key {} cannot be put in any order that respects their \
                 real times and the KV semantics:\n{}",
                window.key,
                window.describe(&history)
            );
            found.push_about(Rule::Linearizability, about, message);
        }
    }
}

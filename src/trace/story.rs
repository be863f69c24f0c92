//! `--trace dedup`: the story of every duplicate, for people reviewing dedup behaviour.
//!
//! For each operation that was retried into a duplicate (caught at apply or on receive, or
//! applied twice under a flawed design) it prints, one line per step with simulated time:
//! the submit, every attempt and where it went, the faults and leader changes that happened
//! while the operation was open, each replica's apply decision for it (applied or
//! duplicate, at which index), the cached result returned, and the reply the client
//! accepted. Everything else (heartbeats, other operations, a restarted node re-applying a
//! decision it already made) is left out.
//!
//! The whole run is kept until the verdict, then written; a run is a few thousand events.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::text::format_line;
use super::{TraceEvent, TraceSink};
use crate::ids::{ClientId, LogIndex, NodeId, Seq, SimTime};
use crate::kv::{Outcome, Request};
use crate::message::Payload;

/// What a kept line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum About {
    /// One operation, as servers know it.
    Op(ClientId, Seq),
    /// A fault or leadership change: context for every operation open at the time.
    World,
    /// A session's life (it opened, expired, or was found expired): context for that
    /// client's operations open at the time.
    Session(ClientId),
    /// The verdict.
    Verdict,
}

#[derive(Clone, Debug)]
struct Line {
    t: SimTime,
    about: About,
    text: String,
}

/// Why an operation gets a story.
#[derive(Clone, Debug, Default)]
struct OpFacts {
    /// (node, index) pairs whose apply decision was already kept: a node that restarts
    /// re-applies its log, and its second decision adds nothing to the story.
    decided: BTreeSet<(NodeId, LogIndex)>,
    /// Same, for the dedup lines that follow those decisions.
    told: BTreeSet<(NodeId, LogIndex)>,
    /// Its submit line: the header of its story.
    title: Option<String>,
    dedups: u32,
    /// Indexes where it was applied (took effect).
    applied_at: Vec<LogIndex>,
    first: Option<SimTime>,
    /// When its client accepted a reply (the end of its story).
    replied: Option<SimTime>,
    /// It ended `session-expired` (indefinite).
    expired: bool,
}

impl OpFacts {
    fn interesting(&self) -> bool {
        self.dedups > 0 || self.applied_at.len() > 1 || self.expired
    }
}

/// Collects the run and writes the duplicate stories to `out` at the verdict: first the
/// operations a violation names (with the violation), then the others in the order they
/// began.
pub struct StorySink<W: Write> {
    out: W,
    lines: Vec<Line>,
    ops: BTreeMap<(ClientId, Seq), OpFacts>,
    /// Operations named by violations, with the violation, in the verdict's order.
    named: Vec<((ClientId, Seq), String)>,
    /// Most stories, and most steps per story, to tell (`None`: all).
    limit: Option<(usize, usize)>,
    /// The last snapshot each node took (its index), for when it restarts from it.
    own_snapshot: BTreeMap<NodeId, LogIndex>,
    /// Where each node's session table came from, when it came from a snapshot: the node
    /// that made it (none: its own), its index, and when it was loaded.
    table_source: BTreeMap<NodeId, (Option<NodeId>, LogIndex, SimTime)>,
    error: Option<io::Error>,
}

impl<W: Write> StorySink<W> {
    pub fn new(out: W) -> StorySink<W> {
        StorySink {
            out,
            lines: Vec::new(),
            ops: BTreeMap::new(),
            named: Vec::new(),
            limit: None,
            own_snapshot: BTreeMap::new(),
            table_source: BTreeMap::new(),
            error: None,
        }
    }

    /// Tell at most `stories` stories of at most `steps` steps each, and say what was left
    /// out (for snapshots a reviewer can read in one sitting).
    pub fn with_limit(out: W, stories: usize, steps: usize) -> StorySink<W> {
        StorySink {
            limit: Some((stories, steps)),
            ..StorySink::new(out)
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn op(&mut self, client: ClientId, seq: Seq, t: SimTime) -> &mut OpFacts {
        let facts = self.ops.entry((client, seq)).or_default();
        facts.first.get_or_insert(t);
        facts
    }

    /// The stories: operations named by violations first, then the others by start time.
    fn render(&self) -> String {
        let mut order: Vec<(ClientId, Seq)> = Vec::new();
        for (op, _) in &self.named {
            if !order.contains(op) {
                order.push(*op);
            }
        }
        let mut others: Vec<(&(ClientId, Seq), &OpFacts)> = self
            .ops
            .iter()
            .filter(|(op, f)| f.interesting() && !order.contains(op))
            .collect();
        others.sort_by_key(|(op, f)| (f.first, **op));
        order.extend(others.into_iter().map(|(op, _)| *op));
        let mut out = String::new();
        if order.is_empty() {
            out.push_str("no duplicates in this run\n");
        }
        let (max_stories, max_steps) = self.limit.unwrap_or((usize::MAX, usize::MAX));
        let told = max_stories.min(order.len());
        for &(client, seq) in &order[..told] {
            let facts = self.ops.get(&(client, seq)).cloned().unwrap_or_default();
            let start = facts.first.unwrap_or(SimTime::ZERO);
            let end = facts.replied.unwrap_or(SimTime(u64::MAX));
            let title = facts
                .title
                .as_deref()
                .unwrap_or("(submitted before the trace)");
            out.push_str(&format!("── client {client} seq {seq}: {title}\n"));
            for (_, violation) in self.named.iter().filter(|(op, _)| *op == (client, seq)) {
                out.push_str(&format!("   ⚠ {violation}\n"));
            }
            let steps = self.lines.iter().filter(|line| {
                let ours = line.about == About::Op(client, seq);
                let context = (line.about == About::World || line.about == About::Session(client))
                    && line.t >= start
                    && line.t <= end;
                ours || context
            });
            let mut shown = 0;
            let mut hidden = 0;
            for line in steps {
                if shown == max_steps {
                    hidden += 1;
                    continue;
                }
                shown += 1;
                out.push_str("   ");
                out.push_str(&line.text);
                out.push('\n');
            }
            if hidden > 0 {
                out.push_str(&format!("   … {hidden} more steps left out\n"));
            }
        }
        if told < order.len() {
            out.push_str(&format!("… {} more stories left out\n", order.len() - told));
        }
        for line in self.lines.iter().filter(|l| l.about == About::Verdict) {
            out.push_str(&line.text);
            out.push('\n');
        }
        out
    }
}

impl<W: Write> StorySink<W> {
    fn push(&mut self, t: SimTime, about: About, event: &TraceEvent<'_>) {
        let mut text = String::new();
        format_line(&mut text, t, event);
        self.lines.push(Line { t, about, text });
    }

    /// After `node` caught `(client, seq)` as a duplicate: if its session table came from a
    /// snapshot that covers the index where the operation took effect, say so (that is the
    /// snapshot's dedup state doing its job).
    fn tell_table_source(
        &mut self,
        t: SimTime,
        node: NodeId,
        client: ClientId,
        seq: Seq,
        first_applied: Option<LogIndex>,
    ) {
        let Some(&(from, index, loaded)) = self.table_source.get(&node) else {
            return;
        };
        if first_applied.is_none_or(|applied| applied > index) {
            return;
        }
        let whose = match from {
            Some(leader) => format!("the snapshot {leader} sent"),
            None => "its own snapshot".to_owned(),
        };
        let text = format!(
            "t={t}   ↳ {node} knew seq={seq} from {whose} up to index={index} (loaded at t={loaded})"
        );
        self.lines.push(Line {
            t,
            about: About::Op(client, seq),
            text,
        });
    }
}

/// The operation a request belongs to.
fn key(request: &Request) -> (ClientId, Seq) {
    (request.client, request.seq)
}

impl<W: Write> TraceSink for StorySink<W> {
    fn event(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        let about = match *event {
            TraceEvent::Submit { request, .. } => {
                let title = format!("{} {}", request.origin, request.op);
                self.op(request.client, request.seq, t)
                    .title
                    .get_or_insert(title);
                About::Op(request.client, request.seq)
            }
            TraceEvent::Request { client, seq, .. }
            | TraceEvent::Timeout { client, seq, .. }
            | TraceEvent::Unreachable { client, seq, .. }
            | TraceEvent::Redirect { client, seq, .. } => {
                self.op(client, seq, t);
                About::Op(client, seq)
            }
            TraceEvent::Refused {
                client,
                seq,
                reason: crate::message::Refusal::SessionExpired,
                ..
            } => {
                let facts = self.op(client, seq, t);
                facts.replied = Some(t);
                facts.expired = true;
                About::Op(client, seq)
            }
            TraceEvent::Reply { client, seq, .. }
            | TraceEvent::Refused { client, seq, .. }
            | TraceEvent::GaveUp { client, seq, .. } => {
                self.op(client, seq, t).replied = Some(t);
                About::Op(client, seq)
            }
            TraceEvent::Expire { client, .. }
            | TraceEvent::Register { client, .. }
            | TraceEvent::SessionExpired { client, .. } => About::Session(client),
            TraceEvent::Append { request, .. } => About::Op(request.client, request.seq),
            TraceEvent::Read { client, seq, .. } => {
                self.op(client, seq, t);
                About::Op(client, seq)
            }
            TraceEvent::Apply {
                node,
                payload: Payload::Client(request),
                outcome,
                index,
                ..
            } => {
                let (client, seq) = key(request);
                let facts = self.op(client, seq, t);
                if !facts.decided.insert((node, index)) {
                    return; // a restarted node re-applying: its first decision is in the story
                }
                if outcome == Outcome::Applied
                    && request.op.kind().is_write()
                    && !facts.applied_at.contains(&index)
                {
                    facts.applied_at.push(index);
                }
                About::Op(client, seq)
            }
            TraceEvent::Apply { .. } => return, // a no-op or a register entry
            TraceEvent::Dedup {
                client,
                seq,
                node,
                index,
                ..
            } => {
                let facts = self.op(client, seq, t);
                if let Some(index) = index {
                    if !facts.told.insert((node, index)) {
                        return;
                    }
                }
                facts.dedups += 1;
                let first_applied = facts.applied_at.first().copied();
                self.push(t, About::Op(client, seq), event);
                self.tell_table_source(t, node, client, seq, first_applied);
                return;
            }
            TraceEvent::Snapshot { node, index, .. } => {
                self.own_snapshot.insert(node, index);
                return;
            }
            TraceEvent::Install {
                node, from, index, ..
            } => {
                self.table_source.insert(node, (Some(from), index, t));
                About::World
            }
            TraceEvent::Restart { node } => {
                match self.own_snapshot.get(&node) {
                    Some(&index) => self.table_source.insert(node, (None, index, t)),
                    None => self.table_source.remove(&node),
                };
                About::World
            }
            TraceEvent::Replay { client, seq, .. } => About::Op(client, seq),
            TraceEvent::Leader { .. }
            | TraceEvent::Crash { .. }
            | TraceEvent::ClientCrash { .. }
            | TraceEvent::ClientRestart { .. }
            | TraceEvent::Partition { .. }
            | TraceEvent::Heal { .. }
            | TraceEvent::Network { .. }
            | TraceEvent::Clock { .. }
            | TraceEvent::Liveness => About::World,
            TraceEvent::Swarm { .. }
            | TraceEvent::FaultSkipped { .. }
            | TraceEvent::Message { .. } => return,
            TraceEvent::Verdict { violations, .. } => {
                for v in violations {
                    if let Some(op) = v.about {
                        self.named.push((op, v.to_string()));
                    }
                }
                About::Verdict
            }
        };
        self.push(t, about, event);
        if about == About::Verdict && self.error.is_none() {
            let story = self.render();
            if let Err(e) = self.out.write_all(story.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

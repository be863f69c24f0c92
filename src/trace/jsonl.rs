//! `--trace jsonl`: one JSON object per line for tools (docs/DESIGN.md §7). Every object
//! starts with `"t_us"` and `"event"`; the verdict is always the last line.

use std::fmt::Write as _;
use std::io;

use super::{DedupAnswer, MessageStep, TraceEvent, TraceSink};
use crate::ids::SimTime;
use crate::kv::{OpResult, Outcome, Request};
use crate::message::{Payload, Refusal};

/// Builds one JSON object field by field.
struct Obj<'a>(&'a mut String);

impl Obj<'_> {
    fn raw(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.0, ",\"{key}\":{value}");
        self
    }

    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let _ = write!(self.0, ",\"{key}\":");
        push_json_str(self.0, value);
        self
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    fn result(&mut self, key: &str, value: &OpResult) -> &mut Self {
        self.opt_str(key, value.as_deref())
    }

    /// `op`, `key`, `value` of a request (or nulls).
    fn op(&mut self, request: Option<&Request>) -> &mut Self {
        match request {
            Some(r) => {
                self.str("op", r.op.kind().name()).str("key", r.op.key());
                match r.op.value() {
                    Some(v) => self.str("value", &v.to_string()),
                    None => self.raw("value", "null"),
                }
            }
            None => self.raw("key", "null").raw("value", "null"),
        }
    }
}

fn push_json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("null"),
    }
}

/// Format one event as a JSON object (no newline) into `line`.
pub fn format_event(line: &mut String, t: SimTime, event: &TraceEvent<'_>) {
    let name = event_name(event);
    let _ = write!(line, "{{\"t_us\":{},\"event\":\"{name}\"", t.as_us());
    let mut o = Obj(line);
    match *event {
        TraceEvent::Submit { client_no, request } => {
            o.raw("client", request.client)
                .raw("seq", request.seq)
                .op(Some(request))
                .raw("client_no", client_no.0)
                .raw("incarnation", request.origin.incarnation);
        }
        TraceEvent::Request {
            client_no,
            client,
            seq,
            node,
            attempt,
        } => {
            o.raw("client", client)
                .raw("seq", seq)
                .raw("node", node.0)
                .raw("attempt", attempt)
                .raw("client_no", client_no.0);
        }
        TraceEvent::Timeout {
            client_no,
            client,
            seq,
            attempt,
            retry_to,
        } => {
            o.raw("client", client)
                .raw("seq", seq)
                .raw("attempt", attempt)
                .raw("retry_to", retry_to.0)
                .raw("client_no", client_no.0);
        }
        TraceEvent::Unreachable {
            client_no,
            client,
            seq,
            node,
            attempt,
            retry_to,
        } => {
            o.raw("client", client)
                .raw("seq", seq)
                .raw("node", node.0)
                .raw("attempt", attempt)
                .raw("retry_to", retry_to.0)
                .raw("client_no", client_no.0);
        }
        TraceEvent::Redirect {
            client_no,
            client,
            seq,
            node,
            hint,
        } => {
            o.raw("client", client).raw("seq", seq).raw("node", node.0);
            match hint {
                Some(h) => o.raw("hint", h.0),
                None => o.raw("hint", "null"),
            };
            o.raw("client_no", client_no.0);
        }
        TraceEvent::Reply {
            client_no,
            origin,
            client,
            seq,
            node,
            result,
            cached,
        } => {
            o.raw("client", client)
                .raw("seq", seq)
                .raw("node", node.0)
                .result("result", result)
                .raw("cached", cached)
                .raw("client_no", client_no.0)
                .raw("incarnation", origin.incarnation);
        }
        TraceEvent::Refused {
            client_no,
            origin,
            client,
            seq,
            node,
            last_seq,
            reason,
        } => {
            o.raw("client", client)
                .raw("seq", seq)
                .raw("node", node.0)
                .raw("result", "null")
                .raw("cached", false)
                .str("error", reason.name());
            // An expired session has no last seq to tell of.
            match reason {
                Refusal::SessionExpired => o.raw("last_seq", "null"),
                Refusal::Forgotten | Refusal::Conflict => o.raw("last_seq", last_seq),
            }
            .raw("client_no", client_no.0)
            .raw("incarnation", origin.incarnation);
        }
        TraceEvent::GaveUp {
            client_no,
            client,
            seq,
            attempts,
        } => {
            o.raw("client", client)
                .raw("seq", seq)
                .raw("attempts", attempts)
                .raw("client_no", client_no.0);
        }
        TraceEvent::Append {
            node,
            index,
            term,
            request,
            attempt,
        } => {
            o.raw("node", node.0)
                .raw("index", index)
                .raw("term", term)
                .raw("client", request.client)
                .raw("seq", request.seq)
                .raw("attempt", attempt);
        }
        TraceEvent::Apply {
            node,
            index,
            term,
            payload,
            outcome,
            result,
            ..
        } => {
            o.raw("node", node.0).raw("index", index).raw("term", term);
            match payload {
                Payload::Noop => {
                    o.raw("client", "null")
                        .raw("seq", "null")
                        .str("op", "noop")
                        .op(None);
                }
                Payload::Client(request) => {
                    o.raw("client", request.client)
                        .raw("seq", request.seq)
                        .op(Some(request));
                }
                Payload::Register { .. } => {
                    o.raw("client", index.0)
                        .raw("seq", "null")
                        .str("op", "register")
                        .op(None);
                }
            }
            o.str("outcome", outcome.name()).result("result", result);
            match outcome {
                Outcome::Applied => {}
                Outcome::Duplicate { last_seq, expired } => {
                    o.raw("last_seq", last_seq).raw("expired", expired);
                }
                Outcome::Conflict { last_seq } => {
                    o.raw("last_seq", last_seq)
                        .raw("expired", false)
                        .raw("conflict", true);
                }
                Outcome::SessionExpired => {}
            }
        }
        TraceEvent::Expire {
            node,
            client,
            index,
            reason,
        } => {
            o.raw("node", node.0)
                .raw("client", client)
                .raw("index", index)
                .str("reason", reason.name());
        }
        TraceEvent::Snapshot {
            node, index, term, ..
        } => {
            o.raw("node", node.0).raw("index", index).raw("term", term);
        }
        TraceEvent::Install {
            node,
            from,
            index,
            term,
            ..
        } => {
            o.raw("node", node.0)
                .raw("from", from.0)
                .raw("index", index)
                .raw("term", term);
        }
        TraceEvent::Read {
            node,
            client,
            seq,
            path,
            index,
            result,
        } => {
            o.raw("node", node.0)
                .raw("client", client)
                .raw("seq", seq)
                .str("path", path.name())
                .raw("index", index)
                .result("result", result);
        }
        TraceEvent::Register {
            client_no,
            client,
            node,
            index,
        } => {
            o.raw("client", client)
                .raw("node", node.0)
                .raw("index", index)
                .raw("client_no", client_no.0);
        }
        TraceEvent::SessionExpired {
            client_no,
            client,
            node,
        } => {
            o.raw("client", client)
                .raw("node", node.0)
                .raw("client_no", client_no.0);
        }
        TraceEvent::Clock {
            fault,
            node,
            offset_us,
            drift_ppm,
        } => {
            o.raw("fault", fault)
                .raw("node", node.0)
                .raw("offset_us", offset_us)
                .raw("drift_ppm", drift_ppm);
        }
        TraceEvent::Dedup {
            node,
            client,
            seq,
            last_seq,
            site,
            index,
            answer,
        } => {
            o.raw("node", node.0)
                .raw("client", client)
                .raw("seq", seq)
                .raw("last_seq", last_seq)
                .str("at", site.name());
            match index {
                Some(i) => o.raw("index", i),
                None => o.raw("index", "null"),
            };
            o.raw("cached", answer == DedupAnswer::Cached);
            if answer == DedupAnswer::Conflict {
                o.raw("conflict", true);
            }
        }
        TraceEvent::Leader { node, term, .. } => {
            o.raw("node", node.0).raw("term", term);
        }
        TraceEvent::Crash { node, cause } => {
            o.raw("node", node.0)
                .raw("fault", cause.fault)
                .str(
                    "role",
                    if cause.was_leader {
                        "leader"
                    } else {
                        "follower"
                    },
                )
                .raw("term", cause.term)
                .str("when", cause.when.name());
            match cause.index {
                Some(i) => o.raw("index", i),
                None => o.raw("index", "null"),
            };
            match cause.sent_to {
                Some(n) => o.raw("sent_to", n.0),
                None => o.raw("sent_to", "null"),
            };
        }
        TraceEvent::Restart { node } => {
            o.raw("node", node.0);
        }
        TraceEvent::ClientCrash {
            client_no,
            client,
            fault,
            abandoned,
        } => {
            o.raw("client", client)
                .raw("client_no", client_no.0)
                .raw("fault", fault);
            match abandoned {
                Some(seq) => o.raw("abandoned", seq),
                None => o.raw("abandoned", "null"),
            };
        }
        TraceEvent::ClientRestart {
            client_no,
            client,
            incarnation,
        } => {
            o.raw("client", client)
                .raw("client_no", client_no.0)
                .raw("incarnation", incarnation);
        }
        TraceEvent::Partition {
            fault,
            groups,
            one_way,
        } => {
            let mut text = String::from("[");
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push('[');
                for (j, n) in g.iter().enumerate() {
                    if j > 0 {
                        text.push(',');
                    }
                    let _ = write!(text, "{}", n.0);
                }
                text.push(']');
            }
            text.push(']');
            o.raw("fault", fault)
                .raw("groups", text)
                .raw("one_way", one_way);
        }
        TraceEvent::Replay {
            fault,
            client,
            seq,
            to,
        } => {
            o.raw("fault", fault)
                .raw("client", client)
                .raw("seq", seq)
                .raw("node", to.0);
        }
        TraceEvent::Heal { fault } => {
            o.raw("fault", fault);
        }
        TraceEvent::Network {
            fault,
            open,
            drop,
            duplicate,
            delay_us,
        } => {
            o.raw("fault", fault)
                .raw("open", open)
                .raw("drop", json_f64(drop.0))
                .raw("duplicate", json_f64(duplicate.0))
                .raw("delay_us", format!("[{},{}]", delay_us.0, delay_us.1));
        }
        TraceEvent::Liveness => {}
        TraceEvent::Swarm { profile } => {
            o.str("profile", profile);
        }
        TraceEvent::FaultSkipped { fault } => {
            o.raw("fault", fault);
        }
        TraceEvent::Message {
            step,
            from,
            to,
            kind,
            bytes,
        } => {
            o.str("from", &from.to_string())
                .str("to", &to.to_string())
                .str("kind", kind)
                .raw("bytes", bytes);
            match step {
                MessageStep::Lost => {
                    o.str("reason", "lost");
                }
                MessageStep::Down => {
                    o.str("reason", "down");
                }
                MessageStep::Send | MessageStep::Deliver | MessageStep::Dup | MessageStep::Cut => {}
            }
        }
        TraceEvent::Verdict {
            ok,
            violations,
            replay,
        } => {
            o.raw("ok", ok);
            let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
            let list = serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned());
            o.raw("violations", list);
            if !replay.is_empty() {
                o.str("replay", replay);
            }
        }
    }
    line.push('}');
}

fn json_f64(v: f64) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| "null".to_owned())
}

/// The `"event"` name of an event.
pub(super) fn event_name(event: &TraceEvent<'_>) -> &'static str {
    match event {
        TraceEvent::Submit { .. } => "submit",
        TraceEvent::Request { .. } => "request",
        TraceEvent::Timeout { .. } => "timeout",
        TraceEvent::Unreachable { .. } => "unreachable",
        TraceEvent::Redirect { .. } => "redirect",
        TraceEvent::Reply { .. } | TraceEvent::Refused { .. } => "reply",
        TraceEvent::GaveUp { .. } => "gave_up",
        TraceEvent::Append { .. } => "append",
        TraceEvent::Apply { .. } => "apply",
        TraceEvent::Expire { .. } => "expire",
        TraceEvent::Register { .. } => "register",
        TraceEvent::Read { .. } => "read",
        TraceEvent::SessionExpired { .. } => "session_expired",
        TraceEvent::Clock { .. } => "clock",
        TraceEvent::Snapshot { .. } => "snapshot",
        TraceEvent::Install { .. } => "install",
        TraceEvent::Dedup { .. } => "dedup",
        TraceEvent::Leader { .. } => "leader",
        TraceEvent::Crash { .. } => "crash",
        TraceEvent::Restart { .. } => "restart",
        TraceEvent::ClientCrash { .. } => "client_crash",
        TraceEvent::ClientRestart { .. } => "client_restart",
        TraceEvent::Partition { .. } => "partition",
        TraceEvent::Heal { .. } => "heal",
        TraceEvent::Replay { .. } => "replay",
        TraceEvent::Network { .. } => "network",
        TraceEvent::Liveness => "liveness",
        TraceEvent::Swarm { .. } => "swarm",
        TraceEvent::FaultSkipped { .. } => "fault_skipped",
        TraceEvent::Message { step, .. } => step.name(),
        TraceEvent::Verdict { .. } => "verdict",
    }
}

/// Keeps every event as its JSON line in memory: used to find where two runs diverge.
#[derive(Debug, Default)]
pub struct RecordingSink {
    pub lines: Vec<String>,
}

impl TraceSink for RecordingSink {
    fn event(&mut self, t: SimTime, event: &TraceEvent<'_>) {
        let mut line = String::new();
        format_event(&mut line, t, event);
        self.lines.push(line);
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

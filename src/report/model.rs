//! What the timeline page draws, extracted from a run's JSONL trace lines (docs/DESIGN.md §7)
//! alone. Pure: lines in, a serialisable model out; a line it cannot read is counted and
//! skipped, an event kind it does not know becomes a generic mark with its raw line, so a
//! new kind never breaks the page.
//!
//! Client ids are u64 and do not survive JavaScript's numbers, so every id is a string here.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;
use serde_json::Value;

/// Most generic marks kept (the rest are counted in `marks_left_off`).
pub const MAX_MARKS: usize = 5_000;
/// Most messages kept (the rest are counted in `messages_left_off`).
pub const MAX_MESSAGES: usize = 200_000;
/// Most undelivered copies remembered per (from, to, kind, bytes).
const MAX_IN_FLIGHT: usize = 1_000;

/// Everything the page draws.
#[derive(Debug, Default, Serialize)]
pub struct Model {
    /// The last event's time.
    pub end_us: u64,
    /// When the fault phase ended (`liveness`), if it did.
    pub liveness_us: Option<u64>,
    /// Lines read, and lines that were not a JSON object with an `event`.
    pub events: u64,
    pub unreadable: u64,
    /// Events per kind.
    pub kinds: BTreeMap<String, u64>,
    /// Node numbers and client numbers (`client_no`), each a lane.
    pub nodes: Vec<u64>,
    pub clients: Vec<u64>,
    pub ops: Vec<Op>,
    pub intervals: Vec<Interval>,
    pub messages: Vec<Msg>,
    pub messages_left_off: u64,
    pub marks: Vec<Mark>,
    pub marks_left_off: u64,
    /// The verdict line's fields, when the trace has one.
    pub verdict: Option<Verdict>,
    pub violations: Vec<ViolationRef>,
}

/// One client operation, from `submit` to its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Op {
    pub client_no: u64,
    pub client: String,
    pub seq: u64,
    pub op: String,
    pub key: Option<String>,
    pub value: Option<String>,
    pub start_us: u64,
    /// When it got its answer (or was abandoned); none: still open at the end of the run.
    pub end_us: Option<u64>,
    /// `applied`, `cached`, `expired`, `refused` or `indefinite`.
    pub outcome: &'static str,
    pub result: Option<String>,
    /// A refusal's reason, or `abandoned` when the client crashed.
    pub error: Option<String>,
    /// The node whose answer ended it.
    pub node: Option<u64>,
    /// `request` events: sends and re-sends.
    pub attempts: u64,
    pub applies: Vec<ApplyRef>,
    /// The violations that name it (indexes into `violations`).
    pub violations: Vec<usize>,
}

/// One replica's `apply` of an op's entry.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyRef {
    pub node: u64,
    pub index: u64,
    pub t_us: u64,
    /// `applied`, `duplicate`, `conflict` or `expired`.
    pub decision: String,
    pub result: Option<String>,
}

/// A marked stretch of time on a lane.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// `down`, `leader`, `partition`, `clock`, `client-down` or `network`.
    pub kind: &'static str,
    /// `n1`, `c2`, or `run`.
    pub lane: String,
    pub start_us: u64,
    /// None: open at the end of the run.
    pub end_us: Option<u64>,
    pub label: String,
}

/// One message copy: `[send_us, end_us, from, to, kind, fate]`, fate `deliver`, `drop`,
/// `cut`.
#[derive(Debug, Clone, Serialize)]
pub struct Msg(
    pub u64,
    pub u64,
    pub String,
    pub String,
    pub String,
    pub &'static str,
);

/// Any other event, shown as a tick on its lane with its raw line.
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    pub lane: String,
    pub t_us: u64,
    pub event: String,
    pub line: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub violations: Vec<String>,
    pub replay: Option<String>,
}

/// A violation and what it names, read from its message.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ViolationRef {
    pub rule: String,
    pub message: String,
    pub client: Option<String>,
    pub seq: Option<u64>,
    pub client_no: Option<u64>,
    pub nodes: Vec<u64>,
    pub indexes: Vec<u64>,
    /// Ops it names (indexes into `ops`).
    pub ops: Vec<usize>,
    /// Applies it names: `(node, index, t_us)`.
    pub points: Vec<(u64, u64, u64)>,
    /// Where to look: the earliest of its ops and points, if any.
    pub start_us: Option<u64>,
    pub end_us: Option<u64>,
}

type OpKey = (u64, String, u64);
type MsgKey = (String, String, String, u64);

#[derive(Default)]
struct Builder {
    m: Model,
    /// (client_no, client, seq) → the latest op with that key.
    ops_by_key: HashMap<OpKey, usize>,
    /// (client, seq) → applies of that op's entries.
    applies: HashMap<(String, u64), Vec<ApplyRef>>,
    /// Every client apply as (node, index, t_us), for violations that name indexes.
    apply_points: Vec<(u64, u64, u64)>,
    nodes: BTreeSet<u64>,
    clients: BTreeSet<u64>,
    /// Open intervals by a key naming what they are about.
    open: HashMap<String, usize>,
    in_flight: HashMap<MsgKey, VecDeque<u64>>,
}

fn id_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn num(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Build the model from JSONL trace lines, in order. `nodes` and `clients` seed the lanes so
/// a process that never shows up still has one.
pub fn build<S: AsRef<str>>(lines: &[S], nodes: u64, clients: u64) -> Model {
    let mut b = Builder::default();
    b.nodes.extend(1..=nodes);
    b.clients.extend(1..=clients);
    for line in lines {
        b.line(line.as_ref());
    }
    b.finish()
}

impl Builder {
    fn line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        self.m.events += 1;
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            self.m.unreadable += 1;
            return;
        };
        let Some(event) = v.get("event").and_then(Value::as_str).map(str::to_owned) else {
            self.m.unreadable += 1;
            return;
        };
        let t = num(&v, "t_us").unwrap_or(self.m.end_us);
        self.m.end_us = self.m.end_us.max(t);
        *self.m.kinds.entry(event.clone()).or_default() += 1;
        if let Some(n) = num(&v, "node") {
            self.nodes.insert(n);
        }
        if let Some(c) = num(&v, "client_no") {
            self.clients.insert(c);
        }
        match event.as_str() {
            "submit" => self.submit(t, &v),
            "request" => {
                if let Some(i) = self.op_of(&v) {
                    self.m.ops[i].attempts += 1;
                }
            }
            "reply" => self.reply(t, &v),
            "gave_up" => {
                if let Some(i) = self.op_of(&v) {
                    self.end_op(i, t, "indefinite", Some("gave up".to_owned()), None);
                }
            }
            "apply" => self.apply(t, &v),
            "leader" => self.leader(t, &v),
            "crash" => {
                if let Some(n) = num(&v, "node") {
                    let lane = format!("n{n}");
                    self.close(&format!("leader {lane}"), t);
                    let label = format!(
                        "crash ({} term {}, {})",
                        text(&v, "role").unwrap_or_default(),
                        text(&v, "term").unwrap_or_default(),
                        text(&v, "when").unwrap_or_default()
                    );
                    self.open(format!("down {lane}"), "down", lane, t, label);
                }
            }
            "restart" => {
                if let Some(n) = num(&v, "node") {
                    self.close(&format!("down n{n}"), t);
                }
            }
            "client_crash" => self.client_crash(t, &v),
            "client_restart" => {
                if let Some(c) = num(&v, "client_no") {
                    self.close(&format!("down c{c}"), t);
                }
            }
            "partition" => self.partition(t, &v),
            "heal" => {
                let fault = text(&v, "fault").unwrap_or_default();
                self.close_prefix(&format!("partition {fault} "), t);
            }
            "clock" => self.clock(t, &v),
            "network" => {
                let fault = text(&v, "fault").unwrap_or_default();
                let key = format!("network {fault}");
                self.close(&key, t);
                if v.get("open").and_then(Value::as_bool) == Some(true) {
                    let label = format!(
                        "network fault {fault}: drop {} dup {} delay {} µs",
                        text(&v, "drop").unwrap_or_default(),
                        text(&v, "duplicate").unwrap_or_default(),
                        text(&v, "delay_us").unwrap_or_default()
                    );
                    self.open(key, "network", "run".to_owned(), t, label);
                }
            }
            "liveness" => {
                self.m.liveness_us = Some(t);
                self.close_prefix("partition ", t);
                self.close_prefix("network ", t);
                self.mark(t, &v, &event, line);
            }
            "send" | "deliver" | "drop" | "dup" | "cut" => self.message(t, &v, &event),
            "verdict" => {
                self.m.verdict = Some(Verdict {
                    ok: v.get("ok").and_then(Value::as_bool).unwrap_or(false),
                    violations: v
                        .get("violations")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    replay: text(&v, "replay"),
                });
            }
            // Covered by the op bars' tooltips.
            "timeout" | "redirect" | "append" | "unreachable" => {}
            _ => self.mark(t, &v, &event, line),
        }
    }

    fn op_key(v: &Value) -> Option<OpKey> {
        Some((
            num(v, "client_no").unwrap_or(0),
            id_str(v.get("client"))?,
            num(v, "seq")?,
        ))
    }

    fn op_of(&self, v: &Value) -> Option<usize> {
        self.ops_by_key.get(&Self::op_key(v)?).copied()
    }

    fn submit(&mut self, t: u64, v: &Value) {
        let Some(key) = Self::op_key(v) else { return };
        let op = Op {
            client_no: key.0,
            client: key.1.clone(),
            seq: key.2,
            op: text(v, "op").unwrap_or_else(|| "?".to_owned()),
            key: text(v, "key"),
            value: text(v, "value"),
            start_us: t,
            end_us: None,
            outcome: "indefinite",
            result: None,
            error: None,
            node: None,
            attempts: 0,
            applies: Vec::new(),
            violations: Vec::new(),
        };
        self.m.ops.push(op);
        self.ops_by_key.insert(key, self.m.ops.len() - 1);
    }

    fn end_op(
        &mut self,
        i: usize,
        t: u64,
        outcome: &'static str,
        error: Option<String>,
        node: Option<u64>,
    ) {
        let op = &mut self.m.ops[i];
        if op.end_us.is_some() {
            return;
        }
        op.end_us = Some(t);
        op.outcome = outcome;
        op.error = error;
        op.node = node;
    }

    fn reply(&mut self, t: u64, v: &Value) {
        let Some(i) = self.op_of(v) else { return };
        let error = text(v, "error");
        let outcome = match error.as_deref() {
            Some("session-expired") => "expired",
            Some(_) => "refused",
            None if v.get("cached").and_then(Value::as_bool) == Some(true) => "cached",
            None => "applied",
        };
        let already = self.m.ops[i].end_us.is_some();
        self.end_op(i, t, outcome, error, num(v, "node"));
        if !already {
            self.m.ops[i].result = text(v, "result");
        }
    }

    fn apply(&mut self, t: u64, v: &Value) {
        let (Some(node), Some(index)) = (num(v, "node"), num(v, "index")) else {
            return;
        };
        let (Some(client), Some(seq)) = (id_str(v.get("client")), num(v, "seq")) else {
            return; // a no-op or a register entry
        };
        let outcome = text(v, "outcome").unwrap_or_default();
        let decision = if v.get("conflict").and_then(Value::as_bool) == Some(true) {
            "conflict".to_owned()
        } else if outcome == "session-expired" {
            "expired".to_owned()
        } else {
            outcome
        };
        self.apply_points.push((node, index, t));
        self.applies
            .entry((client, seq))
            .or_default()
            .push(ApplyRef {
                node,
                index,
                t_us: t,
                decision,
                result: text(v, "result"),
            });
    }

    fn leader(&mut self, t: u64, v: &Value) {
        let Some(n) = num(v, "node") else { return };
        // The previous leader's term is over once another node leads (it may not know yet).
        let previous: Vec<String> = self
            .open
            .keys()
            .filter(|k| k.starts_with("leader "))
            .cloned()
            .collect();
        for k in previous {
            self.close(&k, t);
        }
        let lane = format!("n{n}");
        let label = format!("leader, term {}", text(v, "term").unwrap_or_default());
        self.open(format!("leader {lane}"), "leader", lane, t, label);
    }

    fn client_crash(&mut self, t: u64, v: &Value) {
        let Some(c) = num(v, "client_no") else { return };
        if let (Some(client), Some(seq)) = (id_str(v.get("client")), num(v, "abandoned")) {
            if let Some(&i) = self.ops_by_key.get(&(c, client, seq)) {
                self.end_op(i, t, "indefinite", Some("abandoned".to_owned()), None);
            }
        }
        let lane = format!("c{c}");
        self.open(
            format!("down {lane}"),
            "client-down",
            lane,
            t,
            "client crashed".to_owned(),
        );
    }

    fn partition(&mut self, t: u64, v: &Value) {
        let fault = text(v, "fault").unwrap_or_default();
        let groups: Vec<Vec<u64>> = v
            .get("groups")
            .and_then(Value::as_array)
            .map(|gs| {
                gs.iter()
                    .map(|g| {
                        g.as_array()
                            .map(|ns| ns.iter().filter_map(Value::as_u64).collect())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let one_way = v.get("one_way").and_then(Value::as_bool) == Some(true);
        let shown: Vec<String> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|n| format!("n{n}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let label = format!(
            "partition (fault {fault}{}): {}",
            if one_way { ", one way" } else { "" },
            shown.join(" | ")
        );
        for n in groups.iter().flatten() {
            let lane = format!("n{n}");
            self.open(
                format!("partition {fault} {lane}"),
                "partition",
                lane,
                t,
                label.clone(),
            );
        }
    }

    fn clock(&mut self, t: u64, v: &Value) {
        let Some(n) = num(v, "node") else { return };
        let lane = format!("n{n}");
        let key = format!("clock {lane}");
        self.close(&key, t);
        let offset = v.get("offset_us").and_then(Value::as_i64).unwrap_or(0);
        let drift = v.get("drift_ppm").and_then(Value::as_i64).unwrap_or(0);
        if offset != 0 || drift != 0 {
            let label = format!("clock fault: offset {offset} µs, drift {drift} ppm");
            self.open(key, "clock", lane, t, label);
        }
    }

    fn message(&mut self, t: u64, v: &Value, event: &str) {
        let (Some(from), Some(to)) = (text(v, "from"), text(v, "to")) else {
            return;
        };
        let kind = text(v, "kind").unwrap_or_default();
        let key = (from, to, kind, num(v, "bytes").unwrap_or(0));
        let fate = match event {
            "send" | "dup" => {
                let q = self.in_flight.entry(key).or_default();
                if q.len() < MAX_IN_FLIGHT {
                    q.push_back(t);
                }
                return;
            }
            "deliver" => "deliver",
            "drop" => "drop",
            _ => "cut",
        };
        let sent = self.in_flight.get_mut(&key).and_then(VecDeque::pop_front);
        // A message cut as it is sent has no `send` of its own.
        let sent = sent.unwrap_or(t);
        if self.m.messages.len() < MAX_MESSAGES {
            let (from, to, kind, _) = key;
            self.m.messages.push(Msg(sent, t, from, to, kind, fate));
        } else {
            self.m.messages_left_off += 1;
        }
    }

    fn mark(&mut self, t: u64, v: &Value, event: &str, line: &str) {
        if self.m.marks.len() >= MAX_MARKS {
            self.m.marks_left_off += 1;
            return;
        }
        let lane = if let Some(n) = num(v, "node") {
            format!("n{n}")
        } else if let Some(c) = num(v, "client_no") {
            format!("c{c}")
        } else {
            "run".to_owned()
        };
        self.m.marks.push(Mark {
            lane,
            t_us: t,
            event: event.to_owned(),
            line: line.to_owned(),
        });
    }

    fn open(&mut self, key: String, kind: &'static str, lane: String, t: u64, label: String) {
        self.close(&key, t);
        self.m.intervals.push(Interval {
            kind,
            lane,
            start_us: t,
            end_us: None,
            label,
        });
        self.open.insert(key, self.m.intervals.len() - 1);
    }

    fn close(&mut self, key: &str, t: u64) {
        if let Some(i) = self.open.remove(key) {
            self.m.intervals[i].end_us = Some(t);
        }
    }

    fn close_prefix(&mut self, prefix: &str, t: u64) {
        let keys: Vec<String> = self
            .open
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        for k in keys {
            self.close(&k, t);
        }
    }

    fn finish(mut self) -> Model {
        for op in &mut self.m.ops {
            if let Some(applies) = self.applies.get(&(op.client.clone(), op.seq)) {
                op.applies.clone_from(applies);
            }
        }
        self.m.messages.sort_by_key(|m| (m.0, m.1));
        self.m.nodes = self.nodes.into_iter().collect();
        self.m.clients = self.clients.into_iter().collect();
        let messages = self
            .m
            .verdict
            .as_ref()
            .map(|v| v.violations.clone())
            .unwrap_or_default();
        for (vi, message) in messages.iter().enumerate() {
            let mut r = parse_violation(message);
            for (oi, op) in self.m.ops.iter_mut().enumerate() {
                let same_op = r.client.as_deref() == Some(op.client.as_str())
                    && r.seq == Some(op.seq)
                    && r.client_no.is_none_or(|c| c == op.client_no);
                if same_op && r.ops.len() < 20 {
                    r.ops.push(oi);
                    op.violations.push(vi);
                }
            }
            if !r.indexes.is_empty() {
                // The applies it names: of its op's entries when it names an op, and only the
                // first of each (node, index): a restarted node applies its log again.
                let ops = &self.m.ops;
                let candidates: Vec<(u64, u64, u64)> = if r.ops.is_empty() {
                    self.apply_points.clone()
                } else {
                    r.ops
                        .iter()
                        .flat_map(|&i| ops[i].applies.iter().map(|a| (a.node, a.index, a.t_us)))
                        .collect()
                };
                let mut seen = BTreeSet::new();
                r.points = candidates
                    .into_iter()
                    .filter(|&(n, i, _)| {
                        r.indexes.contains(&i)
                            && (r.nodes.is_empty() || r.nodes.contains(&n))
                            && seen.insert((n, i))
                    })
                    .take(20)
                    .collect();
            }
            let ops = &self.m.ops;
            let end = self.m.end_us;
            let times = r
                .ops
                .iter()
                .flat_map(|&i| [ops[i].start_us, ops[i].end_us.unwrap_or(end)])
                .chain(r.points.iter().map(|p| p.2));
            r.start_us = times.clone().min();
            r.end_us = times.max();
            self.m.violations.push(r);
        }
        self.m
    }
}

/// Read a violation's rule and what it names from its text, e.g. `exactly-once: client 7
/// seq 5 (c2 incr k2 3) took effect twice on n3 (index 15 and index 17)…`.
pub fn parse_violation(message: &str) -> ViolationRef {
    let (rule, rest) = match message.split_once(": ") {
        Some((rule, rest)) if !rule.contains(' ') => (rule.to_owned(), rest),
        _ => (String::new(), message),
    };
    let mut r = ViolationRef {
        rule,
        message: rest.to_owned(),
        ..ViolationRef::default()
    };
    let words: Vec<&str> = rest
        .split(|c: char| c.is_whitespace() || ",;:()".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let digits = |w: &str| -> Option<u64> {
        if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
            w.parse().ok()
        } else {
            None
        }
    };
    let prefixed = |w: &str, p: char| w.strip_prefix(p).and_then(digits);
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        match *w {
            "client" if r.client.is_none() => {
                if let Some(_id) = digits(next) {
                    r.client = Some(next.to_owned());
                    if words.get(i + 2) == Some(&"seq") {
                        r.seq = words.get(i + 3).and_then(|s| digits(s));
                    }
                }
            }
            "index" => {
                if let Some(n) = digits(next.trim_end_matches('.')) {
                    if !r.indexes.contains(&n) && r.indexes.len() < 20 {
                        r.indexes.push(n);
                    }
                }
            }
            _ => {
                if let Some(n) = prefixed(w, 'n') {
                    if !r.nodes.contains(&n) && r.nodes.len() < 20 {
                        r.nodes.push(n);
                    }
                } else if let Some(c) = prefixed(w, 'c') {
                    r.client_no.get_or_insert(c);
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILING: &[&str] = &[
        r#"{"t_us":10,"event":"submit","client":15398214061962599170,"seq":5,"op":"incr","key":"k2","value":"3","client_no":2,"incarnation":0}"#,
        r#"{"t_us":11,"event":"request","client":15398214061962599170,"seq":5,"node":2,"attempt":1,"client_no":2}"#,
        r#"{"t_us":20,"event":"leader","node":2,"term":1}"#,
        r#"{"t_us":30,"event":"crash","node":2,"fault":0,"role":"leader","term":1,"when":"mid-replication","index":15,"sent_to":1}"#,
        r#"{"t_us":40,"event":"request","client":15398214061962599170,"seq":5,"node":3,"attempt":2,"client_no":2}"#,
        r#"{"t_us":45,"event":"leader","node":3,"term":2}"#,
        r#"{"t_us":50,"event":"apply","node":3,"index":15,"term":1,"client":15398214061962599170,"seq":5,"op":"incr","key":"k2","value":"3","outcome":"applied","result":"12"}"#,
        r#"{"t_us":55,"event":"reply","client":15398214061962599170,"seq":5,"node":3,"result":"12","cached":false,"client_no":2,"incarnation":0}"#,
        r#"{"t_us":60,"event":"apply","node":3,"index":17,"term":2,"client":15398214061962599170,"seq":5,"op":"incr","key":"k2","value":"3","outcome":"applied","result":"15"}"#,
        r#"{"t_us":70,"event":"restart","node":2}"#,
        r#"{"t_us":80,"event":"read","node":1,"client":9,"seq":1,"path":"lease"}"#,
        "not json at all",
        r#"{"t_us":90,"event":"verdict","ok":false,"violations":["exactly-once: client 15398214061962599170 seq 5 (c2 incr k2 3) took effect twice on n3 (index 15 and index 17); the client got \"12\""],"replay":"idemsim run --seed 1 --dedup off --trace text"}"#,
    ];

    /// Ops run from submit to reply with their attempts and applies; crashes, leaders and a
    /// violation's op and applies are found; unknown kinds become marks; junk is counted.
    #[test]
    fn extracts_ops_intervals_and_the_violation() {
        let m = build(FAILING, 3, 2);
        assert_eq!(m.nodes, vec![1, 2, 3]);
        assert_eq!(m.clients, vec![1, 2]);
        assert_eq!(m.events, 13);
        assert_eq!(m.unreadable, 1);
        assert_eq!(m.ops.len(), 1);
        let op = &m.ops[0];
        assert_eq!(op.client, "15398214061962599170", "u64 ids kept exactly");
        assert_eq!((op.start_us, op.end_us), (10, Some(55)));
        assert_eq!(op.outcome, "applied");
        assert_eq!(op.attempts, 2);
        assert_eq!(op.result.as_deref(), Some("12"));
        assert_eq!(op.applies.len(), 2);
        assert_eq!(op.violations, vec![0]);
        let down: Vec<_> = m.intervals.iter().filter(|i| i.kind == "down").collect();
        assert_eq!(down.len(), 1);
        assert_eq!((down[0].lane.as_str(), down[0].start_us), ("n2", 30));
        assert_eq!(down[0].end_us, Some(70));
        let leaders: Vec<_> = m.intervals.iter().filter(|i| i.kind == "leader").collect();
        assert_eq!(leaders.len(), 2);
        assert_eq!(leaders[0].end_us, Some(30), "a crash ends its leadership");
        assert_eq!(leaders[1].end_us, None);
        assert_eq!(m.marks.len(), 1);
        assert_eq!(
            (m.marks[0].event.as_str(), m.marks[0].lane.as_str()),
            ("read", "n1")
        );
        let v = &m.violations[0];
        assert_eq!(v.rule, "exactly-once");
        assert_eq!(v.client.as_deref(), Some("15398214061962599170"));
        assert_eq!((v.seq, v.client_no), (Some(5), Some(2)));
        assert_eq!(v.nodes, vec![3]);
        assert_eq!(v.indexes, vec![15, 17]);
        assert_eq!(v.ops, vec![0]);
        assert_eq!(v.points, vec![(3, 15, 50), (3, 17, 60)]);
        assert_eq!((v.start_us, v.end_us), (Some(10), Some(60)));
    }

    /// Refusals, session expiry, cached replies and abandoned ops get their outcomes.
    #[test]
    fn outcomes_follow_the_answer() {
        let lines = [
            r#"{"t_us":1,"event":"submit","client":1,"seq":1,"op":"put","key":"a","value":"x","client_no":1}"#,
            r#"{"t_us":1,"event":"submit","client":1,"seq":2,"op":"put","key":"a","value":"x","client_no":1}"#,
            r#"{"t_us":1,"event":"submit","client":1,"seq":3,"op":"put","key":"a","value":"x","client_no":1}"#,
            r#"{"t_us":1,"event":"submit","client":1,"seq":4,"op":"put","key":"a","value":"x","client_no":1}"#,
            r#"{"t_us":1,"event":"submit","client":1,"seq":5,"op":"put","key":"a","value":"x","client_no":1}"#,
            r#"{"t_us":2,"event":"reply","client":1,"seq":1,"node":1,"result":"x","cached":true,"client_no":1}"#,
            r#"{"t_us":2,"event":"reply","client":1,"seq":2,"node":1,"result":null,"cached":false,"error":"session-expired","last_seq":null,"client_no":1}"#,
            r#"{"t_us":2,"event":"reply","client":1,"seq":3,"node":1,"result":null,"cached":false,"error":"conflict","last_seq":3,"client_no":1}"#,
            r#"{"t_us":3,"event":"client_crash","client":1,"client_no":1,"fault":0,"abandoned":4}"#,
        ];
        let m = build(&lines, 1, 1);
        let outcomes: Vec<_> = m.ops.iter().map(|o| o.outcome).collect();
        assert_eq!(
            outcomes,
            ["cached", "expired", "refused", "indefinite", "indefinite"]
        );
        assert_eq!(m.ops[3].end_us, Some(3));
        assert_eq!(m.ops[4].end_us, None);
        assert!(m.intervals.iter().any(|i| i.kind == "client-down"));
    }

    /// Messages pair each delivery with the oldest matching send; odd input never panics.
    #[test]
    fn messages_pair_and_odd_input_is_survived() {
        let lines = [
            r#"{"t_us":1,"event":"send","from":"n1","to":"n2","kind":"append_entries","bytes":9}"#,
            r#"{"t_us":2,"event":"send","from":"n1","to":"n2","kind":"append_entries","bytes":9}"#,
            r#"{"t_us":3,"event":"deliver","from":"n1","to":"n2","kind":"append_entries","bytes":9}"#,
            r#"{"t_us":4,"event":"drop","from":"n1","to":"n2","kind":"append_entries","bytes":9,"reason":"lost"}"#,
            r#"{"t_us":5,"event":"deliver","from":"n1","to":"c1","kind":"x"}"#,
            r#"{"event":"submit"}"#,
            r#"{"t_us":"soon","event":"reply","client":[1],"seq":-1}"#,
            r#"[1,2,3]"#,
            r#"{"t_us":6,"event":"partition","fault":1,"groups":"oops"}"#,
            r#"{"t_us":7,"event":"verdict","ok":false,"violations":[3, "no colon here", "liveness: c1 (client 4) seq 2 (put a x) submitted at t=1 still has no answer"]}"#,
        ];
        let m = build(&lines, 0, 0);
        assert_eq!(m.messages.len(), 3);
        assert_eq!((m.messages[0].0, m.messages[0].1), (1, 3));
        assert_eq!((m.messages[1].0, m.messages[1].5), (2, "drop"));
        assert_eq!(m.violations.len(), 3);
        assert_eq!(m.violations[2].client.as_deref(), Some("4"));
        assert_eq!(m.violations[2].seq, Some(2));
        assert_eq!(m.violations[2].client_no, Some(1));
    }
}

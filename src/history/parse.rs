//! Reading histories: porcupine's key-value logs (EDN, one map a line) and idemsim's own
//! JSONL traces. Errors name the line (1-based) and what was wrong; nothing here panics on
//! bad input.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::{History, Operation};
use crate::kv::{Op, OpResult};

/// The history formats `check-history` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// idemsim's `--trace jsonl` output.
    Jsonl,
    /// porcupine's `test_data/kv` logs.
    PorcupineKv,
}

/// A history that cannot be read: the line (1-based) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn error<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// The format of the first non-empty line: `{:` is porcupine-kv, `{"` is JSONL.
pub fn guess_format(text: &str) -> Option<Format> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if first.starts_with("{:") {
        Some(Format::PorcupineKv)
    } else if first.starts_with("{\"") {
        Some(Format::Jsonl)
    } else {
        None
    }
}

pub fn parse(text: &str, format: Format) -> Result<History, ParseError> {
    match format {
        Format::Jsonl => jsonl(text),
        Format::PorcupineKv => porcupine_kv(text),
    }
}

/// An operation invoked and not yet completed.
struct Open {
    op: Op,
    call: u64,
    process: u64,
    seq: Option<u64>,
}

fn push(history: &mut History, open: Open, return_us: Option<u64>, result: Option<OpResult>) {
    history.push(Operation {
        process: open.process,
        seq: open.seq,
        op: open.op,
        call_us: open.call,
        return_us,
        result,
    });
}

/// porcupine's key-value logs: `{:process P, :type :invoke|:ok|:fail|:info, :f
/// :get|:put|:append, :key "K", :value V}`. An `:invoke` opens an operation of process P;
/// the next `:ok` of P closes it, `:fail` cancels it (it did not happen), `:info` leaves it
/// indefinite, as does the end of the file. Time is the line number. porcupine's model
/// differs from the store's in two ways, mapped here: a missing key reads as `""` (the
/// history's initial value is `""`), and put and append return nothing (their results are
/// unknown); a get's `:value` is its result.
pub fn porcupine_kv(text: &str) -> Result<History, ParseError> {
    let mut history = History::new();
    history.set_initial_value(Some(Arc::from("")));
    let mut open: BTreeMap<u64, Open> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let map = edn_map(line).map_err(|m| ParseError {
            line: line_no,
            message: m,
        })?;
        let get = |name: &str| map.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let Some(Edn::Int(process)) = get("process") else {
            return error(line_no, "no :process number");
        };
        let process = *process;
        let Some(Edn::Keyword(kind)) = get("type") else {
            return error(line_no, "no :type keyword");
        };
        let Some(Edn::Keyword(f)) = get("f") else {
            return error(line_no, "no :f keyword");
        };
        let key: Arc<str> = match get("key") {
            Some(Edn::Str(k)) => Arc::from(k.as_str()),
            Some(Edn::Int(k)) => Arc::from(k.to_string()),
            _ => return error(line_no, "no :key string"),
        };
        let value = get("value");
        let time = n as u64;
        match kind.as_str() {
            "invoke" => {
                let string_value = || match value {
                    Some(Edn::Str(v)) => Ok(Arc::from(v.as_str())),
                    _ => error(line_no, format!(":{f} needs a string :value")),
                };
                let op = match f.as_str() {
                    "get" => Op::Get { key },
                    "put" => Op::Put {
                        key,
                        value: string_value()?,
                    },
                    "append" => Op::Append {
                        key,
                        value: string_value()?,
                    },
                    other => return error(line_no, format!("unknown :f :{other}")),
                };
                if open.contains_key(&process) {
                    return error(
                        line_no,
                        format!("process {process} invokes while its last operation is open"),
                    );
                }
                open.insert(
                    process,
                    Open {
                        op,
                        call: time,
                        process,
                        seq: None,
                    },
                );
            }
            "ok" | "fail" | "info" => {
                let Some(o) = open.remove(&process) else {
                    return error(
                        line_no,
                        format!(":{kind} of process {process}, which has no open operation"),
                    );
                };
                if o.op.kind().name() != f.as_str() {
                    return error(
                        line_no,
                        format!(
                            ":{kind} :{f} closes an operation invoked as :{}",
                            o.op.kind().name()
                        ),
                    );
                }
                match kind.as_str() {
                    "ok" => {
                        let result = match (&o.op, value) {
                            (Op::Get { .. }, Some(Edn::Str(v))) => {
                                Some(Some(Arc::from(v.as_str())))
                            }
                            (Op::Get { .. }, Some(Edn::Nil)) => Some(None),
                            (Op::Get { .. }, _) => {
                                return error(line_no, ":ok :get needs a string or nil :value");
                            }
                            _ => None,
                        };
                        push(&mut history, o, Some(time), result);
                    }
                    "info" => push(&mut history, o, None, None),
                    _ => {} // :fail: it did not happen.
                }
            }
            other => return error(line_no, format!("unknown :type :{other}")),
        }
    }
    let mut rest: Vec<Open> = open.into_values().collect();
    rest.sort_by_key(|o| o.call);
    for o in rest {
        push(&mut history, o, None, None);
    }
    Ok(history)
}

#[derive(Debug, PartialEq)]
enum Edn {
    Int(u64),
    Str(String),
    Keyword(String),
    Nil,
}

/// One flat EDN map of keyword keys to integers, strings, keywords or nil.
fn edn_map(line: &str) -> Result<Vec<(String, Edn)>, String> {
    let mut s = line.trim();
    s = s
        .strip_prefix('{')
        .ok_or("expected an EDN map starting with {")?;
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if let Some(rest) = s.strip_prefix('}') {
            if !rest.trim().is_empty() {
                return Err("text after the closing }".into());
            }
            return Ok(out);
        }
        if s.is_empty() {
            return Err("unterminated map: no closing }".into());
        }
        let rest = s
            .strip_prefix(':')
            .ok_or_else(|| format!("expected a :keyword key at {:?}", truncate(s)))?;
        let (name, rest) = symbol(rest);
        if name.is_empty() {
            return Err("empty keyword".into());
        }
        s = rest.trim_start();
        let value;
        (value, s) = edn_value(s)?;
        out.push((name.to_string(), value));
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn symbol(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| c == ',' || c == '}' || c.is_whitespace())
        .unwrap_or(s.len());
    s.split_at(end)
}

fn edn_value(s: &str) -> Result<(Edn, &str), String> {
    if let Some(rest) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((Edn::Str(out), &rest[i + 1..])),
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c @ ('"' | '\\'))) => out.push(c),
                    _ => return Err("bad escape in a string".into()),
                },
                c => out.push(c),
            }
        }
        return Err("unterminated string".into());
    }
    if let Some(rest) = s.strip_prefix(':') {
        let (name, rest) = symbol(rest);
        return Ok((Edn::Keyword(name.to_string()), rest));
    }
    let (word, rest) = symbol(s);
    if word == "nil" {
        return Ok((Edn::Nil, rest));
    }
    match word.parse::<u64>() {
        Ok(n) => Ok((Edn::Int(n), rest)),
        Err(_) => Err(format!("unexpected value {:?}", truncate(word))),
    }
}

/// idemsim's JSONL trace: a `submit` opens an operation (`client_no`, `incarnation`, `seq`,
/// `op`, `key`, `value`, `t_us`); the next `reply` to it closes it with its `result`, or, if
/// the reply has an `error` (`session-expired`, `forgotten`, `conflict`), leaves it
/// indefinite. Operations never answered are indefinite. Every other event is ignored.
pub fn jsonl(text: &str) -> Result<History, ParseError> {
    let mut history = History::new();
    let mut open: BTreeMap<(u64, u64, u64), Open> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return error(line_no, format!("not JSON: {e}")),
        };
        let Some(event) = v.get("event").and_then(Value::as_str) else {
            return error(line_no, "no \"event\" string");
        };
        if event != "submit" && event != "reply" {
            continue;
        }
        let num = |name: &str| -> Result<u64, ParseError> {
            match v.get(name).and_then(Value::as_u64) {
                Some(x) => Ok(x),
                None => error(line_no, format!("{event}: no \"{name}\" number")),
            }
        };
        let t = num("t_us")?;
        let id = (
            num("client_no")?,
            v.get("incarnation").and_then(Value::as_u64).unwrap_or(0),
            num("seq")?,
        );
        if event == "submit" {
            let op = json_op(&v).map_err(|m| ParseError {
                line: line_no,
                message: m,
            })?;
            let previous = open.insert(
                id,
                Open {
                    op,
                    call: t,
                    process: id.0,
                    seq: Some(id.2),
                },
            );
            if previous.is_some() {
                return error(
                    line_no,
                    format!("submit of client_no {} seq {} twice", id.0, id.2),
                );
            }
            continue;
        }
        // A reply to an operation already closed (or never submitted) adds nothing.
        let Some(o) = open.remove(&id) else {
            continue;
        };
        if v.get("error").is_some_and(|e| !e.is_null()) {
            push(&mut history, o, None, None);
            continue;
        }
        let result = match v.get("result") {
            Some(Value::String(s)) => Some(Arc::from(s.as_str())),
            Some(Value::Null) => None,
            _ => return error(line_no, "reply: no \"result\" string or null"),
        };
        push(&mut history, o, Some(t), Some(result));
    }
    let mut rest: Vec<Open> = open.into_values().collect();
    rest.sort_by_key(|o| (o.call, o.process, o.seq));
    for o in rest {
        push(&mut history, o, None, None);
    }
    Ok(history)
}

fn json_op(v: &Value) -> Result<Op, String> {
    let s = |name: &str| v.get(name).and_then(Value::as_str);
    let kind = s("op").ok_or("submit: no \"op\" string")?;
    let key: Arc<str> = Arc::from(s("key").ok_or("submit: no \"key\" string")?);
    let value = || -> Result<Arc<str>, String> {
        s("value")
            .map(Arc::from)
            .ok_or_else(|| format!("submit: {kind} needs a \"value\" string"))
    };
    Ok(match kind {
        "put" => Op::Put {
            key,
            value: value()?,
        },
        "append" => Op::Append {
            key,
            value: value()?,
        },
        "incr" => Op::Incr {
            key,
            amount: value()?
                .parse()
                .map_err(|_| "submit: incr needs a decimal amount as \"value\"".to_string())?,
        },
        "delete" => Op::Delete { key },
        "get" => Op::Get { key },
        other => return Err(format!("submit: unknown op {other:?}")),
    })
}

use std::sync::Arc;

use super::parse::{Format, guess_format, parse};
use super::*;

fn s(v: &str) -> Arc<str> {
    Arc::from(v)
}

/// A small builder: `op(process, op, call, return, result)`.
struct H(History);

impl H {
    fn new() -> H {
        H(History::default())
    }

    fn add(
        &mut self,
        process: u64,
        op: Op,
        call: u64,
        ret: Option<u64>,
        result: Option<Option<&str>>,
    ) -> usize {
        self.0.push(Operation {
            process,
            seq: None,
            op,
            call_us: call,
            return_us: ret,
            result: result.map(|r| r.map(s)),
        })
    }

    fn put(&mut self, p: u64, v: &str, call: u64, ret: u64, prev: Option<&str>) -> usize {
        self.add(
            p,
            Op::Put {
                key: s("k"),
                value: s(v),
            },
            call,
            Some(ret),
            Some(prev),
        )
    }

    fn get(&mut self, p: u64, call: u64, ret: u64, result: Option<&str>) -> usize {
        self.add(p, Op::Get { key: s("k") }, call, Some(ret), Some(result))
    }

    fn append(
        &mut self,
        p: u64,
        v: &str,
        call: u64,
        ret: Option<u64>,
        result: Option<Option<&str>>,
    ) -> usize {
        self.add(
            p,
            Op::Append {
                key: s("k"),
                value: s(v),
            },
            call,
            ret,
            result,
        )
    }

    fn incr(&mut self, p: u64, amount: i64, call: u64, ret: u64, result: &str) -> usize {
        let op = Op::Incr {
            key: s("k"),
            amount,
        };
        self.add(p, op, call, Some(ret), Some(Some(result)))
    }

    fn ok(&self) -> bool {
        matches!(check(&self.0), Verdict::Linearizable)
    }
}

#[test]
fn a_stale_read_fails() {
    let mut h = H::new();
    h.put(1, "a", 0, 10, None);
    h.put(1, "b", 20, 30, Some("a"));
    h.get(2, 40, 50, Some("a"));
    assert!(!h.ok());
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in ["a", "b"] {
        let mut h = H::new();
        h.put(1, "a", 0, 10, None);
        h.put(1, "b", 20, 40, Some("a"));
        h.get(2, 30, 50, Some(seen));
        assert!(h.ok(), "{seen}");
    }
}

#[test]
fn concurrent_writes_pass_in_either_order() {
    // The later read and the put results decide the order; both orders are possible.
    for (first, second) in [("a", "b"), ("b", "a")] {
        let mut h = H::new();
        h.put(1, first, 0, 10, None);
        h.put(2, second, 0, 10, Some(first));
        h.get(3, 20, 30, Some(second));
        assert!(h.ok(), "{first} then {second}");
    }
    // Both cannot have seen "absent".
    let mut h = H::new();
    h.put(1, "a", 0, 10, None);
    h.put(2, "b", 0, 10, None);
    assert!(!h.ok());
}

#[test]
fn an_indefinite_write_may_show_up_later_or_never() {
    let mut h = H::new();
    h.append(1, "x", 0, None, None);
    h.get(2, 10, 20, None);
    h.get(2, 30, 40, Some("x"));
    assert!(h.ok());
    let mut h = H::new();
    h.append(1, "x", 0, None, None);
    h.get(2, 10, 20, None);
    assert!(h.ok());
}

#[test]
fn an_indefinite_append_that_shows_twice_fails() {
    let mut h = H::new();
    h.append(1, "x", 0, None, None);
    h.get(2, 10, 20, Some("x"));
    h.get(2, 30, 40, Some("xx"));
    assert!(!h.ok());
}

#[test]
fn an_unknown_result_with_a_return_must_take_effect_before_it() {
    let mut h = H::new();
    h.append(1, "x", 0, Some(10), None);
    h.get(2, 20, 30, None);
    assert!(!h.ok());
    let mut h = H::new();
    h.append(1, "x", 0, Some(10), None);
    h.get(2, 5, 30, None);
    assert!(h.ok());
}

#[test]
fn incr_follows_the_store() {
    let k = || s("k");
    let mut h = H::new();
    h.incr(1, 5, 0, 10, "5");
    h.add(
        1,
        Op::Append {
            key: k(),
            value: s("a"),
        },
        20,
        Some(30),
        Some(Some("5a")),
    );
    h.incr(1, 1, 40, 50, crate::kv::ERR_NOT_AN_INTEGER);
    h.add(1, Op::Delete { key: k() }, 60, Some(70), Some(Some("5a")));
    h.incr(1, -2, 80, 90, "-2");
    assert!(h.ok());
    // Two concurrent incrs cannot both see 0.
    let mut h = H::new();
    h.incr(1, 1, 0, 10, "1");
    h.incr(2, 1, 0, 10, "1");
    assert!(!h.ok());
    let mut h = H::new();
    h.incr(1, 1, 0, 10, "2");
    h.incr(2, 1, 0, 10, "1");
    assert!(h.ok());
}

#[test]
fn keys_are_independent() {
    let mut h = H::new();
    h.put(1, "a", 0, 10, None);
    h.add(2, Op::Get { key: s("other") }, 20, Some(30), Some(None));
    h.get(2, 40, 50, Some("a"));
    assert!(h.ok());
    assert_eq!(h.0.keys(), 2);
}

#[test]
fn the_window_starts_at_the_last_known_state() {
    let mut h = H::new();
    h.put(1, "a", 0, 10, None);
    h.get(2, 20, 30, Some("a"));
    let p = h.put(1, "b", 40, 50, Some("a"));
    let concurrent = h.get(3, 45, 100, Some("b"));
    let stale = h.get(2, 60, 70, Some("a"));
    h.put(1, "c", 200, 210, Some("b"));
    let Verdict::NotLinearizable(w) = check(&h.0) else {
        panic!("expected a violation");
    };
    assert_eq!(&*w.key, "k");
    assert_eq!(w.state_before.as_deref(), Some("a"));
    assert_eq!(w.ops, vec![p, concurrent, stale]);
    assert_eq!(w.failing, vec![stale]);
    assert_eq!(w.end_us, 70);
    let text = w.describe(&h.0);
    assert!(text.contains("from state \"a\""), "{text}");
    assert!(
        text.contains("get k  [60, 70]  -> \"a\"  <- its answer ends the window"),
        "{text}"
    );
    assert!(
        text.contains("[45, 100]  -> \"b\"  (open at the window's end)"),
        "{text}"
    );
}

#[test]
fn the_window_starts_at_the_beginning_when_the_state_is_unknown() {
    let mut h = H::new();
    // Two concurrent appends: "ab" or "ba" afterwards, so no single state.
    let a = h.append(1, "a", 0, Some(10), None);
    let b = h.append(2, "b", 0, Some(10), None);
    let g = h.get(3, 20, 30, Some("a"));
    let Verdict::NotLinearizable(w) = check(&h.0) else {
        panic!("expected a violation");
    };
    assert_eq!(w.state_before, None);
    assert_eq!(w.ops, vec![a, b, g]);
}

#[test]
fn porcupine_absent_reads_as_empty_and_put_of_empty_still_reads_empty() {
    let text = "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n\
                {:process 0, :type :ok, :f :get, :key \"k\", :value \"\"}\n\
                {:process 0, :type :invoke, :f :put, :key \"k\", :value \"\"}\n\
                {:process 0, :type :ok, :f :put, :key \"k\", :value \"\"}\n\
                {:process 1, :type :invoke, :f :append, :key \"k\", :value \"x\"}\n\
                {:process 1, :type :info, :f :append, :key \"k\", :value \"x\"}\n\
                {:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n\
                {:process 0, :type :ok, :f :get, :key \"k\", :value \"x\"}\n";
    assert_eq!(guess_format(text), Some(Format::PorcupineKv));
    let h = parse(text, Format::PorcupineKv).unwrap();
    assert_eq!(h.len(), 4);
    assert_eq!(check(&h), Verdict::Linearizable);
}

#[test]
fn parse_errors_name_the_line() {
    let text = "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n\n{:process 0, :type :ok, :f :get, :key \"k\", :value \"\"\n";
    let e = parse(text, Format::PorcupineKv).unwrap_err();
    assert_eq!(e.line, 3);
    let e = parse("{\"t_us\":1,\"event\":\"submit\"}\nnot json", Format::Jsonl).unwrap_err();
    assert_eq!(e.line, 1, "{e}");
    let e = parse("{\"t_us\":1,\"event\":\"read\"}\nnot json", Format::Jsonl).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn jsonl_errors_leave_an_operation_indefinite() {
    let text = r#"{"t_us":1,"event":"submit","client":7,"seq":1,"op":"append","key":"k","value":"x","client_no":1,"incarnation":0}
{"t_us":5,"event":"reply","client":7,"seq":1,"node":0,"result":null,"cached":false,"error":"session-expired","last_seq":null,"client_no":1,"incarnation":0}
{"t_us":6,"event":"submit","client":8,"seq":1,"op":"get","key":"k","value":null,"client_no":2,"incarnation":0}
{"t_us":9,"event":"reply","client":8,"seq":1,"node":0,"result":"x","cached":false,"client_no":2,"incarnation":0}
{"t_us":10,"event":"verdict"}
"#;
    let h = parse(text, Format::Jsonl).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h.ops()[0].return_us, None);
    assert_eq!(check(&h), Verdict::Linearizable);
}

/// Fourteen concurrent puts with unknown results, then a read no order explains: the search
/// must try every subset of them, and under a small bound it stops and says so instead of
/// exhausting the machine; under the full bound it finds the violation.
#[test]
fn a_search_past_its_bound_is_undecided() {
    let mut h = H::new();
    for p in 0..14 {
        let op = Op::Put {
            key: s("k"),
            value: s(&p.to_string()),
        };
        h.add(p, op, 0, Some(1_000), None);
    }
    h.get(99, 2_000, 2_001, Some("impossible"));
    match crate::history::check_bounded(&h.0, 1 << 12) {
        Verdict::Undecided {
            key,
            configurations,
        } => {
            assert_eq!(&*key, "k");
            assert!(configurations > 0);
        }
        other => panic!("expected undecided, got {other:?}"),
    }
    assert!(matches!(check(&h.0), Verdict::NotLinearizable(_)));
}

/// Malformed input is an error with a line number, never a panic: every prefix of valid
/// lines, and every line with one byte-changing edit, parses or fails cleanly.
#[test]
fn parsers_never_panic_on_cut_or_edited_lines() {
    let porcupine = "{:process 0, :type :invoke, :f :append, :key \"k\", :value \"x \\\"1\\\"\"}\n\
                     {:process 0, :type :ok, :f :append, :key \"k\", :value \"x\"}\n";
    let jsonl = r#"{"t_us":1,"event":"submit","client":7,"seq":1,"op":"incr","key":"k","value":"-3","client_no":1,"incarnation":0}
{"t_us":5,"event":"reply","client":7,"seq":1,"node":0,"result":"é","cached":false,"client_no":1,"incarnation":0}
"#;
    for (text, format) in [(porcupine, Format::PorcupineKv), (jsonl, Format::Jsonl)] {
        for (i, _) in text.char_indices() {
            let cut = &text[..i];
            if let Err(e) = parse(cut, format) {
                assert!(e.line >= 1 && e.line <= cut.lines().count().max(1), "{e}");
            }
            for replacement in ["", "}", "\"", ":", "{", ",", "9", " "] {
                let edited = format!(
                    "{}{replacement}{}",
                    &text[..i],
                    &text[i..].chars().skip(1).collect::<String>()
                );
                let _ = parse(&edited, format).map(|h| check(&h));
            }
        }
    }
}

//! Bad scenario files: each kind of mistake gets a message naming the file, line, column and
//! field (reviewed as one snapshot), and no input whatsoever makes the parser panic.

use crate::common;

use idemsim::scenario::{ScenarioError, parse};
use proptest::prelude::*;

/// One bad file per kind of mistake a user makes.
#[rustfmt::skip]
const CASES: &[(&str, &str)] = &[
    ("syntax error", "name = \"x\"\n[cluster\nnodes = 3\n"),
    ("missing name", "[cluster]\nnodes = 3\n"),
    ("empty name", "name = \"  \"\n"),
    ("unknown top-level field", "name = \"x\"\nnodes = 3\n"),
    ("unknown field in a section", "name = \"x\"\n[cluster]\nnodez = 3\n"),
    ("unknown section", "name = \"x\"\n[servers]\ndedup = \"off\"\n"),
    ("wrong type", "name = \"x\"\n[network]\ndrop = \"a lot\"\n"),
    ("negative number", "name = \"x\"\nseed = -1\n"),
    ("nodes out of range", "name = \"x\"\n[cluster]\nnodes = 12\n"),
    ("zero nodes", "name = \"x\"\n[cluster]\nnodes = 0\n"),
    ("probability above 1", "name = \"x\"\n[network]\nduplicate = 1.5\n"),
    ("negative probability", "name = \"x\"\n[network]\ndrop = -0.1\n"),
    ("range with min > max", "name = \"x\"\n[network]\ndelay_ms = [10, 1]\n"),
    ("range of three numbers", "name = \"x\"\n[clients]\nthink_ms = [1, 2, 3]\n"),
    ("fixed election timeout", "name = \"x\"\n[cluster]\nelection_timeout_ms = [200, 200]\n"),
    ("heartbeat not below election timeout", "name = \"x\"\n[cluster]\nheartbeat_ms = 150\n"),
    ("unknown dedup strategy", "name = \"x\"\n[server]\ndedup = \"magic\"\n"),
    ("zero keys", "name = \"x\"\n[clients]\nkeys = 0\n"),
    ("empty op mix", "name = \"x\"\n[clients]\nmix = { put = 0 }\n"),
    ("unknown op in mix", "name = \"x\"\n[clients]\nmix = { cas = 1 }\n"),
    ("too many ops", "name = \"x\"\n[clients]\ncount = 10000\nops = 1000000\n"),
    ("unknown fault kind", "name = \"x\"\n[[faults]]\nkind = \"meteor\"\nat_ms = 10\n"),
    ("fault without kind", "name = \"x\"\n[[faults]]\nat_ms = 10\nnode = 1\n"),
    ("fault without at_ms", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nnode = 1\n"),
    ("fault after the fault phase", "name = \"x\"\nduration_ms = 100\n[[faults]]\nkind = \"crash\"\nat_ms = 100\nnode = 1\n"),
    ("crash without node", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\n"),
    ("crash of a node that does not exist", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = 7\n"),
    ("crash of a node named by an unknown word", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = \"boss\"\n"),
    ("unknown crash trigger", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = \"leader\"\nwhen = \"later\"\n"),
    ("follower crash mid-replication", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = \"follower\"\nwhen = \"mid-replication\"\n"),
    ("field of another fault kind", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = \"leader\"\nheal_after_ms = 5\n"),
    ("partition naming a node twice", "name = \"x\"\n[[faults]]\nkind = \"partition\"\nat_ms = 10\ngroups = [[1, 2], [2, 3]]\n"),
    ("partition leaving a node out", "name = \"x\"\n[[faults]]\nkind = \"partition\"\nat_ms = 10\ngroups = [[1], [2]]\n"),
    ("partition with one group", "name = \"x\"\n[[faults]]\nkind = \"partition\"\nat_ms = 10\ngroups = [[1, 2, 3]]\n"),
    ("partition with an empty group", "name = \"x\"\n[[faults]]\nkind = \"partition\"\nat_ms = 10\ngroups = [[1, 2, 3], []]\n"),
    ("partition with groups and isolate", "name = \"x\"\n[[faults]]\nkind = \"partition\"\nat_ms = 10\ngroups = [[1], [2, 3]]\nisolate = \"leader\"\n"),
    ("partition with neither", "name = \"x\"\n[[faults]]\nkind = \"partition\"\nat_ms = 10\n"),
    ("network fault without for_ms", "name = \"x\"\n[[faults]]\nkind = \"network\"\nat_ms = 10\ndrop = 0.5\n"),
    ("network fault that changes nothing", "name = \"x\"\n[[faults]]\nkind = \"network\"\nat_ms = 10\nfor_ms = 100\n"),
    ("replay of zero requests", "name = \"x\"\n[[faults]]\nkind = \"replay\"\nat_ms = 10\ncount = 0\n"),
    ("crash of a client that does not exist", "name = \"x\"\n[[faults]]\nkind = \"client-crash\"\nat_ms = 10\nclient = 4\n"),
    ("client crash without clients", "name = \"x\"\n[clients]\ncount = 0\n[[faults]]\nkind = \"client-crash\"\nat_ms = 10\n"),
    ("misspelt fault field", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnod = 1\n"),
    ("fault field as a table", "name = \"x\"\n[[faults]]\nkind = \"partition\"\nat_ms = 10\ngroups = [[1], [2, 3]]\n[faults.extra]\nx = 1\n"),
    ("fault that is not a table", "name = \"x\"\nfaults = [3]\n"),
    ("one_way on a crash", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = 1\none_way = true\n"),
    ("crash mid-snapshot without snapshots", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = \"leader\"\nwhen = \"mid-snapshot\"\n"),
    ("leader crash mid-install", "name = \"x\"\n[cluster]\nsnapshot_every = 10\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = \"leader\"\nwhen = \"mid-install\"\n"),
    ("snapshot_every out of range", "name = \"x\"\n[cluster]\nsnapshot_every = 2000000\n"),
    ("most-uncommitted crash after commit", "name = \"x\"\n[[faults]]\nkind = \"crash\"\nat_ms = 10\nnode = \"most-uncommitted\"\nwhen = \"after-commit\"\n"),
    ("unknown restart behaviour", "name = \"x\"\n[clients]\non_restart = \"amnesia\"\n"),
    ("unknown swarm family", "name = \"x\"\n[swarm]\nmeteors = true\n"),
    ("swarm flag that is not a boolean", "name = \"x\"\n[swarm]\ncrashes = 3\n"),
    ("partition of one node", "name = \"x\"\n[cluster]\nnodes = 1\n[[faults]]\nkind = \"partition\"\nat_ms = 10\nisolate = \"leader\"\n"),
];

/// Every case is an invalid file (exit 65) and its message reads well; the snapshot is the
/// review surface for all of them at once.
#[test]
fn each_kind_of_bad_file_gets_its_message() {
    let mut report = String::new();
    for (i, (label, text)) in CASES.iter().enumerate() {
        let err = match parse("bad.toml", text) {
            Ok(s) => panic!("case {i} ({label}) was accepted: {s:?}"),
            Err(e) => e,
        };
        assert!(
            matches!(err, ScenarioError::Invalid(_)),
            "case {i} ({label}): {err}"
        );
        assert_eq!(err.exit_code(), 65, "case {i} ({label})");
        report.push_str(&format!("{label}\n    {err}\n"));
    }
    common::snapshots().bind(|| insta::assert_snapshot!("scenario_errors", report));
}

/// Every shipped scenario is valid.
#[test]
fn shipped_scenarios_are_valid() {
    for path in common::shipped_scenarios() {
        let scenario = idemsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().unwrap().to_string_lossy();
        assert_eq!(
            scenario.name, stem,
            "a scenario's name matches its file name"
        );
    }
}

fn shipped_texts() -> Vec<String> {
    common::shipped_scenarios()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

proptest! {
    /// Any text at all: an error or a scenario, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = parse("fuzz.toml", &text);
    }

    /// A shipped file with a span overwritten by junk (numbers, quotes, brackets, keys):
    /// mostly still TOML, so this reaches validation, not just the TOML parser.
    #[test]
    fn damaged_scenarios_never_panic(
        which in 0usize..64,
        start in 0usize..4096,
        len in 0usize..12,
        junk in prop::sample::select(vec![
            "-1", "0", "99999999999999999999", "1e308", "nan", "\"\"", "[", "]]", "[[", "=",
            "\"leader\"", "[[faults]]\nkind = \"crash\"\n", "nodes = 9", "1.5", "[0, 0]", "{}",
        ]),
    ) {
        let texts = shipped_texts();
        let text = &texts[which % texts.len()];
        let mut start = start % (text.len() + 1);
        while !text.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        let damaged = format!("{}{}{}", &text[..start], junk, &text[end..]);
        if let Err(e) = parse("damaged.toml", &damaged) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

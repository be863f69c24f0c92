//! `history::check` on porcupine's six key-value histories (release mode): `cargo bench
//! --bench check_history`. `check` times the check alone; `parse_and_check` adds reading the
//! text, as porcupine's `go test -run Kv` does for each file.

use std::hint::black_box;

use divan::Bencher;
use idemsim::history::parse::{Format, parse};
use idemsim::history::{History, Verdict, check};

fn main() {
    divan::main();
}

fn history(name: &str) -> History {
    let path = format!(
        "{}/tests/data/porcupine-kv/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("the test data is in the repository");
    parse(&text, Format::PorcupineKv).expect("porcupine's histories parse")
}

#[divan::bench(args = ["c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"])]
fn check_only(bencher: Bencher, name: &str) {
    let h = history(name);
    let expected = name.ends_with("-ok");
    bencher.bench(|| {
        let verdict = check(black_box(&h));
        assert_eq!(matches!(verdict, Verdict::Linearizable), expected);
        verdict
    });
}

#[divan::bench(args = ["c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"])]
fn parse_and_check(bencher: Bencher, name: &str) {
    let path = format!(
        "{}/tests/data/porcupine-kv/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("the test data is in the repository");
    bencher.bench(|| {
        let h = parse(black_box(&text), Format::PorcupineKv).expect("parses");
        check(&h)
    });
}

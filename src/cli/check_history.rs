//! `idemsim check-history`: read a client history (porcupine's key-value logs or idemsim's
//! JSONL trace) and check it for linearizability ([`crate::history`]).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::history::parse::{self, Format};
use crate::history::{self, Verdict};

/// The history is not linearizable.
const EXIT_NOT_LINEARIZABLE: u8 = 1;
/// The search gave up at its memory bound: no verdict (EX_TEMPFAIL).
const EXIT_UNDECIDED: u8 = 75;
/// The history cannot be read.
const EXIT_DATA: u8 = 65;
/// No such file.
const EXIT_NO_INPUT: u8 = 66;

#[derive(Debug, Args)]
pub struct CheckHistoryArgs {
    /// The history file.
    pub file: PathBuf,
    /// `jsonl` (idemsim's `run --trace jsonl`) or `porcupine-kv` (porcupine's key-value
    /// logs) [default: guessed from the first non-empty line: `{"` is jsonl, `{:` is
    /// porcupine-kv].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn check_history(args: &CheckHistoryArgs) -> u8 {
    let name = args.file.display();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("error: {name}: no such file");
            return EXIT_NO_INPUT;
        }
        Err(e) => {
            eprintln!("error: {name}: {e}");
            return EXIT_NO_INPUT;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            eprintln!("error: {name}:{line}: not UTF-8");
            return EXIT_DATA;
        }
    };
    let Some(format) = args.format.or_else(|| parse::guess_format(&text)) else {
        eprintln!(
            "error: {name}: cannot tell the format from the first line (neither {{\" nor {{:); \
             use --format jsonl|porcupine-kv"
        );
        return EXIT_DATA;
    };
    let history = match parse::parse(&text, format) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {name}:{}: {}", e.line, e.message);
            return EXIT_DATA;
        }
    };
    let started = Instant::now();
    let verdict = history::check(&history);
    let elapsed = started.elapsed();
    match verdict {
        Verdict::Linearizable => {
            println!(
                "linearizable: {} operations on {} keys, checked in {:.3} ms",
                history.len(),
                history.keys(),
                elapsed.as_secs_f64() * 1e3
            );
            0
        }
        Verdict::NotLinearizable(window) => {
            println!(
                "NOT linearizable: {} operations on {} keys, checked in {:.3} ms",
                history.len(),
                history.keys(),
                elapsed.as_secs_f64() * 1e3
            );
            print!("{}", window.describe(&history));
            EXIT_NOT_LINEARIZABLE
        }
        Verdict::Undecided {
            key,
            configurations,
        } => {
            println!(
                "UNDECIDED: {} operations on {} keys; the search of key {key:?} explored {configurations} \
                 configurations, its memory bound, without an answer ({:.3} ms)",
                history.len(),
                history.keys(),
                elapsed.as_secs_f64() * 1e3
            );
            EXIT_UNDECIDED
        }
    }
}

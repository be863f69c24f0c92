//! `run --html FILE` and `sweep --html-failures DIR`: record a run's JSONL trace and write its
//! timeline page (`crate::report`).

use std::io;
use std::path::Path;

use super::summary;
use crate::report::{self, Header, Tee};
use crate::scenario::Scenario;
use crate::sim::{self, RunOptions, RunReport};
use crate::trace::{RecordingSink, TraceSink};

/// Run `scenario` with `seed`, handing events to `sink` (if any) and, when `record` is
/// given, keeping them as JSONL lines there too. Returns the report and any error the sink
/// reported when finished.
pub fn run_into(
    scenario: &Scenario,
    seed: u64,
    replay: &str,
    messages: bool,
    sink: Option<&mut (dyn TraceSink + '_)>,
    record: Option<&mut RecordingSink>,
) -> (RunReport, Option<io::Error>) {
    match record {
        Some(record) => run_to(
            scenario,
            seed,
            replay,
            messages,
            Some(&mut Tee {
                first: sink,
                record,
            }),
        ),
        None => run_to(
            scenario,
            seed,
            replay,
            messages,
            sink.map(|s| s as &mut dyn TraceSink),
        ),
    }
}

fn run_to(
    scenario: &Scenario,
    seed: u64,
    replay: &str,
    messages: bool,
    mut sink: Option<&mut dyn TraceSink>,
) -> (RunReport, Option<io::Error>) {
    let report = sim::run(
        scenario,
        RunOptions {
            seed,
            sink: sink.as_mut().map(|s| &mut **s as &mut dyn TraceSink),
            replay: replay.to_owned(),
            messages,
            // A single run from the CLI is digested, so `--check-determinism` compares the
            // very run that printed its trace (one hash per event: small beside a process
            // start; sweeps, which never compare, do not pay it).
            digest: true,
        },
    );
    let error = sink.and_then(|s| s.finish().err());
    (report, error)
}

/// Write the timeline page of a run whose trace `lines` were recorded.
pub fn write(path: &Path, report: &RunReport, replay: &str, lines: &[String]) -> io::Result<()> {
    let header = Header {
        scenario: report.scenario.clone(),
        seed: report.seed,
        dedup: report.dedup.name().to_owned(),
        ok: report.passed(),
        replay: replay.to_owned(),
        summary: summary::render(report, None, None, replay),
    };
    let page = report::page(
        &header,
        lines,
        u64::from(report.nodes),
        u64::from(report.clients),
    );
    std::fs::write(path, page)
}

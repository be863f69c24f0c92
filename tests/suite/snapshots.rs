//! Reviewable snapshots (in the top-level `snapshots/` folder): the duplicate-detection story
//! and the summary of every shipped scenario at its own seed, and the story of each flawed
//! design caught in the act. A behaviour change shows up here as a diff a reviewer reads.
//! Nothing in them depends on wall time, paths or the machine. Review changes with
//! `cargo insta review`; under `CI=true` a missing or changed snapshot fails.

use crate::common;

use idemsim::campaign::catch::Design;
use idemsim::cli::run::replay_command;
use idemsim::cli::summary;
use idemsim::scenario::{self, Scenario};
use idemsim::sim::{RunOptions, RunReport, run};
use idemsim::trace::{StorySink, TraceSink};

/// Stories per snapshot: enough to show each kind of duplicate a run has, few enough to
/// review in one sitting (`--trace dedup` itself tells them all).
const STORIES: usize = 6;
const STEPS: usize = 40;

/// The dedup story and the summary of one run, as one reviewable text.
fn story_and_summary(s: &Scenario, seed: u64, file: &str) -> (String, RunReport) {
    let replay = replay_command(Some(std::path::Path::new(file)), seed, s, None);
    let mut sink = StorySink::with_limit(Vec::new(), STORIES, STEPS);
    let report = run(
        s,
        RunOptions {
            seed,
            sink: Some(&mut sink),
            replay: replay.clone(),
            messages: false,
            digest: false,
        },
    );
    sink.finish().unwrap();
    let story = String::from_utf8(sink.into_inner()).unwrap();
    let text = format!("{story}\n{}", summary::render(&report, None, None, &replay));
    (text, report)
}

fn relative(path: &std::path::Path) -> String {
    format!(
        "sim-scenarios/{}",
        path.file_name().unwrap().to_string_lossy()
    )
}

/// Every shipped scenario at its own seed, under its own design (passing runs).
#[test]
fn shipped_scenarios_tell_their_dedup_stories() {
    for path in common::shipped_scenarios() {
        let s = scenario::load(&path).unwrap();
        let (text, report) = story_and_summary(&s, s.seed, &relative(&path));
        assert!(
            report.passed(),
            "{}: {:?}",
            s.name,
            report.violations.kept()
        );
        common::snapshots().bind(|| insta::assert_snapshot!(format!("story_{}", s.name), text));
    }
}

/// Each flawed design, on the first shipped scenario and seed that catches it: the story
/// shows the double apply, the wrong answer, the stale read or the request never answered.
#[test]
fn flawed_designs_are_caught_in_the_act() {
    let shipped = common::shipped_scenarios();
    let designs = Design::DEDUP.into_iter().chain(Design::READS);
    for design in designs.filter(|d| !d.is_correct()) {
        let caught = shipped.iter().find_map(|path| {
            let mut s = scenario::load(path).unwrap();
            design.apply(&mut s);
            (0..20).find_map(|seed| {
                let (text, report) = story_and_summary(&s, seed, &relative(path));
                (!report.passed()).then_some(text)
            })
        });
        let text = caught.unwrap_or_else(|| {
            panic!(
                "{} was caught on no shipped scenario in 20 seeds",
                design.name()
            )
        });
        let name = format!(
            "flawed_{}",
            design.name().replace(" + ", "_").replace(' ', "-")
        );
        common::snapshots().bind(|| insta::assert_snapshot!(name, text));
    }
}

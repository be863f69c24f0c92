//! `idemsim run`.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use super::build_info::BuildInfo;
use super::net::EXIT_IO;
use super::{RunArgs, SummaryFormat, TraceFormat};
use super::{html, summary};
use crate::client::OnRestart;
use crate::raft::Reads;
use crate::scenario::{self, Scenario, SwarmSpec};
use crate::sim::RunReport;
use crate::sim::determinism::{self, Determinism};
use crate::trace::{LineSink, RecordingSink, StorySink, TraceSink, TracingSink};

pub fn run(args: &RunArgs) -> u8 {
    if let Some(wanted) = &args.build {
        if let Err(message) = same_build(wanted, BuildInfo::current()) {
            eprintln!("error: {message}");
            return super::EXIT_USAGE;
        }
    }
    let mut scenario = match &args.scenario {
        Some(path) => match scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        },
        None => scenario::default_scenario(),
    };
    if let Some(dedup) = args.dedup {
        scenario.dedup = dedup;
    }
    if let Some(reads) = args.reads {
        scenario.server.reads = reads;
    }
    if let Some(on_restart) = args.on_restart {
        scenario.clients.on_restart = on_restart;
    }
    for &m in &args.mutations {
        scenario.mutations = scenario.mutations.with(m);
    }
    if args.swarm && scenario.swarm.is_none() {
        scenario.swarm = Some(SwarmSpec::default());
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let replay = replay_command(args.scenario.as_deref(), seed, &scenario, None);

    let started = Instant::now();
    // The dedup story has no place for message events: do not pay for them (unless the HTML
    // report draws them).
    let messages = args.messages && (args.trace != Some(TraceFormat::Dedup) || args.html.is_some());
    // Recorded only for the HTML report: a run without --html pays nothing.
    let mut record = args.html.as_ref().map(|_| RecordingSink::default());
    let (report, trace_error) = run_traced(
        &scenario,
        seed,
        &replay,
        args.trace,
        messages,
        record.as_mut(),
    );
    let wall = started.elapsed();
    if let Some(e) = trace_error.filter(|e| e.kind() != io::ErrorKind::BrokenPipe) {
        eprintln!("error: writing the trace failed: {e}");
    }

    let determinism = args
        .check_determinism
        .then(|| determinism::check(&scenario, seed, &replay, args.messages, &report));
    let text = match args.format {
        SummaryFormat::Text => summary::render(&report, Some(wall), determinism.as_ref(), &replay),
        SummaryFormat::Json => {
            let json = summary::json(&report, Some(wall), determinism.as_ref(), &replay);
            format!("{json}\n")
        }
    };
    let written = if args.trace == Some(TraceFormat::Jsonl) {
        io::stderr().write_all(text.as_bytes())
    } else {
        let mut out = io::stdout().lock();
        let traced = matches!(args.trace, Some(TraceFormat::Text | TraceFormat::Dedup))
            && args.format == SummaryFormat::Text;
        let sep = if traced { "\n" } else { "" };
        out.write_all(sep.as_bytes())
            .and_then(|()| out.write_all(text.as_bytes()))
            .and_then(|()| out.flush())
    };
    if let Some(e) = written
        .err()
        .filter(|e| e.kind() != io::ErrorKind::BrokenPipe)
    {
        eprintln!("error: writing the summary failed: {e}");
    }

    if let (Some(path), Some(record)) = (&args.html, &record) {
        if let Err(e) = html::write(path, &report, &replay, &record.lines) {
            eprintln!(
                "error: cannot write the HTML report {}: {e}",
                path.display()
            );
            return EXIT_IO;
        }
        eprintln!("html      {}", path.display());
    }

    let diverged = determinism.as_ref().is_some_and(Determinism::failed);
    if diverged { 1 } else { report.exit_code() }
}

/// Run once with the requested trace (and, with `record`, the JSONL lines kept for the HTML
/// report); returns the report and any error writing the trace.
fn run_traced(
    scenario: &Scenario,
    seed: u64,
    replay: &str,
    format: Option<TraceFormat>,
    messages: bool,
    record: Option<&mut RecordingSink>,
) -> (RunReport, Option<io::Error>) {
    let mut sink: Option<Box<dyn TraceSink>> = match format {
        None => None,
        Some(TraceFormat::Text) => Some(Box::new(LineSink::text(BufWriter::new(
            io::stdout().lock(),
        )))),
        Some(TraceFormat::Jsonl) => Some(Box::new(LineSink::jsonl(BufWriter::new(
            io::stdout().lock(),
        )))),
        Some(TraceFormat::Dedup) => Some(Box::new(StorySink::new(BufWriter::new(
            io::stdout().lock(),
        )))),
        Some(TraceFormat::Tracing) => {
            super::logging::init("idemsim::trace=info", super::logging::Style::Trace);
            Some(Box::new(TracingSink::default()))
        }
    };
    html::run_into(
        scenario,
        seed,
        replay,
        messages,
        sink.as_deref_mut(),
        record,
    )
}

/// The command that replays this run with a readable trace: the file, the seed, the dedup
/// strategy, any other design choice that differs from the correct default, and `build`
/// (the id of the binary that ran it) when given, so the replay refuses another binary.
pub fn replay_command(
    path: Option<&Path>,
    seed: u64,
    scenario: &Scenario,
    build: Option<&str>,
) -> String {
    let mut cmd = String::from("idemsim run");
    if let Some(path) = path {
        cmd.push(' ');
        cmd.push_str(&shell_quote(&path.display().to_string()));
    }
    cmd.push_str(&format!(" --seed {seed} --dedup {}", scenario.dedup.name()));
    if scenario.server.reads != Reads::Log {
        cmd.push_str(&format!(" --reads {}", scenario.server.reads.name()));
    }
    if scenario.clients.on_restart != OnRestart::default() {
        cmd.push_str(&format!(
            " --on-restart {}",
            scenario.clients.on_restart.name()
        ));
    }
    for m in scenario.mutations.iter() {
        cmd.push_str(&format!(" --mutation {m}"));
    }
    if scenario.swarm.is_some() {
        cmd.push_str(" --swarm");
    }
    if let Some(build) = build {
        cmd.push_str(&format!(" --build {build}"));
    }
    cmd.push_str(" --trace text");
    cmd
}

/// `run --build ID`: is this binary the build that found the seed?
fn same_build(wanted: &str, running: &BuildInfo) -> Result<(), String> {
    let id = running.id();
    let wanted = wanted.trim();
    if wanted.eq_ignore_ascii_case(&id) {
        return Ok(());
    }
    if wanted.is_empty() {
        return Err(
            "--build needs the id of a build (a sweep line's `build.id`, or what \
                    `idemsim build-info` prints)"
                .to_owned(),
        );
    }
    Err(format!(
        "the seed was found by build {wanted}, but this is build {id} (idemsim {}, commit {}): \
         a replay on another build may not reproduce the run. Replay it with the binary of \
         build {wanted} (see `idemsim build-info`), or leave out --build to run it here anyway",
        running.version,
        running.commit.unwrap_or("unknown"),
    ))
}

/// Quote `s` for a POSIX shell if it needs it.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::Dedup;

    /// Replay commands name the file, seed and designs, and survive odd paths.
    #[test]
    fn replay_commands_are_shell_safe() {
        let mut s = crate::scenario::default_scenario();
        s.dedup = Dedup::Off;
        assert_eq!(
            replay_command(Some(Path::new("sim-scenarios/a.toml")), 42, &s, None),
            "idemsim run sim-scenarios/a.toml --seed 42 --dedup off --trace text"
        );
        s.dedup = Dedup::Sessions;
        assert_eq!(
            replay_command(None, 7, &s, None),
            "idemsim run --seed 7 --dedup sessions --trace text"
        );
        s.dedup = Dedup::LastSeq;
        s.clients.on_restart = OnRestart::ReuseId;
        s.swarm = Some(crate::scenario::SwarmSpec::default());
        assert_eq!(
            replay_command(Some(Path::new("my dir/it's.toml")), 1, &s, None),
            r"idemsim run 'my dir/it'\''s.toml' --seed 1 --dedup last-seq --on-restart reuse-id --swarm --trace text"
        );
        s.dedup = Dedup::Off;
        s.clients.on_restart = OnRestart::default();
        s.swarm = None;
        assert_eq!(
            replay_command(None, 7, &s, Some("0123abcd")),
            "idemsim run --seed 7 --dedup off --build 0123abcd --trace text"
        );
    }

    /// `run --build` accepts its own id and names both builds when refusing another.
    #[test]
    fn a_replay_refuses_another_build() {
        let running = BuildInfo {
            version: "0.1.0",
            commit: Some("abc"),
            binary: Some("00112233aabbccdd".to_owned()),
            path: None,
        };
        assert_eq!(same_build("00112233aabbccdd", &running), Ok(()));
        assert_eq!(same_build(" 00112233AABBCCDD", &running), Ok(()));
        assert!(
            same_build("", &running)
                .unwrap_err()
                .contains("needs the id")
        );
        let err = same_build("ffff000011112222", &running).unwrap_err();
        assert!(
            err.contains("ffff000011112222") && err.contains("00112233aabbccdd"),
            "{err}"
        );
    }
}

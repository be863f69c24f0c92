//! The deterministic simulator: builds a world from a scenario and a seed, runs it, and
//! reports what the checkers found.
//!
//! ```no_run
//! let scenario = idemsim::scenario::default_scenario();
//! let report = idemsim::sim::run(&scenario, RunOptions::new(scenario.seed));
//! # use idemsim::sim::RunOptions;
//! assert!(report.passed());
//! ```

mod clock;
pub mod determinism;
mod faults;
mod network;
mod observer;
mod queue;
mod scheduler;
mod stats;
mod world;

pub use network::{LinkParams, NetStats};
pub use queue::EventQueue;
pub use stats::Stats;
pub use world::{SWARM_STREAM, stream_rng};

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::ids::SimTime;
use crate::kv::Dedup;
use crate::message::Addr;
use crate::scenario::{FaultSpec, Scenario, SwarmProfile};
use crate::trace::{TraceEvent, TraceSink};
use crate::verdict::{Rule, Violations};

/// How to run a scenario.
pub struct RunOptions<'s> {
    /// The master seed; every random choice of the run derives from it.
    pub seed: u64,
    /// Receives every trace event, the verdict last. `None`: nothing is formatted.
    pub sink: Option<&'s mut dyn TraceSink>,
    /// The command that replays this run, put in the verdict event.
    pub replay: String,
    /// Trace every message's fate (`send`, `deliver`, `drop`, `dup`, `cut`): `--messages`.
    /// Off, it costs nothing.
    pub messages: bool,
    /// Hash every trace event into [`RunReport::trace_digest`], what `--check-determinism`
    /// compares. Off (the default, and what sweeps use), nothing is hashed.
    pub digest: bool,
}

impl<'s> RunOptions<'s> {
    /// Run with `seed`, no trace.
    pub fn new(seed: u64) -> RunOptions<'s> {
        RunOptions {
            seed,
            sink: None,
            replay: String::new(),
            messages: false,
            digest: false,
        }
    }

    /// The same, also digesting the trace ([`RunReport::trace_digest`]).
    pub fn digested(self) -> RunOptions<'s> {
        RunOptions {
            digest: true,
            ..self
        }
    }
}

/// What a run did and what the checkers found.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub dedup: Dedup,
    /// How nodes answered gets.
    pub reads: crate::raft::Reads,
    pub nodes: u8,
    pub clients: u32,
    pub ops_per_client: u64,
    pub stats: Stats,
    pub violations: Violations,
    /// Simulated time when the run ended.
    pub end: SimTime,
    /// Events processed: message deliveries, timer firings, faults.
    pub events: u64,
    /// Digest of the whole trace (verdict included): equal digests, equal traces. `None`
    /// unless [`RunOptions::digest`] asked for it.
    pub trace_digest: Option<u64>,
    /// Trace events produced.
    pub trace_events: u64,
    /// What the seed drew, for a swarm run.
    pub swarm: Option<SwarmProfile>,
    /// Faults whose trigger never came during the fault phase: their number and what they
    /// were.
    pub skipped_faults: Vec<(usize, FaultSpec)>,
}

impl RunReport {
    /// No rule was broken.
    pub fn passed(&self) -> bool {
        self.violations.total() == 0
    }

    /// The documented exit code: 0 pass, 1 safety violation, 3 liveness failure only.
    pub fn exit_code(&self) -> u8 {
        self.violations.broken().exit_code()
    }
}

/// Run `scenario` once. The scenario's own `dedup` is used (override it before calling).
pub fn run(scenario: &Scenario, options: RunOptions<'_>) -> RunReport {
    if scenario.swarm.is_none() {
        return run_drawn(scenario, options, None);
    }
    let mut rng = stream_rng(options.seed, world::SWARM_STREAM);
    let (drawn, profile) = scenario.for_seed(&mut rng);
    run_drawn(&drawn, options, profile)
}

/// Run a scenario whose swarm (if any) was already drawn as `profile`.
fn run_drawn(
    scenario: &Scenario,
    options: RunOptions<'_>,
    profile: Option<SwarmProfile>,
) -> RunReport {
    let RunOptions {
        seed,
        sink,
        replay,
        messages,
        digest,
    } = options;
    let profile_text = profile.as_ref().map(ToString::to_string);
    let mut world = world::World::new(
        scenario,
        seed,
        sink,
        profile_text.as_deref(),
        messages,
        digest,
    );
    // A panic inside a process (a failed assertion, a bug) ends the run as a violation of
    // its own, keeping everything the checkers saw until then.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| world.run()));
    let (end, panicked) = match outcome {
        Ok(end) => (end, None),
        Err(payload) => {
            let at = world.sched.io.now;
            let who = world
                .sched
                .io
                .handling
                .map_or("the world".to_owned(), |a| match a {
                    Addr::Node(n) => n.to_string(),
                    Addr::Client(c) => c.to_string(),
                });
            (
                at,
                Some(format!(
                    "{who} panicked at t={at}: {}",
                    panic_message(&payload)
                )),
            )
        }
    };
    let stopped = match panicked {
        Some(message) => Some((Rule::Invariant, message)),
        None => world
            .over_budget
            .take()
            .map(|message| (Rule::Budget, message)),
    };
    let pending = if stopped.is_none() {
        world.sched.pending()
    } else {
        Vec::new()
    };
    let skipped_faults = world.faults.skipped();
    let scheduler::Io {
        observer,
        network,
        events,
        ..
    } = world.sched.io;
    let observer::Observer {
        checks,
        mut digest,
        mut trace_events,
        mut stats,
        sink,
    } = observer;
    let violations = match stopped {
        None => checks.finish(end, &pending),
        Some((rule, message)) => checks.finish_stopped(rule, message),
    };
    let verdict = TraceEvent::Verdict {
        ok: violations.total() == 0,
        violations: violations.kept(),
        replay: &replay,
    };
    if let Some(digest) = &mut digest {
        digest.add(end, &verdict);
    }
    trace_events += 1;
    if let Some(sink) = sink {
        sink.event(end, &verdict);
    }
    stats.network = network.stats;
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        dedup: scenario.dedup,
        reads: scenario.server.reads,
        nodes: scenario.cluster.nodes,
        clients: scenario.clients.count,
        ops_per_client: scenario.clients.ops,
        stats,
        violations,
        end,
        events,
        trace_digest: digest.map(|d| d.value()),
        trace_events,
        swarm: profile,
        skipped_faults,
    }
}

/// The text of a panic payload.
fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

//! The command line (DESIGN §9): parse arguments, load the scenario, call the library, print,
//! and return the documented exit code. The wall clock is read here and nowhere in the
//! simulated world.
//!
//! Exit codes: 0 pass; 1 safety violation; 2 usage error; 3 liveness failure;
//! 65 invalid scenario file; 66 scenario file not found.

mod run;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::OnRestart;
use crate::kv::Dedup;

/// Usage error (clap's own code for bad arguments).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "idemsim",
    version,
    about = "Deterministic simulation of idempotent writes on a Raft-replicated key-value store",
    long_about = "Deterministic simulation of idempotent writes on a Raft-replicated key-value \
                  store. Raft nodes and clients run as state machines under a scheduler driven \
                  by one seed; leaders crash mid-replication, the network partitions, loses and \
                  duplicates messages, clients retry, and checkers prove that every \
                  (client_id, seq) takes effect exactly once.",
    after_help = "Exit codes: 0 pass, 1 safety violation, 2 usage error, 3 liveness failure, \
                  65 invalid scenario file, 66 scenario file not found."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scenario with one seed, print its summary (and trace), exit with its verdict.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML, see sim-scenarios/). Without one, the built-in default scenario
    /// (leader-crash-mid-replication) runs.
    pub scenario: Option<PathBuf>,
    /// Master seed; overrides the scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Dedup strategy; overrides the scenario's `[server] dedup`.
    #[arg(long, value_enum)]
    pub dedup: Option<Dedup>,
    /// What a crashed client does about its identity when it restarts; overrides the
    /// scenario's `[clients] on_restart`.
    #[arg(long, value_enum)]
    pub on_restart: Option<OnRestart>,
    /// Print the trace: `text` for people, `jsonl` for tools (stdout then holds only JSON
    /// lines and the summary goes to stderr), `tracing` to emit it as `tracing` events on
    /// stderr (filter with RUST_LOG, e.g. RUST_LOG=idemsim::trace=info).
    #[arg(long, value_enum)]
    pub trace: Option<TraceFormat>,
    /// Run twice and prove both runs produce the same trace, or report the first event where
    /// they diverge (exit 1).
    #[arg(long)]
    pub check_determinism: bool,
}

/// Trace renderings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    Text,
    Jsonl,
    Tracing,
}

/// Parse the process arguments and run.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(dispatch(cli))
}

/// Run a parsed command line; returns the exit code.
pub fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Run(args) => run::run(&args),
    }
}

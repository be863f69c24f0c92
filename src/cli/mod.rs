//! The command line (docs/DESIGN.md §9): parse arguments, load the scenario, call the
//! library, print, and return the documented exit code. The wall clock is read here and
//! nowhere in the simulated world.
//!
//! Exit codes: 0 pass; 1 safety violation; 2 usage error; 3 liveness failure;
//! 65 invalid scenario file; 66 scenario file not found (`check-history`: 1 not
//! linearizable, 65 unreadable history, 66 history file not found, 75 undecided: the search
//! reached its memory bound; `merge`: 65 for malformed or mismatched sweep files, 66 for a
//! missing one; `sweep`: 130 when interrupted). The real-network commands
//! add 65 for a data directory that is not this node's, was written under other session rules
//! or is damaged, 69 when no node answers and 74 for disk or socket errors; `run --html` and
//! `sweep --html-failures` exit 74 when they cannot write their report.

mod build_info;
mod catch_table;
mod check_history;
mod html;
mod logging;
mod merge;
mod net;
mod progress;
pub mod run;
mod shrink;
pub mod summary;
mod sweep;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::campaign::{SeedRange, Shard};
use crate::client::OnRestart;
use crate::kv::Dedup;
use crate::mutation::Mutation;
use crate::raft::Reads;

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
    after_help = "Exit codes: 0 pass, 1 safety violation (check-history: not linearizable), 2 \
                  usage error, 3 liveness failure, 65 invalid scenario file (serve: data \
                  directory of another node or other session rules, or damaged; check-history: \
                  unreadable history), 66 scenario or history file not found, 69 no node \
                  answered (client), 70 node stopped at --crash-at (serve), 74 disk or \
                  socket error (serve, cluster; run --html, sweep --html-failures), 75 \
                  check-history undecided (the search reached its memory bound), 130 sweep \
                  interrupted (Ctrl-C). `merge`: 65 malformed sweep lines or shards of \
                  different builds or overlapping seeds, 66 file not found."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scenario with one seed, print its summary (and trace), exit with its verdict.
    Run(RunArgs),
    /// Run scenarios over a range of seeds in parallel; print each failing run with its
    /// replay command, then totals. Exit 1 if any run broke a safety rule, 3 if only
    /// liveness failed, 74 if the output could not be written, 130 if interrupted.
    Sweep(SweepArgs),
    /// Run every dedup design, correct and flawed, against the scenarios over a seed range:
    /// which rule catches each flawed design, how soon, and proof the correct ones never fail.
    CatchTable(CatchTableArgs),
    /// Shrink a failing run: remove faults, clients, operations, nodes, network noise and
    /// time while the same seed still breaks the same rule, and write the minimal scenario.
    Shrink(ShrinkArgs),
    /// Real network: run one Raft node (the simulator's own node code) on TCP, with its
    /// durable state in a directory. Logs to stderr (RUST_LOG filters; default info).
    Serve(net::ServeArgs),
    /// Real network: start N `serve` processes on consecutive loopback ports, forward their
    /// logs, report the leader, and stop them all on Ctrl-C.
    Cluster(net::ClusterArgs),
    /// Real network: perform one operation, following leader redirects and re-sending the
    /// same (client_id, seq) to another node on a timeout; prints the result and whether it
    /// was a cached duplicate.
    Client(net::ClientArgs),
    /// Check a client history for linearizability: idemsim's JSONL trace or porcupine's
    /// key-value logs. Exit 0 linearizable, 1 not (prints a minimal failing window), 65
    /// unreadable history, 66 file not found.
    CheckHistory(check_history::CheckHistoryArgs),
    /// Merge the JSONL outputs of sweep shards (`sweep --format jsonl`) into one report:
    /// totals, a catch-table row per design, the failing seeds with their replay commands,
    /// and a `gaps` line naming shards not given or stopped early. Exit like a sweep (1
    /// safety, 3 liveness only, 0 pass); 65 for malformed lines, lines of different builds, a
    /// run present twice or no line at all; 66 for a missing file; 74 when the report cannot
    /// be written.
    Merge(MergeArgs),
    /// Print the build identity: version, git commit, and the hash of this binary that sweep
    /// lines and `run --build` name.
    BuildInfo(BuildInfoArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Sweep outputs (`sweep --format jsonl`), one per shard, in any order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// `text`: failing seeds, catch-table rows, totals. `jsonl`: one summary JSON object.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct BuildInfoArgs {
    /// `text` for people; `jsonl`: one JSON object.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// Scenario file; without one, the built-in default scenario.
    pub scenario: Option<PathBuf>,
    /// The failing seed, an unsigned 64-bit integer [default: the scenario's].
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub design: DesignArgs,
    /// Where to write the minimal scenario [default: NAME.seedN.min.toml here].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The designs a campaign runs under, overriding the scenario files.
#[derive(Debug, Args)]
pub struct DesignArgs {
    /// Dedup strategy; overrides each scenario's `[server] dedup`.
    #[arg(long, value_enum)]
    pub dedup: Option<Dedup>,
    /// How nodes answer gets; overrides each scenario's `[server] reads` (see `run --help`).
    #[arg(long, value_enum)]
    pub reads: Option<Reads>,
    /// What a crashed client does about its identity when it restarts; overrides each
    /// scenario's `[clients] on_restart`.
    #[arg(long, value_enum)]
    pub on_restart: Option<OnRestart>,
    /// Swarm faults: each seed draws its own fault profile (see `run --help`).
    #[arg(long)]
    pub swarm: bool,
    /// Turn on a deliberate bug, to see the checkers catch it (repeatable; see `run --help`).
    #[arg(long = "mutation", value_enum, value_name = "MUTATION")]
    pub mutations: Vec<Mutation>,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Scenario files; without any, the built-in default scenario.
    pub scenarios: Vec<PathBuf>,
    /// Seeds to run (unsigned 64-bit integers): START..END (END excluded), START..=LAST, or
    /// one seed.
    #[arg(long, default_value = "0..1000", value_parser = parse_seeds)]
    pub seeds: SeedRange,
    /// Worker threads [default: the number of cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Run only the seeds with seed % N == K, so machines can split one campaign (`idemsim
    /// merge` joins their JSONL outputs). `auto`: K and N from a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX and JOB_COMPLETIONS) or else IDEMSIM_SHARD=K/N.
    #[arg(long, default_value = "0/1", value_parser = parse_shard, value_name = "K/N|auto")]
    pub shard: ShardArg,
    /// Stop after N failing runs: report the first N in (scenario, seed) order, then totals.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_failures: Option<u64>,
    /// `text`: one line per failing run, then totals. `jsonl`: one JSON object per run on
    /// stdout, in (scenario, seed) order whatever --jobs is; totals go to stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub design: DesignArgs,
    /// For each failing run, run its seed again recording its trace and write its HTML
    /// timeline (see `run --html`) to DIR/<scenario-stem>-seed<N>.html, printed next to its
    /// replay command. DIR is created if missing; exit 74 if it cannot be written.
    #[arg(long, value_name = "DIR")]
    pub html_failures: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CatchTableArgs {
    /// Scenario files [default: every sim-scenarios/*.toml under the current directory].
    pub scenarios: Vec<PathBuf>,
    /// Seeds each design runs on each scenario.
    #[arg(long, default_value = "0..50", value_parser = parse_seeds)]
    pub seeds: SeedRange,
    /// Worker threads [default: the number of cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// `text` for people; `jsonl`: one JSON object per design.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Output formats of campaigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Jsonl,
}

fn parse_seeds(s: &str) -> Result<SeedRange, String> {
    s.parse()
}

/// `--shard`: a fixed shard, or `auto` (resolved from the environment by the sweep).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardArg {
    Fixed(Shard),
    Auto,
}

fn parse_shard(s: &str) -> Result<ShardArg, String> {
    if s.trim() == "auto" {
        return Ok(ShardArg::Auto);
    }
    s.parse()
        .map(ShardArg::Fixed)
        .map_err(|e| format!("{e} (or `auto`)"))
}

/// Worker threads for `--jobs`, defaulting to the machine's cores.
fn jobs(requested: Option<u16>) -> usize {
    requested.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    )
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("trace_or_html").args(["trace", "html"]).multiple(true)))]
pub struct RunArgs {
    /// Scenario file (TOML, see sim-scenarios/). Without one, the built-in default scenario
    /// (leader-crash-mid-replication) runs.
    pub scenario: Option<PathBuf>,
    /// Master seed, an unsigned 64-bit integer (0 to 18446744073709551615); overrides the
    /// scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Dedup strategy; overrides the scenario's `[server] dedup`.
    #[arg(long, value_enum)]
    pub dedup: Option<Dedup>,
    /// How nodes answer gets; overrides the scenario's `[server] reads`. The linearizability
    /// rule checks every read
    #[arg(long, value_enum)]
    pub reads: Option<Reads>,
    /// What a crashed client does about its identity when it restarts; overrides the
    /// scenario's `[clients] on_restart`.
    #[arg(long, value_enum)]
    pub on_restart: Option<OnRestart>,
    /// Turn on a deliberate bug in the nodes or clients, to see the checkers catch it
    /// (repeatable). Each names the property it breaks in the README's catch table.
    #[arg(long = "mutation", value_enum, value_name = "MUTATION")]
    pub mutations: Vec<Mutation>,
    /// Print the trace: `text` for people; `dedup` for only the story of each duplicate
    /// (submit, attempts, the faults that caused retries, every replica's apply decision, the
    /// cached result, the reply); `jsonl` for tools (stdout then holds only JSON lines and
    /// the summary goes to stderr); `tracing` to emit it as `tracing` events on stderr
    /// (filter with RUST_LOG, e.g. RUST_LOG=idemsim::trace=info).
    #[arg(long, value_enum)]
    pub trace: Option<TraceFormat>,
    /// Also trace every message: `send`, `deliver`, `drop`, `dup` and `cut` events naming
    /// `from`, `to`, the message `kind` and its size in `bytes` (with --trace text, jsonl or
    /// tracing, and as arrows in the --html report; the dedup story leaves them out).
    #[arg(long, requires = "trace_or_html")]
    pub messages: bool,
    /// Also write a self-contained HTML timeline of the run to FILE: a lane per node and
    /// client, ops coloured by outcome, crashes, partitions, leader terms, the violations
    /// marked (open it in a browser; it fetches nothing). Exit 74 if it cannot be written.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// The summary: `text` for people, `json` for one JSON object (on stdout, or on stderr
    /// with --trace jsonl).
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,
    /// Run twice and prove both runs produce the same trace, or report the first event where
    /// they diverge (exit 1).
    #[arg(long)]
    pub check_determinism: bool,
    /// Swarm faults: the seed draws its own fault profile (crash pattern and points,
    /// partitions, loss and duplication, delays, client timeouts, client crashes, replays)
    /// on top of the scenario's faults: by the file's `[swarm]` section if it has one, else
    /// with every family allowed.
    #[arg(long)]
    pub swarm: bool,
    /// The build that found the seed (the id a sweep's replay command names): refuse, exit 2,
    /// if this binary is another build, whose replay may not reproduce the run.
    #[arg(long, value_name = "ID")]
    pub build: Option<String>,
}

/// Summary renderings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

/// Trace renderings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    Text,
    Dedup,
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
        Command::Sweep(args) => sweep::sweep(&args),
        Command::CatchTable(args) => catch_table::catch_table(&args),
        Command::Shrink(args) => shrink::shrink(&args),
        Command::Serve(args) => net::serve(&args),
        Command::Cluster(args) => net::cluster(&args),
        Command::Client(args) => net::client(&args),
        Command::CheckHistory(args) => check_history::check_history(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::BuildInfo(args) => build_info::print(args.format),
    }
}

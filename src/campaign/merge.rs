//! Merging sweep shards: the JSONL lines of `sweep --format jsonl`, from any number of files,
//! into one report (totals, a catch-table row per design, the failing seeds in seed order).
//!
//! The lines must come from one build and hold each (scenario, design, seed) once; a scenario
//! name must mean the same contents (its digest) in every file. Anything else is refused with
//! the file and line, so a merged report always describes one campaign of one binary.
//!
//! The report depends only on the lines, not on how they were split into files or ordered:
//! four shards merge to what one unsharded sweep of the same seeds merges to.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::catch::ranked;
use super::sweep::RunSummary;
use super::totals::Totals;
use crate::client::OnRestart;
use crate::raft::Reads;
use crate::scenario::FaultTag;
use crate::verdict::{PerRule, Rule, RuleSet};

/// One line of `sweep --format jsonl`: one run. Written by the sweep, read back by merge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepLine {
    pub scenario: String,
    pub file: Option<String>,
    pub seed: u64,
    pub ok: bool,
    pub rules: Vec<String>,
    pub violation: Option<String>,
    pub exit_code: u8,
    pub completed: u64,
    pub abandoned: u64,
    pub duplicates: u64,
    pub retries: u64,
    pub crashes: u64,
    pub events: u64,
    pub sim_us: u64,
    pub swarm: Option<String>,
    /// Untriggered faults by kind name, only the kinds that have some.
    pub untriggered: serde_json::Map<String, serde_json::Value>,
    /// The command that replays the run, naming the build.
    pub replay: String,
    /// The build that ran it: `{"id", "version", "commit"}`.
    pub build: serde_json::Value,
    /// A hash of the scenario as run (design overrides included).
    pub scenario_digest: String,
    pub design: LineDesign,
    /// The sweep this run belongs to, so merge can tell a whole campaign from a partial one.
    pub campaign: LineCampaign,
    /// The run's timeline page, with `sweep --html-failures`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// The design a run ran under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDesign {
    pub dedup: String,
    pub reads: String,
    pub on_restart: String,
    pub mutations: Vec<String>,
    pub swarm: bool,
    /// Requests each client keeps in flight (`[clients] window`): `last-seq` is correct
    /// only at 1.
    pub window: u32,
    /// Is this a correct design (one that must never fail)? See `catch::Design::is_correct`.
    pub correct: bool,
}

/// The sweep a line came from: every shard of one campaign carries the same `id`, `seeds`
/// and `runs`, so merge can count what a shard left out, or a shard never given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCampaign {
    /// A hash of the seeds, the shard count and the scenarios as run (in order): the same
    /// for every shard of one campaign, different for another design or seed range.
    pub id: String,
    /// `--seeds` as `START..END`.
    pub seeds: String,
    /// This sweep's shard, `K/N`.
    pub shard: String,
    /// Runs in the whole campaign (every shard).
    pub runs: u64,
    /// Runs in this shard's plan.
    pub shard_runs: u64,
}

impl LineDesign {
    /// `off`, `sessions + reads local`, `sessions + reuse-id + mutation vote-not-kept +
    /// swarm`: the dedup strategy and whatever differs from the defaults.
    pub fn name(&self) -> String {
        let mut name = self.dedup.clone();
        if self.reads != Reads::Log.name() {
            name.push_str(&format!(" + reads {}", self.reads));
        }
        if self.on_restart != OnRestart::default().name() {
            name.push_str(&format!(" + {}", self.on_restart));
        }
        for m in &self.mutations {
            name.push_str(&format!(" + mutation {m}"));
        }
        if self.window != 1 {
            name.push_str(&format!(" + window {}", self.window));
        }
        if self.swarm {
            name.push_str(" + swarm");
        }
        name
    }
}

/// Why the inputs cannot be merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// A file could not be read (exit 66).
    Read { file: String, message: String },
    /// A line is not a sweep line (exit 65).
    Malformed {
        file: String,
        line: u64,
        message: String,
    },
    /// Two lines (maybe in two files) could not have come from one campaign (exit 65).
    Conflict {
        first: (String, u64),
        second: (String, u64),
        message: String,
    },
}

impl MergeError {
    pub fn exit_code(&self) -> u8 {
        match self {
            MergeError::Read { .. } => 66,
            MergeError::Malformed { .. } | MergeError::Conflict { .. } => 65,
        }
    }
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Read { file, message } => write!(f, "cannot read {file}: {message}"),
            MergeError::Malformed {
                file,
                line,
                message,
            } => write!(f, "{file}:{line}: {message}"),
            MergeError::Conflict {
                first,
                second,
                message,
            } => write!(
                f,
                "{}:{} and {}:{}: {message}",
                first.0, first.1, second.0, second.1
            ),
        }
    }
}

/// A failing run, as the report lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Failure {
    pub seed: u64,
    pub scenario: String,
    pub design: String,
    pub rules: Vec<String>,
    pub violation: Option<String>,
    pub file: Option<String>,
    pub replay: String,
}

/// One design's catch-table row, from the runs merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesignRow {
    pub name: String,
    /// Every run of it was of a correct design (one that must never fail).
    pub correct: bool,
    pub runs: u64,
    pub failed: u64,
    /// Runs that broke each rule, most frequent first.
    pub rules: Vec<(Rule, u64)>,
    /// The (seed, scenario) of its first failure: lowest seed, then scenario name.
    pub first: Option<(u64, String)>,
}

impl DesignRow {
    /// A flawed design that was caught, or a correct one that never failed.
    pub fn as_expected(&self) -> bool {
        super::catch::as_expected(self.correct, self.failed)
    }
}

/// The merged campaign.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The build every line came from (`None` when there were no lines).
    pub build: Option<serde_json::Value>,
    pub totals: Totals,
    /// Scenario names, sorted.
    pub scenarios: Vec<String>,
    /// The lowest and highest seed run.
    pub seeds: Option<(u64, u64)>,
    /// Runs the campaigns planned that no line holds: a shard not given, or a sweep stopped
    /// early (`--max-failures`, Ctrl-C).
    pub missing_runs: u64,
    /// Shards (`K/N`) of which no line was given: how many, and the first few.
    pub missing_shards: u64,
    pub missing_shard_names: Vec<String>,
    /// Shards given that hold fewer runs than their plan: they stopped early.
    pub stopped_shards: Vec<String>,
    /// Failing runs, smallest seed first, then scenario.
    pub failures: Vec<Failure>,
    /// One row per design, by name.
    pub designs: Vec<DesignRow>,
}

impl Merged {
    /// Whether any design swept was a flawed one, so the catch-table rows say something.
    pub fn flawed_designs(&self) -> bool {
        self.designs.iter().any(|d| !d.correct)
    }

    /// Like a sweep's: 1 if a safety rule broke, 3 if only liveness, 0 otherwise.
    pub fn exit_code(&self) -> u8 {
        self.totals.exit_code()
    }
}

struct DesignTally {
    correct: bool,
    runs: u64,
    failed: u64,
    rules: PerRule<u64>,
    first: Option<(u64, String)>,
}

type At = (String, u64);

/// What one campaign's lines say about its plan, and which runs they hold.
struct CampaignTally {
    count: u64,
    runs: u64,
    /// shard index -> (runs planned, runs present)
    shards: BTreeMap<u64, (u64, u64)>,
    first: At,
}

/// Missing shards listed by name, at most.
const SHARDS_NAMED: usize = 8;

/// Lines added so far; [`Merger::finish`] gives the report.
#[derive(Default)]
pub struct Merger {
    build: Option<(serde_json::Value, At)>,
    /// (scenario digest, design, seed) -> where it was first seen.
    runs: HashMap<(String, String, u64), At>,
    /// (scenario, design) -> (digest, where it was first seen).
    digests: HashMap<(String, String), (String, At)>,
    totals: Totals,
    failures: Vec<Failure>,
    designs: BTreeMap<String, DesignTally>,
    seeds: Option<(u64, u64)>,
    campaigns: BTreeMap<String, CampaignTally>,
}

impl Merger {
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Add every line of one file (`file` is its name in messages). Blank lines are skipped.
    pub fn add_file(&mut self, file: &str, reader: impl BufRead) -> Result<(), MergeError> {
        for (i, text) in reader.split(b'\n').enumerate() {
            let number = i as u64 + 1;
            let bytes = text.map_err(|e| MergeError::Read {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
            let malformed = |message: String| MergeError::Malformed {
                file: file.to_owned(),
                line: number,
                message,
            };
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| malformed(format!("not UTF-8 text ({e})")))?;
            if text.trim().is_empty() {
                continue;
            }
            let line: SweepLine = serde_json::from_str(text)
                .map_err(|e| malformed(format!("not a line of `sweep --format jsonl` ({e})")))?;
            self.add_line(line, (file.to_owned(), number))
                .map_err(|e| match e {
                    Err(message) => malformed(message),
                    Ok(conflict) => conflict,
                })?;
        }
        Ok(())
    }

    /// Add one parsed line. `Err(Err(message))`: the line is malformed; `Err(Ok(e))`: it
    /// conflicts with an earlier one.
    fn add_line(&mut self, line: SweepLine, at: At) -> Result<(), Result<MergeError, String>> {
        let summary = summary(&line).map_err(Err)?;
        let conflict = |first: &At, message: String| {
            Ok(MergeError::Conflict {
                first: first.clone(),
                second: at.clone(),
                message,
            })
        };
        match &self.build {
            None => self.build = Some((line.build.clone(), at.clone())),
            Some((build, first)) if *build != line.build => {
                return Err(conflict(
                    first,
                    format!(
                        "lines of different builds ({} and {}): merge only shards run by one \
                         binary (see `idemsim build-info`)",
                        build_id(build),
                        build_id(&line.build)
                    ),
                ));
            }
            Some(_) => {}
        }
        let design = line.design.name();
        let key = (line.scenario.clone(), design.clone());
        match self.digests.get(&key) {
            None => {
                self.digests
                    .insert(key, (line.scenario_digest.clone(), at.clone()));
            }
            Some((digest, first)) if *digest != line.scenario_digest => {
                return Err(conflict(
                    first,
                    format!(
                        "scenario {} under design {design} has different contents (digest {digest} \
                         and {}): the shards swept different scenario files",
                        line.scenario, line.scenario_digest
                    ),
                ));
            }
            Some(_) => {}
        }
        let run = (line.scenario_digest.clone(), design.clone(), line.seed);
        if let Some(first) = self.runs.get(&run) {
            return Err(conflict(
                first,
                format!(
                    "scenario {} seed {} under design {design} is there twice: overlapping \
                     shards (or a file given twice)",
                    line.scenario, line.seed
                ),
            ));
        }
        let shard: super::seeds::Shard = line.campaign.shard.parse().map_err(|e| {
            Err(format!(
                "campaign shard {:?} is not K/N ({e})",
                line.campaign.shard
            ))
        })?;
        if line.campaign.shard_runs > line.campaign.runs {
            return Err(Err(format!(
                "campaign: a shard of {} runs in a campaign of {}",
                line.campaign.shard_runs, line.campaign.runs
            )));
        }
        let tally = self
            .campaigns
            .entry(line.campaign.id.clone())
            .or_insert_with(|| CampaignTally {
                count: shard.count,
                runs: line.campaign.runs,
                shards: BTreeMap::new(),
                first: at.clone(),
            });
        if (tally.count, tally.runs) != (shard.count, line.campaign.runs) {
            return Err(conflict(
                &tally.first,
                format!(
                    "campaign {} is split into {} shards of {} runs on one line and {} of {} on \
                     the other",
                    line.campaign.id, tally.count, tally.runs, shard.count, line.campaign.runs
                ),
            ));
        }
        let (planned, present) = tally
            .shards
            .entry(shard.index)
            .or_insert((line.campaign.shard_runs, 0));
        *present += 1;
        if *present > *planned {
            return Err(Err(format!(
                "shard {shard} of campaign {} holds more runs than its plan's {planned}",
                line.campaign.id
            )));
        }
        self.runs.insert(run, at);

        self.totals.add(&summary);
        self.seeds = Some(match self.seeds {
            None => (line.seed, line.seed),
            Some((lo, hi)) => (lo.min(line.seed), hi.max(line.seed)),
        });
        let tally = self
            .designs
            .entry(design.clone())
            .or_insert_with(|| DesignTally {
                correct: true,
                runs: 0,
                failed: 0,
                rules: PerRule::default(),
                first: None,
            });
        tally.correct &= line.design.correct;
        tally.runs += 1;
        if !summary.passed() {
            tally.failed += 1;
            for rule in summary.rules() {
                tally.rules[rule] += 1;
            }
            let at = (line.seed, line.scenario.clone());
            if tally.first.as_ref().is_none_or(|f| at < *f) {
                tally.first = Some(at);
            }
            self.failures.push(Failure {
                seed: line.seed,
                scenario: line.scenario,
                design,
                rules: line.rules,
                violation: line.violation,
                file: line.file,
                replay: line.replay,
            });
        }
        Ok(())
    }

    /// The report of everything added.
    pub fn finish(mut self) -> Merged {
        self.failures.sort();
        let (mut missing_runs, mut missing_shards) = (0u64, 0u64);
        let (mut missing_shard_names, mut stopped_shards) = (Vec::new(), Vec::new());
        for tally in self.campaigns.values() {
            let present: u64 = tally.shards.values().map(|&(_, n)| n).sum();
            missing_runs = missing_runs.saturating_add(tally.runs.saturating_sub(present));
            missing_shards += tally.count - tally.shards.len() as u64;
            let mut index = 0;
            while missing_shard_names.len() < SHARDS_NAMED && index < tally.count {
                if !tally.shards.contains_key(&index) {
                    missing_shard_names.push(format!("{index}/{}", tally.count));
                }
                index += 1;
            }
            for (index, &(planned, present)) in &tally.shards {
                if present < planned {
                    stopped_shards.push(format!("{index}/{}", tally.count));
                }
            }
        }
        let mut scenarios: Vec<String> = self.digests.into_keys().map(|(s, _)| s).collect();
        scenarios.sort();
        scenarios.dedup();
        Merged {
            build: self.build.map(|(b, _)| b),
            totals: self.totals,
            scenarios,
            seeds: self.seeds,
            missing_runs,
            missing_shards,
            missing_shard_names,
            stopped_shards,
            failures: self.failures,
            designs: self
                .designs
                .into_iter()
                .map(|(name, t)| DesignRow {
                    name,
                    correct: t.correct,
                    runs: t.runs,
                    failed: t.failed,
                    rules: ranked(&t.rules),
                    first: t.first,
                })
                .collect(),
        }
    }
}

/// The short id of a `build` value, for messages.
pub fn build_id(build: &serde_json::Value) -> String {
    match build.get("id").and_then(serde_json::Value::as_str) {
        Some(id) => id.to_owned(),
        None => build.to_string(),
    }
}

/// The run a line describes, as [`Totals`] takes it; a message if the line contradicts
/// itself or names an unknown rule or fault kind.
fn summary(line: &SweepLine) -> Result<RunSummary, String> {
    let mut broken = RuleSet::EMPTY;
    for name in &line.rules {
        let rule = Rule::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| format!("unknown rule {name:?} in \"rules\""))?;
        broken = broken.with(rule);
    }
    if line.ok != line.rules.is_empty() {
        return Err(format!(
            "\"ok\" is {} but \"rules\" lists {} broken",
            line.ok,
            line.rules.len()
        ));
    }
    let mut untriggered = [0; FaultTag::COUNT];
    for (name, n) in &line.untriggered {
        let tag = FaultTag::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("unknown fault kind {name:?} in \"untriggered\""))?;
        untriggered[tag as usize] = n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("\"untriggered\".{name} is not a count: {n}"))?;
    }
    Ok(RunSummary {
        target: 0,
        seed: line.seed,
        broken,
        first: None,
        exit_code: line.exit_code,
        completed: line.completed,
        abandoned: line.abandoned,
        duplicates: line.duplicates,
        retries: line.retries,
        crashes: line.crashes,
        events: line.events,
        sim_us: line.sim_us,
        swarm: line.swarm.clone(),
        untriggered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(scenario: &str, seed: u64, rules: &[&str]) -> SweepLine {
        SweepLine {
            scenario: scenario.to_owned(),
            file: Some(format!("sim-scenarios/{scenario}.toml")),
            seed,
            ok: rules.is_empty(),
            rules: rules.iter().map(|r| (*r).to_owned()).collect(),
            violation: (!rules.is_empty()).then(|| "boom".to_owned()),
            exit_code: u8::from(!rules.is_empty()),
            completed: 10,
            abandoned: 0,
            duplicates: 1,
            retries: 2,
            crashes: 3,
            events: 100,
            sim_us: 1_000_000,
            swarm: None,
            untriggered: serde_json::Map::new(),
            replay: format!("idemsim run --seed {seed} --build b1 --trace text"),
            build: serde_json::json!({"id": "b1", "version": "0.1.0", "commit": null}),
            scenario_digest: format!("digest-{scenario}"),
            design: LineDesign {
                dedup: "off".to_owned(),
                reads: "log".to_owned(),
                on_restart: "fresh-id".to_owned(),
                mutations: vec![],
                swarm: false,
                window: 1,
                correct: false,
            },
            campaign: LineCampaign {
                id: "c1".to_owned(),
                seeds: "0..3".to_owned(),
                shard: "0/1".to_owned(),
                runs: 6,
                shard_runs: 6,
            },
            html: None,
        }
    }

    /// `line`, as shard `seed % 2` of two (scenarios a and b, seeds 0..3).
    fn sharded(scenario: &str, seed: u64) -> SweepLine {
        let mut l = line(scenario, seed, &[]);
        l.campaign.shard = format!("{}/2", seed % 2);
        l.campaign.shard_runs = if seed % 2 == 0 { 4 } else { 2 };
        l
    }

    fn file(lines: &[SweepLine]) -> String {
        lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect()
    }

    fn merge(files: &[(&str, String)]) -> Result<Merged, MergeError> {
        let mut m = Merger::new();
        for (name, text) in files {
            m.add_file(name, text.as_bytes())?;
        }
        Ok(m.finish())
    }

    /// Shards merge to what the whole merges to, failures come smallest seed first, and the
    /// design row counts its catches.
    #[test]
    fn shards_merge_like_the_whole() {
        let all = vec![
            line("a", 0, &[]),
            line("a", 1, &["exactly-once"]),
            line("a", 2, &[]),
            line("b", 0, &["exactly-once", "liveness"]),
            line("b", 1, &[]),
            line("b", 2, &["exactly-once"]),
        ];
        let whole = merge(&[("all", file(&all))]).unwrap();
        let even: Vec<SweepLine> = all.iter().filter(|l| l.seed % 2 == 0).cloned().collect();
        let odd: Vec<SweepLine> = all.iter().filter(|l| l.seed % 2 == 1).cloned().collect();
        let parts = merge(&[("odd", file(&odd)), ("even", file(&even))]).unwrap();
        for m in [&whole, &parts] {
            assert_eq!(m.totals.runs, 6);
            assert_eq!(m.totals.failed, 3);
            assert_eq!(m.totals.broke(Rule::ExactlyOnce), 3);
            assert_eq!(m.exit_code(), 1);
            let order: Vec<(u64, &str)> = m
                .failures
                .iter()
                .map(|f| (f.seed, f.scenario.as_str()))
                .collect();
            assert_eq!(order, [(0, "b"), (1, "a"), (2, "b")]);
            assert_eq!(m.designs.len(), 1);
            let row = &m.designs[0];
            assert_eq!((row.runs, row.failed), (6, 3));
            assert_eq!(row.rules, [(Rule::ExactlyOnce, 3), (Rule::Liveness, 1)]);
            assert_eq!(row.first, Some((0, "b".to_owned())));
            assert!(row.as_expected() && m.flawed_designs());
            assert_eq!(m.scenarios, ["a", "b"]);
        }
        assert_eq!(whole.failures, parts.failures);
        assert_eq!((whole.missing_runs, parts.missing_runs), (0, 0));

        // Half of the only shard: it stopped early.
        let alone = merge(&[("even", file(&even))]).unwrap();
        assert_eq!(alone.seeds, Some((0, 2)));
        assert_eq!(alone.missing_runs, 2);
        assert_eq!(alone.stopped_shards, ["0/1"]);
        assert_eq!(alone.missing_shards, 0);
    }

    /// A shard never given is named, and its runs counted as missing; a whole campaign has
    /// no gaps; lines of one campaign that disagree on its plan are refused.
    #[test]
    fn missing_shards_are_named() {
        let shard0: Vec<SweepLine> = ["a", "b"]
            .iter()
            .flat_map(|s| [sharded(s, 0), sharded(s, 2)])
            .collect();
        let shard1 = vec![sharded("a", 1), sharded("b", 1)];
        let whole = merge(&[("0", file(&shard0)), ("1", file(&shard1))]).unwrap();
        assert_eq!((whole.missing_runs, whole.missing_shards), (0, 0));
        assert!(whole.stopped_shards.is_empty());

        let part = merge(&[("0", file(&shard0))]).unwrap();
        assert_eq!((part.missing_runs, part.missing_shards), (2, 1));
        assert_eq!(part.missing_shard_names, ["1/2"]);
        assert!(part.stopped_shards.is_empty());

        let mut other_plan = sharded("a", 1);
        other_plan.campaign.shard = "1/3".to_owned();
        let e = merge(&[("0", file(&shard0)), ("1", file(&[other_plan]))]).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        assert!(e.to_string().starts_with("0:1 and 1:1: campaign c1"), "{e}");

        let mut bad = sharded("a", 1);
        bad.campaign.shard = "2/2".to_owned();
        let e = merge(&[("f", file(&[bad]))]).unwrap_err();
        assert!(e.to_string().starts_with("f:1: campaign shard"), "{e}");
    }

    /// Different builds, a run twice, changed scenario contents and malformed lines are
    /// refused naming the file and line (both files for a conflict).
    #[test]
    fn mismatched_or_malformed_inputs_are_refused() {
        let a = file(&[line("a", 0, &[]), line("a", 1, &[])]);
        let mut other = line("a", 2, &[]);
        other.build = serde_json::json!({"id": "b2", "version": "0.1.0", "commit": null});
        let e = merge(&[("one", a.clone()), ("two", file(&[other]))]).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        let text = e.to_string();
        assert!(
            text.starts_with("one:1 and two:1: ") && text.contains("b1 and b2"),
            "{text}"
        );

        let e = merge(&[("one", a.clone()), ("two", file(&[line("a", 1, &[])]))]).unwrap_err();
        assert!(e.to_string().starts_with("one:2 and two:1: "), "{e}");
        assert!(e.to_string().contains("twice"), "{e}");
        let e = merge(&[("one", a.clone() + &a)]).unwrap_err();
        assert!(e.to_string().starts_with("one:1 and one:3: "), "{e}");

        let mut changed = line("a", 5, &[]);
        changed.scenario_digest = "other".to_owned();
        let e = merge(&[("one", a.clone()), ("two", file(&[changed]))]).unwrap_err();
        assert!(e.to_string().contains("different contents"), "{e}");

        let mut lying = line("a", 5, &["exactly-once"]);
        lying.ok = true;
        for (text, wanted) in [
            (
                "\n{not json\n".to_owned(),
                "f:2: not a line of `sweep --format jsonl`",
            ),
            ("{\"seed\": 1}\n".to_owned(), "f:1: not a line"),
            (file(&[lying]), "f:1: \"ok\" is true"),
            (
                file(&[line("a", 5, &["no-such-rule"])]),
                "f:1: unknown rule \"no-such-rule\"",
            ),
        ] {
            let e = merge(&[("f", text)]).unwrap_err();
            assert_eq!(e.exit_code(), 65);
            assert!(e.to_string().starts_with(wanted), "{e}");
        }
        let e = merge(&[("f", "\u{0}\u{ff}".to_owned())]);
        assert!(e.is_err());
        let bad_utf8: &[u8] = b"\xff\xfe\n";
        let e = Merger::new().add_file("f", bad_utf8).unwrap_err();
        assert!(e.to_string().starts_with("f:1: not UTF-8"), "{e}");
    }

    /// The client window is part of a design: `last-seq` at window 1 (correct) and at window
    /// 4 (flawed) are two rows, not one row mixing both.
    #[test]
    fn the_window_tells_designs_apart() {
        let mut one = line("a", 0, &[]);
        one.design.dedup = "last-seq".to_owned();
        one.design.correct = true;
        let mut four = line("b", 0, &["exactly-once"]);
        four.design.dedup = "last-seq".to_owned();
        four.design.window = 4;
        let m = merge(&[("f", file(&[one, four]))]).unwrap();
        let rows: Vec<(&str, bool)> = m
            .designs
            .iter()
            .map(|d| (d.name.as_str(), d.correct))
            .collect();
        assert_eq!(rows, [("last-seq", true), ("last-seq + window 4", false)]);
    }

    /// No lines: an empty report that passes.
    #[test]
    fn empty_shards_merge_to_nothing() {
        let m = merge(&[("empty", String::new())]).unwrap();
        assert_eq!(m.totals.runs, 0);
        assert_eq!(m.exit_code(), 0);
        assert!(m.build.is_none() && m.failures.is_empty() && m.designs.is_empty());
    }
}

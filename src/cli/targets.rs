//! Loading the scenarios a command runs, with the designs the command line chose.

use std::path::{Path, PathBuf};

use super::DesignArgs;
use crate::campaign::Target;
use crate::scenario::{self, ScenarioError, SwarmSpec};

/// Load `paths` (or the built-in default scenario when there are none) and apply the
/// command line's design overrides. On a bad file: the message is printed and the exit code
/// returned.
pub fn load(paths: &[PathBuf], design: Option<&DesignArgs>) -> Result<Vec<Target>, u8> {
    let mut targets = Vec::with_capacity(paths.len().max(1));
    if paths.is_empty() {
        targets.push(Target {
            path: None,
            scenario: scenario::default_scenario(),
        });
    }
    for path in paths {
        let scenario = scenario::load(path).map_err(report)?;
        targets.push(Target {
            path: Some(path.clone()),
            scenario,
        });
    }
    if let Some(design) = design {
        for t in &mut targets {
            if let Some(dedup) = design.dedup {
                t.scenario.dedup = dedup;
            }
            if let Some(reads) = design.reads {
                t.scenario.server.reads = reads;
            }
            if let Some(on_restart) = design.on_restart {
                t.scenario.clients.on_restart = on_restart;
            }
            for &m in &design.mutations {
                t.scenario.mutations = t.scenario.mutations.with(m);
            }
            if design.swarm && t.scenario.swarm.is_none() {
                t.scenario.swarm = Some(SwarmSpec::default());
            }
        }
    }
    Ok(targets)
}

/// Every `*.toml` in `dir`, sorted; a clear error if there is none.
pub fn shipped(dir: &Path) -> Result<Vec<PathBuf>, u8> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        eprintln!(
            "error: no scenarios given and {} cannot be read ({e}); pass scenario files or run from the project root",
            dir.display()
        );
        66
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        eprintln!("error: no scenario files (*.toml) in {}", dir.display());
        return Err(66);
    }
    Ok(files)
}

fn report(e: ScenarioError) -> u8 {
    eprintln!("error: {e}");
    e.exit_code()
}

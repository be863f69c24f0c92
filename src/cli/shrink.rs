//! `idemsim shrink`.

use std::path::PathBuf;
use std::time::Instant;

use super::run::replay_command;
use super::summary::{plural, thousands};
use super::{ShrinkArgs, targets};
use crate::campaign::shrink::{Size, shrink as shrink_run};
use crate::sim::stream_rng;

pub fn shrink(args: &ShrinkArgs) -> u8 {
    let paths: Vec<PathBuf> = args.scenario.iter().cloned().collect();
    let target = match targets::load(&paths, Some(&args.design)) {
        Ok(mut t) => t.remove(0),
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or(target.scenario.seed);
    let original = replay_command(target.path.as_deref(), seed, &target.scenario, None);
    // A swarm run is shrunk as the scenario its seed drew.
    let mut swarm_rng = stream_rng(seed, crate::sim::SWARM_STREAM);
    let (concrete, _) = target.scenario.for_seed(&mut swarm_rng);

    let started = Instant::now();
    let Some(shrunk) = shrink_run(&concrete, seed) else {
        eprintln!("error: the run passes, so there is nothing to shrink: {original}");
        return 2;
    };
    let wall = started.elapsed();

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.seed{seed}.min.toml", target.scenario.name)));
    let mut minimal = shrunk.scenario.clone();
    minimal.name = format!("{}-shrunk", target.scenario.name);
    minimal.description = Some(format!(
        "The smallest scenario found that still breaks {} with seed {seed}.",
        shrunk.rule
    ));
    minimal.seed = seed;
    let replay = replay_command(Some(&out), seed, &minimal, None);
    let comments = vec![
        format!("Shrunk by idemsim shrink from: {original}"),
        format!(
            "It still breaks {} with seed {seed}; {} candidate runs were tried.",
            shrunk.rule, shrunk.tries
        ),
        format!("Before: {}.", describe(&shrunk.before)),
        format!("After:  {}.", describe(&shrunk.after)),
        format!("Replay: {replay}"),
    ];
    let text = crate::scenario::to_toml(&minimal, &comments);
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return 1;
    }
    println!("rule      {} still broken with seed {seed}", shrunk.rule);
    println!("before    {}", describe(&shrunk.before));
    println!("after     {}", describe(&shrunk.after));
    println!(
        "work      {} candidate runs in {:.2} s",
        thousands(shrunk.tries),
        wall.as_secs_f64()
    );
    println!("wrote     {}", out.display());
    println!("replay    {replay}");
    0
}

fn describe(s: &Size) -> String {
    format!(
        "{} · {} · {} · {} · {}",
        plural(s.faults as u64, "fault", "faults"),
        plural(u64::from(s.nodes), "node", "nodes"),
        plural(u64::from(s.clients), "client", "clients"),
        plural(s.ops, "op", "ops"),
        plural(s.events, "event", "events"),
    )
}

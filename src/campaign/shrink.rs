//! Shrinking a failing run: delta debugging over the scenario, with the seed fixed.
//!
//! A candidate is the scenario with something taken away (faults, clients, operations,
//! nodes, network noise, loss and duplication in network windows, time). It is kept only if
//! it is still a valid scenario file and its run, with the same seed, still breaks the same
//! rule. Passes repeat until none makes progress, so the result is 1-minimal along each of
//! those axes.

use crate::scenario::{self, FaultKind, NodeSelector, Scenario, Split};
use crate::sim::{RunOptions, RunReport, run};
use crate::verdict::Rule;

/// The sizes a shrink reports, before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub faults: usize,
    pub nodes: u8,
    pub clients: u32,
    pub ops: u64,
    pub events: u64,
}

/// A finished shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The rule the run breaks, before and after.
    pub rule: Rule,
    pub before: Size,
    pub after: Size,
    pub scenario: Scenario,
    /// Candidate runs tried.
    pub tries: u64,
}

/// The first rule `report` breaks, if any.
fn broken(report: &RunReport) -> Option<Rule> {
    report.violations.broken().iter().next()
}

fn size(s: &Scenario, report: &RunReport) -> Size {
    Size {
        faults: s.faults.len(),
        nodes: s.cluster.nodes,
        clients: s.clients.count,
        ops: u64::from(s.clients.count) * s.clients.ops,
        events: report.events,
    }
}

/// Would this scenario be accepted as a file? (Shrinking must end in a file that runs.)
fn valid(s: &Scenario) -> bool {
    scenario::parse("candidate.toml", &scenario::to_toml(s, &[])).is_ok()
}

struct Shrinker {
    seed: u64,
    rule: Rule,
    best: Scenario,
    best_report: RunReport,
    tries: u64,
}

impl Shrinker {
    /// Keep `candidate` if it is valid and still breaks the rule.
    fn try_keep(&mut self, candidate: Scenario) -> bool {
        if candidate == self.best || !valid(&candidate) {
            return false;
        }
        self.tries += 1;
        let report = run(&candidate, RunOptions::new(self.seed));
        if report.violations.count(self.rule) == 0 {
            return false;
        }
        self.best = candidate;
        self.best_report = report;
        true
    }

    /// Try each of `candidates` in turn (built from the current best), keeping the first
    /// that still fails; true if one was kept.
    fn first_of(&mut self, candidates: impl IntoIterator<Item = Scenario>) -> bool {
        for candidate in candidates {
            if self.try_keep(candidate) {
                return true;
            }
        }
        false
    }

    /// Remove faults: halves first (ddmin), then one at a time.
    fn faults(&mut self) -> bool {
        let mut progress = false;
        let mut chunk = self.best.faults.len().div_ceil(2).max(1);
        while chunk >= 1 && !self.best.faults.is_empty() {
            let mut removed = false;
            let mut start = 0;
            while start < self.best.faults.len() {
                let mut candidate = self.best.clone();
                let end = (start + chunk).min(candidate.faults.len());
                candidate.faults.drain(start..end);
                if self.try_keep(candidate) {
                    removed = true;
                    progress = true;
                } else {
                    start += chunk;
                }
            }
            if !removed {
                if chunk == 1 {
                    break;
                }
                chunk = chunk.div_ceil(2);
            }
        }
        progress
    }

    /// Fewer clients, fewer operations each.
    fn workload(&mut self) -> bool {
        let mut progress = false;
        loop {
            let count = self.best.clients.count;
            let ops = self.best.clients.ops;
            let fewer_clients = [1, count / 2, count.saturating_sub(1)];
            let fewer_ops = [1, ops / 2, ops.saturating_sub(1)];
            let mut candidates = Vec::new();
            for c in fewer_clients.into_iter().filter(|&c| c >= 1 && c < count) {
                let mut s = self.best.clone();
                s.clients.count = c;
                candidates.push(s);
            }
            for o in fewer_ops.into_iter().filter(|&o| o >= 1 && o < ops) {
                let mut s = self.best.clone();
                s.clients.ops = o;
                candidates.push(s);
            }
            if !self.first_of(candidates) {
                return progress;
            }
            progress = true;
        }
    }

    /// Simpler sessions: no pipelining (or a smaller window), no expiry, no bound on the
    /// table, no registration; each tried on its own, as long as one helps.
    fn sessions(&mut self) -> bool {
        let mut progress = false;
        loop {
            let b = &self.best;
            let mut candidates = Vec::new();
            let window = b.clients.window;
            for w in [1, window / 2]
                .into_iter()
                .filter(|&w| w >= 1 && w < window)
            {
                let mut s = b.clone();
                s.clients.window = w;
                candidates.push(s);
            }
            if b.server.session_timeout_ms > 0 {
                let mut s = b.clone();
                s.server.session_timeout_ms = 0;
                candidates.push(s);
            }
            if b.server.max_sessions > 0 {
                let mut s = b.clone();
                s.server.max_sessions = 0;
                candidates.push(s);
            }
            if b.clients.register {
                let mut s = b.clone();
                s.clients.register = false; // valid only once the bounds are gone
                candidates.push(s);
            }
            if !self.first_of(candidates) {
                return progress;
            }
            progress = true;
        }
    }

    /// No compaction, if the run still fails without it (valid only once no fault waits
    /// for a snapshot moment).
    fn snapshots(&mut self) -> bool {
        if self.best.cluster.snapshot_every == 0 {
            return false;
        }
        let mut s = self.best.clone();
        s.cluster.snapshot_every = 0;
        self.first_of([s])
    }

    /// Fewer nodes, where every fault still names nodes that exist.
    fn nodes(&mut self) -> bool {
        let nodes = self.best.cluster.nodes;
        let candidates = [1, 3, nodes.saturating_sub(1)]
            .into_iter()
            .filter(|&n| n >= 1 && n < nodes)
            .filter_map(|n| {
                let mut s = self.best.clone();
                s.cluster.nodes = n;
                fit_faults(&mut s).then_some(s)
            });
        let candidates: Vec<Scenario> = candidates.collect();
        self.first_of(candidates)
    }

    /// No loss, no duplication, no delay spread, no think time, one key, a simpler mix:
    /// each tried on its own against the best so far.
    fn noise(&mut self) -> bool {
        fn drop_kind(s: &mut Scenario, kind: usize) {
            if s.clients.mix.weights.iter().filter(|&&w| w > 0).count() > 1 {
                s.clients.mix.weights[kind] = 0;
            }
        }
        let simplifications: [fn(&mut Scenario); 10] = [
            |s| s.network.drop = 0.0,
            |s| s.network.duplicate = 0.0,
            |s| s.network.delay_ms = (s.network.delay_ms.0, s.network.delay_ms.0.max(1)),
            |s| s.clients.think_ms = (0, 0),
            |s| s.clients.keys = 1,
            |s| drop_kind(s, 0),
            |s| drop_kind(s, 1),
            |s| drop_kind(s, 2),
            |s| drop_kind(s, 3),
            |s| drop_kind(s, 4),
        ];
        let mut progress = false;
        for simplify in simplifications {
            let mut candidate = self.best.clone();
            simplify(&mut candidate);
            progress |= self.try_keep(candidate);
        }
        progress
    }

    /// Earlier faults (so fewer operations are needed before them), shorter restarts and
    /// heals, then shorter fault and liveness phases.
    fn time(&mut self) -> bool {
        let mut progress = false;
        for i in 0..self.best.faults.len() {
            loop {
                let at_ms = self.best.faults[i].at_ms;
                let candidates: Vec<Scenario> = [0, at_ms / 2, at_ms * 3 / 4]
                    .into_iter()
                    .filter(|&t| t < at_ms)
                    .map(|t| {
                        let mut s = self.best.clone();
                        s.faults[i].at_ms = t;
                        s
                    })
                    .collect();
                if !self.first_of(candidates) {
                    break;
                }
                progress = true;
            }
            let shorter = |ms: Option<u64>| ms.map(|ms| ms / 2);
            let mut s = self.best.clone();
            match &mut s.faults[i].kind {
                FaultKind::Crash {
                    restart_after_ms, ..
                }
                | FaultKind::ClientCrash {
                    restart_after_ms, ..
                } => *restart_after_ms = shorter(*restart_after_ms),
                FaultKind::Partition { heal_after_ms, .. } => {
                    *heal_after_ms = shorter(*heal_after_ms)
                }
                FaultKind::Network { for_ms, .. } | FaultKind::Clock { for_ms, .. } => {
                    *for_ms = (*for_ms / 2).max(1)
                }
                FaultKind::Replay { count } | FaultKind::StaleReplay { count, .. } => {
                    *count = (*count / 2).max(1)
                }
            }
            progress |= self.try_keep(s);
            progress |= self.quieter_window(i);
        }
        loop {
            let b = &self.best;
            let last_fault = b.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
            let mut candidates = Vec::new();
            let shorter = (b.duration_ms / 2).max(last_fault + 1);
            if shorter < b.duration_ms {
                let mut s = b.clone();
                s.duration_ms = shorter;
                candidates.push(s);
            }
            if b.liveness_ms > 1000 {
                let mut s = b.clone();
                s.liveness_ms = (b.liveness_ms / 2).max(1000);
                candidates.push(s);
            }
            if !self.first_of(candidates) {
                return progress;
            }
            progress = true;
        }
    }
}

impl Shrinker {
    /// A network window without its loss, then without its duplication: each zeroed on its
    /// own, kept if the run still fails.
    fn quieter_window(&mut self, i: usize) -> bool {
        let mut progress = false;
        for zero_loss in [true, false] {
            let mut s = self.best.clone();
            let FaultKind::Network {
                drop, duplicate, ..
            } = &mut s.faults[i].kind
            else {
                return progress;
            };
            let p = if zero_loss { drop } else { duplicate };
            if p.is_some_and(|p| p > 0.0) {
                *p = Some(0.0);
                progress |= self.try_keep(s);
            }
        }
        progress
    }
}

/// Drop what the faults say about nodes past `s.cluster.nodes`; false if a fault cannot be
/// kept meaningful with fewer nodes (then that candidate is not tried).
fn fit_faults(s: &mut Scenario) -> bool {
    let nodes = s.cluster.nodes;
    let exists = |sel: &NodeSelector| !matches!(sel, NodeSelector::Node(id) if id.0 > nodes);
    s.faults.iter().all(|f| match &f.kind {
        FaultKind::Crash { node, .. } | FaultKind::Clock { node, .. } => exists(node),
        FaultKind::Partition { split, .. } => match split {
            Split::Isolate(sel) => nodes >= 2 && exists(sel),
            Split::Groups(_) => false,
        },
        FaultKind::Replay { .. }
        | FaultKind::StaleReplay { .. }
        | FaultKind::ClientCrash { .. }
        | FaultKind::Network { .. } => true,
    })
}

/// Shrink `scenario` (already with its designs and any swarm drawn) while its run with
/// `seed` keeps breaking the rule it breaks now. `None` if it does not fail at all.
pub fn shrink(scenario: &Scenario, seed: u64) -> Option<Shrunk> {
    let report = run(scenario, RunOptions::new(seed));
    let rule = broken(&report)?;
    let before = size(scenario, &report);
    let mut shrinker = Shrinker {
        seed,
        rule,
        best: scenario.clone(),
        best_report: report,
        tries: 1,
    };
    loop {
        let mut progress = shrinker.faults();
        progress |= shrinker.workload();
        progress |= shrinker.sessions();
        progress |= shrinker.snapshots();
        progress |= shrinker.nodes();
        progress |= shrinker.noise();
        progress |= shrinker.time();
        if !progress {
            break;
        }
    }
    let after = size(&shrinker.best, &shrinker.best_report);
    Some(Shrunk {
        rule,
        before,
        after,
        scenario: shrinker.best,
        tries: shrinker.tries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::Dedup;
    use crate::scenario::FaultSpec;

    /// A network window that the failure does not need keeps its slot but loses its loss and
    /// duplication, one at a time.
    #[test]
    fn network_windows_are_quieted() {
        let mut s = scenario::default_scenario();
        s.dedup = Dedup::Off;
        s.faults.push(FaultSpec {
            at_ms: 4_000,
            kind: FaultKind::Network {
                for_ms: 500,
                drop: Some(0.2),
                duplicate: Some(0.3),
                delay_ms: Some((1, 20)),
            },
        });
        let window = s.faults.len() - 1;
        let report = run(&s, RunOptions::new(42));
        let rule = broken(&report).expect("dedup off fails on seed 42");
        let mut shrinker = Shrinker {
            seed: 42,
            rule,
            best: s,
            best_report: report,
            tries: 0,
        };
        assert!(shrinker.quieter_window(window));
        assert_eq!(
            shrinker.tries, 2,
            "loss and duplication tried one at a time"
        );
        let FaultKind::Network {
            drop, duplicate, ..
        } = &shrinker.best.faults[window].kind
        else {
            panic!("the window is still a network fault");
        };
        assert_eq!((*drop, *duplicate), (Some(0.0), Some(0.0)));
    }
}

//! Swarm faults: each seed draws its own fault profile (Groce et al., "Swarm Testing"), so a
//! sweep explores crash-heavy runs, partition-heavy runs, lossy runs and quiet runs instead
//! of one average mix. A profile is drawn from the seed's own swarm stream, then turned into
//! ordinary faults and network settings: a swarm run is a plain scenario, replayable with
//! the same seed.

use std::fmt;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{ClientSelector, CrashWhen, FaultKind, FaultSpec, NodeSelector, Scenario, Split};
use crate::ids::NodeId;

/// Longest client timeout a scenario file may give (validation's limit for delays).
const MAX_TIMEOUT_MS: u64 = 60_000;
/// Longest liveness phase a scenario file may give.
const MAX_LIVENESS_MS: u64 = 86_400_000;

/// Which fault families a swarm may draw (`[swarm]`; every key optional, all on by default).
/// Each seed turns each allowed family on or off by a coin flip, then draws its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwarmSpec {
    pub crashes: bool,
    pub partitions: bool,
    pub network: bool,
    pub client_crashes: bool,
    pub replays: bool,
    pub timeouts: bool,
    /// Pipelining windows, registration, session timeouts and bounds, and clock faults.
    pub sessions: bool,
    /// Compaction (`snapshot_every`) and crashes mid-snapshot and mid-install.
    pub snapshots: bool,
}

impl Default for SwarmSpec {
    fn default() -> SwarmSpec {
        SwarmSpec {
            crashes: true,
            partitions: true,
            network: true,
            client_crashes: true,
            replays: true,
            timeouts: true,
            sessions: true,
            snapshots: true,
        }
    }
}

/// How node crashes come, when they come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPattern {
    /// One to three crashes, long downtimes (or down until the liveness phase).
    LongAndFew,
    /// Four to twelve crashes, restarts within a few hundred milliseconds.
    ShortAndMany,
}

/// Partition shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionMode {
    /// Two random groups that cannot talk.
    Symmetric,
    /// Two random groups; only what the first sends is lost.
    OneWay,
    /// The leader, alone.
    IsolateLeader,
}

impl PartitionMode {
    fn name(self) -> &'static str {
        match self {
            PartitionMode::Symmetric => "symmetric",
            PartitionMode::OneWay => "one-way",
            PartitionMode::IsolateLeader => "isolate-leader",
        }
    }
}

/// What one seed drew; printed in the run header so a failing seed explains itself.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmProfile {
    pub crash_pattern: Option<CrashPattern>,
    pub crashes: usize,
    pub crash_points: Vec<CrashWhen>,
    pub partition_modes: Vec<PartitionMode>,
    pub partitions: usize,
    pub drop: f64,
    pub duplicate: f64,
    pub delay_ms: (u64, u64),
    pub windows: usize,
    pub client_timeout_ms: u64,
    pub client_crashes: usize,
    pub replays: usize,
    /// Stale replays aimed at a new leader's unapplied entries.
    pub stale_replays: usize,
    /// The liveness budget, raised if the drawn delays need it.
    pub liveness_ms: u64,
    /// Sessions as drawn (`None`: the file's): window, register, timeout, bound.
    pub sessions: Option<(u32, bool, u64, u32)>,
    pub clock_faults: usize,
    /// Compaction as drawn (`None`: the file's): entries between snapshots, and crashes
    /// mid-snapshot or mid-install.
    pub snapshots: Option<(u64, usize)>,
}

/// `1 crash`, `3 crashes`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for SwarmProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.crash_pattern {
            None => f.write_str("no crashes")?,
            Some(pattern) => {
                let name = match pattern {
                    CrashPattern::LongAndFew => "long and few",
                    CrashPattern::ShortAndMany => "short and many",
                };
                let points: Vec<&str> = self.crash_points.iter().map(|w| w.name()).collect();
                let crashes = count(self.crashes, "crash", "crashes");
                write!(f, "{crashes} ({name}; {})", points.join(", "))?;
            }
        }
        if self.partitions > 0 {
            let modes: Vec<&str> = self.partition_modes.iter().map(|m| m.name()).collect();
            let partitions = count(self.partitions, "partition", "partitions");
            write!(f, " · {partitions} ({})", modes.join(", "))?;
        }
        write!(
            f,
            " · drop {:.3} duplicate {:.3} delay [{}, {}] ms",
            self.drop, self.duplicate, self.delay_ms.0, self.delay_ms.1
        )?;
        if self.windows > 0 {
            write!(
                f,
                " · {}",
                count(self.windows, "lossy window", "lossy windows")
            )?;
        }
        write!(f, " · client timeout {} ms", self.client_timeout_ms)?;
        if self.client_crashes > 0 {
            let crashes = count(self.client_crashes, "client crash", "client crashes");
            write!(f, " · {crashes}")?;
        }
        if self.replays > 0 {
            write!(f, " · {}", count(self.replays, "replay", "replays"))?;
        }
        if self.stale_replays > 0 {
            let stale = count(self.stale_replays, "stale replay", "stale replays");
            write!(f, " · {stale}")?;
        }
        if let Some((window, register, timeout_ms, max)) = self.sessions {
            write!(f, " · window {window}")?;
            if register {
                f.write_str(" · registered sessions")?;
                if timeout_ms > 0 {
                    write!(f, " expiring after {timeout_ms} ms")?;
                }
                if max > 0 {
                    write!(f, " · at most {max} sessions")?;
                }
            }
        }
        if let Some((every, crashes)) = self.snapshots {
            write!(f, " · snapshot every {every} entries")?;
            if crashes > 0 {
                let crashes = count(crashes, "snapshot crash", "snapshot crashes");
                write!(f, " ({crashes})")?;
            }
        }
        if self.clock_faults > 0 {
            write!(
                f,
                " · {}",
                count(self.clock_faults, "clock fault", "clock faults")
            )?;
        }
        write!(f, " · liveness budget {} ms", self.liveness_ms)
    }
}

/// The scenario `base` becomes for one seed under `spec`: its own faults, plus the drawn
/// ones, with the drawn network and client timeout. `rng` is the seed's swarm stream.
pub fn instantiate(
    base: &Scenario,
    spec: &SwarmSpec,
    rng: &mut ChaCha8Rng,
) -> (Scenario, SwarmProfile) {
    let mut s = base.clone();
    let nodes = s.cluster.nodes;
    let phase_ms = s.duration_ms;
    let election_min_ms = s.cluster.election_timeout_ms.0;

    // Network: a delay spread that keeps elections possible (a round trip well inside the
    // smallest election timeout), base loss and duplication, lossy windows.
    let network_on = spec.network && rng.random_bool(0.5);
    if network_on {
        let spreads = [2, 10, 30, (election_min_ms / 3).max(2)];
        let max = spreads[rng.random_range(0..spreads.len())];
        s.network.delay_ms = (rng.random_range(0..=max.min(2)), max);
        s.network.drop = if rng.random_bool(0.5) {
            rng.random_range(0.0..0.1)
        } else {
            0.0
        };
        s.network.duplicate = if rng.random_bool(0.5) {
            rng.random_range(0.0..0.2)
        } else {
            0.0
        };
    }
    let windows = if network_on {
        rng.random_range(0..=2usize)
    } else {
        0
    };
    for _ in 0..windows {
        s.faults.push(FaultSpec {
            at_ms: rng.random_range(0..phase_ms),
            kind: FaultKind::Network {
                for_ms: rng.random_range(200..=1500),
                drop: Some(rng.random_range(0.1..0.4)),
                duplicate: Some(rng.random_range(0.1..0.5)),
                delay_ms: None,
            },
        });
    }

    // Client timeouts: from barely above a round trip to generous (and never past what a
    // scenario file may say).
    if spec.timeouts && rng.random_bool(0.5) {
        let floor = (4 * s.network.delay_ms.1).clamp(20, MAX_TIMEOUT_MS);
        s.clients.timeout_ms = rng.random_range(floor..=floor.clamp(500, MAX_TIMEOUT_MS));
    }
    // The liveness phase must have room for a whole workload at the drawn delays: a long
    // crash or partition can leave nearly all of it for after the faults heal.
    let per_op_ms = 4 * s.network.delay_ms.1 + s.clients.think_ms.1 + 1;
    let needed_ms = 2 * s.clients.ops * per_op_ms + 10 * s.cluster.election_timeout_ms.1;
    s.liveness_ms = s.liveness_ms.max(needed_ms.min(MAX_LIVENESS_MS));

    // Node crashes: a pattern, and the crash points this seed uses.
    let crash_pattern = (spec.crashes && rng.random_bool(0.5)).then(|| {
        if rng.random_bool(0.5) {
            CrashPattern::LongAndFew
        } else {
            CrashPattern::ShortAndMany
        }
    });
    let mut crash_points: Vec<CrashWhen> = CrashWhen::ALL
        .into_iter()
        .filter(|_| rng.random_bool(0.5))
        .collect();
    if crash_points.is_empty() {
        crash_points.push(CrashWhen::ALL[rng.random_range(0..CrashWhen::ALL.len())]);
    }
    let crashes = match crash_pattern {
        None => 0,
        Some(CrashPattern::LongAndFew) => rng.random_range(1..=3),
        Some(CrashPattern::ShortAndMany) => rng.random_range(4..=12),
    };
    for _ in 0..crashes {
        let when = crash_points[rng.random_range(0..crash_points.len())];
        if when.is_follower_moment() {
            // Back within a few milliseconds, in the same term: where a vote or entries not
            // kept across the crash show.
            let node = if rng.random_bool(0.8) {
                NodeSelector::Follower
            } else {
                NodeSelector::Node(NodeId(rng.random_range(1..=nodes)))
            };
            s.faults.push(FaultSpec {
                at_ms: rng.random_range(0..phase_ms),
                kind: FaultKind::Crash {
                    node,
                    when,
                    restart_after_ms: Some(rng.random_range(1..=30)),
                },
            });
            continue;
        }
        let node = if when != CrashWhen::Now || rng.random_bool(0.6) {
            if rng.random_bool(0.8) {
                NodeSelector::Leader
            } else {
                NodeSelector::Node(NodeId(rng.random_range(1..=nodes)))
            }
        } else {
            [NodeSelector::Follower, NodeSelector::MostUncommitted][rng.random_range(0..2)]
        };
        let restart_after_ms = match crash_pattern {
            Some(CrashPattern::ShortAndMany) => Some(rng.random_range(10..=300)),
            _ if rng.random_bool(0.3) => None,
            _ => Some(rng.random_range(800..=2500)),
        };
        s.faults.push(FaultSpec {
            at_ms: rng.random_range(0..phase_ms),
            kind: FaultKind::Crash {
                node,
                when,
                restart_after_ms,
            },
        });
    }

    // Partitions: which shapes this seed uses, and how many.
    let mut partition_modes = Vec::new();
    let mut partitions = 0;
    if spec.partitions && nodes >= 2 && rng.random_bool(0.5) {
        for mode in [
            PartitionMode::Symmetric,
            PartitionMode::OneWay,
            PartitionMode::IsolateLeader,
        ] {
            if rng.random_bool(0.5) {
                partition_modes.push(mode);
            }
        }
        if partition_modes.is_empty() {
            partition_modes.push(PartitionMode::Symmetric);
        }
        partitions = rng.random_range(1..=3);
        for _ in 0..partitions {
            let mode = partition_modes[rng.random_range(0..partition_modes.len())];
            let (split, one_way) = match mode {
                PartitionMode::IsolateLeader => {
                    (Split::Isolate(NodeSelector::Leader), rng.random_bool(0.3))
                }
                PartitionMode::Symmetric | PartitionMode::OneWay => (
                    Split::Groups(random_split(nodes, rng)),
                    mode == PartitionMode::OneWay,
                ),
            };
            s.faults.push(FaultSpec {
                at_ms: rng.random_range(0..phase_ms),
                kind: FaultKind::Partition {
                    split,
                    one_way,
                    heal_after_ms: Some(rng.random_range(100..=1500)),
                },
            });
        }
    }

    // Client crashes and replays of old requests.
    let client_crashes = if spec.client_crashes && s.clients.count > 0 && rng.random_bool(0.5) {
        rng.random_range(1..=2)
    } else {
        0
    };
    for _ in 0..client_crashes {
        s.faults.push(FaultSpec {
            at_ms: rng.random_range(0..phase_ms),
            kind: FaultKind::ClientCrash {
                client: ClientSelector::Any,
                restart_after_ms: Some(rng.random_range(10..=500)),
            },
        });
    }
    let replays = if spec.replays && rng.random_bool(0.5) {
        rng.random_range(1..=2)
    } else {
        0
    };
    for _ in 0..replays {
        s.faults.push(FaultSpec {
            at_ms: rng.random_range(0..phase_ms),
            kind: FaultKind::Replay {
                count: rng.random_range(1..=5),
            },
        });
    }

    // Stale replays aimed at a new leader that has not yet applied a client's latest
    // requests.
    let stale_replays = if spec.replays && rng.random_bool(0.5) {
        rng.random_range(1..=2)
    } else {
        0
    };
    for _ in 0..stale_replays {
        s.faults.push(FaultSpec {
            at_ms: rng.random_range(0..phase_ms),
            kind: FaultKind::StaleReplay {
                count: rng.random_range(1..=4),
                client: ClientSelector::Any,
            },
        });
    }

    // Sessions: a pipelining window (never for `last-seq`, whose contract is one request in
    // flight), registration, expiry and a bound on the table; and skewed clocks.
    let mut sessions = None;
    let mut clock_faults = 0;
    if spec.sessions && rng.random_bool(0.5) {
        let windows = [1, 2, 4, 8];
        let window = windows[rng.random_range(0..windows.len())];
        if s.dedup != crate::kv::Dedup::LastSeq {
            s.clients.window = window;
        }
        if rng.random_bool(0.5) {
            s.clients.register = true;
            s.server.session_timeout_ms = if rng.random_bool(0.5) {
                rng.random_range(200..=2000)
            } else {
                0
            };
            s.server.max_sessions = if rng.random_bool(0.5) && s.clients.count > 0 {
                rng.random_range(1..=s.clients.count + 2)
            } else {
                0
            };
        }
        sessions = Some((
            s.clients.window,
            s.clients.register,
            s.server.session_timeout_ms,
            s.server.max_sessions,
        ));
        clock_faults = rng.random_range(0..=2usize);
        for _ in 0..clock_faults {
            let node = match rng.random_range(0..3) {
                0 => NodeSelector::Leader,
                1 => NodeSelector::Follower,
                _ => NodeSelector::Node(NodeId(rng.random_range(1..=nodes))),
            };
            let mut offset_ms = rng.random_range(-2000..=2000);
            let drift_ppm = if rng.random_bool(0.5) {
                rng.random_range(-100_000..=100_000)
            } else {
                0
            };
            let at_ms = rng.random_range(0..phase_ms);
            if s.server.reads.leases() {
                // A clock set back past zero stops there until true time catches up: a
                // drift of -100%, beyond what a lease assumes. Leases get clocks that never
                // stop (other read paths keep their draws as they were).
                offset_ms = offset_ms.max(-(at_ms as i64));
            }
            s.faults.push(FaultSpec {
                at_ms,
                kind: FaultKind::Clock {
                    node,
                    offset_ms: if offset_ms == 0 && drift_ppm == 0 {
                        1
                    } else {
                        offset_ms
                    },
                    drift_ppm,
                    for_ms: rng.random_range(100..=1500),
                },
            });
        }
    }

    // Compaction: snapshots often enough that followers fall behind the compacted log and
    // need InstallSnapshot; crashes while a snapshot is written or arriving.
    let mut snapshots = None;
    if spec.snapshots && rng.random_bool(0.5) {
        let everies = [3, 5, 10, 20, 50];
        s.cluster.snapshot_every = everies[rng.random_range(0..everies.len())];
        let drawn = rng.random_range(0..=2usize);
        let crashes = if spec.crashes { drawn } else { 0 };
        for _ in 0..crashes {
            let when = CrashWhen::SNAPSHOT[rng.random_range(0..CrashWhen::SNAPSHOT.len())];
            let node = match (when, rng.random_range(0..3)) {
                (CrashWhen::MidSnapshot, 0) => NodeSelector::Leader,
                (_, 2) => NodeSelector::Node(NodeId(rng.random_range(1..=nodes))),
                _ => NodeSelector::Follower,
            };
            s.faults.push(FaultSpec {
                at_ms: rng.random_range(0..phase_ms),
                kind: FaultKind::Crash {
                    node,
                    when,
                    restart_after_ms: Some(rng.random_range(1..=300)),
                },
            });
        }
        snapshots = Some((s.cluster.snapshot_every, crashes));
    }

    // Drawn faults follow the file's own, which keep their numbers (`faults[i]` in traces).
    let profile = SwarmProfile {
        crash_pattern,
        crashes,
        crash_points: if crashes > 0 {
            crash_points
        } else {
            Vec::new()
        },
        partition_modes,
        partitions,
        drop: s.network.drop,
        duplicate: s.network.duplicate,
        delay_ms: s.network.delay_ms,
        windows,
        client_timeout_ms: s.clients.timeout_ms,
        client_crashes,
        replays,
        stale_replays,
        liveness_ms: s.liveness_ms,
        sessions,
        clock_faults,
        snapshots,
    };
    (s, profile)
}

/// Two non-empty groups of the nodes `1..=nodes` (at least two nodes).
fn random_split(nodes: u8, rng: &mut ChaCha8Rng) -> Vec<Vec<NodeId>> {
    let first = rng.random_range(1..nodes);
    let mut all: Vec<NodeId> = (1..=nodes).map(NodeId).collect();
    for i in (1..all.len()).rev() {
        all.swap(i, rng.random_range(0..=i));
    }
    let rest = all.split_off(usize::from(first));
    vec![all, rest]
}

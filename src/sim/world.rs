//! The deterministic world: the scheduler (time, queue, processes, network, observer) and
//! the fault injector, built from a scenario and a seed, and the loop that runs them: pop
//! the earliest event, hand it to its process or to the injector, until the liveness phase
//! settles or its budget runs out.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::faults::Injector;
use super::network::{LinkParams, Network};
use super::observer::Observer;
use super::scheduler::{Event, Scheduler};
use crate::client::{Client, ClientConfig, Workload};
use crate::ids::{ClientNo, NodeId, SimTime};
use crate::kv::SessionLimits;
use crate::raft::{NodeConfig, RaftNode};
use crate::scenario::Scenario;
use crate::trace::{TraceEvent, TraceSink};

/// Bytes of snapshot per simulated `InstallSnapshot` message: small, so that a snapshot of a
/// few keys and sessions still takes several chunks (and a crash can fall between them).
const SNAPSHOT_CHUNK_BYTES: u32 = 256;

/// Randomness streams: each component draws from its own, so adding a node or a client
/// never shifts another component's choices.
mod stream {
    pub const NETWORK: u64 = 1;
    pub const FAULTS: u64 = 2;
    pub const SWARM: u64 = 3;
    pub const NODE_BASE: u64 = 0x100;
    pub const CLIENT_BASE: u64 = 0x1_0000;
}

/// The stream a swarm profile is drawn from.
pub const SWARM_STREAM: u64 = stream::SWARM;

/// The RNG of one component: the run's seed, on the component's own stream.
pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Faults,
    Liveness,
}

pub(super) struct World<'s> {
    pub sched: Scheduler<'s>,
    pub faults: Injector,
    phase: Phase,
    /// End of the liveness budget: the run stops here whatever happens.
    deadline: SimTime,
    /// The bound the run passed, as the verdict names it; the run stopped there.
    pub over_budget: Option<String>,
}

impl<'s> World<'s> {
    /// A world at time 0. `swarm` is the drawn swarm profile, if any, traced first;
    /// `messages` traces every message's fate; `digest` hashes the trace.
    pub fn new(
        scenario: &Scenario,
        seed: u64,
        sink: Option<&'s mut dyn TraceSink>,
        swarm: Option<&str>,
        messages: bool,
        digest: bool,
    ) -> World<'s> {
        let start = SimTime::ZERO;
        let c = scenario.cluster;
        let nodes: Vec<RaftNode> = (0..usize::from(c.nodes))
            .map(|i| {
                let id = NodeId::from_index(i);
                let config = NodeConfig {
                    id,
                    cluster_size: c.nodes,
                    election_timeout_us: (
                        c.election_timeout_ms.0 * 1000,
                        c.election_timeout_ms.1 * 1000,
                    ),
                    heartbeat_us: c.heartbeat_ms * 1000,
                    dedup: scenario.dedup,
                    limits: SessionLimits {
                        register: scenario.clients.register,
                        timeout_us: scenario.server.session_timeout_ms * 1000,
                        max_sessions: scenario.server.max_sessions,
                    },
                    mutations: scenario.mutations,
                    snapshot_every: c.snapshot_every,
                    snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
                    reads: scenario.server.reads,
                };
                let rng = stream_rng(seed, stream::NODE_BASE + u64::from(id.0));
                RaftNode::new(config, rng, start)
            })
            .collect();

        let k = scenario.clients;
        let workload = Arc::new(Workload::new(k.ops, k.keys, k.mix));
        let clients: Vec<Client> = (0..k.count as usize)
            .map(|i| {
                let no = ClientNo::from_index(i);
                let mut config = ClientConfig::simulated(
                    no,
                    c.nodes,
                    k.timeout_ms * 1000,
                    (k.think_ms.0 * 1000, k.think_ms.1 * 1000),
                    k.on_restart,
                );
                config.mutations = scenario.mutations;
                config.window = k.window;
                config.register = k.register;
                if scenario.wire_clients {
                    config.suspect_us = config.timeout_us;
                }
                let rng = stream_rng(seed, stream::CLIENT_BASE + u64::from(no.0));
                Client::new(config, rng, Arc::clone(&workload), start)
            })
            .collect();

        let n = scenario.network;
        let network = Network::new(
            stream_rng(seed, stream::NETWORK),
            LinkParams {
                delay_us: (n.delay_ms.0 * 1000, n.delay_ms.1 * 1000),
                drop: n.drop,
                duplicate: n.duplicate,
            },
        );
        let bounds = crate::check::TableBounds {
            max_sessions: scenario.server.max_sessions,
            window: k.window,
        };
        let observer = Observer::new(c.nodes, bounds, sink, digest);
        let budget = scenario.budget();
        let mut sched = Scheduler::new(nodes, clients, network, observer, budget, messages);
        let mut faults = Injector::new(&scenario.faults, stream_rng(seed, stream::FAULTS));
        if let Some(profile) = swarm {
            sched
                .io
                .observer
                .emit(start, &TraceEvent::Swarm { profile });
        }
        faults.schedule(&mut sched);
        let fault_phase_end = SimTime::from_ms(scenario.duration_ms);
        sched.io.queue.push(fault_phase_end, Event::FaultPhaseEnd);
        sched.start(&mut faults);
        World {
            sched,
            faults,
            phase: Phase::Faults,
            deadline: fault_phase_end.plus_ms(scenario.liveness_ms),
            over_budget: None,
        }
    }

    /// Run until the liveness phase settles or its time runs out, or until the run passes
    /// one of its bounds (then `over_budget` says which); returns the end time.
    pub fn run(&mut self) -> SimTime {
        let World { sched, faults, .. } = self;
        while let Some((at, event)) = sched.io.queue.pop() {
            if sched.io.events >= sched.io.next_budget_check {
                self.over_budget = sched.check_budget();
                if self.over_budget.is_some() {
                    return sched.io.now;
                }
            }
            if at > self.deadline {
                sched.io.now = self.deadline;
                return self.deadline;
            }
            sched.io.now = at;
            match event {
                Event::Deliver(envelope) => sched.deliver(envelope, faults),
                Event::Timer(addr) => sched.fire_timer(at, addr, faults),
                Event::Fault(timer) => faults.on_timer(timer, sched),
                Event::Restart { node, incarnation } => sched.restart_if(node, incarnation, faults),
                Event::ClientRestart {
                    client,
                    incarnation,
                } => sched.restart_client_if(client, incarnation),
                Event::FaultPhaseEnd => {
                    // Faults still waiting never fire; the network heals, everything restarts.
                    faults.phase_over(sched);
                    self.phase = Phase::Liveness;
                    sched.heal_everything(faults);
                }
            }
            if self.phase == Phase::Liveness && sched.clients_finished() && sched.settled() {
                return sched.io.now;
            }
        }
        sched.io.now
    }
}

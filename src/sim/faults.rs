//! The fault schedule: node crashes at a chosen moment of the leader's work, partitions (both
//! ways or one way), network windows, replays of old requests, and client crashes; fired from
//! `[[faults]]` and healed by their own timers or by the liveness phase.

use rand::RngExt;

use super::network::LinkOverride;
use super::world::{Event, NodeSlot, Phase, World};
use crate::ids::{NodeId, Term};
use crate::message::{Addr, Message};
use crate::raft::RaftNode;
use crate::scenario::{ClientSelector, CrashWhen, FaultKind, FaultSpec, NodeSelector, Split};
use crate::trace::{CrashCause, Prob, TraceEvent};

/// Where one fault stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Its `at_ms` has not come.
    Scheduled,
    /// Its time has come; waiting for its trigger (a leader to exist, a crash point).
    Armed,
    /// In effect (a partition or network window not yet healed).
    Active,
    /// Fired and over (or a crash that happened).
    Done,
    /// The fault phase ended before its trigger came.
    Skipped,
}

pub struct FaultState {
    pub spec: FaultSpec,
    pub status: Status,
    /// For a partition: the groups it cut, as resolved when it fired.
    groups: Vec<Vec<NodeId>>,
    /// For a replay: the term of the leader when it armed (0 if there was none); it fires
    /// once a leader of a later term exists (a leader change).
    armed_term: Term,
}

impl FaultState {
    pub fn new(spec: FaultSpec) -> FaultState {
        FaultState {
            spec,
            status: Status::Scheduled,
            groups: Vec::new(),
            armed_term: Term(0),
        }
    }
}

impl World<'_> {
    /// Fault `i`'s time has come.
    pub(super) fn start_fault(&mut self, i: usize) {
        if self.phase != Phase::Faults {
            return;
        }
        self.io.events += 1;
        if let FaultKind::Network {
            for_ms,
            drop,
            duplicate,
            delay_ms,
        } = self.faults[i].spec.kind
        {
            self.faults[i].status = Status::Active;
            self.io.network.start_window(
                i,
                LinkOverride {
                    delay_us: delay_ms.map(|(a, b)| (a * 1000, b * 1000)),
                    drop,
                    duplicate,
                },
            );
            self.emit_network(i, true);
            let end = self.io.now.plus_ms(for_ms);
            self.io.queue.push(end, Event::FaultEnd(i));
            return;
        }
        self.faults[i].armed_term = self.current_leader().map_or(Term(0), RaftNode::term);
        self.faults[i].status = Status::Armed;
        self.armed += 1;
        self.try_fire(i, None);
    }

    /// Fault `i`'s window is over.
    pub(super) fn end_fault(&mut self, i: usize) {
        if self.faults[i].status != Status::Active {
            return; // already healed by the liveness phase
        }
        self.faults[i].status = Status::Done;
        self.io.events += 1;
        let now = self.io.now;
        match self.faults[i].spec.kind {
            FaultKind::Partition { .. } => {
                self.io.network.remove_partition(i);
                self.io.observer.emit(now, &TraceEvent::Heal { fault: i });
            }
            FaultKind::Network { .. } => {
                self.io.network.end_window(i);
                self.emit_network(i, false);
            }
            FaultKind::Crash { .. } | FaultKind::Replay { .. } | FaultKind::ClientCrash { .. } => {}
        }
    }

    fn emit_network(&mut self, fault: usize, open: bool) {
        let p = self.io.network.params();
        let now = self.io.now;
        self.io.observer.emit(
            now,
            &TraceEvent::Network {
                fault,
                open,
                drop: Prob(p.drop),
                duplicate: Prob(p.duplicate),
                delay_us: p.delay_us,
            },
        );
    }

    /// After `node` handled an event: fire any waiting fault whose trigger has come.
    pub(super) fn check_triggers(&mut self, node: NodeId) {
        for i in 0..self.faults.len() {
            if self.armed == 0 {
                return;
            }
            if self.faults[i].status == Status::Armed {
                self.try_fire(i, Some(node));
            }
        }
    }

    /// The fault phase ended: faults still waiting for their trigger never fire.
    pub(super) fn skip_armed_faults(&mut self) {
        let now = self.io.now;
        for i in 0..self.faults.len() {
            if self.faults[i].status == Status::Armed {
                self.faults[i].status = Status::Skipped;
                self.armed -= 1;
                self.io
                    .observer
                    .emit(now, &TraceEvent::FaultSkipped { fault: i });
            }
            if self.faults[i].status == Status::Active {
                self.faults[i].status = Status::Done;
            }
        }
    }

    /// The live leader with the highest term.
    fn current_leader(&self) -> Option<&RaftNode> {
        self.live_nodes()
            .filter(|n| n.is_leader())
            .max_by_key(|n| n.term())
    }

    fn live_nodes(&self) -> impl Iterator<Item = &RaftNode> {
        self.nodes.iter().filter_map(|slot| match slot {
            NodeSlot::Up(n) => Some(n),
            _ => None,
        })
    }

    /// Resolve a selector to a live node now, if one fits.
    fn select(&mut self, selector: NodeSelector) -> Option<NodeId> {
        match selector {
            NodeSelector::Leader => self.current_leader().map(RaftNode::id),
            NodeSelector::Node(id) => self.node(id).map(RaftNode::id),
            NodeSelector::MostUncommitted => {
                let committed = self.live_nodes().map(RaftNode::commit_index).max()?;
                let (most, id) = self
                    .live_nodes()
                    .map(|n| (n.log().last_index().0.saturating_sub(committed.0), n.id()))
                    .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
                (most > 0).then_some(id)
            }
            NodeSelector::Follower => {
                let leader = self.current_leader().map(RaftNode::id);
                let candidates: Vec<NodeId> = self
                    .live_nodes()
                    .map(RaftNode::id)
                    .filter(|&id| Some(id) != leader)
                    .collect();
                if candidates.is_empty() {
                    return None;
                }
                Some(candidates[self.fault_rng.random_range(0..candidates.len())])
            }
        }
    }

    /// Fire armed fault `i` if its trigger has come. `touched` is the node that just handled
    /// an event (`None` when the fault's time has just come).
    fn try_fire(&mut self, i: usize, touched: Option<NodeId>) {
        let now = self.io.now;
        match self.faults[i].spec.kind.clone() {
            FaultKind::Crash {
                node,
                when,
                restart_after_ms,
            } => {
                let Some((target, cause)) = self.crash_trigger(i, node, when, touched) else {
                    return;
                };
                self.disarm(i, Status::Done);
                self.crash(target, cause);
                if let Some(ms) = restart_after_ms {
                    let incarnation = self.incarnation[target.index()];
                    self.io.queue.push(
                        now.plus_ms(ms),
                        Event::Restart {
                            node: target,
                            incarnation,
                        },
                    );
                }
            }
            FaultKind::Partition {
                split,
                one_way,
                heal_after_ms,
            } => {
                let groups: Vec<Vec<NodeId>> = match split {
                    Split::Groups(groups) => groups,
                    Split::Isolate(selector) => {
                        let Some(alone) = self.select(selector) else {
                            return;
                        };
                        let rest = (1..=self.nodes.len() as u8)
                            .map(NodeId)
                            .filter(|&n| n != alone)
                            .collect();
                        vec![vec![alone], rest]
                    }
                };
                self.disarm(i, Status::Active);
                let indexes: Vec<Vec<usize>> = groups
                    .iter()
                    .map(|g| g.iter().map(|n| n.index()).collect())
                    .collect();
                self.io.network.add_partition(i, &indexes, one_way);
                self.faults[i].groups = groups;
                let groups = &self.faults[i].groups;
                self.io.observer.emit(
                    now,
                    &TraceEvent::Partition {
                        fault: i,
                        groups,
                        one_way,
                    },
                );
                if let Some(ms) = heal_after_ms {
                    self.io.queue.push(now.plus_ms(ms), Event::FaultEnd(i));
                }
            }
            FaultKind::Replay { count } => self.try_replay(i, count),
            FaultKind::ClientCrash {
                client,
                restart_after_ms,
            } => self.try_client_crash(i, client, restart_after_ms),
            FaultKind::Network { .. } => unreachable!("network faults are never armed"),
        }
    }

    fn disarm(&mut self, i: usize, status: Status) {
        debug_assert_eq!(self.faults[i].status, Status::Armed);
        self.faults[i].status = status;
        self.armed -= 1;
    }

    /// Has crash fault `i`'s trigger come? Returns the node to crash and why.
    fn crash_trigger(
        &mut self,
        fault: usize,
        selector: NodeSelector,
        when: CrashWhen,
        touched: Option<NodeId>,
    ) -> Option<(NodeId, CrashCause)> {
        if when == CrashWhen::Now {
            let target = self.select(selector)?;
            let node = self.node(target)?;
            return Some((
                target,
                CrashCause {
                    fault,
                    was_leader: node.is_leader(),
                    term: node.term(),
                    when,
                    index: None,
                    sent_to: None,
                },
            ));
        }
        // A leader's crash point only changes when that leader handles an event.
        let leader = match selector {
            NodeSelector::Leader => self.current_leader()?.id(),
            NodeSelector::Node(id) => id,
            NodeSelector::Follower | NodeSelector::MostUncommitted => return None,
        };
        if touched.is_some_and(|t| t != leader) {
            return None;
        }
        if when == CrashWhen::AfterReply && touched != Some(leader) {
            return None; // "just answered" holds only right after the leader's own step
        }
        let node = self.node(leader)?;
        let points = node.crash_points();
        let (index, sent_to) = match when {
            CrashWhen::BeforeReplicate => (points.before_replicate?, None),
            CrashWhen::MidReplication => {
                let (index, peer) = points.mid_replication?;
                (index, Some(peer))
            }
            CrashWhen::AfterCommit => (points.after_commit?, None),
            CrashWhen::AfterReply => (points.after_reply?, None),
            CrashWhen::Now => unreachable!("handled above"),
        };
        Some((
            leader,
            CrashCause {
                fault,
                was_leader: true,
                term: node.term(),
                when,
                index: Some(index),
                sent_to,
            },
        ))
    }

    /// Replay fault `i`: once a leader of a later term than when it armed exists, re-deliver
    /// `count` old client requests (picked from the recently delivered ones) to that leader.
    fn try_replay(&mut self, i: usize, count: u32) {
        let Some(leader) = self.current_leader() else {
            return;
        };
        if leader.term() <= self.faults[i].armed_term || self.recent_requests.is_empty() {
            return;
        }
        let to = leader.id();
        self.disarm(i, Status::Done);
        let now = self.io.now;
        // Distinct requests, drawn from those remembered (a partial Fisher-Yates shuffle).
        let mut picks: Vec<usize> = (0..self.recent_requests.len()).collect();
        let count = (count as usize).min(picks.len());
        for k in 0..count {
            let j = self.fault_rng.random_range(k..picks.len());
            picks.swap(k, j);
        }
        for &pick in &picks[..count] {
            let mut envelope = self.recent_requests[pick].clone();
            envelope.to = Addr::Node(to);
            if let Message::ClientRequest { request, .. } = &envelope.msg {
                let (client, seq) = (request.client, request.seq);
                self.io.observer.emit(
                    now,
                    &TraceEvent::Replay {
                        fault: i,
                        client,
                        seq,
                        to,
                    },
                );
            }
            self.io.deliver_later(envelope);
        }
    }

    /// Client crash fault `i`: crash the selected client (for `any`, one with an operation in
    /// flight if there is one) and schedule its restart.
    fn try_client_crash(
        &mut self,
        i: usize,
        selector: ClientSelector,
        restart_after_ms: Option<u64>,
    ) {
        let live = |c: &crate::client::Client| !c.is_down() && !c.is_done();
        let target = match selector {
            ClientSelector::Client(no) => Some(no.index()).filter(|&c| live(&self.clients[c])),
            ClientSelector::Any => {
                let busy: Vec<usize> = (0..self.clients.len())
                    .filter(|&c| live(&self.clients[c]) && self.clients[c].pending().is_some())
                    .collect();
                let idle: Vec<usize> = (0..self.clients.len())
                    .filter(|&c| live(&self.clients[c]))
                    .collect();
                let pool = if busy.is_empty() { idle } else { busy };
                (!pool.is_empty()).then(|| pool[self.fault_rng.random_range(0..pool.len())])
            }
        };
        let Some(c) = target else {
            return;
        };
        self.disarm(i, Status::Done);
        let incarnation = self.crash_client(c, i);
        if let Some(ms) = restart_after_ms {
            let at = self.io.now.plus_ms(ms);
            self.io.queue.push(
                at,
                Event::ClientRestart {
                    client: c,
                    incarnation,
                },
            );
        }
    }
}

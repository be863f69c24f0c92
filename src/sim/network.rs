//! The network model: uniform one-way delay (whose spread reorders messages), loss,
//! duplication, and partitions between nodes. Clients reach every node; partitions cut
//! node-to-node links only.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::message::Addr;

/// How links behave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    /// One-way delay, uniform over `[min, max]` microseconds.
    pub delay_us: (u64, u64),
    pub drop: f64,
    pub duplicate: f64,
}

/// What happens to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Lost to a partition.
    Partitioned,
    /// Lost at random.
    Lost,
    /// Delivered after `delay_us`, and a second copy after `copy_delay_us` if duplicated.
    Deliver {
        delay_us: u64,
        copy_delay_us: Option<u64>,
    },
}

/// Changes a network fault makes for its window; `None` keeps the value underneath.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkOverride {
    pub delay_us: Option<(u64, u64)>,
    pub drop: Option<f64>,
    pub duplicate: Option<f64>,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    pub sent: u64,
    pub lost: u64,
    pub partitioned: u64,
    pub duplicated: u64,
}

/// Per node (by `NodeId::index()`), a bit per node it cannot send to.
type Blocked = [u16; 9];

pub struct Network {
    rng: ChaCha8Rng,
    base: LinkParams,
    /// Active network-fault windows, oldest first; later ones win.
    windows: Vec<(usize, LinkOverride)>,
    current: LinkParams,
    /// Active partitions, by fault number.
    partitions: Vec<(usize, Blocked)>,
    blocked: Blocked,
    pub stats: NetStats,
}

impl Network {
    pub fn new(rng: ChaCha8Rng, base: LinkParams) -> Network {
        Network {
            rng,
            base,
            windows: Vec::new(),
            current: base,
            partitions: Vec::new(),
            blocked: [0; 9],
            stats: NetStats::default(),
        }
    }

    /// The link behaviour in force now.
    pub fn params(&self) -> LinkParams {
        self.current
    }

    /// Decide the fate of a message sent now from `from` to `to`.
    #[inline]
    pub fn route(&mut self, from: Addr, to: Addr) -> Route {
        self.stats.sent += 1;
        if self.is_blocked(from, to) {
            self.stats.partitioned += 1;
            return Route::Partitioned;
        }
        let p = self.current;
        if p.drop > 0.0 && self.rng.random_bool(p.drop) {
            self.stats.lost += 1;
            return Route::Lost;
        }
        let delay_us = self.delay(p);
        let copy_delay_us = if p.duplicate > 0.0 && self.rng.random_bool(p.duplicate) {
            self.stats.duplicated += 1;
            Some(self.delay(p))
        } else {
            None
        };
        Route::Deliver {
            delay_us,
            copy_delay_us,
        }
    }

    /// A delay drawn as for any message now (for re-deliveries that bypass loss).
    /// The current links' shortest one-way delay, in microseconds.
    pub fn shortest_delay_us(&self) -> u64 {
        self.current.delay_us.0
    }

    pub fn draw_delay(&mut self) -> u64 {
        let p = self.current;
        self.delay(p)
    }

    #[inline]
    fn delay(&mut self, p: LinkParams) -> u64 {
        let (min, max) = p.delay_us;
        if min == max {
            min
        } else {
            self.rng.random_range(min..=max)
        }
    }

    /// Is the link cut now? Checked when a message is sent and again when it arrives.
    #[inline]
    pub fn is_blocked(&self, from: Addr, to: Addr) -> bool {
        match (from, to) {
            (Addr::Node(a), Addr::Node(b)) => self.blocked[a.index()] & (1 << b.index()) != 0,
            _ => false,
        }
    }

    /// Cut every link between nodes of different `groups` (each a list of node indexes), or
    /// with `one_way` only the links from the first group to the others.
    pub fn add_partition(&mut self, id: usize, groups: &[Vec<usize>], one_way: bool) {
        let mut blocked: Blocked = [0; 9];
        for (g, group) in groups.iter().enumerate() {
            if one_way && g > 0 {
                break;
            }
            for (h, other) in groups.iter().enumerate() {
                if g == h {
                    continue;
                }
                for &a in group {
                    for &b in other {
                        blocked[a] |= 1 << b;
                    }
                }
            }
        }
        self.partitions.push((id, blocked));
        self.recompute_blocked();
    }

    /// Heal partition `id` (no-op if it already healed).
    pub fn remove_partition(&mut self, id: usize) {
        self.partitions.retain(|(p, _)| *p != id);
        self.recompute_blocked();
    }

    fn recompute_blocked(&mut self) {
        self.blocked = [0; 9];
        for (_, b) in &self.partitions {
            for (all, one) in self.blocked.iter_mut().zip(b) {
                *all |= one;
            }
        }
    }

    pub fn start_window(&mut self, id: usize, change: LinkOverride) {
        self.windows.push((id, change));
        self.recompute_params();
    }

    pub fn end_window(&mut self, id: usize) {
        self.windows.retain(|(w, _)| *w != id);
        self.recompute_params();
    }

    fn recompute_params(&mut self) {
        let mut p = self.base;
        for (_, w) in &self.windows {
            p.delay_us = w.delay_us.unwrap_or(p.delay_us);
            p.drop = w.drop.unwrap_or(p.drop);
            p.duplicate = w.duplicate.unwrap_or(p.duplicate);
        }
        self.current = p;
    }

    /// The liveness phase: every partition healed, every window closed, and no more loss or
    /// duplication (delays stay: they are the network, not a fault).
    pub fn calm(&mut self) {
        self.partitions.clear();
        self.recompute_blocked();
        self.windows.clear();
        self.base.drop = 0.0;
        self.base.duplicate = 0.0;
        self.recompute_params();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClientNo, NodeId};
    use rand::SeedableRng;

    fn net(drop: f64, duplicate: f64) -> Network {
        let params = LinkParams {
            delay_us: (1000, 10_000),
            drop,
            duplicate,
        };
        Network::new(ChaCha8Rng::seed_from_u64(1), params)
    }

    const N1: Addr = Addr::Node(NodeId(1));
    const N2: Addr = Addr::Node(NodeId(2));
    const N3: Addr = Addr::Node(NodeId(3));

    /// A partition cuts links across groups in both directions, never within a group or to
    /// clients, and healing restores them.
    #[test]
    fn partitions_cut_across_groups_only() {
        let mut n = net(0.0, 0.0);
        n.add_partition(0, &[vec![0], vec![1, 2]], false);
        assert!(n.is_blocked(N1, N2));
        assert!(n.is_blocked(N3, N1));
        assert!(!n.is_blocked(N2, N3));
        assert!(!n.is_blocked(N1, Addr::Client(ClientNo(1))));
        assert_eq!(n.route(N1, N2), Route::Partitioned);
        n.remove_partition(0);
        assert!(!n.is_blocked(N1, N2));
        n.add_partition(1, &[vec![0], vec![1, 2]], true);
        assert!(n.is_blocked(N1, N2), "one way: n1 cannot send");
        assert!(!n.is_blocked(N2, N1), "one way: n1 still hears");
    }

    /// Loss and duplication happen at about their configured rates, delays stay in range,
    /// and `calm` switches loss and duplication off.
    #[test]
    fn loss_and_duplication_follow_their_rates() {
        let mut n = net(0.2, 0.3);
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..10_000 {
            match n.route(N1, N2) {
                Route::Lost => lost += 1,
                Route::Deliver {
                    delay_us,
                    copy_delay_us,
                } => {
                    assert!((1000..=10_000).contains(&delay_us));
                    dup += u32::from(copy_delay_us.is_some());
                }
                Route::Partitioned => unreachable!("no partition"),
            }
        }
        assert!((1_700..2_300).contains(&lost), "lost {lost}");
        assert!(
            (2_100..2_700).contains(&dup),
            "duplicated {dup} of ~8000 delivered"
        );
        n.calm();
        for _ in 0..1000 {
            assert!(matches!(
                n.route(N1, N2),
                Route::Deliver {
                    copy_delay_us: None,
                    ..
                }
            ));
        }
    }

    /// A network window overrides only what it names, and closing it restores the base.
    #[test]
    fn windows_override_and_restore() {
        let mut n = net(0.1, 0.0);
        n.start_window(
            3,
            LinkOverride {
                delay_us: None,
                drop: None,
                duplicate: Some(0.5),
            },
        );
        assert_eq!(n.params().drop, 0.1);
        assert_eq!(n.params().duplicate, 0.5);
        n.end_window(3);
        assert_eq!(n.params().duplicate, 0.0);
    }
}

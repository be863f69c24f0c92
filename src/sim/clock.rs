//! A node's clock under a `clock` fault: what the node reads as `now`, which is never the
//! simulation's time. From `since`, it reads `offset_us` off true time and runs `drift_ppm`
//! fast (negative: slow); when the fault ends the node reads true time again.

use crate::ids::SimTime;

/// One node's skewed clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// When the fault began (simulation time).
    pub since: SimTime,
    pub offset_us: i64,
    pub drift_ppm: i64,
}

impl Clock {
    /// What the node's clock reads at simulation time `t` (never below 0).
    #[inline]
    pub fn local(&self, t: SimTime) -> SimTime {
        let elapsed = t.0.saturating_sub(self.since.0) as i128;
        let drift = elapsed * i128::from(self.drift_ppm) / 1_000_000;
        let local = i128::from(t.0) + i128::from(self.offset_us) + drift;
        SimTime(local.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// The earliest simulation time at or after `now` when the node's clock reads at least
    /// `deadline` (its timer is due then).
    pub fn sim_time_of(&self, deadline: SimTime, now: SimTime) -> SimTime {
        if self.local(now) >= deadline {
            return now;
        }
        // local(t) = t + offset + (t - since) * d, d = drift / 1e6, for t >= since:
        // t = (deadline - offset + since * d) / (1 + d).
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let numerator = (i128::from(deadline.0) - i128::from(self.offset_us)) * 1_000_000
            + i128::from(self.since.0) * i128::from(self.drift_ppm);
        let mut t = (numerator + rate - 1)
            .div_euclid(rate)
            .max(i128::from(now.0));
        let mut at = SimTime(t.min(i128::from(u64::MAX)) as u64);
        // Rounding: step forward until the clock really reads the deadline.
        while self.local(at) < deadline && at.0 < u64::MAX {
            t += 1;
            at = SimTime(t.min(i128::from(u64::MAX)) as u64);
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_drift_read_and_invert() {
        let clock = Clock {
            since: SimTime(1_000_000),
            offset_us: 500_000,
            drift_ppm: 100_000, // 10% fast
        };
        assert_eq!(clock.local(SimTime(1_000_000)), SimTime(1_500_000));
        assert_eq!(clock.local(SimTime(2_000_000)), SimTime(2_600_000));
        for deadline in [1_500_001, 2_600_000, 3_000_000, 9_999_999] {
            let at = clock.sim_time_of(SimTime(deadline), SimTime(1_000_000));
            assert!(clock.local(at) >= SimTime(deadline), "{deadline}");
            assert!(
                clock.local(SimTime(at.0 - 1)) < SimTime(deadline),
                "{deadline}"
            );
        }
        // Already due: now.
        assert_eq!(
            clock.sim_time_of(SimTime(1_200_000), SimTime(1_000_000)),
            SimTime(1_000_000)
        );
    }

    #[test]
    fn slow_clock_and_negative_offset() {
        let clock = Clock {
            since: SimTime(0),
            offset_us: -2_000_000,
            drift_ppm: -500_000, // half speed
        };
        assert_eq!(clock.local(SimTime(1_000_000)), SimTime(0));
        let at = clock.sim_time_of(SimTime(1_000_000), SimTime(0));
        assert_eq!(at, SimTime(6_000_000));
        assert_eq!(clock.local(at), SimTime(1_000_000));
    }
}

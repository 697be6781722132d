//! When the sender sends: randomized around the interval so a mesh of probes
//! never settles into lockstep (and periodic effects on the path are not
//! sampled at one phase).
//!
//! - `jitter` (default): gaps uniform in [0.5, 1.5] x interval; mean the
//!   interval, never two packets closer than half of it;
//! - `poisson`: exponential gaps with the interval as mean (RFC 2330 Poisson
//!   sampling), truncated at 10 x the interval;
//! - `fixed`: exactly the interval (for comparisons with periodic tools).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How gaps between packets are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    #[default]
    Jitter,
    Poisson,
    Fixed,
}

impl Schedule {
    pub fn describe(self) -> &'static str {
        match self {
            Schedule::Jitter => "uniform in [0.5, 1.5] x interval",
            Schedule::Poisson => "exponential, mean = interval, truncated at 10 x interval",
            Schedule::Fixed => "fixed interval",
        }
    }
}

/// Draws the gaps.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    schedule: Schedule,
    rng: StdRng,
}

impl Pacer {
    pub fn new(interval: Duration, schedule: Schedule) -> Pacer {
        Pacer::with_rng(interval, schedule, StdRng::from_os_rng())
    }

    /// A pacer with a fixed seed, for tests.
    pub fn seeded(interval: Duration, schedule: Schedule, seed: u64) -> Pacer {
        Pacer::with_rng(interval, schedule, StdRng::seed_from_u64(seed))
    }

    fn with_rng(interval: Duration, schedule: Schedule, rng: StdRng) -> Pacer {
        Pacer {
            interval,
            schedule,
            rng,
        }
    }

    /// The gap before the next packet.
    pub fn next_gap(&mut self) -> Duration {
        let factor = match self.schedule {
            Schedule::Fixed => return self.interval,
            Schedule::Jitter => self.rng.random_range(0.5..1.5),
            // 1 - U is in (0, 1], so the logarithm is finite.
            Schedule::Poisson => (-(1.0 - self.rng.random::<f64>()).ln()).min(10.0),
        };
        self.interval.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(schedule: Schedule, n: usize) -> Vec<f64> {
        let mut p = Pacer::seeded(Duration::from_millis(10), schedule, 42);
        (0..n)
            .map(|_| p.next_gap().as_secs_f64() * 1000.0)
            .collect()
    }

    #[test]
    fn jitter_stays_within_half_an_interval_and_averages_it() {
        let g = gaps(Schedule::Jitter, 10_000);
        assert!(g.iter().all(|&ms| (5.0..=15.0).contains(&ms)));
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        assert!((mean - 10.0).abs() < 0.2, "{mean}");
        assert!(g.iter().any(|&ms| ms < 6.0) && g.iter().any(|&ms| ms > 14.0));
    }

    #[test]
    fn poisson_averages_the_interval_and_is_truncated() {
        let g = gaps(Schedule::Poisson, 20_000);
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        assert!((mean - 10.0).abs() < 0.5, "{mean}");
        assert!(g.iter().all(|&ms| ms <= 100.0));
    }

    #[test]
    fn fixed_is_fixed() {
        assert!(gaps(Schedule::Fixed, 10).iter().all(|&ms| ms == 10.0));
    }
}

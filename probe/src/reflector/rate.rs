//! Per-source rate limiting for the reflector: one token bucket per source
//! address, so a single sender (or a spoofed flood claiming one address)
//! cannot take the reflector's whole capacity. Bounded: at most `max_sources`
//! buckets; a bucket left alone long enough to refill is the same as no bucket
//! and is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Tokens are counted in millionths so the arithmetic stays in integers.
const SCALE: u64 = 1_000_000;

/// One source's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    last: Instant,
}

/// What [`RateLimiter::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// The source is over its rate.
    Limited,
    /// The source is new and the table of sources is full.
    TableFull,
}

/// Token buckets per source address; see the module documentation.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens added per second (packets per second); 0 disables limiting.
    rate: u64,
    /// Bucket depth in tokens: a quarter second's worth, at least one.
    depth: u64,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    /// `max_pps` packets per second per source (0: unlimited), at most
    /// `max_sources` sources tracked at once.
    pub fn new(max_pps: u64, max_sources: usize) -> RateLimiter {
        RateLimiter {
            rate: max_pps,
            depth: (max_pps / 4).max(1),
            max_sources,
            buckets: HashMap::new(),
        }
    }

    /// Whether limiting is on at all.
    pub fn enabled(&self) -> bool {
        self.rate > 0
    }

    /// Takes one token from `source`'s bucket if it has one.
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> Admission {
        if self.rate == 0 {
            return Admission::Admit;
        }
        let full = self.depth * SCALE;
        let table_full = self.buckets.len() >= self.max_sources;
        let bucket = match self.buckets.get_mut(&source) {
            Some(b) => b,
            None if table_full => return Admission::TableFull,
            None => self.buckets.entry(source).or_insert(Bucket {
                tokens: full,
                last: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.last);
        let added = elapsed_tokens(elapsed, self.rate);
        bucket.tokens = bucket.tokens.saturating_add(added).min(full);
        bucket.last = now;
        if bucket.tokens >= SCALE {
            bucket.tokens -= SCALE;
            Admission::Admit
        } else {
            Admission::Limited
        }
    }

    /// Forgets buckets that have refilled completely (idle for the time a
    /// full refill takes): they would admit exactly as a new one does.
    pub fn forget_idle(&mut self, now: Instant) {
        if self.rate == 0 {
            return;
        }
        let refill = Duration::from_micros((self.depth * 1_000_000).div_ceil(self.rate));
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.last) < refill);
    }

    /// Sources tracked now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }
}

/// Tokens (in millionths) that `elapsed` adds at `rate` per second.
fn elapsed_tokens(elapsed: Duration, rate: u64) -> u64 {
    // micros * rate = millionths of a token; saturate rather than overflow on
    // very long idles.
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    micros.saturating_mul(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(n: u8) -> IpAddr {
        IpAddr::V4([192, 0, 2, n].into())
    }

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(100, 16); // depth 25
        let admitted = (0..100)
            .filter(|_| rl.admit(src(1), t0) == Admission::Admit)
            .count();
        assert_eq!(admitted, 25);
        // 100 ms later: 10 more tokens.
        let t1 = t0 + Duration::from_millis(100);
        let admitted = (0..100)
            .filter(|_| rl.admit(src(1), t1) == Admission::Admit)
            .count();
        assert_eq!(admitted, 10);
        // Another source has its own bucket.
        assert_eq!(rl.admit(src(2), t1), Admission::Admit);
    }

    #[test]
    fn table_is_bounded_and_idle_buckets_are_forgotten() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(1000, 2);
        assert_eq!(rl.admit(src(1), t0), Admission::Admit);
        assert_eq!(rl.admit(src(2), t0), Admission::Admit);
        assert_eq!(rl.admit(src(3), t0), Admission::TableFull);
        rl.forget_idle(t0 + Duration::from_millis(100));
        assert_eq!(rl.sources(), 2, "not refilled yet");
        rl.forget_idle(t0 + Duration::from_millis(300));
        assert_eq!(rl.sources(), 0);
        assert_eq!(rl.admit(src(3), t0), Admission::Admit);
    }

    #[test]
    fn zero_rate_admits_everything() {
        let mut rl = RateLimiter::new(0, 0);
        assert!(!rl.enabled());
        assert_eq!(rl.admit(src(1), Instant::now()), Admission::Admit);
    }
}

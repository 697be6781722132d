//! What a link does to a packet, as pure functions of time passed in
//! (nanoseconds on any monotonic clock): loss, the token-bucket rate limit, and
//! delay with jitter that keeps a link's packets in order.
//!
//! Choices (documented in netlab/README.md):
//! - loss: independent per packet and direction (Bernoulli, `loss_pct`).
//! - rate: a token bucket per direction, `rate_mbit` of IP bytes; bucket depth
//!   `max(2 * 1500 B, 2 ms of rate)`; a packet that would wait more than
//!   [`MAX_QUEUE_NS`] for tokens is dropped (tail drop, like `tc tbf latency`).
//! - jitter: each packet's delay is `delay + U(-jitter, +jitter)` (netem's
//!   default uniform jitter), never below zero, and never earlier than the
//!   previous packet on the same link direction: a link is a FIFO, so jitter
//!   does not reorder packets (netem's rate/queue behaviour, not its reordering).

/// Longest a packet waits for tokens before the bucket drops it.
pub const MAX_QUEUE_NS: u64 = 50_000_000;
/// Smallest bucket depth: two full-size packets.
const MIN_BURST_BYTES: f64 = 3000.0;
/// Bucket depth in time at the configured rate.
const BURST_NS: f64 = 2_000_000.0;

/// A small, fast PRNG (xoshiro256++), seeded by SplitMix64. Not cryptographic:
/// it only decides losses and jitter.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A token bucket over IP bytes with a bounded queue.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    bytes_per_ns: f64,
    burst: f64,
    /// Negative while packets are queued: the bytes still owed.
    tokens: f64,
    last: u64,
}

impl TokenBucket {
    /// A full bucket for `rate_mbit` (megabits per second, > 0).
    pub fn new(rate_mbit: f64, now: u64) -> TokenBucket {
        let bytes_per_ns = rate_mbit * 1e6 / 8.0 / 1e9;
        let burst = (bytes_per_ns * BURST_NS).max(MIN_BURST_BYTES);
        TokenBucket {
            bytes_per_ns,
            burst,
            tokens: burst,
            last: now,
        }
    }

    pub fn burst_bytes(&self) -> f64 {
        self.burst
    }

    /// When a packet of `len` bytes arriving at `now` leaves: `now` when tokens
    /// are there, later when it must queue, `None` when it would queue longer
    /// than [`MAX_QUEUE_NS`] (dropped; no tokens taken). Calls with a time before
    /// an earlier call's are treated as at that earlier time.
    pub fn admit(&mut self, now: u64, len: usize) -> Option<u64> {
        if now > self.last {
            let refill = (now - self.last) as f64 * self.bytes_per_ns;
            self.tokens = (self.tokens + refill).min(self.burst);
            self.last = now;
        }
        let now = self.last;
        let len = len as f64;
        if self.tokens >= len {
            self.tokens -= len;
            return Some(now);
        }
        let wait = ((len - self.tokens) / self.bytes_per_ns).ceil();
        if wait > MAX_QUEUE_NS as f64 {
            return None;
        }
        self.tokens -= len;
        Some(now + wait as u64)
    }
}

/// A link direction's delay: base plus uniform jitter, FIFO.
#[derive(Debug, Clone, Default)]
pub struct Delay {
    pub base_ns: u64,
    pub jitter_ns: u64,
    last_arrival: u64,
}

impl Delay {
    pub fn new(base_ns: u64, jitter_ns: u64) -> Delay {
        Delay {
            base_ns,
            jitter_ns,
            last_arrival: 0,
        }
    }

    /// A new base delay for packets that start crossing from now on (`netlab
    /// link set`). Packets already scheduled keep their arrival time. The FIFO
    /// floor is reset, so after a cut the first new packets may overtake ones
    /// sent before it, as they would on a real path that got shorter, instead
    /// of queueing behind the old delay.
    pub fn set_base(&mut self, base_ns: u64) {
        if base_ns != self.base_ns {
            self.base_ns = base_ns;
            self.last_arrival = 0;
        }
    }

    /// When a packet that starts crossing at `depart` arrives at the far end.
    pub fn arrival(&mut self, depart: u64, rng: &mut Rng) -> u64 {
        let mut d = self.base_ns as f64;
        if self.jitter_ns > 0 {
            d += (rng.next_f64() * 2.0 - 1.0) * self.jitter_ns as f64;
        }
        let at = depart
            .saturating_add(d.max(0.0).round() as u64)
            .max(self.last_arrival);
        self.last_arrival = at;
        at
    }
}

/// Converts milliseconds (validated finite, non-negative) to nanoseconds.
pub fn ms_to_ns(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1e6).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Rng;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(1);
        let n = 100_000;
        let mean = (0..n).map(|_| r.next_f64()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let mut r2 = Rng::new(2);
        assert_ne!(Rng::new(1).next_u64(), r2.next_u64());
    }

    #[test]
    fn bucket_holds_rate_over_time() {
        // 8 Mbit/s = 1 byte/us. Offer 1500-byte packets every 500 us (3x the rate)
        // for 1 s: about a third get through, paced 1.5 ms apart.
        let mut tb = TokenBucket::new(8.0, 0);
        let mut sent = 0usize;
        let mut last_depart = 0;
        for i in 0..2000u64 {
            if let Some(d) = tb.admit(i * 500_000, 1500) {
                sent += 1500;
                assert!(d >= last_depart);
                last_depart = d;
            }
        }
        // Departures spread over ~1 s + 50 ms of queue; bytes ~= rate x time + burst.
        let span = last_depart as f64 / 1e9;
        let rate = sent as f64 / span;
        assert!((rate - 1e6).abs() < 0.05e6, "{rate} B/s over {span} s");
        assert!(last_depart <= 1_000_000_000 + MAX_QUEUE_NS);
    }

    #[test]
    fn bucket_passes_burst_then_queues_then_drops() {
        let mut tb = TokenBucket::new(8.0, 0); // burst 3000 B
        assert_eq!(tb.burst_bytes(), 3000.0);
        assert_eq!(tb.admit(0, 1500), Some(0));
        assert_eq!(tb.admit(0, 1500), Some(0));
        assert_eq!(tb.admit(0, 1000), Some(1_000_000));
        // Owed bytes pile up until the wait would pass 50 ms.
        let mut last = 0;
        let mut dropped = false;
        for _ in 0..100 {
            match tb.admit(0, 1000) {
                Some(d) => last = d,
                None => {
                    dropped = true;
                    break;
                }
            }
        }
        assert!(dropped);
        assert!(last <= MAX_QUEUE_NS);
        // Time going back is treated as the latest time seen.
        let mut tb = TokenBucket::new(8.0, 0);
        assert_eq!(tb.admit(1_000_000_000, 1500), Some(1_000_000_000));
        assert_eq!(tb.admit(5, 1500), Some(1_000_000_000));
        assert_eq!(tb.admit(5, 1500), Some(1_001_500_000));
    }

    #[test]
    fn delay_without_jitter_is_exact() {
        let mut d = Delay::new(5_000_000, 0);
        let mut r = Rng::new(3);
        assert_eq!(d.arrival(1000, &mut r), 5_001_000);
        assert_eq!(d.arrival(2000, &mut r), 5_002_000);
    }

    #[test]
    fn a_new_base_delay_counts_for_later_packets_and_may_overtake() {
        let mut d = Delay::new(20_000_000, 0);
        let mut r = Rng::new(3);
        assert_eq!(d.arrival(0, &mut r), 20_000_000);
        d.set_base(5_000_000);
        // Sent after the cut, arrives before the packet sent before it.
        assert_eq!(d.arrival(1_000_000, &mut r), 6_000_000);
        assert_eq!(d.arrival(2_000_000, &mut r), 7_000_000);
        // The same delay again keeps the FIFO floor.
        d.set_base(5_000_000);
        assert_eq!(d.arrival(1_000_000, &mut r), 7_000_000);
    }

    proptest! {
        #[test]
        fn jitter_bounded_and_fifo(seed in any::<u64>(), base in 0u64..10_000_000, jit in 0u64..5_000_000,
                                   gaps in prop::collection::vec(0u64..2_000_000, 1..200)) {
            let mut d = Delay::new(base, jit);
            let mut r = Rng::new(seed);
            let mut t = 0;
            let mut prev = 0;
            for g in gaps {
                t += g;
                let a = d.arrival(t, &mut r);
                prop_assert!(a >= prev, "reordered");
                prop_assert!(a >= t);
                // Never earlier than base - jitter; later than base + jitter only by FIFO.
                prop_assert!(a + jit >= t + base);
                prop_assert!(a <= (t + base + jit).max(prev));
                prev = a;
            }
        }
    }
}

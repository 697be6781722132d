//! Pacing of UDP datagrams: a token bucket on the monotonic clock (time
//! passed in, so it is testable). Credit accrues at the target rate; a sender
//! that fell behind catches up by at most [`MAX_BURST`] worth of datagrams,
//! so a stall shows as a lower achieved rate, not as a burst.

use std::time::Duration;

/// Longest catch-up after a stall.
pub const MAX_BURST: Duration = Duration::from_millis(10);

/// Datagrams due per unit of time.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Nanoseconds between datagrams.
    gap_ns: f64,
    /// The time (ns since start) the next datagram is due at.
    next_ns: f64,
}

impl Pacer {
    /// `rate_bps` of datagrams of `bytes` octets (payload).
    pub fn new(rate_bps: u64, bytes: usize) -> Pacer {
        let gap_ns = (bytes as f64 * 8.0 * 1e9) / rate_bps.max(1) as f64;
        Pacer {
            gap_ns,
            next_ns: 0.0,
        }
    }

    /// How many datagrams may go now (`now_ns` since start), at most `max`;
    /// they are taken as sent.
    pub fn due(&mut self, now_ns: u64, max: usize) -> usize {
        let now = now_ns as f64;
        let floor = now - MAX_BURST.as_nanos() as f64;
        if self.next_ns < floor {
            self.next_ns = floor;
        }
        let mut n = 0;
        while n < max && self.next_ns <= now {
            self.next_ns += self.gap_ns;
            n += 1;
        }
        n
    }

    /// Returns the credit of `n` datagrams that [`Pacer::due`] allowed but
    /// could not be sent (a full send queue), so they go next.
    pub fn give_back(&mut self, n: usize) {
        self.next_ns -= n as f64 * self.gap_ns;
    }

    /// Nanoseconds (since start) when the next datagram is due.
    pub fn next_ns(&self) -> u64 {
        self.next_ns.max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_at_the_rate() {
        // 1000-octet datagrams at 8 Mbit/s: one per millisecond.
        let mut p = Pacer::new(8_000_000, 1000);
        let mut sent = 0;
        for us in (0..1_000_000u64).step_by(50) {
            sent += p.due(us * 1000, 64);
        }
        assert!((999..=1001).contains(&sent), "{sent}");
        assert_eq!(p.next_ns(), 1_000_000_000);
    }

    #[test]
    fn a_stall_catches_up_by_a_bounded_burst() {
        let mut p = Pacer::new(8_000_000_000, 1000); // one per microsecond
        assert_eq!(p.due(0, 10_000), 1);
        // 100 ms stall: at most MAX_BURST (10 ms) worth, not 100,000.
        let n = p.due(100_000_000, 100_000);
        assert!((10_000..=10_001).contains(&n), "{n}");
        assert_eq!(p.due(100_000_000, 10_000), 0);
        p.give_back(3);
        assert_eq!(p.due(100_000_000, 10_000), 3);
    }
}

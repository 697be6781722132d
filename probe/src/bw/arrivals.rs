//! What a UDP receiver makes of the datagrams it gets, pure (times passed
//! in): distinct datagrams, duplicates, reordering, bytes, the receiving
//! interval and RFC 3550 interarrival jitter. Loss is the sender's count
//! minus the distinct datagrams received, so reordering never counts as loss.

use super::protocol::UdpFigures;

/// Sequence numbers remembered behind the highest one, to tell a duplicate.
const WINDOW: u64 = 1 << 16;
const WORDS: usize = (WINDOW / 64) as usize;

/// Running figures of one receiver.
#[derive(Debug, Clone)]
pub struct Arrivals {
    received: u64,
    duplicates: u64,
    reordered: u64,
    bytes: u64,
    first_ns: Option<u64>,
    last_ns: u64,
    /// Highest sequence number seen.
    max_seq: Option<u64>,
    /// Seen bits of the last WINDOW sequence numbers (seq % WINDOW).
    seen: Vec<u64>,
    prev_transit: Option<i128>,
    /// RFC 3550 jitter estimate, nanoseconds.
    jitter: f64,
}

impl Default for Arrivals {
    fn default() -> Self {
        Arrivals::new()
    }
}

impl Arrivals {
    pub fn new() -> Arrivals {
        Arrivals {
            received: 0,
            duplicates: 0,
            reordered: 0,
            bytes: 0,
            first_ns: None,
            last_ns: 0,
            max_seq: None,
            seen: vec![0; WORDS],
            prev_transit: None,
            jitter: 0.0,
        }
    }

    fn bit(&mut self, seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// One datagram of `len` octets, sent at `send_ns` (sender's clock),
    /// received at `recv_ns` (ours).
    pub fn record(&mut self, seq: u64, send_ns: u64, recv_ns: u64, len: usize) {
        match self.max_seq {
            Some(max) if seq <= max => {
                if max - seq >= WINDOW {
                    // Too old to tell; taken as new (counted reordered).
                    self.reordered += 1;
                } else {
                    let (w, b) = self.bit(seq);
                    let word = self.seen.get(w).copied().unwrap_or(0);
                    if word & b != 0 {
                        self.duplicates += 1;
                        return;
                    }
                    if let Some(x) = self.seen.get_mut(w) {
                        *x |= b;
                    }
                    self.reordered += 1;
                }
            }
            max => {
                // Forget the bits the window moves over.
                let from = max.map_or(seq, |m| m + 1);
                if seq - from >= WINDOW {
                    self.seen.iter_mut().for_each(|x| *x = 0);
                } else {
                    for s in from..seq {
                        let (w, b) = self.bit(s);
                        if let Some(x) = self.seen.get_mut(w) {
                            *x &= !b;
                        }
                    }
                }
                let (w, b) = self.bit(seq);
                if let Some(x) = self.seen.get_mut(w) {
                    *x |= b;
                }
                self.max_seq = Some(seq);
            }
        }
        self.received += 1;
        self.bytes += len as u64;
        self.first_ns.get_or_insert(recv_ns);
        self.last_ns = self.last_ns.max(recv_ns);
        // RFC 3550 section 6.4.1: J += (|D| - J) / 16, D the change in transit time.
        let transit = i128::from(recv_ns) - i128::from(send_ns);
        if let Some(prev) = self.prev_transit {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.prev_transit = Some(transit);
    }

    /// Distinct datagrams received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Octets of the distinct datagrams.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// First to last arrival, nanoseconds.
    pub fn interval_ns(&self) -> u64 {
        self.first_ns.map_or(0, |f| self.last_ns.saturating_sub(f))
    }

    /// The figures, given what the sender says it sent.
    pub fn figures(&self, sent: u64) -> UdpFigures {
        UdpFigures {
            sent,
            received: self.received,
            duplicates: self.duplicates,
            reordered: self.reordered,
            jitter_ns: self.jitter.round() as u64,
        }
    }
}

/// Loss in percent of `sent`: distinct datagrams missing (never below 0).
pub fn loss_pct(f: &UdpFigures) -> f64 {
    if f.sent == 0 {
        return 0.0;
    }
    f.sent.saturating_sub(f.received) as f64 * 100.0 / f.sent as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_stream_has_no_jitter_and_no_loss() {
        let mut a = Arrivals::new();
        for seq in 0..1000 {
            a.record(seq, seq * 1000, 5000 + seq * 1000, 100);
        }
        let f = a.figures(1000);
        assert_eq!(
            (f.received, f.duplicates, f.reordered, f.jitter_ns),
            (1000, 0, 0, 0)
        );
        assert_eq!(loss_pct(&f), 0.0);
        assert_eq!(a.bytes(), 100_000);
        assert_eq!(a.interval_ns(), 999_000);
    }

    #[test]
    fn reordering_is_not_loss_and_duplicates_are_not_received_twice() {
        let mut a = Arrivals::new();
        for seq in [0, 2, 1, 3, 3, 5, 4, 1] {
            a.record(seq, 0, 0, 10);
        }
        let f = a.figures(8);
        assert_eq!(f.received, 6);
        assert_eq!(f.duplicates, 2);
        assert_eq!(f.reordered, 2);
        assert_eq!(loss_pct(&f), 25.0);
    }

    #[test]
    fn loss_counts_missing_datagrams_also_at_the_end() {
        let mut a = Arrivals::new();
        for seq in (0..100).filter(|s| s % 10 != 3) {
            a.record(seq, 0, 0, 10);
        }
        let f = a.figures(110);
        assert_eq!(f.received, 90);
        assert!((loss_pct(&f) - 20.0 / 110.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn jitter_follows_rfc3550() {
        let mut a = Arrivals::new();
        // Transit alternates 1 ms and 2 ms: |D| = 1 ms every time, so J
        // converges to 1 ms.
        for seq in 0..500u64 {
            let transit = if seq % 2 == 0 { 1_000_000 } else { 2_000_000 };
            a.record(seq, seq * 10_000_000, seq * 10_000_000 + transit, 10);
        }
        let j = a.figures(500).jitter_ns;
        assert!((990_000..=1_000_000).contains(&j), "{j}");
        // After the first step: J = 1 ms / 16.
        let mut b = Arrivals::new();
        b.record(0, 0, 1_000_000, 10);
        b.record(1, 10, 2_000_010, 10);
        assert_eq!(b.figures(2).jitter_ns, 62_500);
    }

    #[test]
    fn a_jump_past_the_window_forgets_old_bits() {
        let mut a = Arrivals::new();
        a.record(0, 0, 0, 1);
        a.record(WINDOW * 3, 0, 0, 1);
        a.record(WINDOW * 3 - 5, 0, 0, 1);
        a.record(WINDOW * 3 - 5, 0, 0, 1);
        let f = a.figures(3);
        assert_eq!((f.received, f.duplicates), (3, 1));
    }
}

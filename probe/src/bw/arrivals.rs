//! What a UDP receiver makes of the datagrams it gets, pure (times passed
//! in): distinct datagrams, duplicates, reordering, bytes, the receiving
//! interval and RFC 3550 interarrival jitter. Loss is the sender's count
//! minus the distinct datagrams received, so reordering never counts as loss.
//!
//! Jitter is computed twice: over the kernel's receive stamps (the figure
//! reported: the path's jitter) and over the user-space clock read after each
//! `recv` (what iperf3 computes: the path plus the receiver's own wake-up and
//! scheduling delays). On loopback at 500 Mbit/s the first is a fraction of a
//! microsecond; the second, for us or iperf3, anything from 1 to 44 us,
//! depending on what else the machine runs (README, "Jitter: probe bw vs
//! iperf3").

use super::jitter::Rfc3550;
use super::protocol::UdpFigures;

/// When a datagram arrived, by the two clocks a receiver has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Nanoseconds, the receiver's clock read after `recv` returned.
    pub user_ns: u64,
    /// Nanoseconds, the kernel's receive stamp (its own clock: only
    /// differences between these are used), when the kernel gave one
    /// (`SO_TIMESTAMPNS`).
    pub kernel_ns: Option<u64>,
}

impl Arrival {
    /// An arrival known only by the user-space clock.
    pub fn user(ns: u64) -> Arrival {
        Arrival {
            user_ns: ns,
            kernel_ns: None,
        }
    }
}

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
    /// RFC 3550 over kernel receive stamps (datagrams that carry one).
    jitter_kernel: Rfc3550,
    /// RFC 3550 over the user-space clock read after `recv`.
    jitter_user: Rfc3550,
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
            jitter_kernel: Rfc3550::default(),
            jitter_user: Rfc3550::default(),
        }
    }

    fn bit(&mut self, seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// One datagram of `len` octets, sent at `send_ns` (sender's clock),
    /// received `at` (ours).
    pub fn record(&mut self, seq: u64, send_ns: u64, at: Arrival, len: usize) {
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
        self.first_ns.get_or_insert(at.user_ns);
        self.last_ns = self.last_ns.max(at.user_ns);
        if let Some(k) = at.kernel_ns {
            self.jitter_kernel.add(send_ns, k);
        }
        self.jitter_user.add(send_ns, at.user_ns);
    }

    /// RFC 3550 jitter, nanoseconds: over kernel receive stamps when at
    /// least two datagrams carried one, else over the user-space clock.
    pub fn jitter_ns(&self) -> u64 {
        if self.jitter_kernel.samples() >= 2 {
            self.jitter_kernel.ns()
        } else {
            self.jitter_user.ns()
        }
    }

    /// RFC 3550 jitter over the user-space clock read after each `recv`
    /// (iperf3's definition), nanoseconds.
    pub fn jitter_user_ns(&self) -> u64 {
        self.jitter_user.ns()
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
            jitter_ns: self.jitter_ns(),
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
            a.record(seq, seq * 1000, Arrival::user(5000 + seq * 1000), 100);
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
            a.record(seq, 0, Arrival::user(0), 10);
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
            a.record(seq, 0, Arrival::user(0), 10);
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
            a.record(
                seq,
                seq * 10_000_000,
                Arrival::user(seq * 10_000_000 + transit),
                10,
            );
        }
        let j = a.figures(500).jitter_ns;
        assert!((990_000..=1_000_000).contains(&j), "{j}");
    }

    /// The sender's pattern on loopback at 500 Mbit/s (bursts of 3 datagrams
    /// 6 us apart, every 65 us) with a steady path (kernel stamps 2 us after
    /// the send), read by a receiver that wakes 5 to 45 us late for each
    /// burst and then reads the queued datagrams 1 us apart.
    fn bursts_read_late(a: &mut Arrivals) {
        let mut seq = 0u64;
        for burst in 0..2000u64 {
            let start = burst * 65_000;
            let wake = start + 5_000 + (burst * 7_919 % 41) * 1_000;
            for i in 0..3u64 {
                let send = start + i * 6_000;
                let kernel = send + 2_000;
                let user = wake.max(kernel) + i * 1_000;
                a.record(
                    seq,
                    send,
                    Arrival {
                        user_ns: user,
                        kernel_ns: Some(kernel),
                    },
                    1472,
                );
                seq += 1;
            }
        }
    }

    #[test]
    fn jitter_is_the_paths_not_the_receivers_wake_up() {
        let mut a = Arrivals::new();
        bursts_read_late(&mut a);
        // The path is steady: the reported figure says so. Computed from the
        // user-space reads (as before), it would be the receiver's wake-up
        // delays, tens of microseconds.
        assert_eq!(a.figures(6000).jitter_ns, 0);
        assert!(a.jitter_user_ns() > 5_000, "{}", a.jitter_user_ns());
    }

    #[test]
    fn without_kernel_stamps_jitter_falls_back_to_the_user_clock() {
        let mut a = Arrivals::new();
        for seq in 0..100u64 {
            let transit = if seq % 2 == 0 { 1_000 } else { 3_000 };
            a.record(seq, seq * 50_000, Arrival::user(seq * 50_000 + transit), 10);
        }
        assert_eq!(a.figures(100).jitter_ns, a.jitter_user_ns());
        assert!(a.jitter_ns() > 1_500);
    }

    #[test]
    fn a_jump_past_the_window_forgets_old_bits() {
        let mut a = Arrivals::new();
        a.record(0, 0, Arrival::user(0), 1);
        a.record(WINDOW * 3, 0, Arrival::user(0), 1);
        a.record(WINDOW * 3 - 5, 0, Arrival::user(0), 1);
        a.record(WINDOW * 3 - 5, 0, Arrival::user(0), 1);
        let f = a.figures(3);
        assert_eq!((f.received, f.duplicates), (3, 1));
    }
}

//! RFC 3550 interarrival jitter (section 6.4.1, A.8), pure: J += (|D| - J)/16,
//! D the change in transit time (arrival minus the sender's stamp) between
//! consecutive datagrams. Which arrival stamp feeds it decides what it
//! measures: the kernel's receive stamp gives the path's jitter; a user-space
//! clock read after `recv` adds the receiver's own wake-up and scheduling
//! delays (see README, "Jitter: probe bw vs iperf3").

/// A running RFC 3550 estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rfc3550 {
    prev_transit: Option<i128>,
    /// Estimate, nanoseconds.
    jitter: f64,
    /// Transit times seen.
    samples: u64,
}

impl Rfc3550 {
    /// One datagram sent at `send_ns` (sender's clock) and received at
    /// `recv_ns` (ours; only differences matter, so the clocks' offset does not).
    pub fn add(&mut self, send_ns: u64, recv_ns: u64) {
        let transit = i128::from(recv_ns) - i128::from(send_ns);
        if let Some(prev) = self.prev_transit {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.prev_transit = Some(transit);
        self.samples += 1;
    }

    /// The estimate, nanoseconds.
    pub fn ns(&self) -> u64 {
        self.jitter.round() as u64
    }

    /// Transit times fed in.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_rfc_recursion() {
        let mut j = Rfc3550::default();
        // Transit alternates 1 ms and 2 ms: |D| = 1 ms every time, so J
        // converges to 1 ms.
        for seq in 0..500u64 {
            let transit = if seq % 2 == 0 { 1_000_000 } else { 2_000_000 };
            j.add(seq * 10_000_000, seq * 10_000_000 + transit);
        }
        assert!((990_000..=1_000_000).contains(&j.ns()), "{}", j.ns());
        assert_eq!(j.samples(), 500);
        // After the first step: J = 1 ms / 16.
        let mut b = Rfc3550::default();
        b.add(0, 1_000_000);
        b.add(10, 2_000_010);
        assert_eq!(b.ns(), 62_500);
    }

    #[test]
    fn a_constant_offset_between_clocks_does_not_matter() {
        let mut a = Rfc3550::default();
        let mut b = Rfc3550::default();
        for seq in 0..100u64 {
            let wobble = (seq % 3) * 700;
            a.add(seq * 20_000, seq * 20_000 + 5_000 + wobble);
            b.add(
                seq * 20_000,
                1_700_000_000_000_000_000 + seq * 20_000 + wobble,
            );
        }
        assert_eq!(a.ns(), b.ns());
        assert!(a.ns() > 0);
    }
}

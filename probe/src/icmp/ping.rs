//! `probe ping`: echo requests at a fixed interval, replies matched to this
//! run only, RTT distribution and loss.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use protocol::window::{DelayHistogram, TsSource};
use tokio::time::{sleep_until, Instant};

use super::classify::{Answer, Matcher};
use super::packet::{self, Family};
use super::report::PingReport;
use super::socket::{Incoming, ProbeProtocol, ProbeSocket, SocketChoice, SocketKind};
use super::IcmpError;
use crate::timestamping::Timestamp;

/// What `ping` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    pub target: IpAddr,
    /// Echo requests to send (1 ..= 65536: sequence numbers do not wrap).
    pub count: u32,
    /// Gap between requests.
    pub interval: Duration,
    /// How long to wait for replies after the last request.
    pub timeout: Duration,
    /// Echo payload octets (like `ping -s`).
    pub size: usize,
    pub socket: SocketChoice,
    /// Send from this local address (None: the kernel's choice).
    pub source: Option<IpAddr>,
}

impl PingOptions {
    pub fn new(target: IpAddr) -> PingOptions {
        PingOptions {
            target,
            count: 10,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            size: 56,
            socket: SocketChoice::Auto,
            source: None,
        }
    }
}

/// Replies per sequence number and the RTTs they gave. Pure.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    sent: HashMap<u16, Timestamp>,
    answered: HashMap<u16, u32>,
    pub rtt: DelayHistogram,
    pub duplicates: u64,
    pub weakest: Option<TsSource>,
}

impl Tally {
    pub fn sent(&mut self, seq: u16, at: Timestamp) {
        self.sent.insert(seq, at);
    }

    /// Records an answer to `seq` received at `ts`; false for duplicates and
    /// sequences never sent.
    pub fn answer(&mut self, seq: u16, ts: Timestamp, source: TsSource) -> bool {
        let Some(&sent_at) = self.sent.get(&seq) else {
            return false;
        };
        let n = self.answered.entry(seq).or_default();
        *n += 1;
        if *n > 1 {
            self.duplicates += 1;
            return false;
        }
        let rtt = ts.saturating_sub(sent_at);
        self.rtt
            .record_ns(u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX));
        self.weakest = Some(self.weakest.map_or(source, |w| w.min(source)));
        true
    }

    pub fn sent_count(&self) -> u64 {
        self.sent.len() as u64
    }

    pub fn received(&self) -> u64 {
        self.answered.len() as u64
    }

    pub fn all_answered(&self) -> bool {
        self.answered.len() == self.sent.len()
    }
}

pub(crate) fn loss_pct(sent: u64, received: u64) -> f64 {
    if sent == 0 {
        return 0.0;
    }
    let pct = 100.0 * sent.saturating_sub(received) as f64 / sent as f64;
    (pct * 1000.0).round() / 1000.0
}

/// A random non-zero echo identifier and payload token for this run.
pub(crate) fn run_identity() -> (u16, [u8; 8]) {
    let id = loop {
        let id: u16 = rand::random();
        if id != 0 {
            break id;
        }
    };
    (id, rand::random())
}

/// The identifier replies carry: the kernel's on datagram sockets.
pub(crate) fn effective_id(socket: &ProbeSocket, random: u16) -> u16 {
    match socket.kind() {
        SocketKind::Raw => random,
        SocketKind::Dgram => socket.local_port(),
    }
}

/// Pings `opts.target`; see [`PingOptions`].
pub async fn ping(opts: &PingOptions) -> Result<PingReport, IcmpError> {
    if opts.count == 0 || opts.count > 65_536 {
        return Err(IcmpError::Options(format!(
            "count {} is outside 1 ..= 65536",
            opts.count
        )));
    }
    if opts.interval.is_zero() {
        return Err(IcmpError::Options("interval must be above 0".to_owned()));
    }
    if opts.size > packet::MAX_PAYLOAD {
        return Err(IcmpError::Options(format!(
            "size {} is larger than {}",
            opts.size,
            packet::MAX_PAYLOAD
        )));
    }
    let family = Family::of(opts.target);
    let socket = ProbeSocket::open(family, ProbeProtocol::IcmpEcho, opts.socket, opts.source)?;
    let (random_id, token) = run_identity();
    let id = effective_id(&socket, random_id);
    let matcher = Matcher {
        family,
        kind: socket.kind(),
        protocol: ProbeProtocol::IcmpEcho,
        target: opts.target,
        id,
        udp_port: 0,
        token,
        max_seq: u16::try_from(opts.count - 1).unwrap_or(u16::MAX),
    };
    let payload = matcher.payload(opts.size);
    let dest = SocketAddr::new(opts.target, 0);
    let mut tally = Tally::default();
    let (mut unrelated, mut malformed, mut errors) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    let mut next_seq: u32 = 0;
    let mut deadline = start + opts.timeout;
    loop {
        let sending = next_seq < opts.count;
        if !sending && (tally.all_answered() || Instant::now() >= deadline) {
            break;
        }
        let next_send = start + opts.interval * next_seq;
        let wake = if sending { next_send } else { deadline };
        tokio::select! {
            _ = sleep_until(wake) => {
                if sending {
                    let seq = u16::try_from(next_seq).unwrap_or(u16::MAX);
                    let request = packet::echo_request(family, id, seq, &payload)?;
                    let at = socket.send_to(&request, dest)?;
                    tally.sent(seq, at);
                    next_seq += 1;
                    deadline = Instant::now() + opts.timeout;
                }
            }
            got = socket.recv(&mut buf) => {
                let answer = match got? {
                    Incoming::Message { from, len, ts, source } => {
                        matcher.message(&buf[..len], from).map(|a| (a, ts, source))
                    }
                    Incoming::QueuedError { icmp_type, code, dest, len, offender, ts, source } => {
                        matcher
                            .queued_error(icmp_type, code, &buf[..len], dest, offender)
                            .map(|a| (a, ts, source))
                    }
                };
                match answer {
                    Ok((Answer::Reached { seq }, ts, source)) => {
                        tally.answer(seq, ts, source);
                    }
                    Ok((Answer::Expired { .. } | Answer::Unreachable { .. }, _, _)) => errors += 1,
                    Ok((Answer::Looped, _, _)) => {}
                    Ok((Answer::Unrelated, _, _)) => unrelated += 1,
                    Err(_) => malformed += 1,
                }
            }
        }
    }
    let (sent, received) = (tally.sent_count(), tally.received());
    Ok(PingReport {
        target: opts.target,
        sent,
        received,
        rtt_us: tally.rtt.summary(),
        loss_pct: loss_pct(sent, received),
        duplicates: tally.duplicates,
        errors,
        unrelated,
        malformed,
        timestamping: tally.weakest,
        socket: Some(socket.kind()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_each_sequence_once() {
        let mut t = Tally::default();
        let at = Duration::from_secs(100);
        t.sent(0, at);
        t.sent(1, at);
        assert!(t.answer(0, at + Duration::from_micros(1500), TsSource::Kernel));
        assert!(!t.answer(0, at + Duration::from_micros(1600), TsSource::Kernel));
        assert!(!t.answer(7, at, TsSource::Kernel));
        assert_eq!((t.sent_count(), t.received(), t.duplicates), (2, 1, 1));
        assert!(!t.all_answered());
        assert!(t.answer(1, at + Duration::from_micros(2500), TsSource::User));
        assert!(t.all_answered());
        assert_eq!(t.weakest, Some(TsSource::User));
        let s = t.rtt.summary().unwrap();
        // Histogram buckets at 3 significant digits: 2500 lies in 2500..=2501.
        assert_eq!(s.min, 1500);
        assert!((2500..=2501).contains(&s.max), "{s:?}");
        assert_eq!(loss_pct(3, 2), 33.333);
        assert_eq!(loss_pct(0, 0), 0.0);
    }
}

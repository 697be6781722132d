//! `probe trace`: probes with rising TTL (ICMP echo, or UDP to high ports),
//! answered by the routers where they expire and finally by the target;
//! per hop the answering address(es), RTT distribution and loss.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use protocol::window::{DelayHistogram, TsSource};
use tokio::time::{sleep_until, Instant};

use super::classify::{Answer, Matcher, UDP_BASE_PORT};
use super::packet::{self, Family};
use super::ping::{effective_id, loss_pct, run_identity};
use super::report::{Hop, TraceReport};
use super::socket::{Incoming, ProbeProtocol, ProbeSocket, SocketChoice};
use super::IcmpError;
use crate::timestamping::Timestamp;

/// What `trace` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOptions {
    pub target: IpAddr,
    /// Highest TTL tried (1 ..= 64).
    pub max_hops: u8,
    /// Probes per TTL (1 ..= 10).
    pub queries: u8,
    pub protocol: ProbeProtocol,
    /// Wait for answers this long after the last probe.
    pub timeout: Duration,
    /// Gap between probes.
    pub send_gap: Duration,
    /// Payload octets per probe.
    pub size: usize,
    pub socket: SocketChoice,
    /// Send from this local address (None: the kernel's choice).
    pub source: Option<IpAddr>,
}

impl TraceOptions {
    pub fn new(target: IpAddr) -> TraceOptions {
        TraceOptions {
            target,
            max_hops: 30,
            queries: 3,
            protocol: ProbeProtocol::IcmpEcho,
            timeout: Duration::from_secs(1),
            send_gap: Duration::from_millis(5),
            size: 32,
            socket: SocketChoice::Auto,
            source: None,
        }
    }
}

/// One probe's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    ttl: u8,
    sent_at: Timestamp,
    answer: Option<(IpAddr, u64, Option<u8>)>,
}

/// Probes and answers of a run, folded into hops. Pure.
#[derive(Debug, Default)]
pub(crate) struct Hops {
    probes: HashMap<u16, Probe>,
    /// Lowest TTL the target answered at.
    reached: Option<u8>,
    /// Lowest TTL where someone reported the target unreachable.
    stopped: Option<u8>,
    weakest: Option<TsSource>,
}

impl Hops {
    pub fn sent(&mut self, seq: u16, ttl: u8, at: Timestamp) {
        self.probes.insert(
            seq,
            Probe {
                ttl,
                sent_at: at,
                answer: None,
            },
        );
    }

    /// Records `answer`, received from `from` at `ts`.
    pub fn answer(&mut self, answer: Answer, from: IpAddr, ts: Timestamp, source: TsSource) {
        let (seq, code, done) = match answer {
            Answer::Reached { seq } => (seq, None, true),
            Answer::Expired { seq } => (seq, None, false),
            Answer::Unreachable { seq, code } => (seq, Some(code), false),
            Answer::Looped | Answer::Unrelated => return,
        };
        let Some(p) = self.probes.get_mut(&seq) else {
            return;
        };
        if p.answer.is_some() {
            return;
        }
        let rtt = u64::try_from(ts.saturating_sub(p.sent_at).as_nanos()).unwrap_or(u64::MAX);
        p.answer = Some((from, rtt, code));
        self.weakest = Some(self.weakest.map_or(source, |w| w.min(source)));
        let ttl = p.ttl;
        if done {
            self.reached = Some(self.reached.map_or(ttl, |r| r.min(ttl)));
        }
        if code.is_some() {
            self.stopped = Some(self.stopped.map_or(ttl, |r| r.min(ttl)));
        }
    }

    /// The last TTL worth probing or reporting.
    pub fn last_ttl(&self) -> Option<u8> {
        match (self.reached, self.stopped) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every probe up to the last TTL has its answer.
    pub fn complete(&self) -> bool {
        let Some(last) = self.last_ttl() else {
            return false;
        };
        self.probes
            .values()
            .filter(|p| p.ttl <= last)
            .all(|p| p.answer.is_some())
    }

    /// Hops 1 ..= the last TTL (or the highest probed), named by `names`.
    pub fn report(
        &self,
        max_ttl: u8,
        names: Option<&(dyn Fn(IpAddr) -> Option<String> + Sync)>,
    ) -> Vec<Hop> {
        let last = self.last_ttl().unwrap_or(max_ttl);
        (1..=last)
            .map(|ttl| {
                let probes: Vec<&Probe> = self.probes.values().filter(|p| p.ttl == ttl).collect();
                let mut counts: Vec<(IpAddr, usize)> = Vec::new();
                let mut rtt = DelayHistogram::new();
                let mut unreachable = None;
                for (from, ns, code) in probes.iter().filter_map(|p| p.answer) {
                    rtt.record_ns(ns);
                    unreachable = unreachable.or(code);
                    match counts.iter_mut().find(|(a, _)| *a == from) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((from, 1)),
                    }
                }
                // Most frequent first; ties by address, so the report is stable.
                counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let address = counts.first().map(|c| c.0);
                let answered: usize = counts.iter().map(|c| c.1).sum();
                Hop {
                    ttl,
                    address,
                    site: address.and_then(|a| names.and_then(|f| f(a))),
                    rtt_us: rtt.summary(),
                    loss_pct: loss_pct(probes.len() as u64, answered as u64),
                    others: counts.iter().skip(1).map(|c| c.0).collect(),
                    unreachable,
                }
            })
            .collect()
    }
}

/// Traces the path to `opts.target`; `names` gives the site of a hop address.
pub async fn trace(
    opts: &TraceOptions,
    names: Option<&(dyn Fn(IpAddr) -> Option<String> + Sync)>,
) -> Result<TraceReport, IcmpError> {
    if !(1..=64).contains(&opts.max_hops) || !(1..=10).contains(&opts.queries) {
        return Err(IcmpError::Options(format!(
            "max hops {} (1 ..= 64) or queries {} (1 ..= 10) out of range",
            opts.max_hops, opts.queries
        )));
    }
    if opts.size > 1400 {
        return Err(IcmpError::Options(format!(
            "size {} is larger than 1400",
            opts.size
        )));
    }
    let family = Family::of(opts.target);
    let socket = ProbeSocket::open(family, opts.protocol, opts.socket, opts.source)?;
    let (random_id, token) = run_identity();
    let probes_total = u16::from(opts.max_hops) * u16::from(opts.queries);
    let matcher = Matcher {
        family,
        kind: socket.kind(),
        protocol: opts.protocol,
        target: opts.target,
        id: effective_id(&socket, random_id),
        udp_port: socket.local_port(),
        token,
        max_seq: probes_total - 1,
    };
    let payload = matcher.payload(opts.size);
    let mut hops = Hops::default();
    let (mut unrelated, mut malformed) = (0u64, 0u64);
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    let mut seq: u16 = 0;
    let mut ttl_set = 0u8;
    let mut deadline = start + opts.timeout;
    loop {
        let ttl = u8::try_from(seq / u16::from(opts.queries) + 1).unwrap_or(u8::MAX);
        let sending = seq < probes_total && hops.last_ttl().is_none_or(|last| ttl <= last);
        if !sending && (hops.complete() || Instant::now() >= deadline) {
            break;
        }
        let wake = if sending {
            start + opts.send_gap * u32::from(seq)
        } else {
            deadline
        };
        tokio::select! {
            _ = sleep_until(wake) => {
                if sending {
                    if ttl != ttl_set {
                        socket.set_ttl(ttl)?;
                        ttl_set = ttl;
                    }
                    let (bytes, dest) = match opts.protocol {
                        ProbeProtocol::IcmpEcho => (
                            packet::echo_request(family, matcher.id, seq, &payload)?,
                            SocketAddr::new(opts.target, 0),
                        ),
                        ProbeProtocol::Udp => (
                            payload.clone(),
                            SocketAddr::new(opts.target, UDP_BASE_PORT + seq),
                        ),
                    };
                    let at = socket.send_to(&bytes, dest)?;
                    hops.sent(seq, ttl, at);
                    seq += 1;
                    deadline = Instant::now() + opts.timeout;
                }
            }
            got = socket.recv(&mut buf) => {
                let parsed = match got? {
                    Incoming::Message { from, len, ts, source } => {
                        matcher.message(&buf[..len], from).map(|a| (a, Some(from), ts, source))
                    }
                    Incoming::QueuedError { icmp_type, code, dest, len, offender, ts, source } => {
                        matcher
                            .queued_error(icmp_type, code, &buf[..len], dest, offender)
                            .map(|a| (a, offender, ts, source))
                    }
                };
                match parsed {
                    Ok((Answer::Looped, _, _, _)) => {}
                    Ok((Answer::Unrelated, _, _, _)) => unrelated += 1,
                    Ok((answer, Some(from), ts, source)) => hops.answer(answer, from, ts, source),
                    // An error without an offender address: no hop to name.
                    Ok((_, None, _, _)) => unrelated += 1,
                    Err(_) => malformed += 1,
                }
            }
        }
    }
    let probed = u8::try_from(seq.div_ceil(u16::from(opts.queries))).unwrap_or(opts.max_hops);
    Ok(TraceReport {
        target: opts.target,
        hops: hops.report(probed, names),
        reached: hops.reached.is_some_and(|r| Some(r) == hops.last_ttl()),
        protocol: match opts.protocol {
            ProbeProtocol::IcmpEcho => "icmp",
            ProbeProtocol::Udp => "udp",
        }
        .to_owned(),
        unrelated,
        malformed,
        timestamping: hops.weakest,
        socket: Some(socket.kind()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const R1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 2));
    const R1B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 6));
    const T: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1));

    fn at(us: u64) -> Timestamp {
        Duration::from_secs(1000) + Duration::from_micros(us)
    }

    #[test]
    fn hops_fold_answers_per_ttl() {
        let mut h = Hops::default();
        // TTL 1: three probes, two answered by R1, one by R1B; TTL 2: the target.
        for seq in 0..6u16 {
            h.sent(seq, (seq / 3 + 1) as u8, at(0));
        }
        h.sent(6, 3, at(0));
        let k = TsSource::Kernel;
        h.answer(Answer::Expired { seq: 0 }, R1, at(13_000), k);
        h.answer(Answer::Expired { seq: 1 }, R1B, at(14_000), k);
        h.answer(Answer::Expired { seq: 2 }, R1, at(15_000), k);
        h.answer(Answer::Expired { seq: 2 }, R1B, at(16_000), k); // duplicate: ignored
        assert!(!h.complete());
        h.answer(Answer::Reached { seq: 3 }, T, at(17_000), k);
        h.answer(Answer::Reached { seq: 4 }, T, at(17_000), k);
        assert_eq!(h.last_ttl(), Some(2));
        assert!(!h.complete()); // seq 5 outstanding; seq 6 (TTL 3) does not count
        h.answer(Answer::Reached { seq: 6 }, T, at(17_000), TsSource::User);
        h.answer(Answer::Reached { seq: 5 }, T, at(17_000), k);
        assert!(h.complete());
        let names = |a: IpAddr| (a == R1).then(|| "b".to_owned());
        let hops = h.report(3, Some(&names));
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[0].address, Some(R1));
        assert_eq!(hops[0].others, vec![R1B]);
        assert_eq!(hops[0].site.as_deref(), Some("b"));
        let rtt = hops[0].rtt_us.unwrap();
        // Histogram buckets at 3 significant digits: 15000 lies in 15000..=15007.
        assert_eq!(rtt.min, 13_000);
        assert!((15_000..=15_007).contains(&rtt.max), "{rtt:?}");
        assert_eq!(hops[0].loss_pct, 0.0);
        assert_eq!(hops[1].address, Some(T));
        assert_eq!(hops[1].site, None);
        assert_eq!(h.weakest, Some(TsSource::User));
    }

    #[test]
    fn silent_hops_are_null_and_lost() {
        let mut h = Hops::default();
        h.sent(0, 1, at(0));
        h.sent(1, 2, at(0));
        h.answer(
            Answer::Unreachable { seq: 1, code: 1 },
            R1,
            at(5),
            TsSource::Kernel,
        );
        let hops = h.report(2, None);
        assert_eq!(hops[0].address, None);
        assert_eq!(hops[0].rtt_us, None);
        assert_eq!(hops[0].loss_pct, 100.0);
        assert_eq!(hops[1].unreachable, Some(1));
        assert_eq!(h.reached, None);
        // Nothing answered: every probed TTL is listed.
        let mut h = Hops::default();
        h.sent(0, 1, at(0));
        assert_eq!(h.report(4, None).len(), 4);
    }
}

//! Results of ping and traceroute as data (serde, the JSON the CLI prints
//! and the agent will upload) and as an aligned table.

use std::fmt::Write as _;
use std::net::IpAddr;

use protocol::window::{Summary, TsSource};
use serde::{Deserialize, Serialize};

use super::socket::SocketKind;

/// What `probe ping` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingReport {
    pub target: IpAddr,
    pub sent: u64,
    pub received: u64,
    /// Round trips in microseconds; null when nothing came back.
    pub rtt_us: Option<Summary>,
    pub loss_pct: f64,
    /// Replies to a sequence already answered (not counted in `received`).
    #[serde(default)]
    pub duplicates: u64,
    /// ICMP errors about our probes (unreachable, expired on the way).
    #[serde(default)]
    pub errors: u64,
    /// Other ICMP traffic seen on the socket (other runs, other hosts).
    #[serde(default)]
    pub unrelated: u64,
    /// Messages that did not parse.
    #[serde(default)]
    pub malformed: u64,
    /// The weakest receive timestamp behind any RTT: `kernel` or `user`.
    #[serde(default)]
    pub timestamping: Option<TsSource>,
    #[serde(default)]
    pub socket: Option<SocketKind>,
}

/// One TTL of a traceroute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub ttl: u8,
    /// The address that answered most often; null when none did.
    pub address: Option<IpAddr>,
    /// The site the topology places `address` at, if known.
    pub site: Option<String>,
    pub rtt_us: Option<Summary>,
    pub loss_pct: f64,
    /// Other addresses that answered for this TTL (load balancing, route
    /// changes), most frequent first.
    #[serde(default)]
    pub others: Vec<IpAddr>,
    /// An ICMP code when the hop reported the target unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<u8>,
}

/// What `probe trace` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    pub target: IpAddr,
    pub hops: Vec<Hop>,
    /// The target itself answered.
    pub reached: bool,
    /// `icmp` or `udp`.
    #[serde(default)]
    pub protocol: String,
    #[serde(default)]
    pub unrelated: u64,
    #[serde(default)]
    pub malformed: u64,
    #[serde(default)]
    pub timestamping: Option<TsSource>,
    #[serde(default)]
    pub socket: Option<SocketKind>,
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn describe(socket: Option<SocketKind>, ts: Option<TsSource>) -> String {
    let socket = match socket {
        Some(SocketKind::Raw) => "raw socket",
        Some(SocketKind::Dgram) => "datagram socket",
        None => "socket",
    };
    match ts {
        Some(ts) => format!("{socket}, {ts} timestamps"),
        None => socket.to_owned(),
    }
}

/// The ping result for people.
pub fn render_ping(r: &PingReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ping {}: {} sent, {} received, {:.1}% loss ({})",
        r.target,
        r.sent,
        r.received,
        r.loss_pct,
        describe(r.socket, r.timestamping)
    );
    if let Some(rtt) = r.rtt_us {
        let _ = writeln!(
            s,
            "rtt ms: min {} mean {} p50 {} p90 {} p99 {} max {}",
            ms(rtt.min),
            ms(rtt.mean),
            ms(rtt.p50),
            ms(rtt.p90),
            ms(rtt.p99),
            ms(rtt.max)
        );
    }
    if r.duplicates + r.errors + r.unrelated + r.malformed > 0 {
        let _ = writeln!(
            s,
            "duplicates {} errors {} unrelated {} malformed {}",
            r.duplicates, r.errors, r.unrelated, r.malformed
        );
    }
    s
}

/// The traceroute result for people: one line per TTL.
pub fn render_trace(r: &TraceReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "trace to {} ({}, {}): {}",
        r.target,
        r.protocol,
        describe(r.socket, r.timestamping),
        if r.reached {
            format!("reached at TTL {}", r.hops.len())
        } else {
            "not reached".to_owned()
        }
    );
    let _ = writeln!(
        s,
        "{:>3}  {:<39}  {:<16}  {:>6}  {:>9}  {:>9}  {:>9}",
        "TTL", "ADDRESS", "SITE", "LOSS%", "MIN ms", "P50 ms", "MAX ms"
    );
    for h in &r.hops {
        let addr = h.address.map_or_else(|| "*".to_owned(), |a| a.to_string());
        let (min, p50, max) = h.rtt_us.map_or(("-".into(), "-".into(), "-".into()), |t| {
            (ms(t.min), ms(t.p50), ms(t.max))
        });
        let _ = write!(
            s,
            "{:>3}  {:<39}  {:<16}  {:>6.1}  {:>9}  {:>9}  {:>9}",
            h.ttl,
            addr,
            h.site.as_deref().unwrap_or("-"),
            h.loss_pct,
            min,
            p50,
            max
        );
        if !h.others.is_empty() {
            let others: Vec<String> = h.others.iter().map(ToString::to_string).collect();
            let _ = write!(s, "  also {}", others.join(", "));
        }
        if let Some(code) = h.unreachable {
            let _ = write!(s, "  unreachable (code {code})");
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ping_json_has_the_documented_shape() {
        let r = PingReport {
            target: "198.18.1.1".parse().unwrap(),
            sent: 10,
            received: 10,
            rtt_us: Some(Summary {
                min: 1,
                mean: 2,
                p50: 2,
                p90: 3,
                p99: 3,
                max: 3,
            }),
            loss_pct: 0.0,
            duplicates: 0,
            errors: 0,
            unrelated: 0,
            malformed: 0,
            timestamping: Some(TsSource::Kernel),
            socket: Some(SocketKind::Raw),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["target"], "198.18.1.1");
        assert_eq!(v["rtt_us"]["p99"], 3);
        assert_eq!(v["loss_pct"], 0.0);
        assert_eq!(v["timestamping"], "kernel");
        assert_eq!(v["socket"], "raw");
        let back: PingReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        // The minimal documented form reads too.
        let min: PingReport = serde_json::from_str(
            r#"{"target":"198.18.1.1","sent":10,"received":0,"rtt_us":null,"loss_pct":100.0}"#,
        )
        .unwrap();
        assert_eq!(min.rtt_us, None);
        assert!(render_ping(&min).contains("100.0% loss"));
    }

    #[test]
    fn trace_json_has_nulls_where_nothing_answered() {
        let r = TraceReport {
            target: "198.18.2.1".parse().unwrap(),
            hops: vec![Hop {
                ttl: 1,
                address: None,
                site: None,
                rtt_us: None,
                loss_pct: 100.0,
                others: vec![],
                unreachable: None,
            }],
            reached: false,
            protocol: "icmp".into(),
            unrelated: 0,
            malformed: 0,
            timestamping: None,
            socket: Some(SocketKind::Dgram),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["hops"][0]["address"], serde_json::Value::Null);
        assert_eq!(v["hops"][0]["site"], serde_json::Value::Null);
        assert_eq!(v["hops"][0]["rtt_us"], serde_json::Value::Null);
        assert_eq!(v["reached"], false);
        assert!(render_trace(&r).contains("  1  *"));
    }
}

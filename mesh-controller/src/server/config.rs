//! The controller's configuration file (`serve --config mesh.yaml`): the
//! topology, the probes and where they sit, measurement settings, the
//! target-list mode, budgets and retention. Errors come back as one
//! `file:line:column: path: what was expected` line, positioned with the
//! topology crate's YAML locator.

use crate::history::{Levels, COARSE_MS};
use crate::monitor::alerts::AlertTiming;
use protocol::api::{Settings, StampMode};
use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use topology::error::LoadError;
use topology::yaml::{self, RawTopology, Seg, Seg::Index, Seg::Key};
use topology::{Budgets, Endpoint, Topology};

/// Defaults of `measurement:`.
pub const DEFAULT_SETTINGS: Settings = Settings {
    interval_ms: 100,
    window_s: 10,
    mode: StampMode::Unauthenticated,
    size: 64,
    timeout_ms: 2_000,
};

/// Smallest STAMP test packet (unauthenticated sender packet, RFC 8762).
const MIN_PACKET: u32 = 44;
/// Smallest authenticated STAMP test packet.
const MIN_AUTH_PACKET: u32 = 112;
/// Largest packet we ask for (jumbo frame).
const MAX_PACKET: u32 = 9_000;
/// Representatives per site in hierarchical mode when the file does not say.
pub const DEFAULT_REPRESENTATIVES: usize = 2;

/// How probes pick their targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetMode {
    /// Every probe measures every other probe.
    FullMesh,
    /// Full mesh within a site; the first `representatives` probes of each site
    /// (in file order) also measure the representatives of every other site.
    Hierarchical { representatives: usize },
    /// Every pair of endpoints a budget rule covers is measured by one session
    /// (a session measures both directions), spread over the probes of each
    /// endpoint; plus, with `representatives` > 0, the hierarchical mesh.
    Covered { representatives: usize },
}

/// How long stored windows are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw windows older than this are merged into coarse ones.
    pub raw: Duration,
    /// Coarse windows older than this are deleted.
    pub coarse: Duration,
    /// Length of a coarse window.
    pub coarse_window: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(24 * 3600),
            coarse: Duration::from_secs(30 * 24 * 3600),
            coarse_window: Duration::from_secs(300),
        }
    }
}

/// One probe of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub id: String,
    /// Where it measures from: its site, on its network.
    pub endpoint: Endpoint,
    /// Where its reflector listens.
    pub stamp: SocketAddr,
    /// Its IPv6 reflector address beside an IPv4 `stamp` (`stamp6:`): a dual
    /// stack probe (see `server::family` for which one a session uses).
    pub stamp6: Option<SocketAddr>,
    /// Where its bandwidth server listens (TCP): `bw:`, else the reflector's
    /// address and port.
    pub bw: SocketAddr,
}

/// `bandwidth:`: tests scheduled in round-robin tournament rounds, one round
/// per period, so each probe is in at most one test at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    /// One round per period.
    pub period: Duration,
    /// Length of each direction of a test (a test is forward, then reverse).
    pub duration: Duration,
    pub streams: u32,
    /// UDP at this rate (bits/s) instead of TCP.
    pub udp_rate_bps: Option<u64>,
}

/// `icmp:`: ping hosts without a probe, trace to every peer.
pub type Icmp = protocol::api::IcmpSettings;

/// Defaults of `icmp:`.
pub const DEFAULT_ICMP: Icmp = Icmp {
    ping_interval_ms: 1_000,
    trace_period_s: 300,
    max_hops: 30,
};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file itself.
    pub path: PathBuf,
    pub topology: Topology,
    /// The budgets in force (the file's `budgets:`, else the topology's).
    pub budgets: Budgets,
    pub probes: Vec<ProbeSpec>,
    /// The per-probe token hashes.
    pub secrets: PathBuf,
    pub settings: Settings,
    pub targets: TargetMode,
    pub retention: Retention,
    /// Null: no bandwidth tests.
    pub bandwidth: Option<Bandwidth>,
    /// Null: no ICMP ping or traces.
    pub icmp: Option<Icmp>,
    /// Other files the configuration was built from (topology, budgets), whose
    /// changes trigger a reload like the configuration's own.
    pub sources: Vec<PathBuf>,
    /// Rollup bucket lengths (`history:`).
    pub history: Levels,
    /// Budget alerts and their receivers (`alerts:`; evaluated with the
    /// defaults and sent nowhere when the section is absent).
    pub alerts: Alerts,
}

/// `alerts:`: how routes are judged over time and who is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    pub timing: AlertTiming,
    /// Look-back each evaluation judges (read in whole fine buckets).
    pub window: Duration,
    /// How often alerts (and events) are evaluated.
    pub evaluate_every: Duration,
    pub receivers: Vec<Receiver>,
    /// Where the controller is reached, for links in notifications; default
    /// `http://` plus the listen address.
    pub external_url: Option<String>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            timing: AlertTiming::default(),
            window: Duration::from_secs(60),
            evaluate_every: Duration::from_secs(15),
            receivers: Vec::new(),
            external_url: None,
        }
    }
}

/// A webhook receiver (Alertmanager's webhook JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub name: String,
    /// `http://host:port/path` or `https://...`.
    pub url: String,
    /// The HMAC key (`secret_file`'s contents, trailing newline removed).
    pub secret: Option<Vec<u8>>,
    /// For an https receiver: the CA (PEM) its certificate is checked
    /// against instead of the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl Config {
    pub fn probe(&self, id: &str) -> Option<&ProbeSpec> {
        self.probes.iter().find(|p| p.id == id)
    }

    /// `site` or `site@network` of a probe.
    pub fn endpoint_name(&self, probe: &ProbeSpec) -> String {
        probe.endpoint.name(&self.topology)
    }
}

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a controller configuration mapping {topology, probes, secrets, measurement, targets, budgets, retention, bandwidth, icmp, history, alerts}"
)]
struct RawConfig {
    topology: RawTopologyRef,
    #[serde(default)]
    probes: Vec<RawProbe>,
    #[serde(default)]
    secrets: Option<String>,
    #[serde(default)]
    measurement: Option<RawMeasurement>,
    #[serde(default)]
    targets: Option<RawTargets>,
    #[serde(default)]
    budgets: Option<String>,
    #[serde(default)]
    retention: Option<RawRetention>,
    #[serde(default)]
    bandwidth: Option<RawBandwidth>,
    #[serde(default)]
    icmp: Option<RawIcmp>,
    #[serde(default)]
    history: Option<RawHistory>,
    #[serde(default)]
    alerts: Option<RawAlerts>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an alerts mapping {for, resolve_for, hysteresis_ms, loss_pct, no_data_after, clock_error_fraction, window, evaluate_every, external_url, receivers}"
)]
struct RawAlerts {
    #[serde(default, rename = "for")]
    hold: Option<Dur>,
    #[serde(default)]
    resolve_for: Option<Dur>,
    #[serde(default)]
    hysteresis_ms: Option<f64>,
    #[serde(default)]
    loss_pct: Option<f64>,
    #[serde(default)]
    no_data_after: Option<Dur>,
    #[serde(default)]
    clock_error_fraction: Option<f64>,
    #[serde(default)]
    window: Option<Dur>,
    #[serde(default)]
    evaluate_every: Option<Dur>,
    #[serde(default)]
    external_url: Option<String>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a receiver mapping {name, url, secret_file, ca_file}"
)]
struct RawReceiver {
    name: String,
    url: String,
    #[serde(default)]
    secret_file: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a history mapping {fine}")]
struct RawHistory {
    #[serde(default)]
    fine: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a bandwidth mapping {period, duration, streams, udp_rate}"
)]
struct RawBandwidth {
    #[serde(default)]
    period: Option<Dur>,
    #[serde(default)]
    duration: Option<Dur>,
    #[serde(default)]
    streams: Option<u32>,
    #[serde(default)]
    udp_rate: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an icmp mapping {ping_interval, trace_period, max_hops}"
)]
struct RawIcmp {
    #[serde(default)]
    ping_interval: Option<Dur>,
    #[serde(default)]
    trace_period: Option<Dur>,
    #[serde(default)]
    max_hops: Option<u8>,
}

/// `topology: national`, `topology: path/to/file.yaml`, or a whole topology
/// (version 1) written inline.
#[derive(Debug)]
enum RawTopologyRef {
    Named(String),
    Inline(Box<RawTopology>),
}

impl<'de> Deserialize<'de> for RawTopologyRef {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTopologyRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "`national`, a topology file path, or an inline topology mapping (version 1)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTopologyRef, E> {
                Ok(RawTopologyRef::Named(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTopologyRef, A::Error> {
                let raw = RawTopology::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawTopologyRef::Inline(Box::new(raw)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a probe mapping {id, site, network, stamp, stamp6, bw}"
)]
struct RawProbe {
    id: String,
    site: String,
    #[serde(default)]
    network: Option<String>,
    stamp: String,
    #[serde(default)]
    stamp6: Option<String>,
    #[serde(default)]
    bw: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a measurement mapping {interval, window, mode, size, timeout}"
)]
struct RawMeasurement {
    #[serde(default)]
    interval: Option<Dur>,
    #[serde(default)]
    window: Option<Dur>,
    #[serde(default)]
    mode: Option<StampMode>,
    #[serde(default)]
    size: Option<u32>,
    #[serde(default)]
    timeout: Option<Dur>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawTargetMode {
    FullMesh,
    Hierarchical,
    Covered,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a targets mapping {mode: full-mesh}, {mode: hierarchical, representatives: N} or {mode: covered, representatives: N}"
)]
struct RawTargets {
    mode: RawTargetMode,
    #[serde(default)]
    representatives: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a retention mapping {raw, coarse, coarse_window}"
)]
struct RawRetention {
    #[serde(default)]
    raw: Option<Dur>,
    #[serde(default)]
    coarse: Option<Dur>,
    #[serde(default)]
    coarse_window: Option<Dur>,
}

/// A duration written `100ms`, `10s`, `5m`, `24h` or `30d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// Parses `100ms`, `10s`, `5m`, `24h`, `30d` (a whole number and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("expected a duration such as 100ms, 10s, 5m, 24h or 30d, found {text:?}")
    })?;
    let ms_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "expected a duration such as 100ms, 10s, 5m, 24h or 30d, found {text:?} (units: ms, s, m, h, d)"
            ))
        }
    };
    n.checked_mul(ms_per)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 100ms, 10s, 5m, 24h or 30d")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

// ---------------------------------------------------------------------------
// Loading and checking.

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let origin = path.display().to_string();
    let src = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(origin.as_str(), format!("cannot read configuration: {e}")))?;
    from_str(&src, &origin, path)
}

/// Validates configuration text; `path` (the file it came from) anchors the
/// relative paths inside it.
pub fn from_str(src: &str, origin: &str, path: &Path) -> Result<Config, LoadError> {
    let raw: RawConfig = serde_yaml::from_str(src).map_err(|e| yaml::yaml_error(origin, &e))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |p: &[Seg], msg: String| -> LoadError {
        let shown = yaml::path_string(p);
        yaml::error_at(src, origin, p, format!("{shown}: {msg}"))
    };
    let mut sources = Vec::new();

    let topology = match &raw.topology {
        RawTopologyRef::Named(name) if name == topology::national::NATIONAL_NAME => {
            topology::national::national()
        }
        RawTopologyRef::Named(file) => {
            let file = dir.join(file);
            sources.push(file.clone());
            topology::load::from_file(&file)?
        }
        RawTopologyRef::Inline(t) => {
            topology::load::from_raw_at(t, src, origin, &[Key("topology")])?
        }
    };

    let budgets = match &raw.budgets {
        None => topology.budgets.clone(),
        Some(name) => match topology::budgets::preset(name) {
            Some(b) => b,
            None => {
                let file = dir.join(name);
                if !file.exists() {
                    return Err(fail(
                        &[Key("budgets")],
                        format!(
                            "no such budget preset or file {name:?} (presets: {})",
                            topology::budgets::PRESETS.join(", ")
                        ),
                    ));
                }
                sources.push(file.clone());
                topology::load::budgets_arg(&file.display().to_string(), &topology)?
            }
        },
    };

    let probes = check_probes(&raw.probes, &topology, &fail)?;
    let settings = check_measurement(raw.measurement.as_ref(), &fail)?;

    let targets = match &raw.targets {
        None => TargetMode::FullMesh,
        Some(t) => match (t.mode, t.representatives) {
            (RawTargetMode::FullMesh, Some(_)) => {
                return Err(fail(
                    &[Key("targets"), Key("representatives")],
                    "representatives apply to `mode: hierarchical` only".to_string(),
                ))
            }
            (RawTargetMode::FullMesh, None) => TargetMode::FullMesh,
            (RawTargetMode::Hierarchical, r) => {
                let r = r.unwrap_or(DEFAULT_REPRESENTATIVES as u64);
                if !(1..=1_000).contains(&r) {
                    return Err(fail(
                        &[Key("targets"), Key("representatives")],
                        format!("expected 1 to 1000 representatives per site, found {r}"),
                    ));
                }
                TargetMode::Hierarchical {
                    representatives: r as usize,
                }
            }
            (RawTargetMode::Covered, r) => {
                let r = r.unwrap_or(0);
                if r > 1_000 {
                    return Err(fail(
                        &[Key("targets"), Key("representatives")],
                        format!("expected 0 to 1000 representatives per site, found {r}"),
                    ));
                }
                TargetMode::Covered {
                    representatives: r as usize,
                }
            }
        },
    };

    let mut retention = Retention::default();
    if let Some(r) = &raw.retention {
        if let Some(Dur(d)) = r.raw {
            retention.raw = d;
        }
        if let Some(Dur(d)) = r.coarse {
            retention.coarse = d;
        }
        if let Some(Dur(d)) = r.coarse_window {
            retention.coarse_window = d;
        }
        if retention.coarse_window < Duration::from_secs(1) {
            return Err(fail(
                &[Key("retention"), Key("coarse_window")],
                "expected a coarse window of at least 1s".to_string(),
            ));
        }
        if retention.raw < Duration::from_secs(1) {
            return Err(fail(
                &[Key("retention"), Key("raw")],
                "expected raw retention of at least 1s".to_string(),
            ));
        }
        if retention.coarse < retention.raw {
            return Err(fail(
                &[Key("retention"), Key("coarse")],
                "coarse retention must be at least as long as raw retention".to_string(),
            ));
        }
    }

    let bandwidth = raw
        .bandwidth
        .as_ref()
        .map(|b| check_bandwidth(b, &fail))
        .transpose()?;
    let icmp = raw
        .icmp
        .as_ref()
        .map(|i| check_icmp(i, &fail))
        .transpose()?;

    let history = match raw.history.as_ref().and_then(|h| h.fine) {
        None => Levels::default(),
        Some(Dur(d)) => {
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            if !(1_000..=COARSE_MS).contains(&ms) || !COARSE_MS.is_multiple_of(ms) {
                return Err(fail(
                    &[Key("history"), Key("fine")],
                    "expected a fine rollup bucket from 1s to 1h that divides an hour (e.g. 10s, 1m, 5m)".to_string(),
                ));
            }
            Levels { fine_ms: ms }
        }
    };

    let alerts = match &raw.alerts {
        None => Alerts::default(),
        Some(a) => check_alerts(a, dir, history, &mut sources, &fail)?,
    };

    let secrets = dir.join(raw.secrets.as_deref().unwrap_or("secrets.yaml"));
    Ok(Config {
        alerts,
        history,
        bandwidth,
        icmp,
        path: path.to_path_buf(),
        topology,
        budgets,
        probes,
        secrets,
        settings,
        targets,
        retention,
        sources,
    })
}

/// Parses a rate in bits/s: `500M`, `100m`, `1G`, `2.5g`, `800k`, `1000`.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_lowercase() {
                'k' => 1e3,
                'm' => 1e6,
                'g' => 1e9,
                _ => {
                    return Err(format!(
                        "expected a rate such as 100M or 1G (bits/s), found {text:?}"
                    ))
                }
            };
            (&t[..i], m)
        }
        _ => (t, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("expected a rate such as 100M or 1G (bits/s), found {text:?}"))?;
    let bps = v * mult;
    if !(bps.is_finite() && (1_000.0..=100e9).contains(&bps)) {
        return Err(format!("rate {text:?} is out of range (1k to 100G bits/s)"));
    }
    Ok(bps as u64)
}

fn check_bandwidth(
    b: &RawBandwidth,
    fail: &dyn Fn(&[Seg], String) -> LoadError,
) -> Result<Bandwidth, LoadError> {
    let at = |k: &'static str| [Key("bandwidth"), Key(k)];
    let duration = b.duration.map_or(Duration::from_secs(5), |d| d.0);
    if !(Duration::from_millis(500)..=Duration::from_secs(60)).contains(&duration) {
        return Err(fail(
            &at("duration"),
            "expected a test length from 500ms to 60s".to_string(),
        ));
    }
    let period = b.period.map_or(Duration::from_secs(60), |d| d.0);
    // Forward, then reverse, and room for connecting and the results.
    let least = duration * 2 + Duration::from_secs(5);
    if period < least {
        return Err(fail(
            &at("period"),
            format!(
                "a round must last at least twice the test length plus 5s ({}s here)",
                least.as_secs()
            ),
        ));
    }
    let streams = b.streams.unwrap_or(1);
    if !(1..=16).contains(&streams) {
        return Err(fail(
            &at("streams"),
            format!("expected 1 to 16 streams, found {streams}"),
        ));
    }
    let udp_rate_bps = b
        .udp_rate
        .as_deref()
        .map(parse_rate)
        .transpose()
        .map_err(|e| fail(&at("udp_rate"), e))?;
    Ok(Bandwidth {
        period,
        duration,
        streams,
        udp_rate_bps,
    })
}

fn check_icmp(i: &RawIcmp, fail: &dyn Fn(&[Seg], String) -> LoadError) -> Result<Icmp, LoadError> {
    let at = |k: &'static str| [Key("icmp"), Key(k)];
    let mut out = DEFAULT_ICMP;
    if let Some(Dur(d)) = i.ping_interval {
        if d < Duration::from_millis(10) {
            return Err(fail(
                &at("ping_interval"),
                "expected at least 10ms".to_string(),
            ));
        }
        out.ping_interval_ms = d.as_millis() as u64;
    }
    if let Some(Dur(d)) = i.trace_period {
        if d != Duration::ZERO && d < Duration::from_secs(10) {
            return Err(fail(
                &at("trace_period"),
                "expected 0 (no traces) or at least 10s".to_string(),
            ));
        }
        out.trace_period_s = d.as_secs();
    }
    if let Some(h) = i.max_hops {
        if !(1..=64).contains(&h) {
            return Err(fail(
                &at("max_hops"),
                format!("expected 1 to 64 hops, found {h}"),
            ));
        }
        out.max_hops = h;
    }
    Ok(out)
}

fn check_alerts(
    a: &RawAlerts,
    dir: &Path,
    history: Levels,
    sources: &mut Vec<PathBuf>,
    fail: &dyn Fn(&[Seg], String) -> LoadError,
) -> Result<Alerts, LoadError> {
    let at = |k: &'static str| [Key("alerts"), Key(k)];
    let mut out = Alerts::default();
    let day = Duration::from_secs(86_400);
    if let Some(Dur(d)) = a.hold {
        if d > day {
            return Err(fail(&at("for"), "expected at most 1d".to_string()));
        }
        out.timing.hold = d;
    }
    if let Some(Dur(d)) = a.resolve_for {
        if d > day {
            return Err(fail(&at("resolve_for"), "expected at most 1d".to_string()));
        }
        out.timing.resolve_for = d;
    }
    if let Some(h) = a.hysteresis_ms {
        if !(h.is_finite() && (0.0..1000.0).contains(&h)) {
            return Err(fail(
                &at("hysteresis_ms"),
                format!("expected 0 to 1000 ms, found {h}"),
            ));
        }
        out.timing.hysteresis_ms = h;
    }
    if let Some(l) = a.loss_pct {
        if !(l.is_finite() && l > 0.0 && l <= 100.0) {
            return Err(fail(
                &at("loss_pct"),
                format!("expected a loss percentage above 0 and at most 100, found {l}"),
            ));
        }
        out.timing.loss_pct = l;
    }
    if let Some(Dur(d)) = a.no_data_after {
        if d < Duration::from_secs(10) || d > 7 * day {
            return Err(fail(&at("no_data_after"), "expected 10s to 7d".to_string()));
        }
        out.timing.no_data_after = d;
    }
    if let Some(f) = a.clock_error_fraction {
        if !(f.is_finite() && f > 0.0 && f <= 1.0) {
            return Err(fail(
                &at("clock_error_fraction"),
                format!("expected a fraction of the budget above 0 and at most 1, found {f}"),
            ));
        }
        out.timing.clock_error_fraction = f;
    }
    if let Some(Dur(d)) = a.window {
        if d < Duration::from_millis(history.fine_ms) || d > day {
            return Err(fail(
                &at("window"),
                format!(
                    "expected a look-back from one fine rollup bucket ({} s) to 1d",
                    history.fine_ms / 1000
                ),
            ));
        }
        out.window = d;
    }
    if let Some(Dur(d)) = a.evaluate_every {
        if d < Duration::from_secs(1) || d > Duration::from_secs(600) {
            return Err(fail(
                &at("evaluate_every"),
                "expected 1s to 10m".to_string(),
            ));
        }
        out.evaluate_every = d;
    }
    if let Some(u) = &a.external_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(fail(
                &at("external_url"),
                format!("expected an http:// or https:// URL, found {u:?}"),
            ));
        }
        out.external_url = Some(u.trim_end_matches('/').to_string());
    }
    for (i, r) in a.receivers.iter().enumerate() {
        let rat = |k: &'static str| [Key("alerts"), Key("receivers"), Index(i), Key(k)];
        if !valid_id(&r.name) {
            return Err(fail(
                &rat("name"),
                format!(
                    "invalid receiver name {:?} (expected 1 to 64 lowercase letters a-z, digits and '-')",
                    r.name
                ),
            ));
        }
        if let Some(j) = out.receivers.iter().position(|o| o.name == r.name) {
            return Err(fail(
                &rat("name"),
                format!("duplicate receiver {:?} (first at receivers[{j}])", r.name),
            ));
        }
        let rest = r
            .url
            .strip_prefix("http://")
            .or_else(|| r.url.strip_prefix("https://"))
            .ok_or_else(|| {
                fail(
                    &rat("url"),
                    format!(
                        "expected http://host:port/path or https://..., found {:?}",
                        r.url
                    ),
                )
            })?;
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() {
            return Err(fail(
                &rat("url"),
                format!(
                    "expected http://host:port/path or https://..., found {:?}",
                    r.url
                ),
            ));
        }
        let ca_file = match &r.ca_file {
            None => None,
            Some(_) if !r.url.starts_with("https://") => {
                return Err(fail(
                    &rat("ca_file"),
                    "a CA file is for an https:// receiver".to_string(),
                ))
            }
            Some(f) => {
                let file = dir.join(f);
                if !file.is_file() {
                    return Err(fail(
                        &rat("ca_file"),
                        format!("no such file {}", file.display()),
                    ));
                }
                sources.push(file.clone());
                Some(file)
            }
        };
        let secret = match &r.secret_file {
            None => None,
            Some(f) => {
                let file = dir.join(f);
                let text = std::fs::read(&file).map_err(|e| {
                    fail(
                        &rat("secret_file"),
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?;
                let key = text.trim_ascii_end().to_vec();
                if key.is_empty() {
                    return Err(fail(
                        &rat("secret_file"),
                        format!("{} is empty", file.display()),
                    ));
                }
                sources.push(file);
                Some(key)
            }
        };
        out.receivers.push(Receiver {
            name: r.name.clone(),
            url: r.url.clone(),
            secret,
            ca_file,
        });
    }
    Ok(out)
}

/// Ids in the configuration (probes, receivers) follow the probe id rule.
fn valid_id(id: &str) -> bool {
    protocol::id::is_probe_id(id)
}

/// Whether `id` could name a probe (also checked on uploads): the rule is
/// `protocol::id`'s, so the configuration and the upload checks agree.
pub fn is_probe_id(id: &str) -> bool {
    protocol::id::is_probe_id(id)
}

fn check_probes(
    raw: &[RawProbe],
    topo: &Topology,
    fail: &dyn Fn(&[Seg], String) -> LoadError,
) -> Result<Vec<ProbeSpec>, LoadError> {
    let mut out: Vec<ProbeSpec> = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let at = |k: &'static str| [Key("probes"), Index(i), Key(k)];
        if !valid_id(&p.id) {
            return Err(fail(
                &at("id"),
                format!(
                    "invalid probe id {:?} (expected 1 to 64 lowercase letters a-z, digits and '-')",
                    p.id
                ),
            ));
        }
        if let Some(j) = out.iter().position(|o| o.id == p.id) {
            return Err(fail(
                &at("id"),
                format!(
                    "duplicate probe id {:?} (first declared at probes[{j}])",
                    p.id
                ),
            ));
        }
        let site = topo.site_index(&p.site).ok_or_else(|| {
            let known: Vec<&str> = topo.sites.iter().take(12).map(|s| s.id.as_str()).collect();
            let more = if topo.sites.len() > 12 { ", ..." } else { "" };
            fail(
                &at("site"),
                format!(
                    "unknown site {:?} (expected one of: {}{more})",
                    p.site,
                    known.join(", ")
                ),
            )
        })?;
        let network = match (&p.network, topo.networks.is_empty()) {
            (None, true) => None,
            (Some(n), true) => {
                return Err(fail(
                    &at("network"),
                    format!("unknown network {n:?} (the topology declares no networks)"),
                ))
            }
            (None, false) => {
                let at_site: Vec<&str> = topo.sites[site]
                    .networks
                    .iter()
                    .map(|&n| topo.networks[n].id.as_str())
                    .collect();
                return Err(fail(
                    &[Key("probes"), Index(i)],
                    format!(
                        "probe {:?} needs `network:` (the topology declares carriers; at site {:?}: {})",
                        p.id,
                        p.site,
                        at_site.join(", ")
                    ),
                ));
            }
            (Some(n), false) => {
                let idx = topo.network_index(n).ok_or_else(|| {
                    let known: Vec<&str> = topo.networks.iter().map(|n| n.id.as_str()).collect();
                    fail(
                        &at("network"),
                        format!(
                            "unknown network {n:?} (expected one of: {})",
                            known.join(", ")
                        ),
                    )
                })?;
                if !topo.sites[site].networks.contains(&idx) {
                    return Err(fail(
                        &at("network"),
                        format!("network {n:?} is not present at site {:?}", p.site),
                    ));
                }
                Some(idx)
            }
        };
        let stamp: SocketAddr = p.stamp.parse().map_err(|_| {
            fail(
                &at("stamp"),
                format!(
                    "expected the reflector's address as ip:port (e.g. 127.0.0.1:862), found {:?}",
                    p.stamp
                ),
            )
        })?;
        if let Some(j) = out.iter().position(|o| o.stamp == stamp) {
            return Err(fail(
                &at("stamp"),
                format!("probes[{j}] already listens on {stamp}"),
            ));
        }
        let stamp6 = match &p.stamp6 {
            None => None,
            Some(s) => {
                let a: SocketAddr = s.parse().map_err(|_| {
                    fail(
                        &at("stamp6"),
                        format!(
                            "expected the reflector's IPv6 address as [ip]:port (e.g. \"[2001:2::1]:862\"), found {s:?}"
                        ),
                    )
                })?;
                if !a.is_ipv6() || a.ip().to_canonical().is_ipv4() {
                    return Err(fail(
                        &at("stamp6"),
                        format!("expected an IPv6 address, found {a}"),
                    ));
                }
                if stamp.is_ipv6() {
                    return Err(fail(
                        &at("stamp6"),
                        format!("stamp {stamp} is IPv6 already: stamp6 goes beside an IPv4 stamp"),
                    ));
                }
                if let Some(j) = out.iter().position(|o| o.stamp == a || o.stamp6 == Some(a)) {
                    return Err(fail(
                        &at("stamp6"),
                        format!("probes[{j}] already listens on {a}"),
                    ));
                }
                Some(a)
            }
        };
        if let Some(j) = out.iter().position(|o| o.stamp6 == Some(stamp)) {
            return Err(fail(
                &at("stamp"),
                format!("probes[{j}] already listens on {stamp}"),
            ));
        }
        let bw = match &p.bw {
            None => stamp,
            Some(b) => b.parse().map_err(|_| {
                fail(
                    &at("bw"),
                    format!("expected the bandwidth server's address as ip:port, found {b:?}"),
                )
            })?,
        };
        out.push(ProbeSpec {
            id: p.id.clone(),
            endpoint: Endpoint { site, network },
            stamp,
            stamp6,
            bw,
        });
    }
    Ok(out)
}

fn check_measurement(
    raw: Option<&RawMeasurement>,
    fail: &dyn Fn(&[Seg], String) -> LoadError,
) -> Result<Settings, LoadError> {
    let mut s = DEFAULT_SETTINGS;
    let Some(m) = raw else { return Ok(s) };
    let at = |k: &'static str| [Key("measurement"), Key(k)];
    if let Some(Dur(d)) = m.interval {
        if d < Duration::from_millis(1) || d > Duration::from_secs(3600) {
            return Err(fail(
                &at("interval"),
                "expected an interval from 1ms to 1h".to_string(),
            ));
        }
        s.interval_ms = d.as_millis() as u64;
    }
    if let Some(Dur(d)) = m.window {
        if d < Duration::from_secs(1) || d > Duration::from_secs(3600) || d.subsec_millis() != 0 {
            return Err(fail(
                &at("window"),
                "expected a window of whole seconds from 1s to 1h".to_string(),
            ));
        }
        s.window_s = d.as_secs();
    }
    if let Some(mode) = m.mode {
        s.mode = mode;
    }
    if let Some(Dur(d)) = m.timeout {
        if d < Duration::from_millis(1) || d > Duration::from_secs(60) {
            return Err(fail(
                &at("timeout"),
                "expected a timeout from 1ms to 60s".to_string(),
            ));
        }
        s.timeout_ms = d.as_millis() as u64;
    }
    if let Some(size) = m.size {
        s.size = size;
    }
    let min = match s.mode {
        StampMode::Unauthenticated => MIN_PACKET,
        StampMode::Authenticated => MIN_AUTH_PACKET,
    };
    if !(min..=MAX_PACKET).contains(&s.size) {
        return Err(fail(
            &at("size"),
            format!(
                "expected a packet size from {min} to {MAX_PACKET} bytes in {} mode, found {}",
                s.mode.as_str(),
                s.size
            ),
        ));
    }
    Ok(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn load_str(src: &str) -> Result<Config, LoadError> {
        from_str(src, "mesh.yaml", Path::new("/tmp/mesh.yaml"))
    }

    const SMALL: &str = "\
topology:
  version: 1
  sites:
    - {id: a, kind: city, location: [30, 104]}
    - {id: b, kind: city, location: [31, 105]}
  links:
    - {between: [a, b], delay_ms: 2}
probes:
  - {id: a-1, site: a, stamp: 127.0.0.1:18620}
  - {id: b-1, site: b, stamp: 127.0.0.1:18621}
measurement: {interval: 50ms, window: 5s}
targets: {mode: hierarchical, representatives: 1}
retention: {raw: 1h, coarse: 2d, coarse_window: 1m}
";

    #[test]
    fn inline_topology_and_settings() {
        let c = load_str(SMALL).unwrap();
        assert_eq!(c.topology.sites.len(), 2);
        assert_eq!(c.probes.len(), 2);
        assert_eq!(c.settings.interval_ms, 50);
        assert_eq!(c.settings.window_s, 5);
        assert_eq!(c.targets, TargetMode::Hierarchical { representatives: 1 });
        assert_eq!(c.retention.coarse_window, Duration::from_secs(60));
        assert_eq!(c.secrets, Path::new("/tmp/secrets.yaml"));
    }

    #[test]
    fn errors_point_into_the_config() {
        let bad = SMALL.replace("site: b,", "site: c,");
        let e = load_str(&bad).unwrap_err();
        assert_eq!((e.line, e.column), (Some(10), Some(21)), "{e}");
        assert!(
            e.message.starts_with("probes[1].site: unknown site \"c\""),
            "{e}"
        );

        let bad = SMALL.replace("{between: [a, b]", "{between: [a, x]");
        let e = load_str(&bad).unwrap_err();
        assert_eq!((e.line, e.column), (Some(7), Some(21)), "{e}");
        assert!(e.message.starts_with("topology.links[0].between[1]"), "{e}");

        let bad = SMALL.replace("window: 5s", "window: 5 parsecs");
        let e = load_str(&bad).unwrap_err();
        assert_eq!(e.line, Some(11), "{e}");

        let bad = SMALL.replace("stamp: 127.0.0.1:18621", "stamp: nowhere");
        let e = load_str(&bad).unwrap_err();
        assert!(e.message.contains("ip:port"), "{e}");
    }

    #[test]
    fn ipv6_and_dual_stack_probes() {
        let src = SMALL
            .replace("stamp: 127.0.0.1:18620", "stamp: \"[::1]:18620\"")
            .replace(
                "stamp: 127.0.0.1:18621}",
                "stamp: 127.0.0.1:18621, stamp6: \"[2001:2:0:1::1]:18621\"}",
            );
        let c = load_str(&src).unwrap();
        assert_eq!(c.probes[0].stamp.to_string(), "[::1]:18620");
        assert_eq!(c.probes[0].stamp6, None);
        assert_eq!(
            c.probes[1].stamp6.map(|a| a.to_string()).as_deref(),
            Some("[2001:2:0:1::1]:18621")
        );
        // Both ends have IPv6: the dual-stack probe is reached at its v6 address.
        let plan = crate::server::targets::plan(&c);
        assert_eq!(plan["a-1"].targets[0].stamp, "[2001:2:0:1::1]:18621");
        assert_eq!(plan["b-1"].targets[0].stamp, "[::1]:18620");
        for (bad, why) in [
            ("stamp6: \"198.18.0.1:1\"", "expected an IPv6 address"),
            (
                "stamp6: \"[::ffff:198.18.0.1]:1\"",
                "expected an IPv6 address",
            ),
            ("stamp6: nowhere", "[ip]:port"),
            ("stamp6: \"[::1]:18620\"", "already listens"),
        ] {
            let src = SMALL.replace(
                "stamp: 127.0.0.1:18621}",
                &format!("stamp: 127.0.0.1:18621, {bad}}}"),
            );
            let src = src.replace("stamp: 127.0.0.1:18620", "stamp: \"[::1]:18620\"");
            let e = load_str(&src).unwrap_err();
            assert!(e.message.starts_with("probes[1].stamp6"), "{bad}: {e}");
            assert!(e.message.contains(why), "{bad}: {e}");
        }
        // stamp6 beside an IPv6 stamp is refused.
        let src = SMALL.replace(
            "stamp: 127.0.0.1:18621}",
            "stamp: \"[::1]:18621\", stamp6: \"[::2]:18621\"}",
        );
        let e = load_str(&src).unwrap_err();
        assert!(e.message.contains("IPv6 already"), "{e}");
    }

    #[test]
    fn national_needs_networks_on_probes() {
        let src =
            "topology: national\nprobes:\n  - {id: bj-1, site: beijing, stamp: 127.0.0.1:1}\n";
        let e = load_str(src).unwrap_err();
        assert!(e.message.contains("needs `network:`"), "{e}");
        let ok = "topology: national\nprobes:\n  - {id: bj-1, site: beijing, network: telecom, stamp: 127.0.0.1:1}\n";
        let c = load_str(ok).unwrap();
        assert_eq!(c.endpoint_name(&c.probes[0]), "beijing@telecom");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}

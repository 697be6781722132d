//! The probe <-> controller wire types (JSON over HTTP, under `/v1`): what a
//! probe says when it starts, the assignment it gets back (targets and
//! measurement settings), the windows it uploads and the acknowledgements.
//! Serde structures only, shared by the controller and the probe agent so the
//! two cannot drift apart.
//!
//! The measurement window itself is a type parameter (`W`): in practice
//! [`crate::window::Window`] (counters plus HdrHistograms, serialized base64
//! V2 + deflate); the controller reads it as raw JSON first.

use serde::{Deserialize, Serialize};

/// Path prefix of every API call.
pub const PREFIX: &str = "/v1";
/// Probe calls carry `Authorization: Bearer <token>`.
pub const BEARER: &str = "Bearer ";

/// A probe's clock as it reports it (see the probe's `ClockStatus`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Whether the kernel (or the operator) says the clock is synchronized.
    pub synchronized: bool,
    /// The error the probe announces, in microseconds.
    pub error_us: u64,
    /// What keeps the clock in time, as far as the probe can tell (absent
    /// from probes older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ClockSource>,
    /// A test knob is moving this probe's clock: every timestamp it puts on
    /// the wire is off by this much. Its one-way figures are test data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_clock: Option<TestClock>,
}

/// What disciplines a probe's clock (the sync sources of RFC 8972's
/// Timestamp Information TLV, plus how the probe learned its error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockSource {
    /// NTP, as chrony (or the kernel's PLL) reports it.
    Ntp,
    /// PTP, as linuxptp's `pmc` (or a PHC reference in chrony) reports it.
    Ptp,
    /// A GNSS receiver or PPS reference.
    Gnss,
    /// Nothing disciplines it.
    FreeRunning,
    /// The operator stated the error (`--clock-error`).
    Stated,
}

impl ClockSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockSource::Ntp => "ntp",
            ClockSource::Ptp => "ptp",
            ClockSource::Gnss => "gnss",
            ClockSource::FreeRunning => "free-running",
            ClockSource::Stated => "stated",
        }
    }
}

/// A test clock's settings: the offset it adds at start and how fast that
/// grows (see `probe reflect --test-clock-offset`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestClock {
    /// Added to every timestamp, nanoseconds (negative: behind).
    pub offset_ns: i64,
    /// Added per second of true time, parts per billion.
    pub drift_ppb: i64,
}

impl std::fmt::Display for TestClock {
    /// How reports label a test clock's data: `TEST CLOCK +2.500 ms, +0 ppb`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TEST CLOCK {:+.3} ms, {:+} ppb",
            self.offset_ns as f64 / 1e6,
            self.drift_ppb
        )
    }
}

/// `POST /v1/hello`: a probe starting (or restarting) its agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The probe's id; must be the id its token belongs to.
    pub probe: String,
    /// Agent version, for the operator.
    pub version: String,
    /// `/proc/sys/kernel/random/boot_id`: two probes with the same boot id read
    /// the same kernel clock, so one-way delays between them have no clock error.
    pub boot_id: Option<String>,
    pub clock: ClockInfo,
    /// Where the probe's reflector actually listens, when it differs from the
    /// inventory (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
}

/// STAMP mode of the sessions (RFC 8762).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StampMode {
    #[default]
    Unauthenticated,
    Authenticated,
}

impl StampMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StampMode::Unauthenticated => "unauthenticated",
            StampMode::Authenticated => "authenticated",
        }
    }
}

/// How a probe measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Settings {
    /// Mean interval between test packets of one session (sends are randomized
    /// around it).
    pub interval_ms: u64,
    /// Length of a result window.
    pub window_s: u64,
    pub mode: StampMode,
    /// STAMP packet size in bytes (symmetric).
    pub size: u32,
    /// A packet without a reply after this long counts as lost.
    pub timeout_ms: u64,
}

/// One session to run: measure from this probe to `probe`'s reflector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The target probe's id (what the window's `target` names).
    pub probe: String,
    pub site: String,
    pub network: Option<String>,
    /// `ip:port` of the target's reflector.
    pub stamp: String,
    /// STAMP Session-Sender Identifier, stable for this (sender, target) pair.
    pub ssid: u16,
}

/// What a probe should do: the answer to hello and to a changed target list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub probe: String,
    /// Opaque number that changes whenever this probe's assignment does; the
    /// probe passes it back to `GET /v1/targets?generation=N`.
    pub generation: u64,
    pub settings: Settings,
    pub targets: Vec<Target>,
    /// The sequence number the controller expects next (last stored + 1; 1 for
    /// a probe it has never heard from). Windows below it may be replayed
    /// safely: they are acknowledged as duplicates.
    pub next_seq: u64,
    /// The same for results (`POST /v1/results`).
    #[serde(default = "one")]
    pub next_result_seq: u64,
    /// Hosts without a probe to ping (and trace).
    #[serde(default)]
    pub icmp_targets: Vec<IcmpTarget>,
    /// Null: no ICMP measurement.
    #[serde(default)]
    pub icmp: Option<IcmpSettings>,
    /// Whether to poll `GET /v1/bw/task` (bandwidth tests are scheduled).
    #[serde(default)]
    pub bandwidth: bool,
}

fn one() -> u64 {
    1
}

/// One result window of one session, as uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowUpload<W> {
    /// Per-probe sequence number (from 1, increasing, never reused): ingest is
    /// idempotent on (probe, seq).
    pub seq: u64,
    /// The target probe's id.
    pub target: String,
    /// Start of the window, Unix time in milliseconds (the sender's clock).
    pub start_unix_ms: u64,
    pub duration_ms: u64,
    /// Counters and serialized histograms (the probe's `Window`).
    pub window: W,
    /// The weakest timestamp source behind the window (`user`, `kernel`,
    /// `hardware`); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamping: Option<crate::window::TsSource>,
    /// SSID of the session, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssid: Option<u16>,
}

/// `POST /v1/windows`: a batch of windows, stored all or nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowBatch<W> {
    /// The uploading probe; must be the token's probe.
    pub probe: String,
    pub windows: Vec<WindowUpload<W>>,
}

/// The answer to a stored batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadAck {
    /// Sequence numbers stored by this call.
    pub accepted: Vec<u64>,
    /// Sequence numbers already stored before (replays): not stored again.
    pub duplicate: Vec<u64>,
    /// Last stored sequence number + 1.
    pub next_seq: u64,
}

/// The body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Short machine-readable code: `unauthorized`, `forbidden`, `bad-request`, ...
    pub error: String,
    /// One line for a person.
    pub reason: String,
}

/// One probe as `GET /v1/probes` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub id: String,
    pub site: String,
    pub network: Option<String>,
    pub stamp: String,
    pub version: Option<String>,
    pub boot_id: Option<String>,
    pub clock: Option<ClockInfo>,
    /// Last hello, Unix ms.
    pub last_hello_unix_ms: Option<u64>,
    /// Last accepted upload, Unix ms.
    pub last_upload_unix_ms: Option<u64>,
    /// Highest sequence number stored.
    pub last_seq: Option<u64>,
    /// Raw windows stored.
    pub windows: u64,
    /// Windows merged into coarse ones by retention.
    pub windows_merged: u64,
    /// Results (bandwidth tests, pings, traces) stored.
    #[serde(default)]
    pub results: u64,
    /// Highest result sequence number stored.
    #[serde(default)]
    pub last_result_seq: Option<u64>,
}

/// `GET /v1/probes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeList {
    pub probes: Vec<ProbeStatus>,
}

// ---------------------------------------------------------------------------
// Results that are not STAMP windows: bandwidth tests, ICMP ping windows to
// hosts without a probe, and traceroutes. They travel like windows (spooled,
// numbered per probe in their own sequence, ingested idempotently on
// (probe, seq)) through `POST /v1/results`.

/// Min, mean and percentiles of a round-trip time, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RttStats {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// One bandwidth test in one direction (`probe bw`'s JSON, without `target`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BwResult {
    /// `forward`: the uploading probe sent to the target; `reverse`: the target sent.
    pub direction: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    pub streams: u32,
    pub duration_s: f64,
    /// Measured at the receiving side.
    pub throughput_mbit: f64,
    #[serde(default)]
    pub retransmits: Option<u64>,
    #[serde(default)]
    pub loss_pct: Option<f64>,
    #[serde(default)]
    pub jitter_us: Option<f64>,
}

/// ICMP echo to a host without a probe, over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingResult {
    pub sent: u64,
    pub received: u64,
    /// Null when nothing came back.
    #[serde(default)]
    pub rtt_us: Option<RttStats>,
    pub loss_pct: f64,
}

/// One TTL of a traceroute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceHop {
    pub ttl: u8,
    /// The (most frequent) responding address; null when nothing answered.
    #[serde(default)]
    pub address: Option<String>,
    /// The site the address belongs to, when the topology knows it (named by
    /// the probe or, failing that, by the controller).
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub rtt_us: Option<RttStats>,
    pub loss_pct: f64,
}

/// A traceroute towards a peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceResult {
    /// The address traced to.
    pub address: String,
    pub hops: Vec<TraceHop>,
    pub reached: bool,
}

/// What a result is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ResultBody {
    Bandwidth(BwResult),
    Ping(PingResult),
    Trace(TraceResult),
}

impl ResultBody {
    pub fn kind(&self) -> &'static str {
        match self {
            ResultBody::Bandwidth(_) => "bandwidth",
            ResultBody::Ping(_) => "ping",
            ResultBody::Trace(_) => "trace",
        }
    }
}

/// One result, as uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultUpload {
    /// Per-probe sequence number of results (from 1; a sequence of its own,
    /// apart from the windows'): ingest is idempotent on (probe, seq).
    pub seq: u64,
    /// What was measured: a probe id (bandwidth, trace to a peer) or a site id
    /// (ping and trace to a host without a probe).
    pub target: String,
    /// When the measurement started, Unix ms (the probe's clock).
    pub start_unix_ms: u64,
    #[serde(flatten)]
    pub body: ResultBody,
}

/// `POST /v1/results`: stored all or nothing, like windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultBatch {
    pub probe: String,
    pub results: Vec<ResultUpload>,
}

/// A host without a probe that agents ping (a site with an address).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpTarget {
    pub site: String,
    pub address: String,
}

/// Settings of the ICMP side of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpSettings {
    /// Interval between echo requests to one ICMP target.
    pub ping_interval_ms: u64,
    /// Each peer (and ICMP target) is traced once per this period; 0: never.
    pub trace_period_s: u64,
    pub max_hops: u8,
}

/// `GET /v1/bw/task`: the bandwidth test this probe runs now, as the client
/// of a tournament round: forward, then reverse, to the target's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BwTask {
    /// The round's slot number (tasks are handed out once per slot).
    pub slot: u64,
    /// The target probe's id.
    pub target: String,
    /// `ip:port` of the target's bandwidth server.
    pub address: String,
    pub duration_ms: u64,
    pub streams: u32,
    /// UDP at this rate instead of TCP.
    #[serde(default)]
    pub udp_rate_bps: Option<u64>,
    /// The test must be over by then (Unix ms): the next round starts.
    pub deadline_unix_ms: u64,
}

/// The answer of `GET /v1/bw/task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BwTaskAnswer {
    pub task: Option<BwTask>,
    /// Ask again after this long.
    pub retry_after_ms: u64,
}

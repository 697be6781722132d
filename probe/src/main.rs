//! `probe`: the measuring agent on every cluster and city host. A thin shell:
//! the library does the work; this maps arguments in and errors to exit codes
//! (0 ok, 1 no reply at all, 2 bad input or cannot start).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use probe::bw::{self as bwlib, parse_rate, BwRequest};
use probe::clock::{boot_id, ClockStatus};
use probe::reflector::{self, Cidr, Policy, RunOptions};
use probe::sender::{self, ReflectorType, SameClock, Schedule, StampConfig};
use probe::units::{parse_duration, read_key_file};
use probe::{agent, flood, icmp, signals};

#[derive(Parser, Debug)]
#[command(
    name = "probe",
    version,
    about = "hubmesh probe: STAMP (RFC 8762/8972) sender and reflector with kernel timestamps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a STAMP Session-Reflector (stateful, per sender address and SSID).
    Reflect(ReflectArgs),
    /// Measure to a STAMP reflector: RTT, one-way delays, loss per direction.
    Stamp(StampArgs),
    /// Measure under a controller: reflector, STAMP sessions to the assigned
    /// targets, windows spooled on disk and uploaded.
    Agent(AgentArgs),
    /// Print the local clock status (adjtimex) and boot id.
    Clock(ClockArgs),
    /// ICMP echo round trips to a host (IPv4 or IPv6).
    Ping(PingArgs),
    /// The path to a host: ICMP echo (default) or UDP probes with rising TTL,
    /// hops named by the site a topology places them at.
    Trace(TraceArgs),
    /// Measure throughput to a probe (reflect or agent): TCP with parallel
    /// streams, or paced UDP with loss and jitter.
    Bw(BwArgs),
    /// Load generator for reflector throughput figures (bench only).
    #[command(hide = true)]
    Flood(FloodArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
struct ReflectArgs {
    /// Address and port to listen on (repeat for several; one thread each).
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:862")]
    listen: Vec<SocketAddr>,
    /// Authenticated mode: HMAC key from this file (one trailing newline
    /// trimmed); unauthenticated packets are then dropped and counted.
    #[arg(long, value_name = "FILE")]
    auth_key_file: Option<PathBuf>,
    /// Answer only sources in this prefix (repeatable; IPv4 or IPv6).
    #[arg(long, value_name = "CIDR")]
    allow: Vec<Cidr>,
    /// Packets per second per source address (token bucket, a quarter second
    /// deep); 0 disables the limit.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_pps: u64,
    /// Sessions (and rate-limited sources) kept at most; new ones beyond are
    /// dropped and counted.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_sessions: usize,
    /// Forget a session unused this long.
    #[arg(long, value_name = "DUR", default_value = "300s", value_parser = parse_duration)]
    session_idle: Duration,
    /// State the local clock's error (e.g. PTP-disciplined): announced with
    /// the S bit instead of what adjtimex says.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    clock_error: Option<Duration>,
    /// Period of the summary line on stderr; 0 logs only at exit.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    log_interval: Duration,
    /// Socket receive buffer in octets, to ride out bursts (the kernel caps
    /// it at net.core.rmem_max); 0 keeps the system default.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    recv_buffer: usize,
    /// User-space timestamps only (for comparison).
    #[arg(long, hide = true)]
    user_timestamps: bool,
    #[command(flatten)]
    bw: BwServerArgs,
}

/// The bandwidth-test server beside the reflector (`probe bw` connects to it).
#[derive(Args, Debug)]
struct BwServerArgs {
    /// TCP address of the bandwidth-test server (default: the first --listen
    /// address and port, on TCP).
    #[arg(long, value_name = "ADDR:PORT")]
    bw_listen: Option<SocketAddr>,
    /// No bandwidth-test server.
    #[arg(long, conflicts_with = "bw_listen")]
    no_bw: bool,
}

#[derive(Args, Debug)]
struct BwArgs {
    /// The probe's address (host:port; its reflector's port unless it was
    /// started with another --bw-listen).
    #[arg(value_name = "TARGET:PORT")]
    target: String,
    /// Parallel TCP streams.
    #[arg(long, short = 'P', value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    streams: u32,
    /// How long to send.
    #[arg(long, short = 't', value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// The server sends, we receive.
    #[arg(long, short = 'R')]
    reverse: bool,
    /// UDP at --rate instead of TCP: loss and jitter too.
    #[arg(long, short = 'u')]
    udp: bool,
    /// UDP target rate in bits/s: 500M, 100m, 1G, 800k.
    #[arg(long, short = 'b', value_name = "RATE", value_parser = parse_rate)]
    rate: Option<u64>,
    /// Prove the probe's key (the same key as authenticated STAMP).
    #[arg(long, value_name = "FILE")]
    auth_key_file: Option<PathBuf>,
    /// Local address for our sockets.
    #[arg(long, value_name = "ADDR")]
    bind: Option<std::net::IpAddr>,
    /// Output: a short summary, or one line of JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Args, Debug)]
struct StampArgs {
    /// Reflector address (host:port).
    #[arg(value_name = "TARGET:PORT")]
    target: String,
    /// Packets to send (default 10 unless --duration is given).
    #[arg(long, short = 'c', value_name = "N")]
    count: Option<u64>,
    /// Mean gap between packets.
    #[arg(long, short = 'i', value_name = "DUR", default_value = "100ms", value_parser = parse_duration)]
    interval: Duration,
    /// Send for at most this long.
    #[arg(long, short = 'd', value_name = "DUR", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Send times: jitter (uniform 0.5-1.5 x interval), poisson, or fixed.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Jitter)]
    schedule: ScheduleArg,
    /// Octets per packet (UDP payload); default: the smallest holding what
    /// is asked for.
    #[arg(long, short = 's', value_name = "BYTES")]
    size: Option<usize>,
    /// DSCP for our packets, and asked of the reflector's replies (Class of
    /// Service TLV; the reflector reports what it received).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..64))]
    dscp: Option<u8>,
    /// STAMP Session Identifier.
    #[arg(long, value_name = "N", default_value_t = 0)]
    ssid: u16,
    /// Authenticated mode with the HMAC key in this file.
    #[arg(long, value_name = "FILE")]
    auth_key_file: Option<PathBuf>,
    /// A packet without reply is lost after this (default 1 s, or 3 x the
    /// largest RTT seen if longer).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Output: an aligned table, or the JSON session report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Do not ask for Follow-Up Telemetry (T3 is then the reflector's
    /// estimate before sending).
    #[arg(long)]
    no_follow_up: bool,
    /// The reflector reads the same kernel clock (same host, other namespace):
    /// one-way error bound 0. Implied for loopback targets.
    #[arg(long, conflicts_with = "separate_clocks")]
    same_host: bool,
    /// Treat the clocks as separate even on loopback.
    #[arg(long)]
    separate_clocks: bool,
    /// The reflector echoes our sequence numbers (RFC 8762 stateless):
    /// round-trip loss only.
    #[arg(long)]
    stateless_reflector: bool,
    /// State the local clock's error (e.g. PTP-disciplined).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    clock_error: Option<Duration>,
    /// User-space timestamps only (for comparison).
    #[arg(long, hide = true)]
    user_timestamps: bool,
}

#[derive(Args, Debug)]
struct AgentArgs {
    /// The controller, http://host:port.
    #[arg(long, value_name = "URL")]
    controller: String,
    /// This probe's id (as in the controller's configuration).
    #[arg(long, value_name = "ID")]
    id: String,
    /// File holding this probe's token (from `mesh-controller token add`).
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    /// Where the reflector listens (announced to the controller when given).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Spool directory: windows wait here (fsynced) until acknowledged.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/hubmesh/spool")]
    spool: PathBuf,
    /// Bound on the spool; when reached, new windows are dropped (the oldest
    /// are kept) with a warning.
    #[arg(long, value_name = "MB", default_value_t = 256)]
    spool_max_mb: u64,
    /// The bound in bytes, overriding --spool-max-mb (for tests).
    #[arg(long, value_name = "BYTES", hide = true)]
    spool_max_bytes: Option<u64>,
    /// State the local clock's error (e.g. PTP-disciplined).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    clock_error: Option<Duration>,
    /// HMAC key for authenticated STAMP (when the controller asks for it).
    #[arg(long, value_name = "FILE")]
    auth_key_file: Option<PathBuf>,
    /// How often to ask the controller for target-list changes.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    poll: Duration,
    /// Longest wait between retries.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    max_backoff: Duration,
    #[command(flatten)]
    bw: BwServerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScheduleArg {
    Jitter,
    Poisson,
    Fixed,
}

#[derive(Args, Debug)]
struct ClockArgs {
    /// Output: one line per field, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Show the status as it is with this stated error.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    clock_error: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SocketArg {
    /// Datagram where net.ipv4.ping_group_range admits us, raw otherwise.
    Auto,
    Dgram,
    Raw,
}

impl From<SocketArg> for icmp::SocketChoice {
    fn from(s: SocketArg) -> Self {
        match s {
            SocketArg::Auto => icmp::SocketChoice::Auto,
            SocketArg::Dgram => icmp::SocketChoice::Dgram,
            SocketArg::Raw => icmp::SocketChoice::Raw,
        }
    }
}

#[derive(Args, Debug)]
struct PingArgs {
    /// Host name or address.
    #[arg(value_name = "HOST")]
    host: String,
    /// Echo requests to send.
    #[arg(long, short = 'c', value_name = "N", default_value_t = 10)]
    count: u32,
    /// Gap between requests.
    #[arg(long, short = 'i', value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    /// Wait this long for replies after the last request.
    #[arg(long, short = 'W', value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
    /// Echo payload octets.
    #[arg(long, short = 's', value_name = "BYTES", default_value_t = 56)]
    size: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Socket kind.
    #[arg(long, value_enum, default_value_t = SocketArg::Auto)]
    socket: SocketArg,
    /// Send from this local address (picks the carrier on a host with one
    /// address per carrier).
    #[arg(long, value_name = "ADDR")]
    source: Option<std::net::IpAddr>,
}

#[derive(Args, Debug)]
struct TraceArgs {
    /// Host name or address.
    #[arg(value_name = "HOST")]
    host: String,
    /// Highest TTL tried.
    #[arg(long, short = 'm', value_name = "N", default_value_t = 30)]
    max_hops: u8,
    /// Probes per TTL.
    #[arg(long, short = 'q', value_name = "N", default_value_t = 3)]
    queries: u8,
    /// UDP probes to high ports (33434 and up) instead of ICMP echo.
    #[arg(long)]
    udp: bool,
    /// Name hops by site: a topology file, or `national`.
    #[arg(long, value_name = "FILE|national")]
    topology: Option<String>,
    /// Wait this long for answers after the last probe.
    #[arg(long, short = 'W', value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Socket kind.
    #[arg(long, value_enum, default_value_t = SocketArg::Auto)]
    socket: SocketArg,
    /// Send from this local address (picks the carrier on a host with one
    /// address per carrier).
    #[arg(long, value_name = "ADDR")]
    source: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProtocolArg {
    Stamp,
    Sockperf,
}

#[derive(Args, Debug)]
struct FloodArgs {
    #[arg(value_name = "TARGET:PORT")]
    target: String,
    /// Packets per second.
    #[arg(long, value_name = "PPS")]
    rate: u64,
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    duration: Duration,
    #[arg(long, value_name = "BYTES", default_value_t = 44)]
    size: usize,
    /// Spread packets over this many SSIDs (sessions on the reflector).
    #[arg(long, value_name = "N", default_value_t = 1)]
    ssids: u16,
    /// Wait this long for replies after the last send.
    #[arg(long, value_name = "DUR", default_value = "300ms", value_parser = parse_duration)]
    grace: Duration,
    /// Request format: stamp, or sockperf (to drive `sockperf server`).
    #[arg(long, value_enum, default_value_t = ProtocolArg::Stamp)]
    protocol: ProtocolArg,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

/// Exit statuses.
const EXIT_NO_REPLY: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let outcome = match cli.command {
        Command::Reflect(args) => reflect(args),
        Command::Stamp(args) => stamp(args),
        Command::Agent(args) => agent(args),
        Command::Clock(args) => clock(args),
        Command::Ping(args) => ping_cmd(args),
        Command::Trace(args) => trace_cmd(args),
        Command::Bw(args) => bw(args),
        Command::Flood(args) => flood_cmd(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("probe: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn resolve(target: &str) -> Result<SocketAddr> {
    let mut addrs = target
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {target:?} (expected host:port)"))?;
    addrs
        .next()
        .ok_or_else(|| anyhow!("{target:?} resolves to no address"))
}

/// A host name or address to its first address.
fn resolve_host(host: &str) -> Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host:?}"))?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| anyhow!("{host:?} resolves to no address"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn ping_cmd(args: PingArgs) -> Result<ExitCode> {
    let mut options = icmp::PingOptions::new(resolve_host(&args.host)?);
    options.count = args.count;
    options.interval = args.interval;
    options.timeout = args.timeout;
    options.size = args.size;
    options.socket = args.socket.into();
    options.source = args.source;
    let report = runtime()?.block_on(icmp::ping(&options))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Table => print!("{}", icmp::report::render_ping(&report)),
    }
    if report.received == 0 {
        eprintln!(
            "probe ping: no reply from {} ({} sent)",
            report.target, report.sent
        );
        return Ok(ExitCode::from(EXIT_NO_REPLY));
    }
    Ok(ExitCode::SUCCESS)
}

fn trace_cmd(args: TraceArgs) -> Result<ExitCode> {
    let topo = args
        .topology
        .as_deref()
        .map(topology::national::resolve)
        .transpose()
        .map_err(|e| anyhow!("{e}"))?;
    let mut options = icmp::TraceOptions::new(resolve_host(&args.host)?);
    options.max_hops = args.max_hops;
    options.queries = args.queries;
    options.timeout = args.timeout;
    options.socket = args.socket.into();
    options.source = args.source;
    if args.udp {
        options.protocol = icmp::ProbeProtocol::Udp;
    }
    let names = |ip: IpAddr| {
        topo.as_ref()
            .and_then(|t| topology::lab_addresses::site_of(t, ip))
            .map(str::to_owned)
    };
    let names: Option<&(dyn Fn(IpAddr) -> Option<String> + Sync)> =
        topo.as_ref().map(|_| &names as _);
    let report = runtime()?.block_on(icmp::trace(&options, names))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Table => print!("{}", icmp::report::render_trace(&report)),
    }
    if !report.reached {
        eprintln!("probe trace: {} not reached", report.target);
        return Ok(ExitCode::from(EXIT_NO_REPLY));
    }
    Ok(ExitCode::SUCCESS)
}

fn reflect(args: ReflectArgs) -> Result<ExitCode> {
    let key = args
        .auth_key_file
        .as_deref()
        .map(read_key_file)
        .transpose()?;
    if args.listen.is_empty() {
        bail!("--listen: no address");
    }
    signals::install().context("cannot install signal handlers")?;
    let policy = Policy {
        key,
        allow: args.allow,
        max_pps: args.max_pps,
        max_sessions: args.max_sessions,
        session_idle: args.session_idle,
    };
    let mut sockets = Vec::new();
    for listen in &args.listen {
        let options = RunOptions {
            listen: *listen,
            policy: policy.clone(),
            clock_error: args.clock_error,
            log_interval: args.log_interval,
            recv_buffer: (args.recv_buffer > 0).then_some(args.recv_buffer),
            kernel_timestamps: !args.user_timestamps,
        };
        let socket = reflector::bind(&options)?;
        sockets.push((socket, options));
    }
    // Bandwidth tests: TCP beside the first UDP socket (same address and
    // port number unless --bw-listen says otherwise).
    let _bw_server = match (&args.bw, sockets.first()) {
        (BwServerArgs { no_bw: true, .. }, _) | (_, None) => None,
        (BwServerArgs { bw_listen, .. }, Some((socket, _))) => {
            let addr = match bw_listen {
                Some(addr) => *addr,
                None => socket.local_addr().context("reflector socket")?,
            };
            let mut cfg = bwlib::BwServerConfig::new(addr);
            cfg.auth_key = policy.key.clone();
            cfg.allow = policy.allow.clone();
            cfg.log = Some(|line| eprintln!("probe reflect: bw: {line}"));
            let handle = bwlib::spawn_server(cfg).with_context(|| {
                format!("bandwidth-test server on {addr} (TCP; --bw-listen or --no-bw to change)")
            })?;
            eprintln!("probe reflect: bw server on {} (tcp)", handle.local_addr());
            Some(handle)
        }
    };
    let stop = signals::stop_flag();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = sockets
            .iter()
            .map(|(socket, options)| {
                scope.spawn(move || {
                    let mut log = |line: &str| eprintln!("probe reflect: {line}");
                    let result = reflector::run(socket, options, stop, &mut log);
                    // One socket failing stops the others too.
                    stop.store(true, Ordering::SeqCst);
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("reflector thread panicked")))
            .collect::<Vec<_>>()
    });
    for result in results {
        result??;
    }
    Ok(ExitCode::SUCCESS)
}

fn stamp(args: StampArgs) -> Result<ExitCode> {
    let target = resolve(&args.target)?;
    let key = args
        .auth_key_file
        .as_deref()
        .map(read_key_file)
        .transpose()?;
    if args.interval.is_zero() {
        bail!("--interval must be above 0");
    }
    let mut config = StampConfig::new(target);
    config.count = match (args.count, args.duration) {
        (None, None) => Some(10),
        (count, _) => count,
    };
    config.duration = args.duration;
    config.interval = args.interval;
    config.schedule = match args.schedule {
        ScheduleArg::Jitter => Schedule::Jitter,
        ScheduleArg::Poisson => Schedule::Poisson,
        ScheduleArg::Fixed => Schedule::Fixed,
    };
    config.size = args.size;
    config.dscp = args.dscp;
    config.ssid = args.ssid;
    config.key = key;
    config.timeout = args.timeout;
    config.follow_up = !args.no_follow_up;
    config.same_clock = if args.same_host {
        SameClock::Yes
    } else if args.separate_clocks {
        SameClock::No
    } else {
        SameClock::Auto
    };
    config.reflector = if args.stateless_reflector {
        ReflectorType::Stateless
    } else {
        ReflectorType::Stateful
    };
    config.clock_error = args.clock_error;
    config.kernel_timestamps = !args.user_timestamps;

    signals::install().context("cannot install signal handlers")?;
    let result = sender::run(&config, signals::stop_flag())?;
    match args.format {
        Format::Json => println!("{}", sender::to_json(&result)),
        Format::Table => print!("{}", sender::render_table(&result)),
    }
    if result.report.received == 0 {
        eprintln!(
            "probe stamp: no reply from {} ({} sent)",
            result.report.target, result.report.sent
        );
        return Ok(ExitCode::from(EXIT_NO_REPLY));
    }
    Ok(ExitCode::SUCCESS)
}

fn agent(args: AgentArgs) -> Result<ExitCode> {
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("cannot read the token file {}", args.token_file.display()))?;
    let token = token.trim().to_string();
    if token.is_empty() {
        bail!("the token file {} is empty", args.token_file.display());
    }
    let auth_key = args
        .auth_key_file
        .as_deref()
        .map(read_key_file)
        .transpose()?;
    if args.poll.is_zero() {
        bail!("--poll must be above 0");
    }
    signals::install().context("cannot install signal handlers")?;
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 862)));
    let options = agent::AgentOptions {
        bw_listen: (!args.bw.no_bw).then(|| args.bw.bw_listen.unwrap_or(listen)),
        controller: args.controller,
        id: args.id,
        token,
        listen,
        announce_listen: args.listen.is_some(),
        spool_dir: args.spool,
        spool_max_bytes: args
            .spool_max_bytes
            .unwrap_or(args.spool_max_mb.saturating_mul(1 << 20)),
        clock_error: args.clock_error,
        auth_key,
        poll: args.poll,
        backoff_initial: Duration::from_millis(250),
        backoff_max: args.max_backoff.max(Duration::from_millis(250)),
    };
    let summary = agent::run(options, signals::stop_flag())?;
    println!("{}", agent::summary_json(&summary));
    eprintln!(
        "probe agent: done: {} windows cut, {} spooled, {} acknowledged, {} pending, {} dropped (spool full), {} packets sent",
        summary.windows_cut,
        summary.windows_spooled,
        summary.windows_acknowledged,
        summary.windows_pending,
        summary.windows_dropped,
        summary.packets_sent
    );
    Ok(ExitCode::SUCCESS)
}

/// `probe bw`: exit 0 with the report, 1 when the test could not run
/// (connection refused, busy, no answer), 2 on bad input or a refused key.
fn bw(args: BwArgs) -> Result<ExitCode> {
    match (args.udp, args.rate) {
        (true, None) => bail!("--udp needs --rate RATE (e.g. 500M, 100m, 1G bits/s)"),
        (false, Some(_)) => bail!("--rate applies to UDP tests only (add --udp)"),
        _ => {}
    }
    let target = resolve(&args.target)?;
    let auth_key = args
        .auth_key_file
        .as_deref()
        .map(read_key_file)
        .transpose()?;
    let req = BwRequest {
        target,
        streams: args.streams,
        duration: args.duration,
        reverse: args.reverse,
        udp_rate_bps: if args.udp { args.rate } else { None },
        auth_key,
        bind: args.bind,
    };
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new(1000);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {elapsed}/{msg}") {
            bar.set_style(style);
        }
        bar
    });
    let total = args.duration.as_secs_f64();
    let report = {
        let update = |fraction: f64, mbit: f64| {
            if let Some(bar) = &bar {
                bar.set_position((fraction * 1000.0) as u64);
                bar.set_message(format!("{total:.0}s {mbit:.1} Mbit/s"));
            }
        };
        let progress: Option<&dyn Fn(f64, f64)> = bar.as_ref().map(|_| &update as _);
        bwlib::run_client(&req, progress)
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match report {
        Ok(report) => {
            match args.format {
                Format::Json => println!("{}", bwlib::report::to_json(&report)),
                Format::Table => print!("{}", bwlib::report::render_table(&report)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("probe bw: {e}");
            Ok(ExitCode::from(if e.is_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_NO_REPLY
            }))
        }
    }
}

fn clock(args: ClockArgs) -> Result<ExitCode> {
    let mut status = ClockStatus::read().context("adjtimex failed")?;
    if let Some(error) = args.clock_error {
        status = status.with_stated_error(error);
    }
    let boot = boot_id();
    match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&status)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("boot_id".to_owned(), serde_json::json!(boot));
            }
            println!("{v}");
        }
        Format::Table => {
            println!("{status}");
            println!("boot_id: {}", boot.as_deref().unwrap_or("unknown"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn flood_cmd(args: FloodArgs) -> Result<ExitCode> {
    let target = resolve(&args.target)?;
    if args.rate == 0 {
        bail!("--rate must be above 0");
    }
    let result = flood::run(&flood::FloodConfig {
        protocol: match args.protocol {
            ProtocolArg::Stamp => flood::Protocol::Stamp,
            ProtocolArg::Sockperf => flood::Protocol::Sockperf,
        },
        target,
        rate: args.rate,
        duration: args.duration,
        size: args.size,
        ssids: args.ssids,
        grace: args.grace,
    })?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&result)?),
        Format::Table => println!(
            "rate {} pps: sent {} received {} loss {:.3}% (achieved {:.0} pps)",
            result.target_rate, result.sent, result.received, result.loss_pct, result.achieved_rate
        ),
    }
    Ok(ExitCode::SUCCESS)
}

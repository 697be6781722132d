//! `probe stamp`: one STAMP session to a reflector.

use super::super::*;

#[derive(Args, Debug)]
pub(crate) struct StampArgs {
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
    /// Also write every answered packet to FILE, one JSON object a line:
    /// seq, reflector_seq, t1_ns..t4_ns (ns since the epoch), forward_ns
    /// (T2 - T1), reverse_ns (T4 - T3), rtt_ns.
    #[arg(long, value_name = "FILE")]
    packets: Option<PathBuf>,
    /// User-space timestamps only (for comparison).
    #[arg(long, hide = true)]
    user_timestamps: bool,
    /// Ask the reflector how it keeps time and stamps (RFC 8972 Timestamp
    /// Information TLV, 8 more octets a packet); shown as "reflector clock".
    #[arg(long)]
    timestamp_info: bool,
    #[command(flatten)]
    test_clock: TestClockArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScheduleArg {
    Jitter,
    Poisson,
    Fixed,
}

pub(crate) fn stamp(args: StampArgs) -> Result<ExitCode> {
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
    config.timestamp_info = args.timestamp_info;
    config.record_packets = args.packets.is_some();

    signals::install().context("cannot install signal handlers")?;
    args.test_clock.install("stamp");
    let result = sender::run(&config, signals::stop_flag())?;
    if let Some(path) = &args.packets {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        sender::write_jsonl(&result.packets, std::io::BufWriter::new(file))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
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

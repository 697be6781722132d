//! `probe ping` and `probe trace`.

use super::super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SocketArg {
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
pub(crate) struct PingArgs {
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
pub(crate) struct TraceArgs {
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

pub(crate) fn ping_cmd(args: PingArgs) -> Result<ExitCode> {
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

pub(crate) fn trace_cmd(args: TraceArgs) -> Result<ExitCode> {
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

//! `probe reflect`: the STAMP reflector, with the bandwidth server beside it.

use super::super::*;

#[derive(Args, Debug)]
pub(crate) struct ReflectArgs {
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
    #[command(flatten)]
    test_clock: TestClockArgs,
}

/// The bandwidth-test server beside the reflector (`probe bw` connects to it).
#[derive(Args, Debug)]
pub(crate) struct BwServerArgs {
    /// TCP address of the bandwidth-test server (default: the first --listen
    /// address and port, on TCP).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) bw_listen: Option<SocketAddr>,
    /// No bandwidth-test server.
    #[arg(long, conflicts_with = "bw_listen")]
    pub(crate) no_bw: bool,
}

pub(crate) fn reflect(args: ReflectArgs) -> Result<ExitCode> {
    let key = args
        .auth_key_file
        .as_deref()
        .map(read_key_file)
        .transpose()?;
    if args.listen.is_empty() {
        bail!("--listen: no address");
    }
    signals::install().context("cannot install signal handlers")?;
    args.test_clock.install("reflect");
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

//! `probe agent`: the probe under a controller.

use crate::*;

#[derive(Args, Debug)]
pub(crate) struct AgentArgs {
    /// The controller, http://host:port; several replicas on one database
    /// separated by commas (calls move to the next when one fails).
    #[arg(long, value_name = "URL[,URL...]")]
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

pub(crate) fn agent(args: AgentArgs) -> Result<ExitCode> {
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

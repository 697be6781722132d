//! `probe agent`: the probe under a controller.

use super::super::*;
use probe::agent::config_file::{self, AgentConfig, BwServer};

#[derive(Args, Debug)]
pub(crate) struct AgentArgs {
    /// Read the options from a YAML file (keys: the flags' names, with `_` or
    /// `-`); flags given here override it. See /etc/hubmesh/probe.yaml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The controller, http://host:port; several replicas on one database
    /// separated by commas (calls move to the next when one fails). Required
    /// here or in the file.
    #[arg(long, value_name = "URL[,URL...]")]
    controller: Option<String>,
    /// This probe's id (as in the controller's configuration). Required here
    /// or in the file.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// File holding this probe's token (from `mesh-controller token add`).
    /// Required here or in the file.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Where the reflector listens (announced to the controller when given)
    /// [default: 0.0.0.0:862].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Spool directory: windows wait here (fsynced) until acknowledged
    /// [default: /var/lib/hubmesh-probe/spool].
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Bound on the spool; when reached, new windows are dropped (the oldest
    /// are kept) with a warning [default: 256].
    #[arg(long, value_name = "MB")]
    spool_max_mb: Option<u64>,
    /// The bound in bytes, overriding --spool-max-mb (for tests).
    #[arg(long, value_name = "BYTES", hide = true)]
    spool_max_bytes: Option<u64>,
    /// State the local clock's error (e.g. PTP-disciplined).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    clock_error: Option<Duration>,
    /// HMAC key for authenticated STAMP (when the controller asks for it).
    #[arg(long, value_name = "FILE")]
    auth_key_file: Option<PathBuf>,
    /// How often to ask the controller for target-list changes [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    poll: Option<Duration>,
    /// Longest wait between retries [default: 30s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    max_backoff: Option<Duration>,
    /// With an https controller: trust this CA (PEM) instead of the system's
    /// roots.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// With an https controller: the SHA-256 of its public key (hex, or
    /// base64 as in sha256//...), checked on top of the chain.
    #[arg(long, value_name = "PIN")]
    pin_sha256: Option<String>,
    #[command(flatten)]
    bw: BwServerArgs,
    #[command(flatten)]
    test_clock: TestClockArgs,
}

impl AgentArgs {
    /// What the command line says, as the file would say it.
    fn as_config(&self) -> AgentConfig {
        AgentConfig {
            controller: self.controller.clone(),
            id: self.id.clone(),
            token_file: self.token_file.clone(),
            listen: self.listen,
            spool: self.spool.clone(),
            spool_max_mb: self.spool_max_mb,
            clock_error: self.clock_error,
            auth_key_file: self.auth_key_file.clone(),
            poll: self.poll,
            max_backoff: self.max_backoff,
            ca_file: self.ca_file.clone(),
            pin_sha256: self.pin_sha256.clone(),
            bw_listen: self.bw.bw_listen,
            no_bw: self.bw.no_bw.then_some(true),
        }
    }
}

pub(crate) fn agent(args: AgentArgs) -> Result<ExitCode> {
    let file = match &args.config {
        Some(path) => config_file::load(path)?,
        None => AgentConfig::default(),
    };
    let opts = args
        .as_config()
        .over(file)
        .resolve(args.config.as_deref())?;
    let token = std::fs::read_to_string(&opts.token_file)
        .with_context(|| format!("cannot read the token file {}", opts.token_file.display()))?;
    let token = token.trim().to_string();
    if token.is_empty() {
        bail!("the token file {} is empty", opts.token_file.display());
    }
    let auth_key = opts
        .auth_key_file
        .as_deref()
        .map(read_key_file)
        .transpose()?;
    if opts.poll.is_zero() {
        bail!("--poll must be above 0");
    }
    let pin_sha256 = opts
        .pin_sha256
        .as_deref()
        .map(protocol::tls::parse_pin)
        .transpose()?;
    signals::install().context("cannot install signal handlers")?;
    args.test_clock.install("agent");
    let listen = opts
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 862)));
    let options = agent::AgentOptions {
        bw_listen: match opts.bw {
            BwServer::Off => None,
            BwServer::On(addr) => Some(addr.unwrap_or(listen)),
        },
        controller: opts.controller,
        id: opts.id,
        token,
        listen,
        announce_listen: opts.listen.is_some(),
        spool_dir: opts.spool,
        spool_max_bytes: args
            .spool_max_bytes
            .unwrap_or(opts.spool_max_mb.saturating_mul(1 << 20)),
        clock_error: opts.clock_error,
        auth_key,
        poll: opts.poll,
        backoff_initial: Duration::from_millis(250),
        backoff_max: opts.max_backoff.max(Duration::from_millis(250)),
        tls: protocol::tls::TlsOptions {
            ca_file: opts.ca_file,
            pin_sha256,
        },
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

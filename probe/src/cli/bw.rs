//! `probe bw`: a bandwidth test against another probe.

use super::super::*;

#[derive(Args, Debug)]
pub(crate) struct BwArgs {
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

/// `probe bw`: exit 0 with the report, 1 when the test could not run
/// (connection refused, busy, no answer), 2 on bad input or a refused key.
pub(crate) fn bw(args: BwArgs) -> Result<ExitCode> {
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

//! `probe flood` (hidden): load for the reflector benchmark.

use super::super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProtocolArg {
    Stamp,
    Sockperf,
}

#[derive(Args, Debug)]
pub(crate) struct FloodArgs {
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

pub(crate) fn flood_cmd(args: FloodArgs) -> Result<ExitCode> {
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

//! `netlab`: bring an emulated WAN up and down. A thin shell over the library:
//! parse arguments, call, print, map the outcome to an exit code (0 fine, 1 a
//! lab found broken or a selftest target missed, 2 error).

use anyhow::Result;
use clap::{ArgGroup, Parser, Subcommand};
use netlab::address_plan::DEFAULT_LAB;
use netlab::control::{InterconnectSet, LinkSet};
use netlab::engine::LinkChange;
use netlab::{lab, out, outln};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "netlab",
    version,
    about = "hubmesh netlab: an emulated WAN (network namespaces + TUN) from a topology file",
    long_about = "hubmesh netlab: an emulated WAN on one machine. One network namespace per site, \
each with a TUN device and addresses from 198.18.0.0/15; one forwarder process moves packets \
between them along the topology's shortest paths, applying each link's delay (per direction), \
jitter, loss and rate, and answering traceroute from per-link router addresses. Needs root."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Bring a lab up from a topology file (format v1) or `national`; returns when it is ready.
    ///
    /// Exit status: 0 up; 2 on a bad file, a name in use, missing privileges or a failed setup
    /// (nothing is left behind).
    Up {
        /// Topology file, or `national` for the embedded national topology.
        topology: String,
        /// Lab name (a-z, 0-9, '-').
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
    },
    /// Print the address of SITE (its first carrier's) or SITE@NETWORK.
    Addr {
        /// Lab name.
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
        /// List every endpoint and router address instead.
        #[arg(long, conflicts_with = "endpoint")]
        all: bool,
        /// The IPv6 address (from 2001:2::/48) instead of the IPv4 one.
        #[arg(short = '6', long)]
        ipv6: bool,
        /// SITE or SITE@NETWORK.
        #[arg(required_unless_present = "all")]
        endpoint: Option<String>,
    },
    /// Run a command inside a site's network namespace; its exit status is passed through.
    Exec {
        /// Lab name.
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
        /// The site whose namespace to enter.
        site: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Show a lab's state and counters.
    ///
    /// Exit status: 0 up and forwarding, 1 the forwarder is gone (run `down`), 2 no such lab.
    Status {
        /// Lab name.
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
        /// List every lab on this machine instead.
        #[arg(long)]
        all: bool,
        /// Print the forwarder's counters as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a running lab's links and interconnects.
    Link {
        #[command(subcommand)]
        command: LinkCmd,
    },
    /// Remove a lab: forwarder, processes in its namespaces, namespaces, devices, state.
    /// Works after a crash and when run twice.
    Down {
        /// Lab name.
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
    },
    /// Measure the emulator: added-delay error at 1,000 packets/s, forwarding capacity, and
    /// the national topology's bring-up time and CPU use at 20,000 packets/s.
    ///
    /// Exit status: 0 all targets met, 1 a target missed, 2 error.
    Selftest {
        /// Seconds of traffic per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Skip the national-topology part.
        #[arg(long)]
        skip_national: bool,
    },
    /// Record the ground truth: every packet entering and leaving the emulated WAN at the
    /// chosen sites, with the kernel's timestamp, as JSON lines.
    ///
    /// A packet socket on each site's TUN device sees what the site's stack sends into the WAN
    /// (`"dir":"out"`) and what the forwarder delivers to it (`"dir":"in"`), stamped by the
    /// kernel (CLOCK_REALTIME ns, `t_ns`): on the way in, the very stamp a socket's software RX
    /// timestamp is; on the way out, as the packet is handed to the device, a few microseconds
    /// before the TUN driver takes a socket's software TX timestamp. Each
    /// line also names the packet: addresses, protocol, UDP ports, a hash of the payload and
    /// its first 32 octets in hex (`head`), so an exit pairs with its entry and a tool's
    /// packets can be found by sequence number. All sites share one kernel clock: exit minus
    /// entry is what the WAN did to the packet.
    ///
    /// Prints one line once recording has started, and a summary at the end. Stops after
    /// --duration, after --max-packets, or at SIGINT/SIGTERM (what was recorded is kept).
    ///
    /// Exit status: 0 recorded; 2 on an unknown lab or site, or a socket that cannot be opened.
    Truth {
        /// Lab name.
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
        /// Sites to record at, comma-separated (default: every site).
        #[arg(long, value_delimiter = ',')]
        sites: Vec<String>,
        /// Where to write the records (JSON lines).
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// Seconds to record for at most.
        #[arg(long, value_name = "S", default_value_t = 10.0)]
        duration: f64,
        /// Packets to record at most (all sites together).
        #[arg(long, value_name = "N", default_value_t = 1_000_000)]
        max_packets: u64,
    },
    /// The forwarder process (started by `up`).
    #[command(name = "__forward", hide = true)]
    Forward {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum LinkCmd {
    /// Change the link(s) between sites A and B in the running forwarder: delay per direction,
    /// loss, down or up. Returns once the change is in force.
    ///
    /// Packets already on a link keep their arrival time; a link taken down loses what is on it,
    /// and routing goes around it until it is up again. Delay and loss do not change routing.
    /// `netlab status` lists every link that differs from the topology file.
    ///
    /// Exit status: 0 in force; 2 on an unknown lab, site, network or link, a bad value, or a
    /// forwarder that is not running (nothing changed).
    #[command(group(
        ArgGroup::new("what")
            .required(true)
            .multiple(true)
            .args(["delay", "forward", "reverse", "loss", "down", "up"])
    ))]
    Set {
        /// Lab name.
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
        /// A site at one end.
        a: String,
        /// The site at the other end.
        b: String,
        /// Only this carrier's link (default: every link between A and B).
        #[arg(long)]
        network: Option<String>,
        /// One-way delay in ms, both directions.
        #[arg(long, value_name = "MS", allow_negative_numbers = true, conflicts_with_all = ["forward", "reverse"])]
        delay: Option<f64>,
        /// One-way delay in ms from A to B (as written here).
        #[arg(long, value_name = "MS", allow_negative_numbers = true)]
        forward: Option<f64>,
        /// One-way delay in ms from B to A.
        #[arg(long, value_name = "MS", allow_negative_numbers = true)]
        reverse: Option<f64>,
        /// Loss in percent (0 to 100), each direction.
        #[arg(long, value_name = "PCT", allow_negative_numbers = true)]
        loss: Option<f64>,
        /// Take the link out: packets on it are lost, routing goes around it.
        #[arg(long, conflicts_with = "up")]
        down: bool,
        /// Bring the link back.
        #[arg(long)]
        up: bool,
    },
    /// Take every interconnect at a site down (all crossings between its carriers there, as
    /// when a direct-connect point fails), or bring it back. Returns once the forwarder routes
    /// the new way: traffic between those carriers crosses at the next interconnect.
    ///
    /// Exit status: 0 in force; 2 on an unknown lab or site, a site without an interconnect, or
    /// a forwarder that is not running (nothing changed).
    #[command(group(ArgGroup::new("state").required(true).args(["down", "up"])))]
    Interconnect {
        /// Lab name.
        #[arg(long, default_value = DEFAULT_LAB)]
        name: String,
        /// The site whose interconnect(s) change.
        site: String,
        /// Take the interconnect(s) down.
        #[arg(long)]
        down: bool,
        /// Bring the interconnect(s) back.
        #[arg(long)]
        up: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netlab: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Up { topology, name } => {
            let r = lab::up(&topology, &name)?;
            out!("{}", netlab::report::up(&r));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Addr {
            name,
            all,
            ipv6,
            endpoint,
        } => {
            if all {
                out!("{}", lab::plan_of(&name)?.describe());
            } else if let Some(ep) = endpoint {
                outln!("{}", lab::addr_of(&name, &ep, ipv6)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Exec {
            name,
            site,
            command,
        } => {
            let e = lab::exec(&name, &site, &command);
            eprintln!("netlab: {e}");
            let code = match &e {
                netlab::Error::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    127
                }
                netlab::Error::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::PermissionDenied =>
                {
                    126
                }
                _ => 2,
            };
            Ok(ExitCode::from(code))
        }
        Cmd::Status { name, all, json } => {
            if all {
                let labs = lab::all_labs();
                if labs.is_empty() {
                    outln!("no labs");
                }
                for l in labs {
                    match lab::status(&l) {
                        Ok(s) => outln!("{}", netlab::report::status_line(&s)),
                        Err(e) => outln!("{l}: {e}"),
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let s = lab::status(&name)?;
            if json {
                outln!("{}", netlab::report::status_json(&s)?);
            } else {
                out!("{}", netlab::report::status(&s));
            }
            Ok(if s.running {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Link {
            command:
                LinkCmd::Set {
                    name,
                    a,
                    b,
                    network,
                    delay,
                    forward,
                    reverse,
                    loss,
                    down,
                    up,
                },
        } => {
            let request = LinkSet {
                a,
                b,
                network,
                change: LinkChange {
                    forward_ms: delay.or(forward),
                    reverse_ms: delay.or(reverse),
                    loss_pct: loss,
                    up: if down {
                        Some(false)
                    } else if up {
                        Some(true)
                    } else {
                        None
                    },
                },
            };
            let r = lab::link_set(&name, request)?;
            outln!("{}", netlab::report::link_set(&r));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Link {
            command:
                LinkCmd::Interconnect {
                    name,
                    site,
                    down: _,
                    up,
                },
        } => {
            let r = lab::interconnect_set(&name, InterconnectSet { site, up })?;
            outln!("{}", netlab::report::interconnect_set(&r));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down { name } => {
            let r = lab::down(&name)?;
            if r.existed {
                outln!(
                    "lab {name} is down ({} namespaces removed, forwarder {}, {} other processes killed)",
                    r.namespaces_removed,
                    if r.forwarder_stopped { "stopped" } else { "was not running" },
                    r.processes_killed
                );
            } else {
                outln!("lab {name} was not up");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Selftest {
            seconds,
            skip_national,
        } => {
            let ok = netlab::selftest::run(&netlab::selftest::Options {
                seconds,
                national: !skip_national,
            })?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Truth {
            name,
            sites,
            out,
            duration,
            max_packets,
        } => {
            if !(duration.is_finite() && duration > 0.0 && duration <= 86_400.0) {
                anyhow::bail!("--duration must be above 0 and at most 86400 s");
            }
            let options = netlab::truth_recorder::RecordOptions {
                lab: name,
                sites,
                out,
                duration: std::time::Duration::from_secs_f64(duration),
                max_packets,
            };
            let s = netlab::truth_recorder::record(&options, |sites| {
                outln!(
                    "recording at {} into {} for at most {duration} s",
                    sites.join(", "),
                    options.out.display()
                );
            })?;
            outln!(
                "{} packets recorded in {:.1} s ({} not IP, {} without a kernel timestamp)",
                s.packets,
                s.elapsed.as_secs_f64(),
                s.skipped,
                s.unstamped
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Forward { name } => match netlab::forwarder::serve(&name) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                // Standard output is the pipe `up` reads; the log gets it too.
                outln!("error: {e}");
                eprintln!("netlab forwarder: {e}");
                Ok(ExitCode::from(1))
            }
        },
    }
}

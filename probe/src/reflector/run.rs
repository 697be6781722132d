//! The reflector's socket loop: one blocking loop per listening socket,
//! receive (`recvmmsg`: everything queued, up to 32 datagrams, each with its
//! own kernel timestamp), decide, send each reply (T3 written right before
//! its `sendmsg`), nothing allocated per packet. Between packets (and
//! at least every [`TICK`] when idle) it does its housekeeping: expire
//! sessions, drain stray TX timestamps, re-read the clock, log a summary.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::handler::{Core, Datagram, Decision, Policy};
use super::stats::Stats;
use crate::clock::ClockStatus;
use crate::timestamping::{realtime_now, Received, RecvBatch, SocketOptions, TimestampedSocket};
use crate::wire::{self, Mode, ReflectorPacket, TimestampFormat};

/// How often an idle loop wakes to look at the stop flag and housekeeping.
const TICK: Duration = Duration::from_millis(100);
/// Housekeeping period (expiry, stray TX stamps).
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// How often the clock status is re-read.
const CLOCK_REFRESH: Duration = Duration::from_secs(10);
/// The largest UDP payload, so no request is ever truncated.
const BUFFER: usize = 65_536;
/// Datagrams taken per receive call when they queue up.
const BATCH: usize = 32;

/// Where and how to run; the policy is in [`Policy`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub listen: SocketAddr,
    pub policy: Policy,
    /// An error the operator states for the local clock (e.g. PTP), instead
    /// of what `adjtimex` says.
    pub clock_error: Option<Duration>,
    /// Period of the summary line; zero logs only at exit.
    pub log_interval: Duration,
    /// Socket receive buffer in octets (None: the system default).
    pub recv_buffer: Option<usize>,
    /// Ask for kernel timestamps (false: user-space clock only).
    pub kernel_timestamps: bool,
}

/// Why the reflector could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReflectorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot read the clock status: {0}")]
    Clock(io::Error),
    #[error("cannot configure the socket: {0}")]
    Socket(io::Error),
}

fn read_clock(stated: Option<Duration>) -> Result<ClockStatus, ReflectorError> {
    let status = ClockStatus::read().map_err(ReflectorError::Clock)?;
    Ok(match stated {
        Some(error) => status.with_stated_error(error),
        None => status,
    })
}

/// Binds the socket; a separate step so callers learn the bound address (port
/// 0) before the loop starts.
pub fn bind(options: &RunOptions) -> Result<TimestampedSocket, ReflectorError> {
    let socket_options = SocketOptions {
        kernel_timestamps: options.kernel_timestamps,
        ..SocketOptions::default()
    };
    let socket =
        TimestampedSocket::bind_with(options.listen, &socket_options).map_err(|source| {
            ReflectorError::Bind {
                addr: options.listen,
                source,
            }
        })?;
    let sock = SockRef::from(&socket);
    sock.set_read_timeout(Some(TICK))
        .map_err(ReflectorError::Socket)?;
    if let Some(bytes) = options.recv_buffer {
        sock.set_recv_buffer_size(bytes)
            .map_err(ReflectorError::Socket)?;
    }
    Ok(socket)
}

/// Decides on one datagram and sends the reply, if any.
fn reflect_one(
    socket: &TimestampedSocket,
    core: &mut Core,
    data: &[u8],
    got: &Received,
    now: Instant,
    tx: &mut [u8],
) {
    let datagram = Datagram {
        data,
        truncated: got.truncated,
        from: got.from,
        rx_ts: got.ts,
        rx_source: got.ts_source,
        ttl: got.ttl,
        tos: got.tos,
    };
    // T3: in authenticated mode the HMAC covers it, so it is read before the
    // reply is built; otherwise it is written again right before the send.
    let t3 = match core.mode() {
        Mode::Authenticated => realtime_now(),
        Mode::Unauthenticated => got.ts,
    };
    let decision = core.handle(&datagram, now, t3, tx, |ticket| {
        let _ = socket.drain_error_queue();
        socket.try_tx_timestamp(ticket)
    });
    let Decision::Reply(reply) = decision else {
        return;
    };
    let out = tx.get_mut(..reply.len).unwrap_or(&mut []);
    if core.mode() == Mode::Unauthenticated {
        if let Ok(mut packet) = ReflectorPacket::new_checked(&mut *out, Mode::Unauthenticated) {
            // Nothing but the send follows.
            packet.set_timestamp(
                wire::Timestamp::from_duration(TimestampFormat::Ntp, realtime_now())
                    .unwrap_or_default(),
            );
        }
    }
    match socket.send_to_with(out, got.from, reply.tos, reply.tx_stamp) {
        Ok(ticket) => core.sent(&reply, ticket),
        Err(_) => core.send_failed(),
    }
}

/// Runs the reflector on `socket` until `stop` is set; `log` gets the startup
/// line, periodic summaries and the final one. Errors on single packets are
/// counted, never fatal.
pub fn run(
    socket: &TimestampedSocket,
    options: &RunOptions,
    stop: &AtomicBool,
    log: &mut dyn FnMut(&str),
) -> Result<Stats, ReflectorError> {
    let local = socket.local_addr().map_err(ReflectorError::Socket)?;
    let clock = read_clock(options.clock_error)?;
    let mut core = Core::new(options.policy.clone(), &clock);
    let caps = socket.capabilities();
    log(&format!(
        "listening on {local} mode={} rx={:?} tx={:?} clock_synchronized={} clock_error={:?}",
        match core.mode() {
            Mode::Authenticated => "authenticated",
            Mode::Unauthenticated => "unauthenticated",
        },
        caps.rx,
        caps.tx,
        clock.is_synchronized(),
        clock.error(),
    ));
    for note in &caps.notes {
        log(&format!("timestamping fallback: {note}"));
    }

    let mut batch = RecvBatch::new(BATCH, BUFFER);
    let mut tx = vec![0u8; BUFFER];
    let start = Instant::now();
    let mut next_housekeeping = start + HOUSEKEEPING;
    let mut next_clock = start + CLOCK_REFRESH;
    let mut next_log = (!options.log_interval.is_zero()).then(|| start + options.log_interval);
    let mut recv_error_logged = false;

    while !stop.load(Ordering::Relaxed) {
        match socket.recv_batch(&mut batch) {
            Ok(_) => {
                let now = Instant::now();
                for i in 0..batch.len() {
                    let Some((data, got)) = batch.get(i) else {
                        continue; // not from an IP address
                    };
                    reflect_one(socket, &mut core, data, got, now, &mut tx);
                }
                if now < next_housekeeping {
                    continue;
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(err) => {
                core.recv_failed();
                if !recv_error_logged {
                    log(&format!(
                        "receive error (counted, further ones not logged): {err}"
                    ));
                    recv_error_logged = true;
                }
            }
        }
        let now = Instant::now();
        if now >= next_housekeeping {
            next_housekeeping = now + HOUSEKEEPING;
            core.expire(now);
            // Stamps nobody asked for again (a session that stopped asking
            // for follow-ups) must not pile up in the receive buffer.
            let _ = socket.drain_error_queue();
        }
        if now >= next_clock {
            next_clock = now + CLOCK_REFRESH;
            if let Ok(clock) = read_clock(options.clock_error) {
                core.set_clock(&clock);
            }
        }
        if next_log.is_some_and(|at| now >= at) {
            next_log = Some(now + options.log_interval);
            log(&format!(
                "summary listen={local} sessions={} {}",
                core.sessions(),
                core.stats()
            ));
        }
    }
    log(&format!(
        "final summary listen={local} sessions={} {}",
        core.sessions(),
        core.stats()
    ));
    Ok(*core.stats())
}

//! The sender's socket loop: opens the timestamping socket, reads the clock
//! and drives the [`Core`] state machine with it: send what is due (T1 read
//! back from the error queue), hand it every datagram read (T4 from the
//! kernel), let it expire and cut windows, and sleep in `poll` until the next
//! thing to do or a datagram, until the session is over.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::machine::{Clocks, Core, Next, Setup, Transmit, WindowCut};
use super::packet::{PacketBuilder, PacketError, PacketSpec};
use super::schedule::Pacer;
use super::{SameClock, StampConfig, StampResult};
use crate::clock::{boot_id, ClockStatus};
use crate::timestamping::{realtime_now, DatagramSocket, SocketOptions, TimestampedSocket};
use crate::wire::{ErrorEstimate, Mode};

/// How long to wait for a TX timestamp from the error queue after a send.
const TX_WAIT: Duration = Duration::from_millis(20);
/// Largest datagram read.
const BUFFER: usize = 65_536;

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error("cannot open a socket for {target}: {source}")]
    Socket {
        target: SocketAddr,
        source: io::Error,
    },
    #[error("cannot read the clock status: {0}")]
    Clock(io::Error),
    #[error("--count 0 and no --duration: nothing to send")]
    NothingToSend,
}

fn unspecified_for(target: SocketAddr) -> SocketAddr {
    match target {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Waits until the socket is readable or `wait` passes.
fn wait_readable(socket: &TimestampedSocket, wait: Duration) {
    let mut pfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_micros().div_ceil(1000).min(1000) as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, ms) };
}

/// Where [`run_windowed`] hands its windows.
pub type WindowSink<'a> = &'a mut dyn FnMut(WindowCut);

/// Runs one session; see the module documentation of [`super`].
pub fn run(config: &StampConfig, stop: &AtomicBool) -> Result<StampResult, StampError> {
    run_windowed(config, stop, None)
}

/// [`run`], cutting the results into windows of `cut.0` and handing each to
/// `cut.1` (the agent's way); the last window, cut when the session ends (on
/// `stop`, after the short wait for replies on the way), is shorter. Packets
/// in flight at a cut count in the window where their fate is decided.
pub fn run_windowed(
    config: &StampConfig,
    stop: &AtomicBool,
    cut: Option<(Duration, WindowSink<'_>)>,
) -> Result<StampResult, StampError> {
    if config.count == Some(0) && config.duration.is_none() {
        return Err(StampError::NothingToSend);
    }
    let mode = if config.key.is_some() {
        Mode::Authenticated
    } else {
        Mode::Unauthenticated
    };
    let builder = PacketBuilder::new(&PacketSpec {
        mode,
        ssid: config.ssid,
        size: config.size,
        dscp: config.dscp,
        follow_up: config.follow_up,
        timestamp_info: config.timestamp_info,
    })?;
    let mut notes = builder.notes.clone();

    let socket_err = |source| StampError::Socket {
        target: config.target,
        source,
    };
    let options = SocketOptions {
        kernel_timestamps: config.kernel_timestamps,
        ..SocketOptions::default()
    };
    let local = match config.source {
        Some(ip) if ip.is_ipv4() == config.target.is_ipv4() => SocketAddr::new(ip, 0),
        _ => unspecified_for(config.target),
    };
    let socket = TimestampedSocket::bind_with(local, &options).map_err(socket_err)?;
    if let Some(dscp) = config.dscp {
        socket.set_tos(dscp << 2).map_err(socket_err)?;
    }
    socket.set_nonblocking(true).map_err(socket_err)?;
    notes.extend(socket.capabilities().notes.iter().cloned());

    let mut local_clock = ClockStatus::read().map_err(StampError::Clock)?;
    if let Some(error) = config.clock_error {
        local_clock = local_clock.with_stated_error(error);
    }
    let local_boot = boot_id();
    let same_clock = match config.same_clock {
        SameClock::Yes => Some("stated (--same-host)"),
        SameClock::No => None,
        SameClock::Auto if is_loopback(config.target.ip()) => Some("loopback target"),
        SameClock::Auto => None,
    };
    let mut local_side = local_clock.side(local_boot.clone());
    // Without a boot id the shared clock still holds: use a marker both
    // sides share.
    let remote_boot_id = same_clock.map(|_| local_boot.unwrap_or_else(|| "same-host".to_owned()));
    if remote_boot_id.is_some() && local_side.boot_id.is_none() {
        local_side.boot_id = Some("same-host".to_owned());
    }
    let clocks = Clocks {
        local: local_side,
        remote_boot_id,
        error_estimate: ErrorEstimate::from_error(
            local_clock.error(),
            local_clock.is_synchronized(),
            false,
        ),
    };

    let packet_size = builder.len();
    let (window, mut sink) = match cut {
        Some((len, sink)) => (Some(len), Some(sink)),
        None => (None, None),
    };
    let setup = Setup {
        builder,
        pacer: Pacer::new(config.interval, config.schedule),
        clocks,
        window,
    };
    let mut core = Core::new(config, setup, Instant::now(), realtime_now());
    let mut on_cut = |cut: WindowCut| {
        if let Some(sink) = sink.as_mut() {
            sink(cut);
        }
    };
    drive(&socket, &mut core, stop, &mut on_cut, &mut |wait| {
        wait_readable(&socket, wait)
    });
    let outcome = core.finish(realtime_now());
    if let Some(last) = outcome.last_cut {
        on_cut(last);
    }
    notes.extend(outcome.notes);
    Ok(StampResult {
        report: outcome.report,
        counters: outcome.counters,
        class_of_service: outcome.class_of_service,
        reflector_clock: outcome.reflector_clock,
        packet_size,
        authenticated: mode == Mode::Authenticated,
        same_clock,
        local_clock,
        schedule: config.schedule,
        interval: config.interval,
        timeout: outcome.timeout,
        notes,
        packets: outcome.packets,
    })
}

/// Drives `core` over `socket` until the session is over (or `stop`, then
/// the short wait for replies on their way): the whole loop, written against
/// [`DatagramSocket`] so tests run it over an in-memory socket. `wait`
/// sleeps until a datagram arrives or its duration passes.
pub(super) fn drive<S: DatagramSocket>(
    socket: &S,
    core: &mut Core,
    stop: &AtomicBool,
    on_cut: &mut dyn FnMut(WindowCut),
    wait: &mut dyn FnMut(Duration),
) {
    let mut out = vec![0u8; core.packet_len()];
    let mut rx = vec![0u8; BUFFER];
    loop {
        if stop.load(Ordering::Relaxed) {
            core.stop();
        }
        match core.next(Instant::now(), realtime_now(), &mut out) {
            Next::Transmit(tx) => {
                transmit(socket, core, &tx, &out);
                continue;
            }
            Next::Finished => break,
            Next::Wait => {}
        }
        receive_all(socket, core, &mut rx);
        if let Some(cut) = core.poll(Instant::now(), realtime_now()) {
            on_cut(cut);
        }
        let pause = core.poll_at().saturating_duration_since(Instant::now());
        if !pause.is_zero() {
            wait(pause);
        }
    }
    receive_all(socket, core, &mut rx);
}

/// Sends `tx` and tells `core` when it left (the kernel's TX stamp when it
/// comes within [`TX_WAIT`]).
fn transmit<S: DatagramSocket>(socket: &S, core: &mut Core, tx: &Transmit, out: &[u8]) {
    let packet = out.get(..tx.len).unwrap_or(&[]);
    match socket.send_datagram(packet, tx.to) {
        Ok(ticket) => {
            let (t1, source) = socket.tx_timestamp(&ticket, TX_WAIT);
            core.sent(tx, t1, source, Instant::now());
        }
        Err(_) => core.send_failed(tx, Instant::now()),
    }
}

/// Hands `core` every datagram queued on the (non-blocking) socket.
fn receive_all<S: DatagramSocket>(socket: &S, core: &mut Core, rx: &mut [u8]) {
    loop {
        let got = match socket.recv_datagram(rx) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return, // WouldBlock, or an ICMP error: nothing to read
        };
        let data = rx.get(..got.len).unwrap_or(&[]);
        core.receive(data, &got, Instant::now());
    }
}

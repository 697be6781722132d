//! The bandwidth server: a TCP listener (beside the reflector's UDP port)
//! taking control connections and the data connections of the one test that
//! runs at a time. Each connection is handled on its own thread, every read
//! under a deadline; what is refused or malformed is counted and dropped.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::RngCore;
use subtle::ConstantTimeEq;

use super::control::{read_msg, write_msg, ControlError};
use super::protocol::{Message, Outcome, Params, Protocol, RefuseReason, COOKIE_LEN};
use super::{auth, tcp, udp, udp_payload_for};
use crate::reflector::Cidr;

/// Time for a peer to send its first message, and the request after the challenge.
const HANDSHAKE: Duration = Duration::from_secs(3);
/// Time for the client to open its data connections or say hello over UDP.
const SETUP: Duration = Duration::from_secs(5);
/// Slack after the test's duration for the peer's closing messages.
const GRACE: Duration = Duration::from_secs(10);
/// Connections being handled at once, at most (beyond: closed at once).
const MAX_CONNECTIONS: usize = 64;

/// Hard bounds on what a client may ask for; requests beyond are clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_duration: Duration,
    pub max_streams: u16,
    pub max_udp_rate_bps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_duration: Duration::from_secs(60),
            max_streams: 16,
            max_udp_rate_bps: 10_000_000_000,
        }
    }
}

impl Limits {
    /// The test as it will run: bounded by the limits; zero streams, zero
    /// duration or a UDP test without a rate are refused.
    pub fn clamp(&self, p: Params, ip: IpAddr) -> Result<Params, &'static str> {
        if p.streams == 0 {
            return Err("streams must be at least 1");
        }
        if p.duration_ms == 0 {
            return Err("duration must be above 0");
        }
        let max_ms = u32::try_from(self.max_duration.as_millis()).unwrap_or(u32::MAX);
        let mut out = Params {
            streams: p.streams.min(self.max_streams.max(1)),
            duration_ms: p.duration_ms.min(max_ms),
            ..p
        };
        match p.protocol {
            Protocol::Tcp => {
                out.udp_rate_bps = 0;
                out.udp_payload = 0;
            }
            Protocol::Udp => {
                if p.udp_rate_bps == 0 {
                    return Err("a UDP test needs a rate above 0");
                }
                out.streams = 1;
                out.udp_rate_bps = p.udp_rate_bps.min(self.max_udp_rate_bps);
                out.udp_payload = p
                    .udp_payload
                    .clamp(super::datagram::HEADER_LEN as u16, udp_payload_for(ip));
            }
        }
        Ok(out)
    }
}

/// Where and how the server runs.
#[derive(Debug, Clone)]
pub struct BwServerConfig {
    pub listen: SocketAddr,
    /// Clients must prove this key (None: open).
    pub auth_key: Option<Vec<u8>>,
    /// Accept connections from these prefixes only (empty: from anywhere).
    pub allow: Vec<Cidr>,
    pub limits: Limits,
    /// One line per test and per refusal (None: quiet).
    pub log: Option<fn(&str)>,
}

impl BwServerConfig {
    pub fn new(listen: SocketAddr) -> BwServerConfig {
        BwServerConfig {
            listen,
            auth_key: None,
            allow: Vec::new(),
            limits: Limits::default(),
            log: None,
        }
    }
}

/// Counters of a server.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub tests: AtomicU64,
    pub busy: AtomicU64,
    pub auth_failed: AtomicU64,
    pub forbidden: AtomicU64,
    pub malformed: AtomicU64,
    pub bad_params: AtomicU64,
    /// Data connections without a matching test (wrong cookie, address, stream).
    pub stray_data: AtomicU64,
    /// Connections closed at once because too many were being handled.
    pub overload: AtomicU64,
}

/// The test that holds the slot.
struct Active {
    cookie: [u8; COOKIE_LEN],
    peer: IpAddr,
    streams: u16,
    ends_at: Instant,
    data: SyncSender<(u16, TcpStream)>,
}

struct Shared {
    cfg: BwServerConfig,
    stop: Arc<AtomicBool>,
    stats: Arc<ServerStats>,
    slot: Mutex<Option<Active>>,
    connections: AtomicUsize,
}

impl Shared {
    fn slot(&self) -> MutexGuard<'_, Option<Active>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn log(&self, line: &str) {
        if let Some(log) = self.cfg.log {
            log(line);
        }
    }
}

/// A running server; stops (and waits for its listener thread) on drop.
#[derive(Debug)]
pub struct BwServerHandle {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<ServerStats>,
    thread: Option<JoinHandle<()>>,
}

impl BwServerHandle {
    /// The address it listens on (the port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }
    /// Stops listening and ends a running test.
    pub fn stop(mut self) {
        self.shutdown();
    }
    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BwServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds the listener and starts serving on a thread of its own.
pub fn spawn_server(cfg: BwServerConfig) -> io::Result<BwServerHandle> {
    let listener = TcpListener::bind(cfg.listen)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(ServerStats::default());
    let shared = Arc::new(Shared {
        cfg,
        stop: stop.clone(),
        stats: stats.clone(),
        slot: Mutex::new(None),
        connections: AtomicUsize::new(0),
    });
    let thread = std::thread::Builder::new()
        .name("bw-listen".into())
        .spawn(move || accept_loop(&listener, &shared))?;
    Ok(BwServerHandle {
        local,
        stop,
        stats,
        thread: Some(thread),
    })
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    shared.connections.fetch_sub(1, Ordering::SeqCst);
                    shared.stats.overload.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let shared2 = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("bw-conn".into())
                    .spawn(move || {
                        connection(&shared2, stream, peer);
                        shared2.connections.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    shared.connections.fetch_sub(1, Ordering::SeqCst);
                    shared.stats.overload.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn refuse(stream: &mut TcpStream, reason: RefuseReason, text: &str) {
    let _ = write_msg(
        stream,
        &Message::Refused {
            reason,
            text: text.to_owned(),
        },
    );
}

/// Classifies a new connection by its first message.
fn connection(shared: &Shared, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let ip = canonical(peer.ip());
    if !shared.cfg.allow.is_empty() && !shared.cfg.allow.iter().any(|c| c.contains(ip)) {
        shared.stats.forbidden.fetch_add(1, Ordering::Relaxed);
        shared.log(&format!("refused {peer}: not in the allow list"));
        refuse(&mut stream, RefuseReason::Forbidden, "address not allowed");
        return;
    }
    match read_msg(&mut stream, HANDSHAKE, Some(&shared.stop)) {
        Ok(Message::Hello) => control(shared, stream, ip),
        Ok(Message::Data { cookie, stream: n }) => {
            let slot = shared.slot();
            let routed = slot.as_ref().is_some_and(|a| {
                bool::from(a.cookie.ct_eq(&cookie))
                    && a.peer == ip
                    && n < a.streams
                    && a.data.try_send((n, stream)).is_ok()
            });
            if !routed {
                shared.stats.stray_data.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(_) | Err(ControlError::Proto(_)) => {
            shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            // Closed, timed out or stopped before saying anything: counted as malformed.
            shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// IPv4-mapped IPv6 peers as IPv4, so allow lists and checks see one form.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Frees the slot when the test ends, however it ends.
struct SlotGuard<'a> {
    shared: &'a Shared,
    cookie: [u8; COOKIE_LEN],
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut slot = self.shared.slot();
        if slot.as_ref().is_some_and(|a| a.cookie == self.cookie) {
            *slot = None;
        }
    }
}

fn control(shared: &Shared, mut ctl: TcpStream, peer: IpAddr) {
    let mut rng = rand::rng();
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let key = shared.cfg.auth_key.as_deref();
    if write_msg(
        &mut ctl,
        &Message::Challenge {
            nonce,
            auth_required: key.is_some(),
        },
    )
    .is_err()
    {
        return;
    }
    let (params, mac) = match read_msg(&mut ctl, HANDSHAKE, Some(&shared.stop)) {
        Ok(Message::Request { params, mac }) => (params, mac),
        _ => {
            shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    if let Some(key) = key {
        if !auth::verify(key, &nonce, &params, &mac) {
            shared.stats.auth_failed.fetch_add(1, Ordering::Relaxed);
            shared.log(&format!("refused {peer}: authentication failed"));
            refuse(&mut ctl, RefuseReason::Auth, "the key was not proven");
            return;
        }
    }
    let local_ip = match ctl.local_addr() {
        Ok(a) => canonical(a.ip()),
        Err(_) => return,
    };
    let params = match shared.cfg.limits.clamp(params, local_ip) {
        Ok(p) => p,
        Err(why) => {
            shared.stats.bad_params.fetch_add(1, Ordering::Relaxed);
            refuse(&mut ctl, RefuseReason::BadParams, why);
            return;
        }
    };
    let duration = Duration::from_millis(u64::from(params.duration_ms));
    let mut cookie = [0u8; COOKIE_LEN];
    rng.fill_bytes(&mut cookie);
    let (tx, rx) = sync_channel(usize::from(params.streams));
    {
        let mut slot = shared.slot();
        let now = Instant::now();
        if let Some(active) = slot.as_ref() {
            let left = active.ends_at.saturating_duration_since(now);
            let retry_after_s = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            shared.stats.busy.fetch_add(1, Ordering::Relaxed);
            let _ = write_msg(
                &mut ctl,
                &Message::Busy {
                    retry_after_s: u32::try_from(retry_after_s.max(1)).unwrap_or(u32::MAX),
                },
            );
            return;
        }
        *slot = Some(Active {
            cookie,
            peer,
            streams: params.streams,
            ends_at: now + duration,
            data: tx,
        });
    }
    let _guard = SlotGuard { shared, cookie };
    shared.stats.tests.fetch_add(1, Ordering::Relaxed);
    let socket = match params.protocol {
        Protocol::Udp => match udp::bind(local_ip) {
            Ok(s) => Some(s),
            Err(_) => {
                refuse(&mut ctl, RefuseReason::Internal, "cannot open a UDP socket");
                return;
            }
        },
        Protocol::Tcp => None,
    };
    let udp_port = socket
        .as_ref()
        .and_then(|s| s.local_addr().ok())
        .map_or(0, |a| a.port());
    if write_msg(
        &mut ctl,
        &Message::Accept {
            cookie,
            udp_port,
            params,
        },
    )
    .is_err()
    {
        return;
    }
    let test = Test {
        shared,
        ctl,
        peer,
        params,
        duration,
        cookie,
    };
    let outcome = match socket {
        Some(socket) => test.udp(&socket),
        None => test.tcp(&rx),
    };
    shared.log(&match outcome {
        Ok(()) => format!(
            "test from {peer}: {} {} {} stream(s) {} ms",
            if params.reverse { "reverse" } else { "forward" },
            match params.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            },
            params.streams,
            params.duration_ms
        ),
        Err(e) => format!("test from {peer} ended early: {e}"),
    });
}

struct Test<'a> {
    shared: &'a Shared,
    ctl: TcpStream,
    peer: IpAddr,
    params: Params,
    duration: Duration,
    cookie: [u8; COOKIE_LEN],
}

impl<'a> Test<'a> {
    fn stop(&self) -> &'a AtomicBool {
        &self.shared.stop
    }

    /// Collects the client's data connections.
    fn streams(&self, rx: &Receiver<(u16, TcpStream)>) -> Result<Vec<TcpStream>, String> {
        let mut got: Vec<Option<TcpStream>> = (0..self.params.streams).map(|_| None).collect();
        let deadline = Instant::now() + SETUP;
        while got.iter().any(Option::is_none) {
            if self.stop().load(Ordering::Relaxed) {
                return Err("stopped".into());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the client did not open its data connections".into());
            }
            if let Ok((n, s)) = rx.recv_timeout(left.min(Duration::from_millis(200))) {
                if let Some(slot) = got.get_mut(usize::from(n)) {
                    if slot.is_none() {
                        *slot = Some(s);
                    }
                }
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    fn finish(&mut self, wait: Duration) -> Result<Outcome, String> {
        let stop = self.stop();
        match read_msg(&mut self.ctl, wait, Some(stop)) {
            Ok(Message::Finish(o)) => Ok(o),
            Ok(_) => {
                self.shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
                Err("unexpected control message".into())
            }
            Err(ControlError::Proto(e)) => {
                self.shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
                Err(e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn result(&mut self, o: Outcome) -> Result<(), String> {
        write_msg(&mut self.ctl, &Message::Result(o)).map_err(|e| e.to_string())
    }

    fn tcp(mut self, rx: &Receiver<(u16, TcpStream)>) -> Result<(), String> {
        let mut streams = self.streams(rx)?;
        let abort = AtomicBool::new(false);
        let counter = AtomicU64::new(0);
        let stop = self.stop();
        if self.params.reverse {
            let until = Instant::now() + self.duration;
            std::thread::scope(|s| {
                for st in streams.iter_mut() {
                    let (abort, counter) = (&abort, &counter);
                    s.spawn(move || {
                        tcp::send(st, until, abort, counter);
                    });
                }
                // Stopping the server ends the test early.
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                abort.store(true, Ordering::Relaxed);
            });
            // The client says when it has read everything; then the
            // retransmission counts are final.
            self.finish(GRACE)?;
            let retransmits = streams.iter().filter_map(tcp::retransmits).sum();
            self.result(Outcome {
                retransmits: Some(retransmits),
                ..Outcome::default()
            })
        } else {
            let deadline = Instant::now() + self.duration + GRACE;
            let received = std::thread::scope(|s| {
                let handles: Vec<_> = streams
                    .iter_mut()
                    .map(|st| {
                        let (abort, counter) = (&abort, &counter);
                        s.spawn(move || tcp::receive(st, deadline, abort, counter))
                    })
                    .collect();
                let finished = self.finish(self.duration + GRACE);
                if finished.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
                let total = handles
                    .into_iter()
                    .filter_map(|h| h.join().ok())
                    .fold(tcp::Received::default(), tcp::Received::merge);
                finished.map(|_| total)
            })?;
            self.result(Outcome {
                bytes: received.bytes,
                interval_ns: received.interval_ns(),
                retransmits: None,
                udp: None,
            })
        }
    }

    fn udp(mut self, socket: &std::net::UdpSocket) -> Result<(), String> {
        let cookie8: [u8; 8] = self.cookie[..8].try_into().unwrap_or_default();
        let stop = self.stop();
        if self.params.reverse {
            let Some(to) =
                udp::await_hello(socket, cookie8, self.peer, Instant::now() + SETUP, stop)
            else {
                return Err("no UDP hello from the client".into());
            };
            socket.connect(to).map_err(|e| e.to_string())?;
            let counter = AtomicU64::new(0);
            let sent = udp::send_paced(
                socket,
                cookie8,
                self.params.udp_rate_bps,
                usize::from(self.params.udp_payload),
                Instant::now() + self.duration,
                stop,
                &counter,
            );
            self.result(Outcome {
                udp: Some(super::protocol::UdpFigures {
                    sent,
                    ..Default::default()
                }),
                ..Outcome::default()
            })?;
            // Let the client read the result before the connection closes.
            let _ = self.finish(GRACE);
            Ok(())
        } else {
            let finish = AtomicBool::new(false);
            let counter = AtomicU64::new(0);
            let deadline = Instant::now() + self.duration + GRACE;
            let peer = self.peer;
            let (arrivals, finished) = std::thread::scope(|s| {
                let h = s.spawn(|| {
                    udp::receive(socket, cookie8, peer, &finish, deadline, stop, &counter)
                });
                let finished = self.finish(self.duration + GRACE);
                finish.store(true, Ordering::Relaxed);
                (h.join(), finished)
            });
            let arrivals = arrivals.map_err(|_| "receiver thread failed".to_string())?;
            // The reported jitter is over kernel stamps; the user-space one
            // (iperf3's definition) only goes to the log, for comparisons.
            self.shared.log(&format!(
                "udp jitter from {peer} (RFC 3550): {:.2} us over kernel receive stamps, \
                 {:.2} us over the user-space clock",
                arrivals.jitter_ns() as f64 / 1e3,
                arrivals.jitter_user_ns() as f64 / 1e3
            ));
            let sent = finished?.udp.map_or(0, |u| u.sent);
            self.result(Outcome {
                bytes: arrivals.bytes(),
                interval_ns: arrivals.interval_ns(),
                retransmits: None,
                udp: Some(arrivals.figures(sent)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(protocol: Protocol, streams: u16, duration_ms: u32, rate: u64) -> Params {
        Params {
            protocol,
            reverse: false,
            streams,
            duration_ms,
            udp_rate_bps: rate,
            udp_payload: 9000,
        }
    }

    #[test]
    fn limits_clamp_and_refuse() {
        let l = Limits::default();
        let v4: IpAddr = [127, 0, 0, 1].into();
        let p = l.clamp(params(Protocol::Tcp, 100, 3_600_000, 5), v4);
        assert_eq!(
            p.map(|p| (p.streams, p.duration_ms, p.udp_rate_bps, p.udp_payload)),
            Ok((16, 60_000, 0, 0))
        );
        let p = l.clamp(params(Protocol::Udp, 4, 1000, u64::MAX), v4);
        assert_eq!(
            p.map(|p| (p.streams, p.udp_rate_bps, p.udp_payload)),
            Ok((1, 10_000_000_000, 1472))
        );
        assert!(l.clamp(params(Protocol::Tcp, 0, 1000, 0), v4).is_err());
        assert!(l.clamp(params(Protocol::Tcp, 1, 0, 0), v4).is_err());
        assert!(l.clamp(params(Protocol::Udp, 1, 1000, 0), v4).is_err());
    }
}

//! The client side of a test: control handshake (with the key proof when
//! there is a key), data connections or the UDP socket, the test itself on
//! threads, and the report from the receiving side's figures.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::control::{read_msg, write_msg, ControlError};
use super::protocol::{Message, Outcome, Params, Protocol, RefuseReason, UdpFigures, COOKIE_LEN};
use super::{arrivals, auth, round, tcp, udp, udp_payload_for};
use super::{BwError, BwProtocol, BwReport, BwRequest, Direction};

const CONNECT: Duration = Duration::from_secs(5);
const HANDSHAKE: Duration = Duration::from_secs(5);
/// Slack after the test's duration for the server's figures.
const GRACE: Duration = Duration::from_secs(10);
/// Period of progress calls.
const TICK: Duration = Duration::from_millis(100);

/// Progress callback: fraction of the duration done, Mbit/s so far (what this
/// side sent or received; the report's figure is the receiver's).
pub type Progress<'a> = Option<&'a dyn Fn(f64, f64)>;

fn proto_err(e: ControlError) -> BwError {
    match e {
        ControlError::Io(e) => BwError::Io(e),
        ControlError::Closed => BwError::Protocol("the server closed the connection".into()),
        ControlError::Timeout => BwError::Protocol("timed out waiting for the server".into()),
        other => BwError::Protocol(other.to_string()),
    }
}

fn connect(target: SocketAddr, bind: Option<IpAddr>) -> Result<TcpStream, BwError> {
    let err = |source| BwError::Connect {
        addr: target,
        source,
    };
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None).map_err(err)?;
    if let Some(ip) = bind {
        socket.bind(&SocketAddr::new(ip, 0).into()).map_err(err)?;
    }
    socket
        .connect_timeout(&target.into(), CONNECT)
        .map_err(err)?;
    let stream: TcpStream = socket.into();
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn validate(req: &BwRequest) -> Result<Params, BwError> {
    if req.streams == 0 {
        return Err(BwError::Input("--streams must be at least 1".into()));
    }
    let streams = u16::try_from(req.streams)
        .map_err(|_| BwError::Input(format!("--streams {} is too many", req.streams)))?;
    let duration_ms = u32::try_from(req.duration.as_millis())
        .map_err(|_| BwError::Input("--duration is too long".into()))?;
    if duration_ms == 0 {
        return Err(BwError::Input("--duration must be at least 1ms".into()));
    }
    if req.udp_rate_bps == Some(0) {
        return Err(BwError::Input("--rate must be above 0".into()));
    }
    if req.udp_rate_bps.is_some() && req.streams > 1 {
        return Err(BwError::Input("--streams applies to TCP only".into()));
    }
    Ok(Params {
        protocol: if req.udp_rate_bps.is_some() {
            Protocol::Udp
        } else {
            Protocol::Tcp
        },
        reverse: req.reverse,
        streams,
        duration_ms,
        udp_rate_bps: req.udp_rate_bps.unwrap_or(0),
        udp_payload: if req.udp_rate_bps.is_some() {
            udp_payload_for(req.target.ip())
        } else {
            0
        },
    })
}

/// Runs one test against `req.target`; blocks for its duration. `progress`
/// is called about ten times a second.
pub fn run_client(req: &BwRequest, progress: Progress<'_>) -> Result<BwReport, BwError> {
    let wanted = validate(req)?;
    let mut ctl = connect(req.target, req.bind)?;
    write_msg(&mut ctl, &Message::Hello)?;
    let (nonce, auth_required) = match read_msg(&mut ctl, HANDSHAKE, None).map_err(proto_err)? {
        Message::Challenge {
            nonce,
            auth_required,
        } => (nonce, auth_required),
        Message::Refused { reason, text } => return Err(refused(reason, text)),
        other => return Err(BwError::Protocol(format!("unexpected {other:?}"))),
    };
    let mac = match (&req.auth_key, auth_required) {
        (Some(key), _) => auth::sign(key, &nonce, &wanted),
        (None, true) => {
            return Err(BwError::Auth(
                "the server requires a key (--auth-key-file)".into(),
            ))
        }
        (None, false) => Vec::new(),
    };
    write_msg(
        &mut ctl,
        &Message::Request {
            params: wanted,
            mac,
        },
    )?;
    let (cookie, udp_port, params) = match read_msg(&mut ctl, HANDSHAKE, None).map_err(proto_err)? {
        Message::Accept {
            cookie,
            udp_port,
            params,
        } => (cookie, udp_port, params),
        Message::Busy { retry_after_s } => {
            return Err(BwError::Busy {
                retry_after_s: u64::from(retry_after_s),
            })
        }
        Message::Refused { reason, text } => return Err(refused(reason, text)),
        other => return Err(BwError::Protocol(format!("unexpected {other:?}"))),
    };
    if params.protocol != wanted.protocol || params.reverse != wanted.reverse {
        return Err(BwError::Protocol("the server changed the test".into()));
    }
    let run = Run {
        req,
        ctl,
        cookie,
        params,
        duration: Duration::from_millis(u64::from(params.duration_ms)),
        progress,
    };
    let (bytes, interval_ns, retransmits, udp) = match params.protocol {
        Protocol::Tcp => run.tcp()?,
        Protocol::Udp => run.udp(udp_port)?,
    };
    let throughput = if interval_ns == 0 {
        0.0
    } else {
        bytes as f64 * 8.0 * 1e3 / interval_ns as f64
    };
    Ok(BwReport {
        target: req.target,
        direction: if params.reverse {
            Direction::Reverse
        } else {
            Direction::Forward
        },
        protocol: match params.protocol {
            Protocol::Tcp => BwProtocol::Tcp,
            Protocol::Udp => BwProtocol::Udp,
        },
        streams: u32::from(params.streams),
        duration_s: f64::from(params.duration_ms) / 1e3,
        throughput_mbit: round(throughput, 1),
        retransmits,
        loss_pct: udp.as_ref().map(|u| round(arrivals::loss_pct(u), 3)),
        jitter_us: udp.map(|u| round(u.jitter_ns as f64 / 1e3, 1)),
    })
}

fn refused(reason: RefuseReason, text: String) -> BwError {
    match reason {
        RefuseReason::Auth => BwError::Auth(text),
        RefuseReason::Forbidden => BwError::Refused(format!("{text} (the server's --allow list)")),
        RefuseReason::BadParams => BwError::Input(text),
        RefuseReason::Internal => BwError::Refused(text),
    }
}

/// Received octets, interval (ns), retransmits, UDP figures.
type Figures = (u64, u64, Option<u64>, Option<UdpFigures>);

struct Run<'a> {
    req: &'a BwRequest,
    ctl: TcpStream,
    cookie: [u8; COOKIE_LEN],
    params: Params,
    duration: Duration,
    progress: Progress<'a>,
}

impl Run<'_> {
    /// Calls the progress callback until `done` or the duration is over.
    fn watch(&self, start: Instant, counter: &AtomicU64, done: &AtomicBool) {
        let Some(progress) = self.progress else {
            return;
        };
        let end = start + self.duration;
        while !done.load(Ordering::Relaxed) && Instant::now() < end {
            std::thread::sleep(TICK);
            let elapsed = start.elapsed().as_secs_f64().max(1e-9);
            let mbit = counter.load(Ordering::Relaxed) as f64 * 8.0 / elapsed / 1e6;
            progress((elapsed / self.duration.as_secs_f64()).min(1.0), mbit);
        }
    }

    fn server_outcome(&mut self, wait: Duration) -> Result<Outcome, BwError> {
        match read_msg(&mut self.ctl, wait, None).map_err(proto_err)? {
            Message::Result(o) => Ok(o),
            Message::Refused { reason, text } => Err(refused(reason, text)),
            other => Err(BwError::Protocol(format!("unexpected {other:?}"))),
        }
    }

    fn tcp(mut self) -> Result<Figures, BwError> {
        let mut streams = Vec::new();
        for n in 0..self.params.streams {
            let mut s = connect(self.req.target, self.req.bind)?;
            write_msg(
                &mut s,
                &Message::Data {
                    cookie: self.cookie,
                    stream: n,
                },
            )?;
            let _ = s.set_nodelay(false);
            streams.push(s);
        }
        let counter = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let start = Instant::now();
        if self.params.reverse {
            let deadline = start + self.duration + GRACE;
            let received = std::thread::scope(|s| {
                let handles: Vec<_> = streams
                    .iter_mut()
                    .map(|st| {
                        let (counter, done) = (&counter, &done);
                        s.spawn(move || tcp::receive(st, deadline, done, counter))
                    })
                    .collect();
                self.watch(start, &counter, &AtomicBool::new(false));
                handles
                    .into_iter()
                    .filter_map(|h| h.join().ok())
                    .fold(tcp::Received::default(), tcp::Received::merge)
            });
            write_msg(
                &mut self.ctl,
                &Message::Finish(Outcome {
                    bytes: received.bytes,
                    interval_ns: received.interval_ns(),
                    ..Outcome::default()
                }),
            )?;
            let o = self.server_outcome(GRACE)?;
            Ok((received.bytes, received.interval_ns(), o.retransmits, None))
        } else {
            let until = start + self.duration;
            std::thread::scope(|s| {
                for st in streams.iter_mut() {
                    let (counter, done) = (&counter, &done);
                    s.spawn(move || tcp::send(st, until, done, counter));
                }
                self.watch(start, &counter, &done);
            });
            write_msg(&mut self.ctl, &Message::Finish(Outcome::default()))?;
            let o = self.server_outcome(GRACE)?;
            // Everything was received by now: the counts are final.
            let retransmits = streams.iter().filter_map(tcp::retransmits).sum();
            Ok((o.bytes, o.interval_ns, Some(retransmits), None))
        }
    }

    fn udp(mut self, port: u16) -> Result<Figures, BwError> {
        let server = SocketAddr::new(self.req.target.ip(), port);
        let local = self.req.bind.unwrap_or(match server {
            SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        let socket: UdpSocket = udp::bind(local)?;
        socket.connect(server)?;
        let cookie8: [u8; 8] = self.cookie[..8].try_into().unwrap_or_default();
        let counter = AtomicU64::new(0);
        let start = Instant::now();
        if self.params.reverse {
            let finish = AtomicBool::new(false);
            let done = AtomicBool::new(false);
            let deadline = start + self.duration + GRACE;
            let server_ip = server.ip();
            let (arrivals, outcome) = std::thread::scope(|s| {
                let h = s.spawn(|| {
                    udp::receive(
                        &socket, cookie8, server_ip, &finish, deadline, &done, &counter,
                    )
                });
                // Open the path until the first datagram arrives.
                let hello_until = Instant::now() + Duration::from_secs(3);
                while counter.load(Ordering::Relaxed) == 0 && Instant::now() < hello_until {
                    let _ = udp::send_hello(&socket, cookie8);
                    std::thread::sleep(Duration::from_millis(20));
                }
                self.watch(start, &counter, &AtomicBool::new(false));
                let outcome = self.server_outcome(self.duration + GRACE);
                finish.store(true, Ordering::Relaxed);
                if outcome.is_err() {
                    done.store(true, Ordering::Relaxed);
                }
                (h.join(), outcome)
            });
            let o = outcome?;
            let arrivals = arrivals.map_err(|_| BwError::Protocol("receiver failed".into()))?;
            let _ = write_msg(&mut self.ctl, &Message::Finish(Outcome::default()));
            let sent = o.udp.map_or(0, |u| u.sent);
            Ok((
                arrivals.bytes(),
                arrivals.interval_ns(),
                None,
                Some(arrivals.figures(sent)),
            ))
        } else {
            let done = AtomicBool::new(false);
            let sent = std::thread::scope(|s| {
                let h = s.spawn(|| {
                    udp::send_paced(
                        &socket,
                        cookie8,
                        self.params.udp_rate_bps,
                        usize::from(self.params.udp_payload),
                        start + self.duration,
                        &done,
                        &counter,
                    )
                });
                self.watch(start, &counter, &AtomicBool::new(false));
                h.join().unwrap_or(0)
            });
            write_msg(
                &mut self.ctl,
                &Message::Finish(Outcome {
                    udp: Some(UdpFigures {
                        sent,
                        ..UdpFigures::default()
                    }),
                    ..Outcome::default()
                }),
            )?;
            let o = self.server_outcome(GRACE)?;
            let udp = o
                .udp
                .ok_or_else(|| BwError::Protocol("no UDP figures from the server".into()))?;
            Ok((o.bytes, o.interval_ns, None, Some(udp)))
        }
    }
}

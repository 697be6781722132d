//! Kernel timestamps over 127.0.0.1: RX stamps from the kernel, TX stamps from
//! the error queue, matched to the right send, in the right order. Where the
//! kernel refuses `SO_TIMESTAMPING`, the fallback must still hold together, and
//! the test says why it ran degraded.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use probe::timestamping::{
    Received, RxTimestamping, SendTicket, SocketOptions, Timestamp, TimestampedSocket, TsSource,
    TxTimestamping,
};

const PACKETS: usize = 50;
const TX_WAIT: Duration = Duration::from_millis(200);
/// Generous: a kernel-to-kernel hop on loopback takes microseconds; this only
/// catches gross mix-ups such as a user-space stamp on one side.
const LOOPBACK_MAX_ONE_WAY: Duration = Duration::from_millis(1);

fn loopback() -> io::Result<SocketAddr> {
    "127.0.0.1:0".parse().map_err(io::Error::other)
}

fn pair(options: &SocketOptions) -> io::Result<(TimestampedSocket, TimestampedSocket)> {
    let a = TimestampedSocket::bind_with(loopback()?, options)?;
    let b = TimestampedSocket::bind_with(loopback()?, options)?;
    for (name, s) in [("sender", &a), ("receiver", &b)] {
        let caps = s.capabilities();
        println!(
            "{name}: rx={:?} tx={:?} flags={:#x} hardware_requested={}",
            caps.rx, caps.tx, caps.flags, caps.hardware_requested
        );
        for note in &caps.notes {
            println!("{name}: fallback: {note}");
        }
    }
    warm_up(&a, &b)?;
    Ok((a, b))
}

/// The kernel switches RX software stamping on through deferred work when the
/// first timestamping socket appears, so the very first arrivals may carry no
/// kernel stamp (and are rightly labelled `User`). Wait until stamps flow.
fn warm_up(a: &TimestampedSocket, b: &TimestampedSocket) -> io::Result<()> {
    if b.capabilities().rx == RxTimestamping::User {
        return Ok(());
    }
    let to = b.local_addr()?;
    for attempt in 1..=100 {
        let ticket = a.send_to(b"warm-up", to, None)?;
        let got = recv_payload(b, b"warm-up")?;
        let _ = a.tx_timestamp(&ticket, TX_WAIT);
        if got.ts_source != TsSource::User {
            if attempt > 1 {
                println!("RX kernel stamps started after {attempt} packets");
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(io::Error::other("RX kernel stamps never started"))
}

fn expected_ttl() -> u8 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(64)
}

fn expected_rx_source(s: &TimestampedSocket) -> TsSource {
    match s.capabilities().rx {
        RxTimestamping::Timestamping | RxTimestamping::TimestampNs => TsSource::Kernel,
        RxTimestamping::User => TsSource::User,
    }
}

fn expected_tx_source(s: &TimestampedSocket) -> TsSource {
    match s.capabilities().tx {
        TxTimestamping::ErrorQueue => TsSource::Kernel,
        TxTimestamping::User => TsSource::User,
    }
}

fn recv_payload(b: &TimestampedSocket, want: &[u8]) -> io::Result<Received> {
    let mut buf = [0u8; 256];
    let got = b.recv(&mut buf)?;
    assert_eq!(
        buf.get(..got.len),
        Some(want),
        "datagrams arrive in order on loopback"
    );
    Ok(got)
}

fn check_pair(
    (tx, tx_source): (Timestamp, TsSource),
    ticket: &SendTicket,
    got: &Received,
    a: &TimestampedSocket,
    b: &TimestampedSocket,
) {
    assert_eq!(tx_source, expected_tx_source(a));
    assert_eq!(got.ts_source, expected_rx_source(b));
    assert!(tx >= ticket.user_ts, "TX stamp before the send call");
    assert!(tx <= got.ts, "TX {tx:?} after RX {:?}", got.ts);
    if tx_source == TsSource::Kernel && got.ts_source == TsSource::Kernel {
        let one_way = got.ts - tx;
        assert!(
            one_way < LOOPBACK_MAX_ONE_WAY,
            "loopback one-way {one_way:?}"
        );
    }
}

fn send_and_match_in_step(options: &SocketOptions) -> io::Result<()> {
    let (a, b) = pair(options)?;
    let to = b.local_addr()?;
    let from = a.local_addr()?;
    let ttl = expected_ttl();
    let mut worst = Duration::ZERO;
    for i in 0..PACKETS {
        let payload = format!("packet {i}");
        let ticket = a.send_to(payload.as_bytes(), to, None)?;
        let got = recv_payload(&b, payload.as_bytes())?;
        let stamp = a.tx_timestamp(&ticket, TX_WAIT);
        check_pair(stamp, &ticket, &got, &a, &b);
        worst = worst.max(got.ts.saturating_sub(stamp.0));
        assert_eq!(got.from, from);
        assert_eq!(got.ttl, Some(ttl));
        assert_eq!(got.tos, Some(0));
        assert!(!got.truncated);
    }
    println!(
        "tx keys: {}; worst loopback one-way: {worst:?}",
        a.tx_key_mode()
    );
    Ok(())
}

#[test]
fn kernel_rx_and_error_queue_tx_stamps() -> io::Result<()> {
    send_and_match_in_step(&SocketOptions::default())
}

#[test]
fn kernel_counted_tx_keys() -> io::Result<()> {
    let options = SocketOptions {
        explicit_tx_keys: false,
        ..SocketOptions::default()
    };
    send_and_match_in_step(&options)
}

#[test]
fn tx_stamps_looked_up_out_of_order() -> io::Result<()> {
    for explicit_tx_keys in [true, false] {
        let options = SocketOptions {
            explicit_tx_keys,
            ..SocketOptions::default()
        };
        let (a, b) = pair(&options)?;
        let to = b.local_addr()?;
        let mut sent = Vec::new();
        for i in 0..PACKETS {
            let payload = format!("burst {i}");
            let ticket = a.send_to(payload.as_bytes(), to, None)?;
            let got = recv_payload(&b, payload.as_bytes())?;
            sent.push((ticket, got));
        }
        // Newest first: every stamp must still find its own send.
        let mut previous_tx: Option<Timestamp> = None;
        for (ticket, got) in sent.iter().rev() {
            let stamp = a.tx_timestamp(ticket, TX_WAIT);
            check_pair(stamp, ticket, got, &a, &b);
            if stamp.1 == TsSource::Kernel {
                if let Some(later) = previous_tx {
                    assert!(stamp.0 <= later, "stamps matched to the wrong sends");
                }
                previous_tx = Some(stamp.0);
            }
        }
        // Each stamp is handed out once; a second lookup falls back.
        if let Some((ticket, _)) = sent.first() {
            assert_eq!(a.try_tx_timestamp(ticket), None);
        }
    }
    Ok(())
}

#[test]
fn per_packet_and_socket_tos() -> io::Result<()> {
    let (a, b) = pair(&SocketOptions::default())?;
    let to = b.local_addr()?;
    a.send_to(b"ef", to, Some(0xb8))?;
    assert_eq!(recv_payload(&b, b"ef")?.tos, Some(0xb8));
    a.set_tos(0x28)?;
    a.send_to(b"af11", to, None)?;
    assert_eq!(recv_payload(&b, b"af11")?.tos, Some(0x28));
    Ok(())
}

#[test]
fn non_blocking_recv_would_block() -> io::Result<()> {
    let (_, b) = pair(&SocketOptions::default())?;
    b.set_nonblocking(true)?;
    let mut buf = [0u8; 8];
    match b.recv(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        other => panic!("expected WouldBlock, got {other:?}"),
    }
}

#[test]
fn failed_sends_do_not_shift_tx_keys() -> io::Result<()> {
    for explicit_tx_keys in [true, false] {
        let options = SocketOptions {
            explicit_tx_keys,
            ..SocketOptions::default()
        };
        let (a, b) = pair(&options)?;
        let to = b.local_addr()?;
        let too_big = vec![0u8; 70_000];
        for i in 0..10 {
            // EMSGSIZE comes after the kernel may already have taken a key.
            assert!(a.send_to(&too_big, to, None).is_err());
            let payload = format!("after failure {i}");
            let ticket = a.send_to(payload.as_bytes(), to, None)?;
            let got = recv_payload(&b, payload.as_bytes())?;
            let stamp = a.tx_timestamp(&ticket, TX_WAIT);
            check_pair(stamp, &ticket, &got, &a, &b);
        }
        println!("tx keys: {}", a.tx_key_mode());
    }
    Ok(())
}

#[test]
fn user_space_fallback_holds_together() -> io::Result<()> {
    let options = SocketOptions {
        kernel_timestamps: false,
        ..SocketOptions::default()
    };
    send_and_match_in_step(&options)
}

#[test]
fn ipv6_loopback_hop_limit_and_traffic_class() -> io::Result<()> {
    let any6: SocketAddr = "[::1]:0".parse().map_err(io::Error::other)?;
    let (a, b) = match (TimestampedSocket::bind(any6), TimestampedSocket::bind(any6)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            println!("no IPv6 loopback here ({e}); skipped");
            return Ok(());
        }
    };
    warm_up(&a, &b)?;
    let hop_limit = std::fs::read_to_string("/proc/sys/net/ipv6/conf/lo/hop_limit")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(64u8);
    let to = b.local_addr()?;
    for i in 0..10 {
        let payload = format!("v6 {i}");
        let ticket = a.send_to(payload.as_bytes(), to, Some(0xb8))?;
        let got = recv_payload(&b, payload.as_bytes())?;
        let stamp = a.tx_timestamp(&ticket, TX_WAIT);
        check_pair(stamp, &ticket, &got, &a, &b);
        assert_eq!(got.from, a.local_addr()?);
        assert_eq!(got.ttl, Some(hop_limit));
        assert_eq!(got.tos, Some(0xb8));
    }
    Ok(())
}

#[test]
fn unstamped_sends_leave_nothing_on_the_error_queue() -> io::Result<()> {
    for explicit_tx_keys in [true, false] {
        let options = SocketOptions {
            explicit_tx_keys,
            ..SocketOptions::default()
        };
        let (a, b) = pair(&options)?;
        if a.capabilities().tx != TxTimestamping::ErrorQueue {
            println!("no kernel TX stamps here; skipped");
            return Ok(());
        }
        let _ = a.drain_error_queue()?; // warm-up leftovers
        let to = b.local_addr()?;
        for i in 0..10 {
            // Unstamped sends first, so the key mode is decided (and the
            // kernel counter mirrored) only by the stamped ones.
            let quiet = format!("quiet {i}");
            let ticket = a.send_to_with(quiet.as_bytes(), to, None, false)?;
            assert_eq!(ticket.key, None);
            recv_payload(&b, quiet.as_bytes())?;
            let loud = format!("loud {i}");
            let ticket = a.send_to_with(loud.as_bytes(), to, None, true)?;
            let got = recv_payload(&b, loud.as_bytes())?;
            let stamp = a.tx_timestamp(&ticket, TX_WAIT);
            check_pair(stamp, &ticket, &got, &a, &b);
        }
        // Every stamped send's entry was consumed by its lookup; the
        // unstamped ones never made one.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(a.drain_error_queue()?, 0, "keys: {}", a.tx_key_mode());
    }
    Ok(())
}

#[test]
fn batch_receive_keeps_each_datagrams_stamp_and_header_info() -> io::Result<()> {
    let (a, b) = pair(&SocketOptions::default())?;
    let to = b.local_addr()?;
    let from = a.local_addr()?;
    let mut tickets = Vec::new();
    for i in 0..10u8 {
        tickets.push(a.send_to(&[i; 20], to, Some(0x28))?);
    }
    // Larger than a slot: reported truncated, never overrunning.
    a.send_to(&[0xee; 100], to, None)?;
    let mut batch = probe::timestamping::RecvBatch::new(4, 64);
    let mut got = Vec::new();
    while got.len() < 11 {
        let n = b.recv_batch(&mut batch)?;
        assert!((1..=4).contains(&n), "{n}");
        for i in 0..n {
            let (data, r) = batch.get(i).expect("datagram");
            got.push((data.to_vec(), *r));
        }
    }
    for (i, ((data, r), ticket)) in got.iter().zip(&tickets).enumerate() {
        assert_eq!(data, &vec![i as u8; 20]);
        assert_eq!(r.from, from);
        assert_eq!(r.tos, Some(0x28));
        assert_eq!(r.ttl, Some(expected_ttl()));
        let stamp = a.tx_timestamp(ticket, TX_WAIT);
        check_pair(stamp, ticket, r, &a, &b);
    }
    let (big, r) = &got[10];
    assert!(r.truncated);
    assert_eq!(big.len(), 64);
    Ok(())
}

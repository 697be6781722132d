//! The reflector's hot path allocates nothing per packet: counted with a
//! global allocator over the decision (`Core::handle`) and over the socket
//! calls of the loop (batched receive, send with and without a TX stamp, the
//! Follow-Up lookup), once sessions exist. Only the measuring thread's
//! allocations count: the reflector's loop runs on one thread.

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use probe::clock::ClockStatus;
use probe::reflector::{Core, Datagram, Decision, Policy};
use probe::timestamping::{realtime_now, RecvBatch, TimestampedSocket, TsSource};
use probe::wire::{ErrorEstimate, FollowUpTelemetry, Mode, SenderRepr, Timestamp, Tlv, TlvBody};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
thread_local! {
    /// Set on the thread being measured: the test harness's own threads
    /// (another test finishing, its result sent over a channel) allocate
    /// too, and are not the reflector's hot path.
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed) && MEASURED.try_with(Cell::get).unwrap_or(false)
}
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// The two tests count one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    MEASURED.with(|m| m.set(true));
    COUNTING.store(true, Ordering::SeqCst);
    let out = f();
    COUNTING.store(false, Ordering::SeqCst);
    MEASURED.with(|m| m.set(false));
    (out, ALLOCATIONS.load(Ordering::SeqCst))
}

fn request(seq: u32, ssid: u16, follow_up: bool) -> Vec<u8> {
    let tlvs = if follow_up {
        vec![Tlv::new(TlvBody::FollowUpTelemetry(
            FollowUpTelemetry::default(),
        ))]
    } else {
        vec![]
    };
    let repr = SenderRepr {
        mode: Mode::Unauthenticated,
        sequence_number: seq,
        timestamp: Timestamp::default(),
        error_estimate: ErrorEstimate::default(),
        ssid,
        tlvs,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf, None).unwrap();
    buf
}

#[test]
fn deciding_allocates_nothing_per_packet() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let clock = ClockStatus::read().unwrap();
    // A rate limit far above what the test sends: the limiter's path runs too.
    let policy = Policy {
        max_pps: 1_000_000_000,
        ..Policy::default()
    };
    let mut core = Core::new(policy, &clock);
    let mut out = vec![0u8; 65_536];
    let requests: Vec<Vec<u8>> = (0..8).map(|ssid| request(0, ssid, ssid % 2 == 0)).collect();
    let from: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let mut run = |core: &mut Core, rounds: u32| {
        let now = Instant::now();
        let mut replies = 0;
        for _ in 0..rounds {
            for req in &requests {
                let d = Datagram {
                    data: req,
                    truncated: false,
                    from,
                    rx_ts: realtime_now(),
                    rx_source: TsSource::Kernel,
                    ttl: Some(64),
                    tos: Some(0),
                };
                if let Decision::Reply(_) = core.handle(&d, now, realtime_now(), &mut out, |t| {
                    Some((t.user_ts, TsSource::Kernel))
                }) {
                    replies += 1;
                }
            }
        }
        replies
    };
    run(&mut core, 10); // sessions created
    let (replies, allocations) = counted(|| run(&mut core, 1_000));
    assert_eq!(replies, 8_000);
    assert_eq!(allocations, 0, "allocations over 8,000 packets");
}

#[test]
fn socket_calls_allocate_nothing_per_packet() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let reflector = TimestampedSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let sender = TimestampedSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    reflector.set_nonblocking(true).unwrap();
    let to = reflector.local_addr().unwrap();
    let back = sender.local_addr().unwrap();
    let mut batch = RecvBatch::new(8, 2048);
    let payload = [7u8; 64];
    let mut round = |stamp: bool| {
        // Unstamped: the test's own sender keeps no TX stamps to look up.
        sender.send_to_with(&payload, to, None, false).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let n = loop {
            match reflector.recv_batch(&mut batch) {
                Ok(n) => break n,
                Err(_) if Instant::now() < deadline => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        };
        for i in 0..n {
            let (data, got) = batch.get(i).unwrap();
            let ticket = reflector.send_to_with(data, got.from, None, stamp).unwrap();
            let _ = reflector.drain_error_queue();
            let _ = reflector.try_tx_timestamp(&ticket);
        }
        let mut buf = [0u8; 128];
        let _ = sender.recv(&mut buf);
        assert_eq!(back, sender.local_addr().unwrap_or(back));
    };
    for i in 0..50 {
        round(i % 2 == 0); // TX-stamp book and tables grown
    }
    let ((), allocations) = counted(|| {
        for i in 0..500 {
            round(i % 2 == 0);
        }
    });
    assert_eq!(allocations, 0, "allocations over 500 round trips");
}

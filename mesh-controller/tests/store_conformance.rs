//! The storage seam's conformance suite: every behaviour the controller
//! relies on, written against `StoreRead`/`StoreWrite` only, run for each
//! backend. A backend is a factory of fresh stores ([`Backend`]); each
//! backend is one `conformance!` line with its factory (None: the backend
//! cannot run here, and its tests say why and pass).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_server;
mod serve_common;

use mesh_controller::history::{Rollup, Span, DEFAULT_FINE_MS};
use mesh_controller::monitor::alertmanager::Labels;
use mesh_controller::monitor::alerts::AlertState;
use mesh_controller::server::config::{self, Config, Retention};
use mesh_controller::server::measured::read_directions;
use mesh_controller::server::series::{series, SeriesQuery, Step};
use mesh_controller::server::store::alerts::{Change, Notice};
use mesh_controller::server::store::events::{Detail, NewEvent};
use mesh_controller::server::store::rollups::Directions;
use mesh_controller::server::store::{Connector, Medians, NewWindow, StoreWrite};
use protocol::api::{
    ClockInfo, ClockSource, Hello, PingResult, ResultBody, ResultUpload, TestClock,
};
use protocol::window::Window;
use serve_common::{config_with, now_ms, unsync_clock, window};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const MINUTE: u64 = 60_000;
const HOUR: u64 = 3_600_000;

/// What the suite needs of a backend.
trait Backend {
    /// A new, empty store.
    fn fresh(&self) -> Box<dyn Connector>;
    /// A store as a release from before rollups left it, holding raw windows
    /// `(probe, seq, target, start_ms, window)` and no rollups; None when the
    /// backend has no such past.
    fn before_rollups(
        &self,
        windows: &[(&str, u64, &str, u64, Window)],
    ) -> Option<Box<dyn Connector>>;
}

/// SQLite: a file per store in one temporary directory.
struct Sqlite {
    dir: tempfile::TempDir,
    made: std::cell::Cell<u32>,
}

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
            made: std::cell::Cell::new(0),
        }
    }

    fn next_path(&self) -> std::path::PathBuf {
        self.made.set(self.made.get() + 1);
        self.dir.path().join(format!("s{}.db", self.made.get()))
    }
}

impl Backend for Sqlite {
    fn fresh(&self) -> Box<dyn Connector> {
        Box::new(mesh_controller::server::store::sqlite::Sqlite::new(
            &self.next_path(),
        ))
    }

    fn before_rollups(
        &self,
        windows: &[(&str, u64, &str, u64, Window)],
    ) -> Option<Box<dyn Connector>> {
        use mesh_controller::server::store::sqlite::migrations;
        let path = self.next_path();
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        // Schema 4: windows and retention, no rollups yet.
        migrations::migrate_to(&mut conn, 4, now_ms() as i64).unwrap();
        for (probe, seq, target, start, w) in windows {
            conn.execute(
                "INSERT INTO windows (probe, seq, target, start_ms, duration_ms, received_ms, sent, replies, window)
                 VALUES (?1, ?2, ?3, ?4, 10000, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    probe,
                    *seq as i64,
                    target,
                    *start as i64,
                    w.counters.sent as i64,
                    w.counters.received as i64,
                    serde_json::to_string(w).unwrap()
                ],
            )
            .unwrap();
        }
        for (probe, seq, ..) in windows {
            conn.execute(
                "INSERT INTO probes (id, last_seq) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET last_seq = MAX(last_seq, ?2)",
                rusqlite::params![probe, *seq as i64],
            )
            .unwrap();
        }
        drop(conn);
        Some(Box::new(
            mesh_controller::server::store::sqlite::Sqlite::new(&path),
        ))
    }
}

/// PostgreSQL: one server per test binary (started on first use, stopped
/// at exit), a new database per store.
struct Pg {
    server: &'static pg_server::PgServer,
}

static PG: std::sync::OnceLock<Option<pg_server::PgServer>> = std::sync::OnceLock::new();
static PG_DATABASES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn stop_pg() {
    if let Some(Some(pg)) = PG.get() {
        let _ = pg.stop_immediately();
        let _ = std::fs::remove_dir_all(pg.socket_dir());
    }
}

impl Pg {
    /// The shared server, or None (having said why) without PostgreSQL.
    fn new() -> Option<Pg> {
        let server = PG
            .get_or_init(|| {
                let pg = pg_server::PgServer::start();
                if pg.is_some() {
                    // Statics are never dropped: stop the server at exit.
                    // SAFETY: registers a plain function with no arguments.
                    unsafe { libc::atexit(stop_pg) };
                }
                pg
            })
            .as_ref()?;
        Some(Pg { server })
    }
}

impl Backend for Pg {
    fn fresh(&self) -> Box<dyn Connector> {
        let n = PG_DATABASES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("store_{n}");
        self.server
            .psql(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let url = format!(
            "postgres://{}@127.0.0.1:{}/{name}",
            pg_server::USER,
            self.server.port
        );
        Box::new(mesh_controller::server::store::postgres::Postgres::new(&url).unwrap())
    }

    fn before_rollups(
        &self,
        _windows: &[(&str, u64, &str, u64, Window)],
    ) -> Option<Box<dyn Connector>> {
        None // no PostgreSQL store predates rollups
    }
}

/// Runs every behaviour as a test of its own for one backend (`$make`
/// gives Option<backend>).
macro_rules! conformance {
    ($backend:ident, $make:expr, [$($behaviour:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $behaviour() {
                    if let Some(b) = $make {
                        super::$behaviour(&b);
                    }
                }
            )*
        }
    };
}

conformance!(
    sqlite,
    Some(super::Sqlite::new()),
    [
        ingest_is_idempotent_on_probe_and_seq,
        group_commit_keeps_batches_apart,
        retention_merges_exactly_and_merged_seqs_stay_duplicates,
        rollups_series_and_route_figures_read_back_exactly,
        window_medians_read_back,
        results_are_idempotent_and_read_by_kind,
        hello_fills_the_probe_row,
        alerts_states_episodes_and_the_delivery_queue,
        events_are_recorded_once_and_linked,
        a_store_from_before_rollups_is_rolled_up_once,
        a_lease_has_one_holder_until_it_expires,
        a_bandwidth_slot_is_given_once,
    ]
);

conformance!(
    postgres,
    super::Pg::new(),
    [
        ingest_is_idempotent_on_probe_and_seq,
        group_commit_keeps_batches_apart,
        retention_merges_exactly_and_merged_seqs_stay_duplicates,
        rollups_series_and_route_figures_read_back_exactly,
        window_medians_read_back,
        results_are_idempotent_and_read_by_kind,
        hello_fills_the_probe_row,
        alerts_states_episodes_and_the_delivery_queue,
        events_are_recorded_once_and_linked,
        a_store_from_before_rollups_is_rolled_up_once,
        a_lease_has_one_holder_until_it_expires,
        a_bandwidth_slot_is_given_once,
        replicas_store_and_roll_up_each_window_once,
    ]
);

/// The configuration the suite's figures are read under: a cluster `cl`
/// (probe cl-1) and a city `city-a` (probe a-1).
fn config() -> Config {
    let text = config_with(&[("cl-1", "cl"), ("a-1", "city-a")], "");
    config::from_str(&text, "suite", Path::new("suite.yaml")).unwrap()
}

/// Window `i` of a varied family (so histograms differ).
fn varied(i: u64) -> Window {
    window(
        20 + (i % 7) as u32,
        (i % 3) as u32,
        1.0 + (i % 50) as f64 / 10.0,
        2.0 + (i % 13) as f64,
        unsync_clock(),
    )
}

/// A window of cl-1 -> a-1 as the API hands it to the store.
fn new_window(seq: u64, start_ms: u64, w: &Window) -> NewWindow {
    NewWindow {
        seq,
        target: "a-1".to_string(),
        start_ms,
        duration_ms: 10_000,
        ssid: Some(7),
        timestamping: Some(protocol::window::TsSource::Kernel),
        sent: w.counters.sent,
        replies: w.counters.received,
        json: serde_json::to_string(w).unwrap(),
        pair: Some(("cl".to_string(), "city-a".to_string())),
        rollup: Some(Rollup::of_window(w)),
        medians: Medians::of(w),
    }
}

/// `n` windows of cl-1 -> a-1, 30 s apart, the first `age_ms` ago.
fn windows(n: u64, age_ms: u64) -> Vec<NewWindow> {
    let start = now_ms() - age_ms;
    (0..n)
        .map(|i| new_window(i + 1, start + i * 30_000, &varied(i)))
        .collect()
}

fn writer(b: &dyn Backend) -> (Box<dyn Connector>, Box<dyn StoreWrite>) {
    let c = b.fresh();
    let w = c.writer().unwrap();
    (c, w)
}

fn ingest_is_idempotent_on_probe_and_seq(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let now = now_ms();
    let batch = windows(20, 20 * MINUTE);
    let ack = db.ingest("cl-1", &batch, now).unwrap();
    assert_eq!(ack.accepted, (1..=20).collect::<Vec<_>>());
    assert!(ack.duplicate.is_empty());
    assert_eq!(ack.next_seq, 21);

    // The whole batch again, then half of it with two new windows: nothing
    // is stored twice, in the windows or in their rollups.
    let ack = db.ingest("cl-1", &batch, now).unwrap();
    assert!(ack.accepted.is_empty());
    assert_eq!(ack.duplicate.len(), 20);
    let mut mixed = batch[10..].to_vec();
    let extra = windows(22, 20 * MINUTE);
    mixed.extend_from_slice(&extra[20..]);
    let ack = db.ingest("cl-1", &mixed, now).unwrap();
    assert_eq!(ack.accepted, vec![21, 22]);
    assert_eq!(ack.duplicate, (11..=20).collect::<Vec<_>>());
    assert_eq!(ack.next_seq, 23);

    // The same seq from another probe is another window.
    let ack = db.ingest("a-1", &batch[..1], now).unwrap();
    assert_eq!(ack.accepted, vec![1]);

    let reader = c.reader().unwrap();
    assert_eq!(reader.totals().unwrap(), (23, 0));
    assert_eq!(reader.next_seq("cl-1").unwrap(), 23);
    assert_eq!(reader.next_seq("nobody").unwrap(), 1);
    let rows = reader.probe_rows().unwrap();
    assert_eq!(rows["cl-1"].windows, 22);
    assert_eq!(rows["cl-1"].last_seq, 22);
    assert_eq!(rows["a-1"].windows, 1);
    let merged = reader.merged_since(0).unwrap();
    let sent: u64 = extra.iter().map(|w| w.sent).sum();
    assert_eq!(merged[&("cl-1".into(), "a-1".into())].windows, 22);
    assert_eq!(
        merged[&("cl-1".into(), "a-1".into())].window.counters.sent,
        sent
    );
    let mut in_rollups = 0;
    let spans = [Span {
        level_ms: DEFAULT_FINE_MS,
        from: 0,
        until: u64::MAX / 2,
    }];
    reader
        .for_each_rollup(&spans, Directions::All, &mut |row| {
            in_rollups += row.rollup()?.windows;
            Ok(())
        })
        .unwrap();
    assert_eq!(in_rollups, 23, "every window in its fine rollup once");
}

fn group_commit_keeps_batches_apart(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let now = now_ms();
    let first = windows(5, 10 * MINUTE);
    db.ingest("cl-1", &first, now).unwrap();
    let more = windows(8, 10 * MINUTE);
    let acks = db
        .ingest_many(&[("cl-1", &more[..]), ("a-1", &first[..2])], now)
        .unwrap();
    assert_eq!(acks.len(), 2);
    let a = acks[0].as_ref().unwrap();
    assert_eq!(a.accepted, vec![6, 7, 8]);
    assert_eq!(a.duplicate, vec![1, 2, 3, 4, 5]);
    assert_eq!(acks[1].as_ref().unwrap().accepted, vec![1, 2]);
    let reader = c.reader().unwrap();
    assert_eq!(reader.totals().unwrap(), (10, 0));
    assert_eq!(
        reader.sessions_since(0).unwrap(),
        vec![
            ("a-1".to_string(), "a-1".to_string()),
            ("cl-1".to_string(), "a-1".to_string())
        ]
    );
}

fn retention_merges_exactly_and_merged_seqs_stay_duplicates(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let now = now_ms();
    let batch = windows(360, 3 * HOUR);
    db.ingest("cl-1", &batch, now).unwrap();
    let reader = c.reader().unwrap();
    let before = reader.merged_since(0).unwrap();
    let mut per_window = Vec::new();
    reader
        .for_each_window("cl-1", "a-1", 0, &mut |w, n| {
            per_window.push((w.clone(), n))
        })
        .unwrap();
    assert_eq!(per_window.len(), 360);

    let r = Retention {
        raw: Duration::from_secs(3600),
        coarse: Duration::from_secs(30 * 86400),
        coarse_window: Duration::from_secs(300),
    };
    let stats = db.retain(now, &r).unwrap();
    assert_eq!(stats.merged, 240);
    assert_eq!(reader.totals().unwrap(), (120, 240));
    let after = reader.merged_since(0).unwrap();
    assert_eq!(after, before, "merged windows read back exactly");
    // Retained rows carry their window counts.
    let mut counted = 0;
    reader
        .for_each_window("cl-1", "a-1", 0, &mut |_, n| counted += n)
        .unwrap();
    assert_eq!(counted, 360);
    let mut in_rows = 0;
    reader
        .for_each_session_rollup("cl-1", "a-1", 0, u64::MAX / 2, &mut |_, _, r| {
            in_rows += r.windows
        })
        .unwrap();
    assert_eq!(in_rows, 360);

    // A replay of a merged seq is a duplicate; a new late window is taken.
    let late = windows(1, 3 * HOUR);
    let mut again = batch[4].clone();
    again.start_ms = late[0].start_ms;
    let mut new = late[0].clone();
    new.seq = 5000;
    let ack = db.ingest("cl-1", &[again, new], now).unwrap();
    assert_eq!(ack.duplicate, vec![5]);
    assert_eq!(ack.accepted, vec![5000]);
    assert_eq!(ack.next_seq, 5001);
    let stats = db.retain(now, &r).unwrap();
    assert_eq!((stats.merged, stats.coarse_rows), (1, 1));
    assert_eq!(reader.totals().unwrap(), (120, 241));

    // Past the coarse horizon, retained rows go.
    let short = Retention {
        coarse: Duration::from_secs(2 * 3600),
        ..r
    };
    let stats = db.retain(now, &short).unwrap();
    assert!(stats.dropped > 0);
    let (_, coarse) = reader.totals().unwrap();
    assert!(coarse < 241 && coarse > 0, "{coarse}");
}

fn rollups_series_and_route_figures_read_back_exactly(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let now = now_ms();
    let batch = windows(40, 30 * MINUTE);
    db.ingest("cl-1", &batch, now).unwrap();
    let reader = c.reader().unwrap();
    let config = config();

    // The route table's input: one merged rollup per session direction,
    // equal to merging the windows themselves.
    let mut expect = Rollup::default();
    for w in &batch {
        expect.merge(w.rollup.as_ref().unwrap());
    }
    let from = now - HOUR;
    let by_dir = read_directions(
        reader.as_ref(),
        &config,
        from,
        now + MINUTE,
        now,
        Directions::All,
    )
    .unwrap();
    assert_eq!(by_dir.len(), 1);
    let got = by_dir.values().next().unwrap();
    assert_eq!(got, &expect);

    // Directions seen, and the mid level complete from the start.
    let seen = reader.directions_seen().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].sender.as_str(), seen[0].reflector.as_str()),
        ("cl", "city-a")
    );
    assert_eq!(seen[0].first_ms, batch[0].start_ms);
    assert_eq!(seen[0].last_ms, batch[39].start_ms);
    assert_eq!(reader.rollups_mid_from().unwrap(), 0);

    // The series over the half hour holds every window once, from the
    // rollups and, narrowed to the probe pair, from the windows.
    for probe in [None, Some("cl-1".to_string())] {
        let q = SeriesQuery {
            from: "cl".into(),
            to: "city-a".into(),
            since: now - HOUR,
            until: now,
            step: Step::Every(Duration::from_secs(300)),
            probe: probe.clone(),
            peer: None,
        };
        let s = series(reader.as_ref(), &config, &q, now).unwrap();
        let n: u64 = s.points.iter().map(|p| p.windows).sum();
        assert_eq!(n, 40, "{probe:?}: {}", s.source);
        assert!(s.points.windows(2).all(|p| p[0].t < p[1].t));
    }
}

fn window_medians_read_back(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let now = now_ms();
    let batch = windows(6, 10 * MINUTE);
    db.ingest("cl-1", &batch, now).unwrap();
    let reader = c.reader().unwrap();
    let mut got = Vec::new();
    reader
        .for_each_window_medians(batch[2].start_ms, &mut |m| {
            got.push((
                m.sender.to_string(),
                m.reflector.to_string(),
                m.start_ms,
                m.medians,
            ))
        })
        .unwrap();
    got.sort_by_key(|g| g.2);
    let expect: Vec<_> = batch[2..]
        .iter()
        .map(|w| {
            (
                "cl".to_string(),
                "city-a".to_string(),
                w.start_ms,
                w.medians,
            )
        })
        .collect();
    assert_eq!(got, expect);
    assert!(got.iter().all(|g| g.3.forward_us.is_some()));
}

fn ping(seq: u64, target: &str, start: u64, received: u64) -> ResultUpload {
    ResultUpload {
        seq,
        target: target.to_string(),
        start_unix_ms: start,
        body: ResultBody::Ping(PingResult {
            sent: 10,
            received,
            rtt_us: None,
            loss_pct: (10 - received) as f64 * 10.0,
        }),
    }
}

fn results_are_idempotent_and_read_by_kind(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let now = now_ms();
    let batch = vec![
        ping(1, "city-b", now - 3 * MINUTE, 10),
        ping(2, "city-b", now - 2 * MINUTE, 9),
    ];
    let ack = db.ingest_results("cl-1", &batch, now).unwrap();
    assert_eq!((ack.accepted, ack.next_seq), (vec![1, 2], 3));
    let ack = db
        .ingest_results(
            "cl-1",
            &[batch[1].clone(), ping(3, "city-b", now - MINUTE, 8)],
            now,
        )
        .unwrap();
    assert_eq!((ack.accepted, ack.duplicate), (vec![3], vec![2]));
    let reader = c.reader().unwrap();
    assert_eq!(reader.next_result_seq("cl-1").unwrap(), 4);
    // Windows and results count apart.
    assert_eq!(reader.next_seq("cl-1").unwrap(), 1);
    let got = reader.results_since("ping", now - 150_000).unwrap();
    assert_eq!(
        got.iter().map(|r| r.start_ms).collect::<Vec<_>>(),
        vec![now - 2 * MINUTE, now - MINUTE]
    );
    assert_eq!(got[0].body, batch[1].body);
    assert!(reader.results_since("trace", 0).unwrap().is_empty());
    let rows = reader.probe_rows().unwrap();
    assert_eq!((rows["cl-1"].results, rows["cl-1"].last_result_seq), (3, 3));
}

fn hello_fills_the_probe_row(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let now = now_ms();
    let mut hello = Hello {
        probe: "a-1".into(),
        version: "1.2.3".into(),
        boot_id: Some("boot-1".into()),
        clock: ClockInfo {
            synchronized: true,
            error_us: 250,
            source: Some(ClockSource::Ptp),
            test_clock: Some(TestClock {
                offset_ns: -2_500_000,
                drift_ppb: 20_000,
            }),
        },
        stamp: None,
    };
    db.hello(&hello, now).unwrap();
    hello.version = "1.2.4".into();
    db.hello(&hello, now + 1).unwrap();
    let rows = c.reader().unwrap().probe_rows().unwrap();
    let r = &rows["a-1"];
    assert_eq!(r.version.as_deref(), Some("1.2.4"));
    assert_eq!(r.boot_id.as_deref(), Some("boot-1"));
    assert_eq!(r.clock, Some(hello.clock), "source and test clock kept");
    assert_eq!(r.last_hello_ms, Some(now + 1));
    hello.clock.test_clock = None;
    db.hello(&hello, now + 2).unwrap();
    let rows = c.reader().unwrap().probe_rows().unwrap();
    assert_eq!(rows["a-1"].clock, Some(hello.clock), "a test clock removed");
    assert_eq!((r.windows, r.last_seq), (0, 0));
}

fn labels(route: &str) -> Labels {
    [("alertname", "budget"), ("from", route), ("to", "city-a")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alerts_states_episodes_and_the_delivery_queue(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let t = now_ms();
    let pending = Change {
        fingerprint: "f1".into(),
        labels: labels("cl"),
        state: AlertState::Pending { since: t },
        notice: None,
    };
    db.apply_alert_changes(&[pending], t).unwrap();
    let reader = c.reader().unwrap();
    let states = reader.alert_states().unwrap();
    assert_eq!(states["f1"].state, AlertState::Pending { since: t });
    assert!(reader.episodes(true, None).unwrap().is_empty());

    let notice = |status: &'static str, resolved: Option<u64>| Notice {
        status,
        annotations: Labels::new(),
        pending_since_ms: t,
        fired_ms: t + 10,
        resolved_ms: resolved,
        value: Some(12.5),
        threshold: Some(10.0),
        bodies: vec![
            ("hook-a".into(), format!("{status} a")),
            ("hook-b".into(), format!("{status} b")),
        ],
    };
    let firing = Change {
        fingerprint: "f1".into(),
        labels: labels("cl"),
        state: AlertState::Firing {
            since: t + 10,
            good_since: None,
        },
        notice: Some(notice("firing", None)),
    };
    db.apply_alert_changes(&[firing], t + 10).unwrap();
    let eps = reader.episodes(true, None).unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!((eps[0].fired_ms, eps[0].resolved_ms), (t + 10, None));
    assert_eq!((eps[0].value, eps[0].threshold), (Some(12.5), Some(10.0)));
    let queued = reader.next_deliveries().unwrap();
    assert_eq!(queued.len(), 2, "one per receiver");
    assert!(queued
        .iter()
        .all(|d| d.status == "firing" && d.attempts == 0));

    // Resolved: the episode closes, its notices queue behind the firing
    // ones (one receiver's queue goes out in order).
    let resolved = Change {
        fingerprint: "f1".into(),
        labels: labels("cl"),
        state: AlertState::Inactive,
        notice: Some(notice("resolved", Some(t + 20))),
    };
    db.apply_alert_changes(&[resolved], t + 20).unwrap();
    assert!(reader.alert_states().unwrap().is_empty());
    assert!(reader.episodes(true, None).unwrap().is_empty());
    let eps = reader.episodes(false, Some(t)).unwrap();
    assert_eq!(eps[0].resolved_ms, Some(t + 20));
    let queued = reader.next_deliveries().unwrap();
    assert!(queued.iter().all(|d| d.status == "firing"));

    // hook-a: delivered, then its resolved notice is next. hook-b: retried,
    // then given up.
    let a = queued
        .iter()
        .find(|d| d.receiver == "hook-a")
        .unwrap()
        .clone();
    let bq = queued
        .iter()
        .find(|d| d.receiver == "hook-b")
        .unwrap()
        .clone();
    db.delivered(a.id, t + 30).unwrap();
    db.delivery_failed(bq.id, t + 30, "503", Some(t + 90))
        .unwrap();
    let queued = reader.next_deliveries().unwrap();
    let a2 = queued.iter().find(|d| d.receiver == "hook-a").unwrap();
    assert_eq!(
        (a2.status.as_str(), a2.body.as_str()),
        ("resolved", "resolved a")
    );
    let b2 = queued.iter().find(|d| d.receiver == "hook-b").unwrap();
    assert_eq!((b2.id, b2.attempts, b2.next_ms), (bq.id, 1, t + 90));
    db.delivery_failed(bq.id, t + 90, "503", None).unwrap();
    let counts = reader.delivery_counts().unwrap();
    assert_eq!(counts["hook-a"], (1, 1, 0));
    assert_eq!(counts["hook-b"], (1, 0, 1));
    let b3 = reader
        .next_deliveries()
        .unwrap()
        .into_iter()
        .find(|d| d.receiver == "hook-b")
        .unwrap();
    assert_eq!(b3.status, "resolved", "after giving up, the next one");
}

fn shift(from: &str, at_ms: u64) -> NewEvent {
    NewEvent {
        from: from.into(),
        to: "city-a".into(),
        direction: "forward".into(),
        at_ms,
        detail: Detail::LevelShift {
            before_ms: 1.0,
            after_ms: 5.0,
            basis: "one-way".into(),
        },
    }
}

fn events_are_recorded_once_and_linked(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let t = now_ms() - HOUR;
    let a = db.record_event(&shift("cl", t), t + 5).unwrap().unwrap();
    assert_eq!(db.record_event(&shift("cl", t), t + 9).unwrap(), None);
    let path = NewEvent {
        detail: Detail::PathChange {
            old: vec!["198.18.0.1".into()],
            new: vec!["198.18.0.2".into()],
            probe: "cl-1".into(),
            target: "a-1".into(),
        },
        ..shift("city-a", t + 1000)
    };
    let path = NewEvent {
        from: "city-a".into(),
        to: "cl".into(),
        ..path
    };
    let p = db.record_event(&path, t + 5).unwrap().unwrap();
    db.link_events(a, p).unwrap();
    let other = db.record_event(&shift("city-b", t), t).unwrap();
    assert!(other.is_some());
    let reader = c.reader().unwrap();
    let got = reader.events_since(t, Some(("cl", "city-a"))).unwrap();
    assert_eq!(got.len(), 2, "either orientation of the route");
    assert_eq!((got[0].id, got[0].linked), (a, Some(p)));
    assert_eq!((got[1].id, got[1].linked), (p, Some(a)));
    assert_eq!(got[0].detected_ms, t + 5);
    assert_eq!(got[0].direction, "forward");
    assert_eq!(got[1].detail, path.detail);
    assert_eq!(reader.events_since(0, None).unwrap().len(), 3);
    assert!(
        reader
            .events_since(t + 1, Some(("cl", "city-a")))
            .unwrap()
            .len()
            == 1
    );
}

fn a_store_from_before_rollups_is_rolled_up_once(b: &dyn Backend) {
    let now = now_ms();
    let old: Vec<_> = (0..5u64)
        .map(|i| {
            (
                "cl-1",
                i + 1,
                "a-1",
                now - 10 * MINUTE + i * 30_000,
                varied(i),
            )
        })
        .collect();
    let Some(c) = b.before_rollups(&old) else {
        return;
    };
    let mut db = c.writer().unwrap();
    assert!(db.backfill_pending().unwrap());
    let config = config();
    let ends: HashMap<String, String> = mesh_controller::server::store::resolver(&config);
    let stats = db
        .backfill_rollups(config.history, &|p| ends.get(p).cloned())
        .unwrap();
    assert_eq!((stats.raw, stats.unresolved), (5, 0));
    assert!(!db.backfill_pending().unwrap());
    let again = db
        .backfill_rollups(config.history, &|p| ends.get(p).cloned())
        .unwrap();
    assert_eq!(again.raw, 0, "once");

    let reader = c.reader().unwrap();
    let mut expect = Rollup::default();
    for (.., w) in &old {
        expect.merge(&Rollup::of_window(w));
    }
    let by_dir = read_directions(
        reader.as_ref(),
        &config,
        now - HOUR,
        now + MINUTE,
        now,
        Directions::All,
    )
    .unwrap();
    assert_eq!(by_dir.values().next(), Some(&expect));
    // Old rows keep their sequence: a replay is a duplicate.
    let ack = db
        .ingest("cl-1", &[new_window(3, old[2].3, &old[2].4)], now)
        .unwrap();
    assert_eq!((ack.duplicate, ack.next_seq), (vec![3], 6));
}

fn a_lease_has_one_holder_until_it_expires(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let mut other = c.writer().unwrap();
    let t = 1_000_000;
    assert!(db.lease("monitor", "a", t, 3_000).unwrap());
    // Held: another holder is refused, the holder renews.
    assert!(!other.lease("monitor", "b", t + 1_000, 3_000).unwrap());
    assert!(db.lease("monitor", "a", t + 2_000, 3_000).unwrap());
    assert!(!other.lease("monitor", "b", t + 4_999, 3_000).unwrap());
    // Another duty is apart.
    assert!(other.lease("retention", "b", t + 4_999, 3_000).unwrap());
    // Expired (not renewed for its ttl): taken over, and the old holder is
    // refused from then on.
    assert!(other.lease("monitor", "b", t + 5_000, 3_000).unwrap());
    assert!(!db.lease("monitor", "a", t + 5_001, 3_000).unwrap());
    // Released: free at once.
    other.release("monitor", "b").unwrap();
    db.release("retention", "a").unwrap(); // not a's: kept
    assert!(db.lease("monitor", "a", t + 5_002, 3_000).unwrap());
    assert!(!db.lease("retention", "a", t + 5_002, 3_000).unwrap());
}

fn a_bandwidth_slot_is_given_once(b: &dyn Backend) {
    let (c, mut db) = writer(b);
    let mut other = c.writer().unwrap();
    let now = now_ms();
    assert!(db.claim_bw_slot("cl-1", 100, 90, now).unwrap());
    // Whichever controller is asked again in that slot: not again.
    assert!(!db.claim_bw_slot("cl-1", 100, 90, now).unwrap());
    assert!(!other.claim_bw_slot("cl-1", 100, 90, now).unwrap());
    // Another probe, and the next slot, are given.
    assert!(other.claim_bw_slot("a-1", 100, 90, now).unwrap());
    assert!(other.claim_bw_slot("cl-1", 101, 91, now).unwrap());
    // Forgotten slots are free again (only far in the past).
    assert!(db.claim_bw_slot("cl-1", 120, 101, now).unwrap());
    assert!(db.claim_bw_slot("cl-1", 100, 0, now).unwrap());
}

/// Several controllers on one database (only backends made for that: an
/// SQLite file has one writer): two writers store overlapping batches from
/// two threads at once, in different groupings and orders; every window is
/// accepted by exactly one of them, counted once and rolled up once.
fn replicas_store_and_roll_up_each_window_once(b: &dyn Backend) {
    let (c, mut first) = writer(b);
    let mut second = c.writer().unwrap();
    let now = now_ms();
    let all = windows(600, 5 * HOUR);
    let mut other = all.clone();
    for w in &mut other {
        w.target = "cl-1".into();
        w.pair = Some(("city-a".into(), "cl".into()));
    }
    let run = |db: &mut Box<dyn StoreWrite>, chunk: usize, reverse: bool| {
        let mut chunks: Vec<(&str, &[NewWindow])> = all
            .chunks(chunk)
            .map(|c| ("cl-1", c))
            .chain(other.chunks(chunk + 3).map(|c| ("a-1", c)))
            .collect();
        if reverse {
            chunks.reverse();
        }
        let mut accepted: Vec<(String, u64)> = Vec::new();
        for group in chunks.chunks(4) {
            for (ack, (probe, _)) in db.ingest_many(group, now).unwrap().into_iter().zip(group) {
                let ack = ack.unwrap();
                accepted.extend(ack.accepted.iter().map(|s| (probe.to_string(), *s)));
            }
        }
        accepted
    };
    let (a, bb) = std::thread::scope(|s| {
        let one = s.spawn(|| run(&mut first, 10, false));
        let two = s.spawn(|| run(&mut second, 7, true));
        (one.join().unwrap(), two.join().unwrap())
    });
    let mut both: Vec<(String, u64)> = a.iter().chain(&bb).cloned().collect();
    both.sort();
    let n = both.len();
    both.dedup();
    assert_eq!(n, both.len(), "a window accepted by both writers");
    assert_eq!(n, 1200, "every window accepted by one writer");

    let reader = c.reader().unwrap();
    assert_eq!(reader.totals().unwrap(), (1200, 0));
    let rows = reader.probe_rows().unwrap();
    assert_eq!((rows["cl-1"].windows, rows["cl-1"].last_seq), (600, 600));
    assert_eq!((rows["a-1"].windows, rows["a-1"].last_seq), (600, 600));
    assert_eq!(reader.next_seq("a-1").unwrap(), 601);
    // Rollups: each window once, at every level, equal to merging them.
    let mut expect = Rollup::default();
    for w in &all {
        expect.merge(w.rollup.as_ref().unwrap());
    }
    for level in [DEFAULT_FINE_MS, 600_000, HOUR] {
        let mut per_dir: HashMap<(String, String), Rollup> = HashMap::new();
        let spans = [Span {
            level_ms: level,
            from: 0,
            until: u64::MAX / 2,
        }];
        reader
            .for_each_rollup(&spans, Directions::All, &mut |row| {
                per_dir
                    .entry((row.sender.to_string(), row.reflector.to_string()))
                    .or_default()
                    .merge(&row.rollup()?);
                Ok(())
            })
            .unwrap();
        assert_eq!(per_dir.len(), 2, "level {level}");
        for (dir, got) in &per_dir {
            assert_eq!(got.windows, 600, "level {level} {dir:?}");
            assert_eq!(got, &expect, "level {level} {dir:?}");
        }
    }
    let mut seen = reader.directions_seen().unwrap();
    seen.sort_by(|x, y| x.sender.cmp(&y.sender));
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|d| d.first_ms == all[0].start_ms && d.last_ms == all[599].start_ms));
}

/// `--db` picks the backend: a `postgres://` URL that cannot be reached
/// fails in one line (exit 2), without echoing its password.
#[test]
fn an_unreachable_postgres_url_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        config_with(&[("cl-1", "cl"), ("a-1", "city-a")], ""),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // Port 1 on loopback: nothing listens, the connection is refused.
    let url = "postgres://hubmesh:s3cret@127.0.0.1:1/hubmesh";
    for args in [
        vec![
            "serve",
            "--db",
            url,
            "--config",
            config,
            "--listen",
            "127.0.0.1:0",
        ],
        vec!["report", "--db", url, "--config", config],
        vec![
            "series", "--db", url, "--config", config, "--from", "cl", "--to", "city-a",
        ],
        vec!["suggest", "--db", url, "--config", config],
    ] {
        let started = std::time::Instant::now();
        let out = serve_common::run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("database unavailable"), "{args:?}: {err}");
        assert!(err.contains("refused"), "{args:?}: {err}");
        assert!(!err.contains("s3cret"), "{args:?}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?}: {:?}",
            started.elapsed()
        );
    }
}

//! The store's traits over SQLite connections: [`Reader`] and [`Db`] read
//! alike, [`Db`] alone writes.

use super::{alerts, events, results, rollups, Db, Reader};
use crate::history::{Levels, Rollup, Span};
use crate::server::config::Retention;
use crate::server::store::alerts::{Change, Delivery, Episode, StoredState};
use crate::server::store::events::{Event, NewEvent};
use crate::server::store::rollups::{DirectionSeen, Directions, RollupRow};
use crate::server::store::{
    decode, to_i64, to_u64, BackfillStats, Medians, Merged, NewWindow, ProbeRow, RetentionStats,
    StoreError, StoreRead, StoreWrite, StoredResult, WindowMedians,
};
use protocol::api::{Hello, ResultUpload, UploadAck};
use protocol::window::Window;
use rusqlite::{params, Connection};
use std::collections::HashMap;

/// Each raw window and retained row of one session in `[since, until)`.
fn for_each_session_rollup(
    conn: &Connection,
    probe: &str,
    target: &str,
    since: u64,
    until: u64,
    f: &mut dyn FnMut(u64, u64, Rollup),
) -> Result<(), StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT bucket_ms, bucket_len_ms, window, windows FROM coarse_windows
         WHERE probe = ?1 AND target = ?2 AND bucket_ms >= ?3 AND bucket_ms < ?4",
    )?;
    let mut rows = st.query(params![probe, target, to_i64(since), to_i64(until)])?;
    while let Some(r) = rows.next()? {
        let mut rollup = Rollup::of_window(&decode(&r.get::<_, String>(2)?)?);
        rollup.windows = to_u64(r.get(3)?);
        f(to_u64(r.get(0)?), to_u64(r.get(1)?), rollup);
    }
    let mut st = conn.prepare_cached(
        "SELECT start_ms, window FROM windows
         WHERE probe = ?1 AND target = ?2 AND start_ms >= ?3 AND start_ms < ?4",
    )?;
    let mut rows = st.query(params![probe, target, to_i64(since), to_i64(until)])?;
    while let Some(r) = rows.next()? {
        let w = decode(&r.get::<_, String>(1)?)?;
        f(to_u64(r.get(0)?), 0, Rollup::of_window(&w));
    }
    Ok(())
}

/// The medians of raw windows with endpoints from `since` on.
fn for_each_window_medians(
    conn: &Connection,
    since: u64,
    f: &mut dyn FnMut(WindowMedians<'_>),
) -> Result<(), StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT sender, reflector, start_ms, forward_p50_us, reverse_p50_us, rtt_p50_us
         FROM windows WHERE start_ms >= ?1 AND sender IS NOT NULL",
    )?;
    let mut rows = st.query(params![to_i64(since)])?;
    while let Some(r) = rows.next()? {
        let us = |v: Option<i64>| v.map(to_u64);
        let (sender, reflector): (String, String) = (r.get(0)?, r.get(1)?);
        f(WindowMedians {
            sender: &sender,
            reflector: &reflector,
            start_ms: to_u64(r.get(2)?),
            medians: Medians {
                forward_us: us(r.get(3)?),
                reverse_us: us(r.get(4)?),
                rtt_us: us(r.get(5)?),
            },
        });
    }
    Ok(())
}

/// `StoreRead` for a type that holds a connection.
macro_rules! read_over {
    ($t:ty) => {
        impl StoreRead for $t {
            fn ping(&self) -> Result<(), StoreError> {
                self.conn()
                    .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                Ok(())
            }
            fn next_seq(&self, probe: &str) -> Result<u64, StoreError> {
                super::next_seq(self.conn(), probe)
            }
            fn next_result_seq(&self, probe: &str) -> Result<u64, StoreError> {
                results::next_result_seq(self.conn(), probe)
            }
            fn probe_rows(&self) -> Result<HashMap<String, ProbeRow>, StoreError> {
                super::probe_rows(self.conn())
            }
            fn totals(&self) -> Result<(u64, u64), StoreError> {
                super::totals(self.conn())
            }
            fn merged_since(
                &self,
                since_ms: u64,
            ) -> Result<HashMap<(String, String), Merged>, StoreError> {
                super::merged_since(self.conn(), since_ms)
            }
            fn sessions_since(&self, since_ms: u64) -> Result<Vec<(String, String)>, StoreError> {
                super::sessions_since(self.conn(), since_ms)
            }
            fn for_each_window(
                &self,
                probe: &str,
                target: &str,
                since_ms: u64,
                f: &mut dyn FnMut(&Window, u64),
            ) -> Result<(), StoreError> {
                super::for_each_window(self.conn(), probe, target, since_ms, f)
            }
            fn for_each_session_rollup(
                &self,
                probe: &str,
                target: &str,
                since_ms: u64,
                until_ms: u64,
                f: &mut dyn FnMut(u64, u64, Rollup),
            ) -> Result<(), StoreError> {
                for_each_session_rollup(self.conn(), probe, target, since_ms, until_ms, f)
            }
            fn for_each_window_medians(
                &self,
                since_ms: u64,
                f: &mut dyn FnMut(WindowMedians<'_>),
            ) -> Result<(), StoreError> {
                for_each_window_medians(self.conn(), since_ms, f)
            }
            fn for_each_rollup(
                &self,
                spans: &[Span],
                which: Directions<'_>,
                f: &mut dyn FnMut(RollupRow<'_>) -> Result<(), StoreError>,
            ) -> Result<(), StoreError> {
                rollups::for_each(self.conn(), spans, which, f)
            }
            fn rollups_mid_from(&self) -> Result<u64, StoreError> {
                rollups::mid_from(self.conn())
            }
            fn directions_seen(&self) -> Result<Vec<DirectionSeen>, StoreError> {
                rollups::directions_seen(self.conn())
            }
            fn results_since(
                &self,
                kind: &str,
                since_ms: u64,
            ) -> Result<Vec<StoredResult>, StoreError> {
                results::results_since(self.conn(), kind, since_ms)
            }
            fn alert_states(&self) -> Result<HashMap<String, StoredState>, StoreError> {
                alerts::states(self.conn())
            }
            fn episodes(
                &self,
                firing: bool,
                resolved_since: Option<u64>,
            ) -> Result<Vec<Episode>, StoreError> {
                alerts::episodes(self.conn(), firing, resolved_since)
            }
            fn next_deliveries(&self) -> Result<Vec<Delivery>, StoreError> {
                alerts::next_deliveries(self.conn())
            }
            fn delivery_counts(&self) -> Result<HashMap<String, (u64, u64, u64)>, StoreError> {
                alerts::delivery_counts(self.conn())
            }
            fn events_since(
                &self,
                since_ms: u64,
                route: Option<(&str, &str)>,
            ) -> Result<Vec<Event>, StoreError> {
                events::events_since(self.conn(), since_ms, route)
            }
        }
    };
}

read_over!(Reader);
read_over!(Db);

impl StoreWrite for Db {
    fn set_levels(&mut self, levels: Levels) {
        Db::set_levels(self, levels)
    }
    fn hello(&mut self, hello: &Hello, now_ms: u64) -> Result<(), StoreError> {
        Db::hello(self, hello, now_ms)
    }
    fn ingest(
        &mut self,
        probe: &str,
        windows: &[NewWindow],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError> {
        Db::ingest(self, probe, windows, now_ms)
    }
    fn ingest_many(
        &mut self,
        batches: &[(&str, &[NewWindow])],
        now_ms: u64,
    ) -> Result<Vec<Result<UploadAck, StoreError>>, StoreError> {
        Db::ingest_many(self, batches, now_ms)
    }
    fn ingest_results(
        &mut self,
        probe: &str,
        results: &[ResultUpload],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError> {
        Db::ingest_results(self, probe, results, now_ms)
    }
    fn retain(&mut self, now_ms: u64, retention: &Retention) -> Result<RetentionStats, StoreError> {
        Db::retain(self, now_ms, retention)
    }
    fn backfill_pending(&self) -> Result<bool, StoreError> {
        Db::backfill_pending(self)
    }
    fn backfill_rollups(
        &mut self,
        levels: Levels,
        endpoint: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BackfillStats, StoreError> {
        Db::backfill_rollups(self, levels, endpoint)
    }
    fn apply_alert_changes(&mut self, changes: &[Change], now_ms: u64) -> Result<(), StoreError> {
        Db::apply_alert_changes(self, changes, now_ms)
    }
    fn delivered(&mut self, id: i64, now_ms: u64) -> Result<(), StoreError> {
        Db::delivered(self, id, now_ms)
    }
    fn delivery_failed(
        &mut self,
        id: i64,
        now_ms: u64,
        error: &str,
        next_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        Db::delivery_failed(self, id, now_ms, error, next_ms)
    }
    fn record_event(&mut self, e: &NewEvent, now_ms: u64) -> Result<Option<i64>, StoreError> {
        Db::record_event(self, e, now_ms)
    }
    fn link_events(&mut self, a: i64, b: i64) -> Result<(), StoreError> {
        Db::link_events(self, a, b)
    }
    fn lease(
        &mut self,
        duty: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        Db::lease(self, duty, holder, now_ms, ttl_ms)
    }
    fn release(&mut self, duty: &str, holder: &str) -> Result<(), StoreError> {
        Db::release(self, duty, holder)
    }
    fn claim_bw_slot(
        &mut self,
        probe: &str,
        slot: u64,
        forget_before_slot: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        Db::claim_bw_slot(self, probe, slot, forget_before_slot, now_ms)
    }
}

//! The store's traits over PostgreSQL connections: [`Reader`] and [`Db`]
//! read alike, [`Db`] alone writes.

use super::link::{Link, Stmts};
use super::{alerts, events, ingest, leases, reads, results, retention, rollups, Db, Reader};
use crate::history::{Levels, Rollup, Span};
use crate::server::config::Retention;
use crate::server::store::alerts::{Change, Delivery, Episode, StoredState};
use crate::server::store::clock_detail;
use crate::server::store::events::{Event, NewEvent};
use crate::server::store::rollups::{DirectionSeen, Directions, RollupRow};
use crate::server::store::{
    to_i64, BackfillStats, Merged, NewWindow, ProbeRow, RetentionStats, StoreError, StoreRead,
    StoreWrite, StoredResult, WindowMedians,
};
use postgres::Client;
use protocol::api::{Hello, ResultUpload, UploadAck};
use protocol::window::Window;
use std::cell::RefCell;
use std::collections::HashMap;

/// Runs `f` on a connection shared by `&self` methods.
fn with<T>(
    cell: &RefCell<Link>,
    f: impl FnOnce(&mut Client, &mut Stmts) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    cell.try_borrow_mut()
        .map_err(|_| {
            StoreError::Backend(
                "the connection is in use (a read re-entered from its callback)".into(),
            )
        })?
        .run(f)
}

/// `StoreRead` for a type that holds a [`Link`].
macro_rules! read_over {
    ($t:ty) => {
        impl StoreRead for $t {
            fn ping(&self) -> Result<(), StoreError> {
                with(self.link(), |c, _| {
                    c.simple_query("SELECT 1")?;
                    Ok(())
                })
            }
            fn next_seq(&self, probe: &str) -> Result<u64, StoreError> {
                with(self.link(), |c, s| reads::next_seq(c, s, probe))
            }
            fn next_result_seq(&self, probe: &str) -> Result<u64, StoreError> {
                with(self.link(), |c, s| results::next_result_seq(c, s, probe))
            }
            fn probe_rows(&self) -> Result<HashMap<String, ProbeRow>, StoreError> {
                with(self.link(), reads::probe_rows)
            }
            fn totals(&self) -> Result<(u64, u64), StoreError> {
                with(self.link(), reads::totals)
            }
            fn merged_since(
                &self,
                since_ms: u64,
            ) -> Result<HashMap<(String, String), Merged>, StoreError> {
                with(self.link(), |c, s| reads::merged_since(c, s, since_ms))
            }
            fn sessions_since(&self, since_ms: u64) -> Result<Vec<(String, String)>, StoreError> {
                with(self.link(), |c, s| reads::sessions_since(c, s, since_ms))
            }
            fn for_each_window(
                &self,
                probe: &str,
                target: &str,
                since_ms: u64,
                f: &mut dyn FnMut(&Window, u64),
            ) -> Result<(), StoreError> {
                with(self.link(), |c, s| {
                    reads::for_each_window(c, s, probe, target, since_ms, f)
                })
            }
            fn for_each_session_rollup(
                &self,
                probe: &str,
                target: &str,
                since_ms: u64,
                until_ms: u64,
                f: &mut dyn FnMut(u64, u64, Rollup),
            ) -> Result<(), StoreError> {
                with(self.link(), |c, s| {
                    reads::for_each_session_rollup(c, s, probe, target, since_ms, until_ms, f)
                })
            }
            fn for_each_window_medians(
                &self,
                since_ms: u64,
                f: &mut dyn FnMut(WindowMedians<'_>),
            ) -> Result<(), StoreError> {
                with(self.link(), |c, s| {
                    reads::for_each_window_medians(c, s, since_ms, f)
                })
            }
            fn for_each_rollup(
                &self,
                spans: &[Span],
                which: Directions<'_>,
                f: &mut dyn FnMut(RollupRow<'_>) -> Result<(), StoreError>,
            ) -> Result<(), StoreError> {
                with(self.link(), |c, s| rollups::for_each(c, s, spans, which, f))
            }
            fn rollups_mid_from(&self) -> Result<u64, StoreError> {
                // Mid rows were written from this backend's first day.
                Ok(0)
            }
            fn directions_seen(&self) -> Result<Vec<DirectionSeen>, StoreError> {
                with(self.link(), rollups::directions_seen)
            }
            fn results_since(
                &self,
                kind: &str,
                since_ms: u64,
            ) -> Result<Vec<StoredResult>, StoreError> {
                with(self.link(), |c, s| {
                    results::results_since(c, s, kind, since_ms)
                })
            }
            fn alert_states(&self) -> Result<HashMap<String, StoredState>, StoreError> {
                with(self.link(), alerts::states)
            }
            fn episodes(
                &self,
                firing: bool,
                resolved_since: Option<u64>,
            ) -> Result<Vec<Episode>, StoreError> {
                with(self.link(), |c, s| {
                    alerts::episodes(c, s, firing, resolved_since)
                })
            }
            fn next_deliveries(&self) -> Result<Vec<Delivery>, StoreError> {
                with(self.link(), alerts::next_deliveries)
            }
            fn delivery_counts(&self) -> Result<HashMap<String, (u64, u64, u64)>, StoreError> {
                with(self.link(), alerts::delivery_counts)
            }
            fn events_since(
                &self,
                since_ms: u64,
                route: Option<(&str, &str)>,
            ) -> Result<Vec<Event>, StoreError> {
                with(self.link(), |c, s| events::since(c, s, since_ms, route))
            }
        }
    };
}

read_over!(Reader);
read_over!(Db);

impl StoreWrite for Db {
    fn set_levels(&mut self, levels: Levels) {
        self.levels = levels;
    }
    fn hello(&mut self, hello: &Hello, now_ms: u64) -> Result<(), StoreError> {
        self.link.get_mut().run(|c, s| {
            let st = s.get(
                c,
                "INSERT INTO probes (id, version, boot_id, clock_synchronized, clock_error_us, last_hello_ms, clock_detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     boot_id = excluded.boot_id, clock_synchronized = excluded.clock_synchronized,
                     clock_error_us = excluded.clock_error_us, last_hello_ms = excluded.last_hello_ms,
                     clock_detail = excluded.clock_detail",
            )?;
            let detail = clock_detail::encode(&hello.clock);
            c.execute(
                &st,
                &[
                    &hello.probe,
                    &hello.version,
                    &hello.boot_id,
                    &hello.clock.synchronized,
                    &to_i64(hello.clock.error_us),
                    &to_i64(now_ms),
                    &detail,
                ],
            )?;
            Ok(())
        })
    }
    fn ingest(
        &mut self,
        probe: &str,
        windows: &[NewWindow],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError> {
        let mut out = self.ingest_many(&[(probe, windows)], now_ms)?;
        out.pop().unwrap_or(Err(StoreError::Closed))
    }
    fn ingest_many(
        &mut self,
        batches: &[(&str, &[NewWindow])],
        now_ms: u64,
    ) -> Result<Vec<Result<UploadAck, StoreError>>, StoreError> {
        ingest::ingest_many(
            self.link.get_mut(),
            &mut self.partitions,
            self.levels,
            batches,
            now_ms,
        )
    }
    fn ingest_results(
        &mut self,
        probe: &str,
        results: &[ResultUpload],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError> {
        self.link
            .get_mut()
            .run(|c, s| results::ingest_results(c, s, probe, results, now_ms))
    }
    fn retain(&mut self, now_ms: u64, retention: &Retention) -> Result<RetentionStats, StoreError> {
        let known = &mut self.partitions;
        self.link
            .get_mut()
            .run(|c, _| retention::retain(c, known, now_ms, retention))
    }
    fn backfill_pending(&self) -> Result<bool, StoreError> {
        // No PostgreSQL store predates rollups.
        Ok(false)
    }
    fn backfill_rollups(
        &mut self,
        _levels: Levels,
        _endpoint: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BackfillStats, StoreError> {
        Ok(BackfillStats::default())
    }
    fn apply_alert_changes(&mut self, changes: &[Change], now_ms: u64) -> Result<(), StoreError> {
        self.link
            .get_mut()
            .run(|c, s| alerts::apply(c, s, changes, now_ms))
    }
    fn delivered(&mut self, id: i64, now_ms: u64) -> Result<(), StoreError> {
        self.link
            .get_mut()
            .run(|c, _| alerts::delivered(c, id, now_ms))
    }
    fn delivery_failed(
        &mut self,
        id: i64,
        now_ms: u64,
        error: &str,
        next_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.link
            .get_mut()
            .run(|c, _| alerts::failed(c, id, now_ms, error, next_ms))
    }
    fn record_event(&mut self, e: &NewEvent, now_ms: u64) -> Result<Option<i64>, StoreError> {
        self.link
            .get_mut()
            .run(|c, s| events::record(c, s, e, now_ms))
    }
    fn link_events(&mut self, a: i64, b: i64) -> Result<(), StoreError> {
        self.link.get_mut().run(|c, s| events::link(c, s, a, b))
    }
    fn lease(
        &mut self,
        duty: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        self.link
            .get_mut()
            .run(|c, _| leases::lease(c, duty, holder, now_ms, ttl_ms))
    }
    fn release(&mut self, duty: &str, holder: &str) -> Result<(), StoreError> {
        self.link
            .get_mut()
            .run(|c, _| leases::release(c, duty, holder))
    }
    fn claim_bw_slot(
        &mut self,
        probe: &str,
        slot: u64,
        forget_before_slot: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.link
            .get_mut()
            .run(|c, _| leases::claim_bw_slot(c, probe, slot, forget_before_slot, now_ms))
    }
}

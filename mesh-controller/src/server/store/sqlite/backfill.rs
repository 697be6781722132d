//! The one-off rollup backfill of a database from before rollups (schema 5):
//! its raw and coarse windows are rolled up, and its raw windows get their
//! endpoints and medians, under the configuration the controller starts with.
//! It runs once, before the controller serves or runs retention (so no window
//! is rolled up twice), and clears the `rollups_backfill` mark when done.

use super::rollups;
use super::{decode, to_i64, to_u64, Db, Medians, StoreError};
use crate::history::{Levels, Rollup};
use crate::server::store::rollups::RollupInput;
use crate::server::store::BackfillStats;
use rusqlite::{params, OptionalExtension};

const MARK: &str = "rollups_backfill";

impl Db {
    /// Whether a backfill is pending.
    pub fn backfill_pending(&self) -> Result<bool, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [MARK], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(v.is_some())
    }

    /// Rolls up every stored window, resolving probes to endpoints with
    /// `endpoint` (`site` or `site@network`), in one transaction.
    pub fn backfill_rollups(
        &mut self,
        levels: Levels,
        endpoint: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BackfillStats, StoreError> {
        let mut stats = BackfillStats::default();
        if !self.backfill_pending()? {
            return Ok(stats);
        }
        let boots = self.boots.clone();
        let same_boot =
            |a: &str, b: &str| matches!((boots.get(a), boots.get(b)), (Some(x), Some(y)) if x == y);
        let pair = |probe: &str, target: &str| -> Option<(String, String)> {
            let (a, b) = (endpoint(probe)?, endpoint(target)?);
            (a != b).then_some((a, b))
        };
        let tx = self.conn.transaction()?;
        let mut inputs = Vec::new();
        let mut updates: Vec<(String, i64, String, String, Medians)> = Vec::new();
        {
            let mut st = tx.prepare("SELECT probe, seq, target, start_ms, window FROM windows")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let (probe, seq, target): (String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let Some((sender, reflector)) = pair(&probe, &target) else {
                    stats.unresolved += 1;
                    continue;
                };
                let w = decode(&r.get::<_, String>(4)?)?;
                let rollup = Rollup::of_window(&w);
                inputs.push(RollupInput {
                    sender: sender.clone(),
                    reflector: reflector.clone(),
                    start_ms: to_u64(r.get(3)?),
                    rollup: if same_boot(&probe, &target) {
                        rollup.same_clock()
                    } else {
                        rollup
                    },
                });
                updates.push((probe, seq, sender, reflector, Medians::of(&w)));
                stats.raw += 1;
            }
        }
        {
            let mut st = tx.prepare(
                "UPDATE windows SET sender = ?3, reflector = ?4, forward_p50_us = ?5,
                     reverse_p50_us = ?6, rtt_p50_us = ?7 WHERE probe = ?1 AND seq = ?2",
            )?;
            for (probe, seq, sender, reflector, m) in &updates {
                st.execute(params![
                    probe,
                    seq,
                    sender,
                    reflector,
                    m.forward_us.map(to_i64),
                    m.reverse_us.map(to_i64),
                    m.rtt_us.map(to_i64)
                ])?;
            }
        }
        {
            // Coarse rows keep each session's windows merged per bucket (five
            // minutes by default): each lands in the fine bucket of its start.
            let mut st =
                tx.prepare("SELECT probe, target, bucket_ms, window, windows FROM coarse_windows")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let (probe, target): (String, String) = (r.get(0)?, r.get(1)?);
                let Some((sender, reflector)) = pair(&probe, &target) else {
                    stats.unresolved += to_u64(r.get(4)?);
                    continue;
                };
                let mut rollup = Rollup::of_window(&decode(&r.get::<_, String>(3)?)?);
                rollup.windows = to_u64(r.get(4)?);
                inputs.push(RollupInput {
                    sender,
                    reflector,
                    start_ms: to_u64(r.get(2)?),
                    rollup: if same_boot(&probe, &target) {
                        rollup.same_clock()
                    } else {
                        rollup
                    },
                });
                stats.coarse_rows += 1;
            }
        }
        rollups::add(&tx, levels, &inputs)?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [MARK])?;
        tx.commit()?;
        Ok(stats)
    }
}

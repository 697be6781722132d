//! Duties in the store: leases (one holder at a time per duty, taken over
//! when it expires) and the bandwidth slots handed out. SQLite has one
//! controller per file, so a lease is always its own; the table keeps the
//! behaviour the same on every backend (and a restart within the lease
//! takes its own lease back, since the holder names the host and process).

use super::{to_i64, Db, StoreError};
use rusqlite::params;

impl Db {
    pub fn lease(
        &mut self,
        duty: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO leases (duty, holder, until_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (duty) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE leases.holder = excluded.holder OR leases.until_ms <= ?4",
            params![
                duty,
                holder,
                to_i64(now_ms.saturating_add(ttl_ms)),
                to_i64(now_ms)
            ],
        )?;
        Ok(n == 1)
    }

    pub fn release(&mut self, duty: &str, holder: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM leases WHERE duty = ?1 AND holder = ?2",
            params![duty, holder],
        )?;
        Ok(())
    }

    pub fn claim_bw_slot(
        &mut self,
        probe: &str,
        slot: u64,
        forget_before_slot: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM bw_slots WHERE probe = ?1 AND slot < ?2",
            params![probe, to_i64(forget_before_slot)],
        )?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO bw_slots (probe, slot, given_ms) VALUES (?1, ?2, ?3)",
            params![probe, to_i64(slot), to_i64(now_ms)],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }
}

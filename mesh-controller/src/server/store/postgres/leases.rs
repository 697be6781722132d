//! Duties: leases (one holder at a time per duty, taken over when expired)
//! and the bandwidth slots handed out. With several controllers on one
//! database these are what keeps a duty on one of them: a lease is taken
//! or renewed by one atomic upsert whose `WHERE` lets it through only when
//! the lease expired or is already the holder's.

use crate::server::store::{to_i64, StoreError};
use postgres::Client;

pub fn lease(
    c: &mut Client,
    duty: &str,
    holder: &str,
    now_ms: u64,
    ttl_ms: u64,
) -> Result<bool, StoreError> {
    let row = c.query_opt(
        "INSERT INTO leases (duty, holder, until_ms) VALUES ($1, $2, $3)
         ON CONFLICT (duty) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
         WHERE leases.holder = excluded.holder OR leases.until_ms <= $4
         RETURNING holder",
        &[
            &duty,
            &holder,
            &to_i64(now_ms.saturating_add(ttl_ms)),
            &to_i64(now_ms),
        ],
    )?;
    Ok(row.is_some())
}

pub fn release(c: &mut Client, duty: &str, holder: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM leases WHERE duty = $1 AND holder = $2",
        &[&duty, &holder],
    )?;
    Ok(())
}

pub fn claim_bw_slot(
    c: &mut Client,
    probe: &str,
    slot: u64,
    forget_before_slot: u64,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let mut tx = c.transaction()?;
    tx.execute(
        "DELETE FROM bw_slots WHERE probe = $1 AND slot < $2",
        &[&probe, &to_i64(forget_before_slot)],
    )?;
    let n = tx.execute(
        "INSERT INTO bw_slots (probe, slot, given_ms) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        &[&probe, &to_i64(slot), &to_i64(now_ms)],
    )?;
    tx.commit()?;
    Ok(n == 1)
}

//! Daily partitions of `windows` (RANGE on start_ms, one per UTC day, named
//! `windows_d<day number>`): made before an ingest needs them, for the days
//! a batch touches and the day after (so midnight does not wait on DDL),
//! in a short transaction of their own under an advisory lock (two
//! controllers may make the same day at once); remembered per writer so
//! the common case costs nothing. Retention drops a day once it is merged.

use super::lock;
use crate::server::store::StoreError;
use postgres::Client;
use std::collections::BTreeSet;

/// One day in ms.
pub const DAY_MS: i64 = 86_400_000;

/// Days this writer knows to have a partition.
#[derive(Debug, Default)]
pub struct Known(BTreeSet<i64>);

impl Known {
    /// Forgets everything (another controller may have dropped days).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Forgets one day (dropped here).
    pub fn forget(&mut self, day: i64) {
        self.0.remove(&day);
    }
}

/// The day a start time falls in.
pub fn day_of(start_ms: i64) -> i64 {
    start_ms.div_euclid(DAY_MS)
}

/// The partition table of a day.
pub fn name(day: i64) -> String {
    if day < 0 {
        format!("windows_dm{}", -day)
    } else {
        format!("windows_d{day}")
    }
}

/// The day a partition's name stands for.
pub fn day_of_name(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("windows_d")?;
    match rest.strip_prefix('m') {
        Some(neg) => neg.parse::<i64>().ok().map(|d| -d),
        None => rest.parse().ok(),
    }
}

/// Makes sure the partitions of `starts` (and each next day) exist.
pub fn ensure(
    c: &mut Client,
    known: &mut Known,
    starts: impl IntoIterator<Item = i64>,
) -> Result<(), StoreError> {
    let mut missing = BTreeSet::new();
    for s in starts {
        let d = day_of(s);
        for day in [d, d + 1] {
            if !known.0.contains(&day) {
                missing.insert(day);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut sql = format!("SELECT pg_advisory_xact_lock({});", lock::PARTITIONS);
    for day in &missing {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF windows FOR VALUES FROM ({}) TO ({});",
            name(*day),
            day * DAY_MS,
            (day + 1) * DAY_MS
        ));
    }
    let mut tx = c.transaction()?;
    tx.batch_execute(&sql)?;
    tx.commit()?;
    known.0.extend(missing);
    Ok(())
}

/// Every day with a partition.
pub fn existing(c: &mut impl postgres::GenericClient) -> Result<Vec<i64>, StoreError> {
    let rows = c.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'windows'::regclass",
        &[],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| day_of_name(r.get::<_, &str>(0)))
        .collect())
}

/// Whether an error says a row had no partition (one was dropped under us).
pub fn is_missing(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.starts_with("23514") && m.contains("no partition"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_days_round_trip() {
        for day in [-3, 0, 20_000] {
            assert_eq!(day_of_name(&name(day)), Some(day));
        }
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of_name("windows_dx"), None);
    }
}

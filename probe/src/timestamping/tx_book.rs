//! Matching TX timestamps from the error queue to the sends they belong to.
//!
//! Each timestamped send gets a key (`SOF_TIMESTAMPING_OPT_ID`) that comes back
//! in `ee_data`. Entries can come back out of order, late, or never (a packet
//! dropped before the driver), so arrivals are kept in a bounded map and looked
//! up by key rather than consumed in order.
//!
//! Keys are chosen by us when the kernel takes `SCM_TS_OPT_ID` on `sendmsg`
//! (Linux 6.13+). Otherwise the kernel counts timestamped datagrams from 0 and
//! we mirror its counter; a failed send may or may not have used a key, so after
//! one the socket restarts the kernel counter ([`TxBook::restart_counter`]) and
//! entries from before the restart are told apart by time: a software TX
//! timestamp is never earlier than the clock read just before its `sendmsg`.

use std::collections::{HashMap, VecDeque};

use super::{Timestamp, TsSource};

/// Stamps kept waiting for a lookup; older ones are dropped first.
const CAPACITY: usize = 4096;

/// First key passed with `SCM_TS_OPT_ID` ("ST" in the high half).
const FIRST_EXPLICIT_KEY: u32 = 0x5354_0000;

/// How keys are assigned to sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyMode {
    /// Not yet known whether the kernel takes `SCM_TS_OPT_ID`.
    Probe,
    /// We pass each key with `SCM_TS_OPT_ID`.
    Explicit,
    /// The kernel counts; we mirror the counter.
    Counter,
}

#[derive(Debug)]
pub(super) struct TxBook {
    pub(super) mode: KeyMode,
    next_key: u32,
    stamps: HashMap<u32, (Timestamp, TsSource)>,
    order: VecDeque<u32>,
}

impl TxBook {
    pub(super) fn new(mode: KeyMode) -> TxBook {
        // Explicit keys start away from 0 so that a kernel silently counting on
        // its own (keys 0, 1, ...) cannot pass for one that takes our keys.
        let next_key = match mode {
            KeyMode::Counter => 0,
            KeyMode::Probe | KeyMode::Explicit => FIRST_EXPLICIT_KEY,
        };
        TxBook {
            mode,
            next_key,
            stamps: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The key the next successful send will carry.
    pub(super) fn next_key(&self) -> u32 {
        self.next_key
    }

    /// A send succeeded with the key from [`TxBook::next_key`].
    pub(super) fn sent(&mut self) -> u32 {
        let key = self.next_key;
        self.next_key = self.next_key.wrapping_add(1);
        key
    }

    /// The kernel counter was restarted from 0 (counter mode).
    pub(super) fn restart_counter(&mut self) {
        self.next_key = 0;
    }

    /// Stores a stamp from the error queue. A hardware stamp is not replaced by a
    /// software one for the same key (both arrive when the NIC stamps too).
    pub(super) fn record(&mut self, key: u32, ts: Timestamp, source: TsSource) {
        if let Some(existing) = self.stamps.get_mut(&key) {
            if !(existing.1 == TsSource::Hardware && source != TsSource::Hardware) {
                *existing = (ts, source);
            }
            return;
        }
        while self.stamps.len() >= CAPACITY {
            match self.order.pop_front() {
                Some(old) => {
                    self.stamps.remove(&old);
                }
                None => {
                    self.stamps.clear();
                    break;
                }
            }
        }
        self.stamps.insert(key, (ts, source));
        self.order.push_back(key);
    }

    /// Takes the stamp for `key`, if one arrived that can belong to a send whose
    /// clock was read at `sent_at` (hardware clocks are not comparable).
    pub(super) fn take(&mut self, key: u32, sent_at: Timestamp) -> Option<(Timestamp, TsSource)> {
        let &(ts, source) = self.stamps.get(&key)?;
        if source != TsSource::Hardware && ts < sent_at {
            // From before a counter restart: leave it, the right one may follow.
            return None;
        }
        self.stamps.remove(&key);
        if let Some(pos) = self.order.iter().position(|&k| k == key) {
            self.order.remove(pos);
        }
        Some((ts, source))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.stamps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(us: u64) -> Timestamp {
        Timestamp::from_micros(us)
    }

    #[test]
    fn out_of_order_and_missing_entries() {
        let mut book = TxBook::new(KeyMode::Explicit);
        let keys: Vec<u32> = (0..3).map(|_| book.sent()).collect();
        let k = FIRST_EXPLICIT_KEY;
        assert_eq!(keys, [k, k + 1, k + 2]);
        book.record(k + 2, t(30), TsSource::Kernel);
        book.record(k, t(10), TsSource::Kernel);
        // key k + 1 never arrives
        assert_eq!(book.take(k, t(9)), Some((t(10), TsSource::Kernel)));
        assert_eq!(book.take(k + 1, t(19)), None);
        assert_eq!(book.take(k + 2, t(29)), Some((t(30), TsSource::Kernel)));
        assert_eq!(book.take(k + 2, t(29)), None, "taken once");
    }

    #[test]
    fn stale_stamps_are_not_matched() {
        let mut book = TxBook::new(KeyMode::Counter);
        book.record(0, t(5), TsSource::Kernel);
        assert_eq!(book.take(0, t(100)), None);
        book.record(0, t(101), TsSource::Kernel);
        assert_eq!(book.take(0, t(100)), Some((t(101), TsSource::Kernel)));
    }

    #[test]
    fn hardware_wins_over_software() {
        let mut book = TxBook::new(KeyMode::Explicit);
        book.record(7, t(1), TsSource::Hardware);
        book.record(7, t(50), TsSource::Kernel);
        assert_eq!(book.take(7, t(40)), Some((t(1), TsSource::Hardware)));
    }

    #[test]
    fn bounded() {
        let mut book = TxBook::new(KeyMode::Explicit);
        for key in 0..(CAPACITY as u32 + 100) {
            book.record(key, t(u64::from(key)), TsSource::Kernel);
        }
        assert_eq!(book.len(), CAPACITY);
        assert_eq!(book.take(0, t(0)), None, "oldest dropped");
        assert!(book.take(CAPACITY as u32 + 99, t(0)).is_some());
    }

    #[test]
    fn keys_wrap() {
        let mut book = TxBook::new(KeyMode::Counter);
        book.next_key = u32::MAX;
        assert_eq!(book.sent(), u32::MAX);
        assert_eq!(book.sent(), 0);
        book.restart_counter();
        assert_eq!(book.next_key(), 0);
    }
}

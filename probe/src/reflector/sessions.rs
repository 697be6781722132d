//! The stateful reflector's sessions: one per (sender address and port, SSID),
//! each with its own reflector sequence numbers (RFC 8762 section 4.3: so the
//! sender can tell forward loss from reverse loss) and what Follow-Up
//! Telemetry needs of the previous reply. Bounded in count, expired when idle.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::timestamping::{SendTicket, Timestamp, TsSource};

/// Identifies a session: the sender's address and port, and its SSID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub peer: SocketAddr,
    pub ssid: u16,
}

/// The previous reply of a session, for Follow-Up Telemetry (RFC 8972
/// section 4.7): its number and when it really left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousReply {
    pub sequence_number: u32,
    /// The send, to look up its kernel TX timestamp with.
    pub ticket: SendTicket,
    /// The TX timestamp once looked up.
    pub tx: Option<(Timestamp, TsSource)>,
}

/// One session's state: a few dozen octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The reflector sequence number of the next reply (starts at 0).
    pub next_seq: u32,
    pub last_seen: Instant,
    pub previous: Option<PreviousReply>,
}

// A session stays far below the 64 KiB budget per session: checked at
// compile time.
const _: () = assert!(SessionTable::ENTRY_SIZE <= 160);

/// What [`SessionTable::get_or_create`] found.
#[derive(Debug)]
pub enum Lookup<'a> {
    Found(&'a mut Session),
    Created(&'a mut Session),
    /// New session, but the table is full.
    Full,
}

/// Sessions by key; see the module documentation.
#[derive(Debug)]
pub struct SessionTable {
    sessions: HashMap<SessionKey, Session>,
    max: usize,
    idle: Duration,
}

impl SessionTable {
    /// At most `max` sessions; a session unused for `idle` is forgotten (and
    /// starts again at sequence number 0 if its sender comes back).
    pub fn new(max: usize, idle: Duration) -> SessionTable {
        SessionTable {
            sessions: HashMap::with_capacity(max.min(1024)),
            max,
            idle,
        }
    }

    pub fn get_or_create(&mut self, key: SessionKey, now: Instant) -> Lookup<'_> {
        let full = self.sessions.len() >= self.max;
        if full && !self.sessions.contains_key(&key) {
            return Lookup::Full;
        }
        let mut created = false;
        let session = self.sessions.entry(key).or_insert_with(|| {
            created = true;
            Session {
                next_seq: 0,
                last_seen: now,
                previous: None,
            }
        });
        session.last_seen = now;
        if created {
            Lookup::Created(session)
        } else {
            Lookup::Found(session)
        }
    }

    pub fn get_mut(&mut self, key: &SessionKey) -> Option<&mut Session> {
        self.sessions.get_mut(key)
    }

    /// Forgets sessions idle for longer than the idle time; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.sessions.len();
        let idle = self.idle;
        self.sessions
            .retain(|_, s| now.saturating_duration_since(s.last_seen) <= idle);
        before - self.sessions.len()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Octets one session takes in the table, counting the hash table's
    /// per-entry control byte but not its spare capacity.
    pub const ENTRY_SIZE: usize =
        std::mem::size_of::<SessionKey>() + std::mem::size_of::<Session>() + 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16, ssid: u16) -> SessionKey {
        SessionKey {
            peer: SocketAddr::from(([192, 0, 2, 1], port)),
            ssid,
        }
    }

    #[test]
    fn sessions_are_per_address_port_and_ssid() {
        let t = Instant::now();
        let mut table = SessionTable::new(10, Duration::from_secs(60));
        for k in [key(1, 0), key(1, 1), key(2, 0)] {
            assert!(matches!(table.get_or_create(k, t), Lookup::Created(_)));
        }
        match table.get_or_create(key(1, 1), t) {
            Lookup::Found(s) => s.next_seq += 1,
            other => panic!("{other:?}"),
        }
        assert_eq!(table.get_mut(&key(1, 1)).map(|s| s.next_seq), Some(1));
        assert_eq!(table.get_mut(&key(1, 0)).map(|s| s.next_seq), Some(0));
    }

    #[test]
    fn bounded_and_expiring() {
        let t = Instant::now();
        let mut table = SessionTable::new(2, Duration::from_secs(10));
        assert!(matches!(
            table.get_or_create(key(1, 0), t),
            Lookup::Created(_)
        ));
        let later = t + Duration::from_secs(5);
        assert!(matches!(
            table.get_or_create(key(2, 0), later),
            Lookup::Created(_)
        ));
        assert!(matches!(
            table.get_or_create(key(3, 0), later),
            Lookup::Full
        ));
        // Existing sessions still work when full.
        assert!(matches!(
            table.get_or_create(key(2, 0), later),
            Lookup::Found(_)
        ));
        assert_eq!(table.expire(t + Duration::from_secs(11)), 1);
        assert_eq!(table.len(), 1);
        assert!(matches!(
            table.get_or_create(key(3, 0), later),
            Lookup::Created(_)
        ));
    }
}

//! The sender's view of one STAMP session: which packets are out, which came
//! back, which are lost, duplicated or reordered, and what each reply measured.
//! Pure: no sockets, no clock; the caller passes every time in (its own clock
//! for send times, `now` and t4; the reflector's for t2 and t3).
//!
//! Call [`Tracker::expire`] regularly (a tenth of the timeout is plenty): a
//! packet is lost once `timeout` has passed since it was sent, and a reply
//! arriving after that is late (lost, per RFC 7680).

use std::collections::BTreeMap;
use std::time::Duration;

use super::reflector_seqs::{Observed, ReflectorSeqs};
use super::reorder::ReorderDetector;
use super::seq::SeqUnwrapper;
use super::{ClockSample, Direction, Event, PacketSample, Window};
use crate::timestamping::{Timestamp, TsSource};

/// In-flight packets tracked at most; beyond this the oldest count as lost.
const MAX_IN_FLIGHT: usize = 1 << 20;

/// What the reflector does with sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReflectorKind {
    /// Numbers what it receives (RFC 8762 stateful): loss splits by direction.
    /// `first_seq` is its first number if known (0 for a fresh session), so a
    /// reply lost before the first one received is still seen.
    Stateful { first_seq: Option<u32> },
    /// Echoes the sender's number: only round-trip loss is known.
    Stateless,
}

/// One reply as received, with its four timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub sender_seq: u32,
    pub reflector_seq: u32,
    /// Sent by the sender (sender clock).
    pub t1: Timestamp,
    /// Received by the reflector (reflector clock).
    pub t2: Timestamp,
    /// Sent back by the reflector (reflector clock).
    pub t3: Timestamp,
    /// Received by the sender (sender clock).
    pub t4: Timestamp,
    pub clock: ClockSample,
    /// The weaker of the sources of t1 and t4.
    pub ts_source: TsSource,
}

/// What [`Tracker::reply`] made of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// First in-time reply for its packet; counted in the metrics.
    Fresh(PacketSample),
    /// A packet answered already; counted as a duplicate only.
    Duplicate(Option<Direction>),
    /// Its packet was declared lost already.
    Late,
    /// No such packet was sent.
    Unmatched,
}

#[derive(Debug, Clone, Copy)]
struct Answered {
    sent_at: Timestamp,
    rtt_ns: i64,
}

/// Per-session sender-side bookkeeping; see the module documentation.
#[derive(Debug, Clone)]
pub struct Tracker {
    window: Window,
    sender: SeqUnwrapper,
    /// Sent, not answered, not expired: extended seq -> send time.
    in_flight: BTreeMap<u64, Timestamp>,
    /// Answered recently: for duplicates and IPDV neighbours.
    answered: BTreeMap<u64, Answered>,
    reorder: ReorderDetector,
    reflector: Option<ReflectorSeqs>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

impl Tracker {
    /// A tracker for a stateful reflector whose first number is not assumed.
    pub fn new() -> Tracker {
        Tracker::with_reflector(ReflectorKind::Stateful { first_seq: None })
    }

    pub fn with_reflector(kind: ReflectorKind) -> Tracker {
        Tracker {
            window: Window::new(),
            sender: SeqUnwrapper::default(),
            in_flight: BTreeMap::new(),
            answered: BTreeMap::new(),
            reorder: ReorderDetector::new(),
            reflector: match kind {
                ReflectorKind::Stateful { first_seq } => Some(ReflectorSeqs::new(first_seq)),
                ReflectorKind::Stateless => None,
            },
        }
    }

    /// The current window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Ends the current window and starts a new one; packets in flight carry
    /// over and are counted in the window where their fate is decided.
    pub fn take_window(&mut self) -> Window {
        std::mem::take(&mut self.window)
    }

    /// Packets sent and neither answered nor expired.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn emit(&mut self, event: Event) {
        self.window.record(&event);
    }

    /// Packet `seq` was sent at `t1`. Sending a number that is still in flight
    /// or answered again is ignored: `sent` counts distinct packets.
    pub fn sent(&mut self, seq: u32, t1: Timestamp) {
        let ext = self.sender.extend(seq);
        if self.in_flight.contains_key(&ext) || self.answered.contains_key(&ext) {
            return;
        }
        self.sender.observe(seq);
        self.in_flight.insert(ext, t1);
        self.emit(Event::Sent);
        if self.in_flight.len() > MAX_IN_FLIGHT && self.in_flight.pop_first().is_some() {
            self.emit(Event::RoundTripLost);
        }
    }

    /// A reply arrived; see [`ReplyOutcome`].
    pub fn reply(&mut self, r: &Reply) -> ReplyOutcome {
        let seq = self.sender.extend(r.sender_seq);
        if self.sender.highest().is_none_or(|highest| seq > highest) {
            self.emit(Event::Unmatched);
            return ReplyOutcome::Unmatched;
        }
        if self.answered.contains_key(&seq) {
            let direction = self.duplicate_direction(r);
            self.emit(Event::Duplicate(direction));
            return ReplyOutcome::Duplicate(direction);
        }
        let Some(sent_at) = self.in_flight.remove(&seq) else {
            self.late(r);
            return ReplyOutcome::Late;
        };
        let sample = PacketSample::from_timestamps(
            r.sender_seq,
            r.reflector_seq,
            r.t1,
            r.t2,
            r.t3,
            r.t4,
            r.clock,
            r.ts_source,
        );
        match self
            .reflector
            .as_mut()
            .map(|f| f.observe(r.reflector_seq, r.t4, true))
        {
            None => self.emit(Event::ReflectorSeqUntracked),
            // A reflector reusing a number for another packet: nothing to count.
            Some(Observed::Seen) => {}
            Some(Observed::New {
                jump, reordered, ..
            }) => self.reflector_news(jump, reordered),
        }
        if let Some(extent) = self.reorder.observe(seq) {
            self.emit(Event::Reordered { extent });
        }
        // IPDV (RFC 5481) needs both neighbours' delays: computed by whichever
        // of a consecutive pair arrives second.
        let previous = seq
            .checked_sub(1)
            .and_then(|p| self.answered.get(&p))
            .copied();
        if let Some(previous) = previous {
            self.emit(Event::Ipdv(sample.rtt_ns.saturating_sub(previous.rtt_ns)));
        }
        let next = seq
            .checked_add(1)
            .and_then(|n| self.answered.get(&n))
            .copied();
        if let Some(next) = next {
            self.emit(Event::Ipdv(next.rtt_ns.saturating_sub(sample.rtt_ns)));
        }
        self.answered.insert(
            seq,
            Answered {
                sent_at,
                rtt_ns: sample.rtt_ns,
            },
        );
        self.emit(Event::Reply(sample));
        ReplyOutcome::Fresh(sample)
    }

    fn reflector_news(&mut self, jump: bool, reordered: Option<u64>) {
        if jump {
            self.emit(Event::ReflectorSeqJump);
        }
        if let Some(extent) = reordered {
            self.emit(Event::ReverseReordered { extent });
        }
    }

    /// Same reflector number again: the reply was duplicated on the way back;
    /// a new one: the reflector got the packet twice.
    fn duplicate_direction(&mut self, r: &Reply) -> Option<Direction> {
        let reflector = self.reflector.as_mut()?;
        match reflector.observe(r.reflector_seq, r.t4, true) {
            Observed::Seen => Some(Direction::Reverse),
            Observed::New {
                jump, reordered, ..
            } => {
                self.reflector_news(jump, reordered);
                Some(Direction::Forward)
            }
        }
    }

    /// A reply after its packet expired. The packet did reach the reflector,
    /// so if its reflector number was still an open gap (or beyond every
    /// number seen), the loss is the reverse path's.
    fn late(&mut self, r: &Reply) {
        if let Some(reflector) = self.reflector.as_mut() {
            if let Observed::New {
                was_gap,
                was_ahead,
                jump,
                ..
            } = reflector.observe(r.reflector_seq, r.t4, false)
            {
                if jump {
                    self.emit(Event::ReflectorSeqJump);
                }
                if was_gap || was_ahead {
                    self.emit(Event::ReverseLost);
                }
            }
        }
        self.emit(Event::Late);
    }

    /// Declares lost every packet sent at least `timeout` before `now`, and
    /// every reflector-number gap open that long; forgets answered packets
    /// after twice the timeout.
    pub fn expire(&mut self, now: Timestamp, timeout: Duration) {
        let mut lost = 0u64;
        self.in_flight.retain(|_, &mut sent_at| {
            let keep = sent_at.saturating_add(timeout) > now;
            lost += u64::from(!keep);
            keep
        });
        let keep_for = timeout.saturating_mul(2);
        self.answered
            .retain(|_, a| a.sent_at.saturating_add(keep_for) > now);
        let reverse_lost = self
            .reflector
            .as_mut()
            .map_or(0, |f| f.expire(now, timeout, keep_for));
        for _ in 0..lost {
            self.emit(Event::RoundTripLost);
        }
        for _ in 0..reverse_lost {
            self.emit(Event::ReverseLost);
        }
    }
}

//! What the reflector counts, and the one-line summary it logs.

use std::fmt;

use serde::Serialize;

use crate::timestamping::TsSource;

/// Counters since the reflector started. Every datagram received ends in
/// exactly one of `reflected`, `send_errors` or one of the drop counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub received: u64,
    pub reflected: u64,
    /// Shorter than a TWAMP-light request (14 octets), or longer than the
    /// receive buffer.
    pub malformed: u64,
    /// From outside `--allow`.
    pub denied: u64,
    /// Over the source's packet rate, or a new source with the table of
    /// sources full.
    pub rate_limited: u64,
    /// Authenticated mode: too short to carry an HMAC, or a wrong one.
    pub auth_failed: u64,
    /// A new session with the session table full.
    pub session_cap: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
    /// Requests shorter than the base packet (TWAMP-light) answered with a
    /// base-size reply.
    pub short_requests: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    /// Follow-Up Telemetry filled with a kernel (or hardware) TX timestamp,
    /// and with the user-space estimate because none was available.
    pub follow_up_kernel: u64,
    pub follow_up_user: u64,
    /// Receive timestamps by source.
    pub rx_user: u64,
    pub rx_kernel: u64,
    pub rx_hardware: u64,
}

impl Stats {
    pub(crate) fn count_rx(&mut self, source: TsSource) {
        match source {
            TsSource::User => self.rx_user += 1,
            TsSource::Kernel => self.rx_kernel += 1,
            TsSource::Hardware => self.rx_hardware += 1,
        }
    }

    /// Every datagram dropped, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.malformed + self.denied + self.rate_limited + self.auth_failed + self.session_cap
    }
}

impl fmt::Display for Stats {
    /// `key=value` pairs on one line, for people and scripts alike.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received={} reflected={} dropped={} malformed={} denied={} rate_limited={} \
             auth_failed={} session_cap={} send_errors={} recv_errors={} short_requests={} \
             sessions_created={} sessions_expired={} follow_up_kernel={} follow_up_user={} \
             rx_kernel={} rx_user={} rx_hardware={}",
            self.received,
            self.reflected,
            self.dropped(),
            self.malformed,
            self.denied,
            self.rate_limited,
            self.auth_failed,
            self.session_cap,
            self.send_errors,
            self.recv_errors,
            self.short_requests,
            self.sessions_created,
            self.sessions_expired,
            self.follow_up_kernel,
            self.follow_up_user,
            self.rx_kernel,
            self.rx_user,
            self.rx_hardware,
        )
    }
}

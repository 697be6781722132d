//! The I/O edge the probe's measurement loops are written against: send a
//! datagram to an address, receive one with its arrival time (kernel or user
//! space, and which) and its source. [`TimestampedSocket`] (STAMP over UDP)
//! and the ICMP [`ProbeSocket`](crate::icmp::socket::ProbeSocket) implement
//! it; the STAMP sender's loop takes any implementation, so tests drive that
//! loop with an in-memory one and no network.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Received, SendTicket, Timestamp, TimestampedSocket, TsSource};

/// A datagram socket as the measurement loops see it.
pub trait DatagramSocket {
    /// Sends `data` to `to`. The ticket carries the user-space clock read
    /// just before sending (and, where the kernel stamps transmissions, the
    /// key of its stamp).
    fn send_datagram(&self, data: &[u8], to: SocketAddr) -> io::Result<SendTicket>;

    /// Receives one datagram into `buf`, with when and from where it came.
    /// `WouldBlock` when the socket is non-blocking and nothing is queued.
    fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<Received>;

    /// When the datagram of `ticket` left: the kernel's stamp if one comes
    /// within `wait`, else the user-space reading taken before the send.
    fn tx_timestamp(&self, ticket: &SendTicket, _wait: Duration) -> (Timestamp, TsSource) {
        (ticket.user_ts, TsSource::User)
    }
}

impl DatagramSocket for TimestampedSocket {
    fn send_datagram(&self, data: &[u8], to: SocketAddr) -> io::Result<SendTicket> {
        self.send_to(data, to, None)
    }

    fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.recv(buf)
    }

    fn tx_timestamp(&self, ticket: &SendTicket, wait: Duration) -> (Timestamp, TsSource) {
        TimestampedSocket::tx_timestamp(self, ticket, wait)
    }
}

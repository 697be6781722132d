//! ICMP ping and traceroute (IPv4 and IPv6): echo requests over unprivileged
//! datagram sockets or raw sockets, traceroute by ICMP echo or UDP, replies
//! matched by identifier and sequence, RTTs from kernel receive timestamps,
//! hops named by the site the topology places them at.

pub mod packet;

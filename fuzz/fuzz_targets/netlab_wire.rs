//! Feeds arbitrary octets to what netlab does with packets read from its TUN
//! devices: the IPv4 view and its accessors, the TTL rewrite and the ICMP
//! messages the emulated routers build from a packet; then, read as a series
//! of packets from chosen sites (source and destination optionally set to the
//! lab's own addresses, so routing is reached), to the forwarding engine's
//! ingress on a small lab (two carriers, an interconnect, a lossy jittery
//! link, a rate-limited one), polled until nothing is in flight. None may
//! panic, checksums the engine keeps or makes verify, and the engine drains.
//! The same for IPv6 (the lab is dual stack): the IPv6 view, its
//! extension-header walk, the hop-limit rewrite and the ICMPv6 messages, and
//! IPv6 packets through the engine (a packet whose first nibble is 6 gets
//! the lab's IPv6 addresses).

#![no_main]

use libfuzzer_sys::fuzz_target;
use netlab::address_plan::AddressPlan;
use netlab::engine::Engine;
use netlab::wire::{
    checksum, icmp_error_len, ip_version, is_echo_request, update_checksum, write_echo_reply,
    write_icmp_error, write_time_exceeded, Ipv4Packet, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY,
    ICMP_PORT_UNREACHABLE,
};
use netlab::wire6::{
    echo_request6, icmp6_checksum, icmp6_error_len, write_echo_reply6, write_icmp6_error,
    write_time_exceeded6, Ipv6Packet, ICMP6_DEST_UNREACHABLE, ICMP6_ECHO_REPLY,
    ICMP6_PORT_UNREACHABLE,
};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use topology::Topology;

const LAB: &str = "version: 1
sites:
  - {id: x, kind: city, location: [25, 102.7]}
  - {id: y, kind: city, location: [25.1, 102.8], networks: [u]}
  - {id: z, kind: city, location: [30.6, 104.1]}
networks:
  - {id: t}
  - {id: u}
links:
  - {between: [x, z], network: t, delay_ms: 8}
  - {between: [x, z], network: u, delay_ms: {forward: 9, reverse: 7}, loss_pct: 10, jitter_ms: 1}
  - {between: [x, y], network: u, delay_ms: 0.5, rate_mbit: 1}
interconnects:
  - {site: z, kind: internet-exchange, networks: [t, u], delay_ms: 0.3}
";

/// Most polls a drain may take: far more than the packets of one input can
/// cause; reaching it means the engine keeps itself busy.
const MAX_POLLS: usize = 1 << 20;

struct Lab {
    topo: Topology,
    plan: AddressPlan,
    /// Every address of the lab: endpoints, link routers, interconnect ports.
    addresses: Vec<Ipv4Addr>,
    /// The same in IPv6.
    addresses6: Vec<Ipv6Addr>,
}

fn lab() -> &'static Lab {
    static LAB_: OnceLock<Lab> = OnceLock::new();
    LAB_.get_or_init(|| {
        let topo = match topology::load::from_str(LAB, "lab.yaml") {
            Ok(t) => t,
            Err(e) => panic!("the fuzz lab does not load: {e}"),
        };
        let plan = match AddressPlan::new(&topo, "fuzz") {
            Ok(p) => p,
            Err(e) => panic!("the fuzz lab has no address plan: {e}"),
        };
        let mut addresses: Vec<Ipv4Addr> = plan.endpoints.iter().map(|e| e.address).collect();
        addresses.extend(plan.links.iter().flat_map(|l| [l.a_router, l.b_router]));
        addresses.extend(plan.ports.iter().map(|p| p.address));
        let mut addresses6: Vec<Ipv6Addr> = plan.endpoints.iter().map(|e| e.address6).collect();
        addresses6.extend(plan.links.iter().flat_map(|l| [l.a_router6, l.b_router6]));
        addresses6.extend(plan.ports.iter().map(|p| p.address6));
        Lab {
            topo,
            plan,
            addresses,
            addresses6,
        }
    })
}

/// The IPv6 view and the ICMPv6 messages built from it.
fn wire6(data: &[u8]) {
    let Ok(ip) = Ipv6Packet::new_checked(data) else {
        return;
    };
    assert_eq!(ip.packet().len(), 40 + ip.payload_len());
    assert!(ip.packet().len() <= data.len());
    let _ = (
        ip.traffic_class(),
        ip.next_header(),
        ip.hop_limit(),
        ip.src(),
        ip.dst(),
    );
    if let Some(u) = ip.upper_layer() {
        assert!(u.offset >= 40 && u.offset <= ip.packet().len());
    }
    let _ = (ip.upper(), ip.is_no_error_about());
    let router = "2001:2:0:8000::1"
        .parse::<Ipv6Addr>()
        .unwrap_or(Ipv6Addr::LOCALHOST);
    let mut out = Vec::new();
    write_time_exceeded6(&ip, router, &mut out);
    assert_eq!(out.len(), icmp6_error_len(&ip));
    assert!(out.len() <= 1280);
    sent_by_a_router6(&out, true);
    write_icmp6_error(
        &ip,
        ICMP6_DEST_UNREACHABLE,
        ICMP6_PORT_UNREACHABLE,
        router,
        &mut out,
    );
    sent_by_a_router6(&out, true);
    if let Some(echo) = echo_request6(&ip) {
        write_echo_reply6(&ip, echo, &mut out);
        assert_eq!(out.get(40), Some(&ICMP6_ECHO_REPLY));
        sent_by_a_router6(&out, false);
    }
    let mut copy = data.to_vec();
    if let Ok(mut p) = Ipv6Packet::new_checked(&mut copy[..]) {
        let h = p.hop_limit();
        assert_eq!(p.decrement_hop_limit(), h.saturating_sub(1));
    }
}

/// An ICMPv6 message an emulated router made: it parses, its checksum
/// verifies, and it is an error exactly when meant to be.
fn sent_by_a_router6(packet: &[u8], error: bool) {
    match Ipv6Packet::new_checked(packet) {
        Ok(p) => {
            assert_eq!(icmp6_checksum(p.src(), p.dst(), p.payload()), 0);
            assert_eq!(p.payload().first().is_some_and(|&t| t < 128), error);
        }
        Err(e) => panic!("a router's ICMPv6 message does not parse: {e}"),
    }
}

/// The packet views and the messages built from them.
fn wire(data: &[u8]) {
    let _ = ip_version(data);
    let _ = checksum(data);
    let Ok(ip) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let (header, total) = (ip.header_len(), ip.total_len());
    assert!(header >= 20 && header <= total && total <= data.len());
    assert_eq!(ip.packet().len(), total);
    assert_eq!(ip.payload().len(), total - header);
    let _ = (ip.ident(), ip.more_fragments(), ip.frag_offset(), ip.ttl());
    let _ = (ip.protocol(), ip.src(), ip.dst(), ip.is_icmp_error());
    let _ = update_checksum(ip.checksum(), u16::from(ip.ttl()), 0);

    let router = Ipv4Addr::new(198, 19, 0, 1);
    let mut out = Vec::new();
    write_time_exceeded(&ip, router, 1, &mut out);
    assert_eq!(out.len(), icmp_error_len(&ip));
    sent_by_a_router(&out, true);
    write_icmp_error(
        &ip,
        ICMP_DEST_UNREACHABLE,
        ICMP_PORT_UNREACHABLE,
        router,
        2,
        &mut out,
    );
    sent_by_a_router(&out, true);
    if is_echo_request(&ip) {
        write_echo_reply(&ip, 3, &mut out);
        assert_eq!(out.get(20), Some(&ICMP_ECHO_REPLY));
        sent_by_a_router(&out, false);
    }

    // The TTL rewrite keeps a correct checksum correct.
    let mut copy = data.to_vec();
    if let Ok(mut p) = Ipv4Packet::new_checked(&mut copy[..]) {
        let (ttl, valid) = (p.ttl(), p.verify_checksum());
        assert_eq!(p.decrement_ttl(), ttl.saturating_sub(1));
        if valid {
            assert!(p.verify_checksum());
        }
        p.fill_checksum();
        assert!(p.verify_checksum());
    }
}

/// An ICMP message an emulated router made: it parses, both checksums verify.
fn sent_by_a_router(packet: &[u8], error: bool) {
    match Ipv4Packet::new_checked(packet) {
        Ok(p) => {
            assert!(p.verify_checksum());
            assert_eq!(checksum(p.payload()), 0);
            assert_eq!(p.is_icmp_error(), error);
        }
        Err(e) => panic!("a router's message does not parse: {e}"),
    }
}

/// The input as packets: per packet a header of three octets (site and time
/// step; which lab address replaces the source and destination, one nibble
/// each, 0 or past the list keeping the packet's own; length), then the packet.
fn engine(data: &[u8]) {
    let lab = lab();
    let sites = lab.topo.sites.len();
    let mut e = Engine::new(&lab.topo, &lab.plan, 7, 0);
    let mut now = 0u64;
    let mut sent = 0u64;
    let mut rest = data;
    let mut deliver = |site: usize, p: &[u8], _due: u64| {
        assert!(site < sites);
        if ip_version(p) == Some(6) {
            if let Err(err) = Ipv6Packet::new_checked(p) {
                panic!("delivered a packet that is not IPv6: {err}");
            }
        } else if let Err(err) = Ipv4Packet::new_checked(p) {
            panic!("delivered a packet that is not IPv4: {err}");
        }
    };
    while let [head, select, len, tail @ ..] = rest {
        let (packet, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        let mut packet = packet.to_vec();
        let pick = |n: u8| lab.addresses.get(usize::from(n).wrapping_sub(1)).copied();
        let pick6 = |n: u8| lab.addresses6.get(usize::from(n).wrapping_sub(1)).copied();
        if packet.len() >= 40 && ip_version(&packet) == Some(6) {
            if let Some(src) = pick6(select & 0x0f) {
                packet[8..24].copy_from_slice(&src.octets());
            }
            if let Some(dst) = pick6(select >> 4) {
                packet[24..40].copy_from_slice(&dst.octets());
            }
        } else if packet.len() >= 20 {
            if let Some(src) = pick(select & 0x0f) {
                packet[12..16].copy_from_slice(&src.octets());
            }
            if let Some(dst) = pick(select >> 4) {
                packet[16..20].copy_from_slice(&dst.octets());
            }
        }
        // One site more than the lab has: a packet from nowhere.
        e.ingress(usize::from(*head) % (sites + 1), &packet, now);
        sent += 1;
        now += u64::from(head >> 4) * 250_000;
        e.poll(now, &mut deliver);
    }
    assert_eq!(e.stats().received, sent);
    let mut polls = 0;
    while let Some(t) = e.next_deadline() {
        assert!(polls < MAX_POLLS, "the engine does not drain");
        e.poll(t, &mut deliver);
        polls += 1;
    }
    assert_eq!(e.in_flight(), 0);
}

fuzz_target!(|data: &[u8]| {
    wire(data);
    wire6(data);
    engine(data);
});

//! Feeds arbitrary octets to a running lab's control channel (`netlab link
//! set` requests, one JSON datagram each, read by the forwarder from its Unix
//! socket) on a small lab with traffic in flight: the input is one or more
//! datagrams separated by NUL octets, each handled by `netlab::control::handle`
//! between rounds of packets. None may panic; every answer is JSON the client
//! reads, nothing changes on an error, and the engine still drains.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netlab::address_plan::AddressPlan;
use netlab::control::{handle, Answer};
use netlab::engine::Engine;
use netlab::wire::Ipv4Packet;
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
  - {between: [x, z], network: u, delay_ms: 9, jitter_ms: 1}
  - {between: [x, y], network: u, delay_ms: 0.5, rate_mbit: 1}
interconnects:
  - {site: z, kind: internet-exchange, networks: [t, u], delay_ms: 0.3}
";

const MS: u64 = 1_000_000;
/// Most polls a drain may take (see netlab_wire).
const MAX_POLLS: usize = 1 << 20;

fn lab() -> &'static (Topology, AddressPlan, Vec<(usize, Vec<u8>)>) {
    static LAB_: OnceLock<(Topology, AddressPlan, Vec<(usize, Vec<u8>)>)> = OnceLock::new();
    LAB_.get_or_init(|| {
        let topo = match topology::load::from_str(LAB, "lab.yaml") {
            Ok(t) => t,
            Err(e) => panic!("the fuzz lab does not load: {e}"),
        };
        let plan = match AddressPlan::new(&topo, "fuzz") {
            Ok(p) => p,
            Err(e) => panic!("the fuzz lab has no address plan: {e}"),
        };
        // Every endpoint to every other, TTL 3 (so some expire on the way).
        let mut traffic = Vec::new();
        for a in &plan.endpoints {
            for b in &plan.endpoints {
                if a.name != b.name {
                    traffic.push((a.site, udp(a.address.octets(), b.address.octets())));
                }
            }
        }
        (topo, plan, traffic)
    })
}

fn udp(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&60u16.to_be_bytes());
    p[8] = 3;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&33434u16.to_be_bytes());
    if let Ok(mut v) = Ipv4Packet::new_checked(&mut p[..]) {
        v.fill_checksum();
    }
    p
}

fuzz_target!(|data: &[u8]| {
    let (topo, plan, traffic) = lab();
    let mut e = Engine::new(topo, plan, 7, 0);
    let mut now = 0;
    let mut deliver = |_: usize, _: &[u8], _: u64| {};
    for request in data.split(|&b| b == 0) {
        for (site, p) in traffic {
            e.ingress(*site, p, now);
        }
        now += 2 * MS;
        e.poll(now, &mut deliver);
        let before = e.overrides();
        let (answer, changed) = handle(&mut e, plan, request);
        match &answer {
            Answer::Ok { .. } => assert!(changed),
            Answer::Error { message } => {
                assert!(!changed && !message.is_empty());
                assert_eq!(e.overrides(), before, "an error changed links");
            }
        }
        let json = match serde_json::to_vec(&answer) {
            Ok(j) => j,
            Err(err) => panic!("{answer:?} does not serialize: {err}"),
        };
        // The client reads it (floats may differ in the last bit: serde_json
        // parses them best-effort by default, so no equality here).
        let again: Result<Answer, _> = serde_json::from_slice(&json);
        match (again, &answer) {
            (Ok(Answer::Ok { links, .. }), Answer::Ok { links: sent, .. }) => {
                assert_eq!(links.len(), sent.len())
            }
            (Ok(Answer::Error { message }), Answer::Error { message: sent }) => {
                assert_eq!(&message, sent)
            }
            (again, _) => panic!("{answer:?} reads back as {again:?}"),
        }
        now += 3 * MS;
        e.poll(now, &mut deliver);
    }
    let mut polls = 0;
    while let Some(t) = e.next_deadline() {
        assert!(polls < MAX_POLLS, "the engine does not drain");
        e.poll(t, &mut deliver);
        polls += 1;
    }
    assert_eq!(e.in_flight(), 0);
});

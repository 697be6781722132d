//! The control channel of a running lab: how `netlab link set` asks the
//! forwarder to change links, and what it answers. Pure: requests and answers,
//! their checks, and applying a request to an [`Engine`]; the socket is the
//! forwarder's and `lab`'s business.
//!
//! Transport: one JSON datagram each way over a Unix datagram socket,
//! [`SOCKET`] in the lab's state directory (root only, like the lab). A
//! datagram is a whole request or nothing, so the forwarder reads it without
//! waiting and never blocks its loop on a slow client; the client binds a
//! socket of its own in the same directory for the answer.
//!
//! ```json
//! {"op": "link_set", "a": "a", "b": "b", "network": null,
//!  "change": {"forward_ms": 20, "reverse_ms": 5, "loss_pct": 1, "up": false}}
//! {"result": "ok", "links": [LinkState...], "apply_us": 12.5}
//! {"result": "error", "message": "no link between a and d"}
//! ```
//!
//! `a` and `b` are as the user wrote them: `forward_ms` is `a -> b`, whatever
//! order the topology file lists the link in. Without `network` the change
//! applies to every link between the two sites. Anything malformed is answered
//! with an error, never a panic, and changes nothing.
//!
//! An interconnect (a direct-connect point or exchange joining carriers at a
//! site) goes down or up whole, every interconnect at the site at once:
//!
//! ```json
//! {"op": "interconnect_set", "site": "kunming", "up": false}
//! {"result": "ok", "links": [], "interconnects": [InterconnectState...], "apply_us": 9.1}
//! ```

use crate::address_plan::AddressPlan;
use crate::engine::{
    ChangeError, Engine, InterconnectState, LinkChange, LinkState, PendingChange, RoutingJob,
};
use serde::{Deserialize, Serialize};

/// The control socket's name in the lab's state directory.
pub const SOCKET: &str = "control.sock";
/// Longest request or answer; a longer datagram is cut there, and then fails
/// to parse.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Longest one-way delay a link may be given, ms: a minute is already far
/// beyond any path on Earth, and keeps nanosecond sums far from overflowing.
pub const MAX_DELAY_MS: f64 = 60_000.0;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    LinkSet(LinkSet),
    InterconnectSet(InterconnectSet),
}

/// Take the interconnect(s) at `site` down, or bring them back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterconnectSet {
    pub site: String,
    pub up: bool,
}

/// Change the link(s) between sites `a` and `b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSet {
    pub a: String,
    pub b: String,
    /// Only this carrier's link; `None`: every link between `a` and `b`.
    #[serde(default)]
    pub network: Option<String>,
    /// `forward_ms` is `a -> b` as written here.
    pub change: LinkChange,
}

/// What the forwarder answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// In force: the changed links' states, and how long the forwarder took
    /// from reading the request to the change being in force.
    Ok {
        links: Vec<LinkState>,
        /// The changed interconnects' states (an `interconnect_set`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        interconnects: Vec<InterconnectState>,
        apply_us: f64,
    },
    Error {
        message: String,
    },
}

/// Why a request cannot be carried out. Nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("nothing to change: give --delay, --forward, --reverse, --loss, --down or --up")]
    NoChange,
    #[error("bad delay {value} ms from {from} to {to}: expected 0 to {MAX_DELAY_MS} ms")]
    BadDelay {
        from: String,
        to: String,
        value: f64,
    },
    #[error("bad loss {0} %: expected a percentage from 0 to 100")]
    BadLoss(f64),
    #[error("no site {name:?} (sites: {known})")]
    UnknownSite { name: String, known: String },
    #[error("no network {name:?} (networks: {known})")]
    UnknownNetwork { name: String, known: String },
    #[error("no network {0:?}: the topology declares no networks")]
    NoNetworks(String),
    #[error("no interconnect at {0}")]
    NoInterconnect(String),
    #[error("no link between {a} and {b}{}", on_network(.network))]
    NoLink {
        a: String,
        b: String,
        network: Option<String>,
    },
}

fn on_network(network: &Option<String>) -> String {
    network
        .as_ref()
        .map(|n| format!(" on network {n}"))
        .unwrap_or_default()
}

impl LinkSet {
    /// Checks the values (not the names, which need the plan).
    pub fn check(&self) -> Result<(), ControlError> {
        let c = &self.change;
        if c.is_empty() {
            return Err(ControlError::NoChange);
        }
        for (from, to, v) in [
            (&self.a, &self.b, c.forward_ms),
            (&self.b, &self.a, c.reverse_ms),
        ] {
            if let Some(v) = v {
                // `contains` is false for NaN too.
                if !(0.0..=MAX_DELAY_MS).contains(&v) {
                    return Err(ControlError::BadDelay {
                        from: from.clone(),
                        to: to.clone(),
                        value: v,
                    });
                }
            }
        }
        if let Some(v) = c.loss_pct {
            if !(0.0..=100.0).contains(&v) {
                return Err(ControlError::BadLoss(v));
            }
        }
        Ok(())
    }

    /// The links this request changes, each with the change in the link's
    /// own direction (topology file order).
    pub fn resolve(&self, plan: &AddressPlan) -> Result<Vec<(usize, LinkChange)>, ControlError> {
        for name in [&self.a, &self.b] {
            if plan.site(name).is_none() {
                return Err(ControlError::UnknownSite {
                    name: name.clone(),
                    known: list(plan.sites.iter().map(|s| s.id.as_str())),
                });
            }
        }
        if let Some(net) = &self.network {
            let mut known: Vec<&str> = plan
                .endpoints
                .iter()
                .filter_map(|e| e.network.as_deref())
                .collect();
            known.sort_unstable();
            known.dedup();
            if known.is_empty() {
                return Err(ControlError::NoNetworks(net.clone()));
            }
            if !known.contains(&net.as_str()) {
                return Err(ControlError::UnknownNetwork {
                    name: net.clone(),
                    known: list(known.into_iter()),
                });
            }
        }
        let found: Vec<(usize, LinkChange)> = plan
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| self.network.is_none() || l.network == self.network)
            .filter_map(|(i, l)| {
                if (&l.a, &l.b) == (&self.a, &self.b) {
                    Some((i, self.change))
                } else if (&l.a, &l.b) == (&self.b, &self.a) {
                    Some((i, self.change.reversed()))
                } else {
                    None
                }
            })
            .collect();
        if found.is_empty() {
            return Err(ControlError::NoLink {
                a: self.a.clone(),
                b: self.b.clone(),
                network: self.network.clone(),
            });
        }
        Ok(found)
    }
}

impl InterconnectSet {
    /// The interconnects at the site (topology interconnect indices), each
    /// with whether it is to be up.
    pub fn resolve(&self, plan: &AddressPlan) -> Result<Vec<(usize, bool)>, ControlError> {
        if plan.site(&self.site).is_none() {
            return Err(ControlError::UnknownSite {
                name: self.site.clone(),
                known: list(plan.sites.iter().map(|s| s.id.as_str())),
            });
        }
        let mut found: Vec<usize> = plan
            .ports
            .iter()
            .filter(|p| p.site == self.site)
            .map(|p| p.interconnect)
            .collect();
        found.sort_unstable();
        found.dedup();
        if found.is_empty() {
            return Err(ControlError::NoInterconnect(self.site.clone()));
        }
        Ok(found.into_iter().map(|i| (i, self.up)).collect())
    }
}

/// A checked request, resolved against the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Changes {
    /// Per link, the change in the link's own direction (topology file order).
    Links(Vec<(usize, LinkChange)>),
    /// Per interconnect, whether it is to be up.
    Interconnects(Vec<(usize, bool)>),
}

/// Prepares a resolved request on the engine (see [`Engine::prepare`]).
pub fn prepare(
    engine: &Engine,
    changes: &Changes,
) -> Result<(PendingChange, Option<RoutingJob>), ChangeError> {
    match changes {
        Changes::Links(c) => engine.prepare(c),
        Changes::Interconnects(c) => engine.prepare_interconnects(c),
    }
}

/// The answer once a change is in force: the changed links and interconnects.
pub fn answer_ok(
    engine: &Engine,
    links: Vec<LinkState>,
    interconnects: &[usize],
    apply_us: f64,
) -> Answer {
    Answer::Ok {
        links,
        interconnects: interconnects
            .iter()
            .filter_map(|&i| engine.interconnect_state(i))
            .collect(),
        apply_us,
    }
}

/// Names for an error message, at most a dozen.
fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = names.take(13).collect();
    if v.len() > 12 {
        v.truncate(12);
        v.push("...");
    }
    v.join(", ")
}

/// Reads a request datagram.
pub fn parse_request(bytes: &[u8]) -> Result<Request, ControlError> {
    if bytes.len() >= MAX_MESSAGE {
        return Err(ControlError::Malformed(format!(
            "longer than {MAX_MESSAGE} bytes"
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| ControlError::Malformed(e.to_string()))
}

/// Reads a request datagram and checks it against the plan: the changes it
/// asks for, per link in the link's own direction, or per interconnect.
pub fn changes(plan: &AddressPlan, bytes: &[u8]) -> Result<Changes, ControlError> {
    match parse_request(bytes)? {
        Request::LinkSet(ls) => {
            ls.check()?;
            ls.resolve(plan).map(Changes::Links)
        }
        Request::InterconnectSet(is) => is.resolve(plan).map(Changes::Interconnects),
    }
}

/// The answer to a request that failed.
pub fn refuse(message: impl ToString) -> Answer {
    Answer::Error {
        message: message.to_string(),
    }
}

/// Carries out a request datagram on the engine in one go (the forwarder
/// splits this to compute routes off its thread): checks it, applies it, and
/// answers (`apply_us` is left 0 for the caller, which holds the clock).
/// Returns whether anything changed.
pub fn handle(engine: &mut Engine, plan: &AddressPlan, bytes: &[u8]) -> (Answer, bool) {
    let result = changes(plan, bytes)
        .map_err(refuse)
        .and_then(|c| prepare(engine, &c).map_err(refuse));
    match result {
        Ok((pending, job)) => {
            let interconnects = pending.interconnects().to_vec();
            let table = job.map(|j| engine.route_base().run(&j));
            let links = engine.commit(pending, table);
            (answer_ok(engine, links, &interconnects, 0.0), true)
        }
        Err(answer) => (answer, false),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use topology::testkit::Kit;

    fn lab(kit: Kit) -> (AddressPlan, Engine) {
        let plan = AddressPlan::new(&kit.topo, "t").unwrap();
        let engine = Engine::new(&kit.topo, &plan, 7, 0);
        (plan, engine)
    }

    /// a -- b, c -- a (listed c first), and d on its own.
    fn sites() -> (AddressPlan, Engine) {
        lab(Kit::new(&[])
            .cities(&["a", "b", "c", "d"])
            .link("a", "b", 5.0, 5.0)
            .link("c", "a", 3.0, 4.0))
    }

    /// x -- z on carrier t (8 ms) and on carrier u (9 ms).
    fn carriers() -> (AddressPlan, Engine) {
        lab(Kit::new(&["t", "u"])
            .cities(&["x", "z"])
            .link_via("x", "z", "t", 8.0, 8.0)
            .link_via("x", "z", "u", 9.0, 9.0))
    }

    fn req(a: &str, b: &str, network: Option<&str>, change: LinkChange) -> Vec<u8> {
        serde_json::to_vec(&Request::LinkSet(LinkSet {
            a: a.into(),
            b: b.into(),
            network: network.map(String::from),
            change,
        }))
        .unwrap()
    }

    fn delays(f: f64, r: f64) -> LinkChange {
        LinkChange {
            forward_ms: Some(f),
            reverse_ms: Some(r),
            ..LinkChange::default()
        }
    }

    fn error_of(answer: Answer) -> String {
        match answer {
            Answer::Error { message } => message,
            Answer::Ok { .. } => panic!("expected an error, got {answer:?}"),
        }
    }

    #[test]
    fn the_wire_form_is_as_documented() {
        let text = r#"{"op": "link_set", "a": "a", "b": "b", "network": null,
            "change": {"forward_ms": 20, "reverse_ms": 5, "loss_pct": 1, "up": false}}"#;
        let Request::LinkSet(ls) = parse_request(text.as_bytes()).unwrap() else {
            panic!("not a link_set")
        };
        assert_eq!((ls.a.as_str(), ls.b.as_str(), ls.network), ("a", "b", None));
        assert_eq!(
            ls.change,
            LinkChange {
                forward_ms: Some(20.0),
                reverse_ms: Some(5.0),
                loss_pct: Some(1.0),
                up: Some(false)
            }
        );
        let ok = serde_json::to_value(Answer::Ok {
            links: vec![],
            interconnects: vec![],
            apply_us: 3.0,
        })
        .unwrap();
        assert_eq!(ok["result"], "ok");
        let err = serde_json::to_value(Answer::Error {
            message: "x".into(),
        })
        .unwrap();
        assert_eq!(
            (&err["result"], &err["message"]),
            (&"error".into(), &"x".into())
        );
    }

    #[test]
    fn directions_follow_the_request_not_the_file() {
        let (plan, mut e) = sites();
        // The file lists c -- a; the request says a -> c is 10, c -> a 20.
        let (answer, changed) = handle(&mut e, &plan, &req("a", "c", None, delays(10.0, 20.0)));
        assert!(changed);
        let Answer::Ok { links, .. } = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].link, 1);
        assert_eq!(links[0].between, ["c".to_string(), "a".to_string()]);
        assert_eq!(
            (links[0].current.forward_ms, links[0].current.reverse_ms),
            (20.0, 10.0)
        );
        // Written in the file's order, the same numbers land the other way.
        let (_, _) = handle(&mut e, &plan, &req("c", "a", None, delays(10.0, 20.0)));
        let st = e.link_state(1).unwrap();
        assert_eq!((st.current.forward_ms, st.current.reverse_ms), (10.0, 20.0));
    }

    #[test]
    fn network_picks_one_carrier_and_none_means_all() {
        let (plan, mut e) = carriers();
        let down = LinkChange {
            up: Some(false),
            ..LinkChange::default()
        };
        let (answer, _) = handle(&mut e, &plan, &req("z", "x", Some("u"), down));
        let Answer::Ok { links, .. } = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(links.iter().map(|l| l.link).collect::<Vec<_>>(), [1]);
        assert_eq!(links[0].network.as_deref(), Some("u"));
        assert_eq!(e.overrides().len(), 1);
        let (answer, _) = handle(&mut e, &plan, &req("x", "z", None, down));
        let Answer::Ok { links, .. } = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(links.iter().map(|l| l.link).collect::<Vec<_>>(), [0, 1]);
        assert!(links.iter().all(|l| l.down));
        let (answer, changed) = handle(&mut e, &plan, &req("x", "z", Some("v"), down));
        assert_eq!(error_of(answer), r#"no network "v" (networks: t, u)"#);
        assert!(!changed);
    }

    #[test]
    fn bad_requests_are_answered_and_change_nothing() {
        let (plan, mut e) = sites();
        let d = delays(1.0, 1.0);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (req("a", "q", None, d), r#"no site "q" (sites: a, b, c, d)"#),
            (req("a", "d", None, d), "no link between a and d"),
            (
                req("a", "b", Some("t"), d),
                r#"no network "t": the topology declares no networks"#,
            ),
            (
                req("a", "b", None, LinkChange::default()),
                "nothing to change",
            ),
            (
                req("a", "b", None, delays(-1.0, 1.0)),
                "bad delay -1 ms from a to b: expected 0 to 60000 ms",
            ),
            (
                req("a", "b", None, delays(1.0, 1e9)),
                "bad delay 1000000000 ms from b to a",
            ),
            (
                req(
                    "a",
                    "b",
                    None,
                    LinkChange {
                        loss_pct: Some(100.5),
                        ..LinkChange::default()
                    },
                ),
                "bad loss 100.5 %",
            ),
            (b"{".to_vec(), "malformed request"),
            (b"\xff\xfe".to_vec(), "malformed request"),
            (br#"{"op": "reboot"}"#.to_vec(), "malformed request"),
            (
                br#"{"op": "link_set", "a": "a", "b": "b", "change": {}, "x": 1}"#.to_vec(),
                "malformed request",
            ),
            (
                br#"{"op": "link_set", "a": "a", "b": "b", "change": {"delay": 1}}"#.to_vec(),
                "malformed request",
            ),
            (vec![b' '; MAX_MESSAGE], "malformed request"),
        ];
        for (bytes, want) in cases {
            let (answer, changed) = handle(&mut e, &plan, &bytes);
            let msg = error_of(answer);
            assert!(msg.starts_with(want), "{msg:?} should start with {want:?}");
            assert!(!changed);
        }
        assert!(e.overrides().is_empty());
    }

    /// x -- z on t (8 ms) and u (9 ms); y -- x on t and u (1 ms each);
    /// carriers meet at x (0.3 ms) and at z (0.5 ms).
    fn exchanges() -> (AddressPlan, Engine) {
        let yaml = "version: 1
sites:
  - {id: x, kind: city, location: [25, 102.7]}
  - {id: y, kind: city, location: [25.5, 102.7]}
  - {id: z, kind: city, location: [30.6, 104.1]}
networks:
  - {id: t}
  - {id: u}
links:
  - {between: [x, z], network: t, delay_ms: 8}
  - {between: [x, z], network: u, delay_ms: 9}
  - {between: [y, x], network: t, delay_ms: 1}
  - {between: [y, x], network: u, delay_ms: 1}
interconnects:
  - {site: x, kind: backbone-direct-connect, networks: [t, u], delay_ms: 0.3}
  - {site: z, kind: internet-exchange, networks: [t, u], delay_ms: 0.5}
";
        let topo = topology::load::from_str(yaml, "t.yaml").unwrap();
        let plan = AddressPlan::new(&topo, "t").unwrap();
        let engine = Engine::new(&topo, &plan, 7, 0);
        (plan, engine)
    }

    /// A UDP packet from `src` to `dst`.
    fn udp(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        crate::wire::Ipv4Packet::new_checked(&mut p[..])
            .unwrap()
            .fill_checksum();
        p
    }

    fn ix_req(site: &str, up: bool) -> Vec<u8> {
        serde_json::to_vec(&Request::InterconnectSet(InterconnectSet {
            site: site.into(),
            up,
        }))
        .unwrap()
    }

    #[test]
    fn an_interconnect_goes_down_whole_and_traffic_crosses_at_the_next() {
        let (plan, mut e) = exchanges();
        let text = r#"{"op": "interconnect_set", "site": "x", "up": false}"#;
        assert_eq!(
            parse_request(text.as_bytes()).unwrap(),
            Request::InterconnectSet(InterconnectSet {
                site: "x".into(),
                up: false
            })
        );
        let yt = plan.endpoint("y@t").unwrap().address.octets();
        let yu = plan.endpoint("y@u").unwrap().address.octets();
        let ms = 1_000_000u64;
        // y@t -> y@u crosses at x: 1 + 0.3 + 1 ms.
        let y = plan.sites.iter().position(|s| s.id == "y").unwrap();
        let delivered = |e: &mut Engine, at: u64| {
            e.ingress(y, &udp(yt, yu), at);
            let mut due = None;
            while let Some(t) = e.next_deadline() {
                e.poll(t, &mut |_, _: &[u8], d| due = Some(d));
            }
            due
        };
        assert_eq!(delivered(&mut e, 0), Some(2 * ms + 3 * ms / 10));
        let (answer, changed) = handle(&mut e, &plan, text.as_bytes());
        assert!(changed);
        let Answer::Ok { interconnects, .. } = &answer else {
            panic!("{answer:?}")
        };
        assert_eq!(interconnects.len(), 1);
        assert_eq!(
            (interconnects[0].site.as_str(), interconnects[0].down),
            ("x", true)
        );
        assert_eq!(
            interconnects[0].networks,
            ["t".to_string(), "u".to_string()]
        );
        assert_eq!(e.interconnects_down().len(), 1);
        // Now across at z: 1 + 8 + 0.5 + 9 + 1 ms.
        assert_eq!(
            delivered(&mut e, 100 * ms),
            Some(100 * ms + 19 * ms + ms / 2)
        );
        let (answer, _) = handle(&mut e, &plan, &ix_req("x", true));
        assert!(matches!(answer, Answer::Ok { .. }));
        assert!(e.interconnects_down().is_empty());
        assert_eq!(
            delivered(&mut e, 200 * ms),
            Some(200 * ms + 2 * ms + 3 * ms / 10)
        );
        // Both down: no crossing left.
        handle(&mut e, &plan, &ix_req("x", false));
        handle(&mut e, &plan, &ix_req("z", false));
        assert_eq!(delivered(&mut e, 300 * ms), None);
        assert_eq!(e.interconnects_down().len(), 2);
        // Links are untouched.
        assert!(e.overrides().is_empty());
    }

    #[test]
    fn an_interconnect_request_for_a_site_without_one_is_refused() {
        let (plan, mut e) = exchanges();
        let (answer, changed) = handle(&mut e, &plan, &ix_req("y", false));
        assert_eq!(error_of(answer), "no interconnect at y");
        assert!(!changed);
        let (answer, _) = handle(&mut e, &plan, &ix_req("q", false));
        assert!(error_of(answer).starts_with(r#"no site "q""#));
        let (answer, _) = handle(&mut e, &plan, br#"{"op": "interconnect_set", "site": "x"}"#);
        assert!(error_of(answer).starts_with("malformed request"));
        assert!(e.interconnects_down().is_empty());
    }

    #[test]
    fn nan_is_rejected_by_the_check() {
        // JSON has no NaN: the client checks before it sends.
        let ls = LinkSet {
            a: "a".into(),
            b: "b".into(),
            network: None,
            change: LinkChange {
                forward_ms: Some(f64::NAN),
                ..LinkChange::default()
            },
        };
        assert!(matches!(ls.check(), Err(ControlError::BadDelay { .. })));
        let ls = LinkSet {
            change: LinkChange {
                loss_pct: Some(f64::NAN),
                ..LinkChange::default()
            },
            ..ls
        };
        assert!(matches!(ls.check(), Err(ControlError::BadLoss(_))));
    }

    proptest! {
        #[test]
        fn any_bytes_get_an_answer(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let (plan, mut e) = sites();
            let _ = handle(&mut e, &plan, &bytes);
        }

        #[test]
        fn any_json_request_gets_an_answer(
            a in "[xyz]", b in "[xyz]", net in prop::option::of("[tu]"),
            f in prop::option::of(-10.0f64..100.0), r in prop::option::of(-10.0f64..100.0),
            loss in prop::option::of(-10.0f64..120.0), up in prop::option::of(any::<bool>()),
        ) {
            let (plan, mut e) = carriers();
            let change = LinkChange { forward_ms: f, reverse_ms: r, loss_pct: loss, up };
            let (answer, changed) = handle(&mut e, &plan, &req(&a, &b, net.as_deref(), change));
            prop_assert_eq!(changed, matches!(answer, Answer::Ok { .. }));
        }
    }
}

//! The validated topology model: what every other module (routing, budgets,
//! analysis, netlab, controller) works on. Built only by `load` from file text or
//! the embedded national topology, so every value here has passed validation.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// Whether a hub region's clusters serve real-time work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HubRole {
    Realtime,
    NonRealtime,
}

impl HubRole {
    pub fn as_str(self) -> &'static str {
        match self {
            HubRole::Realtime => "realtime",
            HubRole::NonRealtime => "non-realtime",
        }
    }
}

/// A hub region of the national plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hub {
    pub id: String,
    pub name: Option<String>,
    pub role: HubRole,
}

/// What a site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteKind {
    Cluster,
    City,
    Edge,
    Router,
}

impl SiteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Cluster => "cluster",
            SiteKind::City => "city",
            SiteKind::Edge => "edge",
            SiteKind::Router => "router",
        }
    }
}

/// Latitude and longitude in degrees (validated: lat in [-90, 90], lon in [-180, 180]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// A place with a network presence: a cluster, a city, an edge data centre or a router.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub id: String,
    pub name: Option<String>,
    pub kind: SiteKind,
    pub hub: Option<String>,
    /// For edge sites: the city site they serve.
    pub serves: Option<String>,
    pub location: LatLon,
    /// Carriers present here (indices into `Topology::networks`); all when the file
    /// does not say. Empty when the topology declares no networks.
    pub networks: Vec<usize>,
    /// Addresses by which the site is known (hosts, router interfaces): used to
    /// name traceroute hops and as ICMP targets for sites without a probe.
    pub addresses: Vec<IpAddr>,
}

/// A carrier with its own backbone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub id: String,
    pub name: Option<String>,
}

/// How a link's delay was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelaySource {
    /// `delay_ms` given in the file.
    Configured,
    /// From great-circle distance x route factor x fibre delay.
    Distance { route_factor: f64 },
}

/// A link between two sites. `forward_ms` is the one-way delay from `a` to `b`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// Index into `Topology::sites`.
    pub a: usize,
    /// Index into `Topology::sites`.
    pub b: usize,
    /// Index into `Topology::networks`; `None` when the topology declares no networks.
    pub network: Option<usize>,
    pub forward_ms: f64,
    pub reverse_ms: f64,
    pub delay_source: DelaySource,
    pub jitter_ms: f64,
    pub loss_pct: f64,
    pub rate_mbit: Option<f64>,
}

/// Kind of a place where carriers exchange traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterconnectKind {
    BackboneDirectConnect,
    InternetExchange,
    Private,
}

impl InterconnectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InterconnectKind::BackboneDirectConnect => "backbone-direct-connect",
            InterconnectKind::InternetExchange => "internet-exchange",
            InterconnectKind::Private => "private",
        }
    }
}

/// A place where traffic changes network: every listed network reaches every
/// other here, adding `delay_ms` one way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interconnect {
    /// Index into `Topology::sites`.
    pub site: usize,
    pub kind: InterconnectKind,
    /// Indices into `Topology::networks` (at least two).
    pub networks: Vec<usize>,
    pub delay_ms: f64,
}

/// Which pairs a budget rule relates beyond what each end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// Any two different endpoints.
    Any,
    /// Both sites in the same hub region.
    SameHub,
    /// Sites in different hub regions (both must have a hub).
    DifferentHub,
    /// The same city: the same site on two networks, an edge and the city it
    /// serves, or two edges serving one city.
    SameCity,
    /// The `from` end is an edge site serving the `to` end (or the reverse).
    Serves,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Any => "any",
            Relation::SameHub => "same-hub",
            Relation::DifferentHub => "different-hub",
            Relation::SameCity => "same-city",
            Relation::Serves => "serves",
        }
    }
}

/// What one end of a budget rule matches; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndMatch {
    pub kind: Option<SiteKind>,
    /// Index into `Topology::hubs`.
    pub hub: Option<usize>,
    pub hub_role: Option<HubRole>,
}

/// A one-way latency budget over a class of site pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetRule {
    pub name: String,
    pub from: EndMatch,
    pub to: EndMatch,
    pub relation: Relation,
    pub one_way_ms: f64,
    /// Which percentile of measured one-way delay is held to the limit.
    pub percentile: f64,
    /// Whether the rule also covers `to` -> `from` (default true).
    pub both_directions: bool,
}

/// The budget rules in force and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budgets {
    /// Preset name, or `None` for rules written out in a file.
    pub preset: Option<String>,
    pub rules: Vec<BudgetRule>,
}

/// A whole validated topology. Cross references are indices, checked at load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    pub hubs: Vec<Hub>,
    pub sites: Vec<Site>,
    pub networks: Vec<Network>,
    pub links: Vec<Link>,
    pub interconnects: Vec<Interconnect>,
    pub budgets: Budgets,
}

impl Topology {
    pub fn site_index(&self, id: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.id == id)
    }
    pub fn hub_index(&self, id: &str) -> Option<usize> {
        self.hubs.iter().position(|h| h.id == id)
    }
    pub fn network_index(&self, id: &str) -> Option<usize> {
        self.networks.iter().position(|n| n.id == id)
    }
    /// The hub of a site, resolved.
    pub fn hub_of(&self, site: usize) -> Option<&Hub> {
        let hub = self.sites[site].hub.as_deref()?;
        self.hubs.iter().find(|h| h.id == hub)
    }
}

/// A route endpoint: a site, on one network where networks are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub site: usize,
    pub network: Option<usize>,
}

impl Endpoint {
    /// `site` or `site@network`.
    pub fn name(&self, topo: &Topology) -> String {
        EndpointName {
            endpoint: *self,
            topo,
        }
        .to_string()
    }
}

struct EndpointName<'a> {
    endpoint: Endpoint,
    topo: &'a Topology,
}

impl fmt::Display for EndpointName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.topo.sites[self.endpoint.site].id)?;
        if let Some(n) = self.endpoint.network {
            write!(f, "@{}", self.topo.networks[n].id)?;
        }
        Ok(())
    }
}

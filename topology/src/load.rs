//! Builds the validated model from topology and budgets files: resolves every
//! cross reference to an index, fills in defaults (delays from distance, all
//! networks at a site) and reports the first mistake in the file with its line,
//! column and YAML path.

use crate::budgets;
use crate::error::LoadError;
use crate::geo;
use crate::model::{
    BudgetRule, Budgets, DelaySource, EndMatch, Hub, Interconnect, LatLon, Link, Network, Relation,
    Site, SiteKind, Topology,
};
use crate::yaml::{
    self, RawBudgets, RawBudgetsFile, RawDelay, RawEndMatch, RawHub, RawInterconnect, RawLink,
    RawNetwork, RawRule, RawSite, RawTopology, Seg,
    Seg::{Index, Key},
};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// Route factor of a link whose `delay_ms` is left out: the 2023 plan's target
/// for direct links (fibre path 1.5 times the great-circle distance).
pub const DEFAULT_ROUTE_FACTOR: f64 = 1.5;

/// One-way delay of an interconnect whose `delay_ms` is left out: carriers'
/// routers meeting across metro fibre within one city.
pub const DEFAULT_INTERCONNECT_DELAY_MS: f64 = 0.3;

/// Budgets of a topology file without `budgets:`.
pub const DEFAULT_BUDGET_PRESET: &str = "plan-2021";

/// How many problems are positioned to find the first one in the file: each
/// costs a partial re-parse, and a file with more is badly broken anyway.
const MAX_LOCATED: usize = 64;

/// Longest list of valid names quoted in an "expected one of" message.
const MAX_LISTED: usize = 12;

/// Reads and validates a topology file's text; `origin` names it in errors.
pub fn from_str(src: &str, origin: &str) -> Result<Topology, LoadError> {
    let raw = yaml::parse_topology(src, origin)?;
    if let Some(err) = yaml::version_error(src, origin, &raw.version) {
        return Err(err);
    }
    let mut issues = Issues::default();
    let topo = build(&raw, &mut issues);
    issues.finish(src, origin)?;
    Ok(topo)
}

/// Validates a topology that was parsed as part of a larger YAML document (the
/// controller's configuration has one under `topology:`): `base` is its path in
/// `src`, so errors name the position and path in that document.
pub fn from_raw_at(
    raw: &RawTopology,
    src: &str,
    origin: &str,
    base: &[Seg],
) -> Result<Topology, LoadError> {
    if let Some(err) = yaml::version_error_at(src, origin, &raw.version, base) {
        return Err(err);
    }
    let mut issues = Issues::default();
    let topo = build(raw, &mut issues);
    for issue in &mut issues.0 {
        issue.path.splice(0..0, base.iter().copied());
    }
    issues.finish(src, origin)?;
    Ok(topo)
}

/// Reads and validates a topology file.
pub fn from_file(path: &Path) -> Result<Topology, LoadError> {
    let origin = path.display().to_string();
    let src = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(origin.as_str(), format!("cannot read topology file: {e}")))?;
    from_str(&src, &origin)
}

/// A budgets file for `--budgets FILE`: either a YAML list of rules, or a mapping
/// with key `budgets:` (preset name or rule list). Resolved against `topo` (hub names).
pub fn budgets_from_str(src: &str, origin: &str, topo: &Topology) -> Result<Budgets, LoadError> {
    let raw = yaml::parse_budgets_file(src, origin)?;
    let mut issues = Issues::default();
    let hubs = Ids::new("hub", topo.hubs.iter().map(|h| h.id.as_str()));
    let budgets = match &raw {
        RawBudgetsFile::List(rules) => Budgets {
            preset: None,
            rules: build_rules(rules, &[], &hubs, &mut issues),
        },
        RawBudgetsFile::Keyed(b) => build_budgets(Some(b), &[Key("budgets")], &hubs, &mut issues),
    };
    issues.finish(src, origin)?;
    Ok(budgets)
}

/// `--budgets PRESET|FILE`: a preset name from budgets::PRESETS, else a file path.
pub fn budgets_arg(arg: &str, topo: &Topology) -> Result<Budgets, LoadError> {
    if let Some(b) = budgets::preset(arg) {
        return Ok(b);
    }
    match std::fs::read_to_string(Path::new(arg)) {
        Ok(src) => budgets_from_str(&src, arg, topo),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LoadError::new(
            arg,
            format!(
                "no such budget preset or file (presets: {})",
                budgets::PRESETS.join(", ")
            ),
        )),
        Err(e) => Err(LoadError::new(
            arg,
            format!("cannot read budgets file: {e}"),
        )),
    }
}

// ---------------------------------------------------------------------------
// Problems found after parsing, each at a YAML path.

struct Issue {
    path: Vec<Seg>,
    what: String,
}

/// The problems found so far, in checking order.
#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn add(&mut self, path: Vec<Seg>, what: impl Into<String>) {
        self.0.push(Issue {
            path,
            what: what.into(),
        });
    }

    /// `Ok` when there were no problems, else the one that comes first in the file.
    fn finish(self, src: &str, origin: &str) -> Result<(), LoadError> {
        let mut first: Option<((usize, usize), LoadError)> = None;
        let mut unplaced: Option<LoadError> = None;
        for issue in self.0.into_iter().take(MAX_LOCATED) {
            let message = match yaml::path_string(&issue.path) {
                p if p.is_empty() => issue.what,
                p => format!("{p}: {}", issue.what),
            };
            match yaml::locate(src, &issue.path) {
                Some(pos) if first.as_ref().is_none_or(|(best, _)| pos < *best) => {
                    first = Some((pos, LoadError::at(origin, pos.0, pos.1, message)));
                }
                Some(_) => {}
                None => {
                    unplaced.get_or_insert_with(|| LoadError::new(origin, message));
                }
            }
        }
        match (first, unplaced) {
            (Some((_, err)), _) | (None, Some(err)) => Err(err),
            (None, None) => Ok(()),
        }
    }
}

/// Extends a path by further steps.
fn at(base: &[Seg], more: &[Seg]) -> Vec<Seg> {
    base.iter().chain(more).copied().collect()
}

// ---------------------------------------------------------------------------
// Names and numbers.

/// Declared ids of one kind, resolving references to indices (the first
/// declaration wins when an id is declared twice; that is reported separately).
struct Ids<'a> {
    what: &'static str,
    order: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
}

impl<'a> Ids<'a> {
    fn new(what: &'static str, ids: impl Iterator<Item = &'a str>) -> Self {
        let mut order = Vec::new();
        let mut index = HashMap::new();
        for (i, id) in ids.enumerate() {
            order.push(id);
            index.entry(id).or_insert(i);
        }
        Ids { what, order, index }
    }

    fn get(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The index of `id`, or a problem at `path` naming the valid ids.
    fn resolve(&self, id: &str, path: Vec<Seg>, issues: &mut Issues) -> Option<usize> {
        let found = self.get(id);
        if found.is_none() {
            issues.add(
                path,
                format!("unknown {} {id:?} ({})", self.what, self.expected()),
            );
        }
        found
    }

    fn expected(&self) -> String {
        let mut unique: Vec<&str> = Vec::new();
        for id in &self.order {
            if !unique.contains(id) {
                unique.push(id);
            }
        }
        if unique.is_empty() {
            return format!("no {}s are declared", self.what);
        }
        let mut s = format!(
            "expected one of: {}",
            unique[..unique.len().min(MAX_LISTED)].join(", ")
        );
        if unique.len() > MAX_LISTED {
            s.push_str(&format!(", ... ({} more)", unique.len() - MAX_LISTED));
        }
        s
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks the syntax of each declared id and that none is declared twice.
fn check_ids<'a>(
    section: &'static str,
    what: &str,
    ids: impl Iterator<Item = &'a str>,
    issues: &mut Issues,
) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.enumerate() {
        let path = vec![Key(section), Index(i), Key("id")];
        if !valid_id(id) {
            issues.add(
                path,
                format!(
                    "invalid {what} id {id:?} (expected lowercase letters a-z, digits and '-')"
                ),
            );
            continue;
        }
        match first.entry(id) {
            Entry::Occupied(e) => issues.add(
                path,
                format!(
                    "duplicate {what} id {id:?} (first declared at {section}[{}])",
                    e.get()
                ),
            ),
            Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }
}

/// The values a number may take.
#[derive(Clone, Copy)]
enum Bound {
    Positive,
    NonNegative,
    Between(f64, f64),
    /// `(0, hi]`
    PositiveUpTo(f64),
}

impl Bound {
    fn holds(self, x: f64) -> bool {
        x.is_finite()
            && match self {
                Bound::Positive => x > 0.0,
                Bound::NonNegative => x >= 0.0,
                Bound::Between(lo, hi) => (lo..=hi).contains(&x),
                Bound::PositiveUpTo(hi) => x > 0.0 && x <= hi,
            }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Positive => f.write_str("> 0"),
            Bound::NonNegative => f.write_str(">= 0"),
            Bound::Between(lo, hi) => write!(f, "from {lo} to {hi}"),
            Bound::PositiveUpTo(hi) => write!(f, "> 0 and <= {hi}"),
        }
    }
}

/// Checks that `x` (a `what`, e.g. "delay in ms") lies within `bound`.
fn check_number(issues: &mut Issues, path: Vec<Seg>, what: &str, x: f64, bound: Bound) {
    if !bound.holds(x) {
        issues.add(path, format!("expected {what} {bound}, found {x}"));
    }
}

// ---------------------------------------------------------------------------
// The topology file.

fn build(raw: &RawTopology, issues: &mut Issues) -> Topology {
    let hubs = build_hubs(raw.hubs.as_deref().unwrap_or_default(), issues);
    let networks = build_networks(raw.networks.as_deref().unwrap_or_default(), issues);
    let sites = build_sites(
        raw.sites.as_deref().unwrap_or_default(),
        &hubs,
        &networks,
        issues,
    );
    let links = build_links(
        raw.links.as_deref().unwrap_or_default(),
        &sites,
        &networks,
        issues,
    );
    let interconnects = build_interconnects(
        raw.interconnects.as_deref().unwrap_or_default(),
        &sites,
        &networks,
        issues,
    );
    let hub_ids = Ids::new("hub", hubs.iter().map(|h| h.id.as_str()));
    let budgets = build_budgets(raw.budgets.as_ref(), &[Key("budgets")], &hub_ids, issues);
    Topology {
        hubs,
        sites,
        networks,
        links,
        interconnects,
        budgets,
    }
}

fn build_hubs(raw: &[RawHub], issues: &mut Issues) -> Vec<Hub> {
    check_ids("hubs", "hub", raw.iter().map(|h| h.id.as_str()), issues);
    raw.iter()
        .map(|h| Hub {
            id: h.id.clone(),
            name: h.name.clone(),
            role: h.role.into(),
        })
        .collect()
}

fn build_networks(raw: &[RawNetwork], issues: &mut Issues) -> Vec<Network> {
    check_ids(
        "networks",
        "network",
        raw.iter().map(|n| n.id.as_str()),
        issues,
    );
    raw.iter()
        .map(|n| Network {
            id: n.id.clone(),
            name: n.name.clone(),
        })
        .collect()
}

fn build_sites(
    raw: &[RawSite],
    hubs: &[Hub],
    networks: &[Network],
    issues: &mut Issues,
) -> Vec<Site> {
    check_ids("sites", "site", raw.iter().map(|s| s.id.as_str()), issues);
    let site_ids = Ids::new("site", raw.iter().map(|s| s.id.as_str()));
    let hub_ids = Ids::new("hub", hubs.iter().map(|h| h.id.as_str()));
    let net_ids = Ids::new("network", networks.iter().map(|n| n.id.as_str()));
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            let base = [Key("sites"), Index(i)];
            let path = |more: &[Seg]| at(&base, more);
            let kind = SiteKind::from(s.kind);
            if let Some(hub) = &s.hub {
                hub_ids.resolve(hub, path(&[Key("hub")]), issues);
            }
            match (&s.serves, kind) {
                (None, SiteKind::Edge) => issues.add(
                    path(&[]),
                    format!(
                        "edge site {:?} must name the city it serves (`serves: <city site id>`)",
                        s.id
                    ),
                ),
                (None, _) => {}
                (Some(_), SiteKind::Edge) => {}
                (Some(_), other) => issues.add(
                    path(&[Key("serves")]),
                    format!(
                        "only edge sites serve a city, and {:?} is a {}",
                        s.id,
                        other.as_str()
                    ),
                ),
            }
            if let (Some(city), SiteKind::Edge) = (&s.serves, kind) {
                if let Some(c) = site_ids.resolve(city, path(&[Key("serves")]), issues) {
                    let city_kind = SiteKind::from(raw[c].kind);
                    if city_kind != SiteKind::City {
                        issues.add(
                            path(&[Key("serves")]),
                            format!(
                                "site {city:?} is a {}, expected a site of kind city",
                                city_kind.as_str()
                            ),
                        );
                    }
                }
            }
            let location = LatLon {
                lat: s.location.lat,
                lon: s.location.lon,
            };
            check_number(
                issues,
                path(&[Key("location"), Index(0)]),
                "a latitude",
                location.lat,
                Bound::Between(-90.0, 90.0),
            );
            check_number(
                issues,
                path(&[Key("location"), Index(1)]),
                "a longitude",
                location.lon,
                Bound::Between(-180.0, 180.0),
            );
            let site_networks = match &s.networks {
                None => (0..networks.len()).collect(),
                Some(_) if networks.is_empty() => {
                    issues.add(
                        path(&[Key("networks")]),
                        "this topology declares no networks (leave `networks` out, or declare them under the top-level `networks:`)",
                    );
                    Vec::new()
                }
                Some(list) if list.is_empty() => {
                    issues.add(
                        path(&[Key("networks")]),
                        "a site must be on at least one network (leave `networks` out for all of them)",
                    );
                    Vec::new()
                }
                Some(list) => {
                    resolve_network_list(list, &path(&[Key("networks")]), &net_ids, issues)
                }
            };
            let mut addresses = Vec::new();
            for a in s.address.iter().chain(s.addresses.iter().flatten()) {
                if !addresses.contains(a) {
                    addresses.push(*a);
                }
            }
            Site {
                id: s.id.clone(),
                name: s.name.clone(),
                kind,
                hub: s.hub.clone(),
                serves: s.serves.clone(),
                location,
                networks: site_networks,
                addresses,
            }
        })
        .collect()
}

/// Resolves a list of network ids at `path`: each declared, none twice. Sorted
/// in declaration order.
fn resolve_network_list(
    list: &[String],
    path: &[Seg],
    nets: &Ids,
    issues: &mut Issues,
) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for (j, id) in list.iter().enumerate() {
        let p = at(path, &[Index(j)]);
        if let Some(n) = nets.resolve(id, p.clone(), issues) {
            if out.contains(&n) {
                issues.add(p, format!("network {id:?} is listed twice"));
            } else {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Names of a site's networks, for messages.
fn networks_of(site: &Site, networks: &[Network]) -> String {
    let names: Vec<&str> = site
        .networks
        .iter()
        .map(|&n| networks[n].id.as_str())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn build_links(
    raw: &[RawLink],
    sites: &[Site],
    networks: &[Network],
    issues: &mut Issues,
) -> Vec<Link> {
    let site_ids = Ids::new("site", sites.iter().map(|s| s.id.as_str()));
    let net_ids = Ids::new("network", networks.iter().map(|n| n.id.as_str()));
    // (lower site, higher site, network) -> index of the first link joining them.
    let mut seen: HashMap<(usize, usize, Option<usize>), usize> = HashMap::new();
    raw.iter()
        .enumerate()
        .map(|(i, l)| {
            let base = [Key("links"), Index(i)];
            let path = |more: &[Seg]| at(&base, more);
            let ends = [0, 1].map(|k| {
                site_ids.resolve(&l.between[k], path(&[Key("between"), Index(k)]), issues)
            });
            if let [Some(a), Some(b)] = ends {
                if a == b {
                    issues.add(
                        path(&[Key("between"), Index(1)]),
                        format!("a link joins two different sites, this one {:?} to itself", l.between[0]),
                    );
                }
            }

            // `Some(None)`: no networks declared; `None`: not resolved (reported).
            let network: Option<Option<usize>> = match (&l.network, networks.len()) {
                (None, 0) => Some(None),
                (Some(_), 0) => {
                    issues.add(
                        path(&[Key("network")]),
                        "this topology declares no networks (leave `network` out, or declare them under the top-level `networks:`)",
                    );
                    None
                }
                (None, 1) => Some(Some(0)),
                (None, _) => {
                    issues.add(
                        path(&[]),
                        format!(
                            "`network` is required when several networks are declared ({})",
                            net_ids.expected()
                        ),
                    );
                    None
                }
                (Some(n), _) => net_ids.resolve(n, path(&[Key("network")]), issues).map(Some),
            };
            if let Some(Some(n)) = network {
                for s in ends.iter().flatten() {
                    let site = &sites[*s];
                    if !site.networks.contains(&n) {
                        issues.add(
                            path(&[Key("network")]),
                            format!(
                                "network {:?} is not present at site {:?} (its networks: {})",
                                networks[n].id,
                                site.id,
                                networks_of(site, networks)
                            ),
                        );
                        break;
                    }
                }
            }
            if let ([Some(a), Some(b)], Some(net)) = (ends, network) {
                if a != b {
                    match seen.entry((a.min(b), a.max(b), net)) {
                        Entry::Occupied(e) => {
                            let on = net
                                .map(|n| format!(" on network {:?}", networks[n].id))
                                .unwrap_or_default();
                            issues.add(
                                path(&[Key("between")]),
                                format!(
                                    "duplicate link: links[{}] already joins {:?} and {:?}{on}",
                                    e.get(),
                                    sites[a].id,
                                    sites[b].id
                                ),
                            );
                        }
                        Entry::Vacant(e) => {
                            e.insert(i);
                        }
                    }
                }
            }

            if let Some(rf) = l.route_factor {
                check_number(issues, path(&[Key("route_factor")]), "a route factor", rf, Bound::Positive);
            }
            let (forward_ms, reverse_ms, delay_source) = match l.delay_ms {
                Some(RawDelay::Both(d)) => {
                    check_number(issues, path(&[Key("delay_ms")]), "a delay in ms", d, Bound::Positive);
                    (d, d, DelaySource::Configured)
                }
                Some(RawDelay::Split { forward, reverse }) => {
                    for (key, d) in [("forward", forward), ("reverse", reverse)] {
                        check_number(
                            issues,
                            path(&[Key("delay_ms"), Key(key)]),
                            "a delay in ms",
                            d,
                            Bound::Positive,
                        );
                    }
                    (forward, reverse, DelaySource::Configured)
                }
                None => {
                    let route_factor = l.route_factor.unwrap_or(DEFAULT_ROUTE_FACTOR);
                    let d = match ends {
                        [Some(a), Some(b)] => geo::fibre_delay_ms(
                            geo::great_circle_km(sites[a].location, sites[b].location),
                            route_factor,
                        ),
                        _ => 0.0,
                    };
                    (d, d, DelaySource::Distance { route_factor })
                }
            };
            let jitter_ms = l.jitter_ms.unwrap_or(0.0);
            check_number(issues, path(&[Key("jitter_ms")]), "a jitter in ms", jitter_ms, Bound::NonNegative);
            let loss_pct = l.loss_pct.unwrap_or(0.0);
            check_number(
                issues,
                path(&[Key("loss_pct")]),
                "a loss in percent",
                loss_pct,
                Bound::Between(0.0, 100.0),
            );
            if let Some(rate) = l.rate_mbit {
                check_number(issues, path(&[Key("rate_mbit")]), "a rate in Mbit/s", rate, Bound::Positive);
            }
            Link {
                a: ends[0].unwrap_or(0),
                b: ends[1].unwrap_or(0),
                network: network.flatten(),
                forward_ms,
                reverse_ms,
                delay_source,
                jitter_ms,
                loss_pct,
                rate_mbit: l.rate_mbit,
            }
        })
        .collect()
}

fn build_interconnects(
    raw: &[RawInterconnect],
    sites: &[Site],
    networks: &[Network],
    issues: &mut Issues,
) -> Vec<Interconnect> {
    let site_ids = Ids::new("site", sites.iter().map(|s| s.id.as_str()));
    let net_ids = Ids::new("network", networks.iter().map(|n| n.id.as_str()));
    raw.iter()
        .enumerate()
        .map(|(i, x)| {
            let base = [Key("interconnects"), Index(i)];
            let path = |more: &[Seg]| at(&base, more);
            let site = site_ids.resolve(&x.site, path(&[Key("site")]), issues);
            let nets = if networks.is_empty() {
                issues.add(
                    path(&[Key("networks")]),
                    "interconnects join networks, and this topology declares none (declare the carriers under the top-level `networks:`)",
                );
                Vec::new()
            } else {
                let list_path = path(&[Key("networks")]);
                let nets = resolve_network_list(&x.networks, &list_path, &net_ids, issues);
                if x.networks.len() < 2 {
                    issues.add(
                        list_path,
                        format!(
                            "an interconnect joins at least two networks, found {}",
                            x.networks.len()
                        ),
                    );
                }
                if let Some(s) = site {
                    for (j, id) in x.networks.iter().enumerate() {
                        if let Some(n) = net_ids.get(id) {
                            if !sites[s].networks.contains(&n) {
                                issues.add(
                                    path(&[Key("networks"), Index(j)]),
                                    format!(
                                        "network {id:?} is not present at site {:?} (its networks: {})",
                                        sites[s].id,
                                        networks_of(&sites[s], networks)
                                    ),
                                );
                            }
                        }
                    }
                }
                nets
            };
            let delay_ms = x.delay_ms.unwrap_or(DEFAULT_INTERCONNECT_DELAY_MS);
            check_number(issues, path(&[Key("delay_ms")]), "a delay in ms", delay_ms, Bound::NonNegative);
            Interconnect {
                site: site.unwrap_or(0),
                kind: x.kind.into(),
                networks: nets,
                delay_ms,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Budgets, in a topology file or a budgets file.

fn build_budgets(
    raw: Option<&RawBudgets>,
    base: &[Seg],
    hubs: &Ids,
    issues: &mut Issues,
) -> Budgets {
    let empty = || Budgets {
        preset: None,
        rules: Vec::new(),
    };
    match raw {
        None => budgets::preset(DEFAULT_BUDGET_PRESET).unwrap_or_else(empty),
        Some(RawBudgets::Preset(name)) => budgets::preset(name).unwrap_or_else(|| {
            issues.add(
                base.to_vec(),
                format!(
                    "unknown budget preset {name:?} (expected one of: {}, or a list of rules)",
                    budgets::PRESETS.join(", ")
                ),
            );
            empty()
        }),
        Some(RawBudgets::Rules(rules)) => Budgets {
            preset: None,
            rules: build_rules(rules, base, hubs, issues),
        },
    }
}

fn build_rules(raw: &[RawRule], base: &[Seg], hubs: &Ids, issues: &mut Issues) -> Vec<BudgetRule> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            let path = |more: &[Seg]| at(&at(base, &[Index(i)]), more);
            let shown = yaml::path_string(&at(base, &[]));
            if r.name.trim().is_empty() {
                issues.add(path(&[Key("name")]), "expected a non-empty rule name");
            } else {
                match names.entry(&r.name) {
                    Entry::Occupied(e) => issues.add(
                        path(&[Key("name")]),
                        format!(
                            "duplicate rule name {:?} (first used at {shown}[{}])",
                            r.name,
                            e.get()
                        ),
                    ),
                    Entry::Vacant(e) => {
                        e.insert(i);
                    }
                }
            }
            let mut end = |m: Option<&RawEndMatch>, key: &'static str| {
                let m = m.map(|m| (m.kind, m.hub.as_deref(), m.hub_role));
                let (kind, hub, hub_role) = m.unwrap_or((None, None, None));
                EndMatch {
                    kind: kind.map(SiteKind::from),
                    hub: hub.and_then(|h| hubs.resolve(h, path(&[Key(key), Key("hub")]), issues)),
                    hub_role: hub_role.map(Into::into),
                }
            };
            let from = end(r.from.as_ref(), "from");
            let to = end(r.to.as_ref(), "to");
            check_number(
                issues,
                path(&[Key("one_way_ms")]),
                "a one-way limit in ms",
                r.one_way_ms,
                Bound::Positive,
            );
            let percentile = r.percentile.unwrap_or(budgets::PRESET_PERCENTILE);
            check_number(
                issues,
                path(&[Key("percentile")]),
                "a percentile",
                percentile,
                Bound::PositiveUpTo(100.0),
            );
            BudgetRule {
                name: r.name.clone(),
                from,
                to,
                relation: r.relation.map_or(Relation::Any, Into::into),
                one_way_ms: r.one_way_ms,
                percentile,
                both_directions: r.both_directions.unwrap_or(true),
            }
        })
        .collect()
}

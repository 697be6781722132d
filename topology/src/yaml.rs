//! The YAML side of the topology file format (version 1): the raw file structures
//! as written, parsing them, and finding the line and column of any value by its
//! path. This is the only module that uses `serde_yaml`; `load` turns the raw
//! structures into the validated model.

use crate::error::LoadError;
use crate::model::{HubRole, InterconnectKind, Relation, SiteKind};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;

/// One step of a path into the YAML document: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg {
    Key(&'static str),
    Index(usize),
}

/// `sites[3].hub` for `[Key("sites"), Index(3), Key("hub")]`; empty for the root.
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Raw file structures: what the file says, before cross references are checked.

/// A whole topology file as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a topology mapping with `version: 1` and hubs, sites, networks, links, interconnects, budgets"
)]
pub struct RawTopology {
    pub version: RawVersion,
    #[serde(default)]
    pub hubs: Option<Vec<RawHub>>,
    #[serde(default)]
    pub sites: Option<Vec<RawSite>>,
    #[serde(default)]
    pub networks: Option<Vec<RawNetwork>>,
    #[serde(default)]
    pub links: Option<Vec<RawLink>>,
    #[serde(default)]
    pub interconnects: Option<Vec<RawInterconnect>>,
    #[serde(default)]
    pub budgets: Option<RawBudgets>,
}

/// The `version:` value, kept loose so that an unsupported version is reported as
/// such rather than as a type error.
#[derive(Debug, Clone, PartialEq)]
pub enum RawVersion {
    Number(u64),
    /// Anything else, as it would be written back.
    Other(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a hub mapping {id, name, role}")]
pub struct RawHub {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub role: RawHubRole,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawHubRole {
    Realtime,
    NonRealtime,
}

impl From<RawHubRole> for HubRole {
    fn from(r: RawHubRole) -> Self {
        match r {
            RawHubRole::Realtime => HubRole::Realtime,
            RawHubRole::NonRealtime => HubRole::NonRealtime,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a site mapping {id, name, kind, hub, serves, location, networks, address, addresses}"
)]
pub struct RawSite {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: RawSiteKind,
    #[serde(default)]
    pub hub: Option<String>,
    #[serde(default)]
    pub serves: Option<String>,
    pub location: RawLatLon,
    #[serde(default)]
    pub networks: Option<Vec<String>>,
    #[serde(default)]
    pub address: Option<IpAddr>,
    #[serde(default)]
    pub addresses: Option<Vec<IpAddr>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawSiteKind {
    Cluster,
    City,
    Edge,
    Router,
}

impl From<RawSiteKind> for SiteKind {
    fn from(k: RawSiteKind) -> Self {
        match k {
            RawSiteKind::Cluster => SiteKind::Cluster,
            RawSiteKind::City => SiteKind::City,
            RawSiteKind::Edge => SiteKind::Edge,
            RawSiteKind::Router => SiteKind::Router,
        }
    }
}

/// `[lat, lon]` in degrees, not yet range checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawLatLon {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a network mapping {id, name}")]
pub struct RawNetwork {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a link mapping {between, network, delay_ms, route_factor, jitter_ms, loss_pct, rate_mbit}"
)]
pub struct RawLink {
    pub between: [String; 2],
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<RawDelay>,
    #[serde(default)]
    pub route_factor: Option<f64>,
    #[serde(default)]
    pub jitter_ms: Option<f64>,
    #[serde(default)]
    pub loss_pct: Option<f64>,
    #[serde(default)]
    pub rate_mbit: Option<f64>,
}

/// `delay_ms: 9.1` or `delay_ms: {forward: 3, reverse: 7}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawDelay {
    Both(f64),
    Split { forward: f64, reverse: f64 },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "{forward: ms, reverse: ms}")]
struct RawSplitDelay {
    forward: f64,
    reverse: f64,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an interconnect mapping {site, kind, networks, delay_ms}"
)]
pub struct RawInterconnect {
    pub site: String,
    pub kind: RawInterconnectKind,
    pub networks: Vec<String>,
    #[serde(default)]
    pub delay_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawInterconnectKind {
    BackboneDirectConnect,
    InternetExchange,
    Private,
}

impl From<RawInterconnectKind> for InterconnectKind {
    fn from(k: RawInterconnectKind) -> Self {
        match k {
            RawInterconnectKind::BackboneDirectConnect => InterconnectKind::BackboneDirectConnect,
            RawInterconnectKind::InternetExchange => InterconnectKind::InternetExchange,
            RawInterconnectKind::Private => InterconnectKind::Private,
        }
    }
}

/// `budgets:` is a preset name or a list of rules.
#[derive(Debug)]
pub enum RawBudgets {
    Preset(String),
    Rules(Vec<RawRule>),
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a budget rule mapping {name, from, to, relation, one_way_ms, percentile, both_directions}"
)]
pub struct RawRule {
    pub name: String,
    #[serde(default)]
    pub from: Option<RawEndMatch>,
    #[serde(default)]
    pub to: Option<RawEndMatch>,
    #[serde(default)]
    pub relation: Option<RawRelation>,
    pub one_way_ms: f64,
    #[serde(default)]
    pub percentile: Option<f64>,
    #[serde(default)]
    pub both_directions: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule end mapping {kind, hub, hub_role}"
)]
pub struct RawEndMatch {
    #[serde(default)]
    pub kind: Option<RawSiteKind>,
    #[serde(default)]
    pub hub: Option<String>,
    #[serde(default)]
    pub hub_role: Option<RawHubRole>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawRelation {
    Any,
    SameHub,
    DifferentHub,
    SameCity,
    Serves,
}

impl From<RawRelation> for Relation {
    fn from(r: RawRelation) -> Self {
        match r {
            RawRelation::Any => Relation::Any,
            RawRelation::SameHub => Relation::SameHub,
            RawRelation::DifferentHub => Relation::DifferentHub,
            RawRelation::SameCity => Relation::SameCity,
            RawRelation::Serves => Relation::Serves,
        }
    }
}

/// A budgets file (`--budgets FILE`): a bare list of rules, or a mapping with a
/// `budgets:` key holding a preset name or a list of rules.
#[derive(Debug)]
pub enum RawBudgetsFile {
    /// A list of rules at the top level (paths start at the list).
    List(Vec<RawRule>),
    /// `budgets: ...` (paths start at the `budgets` key).
    Keyed(RawBudgets),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with a `budgets:` key")]
struct KeyedBudgets {
    budgets: RawBudgets,
}

// ---------------------------------------------------------------------------
// Hand-written deserializers for the values that have more than one shape, so
// that a mistake gets a message saying which shapes are allowed.

impl<'de> Deserialize<'de> for RawVersion {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawVersion, E> {
                Ok(RawVersion::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawVersion, E> {
                Ok(match u64::try_from(v) {
                    Ok(v) => RawVersion::Number(v),
                    Err(_) => RawVersion::Other(v.to_string()),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawVersion, E> {
                Ok(RawVersion::Other(format!("{v:?}")))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawVersion, E> {
                Ok(RawVersion::Other(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawVersion, E> {
                Ok(RawVersion::Other(format!("{v:?}")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawVersion, E> {
                Ok(RawVersion::Other("null".to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawLatLon {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLatLon;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[latitude, longitude] in degrees")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawLatLon, A::Error> {
                let lat = seq
                    .next_element::<f64>()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let lon = seq
                    .next_element::<f64>()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let mut len = 2;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    len += 1;
                }
                if len != 2 {
                    return Err(de::Error::invalid_length(len, &self));
                }
                Ok(RawLatLon { lat, lon })
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for RawDelay {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDelay;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a one-way delay in ms, or {forward: ms, reverse: ms}")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDelay, E> {
                Ok(RawDelay::Both(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDelay, E> {
                Ok(RawDelay::Both(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDelay, E> {
                Ok(RawDelay::Both(v as f64))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDelay, A::Error> {
                let s = RawSplitDelay::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawDelay::Split {
                    forward: s.forward,
                    reverse: s.reverse,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawBudgets {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawBudgets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a budget preset name ({}) or a list of budget rules",
                    crate::budgets::PRESETS.join(", ")
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawBudgets, E> {
                Ok(RawBudgets::Preset(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawBudgets, A::Error> {
                let rules =
                    Vec::<RawRule>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(RawBudgets::Rules(rules))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawBudgetsFile {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawBudgetsFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of budget rules, or a mapping with a `budgets:` key")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawBudgetsFile, A::Error> {
                let rules =
                    Vec::<RawRule>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(RawBudgetsFile::List(rules))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawBudgetsFile, A::Error> {
                let k = KeyedBudgets::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawBudgetsFile::Keyed(k.budgets))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Parsing.

/// Just the version, read leniently: a file of another version is reported as
/// such even when the rest of it does not fit version 1.
#[derive(Debug, Deserialize)]
struct VersionOnly {
    #[serde(default)]
    version: Option<RawVersion>,
}

/// Parses a topology file into its raw structures. Syntax, type and unknown-key
/// errors come back with the position serde_yaml found.
pub fn parse_topology(src: &str, origin: &str) -> Result<RawTopology, LoadError> {
    serde_yaml::from_str::<RawTopology>(src).map_err(|err| {
        if let Ok(VersionOnly { version: Some(v) }) = serde_yaml::from_str::<VersionOnly>(src) {
            if let Some(e) = version_error(src, origin, &v) {
                return e;
            }
        }
        yaml_error(origin, &err)
    })
}

/// The supported version of the file format.
pub const FORMAT_VERSION: u64 = 1;

/// The error for a `version:` other than [`FORMAT_VERSION`], or `None` when the
/// version is supported.
pub fn version_error(src: &str, origin: &str, v: &RawVersion) -> Option<LoadError> {
    version_error_at(src, origin, v, &[])
}

/// [`version_error`] for a topology found at `base` inside a larger document.
pub fn version_error_at(
    src: &str,
    origin: &str,
    v: &RawVersion,
    base: &[Seg],
) -> Option<LoadError> {
    let shown = match v {
        RawVersion::Number(n) if *n == FORMAT_VERSION => return None,
        RawVersion::Number(n) => n.to_string(),
        RawVersion::Other(s) => s.clone(),
    };
    let mut path = base.to_vec();
    path.push(Seg::Key("version"));
    let message = format!(
        "{}: unsupported version {shown} (this build reads version {FORMAT_VERSION})",
        path_string(&path)
    );
    Some(error_at(src, origin, &path, message))
}

/// Parses a budgets file (`--budgets FILE`).
pub fn parse_budgets_file(src: &str, origin: &str) -> Result<RawBudgetsFile, LoadError> {
    serde_yaml::from_str::<RawBudgetsFile>(src).map_err(|err| yaml_error(origin, &err))
}

/// Turns a serde_yaml error into a `LoadError`, moving the position from the end
/// of the message to the front (also for other documents that embed a topology,
/// such as the controller's configuration).
pub fn yaml_error(origin: &str, err: &serde_yaml::Error) -> LoadError {
    let mut message = err.to_string();
    match err.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(at) = message.find(&suffix) {
                message.replace_range(at..at + suffix.len(), "");
            }
            LoadError::at(origin, loc.line(), loc.column(), message)
        }
        None => LoadError::new(origin, message),
    }
}

/// A `LoadError` for the value at `path`, positioned there if it can be found
/// (else at its nearest enclosing value), with `message` as given.
pub fn error_at(src: &str, origin: &str, path: &[Seg], message: String) -> LoadError {
    match locate(src, path) {
        Some((line, column)) => LoadError::at(origin, line, column, message),
        None => LoadError::new(origin, message),
    }
}

// ---------------------------------------------------------------------------
// The locator: finds the line and column of the value at a path.
//
// serde_yaml only reveals positions in errors, so the locator deserializes the
// document again, walking to the target and failing there from inside a visitor
// with a marker message; serde_yaml attaches the position of the value being
// visited, which we then read back from the error.

const MARKER: &str = "hubmesh-yaml-locator-reached-target";

/// The 1-based (line, column) of the value at `path`, or of its nearest enclosing
/// value when `path` does not exist (e.g. a key that was left out).
pub fn locate(src: &str, path: &[Seg]) -> Option<(usize, usize)> {
    (0..=path.len())
        .rev()
        .find_map(|len| locate_exact(src, &path[..len]))
}

fn locate_exact(src: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(src);
    match (Locate { path }).deserialize(de) {
        Err(err) if err.to_string().contains(MARKER) => {
            err.location().map(|l| (l.line(), l.column()))
        }
        _ => None,
    }
}

struct Locate<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.split_first() {
            None => d.deserialize_any(Target),
            Some((Seg::Key(key), rest)) => d.deserialize_map(InMap { key, rest }),
            Some((Seg::Index(index), rest)) => d.deserialize_seq(InSeq {
                index: *index,
                rest,
            }),
        }
    }
}

/// Fails on whatever it is given: the value at the target path.
struct Target;

impl Target {
    fn hit<E: de::Error>() -> E {
        E::custom(MARKER)
    }
}

impl<'de> Visitor<'de> for Target {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the value being located")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(Self::hit())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(Self::hit())
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(Self::hit())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(Self::hit())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(Self::hit())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(Self::hit())
    }
}

/// Walks a mapping to the entry `key`, skipping the others.
struct InMap<'p> {
    key: &'static str,
    rest: &'p [Seg],
}

impl<'de> Visitor<'de> for InMap<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            if key.as_str() == Some(self.key) {
                map.next_value_seed(Locate { path: self.rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Walks a sequence to the element `index`, skipping the others.
struct InSeq<'p> {
    index: usize,
    rest: &'p [Seg],
}

impl<'de> Visitor<'de> for InSeq<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let more = if i == self.index {
                seq.next_element_seed(Locate { path: self.rest })?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Seg::{Index, Key};

    const DOC: &str = "\
version: 1
sites:
  - id: a
    location: [1, 2]
  - {id: b, kind: city}
budgets:
  - name: x
    one_way_ms: 3
";

    #[test]
    fn locates_scalars_by_path() {
        assert_eq!(locate(DOC, &[Key("version")]), Some((1, 10)));
        assert_eq!(
            locate(DOC, &[Key("sites"), Index(0), Key("id")]),
            Some((3, 9))
        );
        assert_eq!(
            locate(DOC, &[Key("sites"), Index(0), Key("location"), Index(1)]),
            Some((4, 19))
        );
        assert_eq!(
            locate(DOC, &[Key("sites"), Index(1), Key("kind")]),
            Some((5, 19))
        );
        assert_eq!(
            locate(DOC, &[Key("budgets"), Index(0), Key("one_way_ms")]),
            Some((8, 17))
        );
    }

    #[test]
    fn missing_paths_fall_back_to_the_enclosing_value() {
        let flow = locate(DOC, &[Key("sites"), Index(1)]);
        assert_eq!(locate(DOC, &[Key("sites"), Index(1), Key("hub")]), flow);
        assert_eq!(flow, Some((5, 5)));
        // Past the end of a sequence: the sequence.
        assert_eq!(
            locate(DOC, &[Key("sites"), Index(7)]),
            locate(DOC, &[Key("sites")])
        );
    }

    #[test]
    fn columns_count_characters() {
        let doc = "hubs:\n  - {name: 京津冀, id: jingjinji}\n";
        assert_eq!(
            locate(doc, &[Key("hubs"), Index(0), Key("id")]),
            Some((2, 21))
        );
    }

    #[test]
    fn path_strings() {
        assert_eq!(
            path_string(&[Key("sites"), Index(3), Key("hub")]),
            "sites[3].hub"
        );
        assert_eq!(path_string(&[Index(2), Key("name")]), "[2].name");
        assert_eq!(path_string(&[]), "");
    }

    #[test]
    fn serde_position_moves_to_the_front() {
        let err = match parse_topology("version: 1\nsites:\n  - {id: a, colour: red}\n", "t.yaml") {
            Err(e) => e,
            Ok(_) => panic!("unknown field accepted"),
        };
        assert_eq!((err.line, err.column), (Some(3), Some(13)));
        assert!(
            err.message.starts_with("sites[0]: unknown field `colour`"),
            "{}",
            err.message
        );
        assert!(!err.message.contains(" at line "), "{}", err.message);
    }
}

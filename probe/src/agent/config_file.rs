//! `probe agent --config FILE`: every agent option in a YAML file, so a host
//! (and its systemd unit) keeps them in /etc/hubmesh/probe.yaml instead of on
//! a command line. Keys are the flags' names with `_` or `-`; the command line
//! overrides the file; relative paths in the file are taken from the file's
//! directory. Errors are one `file:line:column: key: what was expected` line,
//! like the controller's configuration (the same `LoadError` and locator).
//!
//! Pure: [`parse`] reads text, [`AgentConfig::over`] merges, and
//! [`AgentConfig::resolve`] fills defaults and says which required value is
//! missing from both; only [`load`] touches the file system.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::Deserialize;
use topology::error::LoadError;
use topology::yaml::{self, Seg};

use crate::units::parse_duration;

/// Defaults of the options that have one (the flags' help says the same).
pub const DEFAULT_SPOOL: &str = "/var/lib/hubmesh-probe/spool";
pub const DEFAULT_SPOOL_MAX_MB: u64 = 256;
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The keys a file may hold, in the order the README lists them.
pub const KEYS: &[&str] = &[
    "controller",
    "id",
    "token_file",
    "listen",
    "spool",
    "spool_max_mb",
    "clock_error",
    "auth_key_file",
    "poll",
    "max_backoff",
    "ca_file",
    "pin_sha256",
    "bw_listen",
    "no_bw",
];

/// A key of [`KEYS`] spelt with dashes, as a file may write it.
fn dashed(key: &'static str) -> &'static str {
    match key {
        "token_file" => "token-file",
        "spool_max_mb" => "spool-max-mb",
        "clock_error" => "clock-error",
        "auth_key_file" => "auth-key-file",
        "max_backoff" => "max-backoff",
        "ca_file" => "ca-file",
        "pin_sha256" => "pin-sha256",
        "bw_listen" => "bw-listen",
        "no_bw" => "no-bw",
        other => other,
    }
}

/// What a file or the command line says: every agent option, each one
/// possibly unsaid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentConfig {
    pub controller: Option<String>,
    pub id: Option<String>,
    pub token_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub spool: Option<PathBuf>,
    pub spool_max_mb: Option<u64>,
    pub clock_error: Option<Duration>,
    pub auth_key_file: Option<PathBuf>,
    pub poll: Option<Duration>,
    pub max_backoff: Option<Duration>,
    /// With an https controller: the CA (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// With an https controller: its key's SHA-256 (checked when the agent
    /// starts, by `protocol::tls::parse_pin`).
    pub pin_sha256: Option<String>,
    pub bw_listen: Option<SocketAddr>,
    /// `Some(true)`: no bandwidth server. The command line can only say
    /// `Some(true)` (`--no-bw`) or nothing.
    pub no_bw: Option<bool>,
}

/// Every option settled: required ones present, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub controller: String,
    pub id: String,
    pub token_file: PathBuf,
    /// As given: the agent listens on 0.0.0.0:862 and announces nothing
    /// when unsaid.
    pub listen: Option<SocketAddr>,
    pub spool: PathBuf,
    pub spool_max_mb: u64,
    pub clock_error: Option<Duration>,
    pub auth_key_file: Option<PathBuf>,
    pub poll: Duration,
    pub max_backoff: Duration,
    pub ca_file: Option<PathBuf>,
    pub pin_sha256: Option<String>,
    /// The bandwidth server: off, or on at this address (`None` inside: the
    /// listen address).
    pub bw: BwServer,
}

/// Where the bandwidth-test server listens, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BwServer {
    Off,
    /// On `Some(addr)`, or the reflector's listen address when `None`.
    On(Option<SocketAddr>),
}

/// A required option that neither the command line nor the file gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing {flag}: give {flag} {value} or `{key}:` in {where_}")]
pub struct Missing {
    pub flag: &'static str,
    pub value: &'static str,
    pub key: &'static str,
    pub where_: String,
}

impl AgentConfig {
    /// `self` (the command line) over `file`: each option the command line
    /// says wins. `--bw-listen` on the command line turns off a `no_bw: true`
    /// of the file, and `--no-bw` a `bw_listen:` of the file.
    pub fn over(self, file: AgentConfig) -> AgentConfig {
        let cli_bw = self.bw_listen.is_some() || self.no_bw == Some(true);
        let (bw_listen, no_bw) = if cli_bw {
            (self.bw_listen, self.no_bw)
        } else {
            (file.bw_listen, file.no_bw)
        };
        AgentConfig {
            controller: self.controller.or(file.controller),
            id: self.id.or(file.id),
            token_file: self.token_file.or(file.token_file),
            listen: self.listen.or(file.listen),
            spool: self.spool.or(file.spool),
            spool_max_mb: self.spool_max_mb.or(file.spool_max_mb),
            clock_error: self.clock_error.or(file.clock_error),
            auth_key_file: self.auth_key_file.or(file.auth_key_file),
            poll: self.poll.or(file.poll),
            max_backoff: self.max_backoff.or(file.max_backoff),
            ca_file: self.ca_file.or(file.ca_file),
            pin_sha256: self.pin_sha256.or(file.pin_sha256),
            bw_listen,
            no_bw,
        }
    }

    /// Defaults filled in; a required option missing is an error naming its
    /// flag and key (`config` names the file for the message, if there was one).
    pub fn resolve(self, config: Option<&Path>) -> Result<Resolved, Missing> {
        let where_ = match config {
            Some(p) => p.display().to_string(),
            None => "a --config file".to_string(),
        };
        let missing = |flag, value, key| Missing {
            flag,
            value,
            key,
            where_: where_.clone(),
        };
        Ok(Resolved {
            controller: self
                .controller
                .ok_or_else(|| missing("--controller", "URL", "controller"))?,
            id: self.id.ok_or_else(|| missing("--id", "ID", "id"))?,
            token_file: self
                .token_file
                .ok_or_else(|| missing("--token-file", "FILE", "token_file"))?,
            listen: self.listen,
            spool: self.spool.unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL)),
            spool_max_mb: self.spool_max_mb.unwrap_or(DEFAULT_SPOOL_MAX_MB),
            clock_error: self.clock_error,
            auth_key_file: self.auth_key_file,
            poll: self.poll.unwrap_or(DEFAULT_POLL),
            max_backoff: self.max_backoff.unwrap_or(DEFAULT_MAX_BACKOFF),
            ca_file: self.ca_file,
            pin_sha256: self.pin_sha256,
            bw: if self.no_bw == Some(true) {
                BwServer::Off
            } else {
                BwServer::On(self.bw_listen)
            },
        })
    }
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<AgentConfig, LoadError> {
    let origin = path.display().to_string();
    let src = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(origin.as_str(), format!("cannot read configuration: {e}")))?;
    parse(&src, &origin, path.parent().unwrap_or(Path::new("")))
}

/// Checks configuration text; relative paths in it are joined to `dir` (the
/// directory of the file it came from). An empty file (or only comments)
/// says nothing.
pub fn parse(src: &str, origin: &str, dir: &Path) -> Result<AgentConfig, LoadError> {
    let raw: Option<RawFile> = serde_yaml::from_str(src).map_err(|e| {
        // serde_yaml has no position for some errors about the whole
        // document (not a mapping): point at its start.
        if e.location().is_none() {
            yaml::error_at(src, origin, &[], e.to_string())
        } else {
            yaml::yaml_error(origin, &e)
        }
    })?;
    let Some(RawFile(mut c)) = raw else {
        return Ok(AgentConfig::default());
    };
    let fail = |key: &'static str, msg: &str| {
        // Point at the key as written: `no_bw` or `no-bw`.
        let root = yaml::locate(src, &[]);
        let path = [Seg::Key(key)];
        let path = if yaml::locate(src, &path) != root {
            path
        } else {
            [Seg::Key(dashed(key))]
        };
        yaml::error_at(src, origin, &path, format!("{key}: {msg}"))
    };
    if c.poll == Some(Duration::ZERO) {
        return Err(fail("poll", "must be above 0"));
    }
    for (key, value) in [
        ("controller", &c.controller),
        ("id", &c.id),
        ("pin_sha256", &c.pin_sha256),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(fail(key, "must not be empty"));
        }
    }
    if c.no_bw == Some(true) && c.bw_listen.is_some() {
        return Err(fail("no_bw", "conflicts with bw_listen"));
    }
    for (key, path) in [
        ("token_file", &mut c.token_file),
        ("spool", &mut c.spool),
        ("auth_key_file", &mut c.auth_key_file),
        ("ca_file", &mut c.ca_file),
    ] {
        let Some(p) = path else { continue };
        if p.as_os_str().is_empty() {
            return Err(fail(key, "must not be empty"));
        }
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    }
    Ok(c)
}

// ---------------------------------------------------------------------------
// The file as written: a flat mapping read key by key, so that an unknown or
// repeated key fails from inside its value, where serde_yaml knows the
// position (errors raised between keys come without one).

struct RawFile(AgentConfig);

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FileVisitor)
    }
}

struct FileVisitor;

fn expected_keys() -> String {
    KEYS.join(", ")
}

impl<'de> Visitor<'de> for FileVisitor {
    type Value = RawFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a mapping of probe agent options {{{}}}",
            expected_keys()
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFile, A::Error> {
        let mut c = AgentConfig::default();
        let mut seen: Vec<String> = Vec::new();
        while let Some(written) = map.next_key::<String>()? {
            let key = written.replace('-', "_");
            if seen.contains(&key) {
                match map.next_value_seed(FailHere(format!("{key} given twice (as `_` or `-`)")))? {}
            }
            match key.as_str() {
                "controller" => c.controller = Some(map.next_value::<Text>()?.0),
                "id" => c.id = Some(map.next_value::<Text>()?.0),
                "token_file" => c.token_file = Some(map.next_value::<Text>()?.0.into()),
                "listen" => c.listen = Some(map.next_value::<Addr>()?.0),
                "spool" => c.spool = Some(map.next_value::<Text>()?.0.into()),
                "spool_max_mb" => c.spool_max_mb = Some(map.next_value::<Count>()?.0),
                "clock_error" => c.clock_error = Some(map.next_value::<Dur>()?.0),
                "auth_key_file" => c.auth_key_file = Some(map.next_value::<Text>()?.0.into()),
                "poll" => c.poll = Some(map.next_value::<Dur>()?.0),
                "max_backoff" => c.max_backoff = Some(map.next_value::<Dur>()?.0),
                "ca_file" => c.ca_file = Some(map.next_value::<Text>()?.0.into()),
                "pin_sha256" => c.pin_sha256 = Some(map.next_value::<Text>()?.0),
                "bw_listen" => c.bw_listen = Some(map.next_value::<Addr>()?.0),
                "no_bw" => c.no_bw = Some(map.next_value::<bool>()?),
                _ => {
                    match map.next_value_seed(FailHere(format!(
                        "unknown option; expected one of {}",
                        expected_keys()
                    )))? {}
                }
            }
            seen.push(key);
        }
        Ok(RawFile(c))
    }
}

/// Fails on whatever value it meets, with its message: the error then
/// carries the position (and key) of that value.
struct FailHere(String);

impl<'de> DeserializeSeed<'de> for FailHere {
    type Value = std::convert::Infallible;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FailHere {
    type Value = std::convert::Infallible;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }
    fn visit_some<D: de::Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(self.0))
    }
}

/// The value types, each with its own "expected" text.
macro_rules! from_str_value {
    ($name:ident, $ty:ty, $expecting:expr, $parse:expr) => {
        struct $name($ty);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        parse(v).map($name).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

from_str_value!(Text, String, "a string", |v| Ok(v.to_string()));
from_str_value!(
    Dur,
    Duration,
    "a duration such as 5s or 250ms",
    parse_duration
);
from_str_value!(Addr, SocketAddr, "an address ADDR:PORT", |v| v
    .parse()
    .map_err(|_| format!(
        "{v:?} is not an address ADDR:PORT (such as 0.0.0.0:862)"
    )));

/// A non-negative whole number (of megabytes).
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of megabytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
        }
        d.deserialize_u64(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(src: &str) -> Result<AgentConfig, LoadError> {
        parse(src, "probe.yaml", Path::new("/etc/hubmesh"))
    }

    fn err(src: &str) -> String {
        match parse_str(src) {
            Ok(c) => panic!("parsed: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_key_with_underscores_or_dashes() {
        let src = "\
controller: http://ctl:8680,http://ctl2:8680
id: bj-1
token-file: probe.token
listen: 198.18.0.1:862
spool: /var/spool/x
spool_max_mb: 64
clock-error: 50us
auth_key_file: /etc/hubmesh/k
poll: 1s
max-backoff: 10s
ca-file: ca.pem
pin_sha256: sha256//AAAA
bw_listen: 198.18.0.1:5201
";
        let c = parse_str(src).expect("parses");
        assert_eq!(
            c,
            AgentConfig {
                controller: Some("http://ctl:8680,http://ctl2:8680".into()),
                id: Some("bj-1".into()),
                token_file: Some("/etc/hubmesh/probe.token".into()),
                listen: Some("198.18.0.1:862".parse().expect("addr")),
                spool: Some("/var/spool/x".into()),
                spool_max_mb: Some(64),
                clock_error: Some(Duration::from_micros(50)),
                auth_key_file: Some("/etc/hubmesh/k".into()),
                poll: Some(Duration::from_secs(1)),
                max_backoff: Some(Duration::from_secs(10)),
                ca_file: Some("/etc/hubmesh/ca.pem".into()),
                pin_sha256: Some("sha256//AAAA".into()),
                bw_listen: Some("198.18.0.1:5201".parse().expect("addr")),
                no_bw: None,
            }
        );
    }

    #[test]
    fn a_plain_number_is_text_where_text_is_expected() {
        let c = parse_str("id: 123\n").expect("parses");
        assert_eq!(c.id.as_deref(), Some("123"));
    }

    #[test]
    fn empty_or_comments_only_says_nothing() {
        assert_eq!(parse_str(""), Ok(AgentConfig::default()));
        assert_eq!(
            parse_str("# poll: 5s\n\n# id: x\n"),
            Ok(AgentConfig::default())
        );
    }

    #[test]
    fn errors_have_line_column_and_key() {
        assert_eq!(
            err("id: x\npoll: soon\n"),
            "probe.yaml:2:7: poll: \"soon\" is not a number with a unit"
        );
        assert_eq!(
            err("id: x\nlisten: nowhere\n"),
            "probe.yaml:2:9: listen: \"nowhere\" is not an address ADDR:PORT (such as 0.0.0.0:862)"
        );
        assert_eq!(
            err("spool_max_mb: -3\n"),
            "probe.yaml:1:15: spool_max_mb: invalid type: integer `-3`, expected a whole number of megabytes"
        );
        assert_eq!(
            err("id: x\n\npoll: 0s\n"),
            "probe.yaml:3:7: poll: must be above 0"
        );
        assert_eq!(err("id: '  '\n"), "probe.yaml:1:5: id: must not be empty");
        assert_eq!(
            err("bw_listen: 0.0.0.0:1\nno-bw: true\n"),
            "probe.yaml:2:8: no_bw: conflicts with bw_listen"
        );
        // Not YAML at all.
        let e = err("id: [x\n");
        assert!(e.starts_with("probe.yaml:"), "{e}");
        // Not a mapping.
        let e = err("# agent\n- id: x\n");
        assert!(e.starts_with("probe.yaml:2:1: "), "{e}");
        assert!(e.contains("a mapping of probe agent options"), "{e}");
    }

    #[test]
    fn unknown_key_named_with_the_valid_ones() {
        let e = err("id: x\ncontroler: http://c:8680\n");
        assert!(
            e.starts_with("probe.yaml:2:12: controler: unknown option; expected one of controller, id, token_file,"),
            "{e}"
        );
        assert!(e.ends_with("bw_listen, no_bw"), "{e}");
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let e = err("token_file: a\ntoken-file: b\n");
        assert_eq!(
            e,
            "probe.yaml:2:13: token-file: token_file given twice (as `_` or `-`)"
        );
    }

    #[test]
    fn relative_paths_from_the_file_directory() {
        let c = parse(
            "token_file: t\nspool: s\nauth_key_file: ../k\nca_file: ca.pem\n",
            "x",
            Path::new("/d/e"),
        )
        .expect("parses");
        assert_eq!(c.ca_file, Some("/d/e/ca.pem".into()));
        assert_eq!(c.token_file, Some("/d/e/t".into()));
        assert_eq!(c.spool, Some("/d/e/s".into()));
        assert_eq!(c.auth_key_file, Some("/d/e/../k".into()));
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let file = parse_str(
            "controller: http://file:1\nid: from-file\ntoken_file: /f/t\npoll: 2s\nspool_max_mb: 10\n",
        )
        .expect("parses");
        let cli = AgentConfig {
            id: Some("from-cli".into()),
            poll: Some(Duration::from_secs(9)),
            ..AgentConfig::default()
        };
        let r = cli.over(file).resolve(None).expect("complete");
        assert_eq!(r.controller, "http://file:1");
        assert_eq!(r.id, "from-cli");
        assert_eq!(r.token_file, PathBuf::from("/f/t"));
        assert_eq!(r.poll, Duration::from_secs(9));
        assert_eq!(r.spool_max_mb, 10);
        // Defaults where neither says.
        assert_eq!(r.max_backoff, DEFAULT_MAX_BACKOFF);
        assert_eq!(r.spool, PathBuf::from(DEFAULT_SPOOL));
        assert_eq!(r.bw, BwServer::On(None));
    }

    #[test]
    fn bandwidth_server_from_either_side() {
        let off = parse_str("no_bw: true\n").expect("parses");
        let on_at = AgentConfig {
            bw_listen: Some("127.0.0.1:9".parse().expect("addr")),
            ..AgentConfig::default()
        };
        let base = AgentConfig {
            controller: Some("c".into()),
            id: Some("i".into()),
            token_file: Some("t".into()),
            ..AgentConfig::default()
        };
        let r = |cli: AgentConfig, file: AgentConfig| {
            cli.over(file)
                .over(base.clone())
                .resolve(None)
                .expect("complete")
                .bw
        };
        assert_eq!(r(AgentConfig::default(), off.clone()), BwServer::Off);
        assert_eq!(r(on_at.clone(), off.clone()), BwServer::On(on_at.bw_listen));
        let cli_off = AgentConfig {
            no_bw: Some(true),
            ..AgentConfig::default()
        };
        assert_eq!(r(cli_off, on_at.clone()), BwServer::Off);
        assert_eq!(
            r(AgentConfig::default(), on_at.clone()),
            BwServer::On(on_at.bw_listen)
        );
    }

    #[test]
    fn a_required_value_missing_from_both() {
        let file = parse_str("controller: http://c:1\ntoken_file: t\n").expect("parses");
        let e = AgentConfig::default()
            .over(file)
            .resolve(Some(Path::new("/etc/hubmesh/probe.yaml")))
            .expect_err("no id");
        assert_eq!(
            e.to_string(),
            "missing --id: give --id ID or `id:` in /etc/hubmesh/probe.yaml"
        );
        let e = AgentConfig::default().resolve(None).expect_err("nothing");
        assert_eq!(
            e.to_string(),
            "missing --controller: give --controller URL or `controller:` in a --config file"
        );
    }

    const SHIPPED: &str = include_str!("../../../deploy/etc/probe.yaml");

    #[test]
    fn the_shipped_example_sets_nothing() {
        assert_eq!(parse_str(SHIPPED), Ok(AgentConfig::default()));
    }

    /// Every commented option line of the shipped file, uncommented, is valid,
    /// and each one that has a default says the default.
    #[test]
    fn the_shipped_example_comments_are_valid_options() {
        let mut uncommented = String::new();
        let mut options = 0;
        for line in SHIPPED.lines() {
            let rest = line.strip_prefix("# ").unwrap_or("");
            let is_option = rest
                .split_once(": ")
                .is_some_and(|(k, _)| KEYS.contains(&k));
            if is_option {
                options += 1;
                uncommented.push_str(rest);
            } else {
                uncommented.push_str(line);
            }
            uncommented.push('\n');
        }
        assert_eq!(options, KEYS.len(), "every option is in the example");
        let r = parse_str(&uncommented)
            .expect("parses")
            .resolve(None)
            .expect("complete");
        assert_eq!(r.spool, PathBuf::from(DEFAULT_SPOOL));
        assert_eq!(r.spool_max_mb, DEFAULT_SPOOL_MAX_MB);
        assert_eq!(r.poll, DEFAULT_POLL);
        assert_eq!(r.max_backoff, DEFAULT_MAX_BACKOFF);
        assert_eq!(r.listen, Some(SocketAddr::from(([0, 0, 0, 0], 862))));
    }
}

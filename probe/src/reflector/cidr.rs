//! IPv4 and IPv6 prefixes (`198.18.0.0/15`, `2001:db8::/32`, a bare address) for
//! the reflector's `--allow` list: small enough not to need a crate.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address prefix. IPv4 prefixes match IPv4 sources only, IPv6 ones IPv6
/// sources only (IPv4-mapped IPv6 sources arrive as IPv4 already).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a prefix did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad CIDR {text:?}: {why}")]
pub struct CidrError {
    text: String,
    why: &'static str,
}

impl Cidr {
    /// The prefix `addr/prefix`; host bits of `addr` are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = max_prefix(addr);
        (prefix <= max).then(|| Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` lies inside this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let err = |why| CidrError {
            text: text.to_owned(),
            why,
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| err("not an IP address"))?;
        let prefix = match prefix {
            None => max_prefix(addr),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| err("prefix length out of range"))?
            }
            Some(_) => return Err(err("prefix length is not a number")),
        };
        Cidr::new(addr, prefix).ok_or_else(|| err("prefix length out of range"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        match s.parse() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(0.into()))
    }

    #[test]
    fn ipv4_prefixes() {
        let net = cidr("198.19.2.3/15");
        assert_eq!(net.to_string(), "198.18.0.0/15");
        assert!(net.contains(ip("198.19.255.1")));
        assert!(!net.contains(ip("198.20.0.1")));
        assert!(cidr("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(cidr("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!cidr("127.0.0.1").contains(ip("127.0.0.2")));
    }

    #[test]
    fn ipv6_prefixes_and_families_do_not_mix() {
        let net = cidr("2001:db8::/32");
        assert!(net.contains(ip("2001:db8:1::5")));
        assert!(!net.contains(ip("2001:db9::1")));
        assert!(!cidr("::/0").contains(ip("198.18.0.1")));
        assert!(!cidr("0.0.0.0/0").contains(ip("::1")));
    }

    #[test]
    fn bad_input_is_an_error() {
        for bad in [
            "",
            "198.18.0.0/33",
            "::/129",
            "198.18.0.0/",
            "198.18.0.0/x",
            "host/8",
            "1.2.3/8",
            "198.18.0.0/-1",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }
}

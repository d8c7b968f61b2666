//! Parsing and validation of the addresses `connect()` accepts.
//!
//! Everything here is synchronous and pure: a malformed address is rejected
//! before anything touches the network, so `connect()` can throw at once.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Longest host name accepted (the DNS limit, with room for a trailing dot).
const MAX_HOSTNAME_LEN: usize = 255;

/// Where a socket connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tcp { host: Host, port: u16 },
    Unix { path: String },
}

/// The host part of a TCP target: a literal IP needs no resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// Why an address was refused; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError(pub String);

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, AddressError> {
    Err(AddressError(msg.into()))
}

/// Parses the string form: `host:port`, `[ipv6]:port` or `unix:/path`.
pub fn parse_string(address: &str) -> Result<Target, AddressError> {
    if let Some(path) = address.strip_prefix("unix:") {
        return unix_path(path);
    }
    if address.is_empty() {
        return err("address must not be empty");
    }
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return err(format!("invalid address '{address}': missing ']'"));
        };
        let inner = &rest[..end];
        let after = &rest[end + 1..];
        let Some(port) = after.strip_prefix(':') else {
            return err(format!(
                "invalid address '{address}': a port is required, as in '[{inner}]:443'"
            ));
        };
        (Host::Ip(IpAddr::V6(ipv6_literal(inner)?)), port)
    } else {
        let Some((host, port)) = address.rsplit_once(':') else {
            return err(format!(
                "invalid address '{address}': a port is required, as in '{address}:443'"
            ));
        };
        if host.contains(':') {
            return err(format!(
                "invalid address '{address}': IPv6 addresses must be bracketed, as in '[::1]:5432'"
            ));
        }
        (host_name_or_ipv4(host)?, port)
    };
    Ok(Target::Tcp {
        host,
        port: port_from_str(port, address)?,
    })
}

/// Parses the object form `{ hostname, port }`; `port` arrives as a JS number.
pub fn parse_parts(hostname: &str, port: f64) -> Result<Target, AddressError> {
    let host = if let Some(rest) = hostname.strip_prefix('[') {
        let Some(inner) = rest.strip_suffix(']') else {
            return err(format!("invalid hostname '{hostname}': missing ']'"));
        };
        Host::Ip(IpAddr::V6(ipv6_literal(inner)?))
    } else if hostname.contains(':') {
        Host::Ip(IpAddr::V6(ipv6_literal(hostname)?))
    } else {
        host_name_or_ipv4(hostname)?
    };
    Ok(Target::Tcp {
        host,
        port: port_from_number(port)?,
    })
}

/// Parses the `{ path }` form of a Unix domain socket address.
pub fn parse_path(path: &str) -> Result<Target, AddressError> {
    unix_path(path)
}

fn unix_path(path: &str) -> Result<Target, AddressError> {
    if path.is_empty() {
        return err("unix socket path must not be empty");
    }
    if path.contains('\0') {
        return err("unix socket path must not contain NUL characters");
    }
    Ok(Target::Unix {
        path: path.to_owned(),
    })
}

fn ipv6_literal(text: &str) -> Result<Ipv6Addr, AddressError> {
    if text.contains('%') {
        return err(format!(
            "invalid IPv6 address '{text}': zone identifiers are not supported"
        ));
    }
    text.parse::<Ipv6Addr>()
        .or_else(|_| err(format!("invalid IPv6 address '{text}'")))
}

fn host_name_or_ipv4(host: &str) -> Result<Host, AddressError> {
    if host.is_empty() {
        return err("hostname must not be empty");
    }
    if host.len() > MAX_HOSTNAME_LEN {
        return err(format!(
            "hostname is too long ({} characters, at most {MAX_HOSTNAME_LEN})",
            host.len()
        ));
    }
    if let Some(bad) = host.chars().find(|c| !is_hostname_char(*c)) {
        return err(format!(
            "invalid hostname {host:?}: character {bad:?} is not allowed"
        ));
    }
    if host.starts_with('.') || host.contains("..") {
        return err(format!("invalid hostname {host:?}: empty label"));
    }
    Ok(match host.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(host.to_owned()),
    })
}

/// Letters, digits, '-', '.', '_' (seen in real internal names): nothing that
/// could be whitespace, a control character or URL syntax.
fn is_hostname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
}

fn port_from_str(port: &str, address: &str) -> Result<u16, AddressError> {
    if port.is_empty() {
        return err(format!("invalid address '{address}': the port is empty"));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return err(format!(
            "invalid port '{port}' in '{address}': must be an integer from 1 to 65535"
        ));
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => err(format!(
            "invalid port '{port}' in '{address}': must be an integer from 1 to 65535"
        )),
    }
}

fn port_from_number(port: f64) -> Result<u16, AddressError> {
    if port.is_finite() && port.fract() == 0.0 && (1.0..=65535.0).contains(&port) {
        Ok(port as u16)
    } else {
        err(format!(
            "invalid port {port}: must be an integer from 1 to 65535"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn tcp(host: Host, port: u16) -> Target {
        Target::Tcp { host, port }
    }

    #[test]
    fn host_and_port() {
        assert_eq!(
            parse_string("example.com:443").unwrap(),
            tcp(Host::Name("example.com".into()), 443)
        );
        assert_eq!(
            parse_string("127.0.0.1:1").unwrap(),
            tcp(Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), 1)
        );
        assert_eq!(
            parse_string("db_1.internal.:65535").unwrap(),
            tcp(Host::Name("db_1.internal.".into()), 65535)
        );
    }

    #[test]
    fn bracketed_ipv6() {
        assert_eq!(
            parse_string("[::1]:5432").unwrap(),
            tcp(Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), 5432)
        );
        assert_eq!(
            parse_string("[2001:db8::ff00:42:8329]:80").unwrap(),
            tcp(Host::Ip("2001:db8::ff00:42:8329".parse().unwrap()), 80)
        );
    }

    #[test]
    fn port_is_required() {
        for bad in [
            "example.com",
            "example.com:",
            "[::1]",
            "[::1]:",
            "[::1]5432",
        ] {
            assert!(parse_string(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn unbracketed_ipv6_is_refused() {
        let e = parse_string("::1:5432").unwrap_err();
        assert!(e.0.contains("bracketed"), "{e}");
        assert!(parse_string("fe80::1:80").is_err());
    }

    #[test]
    fn bad_ports() {
        for bad in [
            "h:0",
            "h:65536",
            "h:-1",
            "h:1.5",
            "h:abc",
            "h:+80",
            "h: 80",
            "h:99999999999",
        ] {
            assert!(parse_string(bad).is_err(), "{bad} should be refused");
        }
        for bad in [
            0.0,
            65536.0,
            -1.0,
            1.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert!(parse_parts("h", bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            parse_parts("h", 65535.0).unwrap(),
            tcp(Host::Name("h".into()), 65535)
        );
    }

    #[test]
    fn bad_hostnames() {
        let long = "a".repeat(256);
        for bad in [
            "",
            "a b",
            "a\tb",
            "a\u{0}b",
            "a\nb",
            "exa/mple",
            "user@host",
            ".lead",
            "a..b",
            "bücher.de",
            long.as_str(),
        ] {
            assert!(parse_parts(bad, 80.0).is_err(), "{bad:?} should be refused");
            assert!(
                parse_string(&format!("{bad}:80")).is_err(),
                "{bad:?}:80 should be refused"
            );
        }
        assert!(parse_parts(&"a".repeat(255), 80.0).is_ok());
    }

    #[test]
    fn object_form_ipv6_bare_or_bracketed() {
        let want = tcp(Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), 8080);
        assert_eq!(parse_parts("::1", 8080.0).unwrap(), want);
        assert_eq!(parse_parts("[::1]", 8080.0).unwrap(), want);
        assert!(parse_parts("[::1", 80.0).is_err());
        assert!(parse_parts("::zz", 80.0).is_err());
        assert!(parse_parts("[127.0.0.1]", 80.0).is_err());
        assert!(parse_parts("fe80::1%eth0", 80.0).is_err());
    }

    #[test]
    fn unix_paths() {
        assert_eq!(
            parse_string("unix:/tmp/s.sock").unwrap(),
            Target::Unix {
                path: "/tmp/s.sock".into()
            }
        );
        assert_eq!(
            parse_path("relative.sock").unwrap(),
            Target::Unix {
                path: "relative.sock".into()
            }
        );
        assert!(parse_string("unix:").is_err());
        assert!(parse_path("").is_err());
        assert!(parse_path("/tmp/a\0b").is_err());
    }

    #[test]
    fn empty_and_garbage() {
        for bad in ["", ":", ":80", "[]:80", "[:80", "]:80"] {
            assert!(parse_string(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

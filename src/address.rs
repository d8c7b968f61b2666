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

/// Whether a host is an IP literal: such hosts get no SNI.
pub fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// The longest Unix socket path the platform takes: `sun_path` holds it
/// and its terminating NUL (108 bytes on Linux, 104 on the BSDs and macOS).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const UNIX_PATH_MAX: usize = 107;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub const UNIX_PATH_MAX: usize = 103;

fn unix_path(path: &str) -> Result<Target, AddressError> {
    if path.is_empty() {
        return err("unix socket path must not be empty");
    }
    if path.contains('\0') {
        return err("unix socket path must not contain NUL characters");
    }
    if path.len() > UNIX_PATH_MAX {
        return err(format!(
            "unix socket path is {} bytes long; this platform allows at most {UNIX_PATH_MAX}",
            path.len()
        ));
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
        let longest = format!("/{}", "a".repeat(UNIX_PATH_MAX - 1));
        assert!(parse_path(&longest).is_ok());
        let e = parse_path(&format!("{longest}a")).unwrap_err();
        assert!(e.0.contains("at most"), "{e}");
    }

    #[test]
    fn empty_and_garbage() {
        for bad in ["", ":", ":80", "[]:80", "[:80", "]:80"] {
            assert!(parse_string(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

/// Generated inputs (proptest): the parser never panics, and what it accepts
/// it reads back the same way. `PROPTEST_CASES` sets the number of cases;
/// `.ci/run` runs a longer round. Inputs that once failed are kept in
/// `proptest-regressions/`, hand-picked ones in `fuzz/corpus/`.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The canonical text of a parsed TCP target, as `connect()` accepts it.
    fn render(target: &Target) -> Option<String> {
        match target {
            Target::Tcp {
                host: Host::Ip(IpAddr::V6(ip)),
                port,
            } => Some(format!("[{ip}]:{port}")),
            Target::Tcp { host, port } => Some(format!("{host}:{port}")),
            Target::Unix { .. } => None,
        }
    }

    /// Accepted addresses are well-formed and survive a round trip.
    fn check(input: &str) {
        match parse_string(input) {
            Ok(target) => {
                if let Some(text) = render(&target) {
                    assert_eq!(parse_string(&text).as_ref(), Ok(&target), "{input:?}");
                }
                if let Target::Tcp { port, .. } = target {
                    assert_ne!(port, 0, "{input:?}");
                }
            }
            Err(e) => assert!(!e.0.is_empty()),
        }
    }

    #[test]
    fn corpus() {
        for line in include_str!("../fuzz/corpus/addresses.txt").lines() {
            check(line);
        }
    }

    proptest! {
        #[test]
        fn any_string_is_parsed_or_refused(input in any::<String>()) {
            check(&input);
        }

        #[test]
        fn address_shaped_strings(input in "(unix:)?\\[?[0-9a-zA-Z:._%\\-\\[\\] ]{0,40}\\]?(:[0-9+\\- ]{0,7})?") {
            check(&input);
        }

        #[test]
        fn ip_and_port_round_trip(ip in any::<IpAddr>(), port in 1u16..) {
            let text = match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            };
            prop_assert_eq!(parse_string(&text), Ok(Target::Tcp { host: Host::Ip(ip), port }));
            let bare = ip.to_string();
            prop_assert_eq!(parse_parts(&bare, f64::from(port)), Ok(Target::Tcp { host: Host::Ip(ip), port }));
        }

        #[test]
        fn host_names_round_trip(name in "[a-z][a-z0-9\\-_]{0,20}(\\.[a-z0-9][a-z0-9\\-]{0,20}){0,4}", port in 1u16..) {
            let expected = match name.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(name.clone()),
            };
            prop_assert_eq!(parse_string(&format!("{name}:{port}")), Ok(Target::Tcp { host: expected, port }));
        }

        #[test]
        fn numeric_ports_are_whole_numbers_in_range(port in any::<f64>()) {
            match parse_parts("localhost", port) {
                Ok(Target::Tcp { port: p, .. }) => prop_assert_eq!(f64::from(p), port),
                Ok(other) => prop_assert!(false, "{other:?}"),
                Err(_) => prop_assert!(!(port.fract() == 0.0 && (1.0..=65535.0).contains(&port))),
            }
        }

        #[test]
        fn unix_paths_are_kept_verbatim(path in any::<String>()) {
            match parse_string(&format!("unix:{path}")) {
                Ok(Target::Unix { path: p }) => prop_assert_eq!(p, path),
                Ok(other) => prop_assert!(false, "{other:?}"),
                Err(_) => prop_assert!(path.is_empty() || path.contains('\0') || path.len() > UNIX_PATH_MAX),
            }
        }
    }
}

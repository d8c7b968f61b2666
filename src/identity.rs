//! The server's identity check, done as `node:tls` does it: after the
//! handshake, against the verified certificate, so that a mismatch is
//! reported with the names the certificate does hold ("Host: a. is not in
//! the cert's altnames: DNS:b").
//!
//! The matching itself is OpenSSL's (`X509_check_host` / `X509_check_ip_asc`,
//! with the flags the handshake's own check uses), so what is accepted does
//! not change; only the report does. Used where the TLS backend is OpenSSL.

use std::ffi::CString;
use std::net::IpAddr;

use foreign_types::ForeignTypeRef;
use openssl::x509::{X509Ref, X509};

use crate::error::SocketErr;

/// `Ok` when `cert` (DER) is valid for `name` (a host name or an IP literal).
pub fn check(cert_der: &[u8], name: &str) -> Result<(), SocketErr> {
    let cert = X509::from_der(cert_der).map_err(|e| {
        SocketErr::other(
            "ERR_TLS_CERT_ALTNAME_INVALID",
            format!("the server's certificate cannot be read: {e}"),
        )
    })?;
    if matches(&cert, name)? {
        Ok(())
    } else {
        Err(SocketErr::other(
            "ERR_TLS_CERT_ALTNAME_INVALID",
            format!(
                "Hostname/IP does not match certificate's altnames: {}",
                reason(&cert, name)
            ),
        ))
    }
}

fn matches(cert: &X509Ref, name: &str) -> Result<bool, SocketErr> {
    let c_name = CString::new(name).map_err(|_| {
        SocketErr::other(
            "ERR_INVALID_ARG_VALUE",
            "options.servername must not contain NUL characters",
        )
    })?;
    let ip = name.parse::<IpAddr>().is_ok();
    // SAFETY: `cert.as_ptr()` is a valid X509 owned by `cert`, which outlives
    // the call; `c_name` is a NUL-terminated string that lives across it and
    // whose length is passed exactly; OpenSSL only reads both, and the
    // matched-name out pointer is null (not requested).
    let r = unsafe {
        if ip {
            openssl_sys::X509_check_ip_asc(cert.as_ptr(), c_name.as_ptr(), 0)
        } else {
            openssl_sys::X509_check_host(
                cert.as_ptr(),
                c_name.as_ptr(),
                name.len(),
                openssl_sys::X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                std::ptr::null_mut(),
            )
        }
    };
    // 1: a match; 0: none; below 0: malformed input or out of memory, which
    // never counts as a match.
    Ok(r == 1)
}

/// Node's wording for a mismatch.
fn reason(cert: &X509Ref, name: &str) -> String {
    let mut listed = Vec::new();
    let mut dns = 0;
    let mut ips = Vec::new();
    for n in cert.subject_alt_names().into_iter().flatten() {
        if let Some(d) = n.dnsname() {
            dns += 1;
            listed.push(format!("DNS:{d}"));
        } else if let Some(ip) = n.ipaddress().and_then(ip_from_bytes) {
            listed.push(format!("IP Address:{ip}"));
            ips.push(ip.to_string());
        }
    }
    if name.parse::<IpAddr>().is_ok() {
        return format!("IP: {name} is not in the cert's list: {}", ips.join(", "));
    }
    if dns > 0 {
        return format!(
            "Host: {name}. is not in the cert's altnames: {}",
            listed.join(", ")
        );
    }
    let cn = cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok());
    match cn {
        Some(cn) => format!("Host: {name}. is not cert's CN: {cn}"),
        None => "Cert does not contain a DNS name".to_owned(),
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Builder, X509NameBuilder};

    fn cert(cn: &str, dns: &[&str], ips: &[&str]) -> Vec<u8> {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut b = X509Builder::new().unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        if !dns.is_empty() || !ips.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for d in dns {
                san.dns(d);
            }
            for ip in ips {
                san.ip(ip);
            }
            let ext = san.build(&b.x509v3_context(None, None)).unwrap();
            b.append_extension(ext).unwrap();
        }
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    }

    #[test]
    fn names_and_ips_match_as_openssl_matches_them() {
        let c = cert(
            "ignored",
            &["db.example", "*.svc.example"],
            &["127.0.0.1", "::1"],
        );
        assert!(check(&c, "db.example").is_ok());
        assert!(check(&c, "DB.EXAMPLE").is_ok());
        assert!(check(&c, "a.svc.example").is_ok());
        assert!(check(&c, "127.0.0.1").is_ok());
        assert!(check(&c, "::1").is_ok());
        // A wildcard covers one label only; the CN is not used when SANs exist.
        assert!(check(&c, "a.b.svc.example").is_err());
        assert!(check(&c, "ignored").is_err());
        assert!(check(&c, "127.0.0.2").is_err());
        assert!(check(&c, "").is_err());
    }

    #[test]
    fn a_mismatch_is_worded_as_node_words_it() {
        let c = cert("x", &["wrong.example"], &["10.0.0.1"]);
        let e = check(&c, "localhost").unwrap_err();
        assert_eq!(e.code, "ERR_TLS_CERT_ALTNAME_INVALID");
        assert_eq!(
            e.message(),
            "Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: DNS:wrong.example, IP Address:10.0.0.1"
        );
        let e = check(&c, "127.0.0.1").unwrap_err();
        assert!(e
            .message()
            .ends_with("IP: 127.0.0.1 is not in the cert's list: 10.0.0.1"));
        let only_cn = cert("db.example", &[], &[]);
        assert!(check(&only_cn, "db.example").is_ok());
        let e = check(&only_cn, "other.example").unwrap_err();
        assert!(e
            .message()
            .ends_with("Host: other.example. is not cert's CN: db.example"));
    }

    #[test]
    fn a_name_with_nul_is_refused_not_matched() {
        let c = cert("a", &["a"], &[]);
        assert_eq!(check(&c, "a\0b").unwrap_err().code, "ERR_INVALID_ARG_VALUE");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(check(b"not der", "a").is_err());
    }
}

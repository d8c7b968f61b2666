//! TLS client sessions: a configuration from Node-style options (built once
//! per distinct configuration), the handshake (on the runtime), and the
//! mapping of failures to Node's codes.
//!
//! The backend is OpenSSL itself where native-tls would be OpenSSL
//! (`tls_openssl`: with session resumption), else native-tls
//! (`tls_native`: the system's TLS). The session runs over [`NonBlocking`],
//! so after the handshake the JS thread encrypts and decrypts in place,
//! exactly as it reads and writes a plain socket.

use std::io;
use std::sync::Arc;

use tokio::io::Interest;

use crate::connector_cache::{ConnectorCache, KeyBuilder};
use crate::error::{io_code, SocketErr};
use crate::os_socket::OsSocket;
use crate::tls_io::NonBlocking;

#[cfg(any(target_os = "windows", target_vendor = "apple"))]
use crate::tls_native as backend;
#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
use crate::tls_openssl as backend;

use backend::{Connector, Step};

pub type TlsStream = backend::Stream;

/// An established session, and its negotiated version when known.
pub struct TlsSession {
    pub tls: TlsStream,
    pub protocol: Option<&'static str>,
}

/// What a client certificate is made of.
pub enum ClientIdentity {
    /// PEM certificate chain and PEM private key (optionally encrypted).
    Pem {
        cert: Vec<u8>,
        key: Vec<u8>,
        passphrase: Option<String>,
    },
    /// A PKCS#12 bundle.
    Pfx { der: Vec<u8>, passphrase: String },
}

/// TLS options with Node's names and meanings.
#[derive(Default)]
pub struct TlsOptions {
    /// Replaces the system roots when present (as Node's `ca`).
    pub ca: Option<Vec<Vec<u8>>>,
    /// Added to the roots (`NODE_EXTRA_CA_CERTS`); ignored when `ca` is given,
    /// as in Node.
    pub extra_ca: Vec<Vec<u8>>,
    pub identity: Option<ClientIdentity>,
    pub reject_unauthorized: bool,
    /// Name checked against the certificate and sent in SNI.
    pub servername: String,
    pub alpn: Vec<String>,
    /// Resume an earlier session with the same server and configuration.
    pub resume: bool,
}

/// A ready-to-use client configuration.
pub struct TlsConfig {
    connector: Connector,
    domain: String,
    resume: bool,
    /// Whether the certificate must be valid for `domain`.
    #[cfg_attr(any(target_os = "windows", target_vendor = "apple"), allow(dead_code))]
    check_identity: bool,
}

impl TlsConfig {
    pub fn new(opts: TlsOptions) -> Result<TlsConfig, SocketErr> {
        check_c_string(&opts.servername, "servername")?;
        if let Some(
            ClientIdentity::Pfx { passphrase, .. }
            | ClientIdentity::Pem {
                passphrase: Some(passphrase),
                ..
            },
        ) = &opts.identity
        {
            check_c_string(passphrase, "passphrase")?;
        }
        // An empty name would make OpenSSL check no name at all: verification
        // is only ever turned off by `rejectUnauthorized: false`.
        if opts.servername.is_empty() && opts.reject_unauthorized {
            return Err(SocketErr::other(
                "ERR_INVALID_ARG_VALUE",
                "a TLS connection needs a server name to verify (servername)",
            ));
        }
        let connector =
            CONNECTORS.get_or_build(cache_key(&opts), || backend::build(&opts, sni(&opts)))?;
        Ok(TlsConfig {
            connector,
            resume: opts.resume,
            domain: opts.servername,
            check_identity: opts.reject_unauthorized,
        })
    }
}

static CONNECTORS: ConnectorCache<Connector> = ConnectorCache::new();

/// Everything a connector is built from, and nothing else: the name only
/// decides whether SNI is sent. (Its sessions are filed by name and peer.)
fn cache_key(opts: &TlsOptions) -> Vec<u8> {
    let mut k = KeyBuilder::default();
    match &opts.ca {
        Some(ca) => {
            k.part(b"ca").count(ca.len());
            for pem in ca {
                k.part(pem);
            }
        }
        None => {
            k.part(b"system roots").count(opts.extra_ca.len());
            for pem in &opts.extra_ca {
                k.part(pem);
            }
        }
    }
    match &opts.identity {
        None => k.part(b"no identity"),
        Some(ClientIdentity::Pfx { der, passphrase }) => {
            k.part(b"pfx").part(der).part(passphrase.as_bytes())
        }
        Some(ClientIdentity::Pem {
            cert,
            key,
            passphrase,
        }) => k.part(b"pem").part(cert).part(key).part(
            passphrase
                .as_deref()
                .map_or(b"\xff-none" as &[u8], str::as_bytes),
        ),
    };
    k.part(&[opts.reject_unauthorized as u8, sni(opts) as u8])
        .count(opts.alpn.len());
    for p in &opts.alpn {
        k.part(p.as_bytes());
    }
    k.finish()
}

/// No SNI for an IP literal (RFC 6066); the IP is still verified.
fn sni(opts: &TlsOptions) -> bool {
    !opts.servername.is_empty() && !crate::address::is_ip(&opts.servername)
}

/// CA certificates from PEM (one or more: a bundle) or DER, with the
/// backend's parsers; any failure is `ERR_TLS_INVALID_CA`.
pub(crate) fn parse_ca<C, E: std::fmt::Display>(
    pem: &[u8],
    from_pem: impl FnOnce(&[u8]) -> Result<Vec<C>, E>,
    from_der: impl FnOnce(&[u8]) -> Result<C, E>,
) -> Result<Vec<C>, SocketErr> {
    let bad = |e: E| SocketErr::other("ERR_TLS_INVALID_CA", format!("invalid CA certificate: {e}"));
    if pem.starts_with(b"-----") || pem.iter().take(64).all(|b| b.is_ascii()) {
        let certs = from_pem(pem).map_err(bad)?;
        if certs.is_empty() {
            return Err(SocketErr::other(
                "ERR_TLS_INVALID_CA",
                "invalid CA certificate: no certificate found in PEM data",
            ));
        }
        Ok(certs)
    } else {
        Ok(vec![from_der(pem).map_err(bad)?])
    }
}

/// Strings handed to OpenSSL as C strings must not hold NUL: the bindings
/// would panic (or, elsewhere, silently cut the string short).
fn check_c_string(value: &str, name: &str) -> Result<(), SocketErr> {
    if value.contains('\0') {
        return Err(SocketErr::other(
            "ERR_INVALID_ARG_VALUE",
            format!("options.{name} must not contain NUL characters"),
        ));
    }
    Ok(())
}

/// Runs the client handshake on the runtime, waiting for readiness between
/// steps. Verification failures come back with Node's codes.
pub async fn handshake(stream: Arc<OsSocket>, cfg: &TlsConfig) -> Result<TlsSession, SocketErr> {
    let mut io = NonBlocking::new(stream.clone());
    io.capture = Some(Vec::new());
    // Sessions are filed by the name verified and the peer's address.
    let session_key = cfg
        .resume
        .then(|| format!("{}\0{}", cfg.domain, stream.addresses().0));
    let mut step = cfg.connector.start(&cfg.domain, io, session_key);
    loop {
        match step {
            Step::Done(mut tls) => {
                #[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
                if cfg.check_identity {
                    let cert = tls.peer_certificate_der().ok_or_else(|| {
                        SocketErr::other(
                            "ERR_TLS_CERT_ALTNAME_INVALID",
                            "the server sent no certificate",
                        )
                    })?;
                    crate::identity::check(&cert, &cfg.domain)?;
                }
                let hello = tls.io_mut().capture.take().unwrap_or_default();
                let protocol = crate::hello::server_version(&hello);
                return Ok(TlsSession { tls, protocol });
            }
            Step::WouldBlock(mut mid) => {
                let interest = mid.io().blocked_on.unwrap_or(Interest::READABLE);
                mid.io().blocked_on = None;
                stream
                    .ready(interest)
                    .await
                    .map_err(|e| SocketErr::from_io(&e, "read"))?;
                step = mid.resume();
            }
            Step::Failed(text) => return Err(handshake_error(&text)),
        }
    }
}

/// Node's code for a handshake failure, from OpenSSL's verify result text.
pub fn handshake_error(text: &str) -> SocketErr {
    let lower = text.to_ascii_lowercase();
    // Most specific first: "self-signed certificate in certificate chain"
    // contains "self-signed certificate".
    const CODES: &[(&str, &str)] = &[
        ("hostname mismatch", "ERR_TLS_CERT_ALTNAME_INVALID"),
        ("ip address mismatch", "ERR_TLS_CERT_ALTNAME_INVALID"),
        ("certificate has expired", "CERT_HAS_EXPIRED"),
        ("certificate is not yet valid", "CERT_NOT_YET_VALID"),
        (
            "self-signed certificate in certificate chain",
            "SELF_SIGNED_CERT_IN_CHAIN",
        ),
        (
            "self signed certificate in certificate chain",
            "SELF_SIGNED_CERT_IN_CHAIN",
        ),
        ("self-signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT"),
        ("self signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT"),
        (
            "unable to verify the first certificate",
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        ),
        // OpenSSL stops at its first error, Node verifies on and reports
        // the last: for the usual case (a server sending its leaf alone,
        // issuer unknown) that is UNABLE_TO_VERIFY_LEAF_SIGNATURE.
        (
            "unable to get local issuer certificate",
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        ),
        (
            "unable to get issuer certificate",
            "UNABLE_TO_GET_ISSUER_CERT",
        ),
        ("certificate revoked", "CERT_REVOKED"),
        ("invalid ca certificate", "INVALID_CA"),
        ("certificate signature failure", "CERT_SIGNATURE_FAILURE"),
        ("unsupported certificate purpose", "INVALID_PURPOSE"),
        ("unsuitable certificate purpose", "INVALID_PURPOSE"),
    ];
    for (needle, code) in CODES {
        if lower.contains(needle) {
            let detail = match *code {
                "ERR_TLS_CERT_ALTNAME_INVALID" => {
                    "Hostname/IP does not match certificate's altnames".to_owned()
                }
                "UNABLE_TO_VERIFY_LEAF_SIGNATURE" => {
                    "unable to verify the first certificate".to_owned()
                }
                _ => needle.replace("self signed", "self-signed"),
            };
            return SocketErr::other(*code, detail);
        }
    }
    if lower.contains("unexpected eof") || lower.contains("connection reset") {
        return SocketErr::other(
            "ECONNRESET",
            "Client network socket disconnected before secure TLS connection was established",
        );
    }
    openssl_error(text, "ERR_SSL_HANDSHAKE_FAILURE")
}

/// Node names OpenSSL failures `ERR_SSL_` + the reason, upper-cased:
/// "tlsv13 alert certificate required" is
/// `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`. The reason is the fifth
/// field of OpenSSL's "error:code:lib:func:reason:file:line:" text.
fn openssl_error(text: &str, fallback: &str) -> SocketErr {
    let reason = text
        .split("error:")
        .nth(1)
        .and_then(|e| e.split(':').nth(3))
        .map(str::trim)
        .filter(|r| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_' || c == '/')
        });
    match reason {
        Some(reason) => {
            let code = format!("ERR_SSL_{}", reason.to_ascii_uppercase().replace(' ', "_"));
            SocketErr::other(code, reason.to_owned())
        }
        None => SocketErr::other(fallback, format!("TLS error: {text}")),
    }
}

/// A TLS session the peer ended without close_notify. Many servers do;
/// Node reports it as a normal end of stream, and so do we.
pub fn is_truncation(e: &io::Error) -> bool {
    e.raw_os_error().is_none()
        && (e.kind() == io::ErrorKind::UnexpectedEof
            || e.to_string()
                .to_ascii_lowercase()
                .contains("unexpected eof"))
}

/// Maps a read failure, plain or TLS, to Node's code.
pub fn read_error(e: &io::Error) -> SocketErr {
    stream_error(e, "read")
}

pub fn write_error(e: &io::Error) -> SocketErr {
    stream_error(e, "write")
}

fn stream_error(e: &io::Error, syscall: &'static str) -> SocketErr {
    if e.raw_os_error().is_some() {
        return SocketErr::sys(io_code(e), syscall);
    }
    // Errors from inside a TLS session carry no errno: a truncated session
    // (EOF without close_notify) is a reset as far as the application goes.
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => SocketErr::sys(io_code(e), syscall),
        // OpenSSL's "unexpected EOF" (the socket ended under the session,
        // SSL_ERROR_SYSCALL without an errno): whether a reset shows as
        // ECONNRESET or as this depends on when it is noticed, so both
        // are the reset node:tls reports.
        _ if is_truncation(e) => SocketErr::sys("ECONNRESET", syscall),
        _ => openssl_error(&e.to_string(), "ERR_SSL_PROTOCOL_ERROR"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_reasons_become_node_codes() {
        let e = openssl_error(
            "error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../ssl/record/rec_layer_s3.c:1605:SSL alert number 116",
            "X",
        );
        assert_eq!(e.code, "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
        assert_eq!(e.message(), "tlsv13 alert certificate required");
        let e = openssl_error(
            "error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../ssl/record/ssl3_record.c:354:",
            "X",
        );
        assert_eq!(e.code, "ERR_SSL_WRONG_VERSION_NUMBER");
        assert_eq!(openssl_error("something else", "X").code, "X");
        // OpenSSL 3.2 and later word alerts "ssl/tls alert ...", and Node
        // keeps the slash in the code.
        let e = openssl_error(
            "error:0A000410:SSL routines::ssl/tls alert handshake failure:ssl/record/rec_layer_s3.c:916:SSL alert number 40",
            "X",
        );
        assert_eq!(e.code, "ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE");
    }

    #[test]
    fn a_session_cut_under_a_write_is_a_reset() {
        let e = io::Error::other("unexpected EOF");
        assert_eq!(write_error(&e).code, "ECONNRESET");
        assert_eq!(write_error(&e).syscall, Some("write"));
        let e = io::Error::other("error:0A000126:SSL routines::unexpected eof while reading");
        assert_eq!(read_error(&e).code, "ECONNRESET");
        let e = io::Error::other("error:0A00010B:SSL routines::wrong version number");
        assert_eq!(read_error(&e).code, "ERR_SSL_WRONG_VERSION_NUMBER");
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever OpenSSL says, the code is a Node-style name and nothing panics.
        #[test]
        fn any_openssl_text_gives_a_code(text in any::<String>(), reason in "[a-zA-Z0-9 _]{1,40}") {
            for input in [text.clone(), format!("error:0A000000:SSL routines:f:{reason}:file.c:1:")] {
                let e = openssl_error(&input, "ERR_SSL_PROTOCOL_ERROR");
                prop_assert!(e.code.starts_with("ERR_SSL_"));
                prop_assert!(e.code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'/'));
            }
        }

        /// Arbitrary bytes as a CA are refused with ERR_TLS_INVALID_CA, never a panic.
        #[test]
        fn any_bytes_as_ca(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Err(e) = backend::certificates(&bytes) {
                prop_assert_eq!(e.code, "ERR_TLS_INVALID_CA");
            }
        }
    }
}

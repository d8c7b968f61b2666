//! The TLS backend where native-tls uses the system's TLS (macOS, Windows):
//! native-tls as it is. No session resumption here (native-tls does not
//! expose sessions); a key for it is ignored. Also compiled in tests
//! elsewhere, so that it keeps building.

#![cfg_attr(
    not(any(target_os = "windows", target_vendor = "apple")),
    allow(dead_code)
)]

use std::io::{self, Read, Write};

use native_tls::{Certificate, HandshakeError, Identity, MidHandshakeTlsStream, TlsConnector};

use crate::error::SocketErr;
use crate::tls::{ClientIdentity, TlsOptions};
use crate::tls_io::NonBlocking;

/// A client configuration.
#[derive(Clone)]
pub struct Connector(TlsConnector);

pub fn build(opts: &TlsOptions, sni: bool) -> Result<Connector, SocketErr> {
    build_connector(opts, sni).map(Connector)
}

/// Where a handshake stands.
pub enum Step {
    Done(Stream),
    WouldBlock(Mid),
    Failed(String),
}

pub struct Mid(MidHandshakeTlsStream<NonBlocking>);

impl Mid {
    pub fn io(&mut self) -> &mut NonBlocking {
        self.0.get_mut()
    }

    pub fn resume(self) -> Step {
        step(self.0.handshake())
    }
}

fn step(r: Result<native_tls::TlsStream<NonBlocking>, HandshakeError<NonBlocking>>) -> Step {
    match r {
        Ok(s) => Step::Done(Stream(s)),
        Err(HandshakeError::WouldBlock(mid)) => Step::WouldBlock(Mid(mid)),
        Err(HandshakeError::Failure(e)) => Step::Failed(e.to_string()),
    }
}

impl Connector {
    pub fn start(&self, domain: &str, io: NonBlocking, _session_key: Option<String>) -> Step {
        step(self.0.connect(domain, io))
    }
}

/// An established session over the socket.
pub struct Stream(native_tls::TlsStream<NonBlocking>);

impl Stream {
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    pub fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown()
    }

    /// Decrypted bytes waiting in the session (unknown: as if some).
    pub fn buffered(&self) -> usize {
        self.0.buffered_read_size().unwrap_or(1)
    }

    pub fn io(&self) -> &NonBlocking {
        self.0.get_ref()
    }

    pub fn io_mut(&mut self) -> &mut NonBlocking {
        self.0.get_mut()
    }

    pub fn peer_certificate_der(&self) -> Option<Vec<u8>> {
        self.0
            .peer_certificate()
            .ok()
            .flatten()
            .and_then(|c| c.to_der().ok())
    }

    pub fn alpn(&self) -> Option<String> {
        self.0
            .negotiated_alpn()
            .ok()
            .flatten()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
    }

    pub fn resumed(&self) -> bool {
        false
    }
}

fn build_connector(opts: &TlsOptions, sni: bool) -> Result<TlsConnector, SocketErr> {
    let mut b = TlsConnector::builder();
    if let Some(ca) = &opts.ca {
        b.disable_built_in_roots(true);
        for pem in ca {
            for cert in certificates(pem)? {
                b.add_root_certificate(cert);
            }
        }
    } else {
        for pem in &opts.extra_ca {
            for cert in certificates(pem)? {
                b.add_root_certificate(cert);
            }
        }
    }
    if let Some(id) = &opts.identity {
        b.identity(identity(id)?);
    }
    if !opts.reject_unauthorized {
        b.danger_accept_invalid_certs(true);
        b.danger_accept_invalid_hostnames(true);
    }
    b.use_sni(sni);
    if !opts.alpn.is_empty() {
        let protos: Vec<&str> = opts.alpn.iter().map(String::as_str).collect();
        b.request_alpns(&protos);
    }
    b.build()
        .map_err(|e| SocketErr::other("ERR_TLS_INVALID_OPTIONS", e.to_string()))
}

pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<Certificate>, SocketErr> {
    crate::tls::parse_ca(pem, Certificate::stack_from_pem, Certificate::from_der)
}

fn identity(id: &ClientIdentity) -> Result<Identity, SocketErr> {
    let bad = |what: &str, e: String| {
        SocketErr::other(
            "ERR_TLS_INVALID_CERT",
            format!("invalid client {what}: {e}"),
        )
    };
    match id {
        ClientIdentity::Pfx { der, passphrase } => {
            Identity::from_pkcs12(der, passphrase).map_err(|e| bad("pfx", e.to_string()))
        }
        ClientIdentity::Pem {
            cert,
            key,
            passphrase,
        } => {
            let key = pkcs8_key(key, passphrase.as_deref()).map_err(|e| bad("key", e))?;
            Identity::from_pkcs8(cert, &key).map_err(|e| bad("certificate", e.to_string()))
        }
    }
}

/// native-tls takes unencrypted PKCS#8 keys only here.
fn pkcs8_key(key: &[u8], passphrase: Option<&str>) -> Result<Vec<u8>, String> {
    if passphrase.is_some() {
        return Err("encrypted keys are not supported on this platform".to_owned());
    }
    Ok(key.to_vec())
}

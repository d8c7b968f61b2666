//! The TLS backend where native-tls is OpenSSL (Linux and the other Unixes
//! but macOS): the `openssl` crate directly, for what native-tls does not
//! offer: session resumption. Otherwise it is configured as native-tls
//! configures OpenSSL (the same roots, probing, cipher list and options).
//!
//! Resumption: each connector keeps the sessions its connections were given
//! (TLS 1.3 tickets, TLS 1.2 session IDs), keyed by server name and peer
//! address, bounded; a new connection to the same place resumes one. A
//! session only ever goes back to the connector (the `SSL_CTX`) that made
//! it, and a connector is one whole verification configuration (see
//! `connector_cache`), so a session made under one trust setting is never
//! resumed under another. No early data (0-RTT) is ever sent.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, LazyLock, Mutex};

use openssl::ex_data::Index;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::ssl::{
    self, HandshakeError, MidHandshakeSslStream, Ssl, SslConnector, SslContext, SslMethod,
    SslSession, SslSessionCacheMode, SslStream, SslVerifyMode,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;

use crate::error::SocketErr;
use crate::tls::{ClientIdentity, TlsOptions};
use crate::tls_io::NonBlocking;

/// Sessions kept per connector (per configuration).
const SESSIONS_PER_CONNECTOR: usize = 64;

static PROBE: LazyLock<openssl_probe::ProbeResult> = LazyLock::new(openssl_probe::probe);

/// Where a connection's session is filed: its place in the store.
static SESSION_KEY: LazyLock<Option<Index<Ssl, String>>> =
    LazyLock::new(|| Ssl::new_ex_index().ok());

/// Resumable sessions, most recent last, serialized: OpenSSL marks a
/// session object it resumed as used up (TLS 1.3), so each connection gets
/// a fresh copy, as node:tls's clients do with theirs.
#[derive(Default)]
struct SessionStore {
    entries: Mutex<VecDeque<(String, Vec<u8>)>>,
}

impl SessionStore {
    fn put(&self, key: String, session: SslSession) {
        let Ok(der) = session.to_der() else { return };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // One per place: the newest replaces older ones.
        entries.retain(|(k, _)| *k != key);
        if entries.len() >= SESSIONS_PER_CONNECTOR {
            entries.pop_front();
        }
        entries.push_back((key, der));
    }

    /// The session for `key`. It stays for the next connection too, as
    /// node:tls's clients (https.Agent) reuse theirs: servers send no new
    /// ticket on a resumed connection, and one used once would make every
    /// other reconnection a full handshake. A newer one replaces it.
    fn get(&self, key: &str) -> Option<SslSession> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (_, der) = entries.iter().find(|(k, _)| k == key)?;
        SslSession::from_der(der).ok()
    }
}

/// A client configuration: an `SSL_CTX` and its sessions.
#[derive(Clone)]
pub struct Connector {
    ctx: SslContext,
    sessions: Arc<SessionStore>,
    sni: bool,
    verify: bool,
}

pub fn build(opts: &TlsOptions, sni: bool) -> Result<Connector, SocketErr> {
    let invalid =
        |e: openssl::error::ErrorStack| SocketErr::other("ERR_TLS_INVALID_OPTIONS", e.to_string());
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(invalid)?;
    if let Some(ca) = &opts.ca {
        // `ca` replaces the system roots, as in Node.
        let mut store = X509StoreBuilder::new().map_err(invalid)?;
        for pem in ca {
            for cert in certificates(pem)? {
                store.add_cert(cert).map_err(invalid)?;
            }
        }
        b.set_cert_store(store.build());
    } else {
        // The system roots wherever this OpenSSL's own defaults miss them
        // (a statically linked OpenSSL looks in its build prefix), as
        // native-tls finds them; then NODE_EXTRA_CA_CERTS.
        if let Some(file) = &PROBE.cert_file {
            let _ = b.load_verify_locations(Some(file), None);
        }
        for dir in &PROBE.cert_dir {
            let _ = b.load_verify_locations(None, Some(dir));
        }
        for pem in &opts.extra_ca {
            for cert in certificates(pem)? {
                // A certificate already among the roots is not an error.
                let _ = b.cert_store_mut().add_cert(cert);
            }
        }
    }
    if let Some(id) = &opts.identity {
        let (cert, key, chain) = identity(id)?;
        b.set_certificate(&cert).map_err(invalid)?;
        b.set_private_key(&key).map_err(invalid)?;
        for c in chain {
            b.add_extra_chain_cert(c).map_err(invalid)?;
        }
    }
    if !opts.alpn.is_empty() {
        let mut wire = Vec::new();
        for p in &opts.alpn {
            let len = u8::try_from(p.len()).map_err(|_| {
                SocketErr::other("ERR_TLS_INVALID_OPTIONS", "an ALPN name is too long")
            })?;
            wire.push(len);
            wire.extend_from_slice(p.as_bytes());
        }
        b.set_alpn_protos(&wire).map_err(invalid)?;
    }
    let sessions = Arc::new(SessionStore::default());
    // Keep the sessions this context's connections are given, filed under
    // the key the connection carries (none: resumption is off for it).
    b.set_session_cache_mode(SslSessionCacheMode::CLIENT | SslSessionCacheMode::NO_INTERNAL);
    let store = sessions.clone();
    b.set_new_session_callback(move |ssl, session| {
        let key = SESSION_KEY.as_ref().and_then(|i| ssl.ex_data(*i)).cloned();
        if let Some(key) = key {
            store.put(key, session);
        }
    });
    Ok(Connector {
        ctx: b.build().into_context(),
        sessions,
        sni,
        verify: opts.reject_unauthorized,
    })
}

/// Where a handshake stands.
pub enum Step {
    Done(Stream),
    WouldBlock(Mid),
    /// OpenSSL's account of the failure (with the verify result, if any).
    Failed(String),
}

pub struct Mid(MidHandshakeSslStream<NonBlocking>);

impl Mid {
    pub fn io(&mut self) -> &mut NonBlocking {
        self.0.get_mut()
    }

    pub fn resume(self) -> Step {
        step(self.0.handshake())
    }
}

fn step(r: Result<SslStream<NonBlocking>, HandshakeError<NonBlocking>>) -> Step {
    match r {
        Ok(s) => Step::Done(Stream(s)),
        Err(HandshakeError::WouldBlock(mid)) => Step::WouldBlock(Mid(mid)),
        Err(HandshakeError::Failure(mid)) => {
            let verify = mid.ssl().verify_result();
            let text = mid.error().to_string();
            Step::Failed(if verify == openssl::x509::X509VerifyResult::OK {
                text
            } else {
                format!("{text} ({verify})")
            })
        }
        Err(HandshakeError::SetupFailure(e)) => Step::Failed(e.to_string()),
    }
}

impl Connector {
    /// Starts a handshake with `domain` over `io`. `session_key`: where this
    /// connection's session is filed and looked up (`None`: no resumption).
    pub fn start(&self, domain: &str, io: NonBlocking, session_key: Option<String>) -> Step {
        let mut ssl = match Ssl::new(&self.ctx) {
            Ok(s) => s,
            Err(e) => return Step::Failed(e.to_string()),
        };
        if !self.verify {
            ssl.set_verify(SslVerifyMode::NONE);
        }
        // The name is checked after the handshake (`identity::check`), as
        // node:tls does it; here it is only sent, and not for an IP.
        if self.sni {
            if let Err(e) = ssl.set_hostname(domain) {
                return Step::Failed(e.to_string());
            }
        }
        if let (Some(key), Some(index)) = (session_key, SESSION_KEY.as_ref()) {
            if let Some(session) = self.sessions.get(&key) {
                // SAFETY: `set_session` requires a session associated with
                // this `Ssl`'s context. Every entry of `self.sessions` is a
                // session that a connection of `self.ctx` was given (its
                // new-session callback is the only writer of this store,
                // which belongs to this connector alone), serialized and
                // parsed back here; `ssl` was made from `self.ctx` above.
                if let Err(e) = unsafe { ssl.set_session(&session) } {
                    return Step::Failed(e.to_string());
                }
            }
            ssl.set_ex_data(*index, key);
        }
        step(ssl.connect(io))
    }
}

/// An established session over the socket.
pub struct Stream(SslStream<NonBlocking>);

impl Stream {
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    /// Sends close_notify.
    pub fn shutdown(&mut self) -> io::Result<()> {
        match self.0.shutdown() {
            Ok(_) => Ok(()),
            Err(e) if e.code() == ssl::ErrorCode::ZERO_RETURN => Ok(()),
            Err(e) => Err(e.into_io_error().unwrap_or_else(io::Error::other)),
        }
    }

    /// Decrypted bytes waiting in the session.
    pub fn buffered(&self) -> usize {
        self.0.ssl().pending()
    }

    pub fn io(&self) -> &NonBlocking {
        self.0.get_ref()
    }

    pub fn io_mut(&mut self) -> &mut NonBlocking {
        self.0.get_mut()
    }

    pub fn peer_certificate_der(&self) -> Option<Vec<u8>> {
        self.0
            .ssl()
            .peer_certificate()
            .and_then(|c| c.to_der().ok())
    }

    pub fn alpn(&self) -> Option<String> {
        self.0
            .ssl()
            .selected_alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    pub fn resumed(&self) -> bool {
        self.0.ssl().session_reused()
    }
}

/// CA certificates from PEM (one or more) or DER.
pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<X509>, SocketErr> {
    crate::tls::parse_ca(pem, X509::stack_from_pem, X509::from_der)
}

type Identity = (X509, PKey<openssl::pkey::Private>, Vec<X509>);

/// The client certificate, its key and the rest of its chain. Keys are
/// taken as Node takes them: PKCS#8, PKCS#1 or SEC1, encrypted or not.
fn identity(id: &ClientIdentity) -> Result<Identity, SocketErr> {
    let bad = |what: &str, e: String| {
        SocketErr::other(
            "ERR_TLS_INVALID_CERT",
            format!("invalid client {what}: {e}"),
        )
    };
    match id {
        ClientIdentity::Pfx { der, passphrase } => {
            let parsed = Pkcs12::from_der(der)
                .and_then(|p| p.parse2(passphrase))
                .map_err(|e| bad("pfx", e.to_string()))?;
            let (Some(cert), Some(key)) = (parsed.cert, parsed.pkey) else {
                return Err(bad("pfx", "no certificate and key in it".to_owned()));
            };
            let chain = parsed
                .ca
                .map(|s| s.into_iter().collect())
                .unwrap_or_default();
            Ok((cert, key, chain))
        }
        ClientIdentity::Pem {
            cert,
            key,
            passphrase,
        } => {
            let key = private_key(key, passphrase.as_deref()).map_err(|e| bad("key", e))?;
            let mut certs = X509::stack_from_pem(cert)
                .map_err(|e| bad("certificate", e.to_string()))?
                .into_iter();
            let leaf = certs
                .next()
                .ok_or_else(|| bad("certificate", "no certificate found in PEM data".to_owned()))?;
            Ok((leaf, key, certs.collect()))
        }
    }
}

fn private_key(
    key: &[u8],
    passphrase: Option<&str>,
) -> Result<PKey<openssl::pkey::Private>, String> {
    // Always pass a passphrase: without one OpenSSL would prompt on the
    // terminal for an encrypted key.
    PKey::private_key_from_pem_passphrase(key, passphrase.unwrap_or("").as_bytes()).map_err(|e| {
        if passphrase.is_none() && key.windows(9).any(|w| w == b"ENCRYPTED") {
            "the key is encrypted and no passphrase was given".to_owned()
        } else {
            e.to_string()
        }
    })
}

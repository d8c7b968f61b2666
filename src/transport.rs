//! The established transport and its non-blocking read, write and shutdown
//! loops, which run on the JS thread. Each returns its outcome and, when it
//! would block, the interest to arm (a TLS session may need to write in order
//! to read, or the reverse); the connection arms it.

use std::io;
use std::sync::Arc;

use tokio::io::Interest;

use crate::error::SocketErr;
use crate::os_socket::OsSocket;
use crate::tls::{self, TlsSession, TlsStream};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    pub remote_address: String,
    pub local_address: String,
    pub alpn: Option<String>,
    /// TLS only: the negotiated version (`TLSv1.3`, ...), when known.
    pub tls_protocol: Option<&'static str>,
    /// TLS only: the server's certificate, DER.
    pub peer_certificate: Option<Vec<u8>>,
    /// TLS only: whether an earlier session was resumed.
    pub session_reused: Option<bool>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    Data(usize),
    /// Nothing to read now; readiness is armed and will be reported.
    WouldBlock,
    Eof,
    Failed(SocketErr),
}

#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// This many bytes were taken. Fewer than offered means the socket is full:
    /// writability is armed and will be reported.
    Wrote(usize),
    Failed(SocketErr),
}

/// The established transport.
pub struct Transport {
    pub(crate) stream: Arc<OsSocket>,
    pub(crate) tls: Option<Box<TlsStream>>,
    tls_protocol: Option<&'static str>,
    pub(crate) read_eof: bool,
    /// An error met after data was already returned, kept for the next read.
    pub(crate) read_error: Option<SocketErr>,
}

impl Transport {
    pub(crate) fn plain(stream: OsSocket) -> Self {
        Self::plain_shared(Arc::new(stream))
    }

    pub(crate) fn plain_shared(stream: Arc<OsSocket>) -> Self {
        Transport {
            stream,
            tls: None,
            tls_protocol: None,
            read_eof: false,
            read_error: None,
        }
    }

    pub(crate) fn with_tls(stream: Arc<OsSocket>, session: TlsSession) -> Self {
        Transport {
            stream,
            tls: Some(Box::new(session.tls)),
            tls_protocol: session.protocol,
            read_eof: false,
            read_error: None,
        }
    }

    /// Takes the socket out of the runtime's reactor: from now on the event
    /// loop reports its readiness and its traffic no longer wakes the
    /// runtime's thread. The TLS session, if any, moves with it.
    pub(crate) fn deregistered(mut self) -> Result<Transport, SocketErr> {
        let placeholder = Arc::new(OsSocket::Moved);
        if let Some(tls) = self.tls.as_mut() {
            tls.io_mut().stream = placeholder.clone();
        }
        let shared = std::mem::replace(&mut self.stream, placeholder);
        // Nothing else holds the stream once connecting or the handshake is
        // over; if something did, its reads would still be gated by a reactor
        // that no longer reports, so that is an error, not a fallback.
        let stream = Arc::try_unwrap(shared)
            .map_err(|_| SocketErr::other("EBUSY", "the socket is still in use by the runtime"))?
            .deregister()
            .map_err(|e| SocketErr::from_io(&e, "epoll_ctl"))?;
        let stream = Arc::new(stream);
        if let Some(tls) = self.tls.as_mut() {
            tls.io_mut().stream = stream.clone();
        }
        self.stream = stream;
        Ok(self)
    }

    pub(crate) fn info(&self) -> SocketInfo {
        self.info_with(self.stream.addresses())
    }

    /// [`Transport::info`] of a connection just dialled to `peer`: only the
    /// local address is asked of the system.
    pub(crate) fn info_dialed(&self, peer: std::net::SocketAddr) -> SocketInfo {
        self.info_with((peer.to_string(), self.stream.local_address()))
    }

    fn info_with(&self, (remote_address, local_address): (String, String)) -> SocketInfo {
        SocketInfo {
            remote_address,
            local_address,
            alpn: self.tls.as_ref().and_then(|t| t.alpn()),
            tls_protocol: self.tls_protocol,
            peer_certificate: self.tls.as_ref().and_then(|t| t.peer_certificate_der()),
            session_reused: self.tls.as_ref().map(|t| t.resumed()),
        }
    }

    /// The interest a TLS session blocked on (it may need to write to read).
    pub(crate) fn blocked_on(&self, default: Interest) -> Interest {
        self.tls
            .as_ref()
            .and_then(|t| t.io().blocked_on)
            .unwrap_or(default)
    }

    fn clear_blocked(&mut self) {
        if let Some(t) = self.tls.as_mut() {
            t.io_mut().blocked_on = None;
        }
    }
}

impl Transport {
    /// Reads what is available into `buf`, without waiting.
    pub fn read(&mut self, buf: &mut [u8]) -> (ReadOutcome, Option<Interest>) {
        let t = self;
        if let Some(e) = t.read_error.take() {
            return (ReadOutcome::Failed(e), None);
        }
        if t.read_eof {
            return (ReadOutcome::Eof, None);
        }
        if buf.is_empty() {
            return (ReadOutcome::Data(0), None);
        }
        let mut filled = 0;
        loop {
            t.clear_blocked();
            let r = match t.tls.as_mut() {
                Some(tls) => tls.read(&mut buf[filled..]),
                None => t.stream.try_read(&mut buf[filled..]),
            };
            match r {
                Ok(0) => {
                    t.read_eof = true;
                    break;
                }
                Ok(n) => {
                    filled += n;
                    // A short plain read means the socket buffer is empty now.
                    // TLS returns a record at a time: go on while the session
                    // or the socket may hold more, so that a short read means
                    // the same there (and no read that would block is tried).
                    let more = t
                        .tls
                        .as_ref()
                        .is_some_and(|tls| tls.buffered() > 0 || tls.io().may_have_more());
                    if filled == buf.len() || !more {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if filled > 0 {
                        break;
                    }
                    return (
                        ReadOutcome::WouldBlock,
                        Some(t.blocked_on(Interest::READABLE)),
                    );
                }
                Err(e) if t.tls.is_some() && tls::is_truncation(&e) => {
                    t.read_eof = true;
                    break;
                }
                Err(e) => {
                    let err = tls::read_error(&e);
                    if filled > 0 {
                        t.read_error = Some(err);
                        break;
                    }
                    return (ReadOutcome::Failed(err), None);
                }
            }
        }
        let outcome = if filled > 0 {
            ReadOutcome::Data(filled)
        } else {
            ReadOutcome::Eof
        };
        (outcome, None)
    }

    /// Writes as much of `data` as the socket takes now, without waiting.
    pub fn write(&mut self, data: &[u8]) -> (WriteOutcome, Option<Interest>) {
        let t = self;
        let mut written = 0;
        while written < data.len() {
            t.clear_blocked();
            let r = match t.tls.as_mut() {
                Some(tls) => tls.write(&data[written..]),
                None => t.stream.try_write(&data[written..]),
            };
            match r {
                Ok(0) => return (WriteOutcome::Failed(SocketErr::sys("EPIPE", "write")), None),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return (
                        WriteOutcome::Wrote(written),
                        Some(t.blocked_on(Interest::WRITABLE)),
                    );
                }
                Err(e) => return (WriteOutcome::Failed(tls::write_error(&e)), None),
            }
        }
        (WriteOutcome::Wrote(written), None)
    }

    /// Ends our sending side (TLS close_notify, then FIN). `Ok(false)` means
    /// the socket was full: writability is armed, call again when ready.
    pub fn shutdown_write(&mut self) -> (Result<bool, SocketErr>, Option<Interest>) {
        let t = self;
        if let Some(tls) = t.tls.as_mut() {
            tls.io_mut().blocked_on = None;
            match tls.shutdown() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return (Ok(false), Some(t.blocked_on(Interest::WRITABLE)));
                }
                // The peer may have gone already; FIN below still applies.
                Err(_) => {}
            }
        }
        let done = t
            .stream
            .shutdown_write()
            .map(|_| true)
            .map_err(|e| SocketErr::from_io(&e, "shutdown"));
        (done, None)
    }
}

/// Unread input makes the kernel answer a close with RST instead of a clean
/// FIN; read away what is already here (bounded) so the close stays graceful.
pub(crate) fn discard_input(stream: &OsSocket) {
    let mut scratch = [0u8; 16 * 1024];
    for _ in 0..64 {
        match stream.read_raw(&mut scratch) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

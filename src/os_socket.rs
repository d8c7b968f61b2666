//! The connected transport and its non-blocking primitives.
//!
//! While connecting and during handshakes an `OsSocket` is a tokio socket, in
//! the runtime's reactor. Once open it may leave the reactor (when the JS
//! thread's event loop watches it). Either way the data path never awaits:
//! the JS thread calls `try_read`/`try_write` directly (a plain syscall, no
//! hop to another thread) and readiness is asked for only when a call would
//! block. See `docs/design.md`.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

pub enum OsSocket {
    /// Registered with the runtime's reactor (connecting, handshakes).
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    /// Deregistered (non-blocking): readiness comes from the JS thread's
    /// event loop, and the runtime's thread is not woken by its traffic.
    StdTcp(std::net::TcpStream),
    #[cfg(unix)]
    StdUnix(std::os::unix::net::UnixStream),
    /// Stands in while the socket moves between the two.
    Moved,
}

fn moved() -> io::Error {
    io::Error::from(io::ErrorKind::NotConnected)
}

impl OsSocket {
    /// A non-blocking read: gated by the reactor's readiness while the
    /// socket is registered (so a `WouldBlock` re-arms it), a plain `recv`
    /// once it has left the reactor.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            OsSocket::Tcp(s) => s.try_read(buf),
            #[cfg(unix)]
            OsSocket::Unix(s) => s.try_read(buf),
            _ => self.read_raw(buf),
        }
    }

    /// A non-blocking write; gated like `try_read`.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OsSocket::Tcp(s) => s.try_write(buf),
            #[cfg(unix)]
            OsSocket::Unix(s) => s.try_write(buf),
            _ => self.write_raw(buf),
        }
    }

    /// Leaves the runtime's reactor; the socket stays open and non-blocking.
    pub fn deregister(self) -> io::Result<OsSocket> {
        Ok(match self {
            OsSocket::Tcp(s) => OsSocket::StdTcp(s.into_std()?),
            #[cfg(unix)]
            OsSocket::Unix(s) => OsSocket::StdUnix(s.into_std()?),
            other => other,
        })
    }

    /// Whether the socket is in the runtime's reactor.
    pub fn is_registered(&self) -> bool {
        match self {
            OsSocket::Tcp(_) => true,
            #[cfg(unix)]
            OsSocket::Unix(_) => true,
            _ => false,
        }
    }

    /// Joins the runtime's reactor again (for a handshake). Must be called
    /// from within the runtime.
    pub fn register(self) -> io::Result<OsSocket> {
        Ok(match self {
            OsSocket::StdTcp(s) => OsSocket::Tcp(TcpStream::from_std(s)?),
            #[cfg(unix)]
            OsSocket::StdUnix(s) => OsSocket::Unix(UnixStream::from_std(s)?),
            other => other,
        })
    }

    /// A plain non-blocking `recv`, never gated by the reactor's readiness
    /// (draining a socket that is being closed or upgraded).
    pub fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        let sock = self.sock_ref().ok_or_else(moved)?;
        (&*sock).read(buf)
    }

    /// A plain non-blocking `send`; see `read_raw`.
    pub fn write_raw(&self, buf: &[u8]) -> io::Result<usize> {
        let sock = self.sock_ref().ok_or_else(moved)?;
        (&*sock).write(buf)
    }

    fn sock_ref(&self) -> Option<socket2::SockRef<'_>> {
        Some(match self {
            OsSocket::Tcp(s) => socket2::SockRef::from(s),
            #[cfg(unix)]
            OsSocket::Unix(s) => socket2::SockRef::from(s),
            OsSocket::StdTcp(s) => socket2::SockRef::from(s),
            #[cfg(unix)]
            OsSocket::StdUnix(s) => socket2::SockRef::from(s),
            OsSocket::Moved => return None,
        })
    }

    #[cfg(unix)]
    pub fn raw_fd(&self) -> Option<std::os::unix::io::RawFd> {
        use std::os::unix::io::AsRawFd;
        self.sock_ref().map(|s| s.as_raw_fd())
    }

    /// Waits (on the runtime) until the socket is ready for `interest`.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        match self {
            OsSocket::Tcp(s) => s.ready(interest).await,
            #[cfg(unix)]
            OsSocket::Unix(s) => s.ready(interest).await,
            _ => Err(io::Error::other(
                "socket is not registered with the runtime",
            )),
        }
    }

    /// Makes closing abort the connection (RST, unsent data dropped) instead
    /// of the kernel trying to deliver what it still holds before FIN.
    pub fn reset_on_close(&self) -> io::Result<()> {
        self.sock_ref()
            .ok_or_else(moved)?
            .set_linger(Some(std::time::Duration::ZERO))
    }

    /// Sends FIN; the read side stays open.
    pub fn shutdown_write(&self) -> io::Result<()> {
        let r = self.sock_ref().ok_or_else(moved)?.shutdown(Shutdown::Write);
        // A peer that already went away makes shutdown fail with ENOTCONN;
        // there is nothing left to finish then.
        match r {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }

    /// `ip:port` (`[ipv6]:port`) of both ends; the path for Unix sockets.
    pub fn addresses(&self) -> (String, String) {
        let Some(sock) = self.sock_ref() else {
            return (String::new(), String::new());
        };
        (
            show_address(sock.peer_addr()),
            show_address(sock.local_addr()),
        )
    }

    /// The local end's address, as in [`OsSocket::addresses`].
    pub fn local_address(&self) -> String {
        self.sock_ref()
            .map(|sock| show_address(sock.local_addr()))
            .unwrap_or_default()
    }
}

/// An address as `opened` reports it; empty when the system gives none.
fn show_address(a: io::Result<socket2::SockAddr>) -> String {
    a.ok()
        .and_then(|a| match a.as_socket() {
            Some(ip) => Some(ip.to_string()),
            None => a.as_pathname().map(|p| p.display().to_string()),
        })
        .unwrap_or_default()
}

//! The connected transport and its non-blocking primitives.
//!
//! A `Stream` is a tokio socket: tokio's reactor owns its registration and
//! tells us when it is ready. The data path never awaits on it, though: the
//! JS thread calls `try_read`/`try_write` directly (a plain syscall, no hop
//! to another thread) and only asks the runtime to watch for readiness when
//! a call would block. See `docs/design.md`.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.try_read(buf),
        }
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.try_write(buf),
        }
    }

    /// A plain non-blocking `recv`, not gated by the runtime's readiness:
    /// for when readiness comes from the JS thread's event loop instead.
    pub fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        let sock = self.sock_ref();
        (&*sock).read(buf)
    }

    /// A plain non-blocking `send`; see `read_raw`.
    pub fn write_raw(&self, buf: &[u8]) -> io::Result<usize> {
        let sock = self.sock_ref();
        (&*sock).write(buf)
    }

    fn sock_ref(&self) -> socket2::SockRef<'_> {
        match self {
            Stream::Tcp(s) => socket2::SockRef::from(s),
            #[cfg(unix)]
            Stream::Unix(s) => socket2::SockRef::from(s),
        }
    }

    #[cfg(unix)]
    pub fn raw_fd(&self) -> std::os::unix::io::RawFd {
        use std::os::unix::io::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Waits (on the runtime) until the socket is ready for `interest`.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        match self {
            Stream::Tcp(s) => s.ready(interest).await,
            #[cfg(unix)]
            Stream::Unix(s) => s.ready(interest).await,
        }
    }

    /// Sends FIN; the read side stays open.
    pub fn shutdown_write(&self) -> io::Result<()> {
        let r = match self {
            Stream::Tcp(s) => socket2::SockRef::from(s).shutdown(Shutdown::Write),
            #[cfg(unix)]
            Stream::Unix(s) => socket2::SockRef::from(s).shutdown(Shutdown::Write),
        };
        // A peer that already went away makes shutdown fail with ENOTCONN;
        // there is nothing left to finish then.
        match r {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }

    /// `ip:port` (`[ipv6]:port`) of both ends; the path for Unix sockets.
    pub fn addresses(&self) -> (String, String) {
        match self {
            Stream::Tcp(s) => (
                s.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
                s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            ),
            #[cfg(unix)]
            Stream::Unix(s) => {
                let path = |a: io::Result<tokio::net::unix::SocketAddr>| {
                    a.ok()
                        .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                        .unwrap_or_default()
                };
                (path(s.peer_addr()), path(s.local_addr()))
            }
        }
    }
}

/// `std::io::Read`/`Write` over a shared `Stream`, returning `WouldBlock`
/// instead of waiting. This is what a TLS session runs over: it records which
/// direction blocked so the caller knows what readiness to wait for.
pub struct NonBlocking {
    pub stream: Arc<Stream>,
    pub blocked_on: Option<Interest>,
    /// Plain syscalls (readiness from the JS thread's event loop) instead of
    /// the runtime-gated ones used during the handshake.
    pub raw: bool,
}

impl NonBlocking {
    pub fn new(stream: Arc<Stream>) -> Self {
        NonBlocking {
            stream,
            blocked_on: None,
            raw: false,
        }
    }

    fn note<T>(&mut self, r: io::Result<T>, interest: Interest) -> io::Result<T> {
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.blocked_on = Some(interest);
        }
        r
    }
}

impl Read for NonBlocking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = if self.raw {
            self.stream.read_raw(buf)
        } else {
            self.stream.try_read(buf)
        };
        self.note(r, Interest::READABLE)
    }
}

impl Write for NonBlocking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = if self.raw {
            self.stream.write_raw(buf)
        } else {
            self.stream.try_write(buf)
        };
        self.note(r, Interest::WRITABLE)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

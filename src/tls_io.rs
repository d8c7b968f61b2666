//! The I/O a TLS session runs over: non-blocking reads and writes on the
//! socket, with a read buffer, a record of which direction blocked, and the
//! capture of the server's first bytes (for the negotiated version).

use std::io::{self, Read, Write};
use std::sync::Arc;

use tokio::io::Interest;

use crate::os_socket::OsSocket;

/// `std::io::Read`/`Write` over a shared `OsSocket`, returning `WouldBlock`
/// instead of waiting. This is what a TLS session runs over: it records which
/// direction blocked so the caller knows what readiness to wait for.
///
/// Reads go through a buffer: OpenSSL asks for a record's 5-byte header and
/// then its body, two system calls per record without one. With it, one
/// `recv` takes whatever has arrived, and a short `recv` tells that the
/// socket had nothing more (see [`NonBlocking::may_have_more`]).
pub struct NonBlocking {
    pub stream: Arc<OsSocket>,
    pub blocked_on: Option<Interest>,
    /// While set (during a handshake), the first bytes read are copied here,
    /// up to `hello::CAPTURE_LIMIT`, to learn the TLS version.
    pub capture: Option<Vec<u8>>,
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last `recv` returned less than it asked for: the socket was empty.
    drained: bool,
}

/// A TLS record (16 KiB and its overhead) and then some.
const INBUF_SIZE: usize = 17 * 1024;

impl NonBlocking {
    pub fn new(stream: Arc<OsSocket>) -> Self {
        NonBlocking {
            stream,
            blocked_on: None,
            capture: None,
            inbuf: Vec::new(),
            start: 0,
            end: 0,
            drained: false,
        }
    }

    fn note<T>(&mut self, r: io::Result<T>, interest: Interest) -> io::Result<T> {
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.blocked_on = Some(interest);
        }
        r
    }

    /// Whether a read could return more without waiting: bytes are buffered
    /// here, or the last `recv` filled its buffer (so the socket may hold more).
    pub fn may_have_more(&self) -> bool {
        self.start < self.end || !self.drained
    }
}

impl Read for NonBlocking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if self.inbuf.is_empty() {
                self.inbuf = vec![0; INBUF_SIZE];
            }
            let r = self.stream.try_read(&mut self.inbuf);
            let n = self.note(r, Interest::READABLE)?;
            self.drained = n < self.inbuf.len();
            if let Some(kept) = self.capture.as_mut() {
                let room = crate::hello::CAPTURE_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&self.inbuf[..n.min(room)]);
            }
            self.start = 0;
            self.end = n;
            if n == 0 {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.end - self.start);
        buf[..n].copy_from_slice(&self.inbuf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl Write for NonBlocking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.stream.try_write(buf);
        self.note(r, Interest::WRITABLE)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

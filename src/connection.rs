//! One connection's state machine, free of any napi type: its state
//! (connecting, dialing, open, closed), the non-blocking read and write
//! calls of the JS thread, the interests they arm, and the events it
//! reports. How a connection is established (on the runtime, dialled
//! directly, or upgraded to TLS) is `setup`.
//!
//! What runs where:
//! - the runtime (a tokio task) connects, resolves names, runs handshakes and
//!   timers (`setup`);
//! - the JS thread reads and writes with non-blocking calls (`read`,
//!   `write`). When one would block, it *arms* an interest, which readiness
//!   reports when it is ready (see `readiness`). A message that can be
//!   written or read at once costs no hop.
//!
//! Events reach the JS thread through an [`EventSink`], in order.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::Interest;
use tokio_util::sync::CancellationToken;

use crate::error::SocketErr;
use crate::os_socket::OsSocket;
use crate::readiness::Armed;

/// Readiness bits, as reported in `Event::Ready`.
pub use crate::protocol::{READABLE, WRITABLE};
pub(crate) use crate::transport::discard_input;
pub use crate::transport::{ReadOutcome, SocketInfo, Transport, WriteOutcome};

#[derive(Debug)]
pub enum Event {
    /// The connection (and handshake, for TLS) is established.
    Opened(SocketInfo),
    /// Connecting or the handshake failed; the connection is gone.
    Failed(SocketErr),
    /// The armed interests in these bits are ready: try again.
    Ready(u32),
}

pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

pub(crate) enum State {
    Connecting,
    /// Connecting from the JS thread (`setup`): waiting for writability.
    Dialing {
        stream: Arc<OsSocket>,
        addr: SocketAddr,
    },
    Open(Transport),
    Closed,
}

pub struct Conn {
    state: Mutex<State>,
    /// Readiness comes from the JS thread's event loop (the napi layer polls
    /// the socket there) rather than from the runtime's readiness task.
    pub(crate) event_loop_readiness: bool,
    /// Interests the JS thread waits for.
    armed: Armed,
    /// Ends the work on the runtime: connecting, the readiness task.
    pub(crate) cancel: CancellationToken,
    sink: Mutex<Option<Box<dyn EventSink>>>,
}

impl Conn {
    /// `event_loop_readiness`: the caller watches the socket itself after it
    /// opens (see [`Conn::take_wanted`]); no readiness task runs then.
    pub fn new(sink: Box<dyn EventSink>, event_loop_readiness: bool) -> Arc<Self> {
        Arc::new(Conn {
            state: Mutex::new(State::Connecting),
            event_loop_readiness,
            armed: Armed::default(),
            cancel: CancellationToken::new(),
            sink: Mutex::new(Some(sink)),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated
        // in a way that matters more than losing the socket, so carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit(&self, event: Event) {
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = sink.as_ref() {
            sink.emit(event);
        }
    }

    /// Drops the sink: no more events, and the JS side stops being kept alive.
    pub(crate) fn release_sink(&self) {
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(sink);
    }

    /// Connecting (and any handshake) succeeded: the connection is open,
    /// unless it was closed meanwhile.
    pub(crate) fn opened(self: &Arc<Self>, transport: Transport) {
        let info = transport.info();
        let transport = if self.event_loop_readiness {
            // Connecting and the handshake are over: from now on readiness
            // comes from the event loop.
            match transport.deregistered() {
                Ok(t) => t,
                Err(e) => return self.fail(e),
            }
        } else {
            transport
        };
        let stream = transport.stream.clone();
        {
            let mut state = self.lock();
            if !matches!(*state, State::Connecting) {
                return; // closed while connecting: dropping the transport closes it
            }
            *state = State::Open(transport);
        }
        if !self.event_loop_readiness {
            let conn = self.clone();
            tokio::spawn(async move {
                // Should it ever panic, the socket's next read or write still
                // tells the state of the connection: report both ready.
                let report = conn.armed.report(&stream, &conn.cancel, |bits| {
                    conn.emit(Event::Ready(bits));
                });
                if crate::panic_guard::catch_async(report).await.is_err() {
                    conn.emit(Event::Ready(READABLE | WRITABLE));
                }
            });
        }
        self.emit(Event::Opened(info));
        self.opened_on_event_loop();
    }

    /// With event-loop readiness nothing is reported from another thread
    /// once the connection is open (the JS thread's poll reports readiness),
    /// so the event sink (a thread-safe function: a libuv handle and its
    /// queue) goes, rather than being held by every open socket. What it
    /// queued is still delivered.
    pub(crate) fn opened_on_event_loop(&self) {
        if self.event_loop_readiness {
            self.release_sink();
        }
    }

    /// Connecting failed: reported as the `Failed` event (also for a dial
    /// that fails at once, so that callers see every failure the same way).
    pub fn fail(&self, e: SocketErr) {
        {
            let mut state = self.lock();
            if !matches!(*state, State::Connecting) {
                return;
            }
            *state = State::Closed;
        }
        self.emit(Event::Failed(e));
        self.release_sink();
    }

    pub(crate) fn arm(&self, interest: Interest) {
        self.armed.arm(interest, !self.event_loop_readiness);
    }

    /// Withdraws an armed interest whose answer is known.
    pub(crate) fn disarm(&self, interest: Interest) {
        self.armed.disarm(crate::readiness::bit(interest));
    }

    /// Arms readability without trying a read first: for when a read came
    /// back short, so the socket is known to be empty. A short TLS read
    /// is one that went on until the socket had nothing more (see `read`),
    /// so the same holds there; the session may be waiting to write instead.
    pub fn arm_readable(&self) {
        let interest = match &*self.lock() {
            State::Open(t) => t.blocked_on(Interest::READABLE),
            _ => Interest::READABLE,
        };
        self.arm(interest);
    }

    /// With event-loop readiness: the interests armed since the last call,
    /// for the caller to watch.
    pub fn take_wanted(&self) -> u32 {
        self.armed.take()
    }

    /// The socket's descriptor while open, for event-loop readiness.
    #[cfg(unix)]
    pub fn raw_fd(&self) -> Option<std::os::unix::io::RawFd> {
        match &*self.lock() {
            State::Open(t) => t.stream.raw_fd(),
            State::Dialing { stream, .. } => stream.raw_fd(),
            _ => None,
        }
    }

    /// Runs `f` on the open transport (`closed` otherwise) and arms what it
    /// would block on: the one place where a blocked call arms readiness.
    fn on_transport<T>(
        &self,
        closed: T,
        f: impl FnOnce(&mut Transport) -> (T, Option<Interest>),
    ) -> T {
        let (outcome, blocked) = match &mut *self.lock() {
            State::Open(t) => f(t),
            _ => (closed, None),
        };
        if let Some(interest) = blocked {
            self.arm(interest);
        }
        outcome
    }

    /// Reads what is available into `buf`, without waiting.
    pub fn read(&self, buf: &mut [u8]) -> ReadOutcome {
        self.on_transport(ReadOutcome::Eof, |t| t.read(buf))
    }

    /// Writes as much of `data` as the socket takes now, without waiting.
    pub fn write(&self, data: &[u8]) -> WriteOutcome {
        let closed = WriteOutcome::Failed(SocketErr::sys("EPIPE", "write"));
        self.on_transport(closed, |t| t.write(data))
    }

    /// Ends our sending side (TLS close_notify, then FIN). `Ok(false)` means
    /// the socket was full: writability is armed, call again when ready.
    pub fn shutdown_write(&self) -> Result<bool, SocketErr> {
        self.on_transport(Ok(true), Transport::shutdown_write)
    }

    /// Closes the connection (or cancels the attempt) and releases everything:
    /// the socket, the readiness task and the event sink.
    pub fn close(&self) {
        let previous = std::mem::replace(&mut *self.lock(), State::Closed);
        if let State::Open(t) = previous {
            discard_input(&t.stream);
        }
        self.cancel.cancel();
        self.release_sink();
    }

    /// The coming `close` resets the connection. Used when `close()` gives up
    /// on a peer that stopped reading: its data is dropped, not kept by the
    /// kernel for minutes. Should the option fail, the close is a plain one.
    pub fn reset_on_close(&self) {
        if let State::Open(t) = &*self.lock() {
            let _ = t.stream.reset_on_close();
        }
    }

    /// Moves the transport out for a STARTTLS upgrade, leaving this
    /// connection closed but the socket open. `None` if there is none yet.
    pub(crate) fn take_transport(&self) -> Option<Transport> {
        let mut state = self.lock();
        if !matches!(*state, State::Open(_)) {
            return None;
        }
        match std::mem::replace(&mut *state, State::Closed) {
            State::Open(t) => {
                drop(state);
                self.cancel.cancel();
                self.release_sink();
                Some(t)
            }
            _ => None,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open(_))
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;

//! One connection's state machine, free of any napi type.
//!
//! What runs where:
//! - the runtime (a tokio task) connects, resolves names, runs handshakes and
//!   timers; with event-loop readiness a plain TCP connection is instead
//!   dialled from the JS thread, or from the blocking thread that resolved
//!   its name ([`Conn::start_direct`]);
//! - the JS thread reads and writes with non-blocking calls (`read`,
//!   `write`). When one would block, it *arms* an interest. With event-loop
//!   readiness the napi layer watches it on the JS thread's loop
//!   ([`Conn::take_wanted`]) and the open socket leaves the runtime's
//!   reactor; otherwise a readiness task on the runtime waits for it and
//!   reports `Event::Ready`. Either way the JS thread then tries again. A
//!   message that can be written or read at once costs no hop.
//!
//! Events reach the JS thread through an [`EventSink`], in order.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::Interest;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::address::{Host, Target};
use crate::dial::{
    connect, connect_error, connect_tcp, dial, dial_outcome, resolve_name, ConnectOptions,
};
use crate::error::SocketErr;
use crate::os_socket::OsSocket;
use crate::tls::{self, TlsConfig};

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

enum State {
    Connecting,
    /// Connecting from the JS thread ([`Conn::dial`]): waiting for writability.
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
    event_loop_readiness: bool,
    /// Interests the JS thread waits for (READABLE | WRITABLE).
    armed: AtomicU32,
    armed_changed: Notify,
    cancel: CancellationToken,
    sink: Mutex<Option<Box<dyn EventSink>>>,
}

/// How a connection is established.
pub struct ConnectPlan {
    pub target: Target,
    pub options: ConnectOptions,
    pub timeout: Option<Duration>,
    /// TLS from the first byte (`secureTransport: 'on'`).
    pub tls: Option<TlsConfig>,
}

impl Conn {
    /// `event_loop_readiness`: the caller watches the socket itself after it
    /// opens (see [`Conn::take_wanted`]); no readiness task runs then.
    pub fn new(sink: Box<dyn EventSink>, event_loop_readiness: bool) -> Arc<Self> {
        Arc::new(Conn {
            state: Mutex::new(State::Connecting),
            event_loop_readiness,
            armed: AtomicU32::new(0),
            armed_changed: Notify::new(),
            cancel: CancellationToken::new(),
            sink: Mutex::new(Some(sink)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated
        // in a way that matters more than losing the socket, so carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: Event) {
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = sink.as_ref() {
            sink.emit(event);
        }
    }

    /// Drops the sink: no more events, and the JS side stops being kept alive.
    fn release_sink(&self) {
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(sink);
    }

    /// Starts connecting. With event-loop readiness a plain TCP connection
    /// is made outside the runtime, as `node:net` makes it (no hop to the
    /// runtime's thread; see [`Conn::start_direct`]): then `true`, and the
    /// caller keeps the connect timeout. Otherwise the runtime connects (and
    /// handshakes), within the plan's timeout: `false`.
    pub fn connect(self: &Arc<Self>, rt: &Handle, plan: ConnectPlan) -> bool {
        if self.event_loop_readiness && plan.tls.is_none() {
            if let Target::Tcp { host, port } = plan.target {
                self.start_direct(rt, host, port, plan.options);
                return true;
            }
        }
        self.start(rt, plan);
        false
    }

    /// Starts connecting on the runtime; the outcome arrives as an event.
    pub fn start(self: &Arc<Self>, rt: &Handle, plan: ConnectPlan) {
        let deadline = plan.timeout.map(|t| (t, timeout_error(&plan.target)));
        let establish = async move {
            let stream = connect(&plan.target, &plan.options).await?;
            match &plan.tls {
                None => Ok(Transport::plain(stream)),
                Some(cfg) => {
                    let stream = Arc::new(stream);
                    let session = tls::handshake(stream.clone(), cfg).await?;
                    Ok(Transport::with_tls(stream, session))
                }
            }
        };
        self.establish(rt, establish, deadline);
    }

    /// Starts a plain TCP connection without the runtime's reactor, for
    /// event-loop readiness: an IP literal is dialled from the calling
    /// thread (`true`: the caller watches for writability at once); a name
    /// is resolved on a blocking thread, which dials the address when there
    /// is one and reports `Ready(WRITABLE)`, and hands several to the
    /// runtime (Happy Eyeballs, reported as `Opened`). Either way a dial's
    /// progress is read with [`Conn::dial_outcome`] when writability is
    /// reported. No timeout applies here: the caller keeps it (closing ends
    /// every stage).
    pub fn start_direct(
        self: &Arc<Self>,
        rt: &Handle,
        host: Host,
        port: u16,
        options: ConnectOptions,
    ) -> bool {
        let name = match host {
            Host::Ip(ip) => {
                if let Err(e) = self.dial(SocketAddr::new(ip, port), &options) {
                    self.fail(e);
                    return false;
                }
                return true;
            }
            Host::Name(name) => name,
        };
        let conn = self.clone();
        let handle = rt.clone();
        rt.spawn_blocking(move || {
            if !matches!(*conn.lock(), State::Connecting) {
                return; // closed meanwhile
            }
            let outcome = crate::panic_guard::catch_sync(|| {
                match resolve_name(&name, port)? {
                    addrs if addrs.len() == 1 => {
                        conn.dial(addrs[0], &options)?;
                        conn.emit(Event::Ready(WRITABLE));
                    }
                    addrs => {
                        let work = async move {
                            Ok(Transport::plain(connect_tcp(&addrs, &options).await?))
                        };
                        // No deadline here: the caller keeps the timeout.
                        conn.establish(&handle, work, None);
                    }
                }
                Ok(())
            });
            if let Err(e) = outcome.and_then(|r| r) {
                conn.fail(e);
            }
        });
        false
    }

    /// Starts connecting to `addr` from the calling thread, without the
    /// runtime: writability is armed, and when it is reported the caller
    /// asks [`Conn::dial_outcome`].
    fn dial(&self, addr: SocketAddr, opts: &ConnectOptions) -> Result<(), SocketErr> {
        let stream = dial(addr, opts).map_err(|e| connect_error(&e, addr))?;
        let stream = Arc::new(OsSocket::StdTcp(stream));
        {
            let mut state = self.lock();
            if !matches!(*state, State::Connecting) {
                return Ok(()); // closed meanwhile: the socket goes with `stream`
            }
            *state = State::Dialing { stream, addr };
        }
        self.arm(Interest::WRITABLE);
        Ok(())
    }

    /// After writability (or an error) was reported while dialing: `None`
    /// while the connection is still being made (writability is armed
    /// again), otherwise opened or failed. A failure closes the connection.
    pub fn dial_outcome(&self) -> Option<Result<SocketInfo, SocketErr>> {
        let mut state = self.lock();
        let State::Dialing { stream, addr } = &*state else {
            return None;
        };
        let outcome = match &**stream {
            OsSocket::StdTcp(s) => dial_outcome(s),
            _ => Err(io::Error::from(io::ErrorKind::NotConnected)),
        };
        match outcome {
            Ok(false) => {
                drop(state);
                self.arm(Interest::WRITABLE);
                None
            }
            Ok(true) => {
                let transport = Transport::plain_shared(stream.clone());
                let info = transport.info();
                *state = State::Open(transport);
                Some(Ok(info))
            }
            Err(e) => {
                let err = connect_error(&e, *addr);
                *state = State::Closed;
                drop(state);
                self.release_sink();
                Some(Err(err))
            }
        }
    }

    /// STARTTLS: takes over the plain transport of another connection (see
    /// [`Conn::take_transport`]) and runs the TLS handshake over it.
    pub fn start_upgrade(
        self: &Arc<Self>,
        rt: &Handle,
        plain: Transport,
        config: TlsConfig,
        timeout: Option<Duration>,
    ) {
        let stream = plain.stream.clone();
        drop(plain);
        let upgrade = async move {
            // What the peer sent after its go-ahead and before our ClientHello
            // must never reach the application.
            discard_input(&stream);
            // The handshake waits on the runtime's reactor. A socket that
            // left it (event-loop readiness) joins it again, which needs it
            // unshared; one that never left it (runtime readiness) may still
            // be held for a moment by the old connection's readiness task,
            // which ends on its own, and is used as it is.
            let stream = match Arc::try_unwrap(stream) {
                Ok(socket) => Arc::new(
                    socket
                        .register()
                        .map_err(|e| SocketErr::from_io(&e, "epoll_ctl"))?,
                ),
                Err(shared) if shared.is_registered() => shared,
                Err(_) => return Err(SocketErr::other("EBUSY", "the socket is still in use")),
            };
            let session = tls::handshake(stream.clone(), &config).await?;
            Ok(Transport::with_tls(stream, session))
        };
        let deadline =
            timeout.map(|t| (t, SocketErr::other("ETIMEDOUT", "TLS handshake timed out")));
        self.establish(rt, upgrade, deadline);
    }

    /// Runs `work` on the runtime, within the deadline if any (failing with
    /// its error), unless the connection is closed first; reports the outcome
    /// as `Opened` or `Failed`.
    fn establish(
        self: &Arc<Self>,
        rt: &Handle,
        work: impl Future<Output = Result<Transport, SocketErr>> + Send + 'static,
        deadline: Option<(Duration, SocketErr)>,
    ) {
        let conn = self.clone();
        rt.spawn(async move {
            let timed = crate::panic_guard::catch_async(async {
                match deadline {
                    None => work.await,
                    Some((t, timed_out)) => tokio::time::timeout(t, work)
                        .await
                        .unwrap_or_else(|_| Err(timed_out)),
                }
            });
            let result = tokio::select! {
                _ = conn.cancel.cancelled() => return,
                r = timed => r.and_then(|r| r),
            };
            match result {
                Ok(transport) => conn.opened(transport),
                Err(e) => conn.fail(e),
            }
        });
    }

    fn opened(self: &Arc<Self>, transport: Transport) {
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
                if crate::panic_guard::catch_async(conn.watch_readiness(stream))
                    .await
                    .is_err()
                {
                    conn.emit(Event::Ready(READABLE | WRITABLE));
                }
            });
        }
        self.emit(Event::Opened(info));
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

    /// The readiness task: waits for whatever the JS thread armed, reports it,
    /// and goes back to sleep until something is armed again.
    async fn watch_readiness(&self, stream: Arc<OsSocket>) {
        loop {
            let armed = self.armed.load(Ordering::Acquire);
            let interest = match (armed & READABLE != 0, armed & WRITABLE != 0) {
                (true, true) => Interest::READABLE | Interest::WRITABLE,
                (true, false) => Interest::READABLE,
                (false, true) => Interest::WRITABLE,
                (false, false) => {
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = self.armed_changed.notified() => continue,
                    }
                }
            };
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = self.armed_changed.notified() => continue,
                r = stream.ready(interest) => {
                    let mut got = 0;
                    match r {
                        Ok(ready) => {
                            if ready.is_readable() || ready.is_read_closed() {
                                got |= READABLE;
                            }
                            if ready.is_writable() || ready.is_write_closed() {
                                got |= WRITABLE;
                            }
                        }
                        // Report everything: the next read or write sees the error.
                        Err(_) => got = READABLE | WRITABLE,
                    }
                    let got = self.armed.fetch_and(!got, Ordering::AcqRel) & got;
                    if got != 0 {
                        self.emit(Event::Ready(got));
                    }
                }
            }
        }
    }

    fn arm(&self, interest: Interest) {
        let bit = if interest.is_writable() {
            WRITABLE
        } else {
            READABLE
        };
        let before = self.armed.fetch_or(bit, Ordering::AcqRel);
        if !self.event_loop_readiness && before & bit == 0 {
            self.armed_changed.notify_one();
        }
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
        self.armed.swap(0, Ordering::AcqRel)
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

fn timeout_error(target: &Target) -> SocketErr {
    let e = SocketErr::sys("ETIMEDOUT", "connect");
    match target {
        Target::Tcp { host, port } => e.at(host.to_string(), Some(*port)),
        Target::Unix { path } => e.at(path.clone(), None),
    }
}

#[cfg(test)]
mod tests {
    //! The state machine driven without Node: a sink that records events,
    //! real loopback sockets, the addon's runtime.

    use super::*;
    use std::io::{Read as _, Write as _};
    use std::sync::mpsc;

    struct RecordingSink(Mutex<mpsc::Sender<Event>>);

    impl EventSink for RecordingSink {
        fn emit(&self, event: Event) {
            let _ = self.0.lock().unwrap().send(event);
        }
    }

    fn conn(event_loop: bool) -> (Arc<Conn>, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        (
            Conn::new(Box::new(RecordingSink(Mutex::new(tx))), event_loop),
            rx,
        )
    }

    fn rt() -> Handle {
        crate::runtime::handle().unwrap()
    }

    fn plan(addr: SocketAddr) -> ConnectPlan {
        ConnectPlan {
            target: Target::Tcp {
                host: Host::Ip(addr.ip()),
                port: addr.port(),
            },
            options: ConnectOptions::default(),
            timeout: Some(Duration::from_secs(5)),
            tls: None,
        }
    }

    fn next(rx: &mpsc::Receiver<Event>) -> Event {
        rx.recv_timeout(Duration::from_secs(5)).expect("an event")
    }

    /// Reads until data, end or failure, waiting for readiness events.
    fn read_some(c: &Conn, rx: &mpsc::Receiver<Event>, buf: &mut [u8]) -> ReadOutcome {
        loop {
            match c.read(buf) {
                ReadOutcome::WouldBlock => assert!(matches!(next(rx), Event::Ready(_))),
                other => return other,
            }
        }
    }

    #[test]
    fn opens_on_the_runtime_reads_writes_and_sees_the_peer_end() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (c, rx) = conn(false);
        c.start(&rt(), plan(addr));
        let (mut peer, _) = listener.accept().unwrap();
        let Event::Opened(info) = next(&rx) else {
            panic!("not opened")
        };
        assert_eq!(info.remote_address, addr.to_string());
        assert!(c.is_open());
        assert_eq!(c.write(b"ping"), WriteOutcome::Wrote(4));
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        // Data, then the peer's FIN: the data first, then the end, for good.
        peer.write_all(b"pong").unwrap();
        drop(peer);
        let mut buf = [0u8; 16];
        let mut data = Vec::new();
        loop {
            match read_some(&c, &rx, &mut buf) {
                ReadOutcome::Data(n) => data.extend_from_slice(&buf[..n]),
                ReadOutcome::Eof => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(data, b"pong");
        assert_eq!(c.read(&mut buf), ReadOutcome::Eof);
        assert_eq!(c.shutdown_write(), Ok(true));
        c.close();
        assert!(!c.is_open());
        assert_eq!(c.read(&mut buf), ReadOutcome::Eof);
        assert!(matches!(c.write(b"x"), WriteOutcome::Failed(_)));
    }

    #[test]
    fn a_refused_connection_fails_once() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (c, rx) = conn(false);
        c.start(&rt(), plan(addr));
        let Event::Failed(e) = next(&rx) else {
            panic!("not failed")
        };
        assert_eq!(e.code, "ECONNREFUSED");
        assert_eq!(e.port, Some(addr.port()));
        // Failing again (or after close) reports nothing more.
        c.fail(SocketErr::other("X", "late"));
        c.close();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn close_while_dialing_ends_the_attempt_silently() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (c, rx) = conn(true);
        assert!(c.start_direct(
            &rt(),
            Host::Ip(addr.ip()),
            addr.port(),
            ConnectOptions::default()
        ));
        assert_eq!(c.take_wanted(), WRITABLE);
        c.close();
        assert!(c.dial_outcome().is_none());
        assert!(!c.is_open());
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn a_direct_dial_opens_when_writability_is_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (c, _rx) = conn(true);
        assert!(c.start_direct(
            &rt(),
            Host::Ip(addr.ip()),
            addr.port(),
            ConnectOptions::default()
        ));
        let _peer = listener.accept().unwrap();
        let info = loop {
            match c.dial_outcome() {
                Some(r) => break r.unwrap(),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        assert_eq!(info.remote_address, addr.to_string());
        assert!(c.is_open());
        c.close();
    }

    #[test]
    fn close_during_the_name_lookup_reports_nothing() {
        let (c, rx) = conn(true);
        assert!(!c.start_direct(
            &rt(),
            Host::Name("localhost".into()),
            9,
            ConnectOptions::default()
        ));
        c.close();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        assert!(!c.is_open());
    }

    #[test]
    fn a_panic_while_connecting_fails_that_connection() {
        let (c, rx) = conn(false);
        c.establish(
            &rt(),
            async {
                tokio::task::yield_now().await;
                panic!("a dependency's unwrap");
            },
            None,
        );
        let Event::Failed(e) = next(&rx) else {
            panic!("not failed")
        };
        assert_eq!(e.code, "ERR_INTERNAL");
        assert!(e.message().contains("a dependency's unwrap"));
        // The runtime goes on: another connection still opens.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (c2, rx2) = conn(false);
        c2.start(&rt(), plan(listener.local_addr().unwrap()));
        assert!(matches!(next(&rx2), Event::Opened(_)));
        c2.close();
    }

    #[test]
    fn the_transport_moves_out_once_for_an_upgrade() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (c, rx) = conn(false);
        c.start(&rt(), plan(listener.local_addr().unwrap()));
        assert!(matches!(next(&rx), Event::Opened(_)));
        assert!(c.take_transport().is_some());
        assert!(!c.is_open());
        assert!(c.take_transport().is_none());
    }
}

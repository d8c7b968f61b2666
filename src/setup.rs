//! How a connection is established: on the runtime (resolution, Happy
//! Eyeballs, the TLS handshake, within the connect timeout), dialled
//! directly from the JS thread (plain TCP with event-loop readiness, as
//! `node:net` connects), or upgraded to TLS over an open connection
//! (STARTTLS). Each ends in `Conn::opened` or `Conn::fail`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::runtime::Handle;

use crate::address::{Host, Target};
use crate::connection::{discard_input, Conn, Event, SocketInfo, State, Transport, WRITABLE};
use crate::dial::{
    connect, connect_error, connect_tcp, dial, dial_outcome, resolve_name, ConnectOptions,
};
use crate::error::SocketErr;
use crate::os_socket::OsSocket;
use crate::tls::{self, TlsConfig};

/// How a connection is established.
pub struct ConnectPlan {
    pub target: Target,
    pub options: ConnectOptions,
    pub timeout: Option<Duration>,
    /// TLS from the first byte (`secureTransport: 'on'`).
    pub tls: Option<TlsConfig>,
}

impl Conn {
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
                let info = transport.info_dialed(*addr);
                *state = State::Open(transport);
                drop(state);
                // The dial armed writability to learn this (a name's dial
                // arms it on a blocking thread and reports at once, before
                // the poll exists): answered now, and watching it would only
                // wake the loop and cost a second `uv_poll_start` to drop.
                self.disarm(Interest::WRITABLE);
                self.opened_on_event_loop();
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
    pub(crate) fn establish(
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
}

fn timeout_error(target: &Target) -> SocketErr {
    let e = SocketErr::sys("ETIMEDOUT", "connect");
    match target {
        Target::Tcp { host, port } => e.at(host.to_string(), Some(*port)),
        Target::Unix { path } => e.at(path.clone(), None),
    }
}

//! The napi surface of `sockets-api`: a native socket handle for the JS shim
//! (`lib/`), which owns validation, streams and error classes.
//!
//! The napi-free core, in layers (each uses only those before it):
//! `protocol`, `error`, `address` (parsing), `hello`, `runtime`,
//! `panic_guard`; `os_socket` (the OS socket); `tls_io`, `connector_cache`,
//! `identity`, `tls` (TLS I/O and sessions); `dial` (resolution, attempts);
//! `connection` (the state machine, the read and write paths); `registry`.
//! Readiness is `readiness` (both modes) over `uv_poll` (FFI, JS thread).
//! This file converts values and forwards, every call into a connection
//! through one path that watches what the call armed; the decisions (how to
//! connect, the STARTTLS upgrade) are the connection's.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod address;
pub mod connection;
mod connector_cache;
pub mod dial;
pub mod error;
pub mod hello;
#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
mod identity;
pub mod os_socket;
mod panic_guard;
pub mod protocol;
mod readiness;
mod registry;
pub mod runtime;
pub mod tls;
mod tls_io;
pub mod transport;
mod uv_poll;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::address::Target;
use crate::connection::{
    Conn, ConnectPlan, Event, EventSink, ReadOutcome, SocketInfo, WriteOutcome,
};
use crate::dial::ConnectOptions;
use crate::error::SocketErr;
use crate::readiness::Readiness;
use crate::registry::Registry;
use crate::tls::{ClientIdentity, TlsConfig, TlsOptions};

use crate::protocol::{EV_FAILED, EV_OPENED, EV_READY, FAILED, READ_EOF, WOULD_BLOCK};

/// The protocol's constants, for the JS shim (see `protocol`).
#[napi]
pub fn protocol_constants() -> ProtocolConstants {
    ProtocolConstants {
        ev_opened: EV_OPENED,
        ev_failed: EV_FAILED,
        ev_ready: EV_READY,
        readable: protocol::READABLE,
        writable: protocol::WRITABLE,
        read_eof: READ_EOF,
        would_block: WOULD_BLOCK,
        failed: FAILED,
    }
}

#[napi(object)]
pub struct ProtocolConstants {
    pub ev_opened: u32,
    pub ev_failed: u32,
    pub ev_ready: u32,
    pub readable: u32,
    pub writable: u32,
    pub read_eof: i32,
    pub would_block: i32,
    pub failed: i32,
}

#[napi(object)]
pub struct ParsedAddress {
    /// `"tcp"` or `"unix"`.
    pub kind: String,
    pub hostname: Option<String>,
    pub port: Option<u32>,
    pub path: Option<String>,
}

impl From<Target> for ParsedAddress {
    fn from(t: Target) -> Self {
        match t {
            Target::Tcp { host, port } => ParsedAddress {
                kind: "tcp".into(),
                hostname: Some(host.to_string()),
                port: Some(port.into()),
                path: None,
            },
            Target::Unix { path } => ParsedAddress {
                kind: "unix".into(),
                hostname: None,
                port: None,
                path: Some(path),
            },
        }
    }
}

fn invalid(e: address::AddressError) -> Error {
    Error::new(Status::InvalidArg, e.0)
}

/// Parses `host:port`, `[ipv6]:port` or `unix:/path`.
#[napi(catch_unwind)]
pub fn parse_address(address: String) -> Result<ParsedAddress> {
    address::parse_string(&address)
        .map(Into::into)
        .map_err(invalid)
}

/// Validates the `{ hostname, port }` form.
#[napi(catch_unwind)]
pub fn parse_host_port(hostname: String, port: f64) -> Result<ParsedAddress> {
    address::parse_parts(&hostname, port)
        .map(Into::into)
        .map_err(invalid)
}

/// Validates the `{ path }` form.
#[napi(catch_unwind)]
pub fn parse_path(path: String) -> Result<ParsedAddress> {
    address::parse_path(&path).map(Into::into).map_err(invalid)
}

/// Connection facts and error details, as one shape for the event callback.
#[napi(object)]
#[derive(Default)]
pub struct EventDetail {
    pub remote_address: Option<String>,
    pub local_address: Option<String>,
    pub alpn: Option<String>,
    pub tls_protocol: Option<String>,
    pub peer_certificate: Option<Buffer>,
    pub code: Option<String>,
    pub syscall: Option<String>,
    pub address: Option<String>,
    pub port: Option<u32>,
    pub message: Option<String>,
}

impl From<SocketErr> for EventDetail {
    fn from(e: SocketErr) -> Self {
        EventDetail {
            message: Some(e.message()),
            code: Some(e.code),
            syscall: e.syscall.map(str::to_owned),
            address: e.address,
            port: e.port.map(u32::from),
            ..Default::default()
        }
    }
}

#[napi(object)]
pub struct NativeTlsOptions {
    pub ca: Option<Vec<Uint8Array>>,
    pub extra_ca: Option<Vec<Uint8Array>>,
    pub cert: Option<Uint8Array>,
    pub key: Option<Uint8Array>,
    pub passphrase: Option<String>,
    pub pfx: Option<Uint8Array>,
    pub reject_unauthorized: bool,
    pub servername: String,
    pub alpn: Option<Vec<String>>,
}

impl NativeTlsOptions {
    fn into_config(self) -> Result<TlsConfig> {
        let identity = match (self.pfx, self.cert, self.key) {
            (Some(pfx), _, _) => Some(ClientIdentity::Pfx {
                der: pfx.to_vec(),
                passphrase: self.passphrase.clone().unwrap_or_default(),
            }),
            (None, Some(cert), Some(key)) => Some(ClientIdentity::Pem {
                cert: cert.to_vec(),
                key: key.to_vec(),
                passphrase: self.passphrase.clone(),
            }),
            _ => None,
        };
        let opts = TlsOptions {
            ca: self.ca.map(|v| v.iter().map(|b| b.to_vec()).collect()),
            extra_ca: self
                .extra_ca
                .map(|v| v.iter().map(|b| b.to_vec()).collect())
                .unwrap_or_default(),
            identity,
            reject_unauthorized: self.reject_unauthorized,
            servername: self.servername,
            alpn: self.alpn.unwrap_or_default(),
        };
        TlsConfig::new(opts).map_err(socket_error)
    }
}

#[napi(object)]
pub struct NativeConnectOptions {
    pub no_delay: bool,
    /// Keep-alive initial delay in ms; absent: off.
    pub keep_alive: Option<f64>,
    pub connect_timeout: Option<f64>,
    pub tls: Option<NativeTlsOptions>,
}

/// A synchronous failure as a JS error whose message is the `SocketError`
/// text and whose `code` is Node's code (the shim rewraps it).
fn socket_error(e: SocketErr) -> Error {
    Error::new(
        Status::GenericFailure,
        format!("{}|{}", e.code, e.message()),
    )
}

fn millis(ms: Option<f64>) -> Option<Duration> {
    ms.filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| Duration::from_micros((v * 1000.0) as u64))
}

pub(crate) type EventArgs = FnArgs<(u32, u32, Option<EventDetail>)>;
type EventFn = ThreadsafeFunction<Event, (), EventArgs, Status, false>;

struct JsSink(EventFn);

impl EventSink for JsSink {
    fn emit(&self, event: Event) {
        // NonBlocking: the queue is unbounded, so this never waits; it fails
        // only while the environment is shutting down, when nobody listens.
        let _ = self.0.call(event, ThreadsafeFunctionCallMode::NonBlocking);
    }
}

fn opened_detail(info: SocketInfo) -> EventDetail {
    EventDetail {
        remote_address: Some(info.remote_address).filter(|a| !a.is_empty()),
        local_address: Some(info.local_address).filter(|a| !a.is_empty()),
        alpn: info.alpn,
        tls_protocol: info.tls_protocol.map(str::to_owned),
        peer_certificate: info.peer_certificate.map(Buffer::from),
        ..Default::default()
    }
}

fn event_args(event: Event) -> EventArgs {
    let args = match event {
        Event::Opened(info) => (EV_OPENED, 0, Some(opened_detail(info))),
        Event::Failed(e) => (EV_FAILED, 0, Some(e.into())),
        Event::Ready(bits) => (EV_READY, bits, None),
    };
    args.into()
}

fn registry(env: &Env) -> Result<Arc<Registry>> {
    if let Some(r) = env.get_instance_data::<Arc<Registry>>()? {
        return Ok(r.clone());
    }
    let r = Arc::new(Registry::default());
    env.set_instance_data(r.clone(), (), |_| {})?;
    env.add_env_cleanup_hook(r.clone(), |r| r.close_all())?;
    Ok(r)
}

fn new_conn(env: &Env, on_event: &Function<EventArgs, ()>, event_loop: bool) -> Result<Arc<Conn>> {
    let tsfn: EventFn = on_event
        .build_threadsafe_function::<Event>()
        .callee_handled::<false>()
        .build_callback(|ctx| Ok(event_args(ctx.value)))?;
    let conn = Conn::new(Box::new(JsSink(tsfn)), event_loop);
    registry(env)?.add(&conn);
    Ok(conn)
}

fn rt() -> Result<tokio::runtime::Handle> {
    runtime::handle().map_err(|e| Error::new(Status::GenericFailure, e))
}

/// The native half of a `Socket`. Every method is synchronous; outcomes that
/// take time arrive through the event callback given to the constructor.
#[napi]
pub struct NativeSocket {
    conn: Arc<Conn>,
    readiness: Readiness,
    last_error: Mutex<Option<SocketErr>>,
}

#[napi]
impl NativeSocket {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, on_event: Function<EventArgs, ()>) -> Result<Self> {
        let readiness = Readiness::new(&on_event)?;
        Ok(NativeSocket {
            conn: new_conn(&env, &on_event, readiness.is_event_loop())?,
            readiness,
            last_error: Mutex::new(None),
        })
    }

    /// Starts connecting; throws (synchronously) only on invalid TLS material.
    /// Returns true when the connection is made outside the runtime's
    /// reactor (plain TCP with event-loop readiness, see
    /// `Conn::start_direct`): then writability while connecting means "call
    /// `dialOutcome`", and the connect timeout is the caller's to keep.
    /// Otherwise the runtime connects, within the timeout, and reports
    /// `Opened` or `Failed`.
    #[napi(catch_unwind)]
    pub fn connect(
        &self,
        env: Env,
        target: ParsedAddress,
        options: NativeConnectOptions,
    ) -> Result<bool> {
        let target = match (
            target.kind.as_str(),
            target.hostname,
            target.port,
            target.path,
        ) {
            ("unix", _, _, Some(path)) => address::parse_path(&path),
            ("tcp", Some(host), Some(port), _) => address::parse_parts(&host, port.into()),
            _ => Err(address::AddressError("invalid address".into())),
        }
        .map_err(invalid)?;
        let tls = options.tls.map(NativeTlsOptions::into_config).transpose()?;
        let plan = ConnectPlan {
            target,
            options: ConnectOptions {
                no_delay: options.no_delay,
                keep_alive: options
                    .keep_alive
                    .map(|ms| millis(Some(ms)).unwrap_or_default()),
            },
            timeout: millis(options.connect_timeout),
            tls,
        };
        let rt = rt()?;
        match self.call(&env, |c| c.connect(&rt, plan)) {
            Ok(direct) => Ok(direct),
            Err(e) => {
                self.close();
                Err(socket_error(e))
            }
        }
    }

    /// After writability was reported while connecting directly: `null`
    /// while the connection is still being made (watched again), else the
    /// `Opened` details, or the failure (with a `code`).
    #[napi(catch_unwind)]
    pub fn dial_outcome(&self, env: Env) -> Option<EventDetail> {
        match self.call(&env, |c| c.dial_outcome()) {
            Ok(None) => None,
            Ok(Some(Ok(info))) => Some(opened_detail(info)),
            Ok(Some(Err(e))) | Err(e) => Some(e.into()),
        }
    }

    /// Fills `buf` with what is available now: the byte count, or
    /// -1 (end of stream), -2 (nothing yet: readiness armed), -3 (failed:
    /// see `takeError`). A short read (fewer bytes than `buf` holds) emptied
    /// the socket, so readiness is armed then too.
    #[napi(catch_unwind)]
    pub fn read(&self, env: Env, mut buf: Uint8ArraySlice) -> i32 {
        // SAFETY: this call is synchronous on the JS thread, so no JS code
        // runs (and no other view of this memory is used) until it returns;
        // the slice does not outlive the call.
        let buf = unsafe { buf.as_mut() };
        let asked = buf.len();
        let outcome = self.call(&env, |c| {
            let r = c.read(buf);
            if matches!(r, ReadOutcome::Data(n) if n < asked) {
                // Watch for what comes next now, rather than after a read
                // that would block (or a call of its own).
                c.arm_readable();
            }
            r
        });
        match outcome {
            Ok(ReadOutcome::Data(n)) => i32::try_from(n).unwrap_or(i32::MAX),
            Ok(ReadOutcome::WouldBlock) => WOULD_BLOCK,
            Ok(ReadOutcome::Eof) => READ_EOF,
            Ok(ReadOutcome::Failed(e)) | Err(e) => self.failed(e),
        }
    }

    /// Writes what the socket takes now: the byte count (fewer than given:
    /// writability armed), or -3 (failed: see `takeError`).
    #[napi(catch_unwind)]
    pub fn write(&self, env: Env, data: &[u8]) -> i32 {
        match self.call(&env, |c| c.write(data)) {
            Ok(WriteOutcome::Wrote(n)) => i32::try_from(n).unwrap_or(i32::MAX),
            Ok(WriteOutcome::Failed(e)) | Err(e) => self.failed(e),
        }
    }

    /// Sends FIN (after TLS close_notify): 1 done, 0 socket full (writability
    /// armed, call again), -3 failed.
    #[napi(catch_unwind)]
    pub fn shutdown(&self, env: Env) -> i32 {
        match self.call(&env, |c| c.shutdown_write()) {
            Ok(Ok(true)) => 1,
            Ok(Ok(false)) => 0,
            Ok(Err(e)) | Err(e) => self.failed(e),
        }
    }

    /// The error behind the last -3 result.
    #[napi(catch_unwind)]
    pub fn take_error(&self) -> Option<EventDetail> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(Into::into)
    }

    /// Makes the next `close` reset the connection (RST) instead of FIN.
    #[napi(catch_unwind)]
    pub fn reset_on_close(&self) {
        self.conn.reset_on_close();
    }

    /// Closes the socket (or cancels connecting) and releases it.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        // The poll goes first: it must not outlive the descriptor.
        self.readiness.close();
        self.conn.close();
    }

    /// STARTTLS: moves the open connection into a new handle that runs the
    /// handshake. Plaintext already received and not read is discarded.
    #[napi(catch_unwind)]
    pub fn upgrade(
        &self,
        env: Env,
        on_event: Function<EventArgs, ()>,
        tls: NativeTlsOptions,
        connect_timeout: Option<f64>,
    ) -> Result<NativeSocket> {
        let config = tls.into_config()?;
        self.readiness.close();
        let transport = self.conn.take_transport().ok_or_else(|| {
            socket_error(SocketErr::other(
                "ERR_SOCKET_CLOSED",
                "the socket is not open",
            ))
        })?;
        let readiness = Readiness::new(&on_event)?;
        let conn = new_conn(&env, &on_event, readiness.is_event_loop())?;
        conn.start_upgrade(&rt()?, transport, config, millis(connect_timeout));
        Ok(NativeSocket {
            conn,
            readiness,
            last_error: Mutex::new(None),
        })
    }

    /// Every call into the connection: runs `f`, then watches whatever it
    /// armed. A watch that fails, or a panic in `f`, is the call's failure
    /// (so it reaches JS as this socket's `SocketError`, code `ERR_INTERNAL`
    /// for a panic).
    fn call<T>(
        &self,
        env: &Env,
        f: impl FnOnce(&Arc<Conn>) -> T,
    ) -> std::result::Result<T, SocketErr> {
        let r = panic_guard::catch_sync(|| f(&self.conn))?;
        self.readiness.watch(env, &self.conn)?;
        Ok(r)
    }

    fn failed(&self, e: SocketErr) -> i32 {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        FAILED
    }
}

/// Open connections of this environment (for tests and diagnostics).
#[napi(catch_unwind)]
pub fn open_socket_count(env: Env) -> Result<u32> {
    Ok(registry(&env)?.live() as u32)
}

/// The current turn of this thread's event loop (an iteration count), or
/// `null` where libuv cannot tell. Cheaper than a `setImmediate` per turn.
#[napi(catch_unwind)]
pub fn event_loop_turn(env: Env) -> Option<f64> {
    uv_poll::loop_turn(env.raw()).map(|n| n as f64)
}

/// Stops using the host's libuv (for hosts whose libuv functions exist but
/// must not be called); call before the first socket.
#[napi(catch_unwind)]
pub fn use_runtime_readiness() {
    uv_poll::force_runtime();
}

/// Where readiness comes from in this process: `"event-loop"` (a libuv poll
/// on the JS thread) or `"runtime"` (the addon's readiness task).
#[napi(catch_unwind)]
pub fn readiness_source() -> &'static str {
    if uv_poll::available() {
        "event-loop"
    } else {
        "runtime"
    }
}

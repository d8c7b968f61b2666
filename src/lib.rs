//! The napi surface of `sockets-api`: a native socket handle for the JS shim
//! (`lib/`), which owns validation, streams and error classes.
//!
//! The napi-free core, in layers (each uses only those before it):
//! - parsing: `protocol`, `error`, `address`, `hello`; and `runtime`,
//!   `panic_guard`;
//! - the OS socket: `os_socket`;
//! - TLS I/O and sessions: `tls_io`, `connector_cache`, `identity`, the
//!   backends `tls_openssl` (OpenSSL, with resumption) and `tls_native`
//!   (the system's TLS on macOS and Windows), `tls`;
//! - dialing: `dial` (resolution, attempts, Happy Eyeballs);
//! - the transport's read/write loops: `transport`;
//! - readiness, both modes: `readiness`; and `watch_table` (the rules of
//!   an edge-triggered set shared by a thread's sockets);
//! - the connection state machine: `connection`, and `setup` (how one is
//!   established);
//! - `registry` (the connections of an environment).
//!
//! The napi layer, on the JS thread: `napi_values` (what crosses the
//! boundary), `js_events` (the runtime's events, routed to each socket's
//! callback), `uv_symbols` (libuv, found at run time), `epoll_set`
//! (Linux: the sockets of a JS thread in one epoll set behind one libuv
//! poll), `uv_poll` (a libuv poll per socket, elsewhere),
//! `js_ready_call` (readiness to a socket's callback), `js_readiness` (a
//! socket's watcher), `fast_calls` (reads and writes as
//! plain Node-API functions), and this file, which converts and forwards:
//! every call into a connection goes through one path that watches what the
//! call armed.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod address;
pub mod connection;
mod connector_cache;
pub mod dial;
#[cfg(target_os = "linux")]
mod epoll_set;
pub mod error;
mod fast_calls;
pub mod hello;
#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
mod identity;
mod js_events;
mod js_readiness;
mod js_ready_call;
mod napi_values;
pub mod os_socket;
mod panic_guard;
pub mod protocol;
mod readiness;
mod registry;
pub mod runtime;
pub mod setup;
pub mod tls;
mod tls_io;
#[cfg(any(target_os = "windows", target_vendor = "apple", test))]
mod tls_native;
#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
mod tls_openssl;
pub mod transport;
mod uv_poll;
mod uv_symbols;
mod watch_table;

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::connection::{Conn, ReadOutcome, WriteOutcome};
use crate::error::SocketErr;
use crate::js_readiness::Readiness;
use crate::napi_values::{
    connect_plan, millis, napi_failure, parsed, thrown, EventArgs, EventDetail, JsResult,
    NativeConnectOptions, NativeTlsOptions, ParsedAddress, ProtocolConstants,
};
use crate::protocol::{FAILED, READ_EOF, WOULD_BLOCK};

/// The protocol's constants, for the JS shim (see `protocol`).
#[napi]
pub fn protocol_constants() -> ProtocolConstants {
    ProtocolConstants {
        ev_opened: protocol::EV_OPENED,
        ev_failed: protocol::EV_FAILED,
        ev_ready: protocol::EV_READY,
        readable: protocol::READABLE,
        writable: protocol::WRITABLE,
        read_eof: READ_EOF,
        would_block: WOULD_BLOCK,
        failed: FAILED,
    }
}

/// Parses `host:port`, `[ipv6]:port` or `unix:/path`.
#[napi(catch_unwind)]
pub fn parse_address(address: String) -> Result<ParsedAddress, String> {
    parsed(address::parse_string(&address))
}

/// Validates the `{ hostname, port }` form.
#[napi(catch_unwind)]
pub fn parse_host_port(hostname: String, port: f64) -> Result<ParsedAddress, String> {
    parsed(address::parse_parts(&hostname, port))
}

/// Validates the `{ path }` form.
#[napi(catch_unwind)]
pub fn parse_path(path: String) -> Result<ParsedAddress, String> {
    parsed(address::parse_path(&path))
}

fn new_conn(env: &Env, on_event: &Function<EventArgs, ()>, event_loop: bool) -> Result<Arc<Conn>> {
    let (registry, sink) = js_events::sink(env, on_event)?;
    let conn = Conn::new(Box::new(sink), event_loop);
    registry.add(&conn);
    Ok(conn)
}

/// A new native socket: its readiness and its connection.
fn new_socket(env: &Env, on_event: &Function<EventArgs, ()>) -> JsResult<NativeSocket> {
    let readiness = Readiness::new(on_event).map_err(napi_failure)?;
    let conn = new_conn(env, on_event, readiness.is_event_loop()).map_err(napi_failure)?;
    Ok(NativeSocket {
        conn,
        readiness,
        last_error: Mutex::new(None),
    })
}

fn rt() -> JsResult<tokio::runtime::Handle> {
    runtime::handle().map_err(|e| thrown(SocketErr::other("ERR_INTERNAL", e)))
}

/// The native half of a `Socket`. Every method is synchronous; outcomes that
/// take time arrive through the event callback given to the constructor.
#[napi]
pub struct NativeSocket {
    conn: Arc<Conn>,
    readiness: Readiness,
    /// Boxed: a socket carries one pointer for the rare failure.
    last_error: Mutex<Option<Box<SocketErr>>>,
}

#[napi]
impl NativeSocket {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, on_event: Function<EventArgs, ()>) -> Result<Self, String> {
        new_socket(&env, &on_event)
    }

    /// Starts connecting; throws (synchronously) only on invalid TLS material.
    /// Returns true when the connection is made outside the runtime's
    /// reactor (plain TCP with event-loop readiness, see
    /// `setup`): then writability while connecting means "call
    /// `dialOutcome`", and the connect timeout is the caller's to keep.
    /// Otherwise the runtime connects, within the timeout, and reports
    /// `Opened` or `Failed`.
    #[napi(catch_unwind)]
    pub fn connect(
        &self,
        env: Env,
        target: ParsedAddress,
        options: NativeConnectOptions,
    ) -> Result<bool, String> {
        let plan = connect_plan(target, options)?;
        let rt = rt()?;
        match self.call(&env, |c| c.connect(&rt, plan)) {
            Ok(direct) => Ok(direct),
            Err(e) => {
                self.close();
                Err(thrown(e))
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
            Ok(Some(Ok(info))) => Some(info.into()),
            Ok(Some(Err(e))) | Err(e) => Some(e.into()),
        }
    }

    /// Fills `buf` with what is available now: the byte count, or
    /// -1 (end of stream), -2 (nothing yet: readiness armed), -3 (failed:
    /// see `takeError`). A short read (fewer bytes than `buf` holds) emptied
    /// the socket, so readiness is armed then too. Called from JS as
    /// `readInto(socket, view)` (see `fast_calls`).
    fn read_now(&self, env: &Env, buf: &mut [u8]) -> i32 {
        let asked = buf.len();
        let outcome = self.call(env, |c| {
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
    /// writability armed), or -3 (failed: see `takeError`). Called from JS
    /// as `writeFrom(socket, view)` (see `fast_calls`).
    fn write_now(&self, env: &Env, data: &[u8]) -> i32 {
        match self.call(env, |c| c.write(data)) {
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
            .map(|e| (*e).into())
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
        self.readiness.close(&self.conn);
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
    ) -> Result<NativeSocket, String> {
        let config = tls.into_config()?;
        let rt = rt()?;
        self.readiness.close(&self.conn);
        let transport = self.conn.take_transport().ok_or_else(|| {
            thrown(SocketErr::other(
                "ERR_SOCKET_CLOSED",
                "the socket is not open",
            ))
        })?;
        let next = new_socket(&env, &on_event)?;
        next.conn
            .start_upgrade(&rt, transport, config, millis(connect_timeout));
        Ok(next)
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
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(e));
        FAILED
    }
}

/// Adds the data path's plain Node-API functions (see `fast_calls`).
#[napi(module_exports)]
pub fn add_fast_calls(exports: Object, env: Env) -> Result<()> {
    fast_calls::register(env.raw(), exports.raw())
}

/// Open connections of this environment (for tests and diagnostics).
#[napi(catch_unwind)]
pub fn open_socket_count(env: Env) -> Result<u32> {
    Ok(js_events::registry(&env)?.live() as u32)
}

/// The current turn of this thread's event loop (an iteration count), or
/// `null` where libuv cannot tell. Cheaper than a `setImmediate` per turn.
#[napi(catch_unwind)]
pub fn event_loop_turn(env: Env) -> Option<f64> {
    uv_symbols::loop_turn(env.raw()).map(|n| n as f64)
}

/// Stops using the host's libuv (for hosts whose libuv functions exist but
/// must not be called); call before the first socket.
#[napi(catch_unwind)]
pub fn use_runtime_readiness() {
    uv_symbols::force_runtime();
}

/// With event-loop readiness, what watches the sockets: `"epoll-set"` (one
/// epoll set per environment, Linux) or `"uv-poll"` (a libuv poll each).
#[napi(catch_unwind)]
pub fn event_loop_watcher() -> &'static str {
    js_readiness::event_loop_kind()
}

/// Where readiness comes from in this process: `"event-loop"` (a libuv poll
/// on the JS thread) or `"runtime"` (the addon's readiness task).
#[napi(catch_unwind)]
pub fn readiness_source() -> &'static str {
    if uv_symbols::available() {
        "event-loop"
    } else {
        "runtime"
    }
}

//! Readiness on the JS thread (see `readiness` for both modes): with
//! event-loop readiness, the socket's place in its environment's epoll set
//! on Linux (`epoll_set`), or its own libuv poll elsewhere (`uv_poll`),
//! made when first needed and given what each call armed; with runtime
//! readiness, nothing (the runtime's task reports).
//!
//! Every call into a connection goes through `NativeSocket::call`, which
//! hands what the call armed to [`Readiness::watch`] afterwards: no path can
//! arm an interest and forget to watch it.

use std::cell::RefCell;
use std::sync::OnceLock;

use napi::bindgen_prelude::*;

use crate::connection::Conn;
#[cfg(target_os = "linux")]
use crate::epoll_set;
use crate::error::SocketErr;
use crate::napi_values::EventArgs;
use crate::{uv_poll, uv_symbols};

/// What watches a socket on the event loop.
pub enum Watcher {
    #[cfg(target_os = "linux")]
    Set(epoll_set::Member),
    Poll(uv_poll::Poll),
}

impl Watcher {
    /// # Safety
    /// As for `uv_poll::Poll::new` (and `epoll_set::Member::add`).
    #[cfg(unix)]
    unsafe fn new(
        env: napi::sys::napi_env,
        callback: napi::sys::napi_value,
        fd: std::ffi::c_int,
    ) -> std::result::Result<Watcher, uv_poll::PollError> {
        #[cfg(target_os = "linux")]
        if shared_set() {
            // SAFETY: forwarded contract.
            return unsafe { epoll_set::Member::add(env, callback, fd) }.map(Watcher::Set);
        }
        // SAFETY: forwarded contract.
        unsafe { uv_poll::Poll::new(env, callback, fd) }.map(Watcher::Poll)
    }

    fn want(&self, bits: u32) -> std::result::Result<(), uv_poll::PollError> {
        match self {
            #[cfg(target_os = "linux")]
            Watcher::Set(m) => m.want(bits),
            Watcher::Poll(p) => p.want(bits),
        }
    }

    /// `open_fd`: the connection's descriptor now, if it still has one.
    fn close(self, open_fd: Option<std::ffi::c_int>) {
        match self {
            #[cfg(target_os = "linux")]
            Watcher::Set(m) => m.close(open_fd),
            Watcher::Poll(p) => {
                let _ = open_fd;
                p.close()
            }
        }
    }
}

/// Whether sockets share their environment's epoll set (Linux), or each has
/// a libuv poll of its own (elsewhere, and with `SOCKETS_API_READINESS=poll`,
/// so that this path is tested where the set is the default).
fn shared_set() -> bool {
    static SHARED: OnceLock<bool> = OnceLock::new();
    *SHARED.get_or_init(|| {
        cfg!(target_os = "linux")
            && std::env::var_os("SOCKETS_API_READINESS").is_none_or(|v| v != "poll")
    })
}

/// How a socket learns that it may read or write again.
pub enum Readiness {
    /// The runtime's readiness task reports through the event callback.
    Runtime,
    /// A libuv poll on the JS thread's loop, made when first needed.
    EventLoop {
        /// Until the poll is made (which keeps its own), and dropped on
        /// close in any case: it refers to the JS socket, which refers to
        /// this handle, and V8 cannot collect a cycle through it.
        callback: RefCell<Option<FunctionRef<EventArgs, ()>>>,
        poll: RefCell<Option<Watcher>>,
    },
}

impl Readiness {
    pub fn new(on_event: &Function<EventArgs, ()>) -> Result<Self> {
        if uv_symbols::available() {
            Ok(Readiness::EventLoop {
                callback: RefCell::new(Some(on_event.create_ref()?)),
                poll: RefCell::new(None),
            })
        } else {
            Ok(Readiness::Runtime)
        }
    }

    pub fn is_event_loop(&self) -> bool {
        matches!(self, Readiness::EventLoop { .. })
    }

    /// Watches what the connection armed during the last call. A poll that
    /// cannot be made or started is the socket's failure, not a silent wait.
    #[cfg(unix)]
    pub fn watch(&self, env: &Env, conn: &Conn) -> std::result::Result<(), SocketErr> {
        let Readiness::EventLoop { callback, poll } = self else {
            return Ok(());
        };
        let wanted = conn.take_wanted();
        if wanted == 0 {
            return Ok(());
        }
        let mut slot = poll.borrow_mut();
        if slot.is_none() {
            let mut callback = callback.borrow_mut();
            let (Some(func_ref), Some(fd)) = (callback.as_ref(), conn.raw_fd()) else {
                return Ok(()); // closed: nothing to watch
            };
            let func = func_ref
                .borrow_back(env)
                .map_err(|_| poll_error(uv_poll::PollError::Napi))?;
            // SAFETY: on the JS thread of `env` (napi methods run there);
            // `func` belongs to `env`; the descriptor stays open until
            // `close()` below closes the poll before the socket goes.
            let made = unsafe { Watcher::new(env.raw(), func.raw(), fd) };
            *slot = Some(made.map_err(poll_error)?);
            // The poll holds its own reference to the callback.
            drop(callback.take());
        }
        match slot.as_ref() {
            Some(p) => p.want(wanted).map_err(poll_error),
            None => Ok(()),
        }
    }

    #[cfg(not(unix))]
    pub fn watch(&self, _env: &Env, _conn: &Conn) -> std::result::Result<(), SocketErr> {
        Ok(())
    }

    /// Stops watching; call before the connection's descriptor goes.
    pub fn close(&self, conn: &Conn) {
        if let Readiness::EventLoop { poll, callback } = self {
            if let Some(p) = poll.borrow_mut().take() {
                #[cfg(unix)]
                p.close(conn.raw_fd());
                #[cfg(not(unix))]
                {
                    let _ = conn;
                    p.close(None);
                }
            }
            drop(callback.borrow_mut().take());
        }
    }
}

/// Which watcher event-loop readiness uses in this process (diagnostics).
pub fn event_loop_kind() -> &'static str {
    if shared_set() {
        "epoll-set"
    } else {
        "uv-poll"
    }
}

/// A poll that could not be made or started, as the socket's error.
fn poll_error(e: uv_poll::PollError) -> SocketErr {
    match e {
        uv_poll::PollError::Uv(code, syscall) => {
            SocketErr::from_io(&std::io::Error::from_raw_os_error(-code), syscall)
        }
        uv_poll::PollError::Napi => SocketErr::other(
            "ERR_INTERNAL",
            "the event loop poll could not be set up (napi)",
        ),
        uv_poll::PollError::Unavailable => {
            SocketErr::other("ERR_INTERNAL", "the event loop poll is unavailable")
        }
    }
}

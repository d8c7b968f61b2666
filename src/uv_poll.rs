//! Readiness from the JS thread's own event loop: a libuv poll handle on the
//! socket's descriptor, reporting straight to the socket's JS callback. Used
//! on Unix systems other than Linux, and there with
//! `SOCKETS_API_READINESS=poll` (Linux shares one epoll set: `epoll_set`).
//!
//! With it, an inbound message costs one wake-up of the JS thread (the one
//! `node:net` pays) instead of two (kernel → runtime thread → JS thread), and
//! arming an interest is a local call instead of a message to the runtime.
//! The runtime keeps connecting, handshakes and timers. libuv's functions
//! are found at run time (`uv_symbols`, which says why).
//!
//! Every libuv and napi return code is checked: a poll that cannot be made
//! or started fails its socket (the caller turns the error into a
//! `SocketError`), never a silent wait. No reference into a poll's state is
//! held across a call into JS, which may re-enter and change it.
//!
//! Everything here runs on the JS thread that owns the environment.

#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_int, c_void};
use std::ptr;

use napi::sys;

use crate::protocol::{READABLE, WRITABLE};
use crate::uv_symbols::{uv, UV_POLL, UV_READABLE, UV_WRITABLE};

/// What the poll callback needs; lives in the same allocation's lifetime as
/// the libuv handle (freed by the close callback).
struct PollState {
    env: sys::napi_env,
    callback: sys::napi_ref,
    async_context: sys::napi_async_context,
    cleanup: sys::napi_async_cleanup_hook_handle,
    /// Events libuv watches (UV_READABLE | UV_WRITABLE); 0 when stopped.
    events: c_int,
    /// Events JS waits for; each is reported once, then must be armed again.
    armed: c_int,
    handle: HandleMemory,
    closing: bool,
}

/// A poll handle on one socket. Not `Send`: it belongs to the JS thread.
pub struct Poll {
    state: *mut PollState,
}

/// Why a poll could not be made or started: a libuv or system error
/// (negative errno on Unix) with the call that returned it, or a failed
/// napi call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollError {
    Uv(c_int, &'static str),
    Napi,
    Unavailable,
}

fn napi_ok(status: sys::napi_status) -> Result<(), PollError> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(PollError::Napi)
    }
}

/// A libuv poll handle's memory (`uv_handle_size(UV_POLL)` bytes), made and
/// initialised on a descriptor: the per-socket poll's and the epoll set's.
pub(crate) struct HandleMemory {
    handle: *mut c_void,
    layout: std::alloc::Layout,
}

impl HandleMemory {
    /// A stopped poll handle on `fd`, on the loop of `env`.
    ///
    /// # Safety
    /// On the JS thread of `env`, with `fd` open; the handle must be given
    /// to `uv_close` before [`HandleMemory::free`].
    pub(crate) unsafe fn init(env: sys::napi_env, fd: c_int) -> Result<Self, PollError> {
        let uv = uv().ok_or(PollError::Unavailable)?;
        let mut uv_loop = ptr::null_mut();
        // SAFETY: `env` is the calling environment, on its thread.
        napi_ok(unsafe { sys::napi_get_uv_event_loop(env, &mut uv_loop) })?;
        // SAFETY: libuv's `uv_handle_size` only reads its argument.
        let size = unsafe { (uv.handle_size)(UV_POLL) };
        let layout = std::alloc::Layout::from_size_align(size.max(1), 16)
            .map_err(|_| PollError::Uv(-libc::EINVAL, "uv_poll_init"))?;
        // SAFETY: `layout` has a non-zero size.
        let handle = unsafe { std::alloc::alloc_zeroed(layout) } as *mut c_void;
        if handle.is_null() {
            return Err(PollError::Uv(-libc::ENOMEM, "uv_poll_init"));
        }
        // SAFETY: `uv_loop` is this thread's live loop; `handle` is writable
        // memory of the size libuv asked for; `fd` is open.
        let r = unsafe { (uv.poll_init)(uv_loop, handle, fd) };
        if r != 0 {
            // SAFETY: allocated above with `layout`, not given to libuv.
            unsafe { std::alloc::dealloc(handle as *mut u8, layout) };
            return Err(PollError::Uv(r, "uv_poll_init"));
        }
        Ok(HandleMemory { handle, layout })
    }

    pub(crate) fn raw(&self) -> *mut c_void {
        self.handle
    }

    /// # Safety
    /// Only from the handle's close callback (libuv is done with it).
    pub(crate) unsafe fn free(&self) {
        // SAFETY: allocated in `init` with `layout`; per the contract above
        // nothing uses it after this.
        unsafe { std::alloc::dealloc(self.handle as *mut u8, self.layout) };
    }
}

impl Poll {
    /// Creates a (stopped) poll handle for `fd` that reports readiness by
    /// calling `callback(EV_READY, bits)`.
    ///
    /// # Safety
    /// Must be called on the JS thread of `env`, with `callback` a function
    /// value of that environment, and `fd` a socket that stays open until
    /// [`Poll::close`] is called.
    pub unsafe fn new(
        env: sys::napi_env,
        callback: sys::napi_value,
        fd: c_int,
    ) -> Result<Poll, PollError> {
        let uv = uv().ok_or(PollError::Unavailable)?;
        // SAFETY: forwarded contract.
        let memory = unsafe { HandleMemory::init(env, fd)? };
        let handle = memory.raw();
        let state = Box::into_raw(Box::new(PollState {
            env,
            callback: ptr::null_mut(),
            async_context: ptr::null_mut(),
            cleanup: ptr::null_mut(),
            events: 0,
            armed: 0,
            handle: memory,
            closing: false,
        }));
        // SAFETY: `handle` was initialised by `uv_poll_init`; `state` is the
        // live allocation that `on_closed` frees.
        unsafe { (uv.handle_set_data)(handle, state as *mut c_void) };
        let poll = Poll { state };
        // SAFETY: on the JS thread of `env`, with `callback` of `env`; on
        // failure the handle is closed again and freed by `on_closed`.
        if let Err(e) = unsafe { poll.bind_js(env, callback) } {
            poll.close();
            return Err(e);
        }
        Ok(poll)
    }

    /// The JS side of the handle: a reference to the callback, an async
    /// context to call it in, and the teardown hook.
    ///
    /// # Safety
    /// On the JS thread of `env`, `callback` a function of `env`, `self`
    /// freshly made by `new`.
    unsafe fn bind_js(
        &self,
        env: sys::napi_env,
        callback: sys::napi_value,
    ) -> Result<(), PollError> {
        // SAFETY (for every call below): `env` is the calling environment on
        // its thread; the out pointers are valid locals or fields of the live
        // state, which no one else references during this call.
        unsafe {
            let state = self.state;
            napi_ok(sys::napi_create_reference(
                env,
                callback,
                1,
                &mut (*state).callback,
            ))?;
            (*state).async_context =
                crate::js_ready_call::new_async_context(env).ok_or(PollError::Napi)?;
            // Tearing the environment down (a worker terminated) closes the
            // handle; Node waits for the close to complete.
            let mut cleanup = ptr::null_mut();
            napi_ok(sys::napi_add_async_cleanup_hook(
                env,
                Some(on_env_teardown),
                state as *mut c_void,
                &mut cleanup,
            ))?;
            (*state).cleanup = cleanup;
        }
        Ok(())
    }

    /// Arms `bits` (`READABLE` | `WRITABLE`): each is reported once when
    /// ready, then must be armed again. Fails if libuv refuses to watch.
    ///
    /// libuv keeps watching an event after reporting it, until it fires
    /// while nobody has armed it: a socket read in a loop (every reply
    /// re-arms readability) costs no `epoll_ctl` per message. When libuv
    /// must be told anyway (a new event), the poll watches exactly what is
    /// armed: `uv_poll_start` replaces the whole registration, and an event
    /// kept unasked (writability after a connect, say) would only fire on
    /// the next turn and cost a second start to drop.
    pub fn want(&self, bits: u32) -> Result<(), PollError> {
        let uv = uv().ok_or(PollError::Unavailable)?;
        let state = self.state;
        // SAFETY: `state` is live until `close` (which consumes the Poll);
        // on the JS thread, and no reference into it is held anywhere while
        // this runs (`on_poll` holds none across its call into JS).
        unsafe {
            if bits & READABLE != 0 {
                (*state).armed |= UV_READABLE;
            }
            if bits & WRITABLE != 0 {
                (*state).armed |= UV_WRITABLE;
            }
            let armed = (*state).armed;
            if armed & !(*state).events == 0 || (*state).closing {
                return Ok(());
            }
            // SAFETY: the handle was initialised by uv_poll_init and is not closing.
            let r = (uv.poll_start)((*state).handle.raw(), armed, on_poll);
            if r != 0 {
                return Err(PollError::Uv(r, "uv_poll_start"));
            }
            (*state).events = armed;
        }
        Ok(())
    }

    /// Stops watching and releases the handle (asynchronously, on the loop).
    pub fn close(self) {
        // SAFETY: `state` is live; after this call only the close callback
        // touches it.
        unsafe {
            let state = self.state;
            if !(*state).cleanup.is_null() {
                sys::napi_remove_async_cleanup_hook((*state).cleanup);
                (*state).cleanup = ptr::null_mut();
            }
            release_js(state);
            close_handle(state);
        }
    }
}

/// Drops the JS references.
///
/// # Safety
/// On the JS thread of the state's env, while that environment is alive;
/// `state` is live.
unsafe fn release_js(state: *mut PollState) {
    // SAFETY: per the contract above; the fields are only read and reset.
    unsafe {
        if !(*state).callback.is_null() {
            sys::napi_delete_reference((*state).env, (*state).callback);
            (*state).callback = ptr::null_mut();
        }
        if !(*state).async_context.is_null() {
            sys::napi_async_destroy((*state).env, (*state).async_context);
            (*state).async_context = ptr::null_mut();
        }
    }
}

/// Hands the handle to `uv_close` (which stops the poll first: a separate
/// `uv_poll_stop` would only repeat the `epoll_ctl`); `on_closed` frees it.
///
/// # Safety
/// `state` is a live `PollState` (not yet freed by `on_closed`), used on
/// the loop's thread.
unsafe fn close_handle(state: *mut PollState) {
    let Some(uv) = uv() else { return };
    // SAFETY: per the contract above; the handle is initialised and, once
    // `closing` is set, never started again.
    unsafe {
        if (*state).closing {
            return;
        }
        (*state).closing = true;
        (*state).events = 0;
        (*state).armed = 0;
        (uv.close)((*state).handle.raw(), on_closed);
    }
}

/// libuv is done with the handle: free it and its state.
///
/// # Safety
/// Called by libuv once per handle, after `uv_close`; the handle's data is
/// the `PollState` allocated in `Poll::new`, freed only here.
unsafe extern "C" fn on_closed(handle: *mut c_void) {
    let Some(uv) = uv() else { return };
    // SAFETY: per the contract above: the state was made by `Box::into_raw`
    // in `Poll::new` and nothing uses it after this callback.
    unsafe {
        let state = (uv.handle_get_data)(handle) as *mut PollState;
        if state.is_null() {
            return;
        }
        let state = Box::from_raw(state);
        if !state.cleanup.is_null() {
            // Environment teardown is waiting for this.
            sys::napi_remove_async_cleanup_hook(state.cleanup);
        }
        state.handle.free();
    }
}

/// The environment is being torn down with the poll still open.
///
/// # Safety
/// Called by Node on the environment's thread with the `PollState`
/// registered in `Poll::new`, which is live: `Poll::close` unregisters this
/// hook before the state can be freed.
unsafe extern "C" fn on_env_teardown(
    _handle: sys::napi_async_cleanup_hook_handle,
    arg: *mut c_void,
) {
    let state = arg as *mut PollState;
    // SAFETY: per the contract above. The environment is going away: its
    // references go with it, so they are forgotten, not released.
    unsafe {
        (*state).callback = ptr::null_mut();
        (*state).async_context = ptr::null_mut();
        close_handle(state);
    }
}

/// Readiness: report what fired and was armed (each arming reports once);
/// stop watching only what fired while nobody had armed it.
///
/// # Safety
/// Called by libuv on the loop's thread for an active (so not yet closed)
/// handle, whose data is its live `PollState`.
unsafe extern "C" fn on_poll(handle: *mut c_void, status: c_int, events: c_int) {
    let Some(uv) = uv() else { return };
    // SAFETY: per the contract above. The state is accessed through the raw
    // pointer only, and every access ends before `call_js`: the JS callback
    // may re-enter (`want`, `close`) and change it.
    let (env, callback, async_context, report) = unsafe {
        let state = (uv.handle_get_data)(handle) as *mut PollState;
        if state.is_null() || (*state).closing {
            return;
        }
        // An error (status < 0) is reported as readiness of everything
        // watched: the next read or write returns the error itself.
        let fired = if status < 0 {
            (*state).events
        } else {
            events & (*state).events
        };
        let report = fired & (*state).armed;
        (*state).armed &= !report;
        // Still watched: what was reported (the reader usually re-arms it at
        // once, and a watch left in place costs no epoll_ctl). Dropped: what
        // fired unasked, or the loop would wake for it on every turn. On an
        // error libuv has stopped the handle itself; the next arming restarts it.
        let unasked = fired & !report;
        if status < 0 {
            (*state).events = 0;
        } else if unasked != 0 {
            let keep = (*state).events & !unasked;
            let restarted = keep != 0 && (uv.poll_start)((*state).handle.raw(), keep, on_poll) == 0;
            if !restarted {
                // Nothing left to watch, or libuv refused: stopped, and the
                // next arming starts it again (and reports a refusal).
                (uv.poll_stop)((*state).handle.raw());
                (*state).events = 0;
            } else {
                (*state).events = keep;
            }
        }
        (
            (*state).env,
            (*state).callback,
            (*state).async_context,
            report,
        )
    };
    let mut bits = 0u32;
    if report & UV_READABLE != 0 {
        bits |= READABLE;
    }
    if report & UV_WRITABLE != 0 {
        bits |= WRITABLE;
    }
    if bits != 0 && !callback.is_null() {
        // SAFETY: on the JS thread, from a libuv callback; `callback` and
        // `async_context` are live while the environment is (both are
        // non-null only then).
        unsafe {
            let turn = crate::uv_symbols::loop_turn(env);
            crate::js_ready_call::call_ready(env, callback, async_context, bits, turn)
        };
    }
}

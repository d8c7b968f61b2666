//! libuv, found in the running process at run time (`dlsym`), not linked:
//! Node exports libuv's functions to addons, but a host that loads Node-API
//! addons need not have libuv at all, and an addon linked against missing
//! symbols would fail to load there instead of falling back. Where they
//! cannot be found, [`available`] is false and connections use the
//! runtime's readiness task. Finding them does not prove they work: Bun
//! exports them as stubs that abort, so the JS side tells which host it is
//! in ([`force_runtime`]). The loop's own iteration count ([`loop_turn`]) is
//! read the same way.

#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use napi::sys;

pub type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
pub type CloseCb = unsafe extern "C" fn(handle: *mut c_void);

/// `UV_POLL` in libuv's `uv_handle_type` (stable across libuv 1.x).
pub const UV_POLL: c_int = 8;
pub const UV_READABLE: c_int = 1;
pub const UV_WRITABLE: c_int = 2;

type HandleSizeFn = unsafe extern "C" fn(c_int) -> usize;
type PollInitFn = unsafe extern "C" fn(*mut sys::uv_loop_s, *mut c_void, c_int) -> c_int;
type PollStartFn = unsafe extern "C" fn(*mut c_void, c_int, PollCb) -> c_int;
type PollStopFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type CloseFn = unsafe extern "C" fn(*mut c_void, CloseCb);
type SetDataFn = unsafe extern "C" fn(*mut c_void, *mut c_void);
type GetDataFn = unsafe extern "C" fn(*const c_void) -> *mut c_void;

/// The libuv entry points used, resolved once.
pub struct Uv {
    pub handle_size: HandleSizeFn,
    pub poll_init: PollInitFn,
    pub poll_start: PollStartFn,
    pub poll_stop: PollStopFn,
    pub close: CloseFn,
    pub handle_set_data: SetDataFn,
    pub handle_get_data: GetDataFn,
}

static UV: OnceLock<Option<Uv>> = OnceLock::new();

#[cfg(unix)]
fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_DEFAULT only reads the process's symbol tables;
    // `name` is a valid NUL-terminated string.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr() as *const c_char) }
}

#[cfg(not(unix))]
fn lookup(_name: &CStr) -> *mut c_void {
    ptr::null_mut()
}

/// The entry points, or `None` where they cannot be found.
pub fn uv() -> Option<&'static Uv> {
    UV.get_or_init(|| {
        macro_rules! sym {
            ($name:literal, $ty:ty) => {{
                let p = lookup($name);
                if p.is_null() {
                    return None;
                }
                // SAFETY: the symbol is libuv's function of that name, whose
                // C signature is `$ty` (libuv 1.x ABI, stable).
                unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
            }};
        }
        Some(Uv {
            handle_size: sym!(c"uv_handle_size", HandleSizeFn),
            poll_init: sym!(c"uv_poll_init", PollInitFn),
            poll_start: sym!(c"uv_poll_start", PollStartFn),
            poll_stop: sym!(c"uv_poll_stop", PollStopFn),
            close: sym!(c"uv_close", CloseFn),
            handle_set_data: sym!(c"uv_handle_set_data", SetDataFn),
            handle_get_data: sym!(c"uv_handle_get_data", GetDataFn),
        })
    })
    .as_ref()
}

/// `uv_metrics_t` (libuv ≥ 1.45): the iteration count comes first; the rest
/// is room libuv reserves.
#[repr(C)]
struct Metrics {
    loop_count: u64,
    events: u64,
    events_waiting: u64,
    reserved: [*mut u64; 13],
}

type MetricsInfoFn = unsafe extern "C" fn(*mut sys::uv_loop_s, *mut Metrics) -> c_int;

static METRICS_INFO: OnceLock<Option<MetricsInfoFn>> = OnceLock::new();

/// How many iterations the event loop of `env` has begun (libuv counts one
/// just before each poll for I/O), or `None` where libuv is too old (before
/// 1.45) or cannot be found. Two calls that return the same number ran in
/// the same turn of the loop.
pub fn loop_turn(env: sys::napi_env) -> Option<u64> {
    let info = (*METRICS_INFO.get_or_init(|| {
        if runtime_forced() {
            return None;
        }
        let p = lookup(c"uv_metrics_info");
        // SAFETY: the symbol is libuv's `uv_metrics_info`, whose C signature
        // is `MetricsInfoFn` (libuv 1.x ABI, stable since 1.45).
        (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, MetricsInfoFn>(p) })
    }))?;
    let mut uv_loop = ptr::null_mut();
    // SAFETY: `env` is the calling environment (napi functions run on its
    // thread); the loop pointer it gives stays valid while it lives.
    if unsafe { sys::napi_get_uv_event_loop(env, &mut uv_loop) } != sys::Status::napi_ok {
        return None;
    }
    let mut m = Metrics {
        loop_count: 0,
        events: 0,
        events_waiting: 0,
        reserved: [ptr::null_mut(); 13],
    };
    // SAFETY: `uv_loop` is the live loop of this thread and `m` is a
    // writable `uv_metrics_t` of libuv's layout.
    (unsafe { info(uv_loop, &mut m) } == 0).then_some(m.loop_count)
}

/// Whether event-loop readiness can be used in this process. It can be
/// turned off with `SOCKETS_API_READINESS=runtime` (for comparison, and so
/// that the fallbacks are tested).
pub fn available() -> bool {
    !runtime_forced() && cfg!(unix) && uv().is_some()
}

/// Set by [`force_runtime`]: the host's libuv must not be called.
static HOST_WITHOUT_LIBUV: AtomicBool = AtomicBool::new(false);

/// Tells that the host's libuv functions, even where they can be found,
/// must not be called: Bun, for one, exports them as stubs that abort the
/// process. Only the JS side can tell which host it runs in, so it says so
/// before the first socket; from then on readiness comes from the runtime.
pub fn force_runtime() {
    HOST_WITHOUT_LIBUV.store(true, Ordering::Release);
}

/// `SOCKETS_API_READINESS=runtime`, or a host whose libuv must not be used
/// ([`force_runtime`]): behave as where libuv's functions cannot be found
/// (so the fallbacks are what run).
fn runtime_forced() -> bool {
    HOST_WITHOUT_LIBUV.load(Ordering::Acquire)
        || std::env::var_os("SOCKETS_API_READINESS").is_some_and(|v| v == "runtime")
}

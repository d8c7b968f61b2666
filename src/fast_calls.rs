//! The data path's two calls as plain Node-API functions:
//! `readInto(socket, view)` and `writeFrom(socket, view)`.
//!
//! They run once or twice per message. A generated `#[napi]` method spends
//! more on its bookkeeping — a borrow scope per call, a registry entry (under
//! a process-wide lock) per borrowed receiver and view — than a read or a
//! write costs on loopback. These do what the call needs and no more: check
//! the receiver's class tag, take the view's bytes, call the socket, return
//! an int32. The socket methods they call are the same ones the rest of the
//! napi layer uses.

use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use napi::bindgen_prelude::{sys, validate_type_tag, Env, Error, Result, Status, TypeTag};
use napi::check_status;

use crate::NativeSocket;

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;
type Op = fn(&NativeSocket, &Env, &mut [u8]) -> i32;

/// Adds `readInto` and `writeFrom` to the module's exports.
pub fn register(env: sys::napi_env, exports: sys::napi_value) -> Result<()> {
    define(env, exports, c"readInto", read_into)?;
    define(env, exports, c"writeFrom", write_from)
}

fn define(env: sys::napi_env, exports: sys::napi_value, name: &CStr, cb: Callback) -> Result<()> {
    let mut f = ptr::null_mut();
    // SAFETY: `env` and `exports` are the module's, valid during its
    // initialisation; `name` is NUL-terminated (NAPI_AUTO_LENGTH reads up to
    // the NUL) and outlives both calls; `f` is a valid out-pointer.
    unsafe {
        check_status!(sys::napi_create_function(
            env,
            name.as_ptr(),
            -1, // NAPI_AUTO_LENGTH
            Some(cb),
            ptr::null_mut(),
            &mut f,
        ))?;
        check_status!(sys::napi_set_named_property(env, exports, name.as_ptr(), f))
    }
}

/// `readInto(socket, view)`: `NativeSocket.read` (the byte count, or one of
/// the protocol's negative codes).
unsafe extern "C" fn read_into(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: Node-API calls this with its own `env` and `info`.
    unsafe { guarded(env, info, NativeSocket::read_now) }
}

/// `writeFrom(socket, view)`: `NativeSocket.write`.
unsafe extern "C" fn write_from(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as in `read_into`.
    unsafe { guarded(env, info, |socket, env, bytes| socket.write_now(env, bytes)) }
}

/// Runs the call; an error or a panic becomes a JS exception (a panic must
/// not unwind into the engine).
///
/// # Safety
/// `env` and `info` must be those Node-API passed to the running callback.
unsafe fn guarded(env: sys::napi_env, info: sys::napi_callback_info, op: Op) -> sys::napi_value {
    // SAFETY: forwarded from the caller.
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { call(env, info, op) }));
    let error = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(e)) => e,
        Err(_) => Error::new(
            Status::GenericFailure,
            "internal error in sockets-api: panic in a socket call".to_owned(),
        ),
    };
    // SAFETY: `env` is live for this callback; the message is NUL-free (or
    // replaced) and outlives the call. A pending exception is what Node-API
    // reports to JS when the callback returns.
    unsafe {
        let code = std::ffi::CString::new(error.status.as_ref()).unwrap_or_default();
        let message = std::ffi::CString::new(error.reason.clone()).unwrap_or_default();
        sys::napi_throw_error(env, code.as_ptr(), message.as_ptr());
    }
    ptr::null_mut()
}

/// # Safety
/// As for [`guarded`].
unsafe fn call(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    op: Op,
) -> Result<sys::napi_value> {
    let mut argc = 2usize;
    let mut argv = [ptr::null_mut(); 2];
    // SAFETY: `argv` has room for `argc` values; this/data are not wanted.
    unsafe {
        check_status!(sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        ))?;
    }
    if argc < 2 {
        return Err(Error::new(
            Status::InvalidArg,
            "expected (socket, view)".to_owned(),
        ));
    }
    // SAFETY: both values are this call's arguments, alive until it returns.
    let socket = unsafe { socket_of(env, argv[0]) }?;
    // SAFETY: as above.
    let bytes = unsafe { bytes_of(env, argv[1]) }?;
    let n = op(socket, &Env::from(env), bytes);
    let mut out = ptr::null_mut();
    // SAFETY: `out` is a valid out-pointer.
    unsafe { check_status!(sys::napi_create_int32(env, n, &mut out)) }?;
    Ok(out)
}

/// The `NativeSocket` a JS object wraps, or an error for any other value.
///
/// # Safety
/// `value` must be alive for the returned borrow (an argument of the running
/// callback). The class tag check comes before the cast: only objects that
/// napi-rs wrapped as `NativeSocket` carry that tag, and napi-rs wraps a
/// class instance as a pointer to the instance itself (its generated
/// `FromNapiRef` makes the same cast). Every `NativeSocket` method takes
/// `&self`, so this shared borrow aliases no `&mut`.
unsafe fn socket_of<'a>(env: sys::napi_env, value: sys::napi_value) -> Result<&'a NativeSocket> {
    let mut wrapped: *mut c_void = ptr::null_mut();
    // SAFETY: `wrapped` is a valid out-pointer; the tag check precedes any
    // use of it.
    unsafe {
        check_status!(sys::napi_unwrap(env, value, &mut wrapped))?;
        validate_type_tag(env, value, &NativeSocket::type_tag(), "NativeSocket")?;
    }
    if wrapped.is_null() {
        return Err(Error::new(
            Status::InvalidArg,
            "not a NativeSocket".to_owned(),
        ));
    }
    // SAFETY: see the function's comment.
    Ok(unsafe { &*(wrapped as *const NativeSocket) })
}

/// The bytes of a `Uint8Array`, as a mutable slice for the call.
///
/// # Safety
/// `value` must be an argument of the running callback. The slice is the
/// view's own memory: the view keeps its buffer alive until the call
/// returns, and no JS runs on this thread during the call (the socket's
/// calls do not call into JS), so nothing here reads or writes that memory
/// meanwhile. The one other writer there can be is another thread, through
/// a `SharedArrayBuffer` a caller wrote from: reads never get such a view (a
/// BYOB read transfers its buffer, which a shared one refuses; default reads
/// use the shim's own buffer), and a write only copies from it into the
/// kernel or the TLS session, which then sends whatever bytes were there,
/// as a copy made in JS would.
unsafe fn bytes_of<'a>(env: sys::napi_env, value: sys::napi_value) -> Result<&'a mut [u8]> {
    let mut kind: sys::napi_typedarray_type = -1;
    let mut len = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: valid out-pointers; the array buffer and offset are not wanted.
    unsafe {
        check_status!(sys::napi_get_typedarray_info(
            env,
            value,
            &mut kind,
            &mut len,
            &mut data,
            ptr::null_mut(),
            ptr::null_mut(),
        ))?;
    }
    if kind != sys::TypedarrayType::uint8_array {
        return Err(Error::new(
            Status::InvalidArg,
            "expected a Uint8Array".to_owned(),
        ));
    }
    if len == 0 || data.is_null() {
        return Ok(&mut []);
    }
    // SAFETY: see the function's comment; `data` points at `len` bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) })
}

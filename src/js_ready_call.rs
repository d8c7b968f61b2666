//! How event-loop readiness reaches a socket's JS callback: as
//! `callback(EV_READY, bits, turn)` inside a callback scope, so promise
//! reactions run right after, as for any I/O callback of Node's own. `turn`
//! is the loop's iteration count (undefined where libuv cannot say): a read
//! this callback delivers records it without a call of its own to ask.

#![deny(unsafe_op_in_unsafe_fn)]

use std::ptr;

use napi::sys;

use crate::protocol::EV_READY;

/// Calls `callback(EV_READY, bits, turn)`. An exception it throws is
/// uncaught, as for any callback of Node's.
///
/// # Safety
/// On the JS thread of `env`, from a libuv callback (no JS on the stack),
/// with the environment alive, `callback` a reference of it and
/// `async_context` one of its async contexts.
pub unsafe fn call_ready(
    env: sys::napi_env,
    callback: sys::napi_ref,
    async_context: sys::napi_async_context,
    bits: u32,
    turn: Option<u64>,
) {
    // SAFETY: per the contract above; every out pointer is a valid local.
    unsafe {
        let mut scope = ptr::null_mut();
        if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
            return;
        }
        let mut func = ptr::null_mut();
        let mut recv = ptr::null_mut();
        let mut args = [ptr::null_mut(); 3];
        let turn = match turn {
            Some(n) => sys::napi_create_double(env, n as f64, &mut args[2]),
            None => sys::napi_get_undefined(env, &mut args[2]),
        };
        let ok = sys::napi_get_reference_value(env, callback, &mut func) == sys::Status::napi_ok
            && !func.is_null()
            && sys::napi_get_global(env, &mut recv) == sys::Status::napi_ok
            && sys::napi_create_uint32(env, EV_READY, &mut args[0]) == sys::Status::napi_ok
            && sys::napi_create_uint32(env, bits, &mut args[1]) == sys::Status::napi_ok
            && turn == sys::Status::napi_ok;
        if ok {
            let mut result = ptr::null_mut();
            let status = sys::napi_make_callback(
                env,
                async_context,
                recv,
                func,
                args.len(),
                args.as_ptr(),
                &mut result,
            );
            if status == sys::Status::napi_pending_exception {
                let mut error = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut error);
                sys::napi_fatal_exception(env, error);
            }
        }
        sys::napi_close_handle_scope(env, scope);
    }
}

/// An async context for readiness callbacks: what `napi_make_callback`
/// runs them in (async hooks see a `sockets-api:poll` resource).
///
/// # Safety
/// On the JS thread of `env`.
pub unsafe fn new_async_context(env: sys::napi_env) -> Option<sys::napi_async_context> {
    // SAFETY: per the contract above; the out pointers are valid locals.
    unsafe {
        let mut resource = ptr::null_mut();
        let mut name = ptr::null_mut();
        let mut context = ptr::null_mut();
        let label = c"sockets-api:poll";
        let ok = sys::napi_create_object(env, &mut resource) == sys::Status::napi_ok
            && sys::napi_create_string_utf8(
                env,
                label.as_ptr(),
                label.to_bytes().len() as isize,
                &mut name,
            ) == sys::Status::napi_ok
            && sys::napi_async_init(env, resource, name, &mut context) == sys::Status::napi_ok;
        ok.then_some(context)
    }
}

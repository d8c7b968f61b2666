//! Readiness from the JS thread's event loop on Linux: one epoll set per
//! environment, watched by a single libuv poll handle on the set's own
//! descriptor, instead of a libuv poll per socket (`uv_poll`, still used
//! elsewhere).
//!
//! A socket joins the set once, edge-triggered in both directions, and
//! leaves it once: two `epoll_ctl` calls per connection. A libuv poll per
//! socket costs five (`uv_poll_init` checks the descriptor by adding and
//! removing it, and sets it non-blocking; `uv_poll_start` and `uv_close`
//! each remove it again), plus an async context and a teardown hook per
//! socket. Arming an interest is bookkeeping (`watch_table`, which has the
//! rules for edges); the kernel is asked again only for readiness that fired
//! while nobody had armed it.
//!
//! When the set's descriptor turns readable, the handle's callback collects
//! what fired (`epoll_wait` without waiting), updates the table, and then
//! calls each socket's JS callback; nothing of the set is borrowed across a
//! call into JS, which may arm, add or remove sockets. The handle is active
//! (and keeps the loop alive) while any socket has something armed.
//!
//! Everything here runs on the JS thread that owns the environment.

#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::rc::Rc;

use napi::sys;

use crate::js_ready_call::{call_ready, new_async_context};
use crate::protocol::{READABLE, WRITABLE};
use crate::uv_poll::{HandleMemory, PollError};
use crate::uv_symbols::{uv, UV_READABLE};
use crate::watch_table::WatchTable;

/// What a socket is registered for: both directions, edge-triggered, and
/// the peer's FIN apart from data (readability that has ended).
const WATCHED: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Events taken per `epoll_wait`, and calls per wake-up before the loop
/// gets its turn back (the set's descriptor stays readable if more wait).
const BATCH: usize = 128;
const ROUNDS: usize = 4;

struct Set {
    env: sys::napi_env,
    /// The epoll descriptor; -1 once the set is torn down.
    epfd: c_int,
    /// The libuv poll on `epfd`.
    handle: HandleMemory,
    async_context: sys::napi_async_context,
    cleanup: sys::napi_async_cleanup_hook_handle,
    /// Whether the libuv poll is started.
    started: bool,
    /// Inside the handle's callback: it decides about stopping at its end.
    dispatching: bool,
    table: WatchTable<sys::napi_ref>,
    /// Reports of one wake-up, kept to reuse the allocation.
    reports: Vec<(u64, u32)>,
}

type Shared = Rc<RefCell<Set>>;

thread_local! {
    /// The set of each environment on this thread (one, but for embedders
    /// that run several on a thread).
    static SETS: RefCell<Vec<Shared>> = const { RefCell::new(Vec::new()) };
}

fn last_errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `epoll_ctl` on a descriptor of the set, as a libuv-style error.
fn control(epfd: c_int, op: c_int, fd: c_int, token: u64) -> Result<(), PollError> {
    let mut event = libc::epoll_event {
        events: WATCHED,
        u64: token,
    };
    // SAFETY: `event` is a valid epoll_event for the call's duration; the
    // kernel checks both descriptors.
    let r = unsafe { libc::epoll_ctl(epfd, op, fd, &mut event) };
    if r == 0 {
        Ok(())
    } else {
        Err(PollError::Uv(-last_errno(), "epoll_ctl"))
    }
}

/// The protocol's bits for what epoll reported, and those of them that have
/// ended for good. A hang-up or an error is readiness of both directions
/// (the next read or write returns it); the peer's FIN, of reading.
fn bits_of(events: u32) -> (u32, u32) {
    let failed = events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
    let read_ended = events & libc::EPOLLRDHUP as u32 != 0;
    let mut bits = 0;
    if failed || read_ended || events & libc::EPOLLIN as u32 != 0 {
        bits |= READABLE;
    }
    if failed || events & libc::EPOLLOUT as u32 != 0 {
        bits |= WRITABLE;
    }
    let ended = if failed {
        READABLE | WRITABLE
    } else if read_ended {
        READABLE
    } else {
        0
    };
    (bits, ended)
}

/// The set of `env`, made on first use.
///
/// # Safety
/// On the JS thread of `env`.
unsafe fn set_for(env: sys::napi_env) -> Result<Shared, PollError> {
    let found = SETS
        .try_with(|sets| {
            sets.borrow()
                .iter()
                .find(|s| s.borrow().env == env)
                .cloned()
        })
        .map_err(|_| PollError::Unavailable)?;
    if let Some(set) = found {
        return Ok(set);
    }
    // SAFETY: forwarded contract.
    let set = unsafe { new_set(env)? };
    let kept = SETS.try_with(|sets| sets.borrow_mut().push(set.clone()));
    if kept.is_err() {
        // SAFETY: on the JS thread of `env`, which is alive (it called in).
        unsafe { tear_down(&set, true) };
        return Err(PollError::Unavailable);
    }
    Ok(set)
}

/// A new set for `env`: the epoll descriptor, its libuv poll (stopped), the
/// async context callbacks run in, and the teardown hook.
///
/// # Safety
/// On the JS thread of `env`.
unsafe fn new_set(env: sys::napi_env) -> Result<Shared, PollError> {
    let uv = uv().ok_or(PollError::Unavailable)?;
    // SAFETY: epoll_create1 takes flags only.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(PollError::Uv(-last_errno(), "epoll_create1"));
    }
    // SAFETY: on the JS thread of `env`; `epfd` is open.
    let memory = match unsafe { HandleMemory::init(env, epfd) } {
        Ok(memory) => memory,
        Err(e) => {
            // SAFETY: `epfd` was made above and is not given to anyone.
            unsafe { libc::close(epfd) };
            return Err(e);
        }
    };
    let handle = memory.raw();
    let set = Rc::new(RefCell::new(Set {
        env,
        epfd,
        handle: memory,
        async_context: ptr::null_mut(),
        cleanup: ptr::null_mut(),
        started: false,
        dispatching: false,
        table: WatchTable::default(),
        reports: Vec::new(),
    }));
    // The handle holds one count of the set, given back in `on_closed`.
    let raw = Rc::into_raw(set.clone()) as *mut c_void;
    // SAFETY: `handle` was initialised by `uv_poll_init`.
    unsafe { (uv.handle_set_data)(handle, raw) };
    // SAFETY: on the JS thread of `env`; `raw` stays valid until the hook
    // is removed (in `on_closed`, before the handle's count is dropped).
    let bound = unsafe {
        let context = new_async_context(env);
        let mut cleanup = ptr::null_mut();
        let hooked =
            sys::napi_add_async_cleanup_hook(env, Some(on_env_teardown), raw, &mut cleanup)
                == sys::Status::napi_ok;
        let mut s = set.borrow_mut();
        s.async_context = context.unwrap_or(ptr::null_mut());
        s.cleanup = if hooked { cleanup } else { ptr::null_mut() };
        context.is_some() && hooked
    };
    if !bound {
        // SAFETY: the set is not shared yet; `tear_down` closes the handle.
        unsafe { tear_down(&set, true) };
        return Err(PollError::Napi);
    }
    Ok(set)
}

/// Stops the set for good: closes the epoll descriptor and the handle (its
/// close callback frees it), and forgets or releases the callbacks.
/// `release`: the environment is alive, so its references are deleted.
///
/// # Safety
/// On the set's JS thread; `release` only while its environment is alive.
unsafe fn tear_down(set: &Shared, release: bool) {
    let Some(uv) = uv() else { return };
    let mut s = set.borrow_mut();
    if s.epfd < 0 {
        return;
    }
    // SAFETY: the descriptor belongs to the set and is closed only here.
    unsafe { libc::close(s.epfd) };
    s.epfd = -1;
    s.started = false;
    let env = s.env;
    let callbacks = s.table.drain_callbacks();
    let context = std::mem::replace(&mut s.async_context, ptr::null_mut());
    let handle = s.handle.raw();
    drop(s);
    // SAFETY: per the contract above; each reference is deleted once (taken
    // out of the table), and the handle is closed once (`epfd` was set).
    unsafe {
        if release {
            for callback in callbacks {
                sys::napi_delete_reference(env, callback);
            }
            if !context.is_null() {
                sys::napi_async_destroy(env, context);
            }
        }
        (uv.close)(handle, on_closed);
    }
    // Gone already only while the thread exits, when nothing is left to find.
    let _ = SETS.try_with(|sets| sets.borrow_mut().retain(|s| !Rc::ptr_eq(s, set)));
}

/// libuv is done with the set's handle: free it and give back its count.
///
/// # Safety
/// Called by libuv once, after `uv_close`; the handle's data is the count
/// taken in `new_set`.
unsafe extern "C" fn on_closed(handle: *mut c_void) {
    let Some(uv) = uv() else { return };
    // SAFETY: per the contract above.
    unsafe {
        let raw = (uv.handle_get_data)(handle) as *const RefCell<Set>;
        if raw.is_null() {
            return;
        }
        let set = Rc::from_raw(raw);
        let mut s = set.borrow_mut();
        let cleanup = std::mem::replace(&mut s.cleanup, ptr::null_mut());
        s.handle.free();
        drop(s);
        if !cleanup.is_null() {
            // Environment teardown may be waiting for this.
            sys::napi_remove_async_cleanup_hook(cleanup);
        }
    }
}

/// The environment is going away with the set open. Its references go with
/// it, so they are forgotten, not deleted.
///
/// # Safety
/// Called by Node on the environment's thread with the count registered in
/// `new_set`, live until `on_closed` removes this hook.
unsafe extern "C" fn on_env_teardown(_hook: sys::napi_async_cleanup_hook_handle, arg: *mut c_void) {
    let raw = arg as *const RefCell<Set>;
    // SAFETY: per the contract above: a count of the set is live, and this
    // takes another for the call's duration.
    let set = unsafe {
        Rc::increment_strong_count(raw);
        Rc::from_raw(raw)
    };
    // SAFETY: on the set's thread, with `release` false.
    unsafe { tear_down(&set, false) };
}

/// The set's descriptor is readable: collect what fired, then report.
///
/// # Safety
/// Called by libuv on the loop's thread for the active handle made in
/// `new_set`, whose data is a live count of the set.
unsafe extern "C" fn on_ready(handle: *mut c_void, status: c_int, _events: c_int) {
    let Some(uv) = uv() else { return };
    // SAFETY: per the contract above; this takes its own count for the
    // call's duration (JS may tear the set down meanwhile).
    let set = unsafe {
        let raw = (uv.handle_get_data)(handle) as *const RefCell<Set>;
        if raw.is_null() {
            return;
        }
        Rc::increment_strong_count(raw);
        Rc::from_raw(raw)
    };
    let (env, context, reports) = {
        let mut s = set.borrow_mut();
        if s.epfd < 0 {
            return;
        }
        if status < 0 {
            // libuv stopped the handle on an error: started again below
            // while anything is armed.
            s.started = false;
        }
        s.dispatching = true;
        let mut reports = std::mem::take(&mut s.reports);
        collect(&mut s, &mut reports);
        (s.env, s.async_context, reports)
    };
    let turn = crate::uv_symbols::loop_turn(env);
    for &(token, bits) in &reports {
        // Looked up again for each: an earlier callback may have removed it.
        let callback = {
            let s = set.borrow();
            if s.epfd < 0 {
                break;
            }
            s.table.callback(token).copied()
        };
        if let Some(callback) = callback {
            // SAFETY: on the JS thread from a libuv callback; `callback` is
            // a live reference (still in the table) of `env`, alive while
            // the set is not torn down.
            unsafe { call_ready(env, callback, context, bits, turn) };
        }
    }
    let mut s = set.borrow_mut();
    s.dispatching = false;
    let mut reports = reports;
    reports.clear();
    s.reports = reports;
    // SAFETY: on the loop's thread. A refusal to start again leaves the
    // handle stopped; the next arming tries again and reports it.
    unsafe {
        stop_if_idle(&mut s);
        let _ = start_if_armed(&mut s);
    }
}

/// What fired since the last look, into `reports` (token, bits to report).
fn collect(s: &mut Set, reports: &mut Vec<(u64, u32)>) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
    for _ in 0..ROUNDS {
        // SAFETY: `events` has room for BATCH entries; timeout 0 never waits.
        let n = unsafe { libc::epoll_wait(s.epfd, events.as_mut_ptr(), BATCH as c_int, 0) };
        if n <= 0 {
            return;
        }
        for event in &events[..n as usize] {
            let (token, fired) = (event.u64, event.events);
            let (bits, ended) = bits_of(fired);
            let report = s.table.fired(token, bits, ended);
            if report != 0 {
                reports.push((token, report));
            }
        }
        if (n as usize) < BATCH {
            return;
        }
    }
}

/// Stops the handle when nothing is armed (outside its own callback, which
/// decides at its end): an idle set must not keep the loop alive.
///
/// # Safety
/// On the loop's thread.
unsafe fn stop_if_idle(s: &mut Set) {
    let Some(uv) = uv() else { return };
    if s.started && !s.dispatching && s.table.armed_entries() == 0 && s.epfd >= 0 {
        // SAFETY: the handle is initialised and not closing (`epfd` is open).
        unsafe { (uv.poll_stop)(s.handle.raw()) };
        s.started = false;
    }
}

/// Starts the handle when something is armed and it is stopped.
///
/// # Safety
/// On the loop's thread.
unsafe fn start_if_armed(s: &mut Set) -> Result<(), PollError> {
    let uv = uv().ok_or(PollError::Unavailable)?;
    if s.started || s.table.armed_entries() == 0 || s.epfd < 0 {
        return Ok(());
    }
    // SAFETY: the handle is initialised and not closing (`epfd` is open).
    let r = unsafe { (uv.poll_start)(s.handle.raw(), UV_READABLE, on_ready) };
    if r != 0 {
        return Err(PollError::Uv(r, "uv_poll_start"));
    }
    s.started = true;
    Ok(())
}

/// A socket in its environment's set. Not `Send`: it belongs to the JS thread.
pub struct Member {
    set: Shared,
    token: u64,
}

impl Member {
    /// Adds `fd` to the set of `env` (made on first use), reporting to
    /// `callback(EV_READY, bits)`; nothing is armed yet.
    ///
    /// # Safety
    /// Must be called on the JS thread of `env`, with `callback` a function
    /// value of that environment, and `fd` a socket that stays open until
    /// [`Member::close`] is called.
    pub unsafe fn add(
        env: sys::napi_env,
        callback: sys::napi_value,
        fd: c_int,
    ) -> Result<Member, PollError> {
        // SAFETY: forwarded contract.
        let set = unsafe { set_for(env)? };
        let mut reference = ptr::null_mut();
        // SAFETY: on the JS thread of `env`, `callback` a value of it.
        if unsafe { sys::napi_create_reference(env, callback, 1, &mut reference) }
            != sys::Status::napi_ok
        {
            return Err(PollError::Napi);
        }
        let mut s = set.borrow_mut();
        let token = s.table.insert(fd, reference);
        if let Err(e) = control(s.epfd, libc::EPOLL_CTL_ADD, fd, token) {
            s.table.remove(token);
            // SAFETY: the reference was made above and is in no table now.
            unsafe { sys::napi_delete_reference(env, reference) };
            return Err(e);
        }
        drop(s);
        Ok(Member { set, token })
    }

    /// Arms `bits` (`READABLE` | `WRITABLE`): each is reported once when
    /// ready, then must be armed again. Fails if the kernel or libuv refuses.
    pub fn want(&self, bits: u32) -> Result<(), PollError> {
        let mut s = self.set.borrow_mut();
        if s.epfd < 0 {
            return Ok(()); // torn down with the environment
        }
        let Some(arming) = s.table.arm(self.token, bits) else {
            return Ok(());
        };
        if arming.recheck {
            control(s.epfd, libc::EPOLL_CTL_MOD, arming.fd, self.token)?;
        }
        // SAFETY: on the JS thread, which runs the loop.
        unsafe { start_if_armed(&mut s) }
    }

    /// Leaves the set, before the descriptor is closed or handed on.
    /// `open_fd` is the connection's descriptor now: one already closed left
    /// the set by itself, and its number may belong to another socket since,
    /// whose registration a removal by number would take.
    pub fn close(self, open_fd: Option<c_int>) {
        let mut s = self.set.borrow_mut();
        let Some((fd, callback)) = s.table.remove(self.token) else {
            return;
        };
        if s.epfd < 0 {
            return;
        }
        if open_fd == Some(fd) {
            // A failure leaves nothing to undo: the descriptor is on its way out.
            let _ = control(s.epfd, libc::EPOLL_CTL_DEL, fd, self.token);
        }
        // SAFETY: on the JS thread, the environment alive (the set is not
        // torn down); the reference was taken out of the table.
        unsafe {
            sys::napi_delete_reference(s.env, callback);
            stop_if_idle(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hang_ups_and_errors_end_both_directions_a_fin_reading() {
        const BOTH: u32 = READABLE | WRITABLE;
        assert_eq!(bits_of(libc::EPOLLIN as u32), (READABLE, 0));
        assert_eq!(bits_of(libc::EPOLLOUT as u32), (WRITABLE, 0));
        let fin = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLOUT) as u32;
        assert_eq!(bits_of(fin), (BOTH, READABLE));
        assert_eq!(bits_of(libc::EPOLLHUP as u32), (BOTH, BOTH));
        assert_eq!(bits_of(libc::EPOLLERR as u32), (BOTH, BOTH));
        assert_eq!(bits_of(0), (0, 0));
    }

    #[test]
    fn a_failed_control_names_epoll_ctl_and_its_errno() {
        let err = control(-1, libc::EPOLL_CTL_ADD, 0, 0);
        assert_eq!(err, Err(PollError::Uv(-libc::EBADF, "epoll_ctl")));
    }
}

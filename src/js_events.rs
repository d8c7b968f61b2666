//! How the runtime's events reach JS: one thread-safe function per
//! environment, shared by all its sockets, which routes each event to its
//! socket's callback by id on the JS thread. A thread-safe function per
//! socket cost about 1 KB and a libuv handle to make, and a loop turn to
//! close, on every connection.
//!
//! A socket's route lives as long as its connection's event sink: dropping
//! the sink (on whichever thread) sends `Released` after every event it
//! sent, and the route goes when that arrives. While any route lives, the
//! thread-safe function keeps the event loop alive, as a socket's own did.
//! A sink dropped on its JS thread once every event it sent was delivered
//! (a plain connection opened by the JS thread's poll, the usual case)
//! removes its route at once: nothing can be queued behind it, and the
//! round trip through the thread-safe function (a wake of the event loop)
//! is saved.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

use crate::connection::{Event, EventSink};
use crate::napi_values::{event_args, EventArgs};
use crate::registry::Registry;

enum Routed {
    Event(u32, Event),
    Released(u32),
}

/// Bound to a function that does nothing: the routing happens in the
/// callback that builds its arguments.
type RouteFn = ThreadsafeFunction<Routed, (), (), Status, false>;

/// What an environment keeps: its connections and its event routes.
struct EnvData {
    registry: Arc<Registry>,
    events: Rc<Events>,
}

/// The routes of one environment. JS-thread only.
struct Events {
    /// The environment these routes belong to (valid while `Events` is: it
    /// lives in the environment's instance data).
    env: sys::napi_env,
    tsfn: Arc<RouteFn>,
    routes: RefCell<HashMap<u32, Route>>,
    next_id: Cell<u32>,
}

/// One connection's way to its socket's callback.
pub struct JsSink {
    id: u32,
    tsfn: Arc<RouteFn>,
    /// Events sent and not yet delivered (shared with the route).
    pending: Arc<AtomicUsize>,
}

/// A socket's callback, and the count of its events on their way.
struct Route {
    callback: FunctionRef<EventArgs, ()>,
    pending: Arc<AtomicUsize>,
}

thread_local! {
    /// The routes of the environments whose JS thread this is, for a sink
    /// dropped here (see [`JsSink`]'s `Drop`): a sink whose routes are not
    /// in this list is on another thread. Weak: the environment owns them.
    static LOCAL_EVENTS: RefCell<Vec<Weak<Events>>> = const { RefCell::new(Vec::new()) };
}

impl EventSink for JsSink {
    fn emit(&self, event: Event) {
        // Counted before it is queued: delivery (on the JS thread) counts
        // it off. The sink is dropped after its last emit by whoever holds
        // it, and that hand-over (a lock) orders the two.
        self.pending.fetch_add(1, Ordering::AcqRel);
        // NonBlocking: the queue is unbounded, so this never waits; it fails
        // only while the environment is shutting down, when nobody listens.
        let _ = self.tsfn.call(
            Routed::Event(self.id, event),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }
}

impl Drop for JsSink {
    fn drop(&mut self) {
        if self.pending.load(Ordering::Acquire) == 0 && self.release_here() {
            return;
        }
        let _ = self.tsfn.call(
            Routed::Released(self.id),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }
}

impl JsSink {
    /// Removes the route now, if this is its JS thread; false when that
    /// cannot be done here (another thread, the environment is going, or its
    /// table is in use), and the release goes through the thread-safe
    /// function instead.
    fn release_here(&self) -> bool {
        // try_with: a sink may be dropped while the thread's locals go.
        let events = LOCAL_EVENTS
            .try_with(|local| {
                local
                    .try_borrow()
                    .ok()?
                    .iter()
                    .filter_map(Weak::upgrade)
                    .find(|e| Arc::ptr_eq(&e.tsfn, &self.tsfn))
            })
            .ok()
            .flatten();
        // A failure to unref after the removal is still a removal.
        events.is_some_and(|events| !matches!(events.remove(self.id), Ok(false)))
    }
}

/// A sink for a new connection whose events go to `callback`, and the
/// registry the connection joins.
pub fn sink(env: &Env, callback: &Function<EventArgs, ()>) -> Result<(Arc<Registry>, JsSink)> {
    let (registry, events) = env_data(env)?;
    Ok((registry, events.add(callback)?))
}

/// This environment's registry of connections.
pub fn registry(env: &Env) -> Result<Arc<Registry>> {
    Ok(env_data(env)?.0)
}

/// This environment's data, made with its first socket. Only clones leave
/// here: the instance data is not borrowed across a call into JS.
fn env_data(env: &Env) -> Result<(Arc<Registry>, Rc<Events>)> {
    if let Some(d) = env.get_instance_data::<EnvData>()? {
        return Ok((d.registry.clone(), d.events.clone()));
    }
    let registry = Arc::new(Registry::default());
    let events = Rc::new(Events::new(env)?);
    LOCAL_EVENTS.with(|local| {
        let mut local = local.borrow_mut();
        local.retain(|e| e.strong_count() > 0);
        local.push(Rc::downgrade(&events));
    });
    env.set_instance_data(
        EnvData {
            registry: registry.clone(),
            events: events.clone(),
        },
        (),
        |_| {},
    )?;
    // Closing an environment (a worker terminated, the process exiting)
    // closes its connections.
    env.add_env_cleanup_hook(registry.clone(), |r| r.close_all())?;
    Ok((registry, events))
}

impl Events {
    fn new(env: &Env) -> Result<Self> {
        let target = env.create_function_from_closure::<(), (), _>("socketEvents", |_| Ok(()))?;
        let tsfn: RouteFn = target
            .build_threadsafe_function::<Routed>()
            .callee_handled::<false>()
            .build_callback(|ctx| dispatch(&ctx.env, ctx.value))?;
        let events = Events {
            env: env.raw(),
            tsfn: Arc::new(tsfn),
            routes: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
        };
        // No route yet: nothing to keep the loop alive for.
        events.set_keep_alive(false)?;
        Ok(events)
    }

    fn add(&self, callback: &Function<EventArgs, ()>) -> Result<JsSink> {
        let callback = callback.create_ref()?;
        // Before the route goes in: a route whose sink was never made would
        // never be released.
        if self.routes.borrow().is_empty() {
            self.set_keep_alive(true)?;
        }
        let id = self.next_free_id();
        let pending = Arc::new(AtomicUsize::new(0));
        self.routes.borrow_mut().insert(
            id,
            Route {
                callback,
                pending: pending.clone(),
            },
        );
        Ok(JsSink {
            id,
            tsfn: self.tsfn.clone(),
            pending,
        })
    }

    /// An id no live route uses (ids wrap after 2^32 sockets).
    fn next_free_id(&self) -> u32 {
        let routes = self.routes.borrow();
        let mut id = self.next_id.get();
        while routes.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_id.set(id.wrapping_add(1));
        id
    }

    /// Ends a route (on the JS thread): `Ok(false)` when the table is in use
    /// further up the stack and nothing was done.
    fn remove(&self, id: u32) -> Result<bool> {
        let (route, now_empty) = {
            let Ok(mut routes) = self.routes.try_borrow_mut() else {
                return Ok(false);
            };
            (routes.remove(&id), routes.is_empty())
        };
        // Dropped outside the borrow: deleting a reference runs no JS, but
        // nothing here relies on that.
        drop(route);
        if now_empty {
            self.set_keep_alive(false)?;
        }
        Ok(true)
    }

    fn set_keep_alive(&self, on: bool) -> Result<()> {
        // SAFETY: called on the JS thread of `self.env` (from a napi method,
        // the thread-safe function's own callback, or a sink's drop that
        // found these routes in this thread's list), which is where these
        // two calls belong; the environment and the thread-safe function
        // are alive while `self` is.
        let status = unsafe {
            if on {
                sys::napi_ref_threadsafe_function(self.env, self.tsfn.raw())
            } else {
                sys::napi_unref_threadsafe_function(self.env, self.tsfn.raw())
            }
        };
        if status == sys::Status::napi_ok {
            Ok(())
        } else {
            Err(Error::from_status(Status::from(status)))
        }
    }
}

/// On the JS thread: hands an event to its socket's callback, or ends a route.
fn dispatch(env: &Env, routed: Routed) -> Result<()> {
    let events = match env.get_instance_data::<EnvData>()? {
        Some(data) => data.events.clone(),
        None => return Ok(()),
    };
    match routed {
        // The table is never in use here: this callback is the stack's top.
        Routed::Released(id) => events.remove(id).map(drop),
        Routed::Event(id, event) => {
            // The callback is taken out of the table before it runs: it may
            // make or close sockets, which changes the table. The event is
            // counted as delivered first: the callback may drop the sink.
            let callback = match events.routes.borrow().get(&id) {
                Some(route) => {
                    route.pending.fetch_sub(1, Ordering::AcqRel);
                    route.callback.borrow_back(env)?
                }
                None => return Ok(()), // closed and released meanwhile
            };
            // A throw comes back as the error, which becomes the process's
            // uncaught exception, as a throw from any callback does.
            callback.call(event_args(event))
        }
    }
}

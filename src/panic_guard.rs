//! Panics stop at the connection they happen in.
//!
//! A panic in a runtime task (a dependency's `unwrap` during a handshake,
//! say) would otherwise end that task silently: its connection would never
//! report an outcome, and its JS promises would never settle. The napi
//! methods are guarded by napi-rs (`#[napi(catch_unwind)]`); the work the
//! addon runs off the JS thread is guarded here, and a caught panic becomes
//! that connection's failure.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;

use crate::error::SocketErr;

/// The failure a caught panic becomes.
pub fn panic_error(payload: Box<dyn Any + Send>) -> SocketErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_owned());
    SocketErr::other(
        "ERR_INTERNAL",
        format!("internal error in sockets-api: {what}"),
    )
}

/// Runs `f` to completion; a panic while polling it ends it with an error.
/// The future is dropped after a panic and never polled again, so no state
/// it left half-updated is observed (hence `AssertUnwindSafe`).
pub async fn catch_async<F: Future>(f: F) -> Result<F::Output, SocketErr> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(
        move |cx| match catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_error(payload))),
        },
    )
    .await
}

/// Runs `f`; a panic in it becomes an error (see [`catch_async`]).
pub fn catch_sync<T>(f: impl FnOnce() -> T) -> Result<T, SocketErr> {
    catch_unwind(AssertUnwindSafe(f)).map_err(panic_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_future_becomes_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let r = rt.block_on(catch_async(async {
            tokio::task::yield_now().await;
            panic!("boom");
        }));
        let e: SocketErr = r.unwrap_err();
        assert_eq!(e.code, "ERR_INTERNAL");
        assert!(e.message().contains("boom"), "{}", e.message());
        assert_eq!(rt.block_on(catch_async(async { 7 })).unwrap(), 7);
    }

    #[test]
    fn a_panicking_call_becomes_an_error() {
        let e = catch_sync(|| -> u8 { panic!("{}", String::from("formatted")) }).unwrap_err();
        assert!(e.message().contains("formatted"));
        assert_eq!(catch_sync(|| 3).unwrap(), 3);
    }
}

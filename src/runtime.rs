//! The addon's tokio runtime, made on first use and shared by every Node
//! environment (main thread and workers) in the process.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

const LOOKUP_THREADS: usize = 4;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// One worker thread: it only connects, runs handshakes and reports
/// readiness, and a second thread would only add wake-ups on a small machine.
/// Name lookups (`getaddrinfo`, blocking) run on at most `LOOKUP_THREADS`
/// threads, as many as libuv's pool that Node runs them on: a thousand
/// connections opened at once would otherwise start hundreds of threads, and
/// eight took turns on two cores for no gain (docs/design.md).
pub fn handle() -> Result<Handle, String> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(LOOKUP_THREADS)
                .thread_name("sockets-api-io")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the I/O runtime: {e}"))
        })
        .as_ref()
        .map(|rt| rt.handle().clone())
        .map_err(Clone::clone)
}

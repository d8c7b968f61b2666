//! The protocol between the native socket and the JS shim, defined once:
//! the event kinds passed to the JS callback, the readiness bits, and the
//! negative results of `read`/`write`/`shutdown`. `lib.rs` exports them to
//! JS (`lib/` reads them from the binding), so no copy can drift.
//!
//! A result of `FAILED` means "the error is waiting in `takeError()`": the
//! hot path returns a number, not an object, and the error is fetched only
//! when there is one.

/// Event kinds: `callback(kind, bits, detail)`.
pub const EV_OPENED: u32 = 1;
pub const EV_FAILED: u32 = 2;
pub const EV_READY: u32 = 3;

/// Readiness bits of `EV_READY`.
pub const READABLE: u32 = 1;
pub const WRITABLE: u32 = 2;

/// `read()` results below zero (and `FAILED` for `write`/`shutdown`).
pub const READ_EOF: i32 = -1;
pub const WOULD_BLOCK: i32 = -2;
pub const FAILED: i32 = -3;

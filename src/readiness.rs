//! How a socket learns that it may read or write again.
//!
//! The JS thread reads and writes without waiting; a call that would block
//! *arms* an interest ([`Armed::arm`]). Who watches it is chosen once per
//! process:
//! - event-loop readiness: the napi layer takes the armed bits after each
//!   call ([`Armed::take`]) and watches them with a libuv poll on the JS
//!   thread (`js_readiness`, over `uv_poll`);
//! - runtime readiness, where libuv cannot be used: a task on the addon's
//!   runtime waits for the armed interests and reports them
//!   ([`Armed::report`]).
//!
//! Either way the report is `Event::Ready(bits)` (the bits of `protocol`),
//! and the JS thread tries again.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::Interest;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::os_socket::OsSocket;
use crate::protocol::{READABLE, WRITABLE};

/// A blocked direction as the protocol's bit.
pub fn bit(interest: Interest) -> u32 {
    if interest.is_writable() {
        WRITABLE
    } else {
        READABLE
    }
}

/// The interests the JS thread waits for (`READABLE | WRITABLE`).
#[derive(Default)]
pub struct Armed {
    bits: AtomicU32,
    changed: Notify,
}

impl Armed {
    /// Arms `interest`. `wake`: a readiness task waits on this set (runtime
    /// readiness) and must look again.
    pub fn arm(&self, interest: Interest, wake: bool) {
        let bit = bit(interest);
        let before = self.bits.fetch_or(bit, Ordering::AcqRel);
        if wake && before & bit == 0 {
            self.changed.notify_one();
        }
    }

    /// Withdraws `bit`: what it waited for is known to have happened.
    pub fn disarm(&self, bit: u32) {
        self.bits.fetch_and(!bit, Ordering::AcqRel);
    }

    /// The interests armed since the last call (event-loop readiness).
    pub fn take(&self) -> u32 {
        self.bits.swap(0, Ordering::AcqRel)
    }

    /// The runtime's readiness task: waits for whatever is armed, reports it
    /// (clearing it), and sleeps until something is armed again; ends when
    /// `cancel` is cancelled.
    pub async fn report(&self, stream: &OsSocket, cancel: &CancellationToken, emit: impl Fn(u32)) {
        loop {
            let armed = self.bits.load(Ordering::Acquire);
            let interest = match (armed & READABLE != 0, armed & WRITABLE != 0) {
                (true, true) => Interest::READABLE | Interest::WRITABLE,
                (true, false) => Interest::READABLE,
                (false, true) => Interest::WRITABLE,
                (false, false) => {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = self.changed.notified() => continue,
                    }
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.changed.notified() => continue,
                r = stream.ready(interest) => {
                    let mut got = 0;
                    match r {
                        Ok(ready) => {
                            if ready.is_readable() || ready.is_read_closed() {
                                got |= READABLE;
                            }
                            if ready.is_writable() || ready.is_write_closed() {
                                got |= WRITABLE;
                            }
                        }
                        // Report everything: the next read or write sees the error.
                        Err(_) => got = READABLE | WRITABLE,
                    }
                    let got = self.bits.fetch_and(!got, Ordering::AcqRel) & got;
                    if got != 0 {
                        emit(got);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arming_accumulates_until_taken() {
        let a = Armed::default();
        a.arm(Interest::READABLE, false);
        a.arm(Interest::WRITABLE, false);
        a.arm(Interest::READABLE, false);
        assert_eq!(a.take(), READABLE | WRITABLE);
        assert_eq!(a.take(), 0);
    }

    #[test]
    fn disarming_withdraws_one_interest() {
        let a = Armed::default();
        a.arm(Interest::READABLE, false);
        a.arm(Interest::WRITABLE, false);
        a.disarm(WRITABLE);
        assert_eq!(a.take(), READABLE);
        a.disarm(READABLE);
        assert_eq!(a.take(), 0);
    }
}

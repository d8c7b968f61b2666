//! The bookkeeping of a shared, edge-triggered readiness set (`epoll_set`):
//! which sockets it watches, what each has armed, and what fired while
//! nobody had armed it. No system calls and no napi here, so the rules can
//! be tested on their own.
//!
//! A socket joins the set once, watching both directions edge-triggered: the
//! kernel reports a direction when it *becomes* ready, not while it stays
//! ready. The rules that keep that from losing a wake-up:
//! - an armed direction that fires is reported once and disarmed;
//! - a direction that fires unarmed is remembered (*pending*); arming it
//!   later asks the caller to have the kernel look again (`EPOLL_CTL_MOD`
//!   re-checks readiness and queues an event if ready), since no new edge
//!   may come for readiness that already happened;
//! - a direction that has *ended* (the peer's FIN for reading, a hang-up or
//!   an error for both) is ready for good, and no new edge comes for it: a
//!   read that returns the last bytes short, with the FIN already queued
//!   behind them, arms readability that only a re-check will report;
//! - arming a direction that is neither needs nothing: every arming
//!   follows a read or write that found the socket not ready (a short read
//!   drained it, a short write filled it), so readiness from then on is a
//!   new edge.
//!
//! Tokens name a socket's entry and its generation, so an event queued for
//! a socket that has left (and whose slot was reused) is recognised and
//! dropped.

use crate::protocol::{READABLE, WRITABLE};

/// Both directions, as the protocol's bits.
const BOTH: u32 = READABLE | WRITABLE;

struct Entry<C> {
    fd: i32,
    callback: C,
    armed: u32,
    pending: u32,
    ended: u32,
}

struct Slot<C> {
    generation: u32,
    entry: Option<Entry<C>>,
}

/// The sockets of one set. `C` is what reports go to (a JS callback).
pub struct WatchTable<C> {
    slots: Vec<Slot<C>>,
    free: Vec<u32>,
    /// How many entries have something armed: while any has, the set is
    /// watched (and keeps the event loop alive, as an open socket should).
    armed_entries: usize,
}

/// What arming asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Arming {
    pub fd: i32,
    /// Something armed now fired unarmed before, or has ended: have the
    /// kernel re-check.
    pub recheck: bool,
}

impl<C> Default for WatchTable<C> {
    fn default() -> Self {
        WatchTable {
            slots: Vec::new(),
            free: Vec::new(),
            armed_entries: 0,
        }
    }
}

fn token(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

impl<C> WatchTable<C> {
    /// Adds a socket with nothing armed; returns its token.
    pub fn insert(&mut self, fd: i32, callback: C) -> u64 {
        let entry = Entry {
            fd,
            callback,
            armed: 0,
            pending: 0,
            ended: 0,
        };
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.entry = Some(entry);
            return token(index, slot.generation);
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 0,
            entry: Some(entry),
        });
        token(index, 0)
    }

    fn slot_of(&self, token: u64) -> Option<usize> {
        let index = (token & u64::from(u32::MAX)) as usize;
        let generation = (token >> 32) as u32;
        let slot = self.slots.get(index)?;
        (slot.generation == generation && slot.entry.is_some()).then_some(index)
    }

    fn entry_mut(&mut self, token: u64) -> Option<&mut Entry<C>> {
        let i = self.slot_of(token)?;
        self.slots[i].entry.as_mut()
    }

    /// Removes a socket: its descriptor and callback, or `None` if the token
    /// is not (or no longer) in the table.
    pub fn remove(&mut self, token: u64) -> Option<(i32, C)> {
        let i = self.slot_of(token)?;
        let slot = &mut self.slots[i];
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(i as u32);
        if entry.armed != 0 {
            self.armed_entries -= 1;
        }
        Some((entry.fd, entry.callback))
    }

    /// Arms `bits`; `None` if the token is gone.
    pub fn arm(&mut self, token: u64, bits: u32) -> Option<Arming> {
        let bits = bits & BOTH;
        let entry = self.entry_mut(token)?;
        let was_armed = entry.armed != 0;
        entry.armed |= bits;
        let recheck = (entry.pending | entry.ended) & bits != 0;
        entry.pending &= !bits;
        let arming = Arming {
            fd: entry.fd,
            recheck,
        };
        if !was_armed && bits != 0 {
            self.armed_entries += 1;
        }
        Some(arming)
    }

    /// The kernel says `bits` fired for `token`, of which `ended` for good:
    /// what to report (and disarm). The rest is remembered as pending. A
    /// token that is gone reports nothing.
    pub fn fired(&mut self, token: u64, bits: u32, ended: u32) -> u32 {
        let Some(entry) = self.entry_mut(token) else {
            return 0;
        };
        entry.ended |= ended & BOTH;
        let bits = bits & BOTH;
        let report = bits & entry.armed;
        let was_armed = entry.armed != 0;
        entry.armed &= !report;
        entry.pending |= bits & !report;
        if was_armed && entry.armed == 0 {
            self.armed_entries -= 1;
        }
        report
    }

    /// The callback of a socket still in the table.
    pub fn callback(&self, token: u64) -> Option<&C> {
        let i = self.slot_of(token)?;
        self.slots[i].entry.as_ref().map(|e| &e.callback)
    }

    pub fn armed_entries(&self) -> usize {
        self.armed_entries
    }

    /// Every callback, taken out (the table is left empty): for tearing the
    /// set down.
    pub fn drain_callbacks(&mut self) -> Vec<C> {
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(entry) = slot.entry.take() {
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(i as u32);
                out.push(entry.callback);
            }
        }
        self.armed_entries = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_direction_is_reported_once() {
        let mut t = WatchTable::default();
        let a = t.insert(7, "a");
        assert_eq!(
            t.arm(a, READABLE),
            Some(Arming {
                fd: 7,
                recheck: false
            })
        );
        assert_eq!(t.armed_entries(), 1);
        assert_eq!(t.fired(a, READABLE | WRITABLE, 0), READABLE);
        assert_eq!(t.armed_entries(), 0);
        // Reported, so disarmed: firing again reports nothing.
        assert_eq!(t.fired(a, READABLE, 0), 0);
    }

    #[test]
    fn readiness_that_fired_unarmed_is_rechecked_when_armed() {
        let mut t = WatchTable::default();
        let a = t.insert(3, ());
        assert_eq!(t.fired(a, WRITABLE, 0), 0);
        let arming = t.arm(a, WRITABLE).map(|x| x.recheck);
        assert_eq!(arming, Some(true));
        // Once: the re-check clears what was pending.
        t.fired(a, WRITABLE, 0); // reported (armed)
        assert_eq!(t.arm(a, WRITABLE).map(|x| x.recheck), Some(false));
        // Pending in one direction does not ask a re-check of the other.
        assert_eq!(t.fired(a, READABLE, 0), 0);
        assert_eq!(t.arm(a, 0).map(|x| x.recheck), Some(false));
        assert_eq!(t.arm(a, WRITABLE).map(|x| x.recheck), Some(false));
        assert_eq!(t.arm(a, READABLE).map(|x| x.recheck), Some(true));
    }

    #[test]
    fn arming_counts_sockets_not_directions() {
        let mut t = WatchTable::default();
        let a = t.insert(1, ());
        let b = t.insert(2, ());
        t.arm(a, READABLE);
        t.arm(a, WRITABLE);
        t.arm(b, READABLE);
        assert_eq!(t.armed_entries(), 2);
        assert_eq!(t.fired(a, READABLE, 0), READABLE);
        assert_eq!(t.armed_entries(), 2, "a still waits to write");
        assert_eq!(t.fired(a, WRITABLE, 0), WRITABLE);
        assert_eq!(t.armed_entries(), 1);
        assert!(t.remove(b).is_some());
        assert_eq!(t.armed_entries(), 0);
    }

    #[test]
    fn a_removed_socket_token_is_stale_even_when_its_slot_is_reused() {
        let mut t = WatchTable::default();
        let a = t.insert(5, "a");
        t.arm(a, READABLE);
        assert_eq!(t.remove(a), Some((5, "a")));
        assert_eq!(t.remove(a), None);
        let b = t.insert(5, "b");
        assert_ne!(a, b, "same slot, new generation");
        assert_eq!(t.fired(a, READABLE, 0), 0);
        assert!(t.arm(a, READABLE).is_none());
        assert_eq!(t.callback(a), None);
        assert_eq!(t.callback(b), Some(&"b"));
        t.arm(b, READABLE);
        assert_eq!(t.fired(b, READABLE, 0), READABLE);
    }

    #[test]
    fn an_ended_direction_is_rechecked_at_every_arming() {
        let mut t = WatchTable::default();
        let a = t.insert(4, ());
        t.arm(a, READABLE);
        // The last bytes and the FIN, seen together: reported once.
        assert_eq!(t.fired(a, READABLE, READABLE), READABLE);
        // The read that takes the bytes comes back short and arms again:
        // no edge will come for the FIN, so the kernel must look again,
        // each time.
        assert_eq!(t.arm(a, READABLE).map(|x| x.recheck), Some(true));
        assert_eq!(t.fired(a, READABLE, 0), READABLE);
        assert_eq!(t.arm(a, READABLE).map(|x| x.recheck), Some(true));
        // Writing has not ended.
        assert_eq!(t.arm(a, WRITABLE).map(|x| x.recheck), Some(false));
    }

    #[test]
    fn unknown_bits_are_ignored() {
        let mut t = WatchTable::default();
        let a = t.insert(1, ());
        t.arm(a, 0x80 | READABLE);
        assert_eq!(t.fired(a, 0xff, 0), READABLE);
        assert_eq!(t.arm(a, 0x40).map(|x| x.recheck), Some(false));
        assert_eq!(t.armed_entries(), 0);
    }

    #[test]
    fn tearing_down_takes_every_callback() {
        let mut t = WatchTable::default();
        let a = t.insert(1, 10);
        let b = t.insert(2, 20);
        t.arm(a, READABLE);
        t.remove(b);
        let mut got = t.drain_callbacks();
        got.sort();
        assert_eq!(got, vec![10]);
        assert_eq!(t.armed_entries(), 0);
        assert_eq!(t.callback(a), None);
    }
}

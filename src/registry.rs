//! Which connections belong to which Node environment, so that tearing an
//! environment down (a worker terminated, the process exiting) closes them.

use std::sync::{Arc, Mutex, Weak};

use crate::connection::Conn;

#[derive(Default)]
pub struct Registry {
    conns: Mutex<Vec<Weak<Conn>>>,
}

impl Registry {
    pub fn add(&self, conn: &Arc<Conn>) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        // Forget connections that are gone before the list doubles.
        if conns.len() >= 64 && conns.len().is_power_of_two() {
            conns.retain(|w| w.strong_count() > 0);
        }
        conns.push(Arc::downgrade(conn));
    }

    pub fn close_all(&self) {
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(|p| p.into_inner()));
        for conn in conns.iter().filter_map(Weak::upgrade) {
            conn.close();
        }
    }

    pub fn live(&self) -> usize {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| c.is_open())
            .count()
    }
}

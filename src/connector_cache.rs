//! TLS connectors, built once per distinct configuration and reused.
//!
//! Building a connector is the expensive part of a TLS connection setup
//! (OpenSSL reads and parses the system's whole CA bundle each time, even
//! when `ca` replaces it): 30–40 ms, against a millisecond or two for the
//! handshake itself. A pooled client opening connection after connection with
//! the same options builds one connector instead.
//!
//! The key is the whole configuration, byte for byte (roots, client
//! identity and its passphrase, verification, SNI, ALPN): two
//! configurations that differ in anything that matters to verification
//! never share a connector. The cache is small and bounded; the least
//! recently used entry goes first.

use std::sync::Mutex;

/// How many configurations are kept. Applications use a handful.
const CAPACITY: usize = 16;

pub struct ConnectorCache<T> {
    /// Most recently used last.
    entries: Mutex<Vec<(Vec<u8>, T)>>,
}

impl<T: Clone> ConnectorCache<T> {
    pub const fn new() -> Self {
        ConnectorCache {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The value for `key`, built with `build` (outside the lock) if absent.
    /// A failed build is not kept.
    pub fn get_or_build<E>(
        &self,
        key: Vec<u8>,
        build: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = entries.iter().position(|(k, _)| *k == key) {
                let entry = entries.remove(i);
                let value = entry.1.clone();
                entries.push(entry);
                return Ok(value);
            }
        }
        let value = build()?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.iter().any(|(k, _)| *k == key) {
            if entries.len() >= CAPACITY {
                entries.remove(0);
            }
            entries.push((key, value.clone()));
        }
        Ok(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// Builds a cache key from parts; each is length-prefixed, and lists are
/// preceded by their length ([`KeyBuilder::count`]), so no two different
/// configurations give the same key.
#[derive(Default)]
pub struct KeyBuilder(Vec<u8>);

impl KeyBuilder {
    /// How many parts of a list follow.
    pub fn count(&mut self, n: usize) -> &mut Self {
        self.part(&(n as u64).to_le_bytes())
    }

    pub fn part(&mut self, bytes: &[u8]) -> &mut Self {
        self.0
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_once_per_key_and_bounded() {
        let cache = ConnectorCache::<u32>::new();
        let mut builds = 0;
        for _ in 0..3 {
            let v: Result<u32, ()> = cache.get_or_build(b"a".to_vec(), || {
                builds += 1;
                Ok(1)
            });
            assert_eq!(v, Ok(1));
        }
        assert_eq!(builds, 1);
        for i in 0..(CAPACITY as u32 + 5) {
            let _: Result<u32, ()> = cache.get_or_build(i.to_le_bytes().to_vec(), || Ok(i));
        }
        assert_eq!(cache.len(), CAPACITY);
        // A failure is not remembered.
        let e: Result<u32, &str> = cache.get_or_build(b"bad".to_vec(), || Err("no"));
        assert!(e.is_err());
        let v: Result<u32, &str> = cache.get_or_build(b"bad".to_vec(), || Ok(9));
        assert_eq!(v, Ok(9));
    }

    #[test]
    fn keys_of_different_parts_differ() {
        let a = KeyBuilder::default().part(b"ab").part(b"c").finish();
        let b = KeyBuilder::default().part(b"a").part(b"bc").finish();
        assert_ne!(a, b);
    }
}

//! The TLS version a server chose, read from its ServerHello.
//!
//! The TLS library in use (native-tls) does not report the negotiated
//! version, so the handshake's first bytes from the server are kept and the
//! ServerHello in them is read: its `supported_versions` extension (TLS 1.3)
//! or else its legacy version field. Names are Node's (`TLSv1.3`, ...).
//! Everything here reads untrusted bytes: it never panics, and anything
//! malformed or cut short is simply `None`.

/// How many of the server's first bytes are kept for this.
pub const CAPTURE_LIMIT: usize = 16 * 1024;

const HANDSHAKE_RECORD: u8 = 22;
const SERVER_HELLO: u8 = 2;
const SUPPORTED_VERSIONS: u16 = 0x002b;

/// Reads big-endian fields off the front of a slice.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

fn name(version: u16) -> Option<&'static str> {
    Some(match version {
        0x0304 => "TLSv1.3",
        0x0303 => "TLSv1.2",
        0x0302 => "TLSv1.1",
        0x0301 => "TLSv1",
        _ => return None,
    })
}

/// The version chosen in the ServerHello at the start of `bytes` (the
/// server's first bytes of the connection).
pub fn server_version(bytes: &[u8]) -> Option<&'static str> {
    let mut records = Cursor(bytes);
    // The ServerHello is the first handshake message; it may span records,
    // so the handshake payloads are joined first (they are small).
    let mut handshake = Vec::new();
    while handshake.len() < 4 || handshake.len() < 4 + hello_len(&handshake)? {
        if records.u8()? != HANDSHAKE_RECORD {
            return None;
        }
        records.u16()?; // record version: not the negotiated one
        let len = usize::from(records.u16()?);
        handshake.extend_from_slice(records.take(len)?);
    }
    let mut msg = Cursor(&handshake);
    if msg.u8()? != SERVER_HELLO {
        return None;
    }
    let len = msg.u24()?;
    let mut hello = Cursor(msg.take(len)?);
    let legacy = hello.u16()?;
    hello.take(32)?; // random
    let session_id = usize::from(hello.u8()?);
    hello.take(session_id)?;
    hello.u16()?; // cipher suite
    hello.u8()?; // compression
    if let Some(ext_len) = hello.u16() {
        let mut exts = Cursor(hello.take(usize::from(ext_len))?);
        while let Some(kind) = exts.u16() {
            let len = usize::from(exts.u16()?);
            let data = exts.take(len)?;
            if kind == SUPPORTED_VERSIONS && data.len() == 2 {
                return name(u16::from_be_bytes([data[0], data[1]]));
            }
        }
    }
    name(legacy)
}

fn hello_len(handshake: &[u8]) -> Option<usize> {
    let mut c = Cursor(handshake.get(1..4)?);
    c.u24()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ServerHello record with the given legacy version and extensions.
    fn hello(legacy: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = legacy.to_be_bytes().to_vec();
        body.extend([7u8; 32]);
        body.push(32);
        body.extend([1u8; 32]);
        body.extend([0x13, 0x01, 0]);
        let mut ext_bytes = Vec::new();
        for (kind, data) in exts {
            ext_bytes.extend(kind.to_be_bytes());
            ext_bytes.extend((data.len() as u16).to_be_bytes());
            ext_bytes.extend(data);
        }
        body.extend((ext_bytes.len() as u16).to_be_bytes());
        body.extend(ext_bytes);
        let mut msg = vec![SERVER_HELLO];
        msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend(body);
        let mut record = vec![HANDSHAKE_RECORD, 3, 3];
        record.extend((msg.len() as u16).to_be_bytes());
        record.extend(msg);
        record
    }

    #[test]
    fn versions() {
        let tls13 = hello(
            0x0303,
            &[(0x0033, vec![0; 36]), (SUPPORTED_VERSIONS, vec![3, 4])],
        );
        assert_eq!(server_version(&tls13), Some("TLSv1.3"));
        assert_eq!(
            server_version(&hello(0x0303, &[(0xff01, vec![0])])),
            Some("TLSv1.2")
        );
        assert_eq!(server_version(&hello(0x0302, &[])), Some("TLSv1.1"));
        // More records after the hello do not matter.
        let mut more = tls13.clone();
        more.extend([20, 3, 3, 0, 1, 1]);
        assert_eq!(server_version(&more), Some("TLSv1.3"));
    }

    #[test]
    fn a_hello_split_across_records() {
        let whole = hello(0x0303, &[(SUPPORTED_VERSIONS, vec![3, 4])]);
        let payload = &whole[5..];
        let (a, b) = payload.split_at(20);
        let mut split = Vec::new();
        for part in [a, b] {
            split.extend([HANDSHAKE_RECORD, 3, 3]);
            split.extend((part.len() as u16).to_be_bytes());
            split.extend(part);
        }
        assert_eq!(server_version(&split), Some("TLSv1.3"));
    }

    #[test]
    fn not_a_hello() {
        assert_eq!(server_version(b""), None);
        assert_eq!(server_version(b"HTTP/1.1 400 Bad Request\r\n"), None);
        let whole = hello(0x0303, &[]);
        assert_eq!(server_version(&whole[..whole.len() - 3]), None);
        // An alert record instead of a handshake.
        assert_eq!(server_version(&[21, 3, 3, 0, 2, 2, 40]), None);
    }

    proptest! {
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = server_version(&bytes);
        }

        #[test]
        fn any_cut_of_a_hello_is_refused_not_misread(cut in 0usize..120, v in prop_oneof![Just(0x0303u16), Just(0x0304)]) {
            let whole = hello(0x0303, &[(SUPPORTED_VERSIONS, v.to_be_bytes().to_vec())]);
            let got = server_version(&whole[..cut.min(whole.len())]);
            prop_assert!(got.is_none() || cut >= whole.len());
        }
    }
}

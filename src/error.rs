//! Errors as users of `node:net` know them: a `code` (`ECONNREFUSED`), the
//! `syscall` that failed, and the address involved.
//!
//! I/O errors are never flattened into a string: the errno is mapped to its
//! Node name so the JS layer can build a `SocketError` with the same fields
//! and wording as Node's own errors.

use std::fmt;
use std::io;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketErr {
    /// `ECONNREFUSED`, `ENOTFOUND`, `ERR_TLS_CERT_ALTNAME_INVALID`, ...
    pub code: String,
    /// `connect`, `read`, `write`, `getaddrinfo`, ... (absent for TLS errors)
    pub syscall: Option<&'static str>,
    pub address: Option<String>,
    pub port: Option<u16>,
    /// Free text used when there is no syscall to name (TLS, timeouts of handshakes).
    pub detail: Option<String>,
}

impl SocketErr {
    /// An error raised by a system call, worded as Node words it.
    pub fn sys(code: impl Into<String>, syscall: &'static str) -> Self {
        SocketErr {
            code: code.into(),
            syscall: Some(syscall),
            address: None,
            port: None,
            detail: None,
        }
    }

    /// An error without a syscall, e.g. a certificate that fails verification.
    pub fn other(code: impl Into<String>, detail: impl Into<String>) -> Self {
        SocketErr {
            code: code.into(),
            syscall: None,
            address: None,
            port: None,
            detail: Some(detail.into()),
        }
    }

    pub fn from_io(e: &io::Error, syscall: &'static str) -> Self {
        Self::sys(io_code(e), syscall)
    }

    pub fn at(mut self, address: impl Into<String>, port: Option<u16>) -> Self {
        self.address = Some(address.into());
        self.port = port;
        self
    }

    /// The message after the `SocketError: ` prefix, e.g.
    /// `connect ECONNREFUSED 127.0.0.1:1234`.
    pub fn message(&self) -> String {
        let mut msg = match (self.syscall, &self.detail) {
            (Some(syscall), _) => format!("{syscall} {}", self.code),
            (None, Some(detail)) => detail.clone(),
            (None, None) => self.code.clone(),
        };
        if self.syscall.is_some() {
            match (&self.address, self.port) {
                (Some(addr), Some(port)) => msg.push_str(&format!(" {addr}:{port}")),
                (Some(addr), None) => msg.push_str(&format!(" {addr}")),
                _ => {}
            }
            if let Some(detail) = &self.detail {
                msg.push_str(&format!(" ({detail})"));
            }
        }
        msg
    }
}

impl fmt::Display for SocketErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// The Node name of an I/O error: the errno's name where there is one.
pub fn io_code(e: &io::Error) -> String {
    if let Some(name) = e.raw_os_error().and_then(errno_name) {
        return name.to_owned();
    }
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "ECONNREFUSED",
        ConnectionReset => "ECONNRESET",
        ConnectionAborted => "ECONNABORTED",
        BrokenPipe => "EPIPE",
        TimedOut => "ETIMEDOUT",
        NotFound => "ENOENT",
        PermissionDenied => "EACCES",
        AddrInUse => "EADDRINUSE",
        AddrNotAvailable => "EADDRNOTAVAIL",
        NotConnected => "ENOTCONN",
        UnexpectedEof => "ECONNRESET",
        _ => "EIO",
    }
    .to_owned()
}

#[cfg(unix)]
fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::EPIPE => "EPIPE",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENETDOWN => "ENETDOWN",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EHOSTDOWN => "EHOSTDOWN",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ENOTCONN => "ENOTCONN",
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EPROTOTYPE => "EPROTOTYPE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EINVAL => "EINVAL",
        libc::EIO => "EIO",
        _ => return None,
    })
}

#[cfg(not(unix))]
fn errno_name(_errno: i32) -> Option<&'static str> {
    None
}

/// Maps a resolver failure to Node's code. The standard library reports
/// `getaddrinfo` failures as text only, so the well-known texts are matched;
/// anything else is a failed lookup, which Node calls `ENOTFOUND`.
pub fn dns_code(e: &io::Error) -> &'static str {
    let text = e.to_string();
    if text.contains("Temporary failure") || text.contains("try again") {
        "EAI_AGAIN"
    } else {
        "ENOTFOUND"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_wording() {
        let e = SocketErr::from_io(
            &io::Error::from(io::ErrorKind::ConnectionRefused),
            "connect",
        )
        .at("127.0.0.1", Some(1234));
        assert_eq!(e.message(), "connect ECONNREFUSED 127.0.0.1:1234");
        let e = SocketErr::sys("ENOTFOUND", "getaddrinfo").at("nope.invalid", None);
        assert_eq!(e.message(), "getaddrinfo ENOTFOUND nope.invalid");
        let e = SocketErr::other("CERT_HAS_EXPIRED", "certificate has expired");
        assert_eq!(e.message(), "certificate has expired");
    }

    #[cfg(unix)]
    #[test]
    fn errno_names() {
        let e = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(io_code(&e), "ECONNRESET");
        let e = io::Error::from_raw_os_error(libc::EPIPE);
        assert_eq!(io_code(&e), "EPIPE");
    }

    #[test]
    fn dns_codes() {
        let e = io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(dns_code(&e), "ENOTFOUND");
        let e = io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert_eq!(dns_code(&e), "EAI_AGAIN");
    }
}

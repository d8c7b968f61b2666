//! The values that cross the napi boundary, and their conversions to and
//! from the core's types: addresses, options, event details, and errors.
//!
//! One error conversion: a thrown error is a JS `Error` whose `code` is
//! Node's code (`ERR_INVALID_ARG_VALUE`, `ECONNREFUSED`,
//! `ERR_TLS_CERT_ALTNAME_INVALID`, ...) and whose message is the
//! `SocketError` text; `lib/errors.js` rewraps it as it is. napi-rs's own
//! failures keep their status names (`GenericFailure`, ...) as the code,
//! which the shim reports as `ERR_INTERNAL`.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::address::{self, AddressError, Target};
use crate::connection::{Event, SocketInfo};
use crate::dial::ConnectOptions;
use crate::error::SocketErr;
use crate::protocol::{EV_FAILED, EV_OPENED, EV_READY};
use crate::setup::ConnectPlan;
use crate::tls::{ClientIdentity, TlsConfig, TlsOptions};

/// A call's result as JS sees it: a value, or an error with Node's code.
pub type JsResult<T> = Result<T, String>;

/// A core error, thrown.
pub fn thrown(e: SocketErr) -> Error<String> {
    Error::new(e.code.clone(), e.message())
}

/// A failure of napi itself (its status name stays the code).
pub fn napi_failure(e: Error) -> Error<String> {
    Error::new(e.status.as_ref().to_owned(), e.reason.clone())
}

fn invalid(e: AddressError) -> Error<String> {
    Error::new("ERR_INVALID_ARG_VALUE".to_owned(), e.0)
}

#[napi(object)]
pub struct ProtocolConstants {
    pub ev_opened: u32,
    pub ev_failed: u32,
    pub ev_ready: u32,
    pub readable: u32,
    pub writable: u32,
    pub read_eof: i32,
    pub would_block: i32,
    pub failed: i32,
}

#[napi(object)]
pub struct ParsedAddress {
    /// `"tcp"` or `"unix"`.
    pub kind: String,
    pub hostname: Option<String>,
    pub port: Option<u32>,
    pub path: Option<String>,
}

impl From<Target> for ParsedAddress {
    fn from(t: Target) -> Self {
        match t {
            Target::Tcp { host, port } => ParsedAddress {
                kind: "tcp".into(),
                hostname: Some(host.to_string()),
                port: Some(port.into()),
                path: None,
            },
            Target::Unix { path } => ParsedAddress {
                kind: "unix".into(),
                hostname: None,
                port: None,
                path: Some(path),
            },
        }
    }
}

impl ParsedAddress {
    /// Back to a target, checked again: the object came from JS.
    fn into_target(self) -> JsResult<Target> {
        match (self.kind.as_str(), self.hostname, self.port, self.path) {
            ("unix", _, _, Some(path)) => address::parse_path(&path),
            ("tcp", Some(host), Some(port), _) => address::parse_parts(&host, port.into()),
            _ => Err(AddressError("invalid address".into())),
        }
        .map_err(invalid)
    }
}

/// The address parsers' results, for the shim.
pub fn parsed(r: std::result::Result<Target, AddressError>) -> JsResult<ParsedAddress> {
    r.map(Into::into).map_err(invalid)
}

/// Connection facts and error details, as one shape for the event callback.
#[napi(object)]
#[derive(Default)]
pub struct EventDetail {
    pub remote_address: Option<String>,
    pub local_address: Option<String>,
    pub alpn: Option<String>,
    pub tls_protocol: Option<String>,
    pub peer_certificate: Option<Buffer>,
    pub session_reused: Option<bool>,
    pub code: Option<String>,
    pub syscall: Option<String>,
    pub address: Option<String>,
    pub port: Option<u32>,
    pub message: Option<String>,
}

impl From<SocketErr> for EventDetail {
    fn from(e: SocketErr) -> Self {
        EventDetail {
            message: Some(e.message()),
            code: Some(e.code),
            syscall: e.syscall.map(str::to_owned),
            address: e.address,
            port: e.port.map(u32::from),
            ..Default::default()
        }
    }
}

impl From<SocketInfo> for EventDetail {
    fn from(info: SocketInfo) -> Self {
        EventDetail {
            remote_address: Some(info.remote_address).filter(|a| !a.is_empty()),
            local_address: Some(info.local_address).filter(|a| !a.is_empty()),
            alpn: info.alpn,
            tls_protocol: info.tls_protocol.map(str::to_owned),
            peer_certificate: info.peer_certificate.map(Buffer::from),
            session_reused: info.session_reused,
            ..Default::default()
        }
    }
}

/// The event callback's arguments: `(kind, bits, detail)`.
pub type EventArgs = FnArgs<(u32, u32, Option<EventDetail>)>;

pub fn event_args(event: Event) -> EventArgs {
    let args = match event {
        Event::Opened(info) => (EV_OPENED, 0, Some(info.into())),
        Event::Failed(e) => (EV_FAILED, 0, Some(e.into())),
        Event::Ready(bits) => (EV_READY, bits, None),
    };
    args.into()
}

#[napi(object)]
pub struct NativeTlsOptions {
    pub ca: Option<Vec<Uint8Array>>,
    pub extra_ca: Option<Vec<Uint8Array>>,
    pub cert: Option<Uint8Array>,
    pub key: Option<Uint8Array>,
    pub passphrase: Option<String>,
    pub pfx: Option<Uint8Array>,
    pub reject_unauthorized: bool,
    pub servername: String,
    pub alpn: Option<Vec<String>>,
    /// Resume an earlier session (default: yes).
    pub session_resumption: Option<bool>,
}

impl NativeTlsOptions {
    pub fn into_config(self) -> JsResult<TlsConfig> {
        let identity = match (self.pfx, self.cert, self.key) {
            (Some(pfx), _, _) => Some(ClientIdentity::Pfx {
                der: pfx.to_vec(),
                passphrase: self.passphrase.clone().unwrap_or_default(),
            }),
            (None, Some(cert), Some(key)) => Some(ClientIdentity::Pem {
                cert: cert.to_vec(),
                key: key.to_vec(),
                passphrase: self.passphrase.clone(),
            }),
            _ => None,
        };
        let opts = TlsOptions {
            ca: self.ca.map(|v| v.iter().map(|b| b.to_vec()).collect()),
            extra_ca: self
                .extra_ca
                .map(|v| v.iter().map(|b| b.to_vec()).collect())
                .unwrap_or_default(),
            identity,
            reject_unauthorized: self.reject_unauthorized,
            servername: self.servername,
            alpn: self.alpn.unwrap_or_default(),
            resume: self.session_resumption.unwrap_or(true),
        };
        TlsConfig::new(opts).map_err(thrown)
    }
}

#[napi(object)]
pub struct NativeConnectOptions {
    pub no_delay: bool,
    /// Keep-alive initial delay in ms; absent: off.
    pub keep_alive: Option<f64>,
    pub connect_timeout: Option<f64>,
    pub tls: Option<NativeTlsOptions>,
}

/// What `connect()` was given, as the core's plan.
pub fn connect_plan(target: ParsedAddress, options: NativeConnectOptions) -> JsResult<ConnectPlan> {
    Ok(ConnectPlan {
        target: target.into_target()?,
        options: ConnectOptions {
            no_delay: options.no_delay,
            keep_alive: options
                .keep_alive
                .map(|ms| millis(Some(ms)).unwrap_or_default()),
        },
        timeout: millis(options.connect_timeout),
        tls: options.tls.map(NativeTlsOptions::into_config).transpose()?,
    })
}

/// Milliseconds from JS (already validated there) as a duration.
pub fn millis(ms: Option<f64>) -> Option<Duration> {
    ms.filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| Duration::from_micros((v * 1000.0) as u64))
}

//! The benchmark peer: one listener per workload, one std thread per
//! connection, big buffers. Prints its ports as JSON on stdout and runs
//! until stdin closes.
//!
//! Usage: bench-peer [CERT.pem KEY.pem [CLIENT-CA.pem]]
//! TLS listeners only with a certificate and key; with a client CA too, an
//! echo listener (`mtls_echo`) that requires a client certificate from it.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use native_tls::{Identity, TlsAcceptor};
#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
use openssl::{
    pkey::PKey,
    ssl::{SslAcceptor, SslMethod, SslVerifyMode},
    x509::X509,
};

const CHUNK: usize = 256 * 1024;

/// `download`: the client sends 8 bytes (big-endian length), we send that many bytes.
fn download<S: Read + Write>(mut s: S) -> io::Result<()> {
    let mut len = [0u8; 8];
    s.read_exact(&mut len)?;
    let mut left = u64::from_be_bytes(len);
    let buf = vec![0x5au8; CHUNK];
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        s.write_all(&buf[..n])?;
        left -= n as u64;
    }
    s.flush()
}

/// `upload`: we read until EOF and answer with the byte count (8 bytes).
fn upload<S: Read + Write>(mut s: S) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    s.write_all(&total.to_be_bytes())?;
    s.flush()
}

/// `echo`: everything read is written back.
fn echo<S: Read + Write>(mut s: S) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

type Handler = fn(&mut dyn ReadWrite) -> io::Result<()>;

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// How a listener's connections are accepted.
#[derive(Clone)]
enum Accept {
    Plain,
    Tls(Arc<TlsAcceptor>),
    /// TLS requiring a client certificate (native-tls cannot ask for one).
    #[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
    MutualTls(Arc<SslAcceptor>),
}

/// Runs `handler` on an accepted TLS stream, then closes the session.
fn session<S: Read + Write>(
    handler: Handler,
    mut s: S,
    close: impl FnOnce(&mut S),
) -> io::Result<()> {
    let r = handler(&mut s);
    close(&mut s);
    r
}

fn serve(listener: TcpListener, handler: Handler, accept: Accept) {
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let accept = accept.clone();
            thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let _ = match accept {
                    Accept::Plain => handler(&mut { conn }),
                    Accept::Tls(acceptor) => acceptor.accept(conn).map_or(Ok(()), |s| {
                        session(handler, s, |s| {
                            let _ = s.shutdown();
                        })
                    }),
                    #[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
                    Accept::MutualTls(acceptor) => acceptor.accept(conn).map_or(Ok(()), |s| {
                        session(handler, s, |s| {
                            let _ = s.shutdown();
                        })
                    }),
                };
            });
        }
    });
}

#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
/// An acceptor that requires a client certificate issued by `client_ca`.
fn mtls_acceptor(
    cert: &[u8],
    key: &[u8],
    client_ca: &str,
) -> Result<SslAcceptor, Box<dyn std::error::Error>> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    let cert = X509::from_pem(cert)?;
    let key = PKey::private_key_from_pem(key)?;
    b.set_certificate(&cert)?;
    b.set_private_key(&key)?;
    b.set_ca_file(client_ca)?;
    b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    Ok(b.build())
}

fn listen() -> io::Result<(TcpListener, u16)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let tls = if args.len() >= 3 {
        let cert = std::fs::read(&args[1])?;
        let key = std::fs::read(&args[2])?;
        Some(Arc::new(TlsAcceptor::new(Identity::from_pkcs8(
            &cert, &key,
        )?)?))
    } else {
        None
    };
    let handlers: [(&str, Handler); 3] = [
        ("download", |s| download(s)),
        ("upload", |s| upload(s)),
        ("echo", |s| echo(s)),
    ];
    let mut ports = Vec::new();
    for (name, handler) in handlers {
        let (l, port) = listen()?;
        serve(l, handler, Accept::Plain);
        ports.push(format!("\"{name}\":{port}"));
        if let Some(acceptor) = &tls {
            let (l, port) = listen()?;
            serve(l, handler, Accept::Tls(acceptor.clone()));
            ports.push(format!("\"tls_{name}\":{port}"));
        }
    }
    #[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
    if args.len() >= 4 {
        let acceptor = mtls_acceptor(
            &std::fs::read(&args[1])?,
            &std::fs::read(&args[2])?,
            &args[3],
        )?;
        let (l, port) = listen()?;
        serve(l, |s| echo(s), Accept::MutualTls(Arc::new(acceptor)));
        ports.push(format!("\"mtls_echo\":{port}"));
    }
    println!("{{{}}}", ports.join(","));
    io::stdout().flush()?;
    // Run until the parent goes away.
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    Ok(())
}

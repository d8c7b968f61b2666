//! Establishing a connection: name resolution, trying each address in turn,
//! socket options. `connect` runs on the addon's tokio runtime; `dial` and
//! `resolve_name` are plain calls for any thread.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::address::{Host, Target};
use crate::error::{dns_code, SocketErr};
use crate::os_socket::OsSocket;

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub no_delay: bool,
    /// `Some(delay)` turns keep-alive on with that initial delay (zero: the system's).
    pub keep_alive: Option<Duration>,
}

/// Connects to `target`, trying every resolved address until one accepts.
/// The error of the last attempt is reported, as `node:net` does.
pub async fn connect(target: &Target, opts: &ConnectOptions) -> Result<OsSocket, SocketErr> {
    match target {
        Target::Tcp { host, port } => connect_tcp(&resolve(host, *port).await?, opts).await,
        #[cfg(unix)]
        Target::Unix { path } => UnixStream::connect(path)
            .await
            .map(OsSocket::Unix)
            .map_err(|e| SocketErr::from_io(&e, "connect").at(path.clone(), None)),
        #[cfg(not(unix))]
        Target::Unix { path } => Err(SocketErr::other(
            "ERR_SOCKET_UNSUPPORTED",
            "Unix domain sockets are not supported on this platform",
        )
        .at(path.clone(), None)),
    }
}

/// Connects to the first of `addrs` that accepts (see [`connect_any`]) and
/// sets the socket options.
pub async fn connect_tcp(
    addrs: &[SocketAddr],
    opts: &ConnectOptions,
) -> Result<OsSocket, SocketErr> {
    let s = connect_any(addrs).await?;
    configure(&s, opts).map_err(|e| SocketErr::from_io(&e, "setsockopt"))?;
    Ok(OsSocket::Tcp(s))
}

/// How long an attempt runs alone before the next address is tried
/// alongside it (Node's `autoSelectFamilyAttemptTimeout` default).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Tries the addresses in order, racing them Happy Eyeballs style (RFC 8305):
/// each attempt gets a head start of `ATTEMPT_DELAY`, or less if it fails
/// sooner, before the next one starts; the first connection wins and the
/// others are dropped. So an address that never answers (a broken IPv6
/// route) costs 250 ms, not the kernel's SYN timeout. If all fail, the error
/// of the last one to fail is reported, as `node:net` does.
pub async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, SocketErr> {
    let mut last = SocketErr::sys("ENOTFOUND", "getaddrinfo");
    let mut attempts = tokio::task::JoinSet::new();
    let mut pending = addrs.iter().copied();
    let mut start_next = |attempts: &mut tokio::task::JoinSet<_>| match pending.next() {
        Some(addr) => {
            attempts.spawn(async move { (addr, TcpStream::connect(addr).await) });
            true
        }
        None => false,
    };
    start_next(&mut attempts);
    loop {
        let outcome = tokio::select! {
            done = attempts.join_next() => match done {
                Some(Ok(outcome)) => Some(outcome),
                // A panicked attempt counts as a failed one.
                Some(Err(_)) => None,
                None => return Err(last),
            },
            _ = tokio::time::sleep(ATTEMPT_DELAY), if !attempts.is_empty() => {
                start_next(&mut attempts);
                continue;
            }
        };
        match outcome {
            Some((_, Ok(stream))) => return Ok(stream),
            Some((addr, Err(e))) => last = connect_error(&e, addr),
            None => {}
        }
        // A failure starts the next attempt at once.
        if attempts.is_empty() && !start_next(&mut attempts) {
            return Err(last);
        }
    }
}

/// A failed attempt, named by the address tried: `connect ECONNREFUSED 127.0.0.1:5`.
pub fn connect_error(e: &io::Error, addr: SocketAddr) -> SocketErr {
    SocketErr::from_io(e, "connect").at(addr.ip().to_string(), Some(addr.port()))
}

/// Every address of `host`, IPv6 and IPv4 in the resolver's order.
async fn resolve(host: &Host, port: u16) -> Result<Vec<SocketAddr>, SocketErr> {
    match host {
        Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, port)]),
        Host::Name(name) => {
            let name = name.clone();
            tokio::task::spawn_blocking(move || resolve_name(&name, port))
                .await
                .unwrap_or_else(|_| Err(SocketErr::sys("ENOTFOUND", "getaddrinfo")))
        }
    }
}

/// `getaddrinfo`, blocking: every address of `name`, without repeats.
pub fn resolve_name(name: &str, port: u16) -> Result<Vec<SocketAddr>, SocketErr> {
    use std::net::ToSocketAddrs;
    let found = (name, port)
        .to_socket_addrs()
        .map_err(|e| SocketErr::sys(dns_code(&e), "getaddrinfo").at(name, None))?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in found {
        // getaddrinfo may list an address once per socket type.
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    if addrs.is_empty() {
        return Err(SocketErr::sys("ENOTFOUND", "getaddrinfo").at(name, None));
    }
    Ok(addrs)
}

/// Starts connecting to `addr` without waiting and without the runtime: the
/// caller watches the socket for writability, then asks [`dial_outcome`].
/// This is how plain TCP connects outside the runtime, as `node:net` does
/// (see `Conn::start_direct`).
pub fn dial(addr: SocketAddr, opts: &ConnectOptions) -> io::Result<std::net::TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    // Non-blocking from the start where the system allows (one call less).
    #[cfg(target_os = "linux")]
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    #[cfg(not(target_os = "linux"))]
    let sock = {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_nonblocking(true)?;
        s
    };
    configure(&sock, opts)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(sock.into())
}

fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    e.kind() == io::ErrorKind::WouldBlock
}

/// Where a [`dial`] stands once the socket reported writability (or an
/// error): `Ok(true)` connected, `Ok(false)` still in progress, `Err` the
/// connection's failure (`ECONNREFUSED`, ...).
pub fn dial_outcome(s: &std::net::TcpStream) -> io::Result<bool> {
    // A peer address means connected: one call in the usual case. Without
    // one, the pending error (if any) says why, whatever getpeername said.
    let not_connected = match s.peer_addr() {
        Ok(_) => return Ok(true),
        Err(e) => e,
    };
    match s.take_error()? {
        Some(e) => Err(e),
        None if not_connected.kind() == io::ErrorKind::NotConnected => Ok(false),
        None => Err(not_connected),
    }
}

/// Keep-alive probes: one a second, ten unanswered ones end the connection.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_PROBES: u32 = 10;
/// The longest idle time the kernel takes (Linux's `MAX_TCP_KEEPIDLE`);
/// longer delays are clamped to it, as libuv does, instead of failing.
const KEEPALIVE_MAX_IDLE: Duration = Duration::from_secs(32767);

fn configure<'s>(s: impl Into<socket2::SockRef<'s>>, opts: &ConnectOptions) -> io::Result<()> {
    let s = s.into();
    s.set_nodelay(opts.no_delay)?;
    if let Some(delay) = opts.keep_alive {
        // A zero delay keeps the system's idle time, as Node's setKeepAlive(true, 0).
        let mut ka = socket2::TcpKeepalive::new();
        if !delay.is_zero() {
            ka = ka.with_time(delay.clamp(Duration::from_secs(1), KEEPALIVE_MAX_IDLE));
        }
        // As libuv (so node:net) does: then a peer that vanished is given
        // up about ten seconds after the idle time, not the kernel's
        // default of more than ten minutes.
        #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
        {
            ka = ka
                .with_interval(KEEPALIVE_INTERVAL)
                .with_retries(KEEPALIVE_PROBES);
        }
        s.set_tcp_keepalive(&ka)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn closed_port(ip: &str) -> SocketAddr {
        let l = std::net::TcpListener::bind((ip, 0)).unwrap();
        l.local_addr().unwrap()
    }

    #[tokio::test]
    async fn tries_each_address_until_one_accepts() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let refused = closed_port("127.0.0.1");
        let s = connect_any(&[refused, good]).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
    }

    #[tokio::test]
    async fn reports_the_last_failure() {
        let a = closed_port("127.0.0.1");
        let b = closed_port("127.0.0.1");
        let e = connect_any(&[a, b]).await.unwrap_err();
        assert_eq!(e.code, "ECONNREFUSED");
        assert_eq!(
            e.message(),
            format!("connect ECONNREFUSED 127.0.0.1:{}", b.port())
        );
    }

    /// A listener whose accept queue is full: connecting to it hangs.
    fn unresponsive() -> (socket2::Socket, std::net::TcpStream, SocketAddr) {
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        l.listen(0).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        (l, filler, addr)
    }

    #[tokio::test]
    async fn an_address_that_never_answers_costs_only_the_attempt_delay() {
        let (_l, _filler, dead) = unresponsive();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let started = std::time::Instant::now();
        let s = tokio::time::timeout(Duration::from_secs(5), connect_any(&[dead, good]))
            .await
            .expect("connect_any hung on an unresponsive address")
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        assert!(started.elapsed() >= ATTEMPT_DELAY / 2);
    }

    #[tokio::test]
    async fn socket_options_reach_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let s = connect_any(&[addr]).await.unwrap();
        let on = ConnectOptions {
            no_delay: true,
            keep_alive: Some(Duration::from_secs(30)),
        };
        configure(&s, &on).unwrap();
        assert!(s.nodelay().unwrap());
        let sock = socket2::SockRef::from(&s);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.keepalive_time().unwrap(), Duration::from_secs(30));
        assert_eq!(sock.keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(sock.keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        let off = ConnectOptions {
            no_delay: false,
            keep_alive: None,
        };
        let s2 = connect_any(&[addr]).await.unwrap();
        configure(&s2, &off).unwrap();
        assert!(!s2.nodelay().unwrap());
        assert!(!socket2::SockRef::from(&s2).keepalive().unwrap());
    }

    /// Polls a dial until it is over (the caller would wait for writability).
    fn settle(s: &std::net::TcpStream) -> io::Result<()> {
        for _ in 0..500 {
            if dial_outcome(s)? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the dial did not settle");
    }

    #[test]
    fn a_dial_connects_without_the_runtime_and_sets_the_options() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let opts = ConnectOptions {
            no_delay: true,
            keep_alive: Some(Duration::from_secs(5)),
        };
        let s = dial(addr, &opts).unwrap();
        settle(&s).unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        assert!(s.nodelay().unwrap());
        assert!(socket2::SockRef::from(&s).keepalive().unwrap());
        // Non-blocking: a read with nothing there says so instead of waiting.
        let e = (&s).read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_keep_alive_delay_beyond_the_kernel_limit_is_clamped() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let opts = ConnectOptions {
            no_delay: true,
            keep_alive: Some(Duration::from_secs(40_000)),
        };
        let s = dial(listener.local_addr().unwrap(), &opts).unwrap();
        let idle = socket2::SockRef::from(&s).keepalive_time().unwrap();
        assert_eq!(idle, KEEPALIVE_MAX_IDLE);
    }

    #[test]
    fn a_refused_dial_reports_the_refusal() {
        let s = dial(closed_port("127.0.0.1"), &ConnectOptions::default()).unwrap();
        let e = settle(&s).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn names_resolve_without_repeats() {
        let addrs = resolve_name("localhost", 7).unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 7));
        let unique: std::collections::HashSet<_> = addrs.iter().collect();
        assert_eq!(unique.len(), addrs.len());
    }

    #[tokio::test]
    async fn ip_literals_skip_the_resolver() {
        let addrs = resolve(&Host::Ip("::1".parse().unwrap()), 5).await.unwrap();
        assert_eq!(addrs, vec!["[::1]:5".parse::<SocketAddr>().unwrap()]);
    }
}

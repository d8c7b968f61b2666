//! The state machine driven without Node: a sink that records events,
//! real loopback sockets, the addon's runtime.

use super::*;
use std::io::{Read as _, Write as _};
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::address::{Host, Target};
use crate::dial::ConnectOptions;
use crate::setup::ConnectPlan;

struct RecordingSink(Mutex<mpsc::Sender<Event>>);

impl EventSink for RecordingSink {
    fn emit(&self, event: Event) {
        let _ = self.0.lock().unwrap().send(event);
    }
}

fn conn(event_loop: bool) -> (Arc<Conn>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    (
        Conn::new(Box::new(RecordingSink(Mutex::new(tx))), event_loop),
        rx,
    )
}

fn rt() -> Handle {
    crate::runtime::handle().unwrap()
}

fn plan(addr: SocketAddr) -> ConnectPlan {
    ConnectPlan {
        target: Target::Tcp {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        },
        options: ConnectOptions::default(),
        timeout: Some(Duration::from_secs(5)),
        tls: None,
    }
}

fn next(rx: &mpsc::Receiver<Event>) -> Event {
    rx.recv_timeout(Duration::from_secs(5)).expect("an event")
}

/// Reads until data, end or failure, waiting for readiness events.
fn read_some(c: &Conn, rx: &mpsc::Receiver<Event>, buf: &mut [u8]) -> ReadOutcome {
    loop {
        match c.read(buf) {
            ReadOutcome::WouldBlock => assert!(matches!(next(rx), Event::Ready(_))),
            other => return other,
        }
    }
}

#[test]
fn opens_on_the_runtime_reads_writes_and_sees_the_peer_end() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, rx) = conn(false);
    c.start(&rt(), plan(addr));
    let (mut peer, _) = listener.accept().unwrap();
    let Event::Opened(info) = next(&rx) else {
        panic!("not opened")
    };
    assert_eq!(info.remote_address, addr.to_string());
    assert!(c.is_open());
    assert_eq!(c.write(b"ping"), WriteOutcome::Wrote(4));
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    // Data, then the peer's FIN: the data first, then the end, for good.
    peer.write_all(b"pong").unwrap();
    drop(peer);
    let mut buf = [0u8; 16];
    let mut data = Vec::new();
    loop {
        match read_some(&c, &rx, &mut buf) {
            ReadOutcome::Data(n) => data.extend_from_slice(&buf[..n]),
            ReadOutcome::Eof => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(data, b"pong");
    assert_eq!(c.read(&mut buf), ReadOutcome::Eof);
    assert_eq!(c.shutdown_write(), Ok(true));
    c.close();
    assert!(!c.is_open());
    assert_eq!(c.read(&mut buf), ReadOutcome::Eof);
    assert!(matches!(c.write(b"x"), WriteOutcome::Failed(_)));
}

#[test]
fn a_refused_connection_fails_once() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (c, rx) = conn(false);
    c.start(&rt(), plan(addr));
    let Event::Failed(e) = next(&rx) else {
        panic!("not failed")
    };
    assert_eq!(e.code, "ECONNREFUSED");
    assert_eq!(e.port, Some(addr.port()));
    // Failing again (or after close) reports nothing more.
    c.fail(SocketErr::other("X", "late"));
    c.close();
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn close_while_dialing_ends_the_attempt_silently() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, rx) = conn(true);
    assert!(c.start_direct(
        &rt(),
        Host::Ip(addr.ip()),
        addr.port(),
        ConnectOptions::default()
    ));
    assert_eq!(c.take_wanted(), WRITABLE);
    c.close();
    assert!(c.dial_outcome().is_none());
    assert!(!c.is_open());
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn a_direct_dial_opens_when_writability_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, _rx) = conn(true);
    assert!(c.start_direct(
        &rt(),
        Host::Ip(addr.ip()),
        addr.port(),
        ConnectOptions::default()
    ));
    let _peer = listener.accept().unwrap();
    let info = loop {
        match c.dial_outcome() {
            Some(r) => break r.unwrap(),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    assert_eq!(info.remote_address, addr.to_string());
    assert!(c.is_open());
    c.close();
}

#[test]
fn close_during_the_name_lookup_reports_nothing() {
    let (c, rx) = conn(true);
    assert!(!c.start_direct(
        &rt(),
        Host::Name("localhost".into()),
        9,
        ConnectOptions::default()
    ));
    c.close();
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(!c.is_open());
}

#[test]
fn a_panic_while_connecting_fails_that_connection() {
    let (c, rx) = conn(false);
    c.establish(
        &rt(),
        async {
            tokio::task::yield_now().await;
            panic!("a dependency's unwrap");
        },
        None,
    );
    let Event::Failed(e) = next(&rx) else {
        panic!("not failed")
    };
    assert_eq!(e.code, "ERR_INTERNAL");
    assert!(e.message().contains("a dependency's unwrap"));
    // The runtime goes on: another connection still opens.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (c2, rx2) = conn(false);
    c2.start(&rt(), plan(listener.local_addr().unwrap()));
    assert!(matches!(next(&rx2), Event::Opened(_)));
    c2.close();
}

#[test]
fn the_transport_moves_out_once_for_an_upgrade() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (c, rx) = conn(false);
    c.start(&rt(), plan(listener.local_addr().unwrap()));
    assert!(matches!(next(&rx), Event::Opened(_)));
    assert!(c.take_transport().is_some());
    assert!(!c.is_open());
    assert!(c.take_transport().is_none());
}

#[test]
fn data_then_a_reset_reads_the_data_then_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, rx) = conn(false);
    c.start(&rt(), plan(addr));
    let (mut peer, _) = listener.accept().unwrap();
    assert!(matches!(next(&rx), Event::Opened(_)));
    peer.write_all(b"last words").unwrap();
    let mut buf = [0u8; 64];
    let ReadOutcome::Data(n) = read_some(&c, &rx, &mut buf) else {
        panic!("no data")
    };
    assert_eq!(&buf[..n], b"last words");
    // Linger 0: the close is a reset (RST), not a FIN.
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    let ReadOutcome::Failed(e) = read_some(&c, &rx, &mut buf) else {
        panic!("the reset was not reported")
    };
    assert_eq!(e.code, "ECONNRESET");
    // The error is final: the socket is closed after it, not read again.
    c.close();
    assert_eq!(c.read(&mut buf), ReadOutcome::Eof);
}

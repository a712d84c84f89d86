//! Graceful stop with many responses in flight, and slowloris clients.
//!
//! - 250 deferred responses in flight when `server_stop` begins all
//!   complete; stop returns soon after the last, within grace + 200 ms.
//! - Responses that outlive the grace time are cut off visibly: the
//!   connection closes without the chunked terminator.
//! - 1,000 connections trickling a request head do not hold up a normal
//!   client, and each is answered 408 and closed at the header deadline.

mod common;
use common::*;

use std::ffi::c_int;
use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests here measure time: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A deferred response handle that crosses threads (the API allows it).
struct Handle(*mut mr_resp);
// SAFETY: deferred handles may be used from any thread, one at a time.
unsafe impl Send for Handle {}

fn set_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write a valid rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
}

/// A server whose `/slow/{i}` defers its response into `parked`.
fn parking_server(parked: Arc<Mutex<Vec<(usize, Handle)>>>, max_conns: u32) -> Running {
    start_basic(move |srv| {
        assert_eq!(server_set_max_connections(srv, max_conns), MR_OK);
        let parked = parked.clone();
        on(srv, "GET", "/slow/{i}", move |req, resp| {
            let i: usize = param(req, "i").parse().unwrap();
            let d = resp_defer(resp);
            assert!(!d.is_null());
            parked.lock().unwrap().push((i, Handle(d)));
            MR_OK
        });
    })
}

fn param(req: *mut mr_req, name: &str) -> String {
    let p = req_param(req, cs(name).as_ptr());
    assert!(!p.is_null());
    // SAFETY: a non-NULL req_param result is a NUL-terminated string valid
    // during the handler.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `GET /slow/{i}` on `n` connections and waits (bounded) until
/// every one is parked as a deferred response.
fn park_requests(port: u16, n: usize, parked: &Mutex<Vec<(usize, Handle)>>) -> Vec<Client> {
    let clients = (0..n)
        .map(|i| {
            let mut c = Client::new(port);
            c.send(format!("GET /slow/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            c
        })
        .collect();
    wait_for(&format!("{n} requests in flight"), Duration::from_secs(10), || {
        parked.lock().unwrap().len() == n
    });
    clients
}

#[test]
fn stop_lets_250_in_flight_responses_finish() {
    let _g = serial();
    const N: usize = 250;
    set_nofile(4096);
    let parked: Arc<Mutex<Vec<(usize, Handle)>>> = Arc::default();
    let srv = parking_server(parked.clone(), 1000);
    let port = srv.port;
    let mut clients = park_requests(port, N, &parked);
    // Stop with 3 s of grace from another thread; finish the responses
    // 300 ms into it.
    let grace = Duration::from_millis(3000);
    let srv_ptr = SendPtr(srv.srv);
    let stopper = std::thread::spawn(move || {
        let srv_ptr = srv_ptr;
        let t = Instant::now();
        assert_eq!(server_stop(srv_ptr.0, grace.as_millis() as u32), MR_OK);
        (t, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(300));
    // Stop has begun: no new connections.
    assert!(refused_soon(port), "still accepting after stop began");
    let finished_at = Instant::now();
    for (i, h) in parked.lock().unwrap().drain(..) {
        assert_eq!(resp_set_text(h.0, cs(&format!("done {i}")).as_ptr()), MR_OK);
        assert_eq!(resp_finish(h.0), MR_OK);
    }
    let mut lost = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        match try_response(&mut c.s, &mut c.buf, false) {
            Some(r) if r.status == 200 && r.body == format!("done {i}").as_bytes() => {}
            other => lost.push((i, other.map(|r| r.status))),
        }
    }
    let (began, returned) = stopper.join().unwrap();
    assert!(lost.is_empty(), "{} of {N} responses lost: {lost:?}", lost.len());
    let took = returned - began;
    assert!(took <= grace + Duration::from_millis(200), "stop took {took:?}");
    assert!(
        returned >= finished_at,
        "stop returned before the responses were finished"
    );
    // Every connection is closed after its response.
    for c in &mut clients {
        assert!(c.closed_within(Duration::from_secs(2)));
    }
}

#[test]
fn responses_outliving_the_grace_are_cut_off_visibly() {
    let _g = serial();
    const N: usize = 20;
    let parked: Arc<Mutex<Vec<(usize, Handle)>>> = Arc::default();
    let srv = parking_server(parked.clone(), 1000);
    let port = srv.port;
    let mut clients = park_requests(port, N, &parked);
    // Half have begun a chunked body; the other half sent nothing yet.
    for (i, h) in parked.lock().unwrap().iter() {
        if i % 2 == 0 {
            assert_eq!(resp_send(h.0, b"partial".as_ptr().cast(), 7), MR_OK);
        }
    }
    let grace = Duration::from_millis(500);
    let srv_ptr = srv.srv;
    let t = Instant::now();
    assert_eq!(server_stop(srv_ptr, grace.as_millis() as u32), MR_OK);
    let took = t.elapsed();
    assert!(took >= grace - Duration::from_millis(50), "stop did not wait: {took:?}");
    assert!(took <= grace + Duration::from_millis(200), "stop took {took:?}");
    for (i, c) in clients.iter_mut().enumerate() {
        let raw = read_until_eof(&mut c.s, Duration::from_secs(2)).expect("closed");
        let text = String::from_utf8_lossy(&raw);
        if i % 2 == 0 {
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
            assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text:?}");
            assert!(
                text.ends_with("7\r\npartial\r\n"),
                "cut off, without the last chunk: {text:?}"
            );
        } else {
            assert_eq!(text, "", "closed without a response");
        }
    }
    // The handles outlived the server's run: calls on them say so, and
    // finishing frees them.
    for (_, h) in parked.lock().unwrap().drain(..) {
        assert_eq!(resp_send(h.0, b"x".as_ptr().cast(), 1), MR_ECLOSED);
        let rc: c_int = resp_finish(h.0);
        assert!(rc == MR_ECLOSED || rc == MR_OK, "{rc}");
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut mr_server);
// SAFETY: server functions may be called from any thread.
unsafe impl Send for SendPtr {}

fn refused_soon(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Err(_) => return true,
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                let mut b = [0u8; 1];
                if matches!(s.read(&mut b), Ok(0)) {
                    return true;
                }
            }
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99).div_ceil(100) - 1]
}

/// `n` requests, each on a new connection; their latencies.
fn latencies(port: u16, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let r = roundtrip(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            assert_eq!(r.status, 200);
            t.elapsed()
        })
        .collect()
}

#[test]
fn a_thousand_slowloris_connections() {
    let _g = serial();
    const N: usize = 1000;
    set_nofile(4096);
    let header_timeout = Duration::from_millis(5000);
    let srv = start_basic(|srv| {
        assert_eq!(server_set_max_connections(srv, 2000), MR_OK);
        assert_eq!(server_set_timeouts(srv, 5000, 10_000, 10_000), MR_OK);
    });
    let port = srv.port;
    // Warm up, then the baseline.
    latencies(port, 20);
    let base = p99(latencies(port, 200));

    let mut lorises: Vec<(TcpStream, Instant)> = Vec::with_capacity(N);
    for _ in 0..N {
        let mut s = connect(port);
        send(&mut s, b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
        lorises.push((s, Instant::now()));
    }
    let opened = Instant::now();
    // Each connection trickles one byte every 100 ms, spread evenly (a
    // tenth of them every 10 ms), while a normal client runs.
    let stop = Arc::new(AtomicUsize::new(0));
    let stop2 = stop.clone();
    let trickler = std::thread::spawn(move || {
        let mut ticks = 0;
        while stop2.load(Ordering::Acquire) == 0 && ticks < 1000 {
            let tenth = N / 10;
            let k = ticks % 10;
            for (s, _) in &mut lorises[k * tenth..(k + 1) * tenth] {
                let _ = std::io::Write::write(s, b"a");
            }
            ticks += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        lorises
    });
    // The machine is shared: noise comes and goes, a server that makes
    // normal clients wait behind slow ones does not. Up to three rounds.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        rounds.push(p99(latencies(port, 200)));
        if *rounds.last().unwrap() <= base + Duration::from_millis(20) {
            break;
        }
    }
    let loaded = *rounds.iter().min().unwrap();
    stop.store(1, Ordering::Release);
    let lorises = trickler.join().unwrap();
    assert!(
        opened.elapsed() < header_timeout,
        "the measurement overran the header deadline; the machine is too slow for this test"
    );
    eprintln!("p99 of a normal client: {base:?} alone, {rounds:?} beside {N} slowloris connections");
    assert!(
        loaded <= base + Duration::from_millis(20),
        "p99 {loaded:?} with {N} slowloris connections, {base:?} without"
    );
    // Each is answered 408 and closed at its deadline (total from its
    // first byte, however it trickles), not long after.
    let mut late = 0;
    for (mut s, first_byte) in lorises {
        let raw = read_until_eof(&mut s, Duration::from_secs(8)).unwrap_or_default();
        let closed_at = Instant::now();
        assert!(
            raw.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
            "{:?}",
            String::from_utf8_lossy(&raw)
        );
        if closed_at > first_byte + header_timeout + Duration::from_secs(1) {
            late += 1;
        }
        assert!(closed_at >= first_byte + header_timeout - Duration::from_millis(50));
    }
    assert_eq!(
        late, 0,
        "{late} slowloris connections outlived their deadline by over 1 s"
    );
    assert_eq!(
        roundtrip(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200,
        "still healthy"
    );
}

//! Server lifecycle through the C API: creation, configuration, binding,
//! start/run/stop (from other threads and from handlers), restart, graceful
//! stop, workers, logging, limits and timeouts, and descriptor leaks.
//!
//! Every test takes the `serial()` lock: the fd-leak test counts the
//! process's descriptors, which other tests running at the same time would
//! disturb.
mod common;
use common::*;

use std::ffi::{c_int, c_void, CStr};
use std::net::TcpStream;
use std::ptr::{null, null_mut};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

// ---- helpers local to this file ------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn reply(resp: *mut mr_resp, s: &str) -> c_int {
    resp_set_text(resp, cs(s).as_ptr())
}

/// A server handle that may cross threads (the API allows it).
#[derive(Clone, Copy)]
struct Srv(*mut mr_server);
// SAFETY: mr_server functions may be called from any thread.
unsafe impl Send for Srv {}
unsafe impl Sync for Srv {}

/// A new server on 127.0.0.1:0 with `GET /` → "ok"; not started.
fn new_server() -> *mut mr_server {
    let srv = server_new();
    assert!(!srv.is_null());
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    route(srv, "GET", "/", h_ok, null_mut());
    srv
}

fn get_ok(port: u16) -> Resp {
    roundtrip(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
}

/// Polls `server_port` until the server (started by another thread) has
/// bound, for at most 5 s.
fn wait_port(srv: *mut mr_server) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let p = server_port(srv, 0);
        if p > 0 {
            return p as u16;
        }
        assert!(Instant::now() < deadline, "server never bound: {p}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True once connecting to the port is refused (polled for up to 5 s).
fn refused_soon(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            _ if Instant::now() > deadline => return false,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

// ---- create, listen, start -----------------------------------------------------

#[test]
fn new_and_free() {
    let _g = serial();
    let srv = server_new();
    assert!(!srv.is_null());
    server_free(srv);
    server_free(null_mut());
    // Freeing a running server stops it; a kept-alive client sees the close.
    let srv = new_server();
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let mut c = Client::new(port);
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    server_free(srv);
    assert!(c.closed_within(Duration::from_secs(5)));
    assert!(refused_soon(port));
}

#[test]
fn listen_refuses_what_is_not_an_address() {
    let _g = serial();
    let srv = server_new();
    for bad in [
        "",
        "abc",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:99999",
        "127.0.0.1:-1",
        "127.0.0.1:http",
        "[::1]",
        "::1:80x",
        "localhost",
        "256.1.1.1",
    ] {
        assert_eq!(server_listen(srv, cs(bad).as_ptr()), MR_EINVAL, "{bad:?}");
        assert!(!last_error().is_empty());
    }
    assert_eq!(server_listen(srv, null()), MR_EINVAL);
    // Nothing was added: starting still says "no address".
    assert_eq!(server_start(srv), MR_ESTATE);
    for good in ["127.0.0.1:0", "[::1]:0", "0.0.0.0:0", "[::]:0", "localhost:0"] {
        assert_eq!(
            server_listen(srv, cs(good).as_ptr()),
            MR_OK,
            "{good:?}: {}",
            last_error()
        );
    }
    server_free(srv);
}

#[test]
fn start_without_listen_is_a_state_error() {
    let _g = serial();
    let srv = server_new();
    route(srv, "GET", "/", h_ok, null_mut());
    assert_eq!(server_start(srv), MR_ESTATE);
    assert!(last_error().contains("listen"), "{}", last_error());
    assert_eq!(server_run(srv), MR_ESTATE, "run starts first, with the same error");
    server_free(srv);
}

#[test]
fn busy_port_fails_at_once_with_eaddr() {
    let _g = serial();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let srv = server_new();
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(server_listen(srv, cs(&addr).as_ptr()), MR_OK);
    let t = Instant::now();
    assert_eq!(server_start(srv), MR_EADDR);
    assert!(t.elapsed() < Duration::from_secs(2), "at once: {:?}", t.elapsed());
    assert!(last_error().contains(&addr), "names the address: {}", last_error());
    // The server did not start: it is still configurable, and has no port.
    assert_eq!(server_set_workers(srv, 2), MR_OK);
    assert_eq!(server_port(srv, 0), MR_ESTATE);
    server_free(srv);

    // The same when the busy address is the second listener.
    let srv = server_new();
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    assert_eq!(server_listen(srv, cs(&addr).as_ptr()), MR_OK);
    assert_eq!(server_start(srv), MR_EADDR);
    assert!(last_error().contains(&addr), "{}", last_error());
    server_free(srv);

    // A failed start releases the listeners it had already bound.
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let srv = server_new();
    assert_eq!(server_listen(srv, cs(&format!("127.0.0.1:{free}")).as_ptr()), MR_OK);
    assert_eq!(server_listen(srv, cs(&addr).as_ptr()), MR_OK);
    assert_eq!(server_start(srv), MR_EADDR);
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", free)).is_ok(),
        "the first address is free again after the failed start"
    );
    server_free(srv);
    drop(taken);
}

#[test]
fn configuration_after_start_is_a_state_error() {
    let _g = serial();
    let srv = new_server();
    assert_eq!(server_start(srv), MR_OK);
    let s = MR_ESTATE;
    assert_eq!(server_start(srv), s, "already running");
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), s);
    assert_eq!(
        server_route(srv, c"GET".as_ptr(), c"/late".as_ptr(), Some(h_ok), null_mut()),
        s
    );
    assert_eq!(server_set_fallback(srv, Some(h_ok), null_mut()), s);
    assert_eq!(server_set_fallback(srv, None, null_mut()), s);
    assert_eq!(server_set_workers(srv, 2), s);
    assert_eq!(server_set_max_connections(srv, 10), s);
    assert_eq!(server_set_limits(srv, 4096, 4096), s);
    assert_eq!(server_set_max_headers(srv, 10), s);
    assert_eq!(server_set_timeouts(srv, 1000, 1000, 1000), s);
    assert_eq!(server_set_body_timeout(srv, 1000), s);
    assert_eq!(server_set_stack_size(srv, 65536), s);
    assert_eq!(server_set_max_connections_per_ip(srv, 4), s);
    assert_eq!(server_set_lru_purge(srv, 0), s);
    assert_eq!(server_set_log(srv, Some(log_collect), null_mut()), s);
    assert_eq!(server_set_log(srv, None, null_mut()), s);
    assert!(last_error().contains("running"), "{}", last_error());
    // None of it took effect.
    let port = server_port(srv, 0) as u16;
    assert_eq!(get_ok(port).status, 200);
    assert_eq!(roundtrip(port, b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n").status, 404);
    // Stopped, it is configurable again.
    assert_eq!(server_stop(srv, 1000), MR_OK);
    assert_eq!(server_set_workers(srv, 2), MR_OK);
    assert_eq!(server_set_max_connections(srv, 10), MR_OK);
    assert_eq!(
        server_route(srv, c"GET".as_ptr(), c"/late".as_ptr(), Some(h_ok), null_mut()),
        MR_OK
    );
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    assert_eq!(roundtrip(port, b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    server_free(srv);
}

#[test]
fn invalid_configuration_values() {
    let _g = serial();
    let srv = server_new();
    let e = MR_EINVAL;
    assert_eq!(server_set_timeouts(srv, 0, 1000, 1000), e);
    assert_eq!(server_set_timeouts(srv, 1000, 0, 1000), e);
    assert_eq!(server_set_timeouts(srv, 1000, 1000, 0), e);
    assert_eq!(server_set_body_timeout(srv, 0), e);
    assert_eq!(server_set_max_connections(srv, 0), e);
    assert_eq!(server_set_limits(srv, 255, 1024), e);
    assert_eq!(server_set_limits(srv, 0, 1024), e);
    assert_eq!(server_set_limits(srv, 1024 * 1024 + 1, 1024), e);
    assert_eq!(server_set_max_headers(srv, 0), e);
    assert_eq!(server_set_max_headers(srv, 1025), e);
    assert_eq!(server_set_workers(srv, 1025), e);
    assert_eq!(server_set_stack_size(srv, 8191), e);
    assert_eq!(server_set_stack_size(srv, 1), e);
    assert!(!last_error().is_empty());
    // The edges that are allowed.
    assert_eq!(server_set_timeouts(srv, 1, 1, 1), MR_OK);
    assert_eq!(server_set_body_timeout(srv, 1), MR_OK);
    assert_eq!(server_set_max_connections(srv, 1), MR_OK);
    assert_eq!(server_set_limits(srv, 256, 0), MR_OK);
    assert_eq!(server_set_limits(srv, 1024 * 1024, usize::MAX), MR_OK);
    assert_eq!(server_set_max_headers(srv, 1), MR_OK);
    assert_eq!(server_set_max_headers(srv, 1024), MR_OK);
    assert_eq!(server_set_workers(srv, 0), MR_OK);
    assert_eq!(server_set_workers(srv, 1024), MR_OK);
    assert_eq!(server_set_stack_size(srv, 8192), MR_OK);
    assert_eq!(server_set_stack_size(srv, 0), MR_OK);
    server_free(srv);
}

/// Answers with the size of the stack the handler runs on.
extern "C" fn h_stack(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    let mut size = 0usize;
    // SAFETY: a zeroed pthread_attr_t is filled by pthread_getattr_np for
    // the calling thread and destroyed after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            libc::pthread_attr_getstacksize(&attr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
        }
    }
    reply(resp, &size.to_string())
}

/// Where connections stay on the worker that took them (the epoll back
/// end), each new one goes to the worker with the fewest: 8 keep-alive
/// connections on 4 workers are 2 on each, whichever worker the kernel
/// woke to accept them. (Left to the kernel, they piled up on one, and
/// slow handlers then ran one after another.) With the shared executor
/// any worker serves any connection, so there is nothing to count.
#[test]
fn new_connections_go_to_the_least_loaded_worker() {
    let _g = serial();
    let srv = start(|srv| {
        assert_eq!(server_set_workers(srv, 4), MR_OK);
        on(srv, "GET", "/who", |_req, resp| {
            let me = std::thread::current().name().unwrap_or("?").to_string();
            resp_set_text(resp, cs(&me).as_ptr())
        });
    });
    let mut clients: Vec<Client> = (0..8).map(|_| Client::new(srv.port)).collect();
    let mut who = |c: &mut Client| {
        let r = c.roundtrip(b"GET /who HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 200);
        let name = String::from_utf8_lossy(&r.body).to_string();
        assert!(name.starts_with("microroute-"), "served by a worker thread: {name}");
        name
    };
    let first: Vec<String> = clients.iter_mut().map(&mut who).collect();
    let mut per_worker = std::collections::BTreeMap::<&str, usize>::new();
    for name in &first {
        *per_worker.entry(name).or_default() += 1;
    }
    if cfg!(mr_epoll) {
        let counts: Vec<usize> = per_worker.values().copied().collect();
        assert_eq!(counts, [2, 2, 2, 2], "connections per worker: {per_worker:?}");
        // Each connection stays where it was placed.
        let again: Vec<String> = clients.iter_mut().map(&mut who).collect();
        assert_eq!(again, first);
    }
}

#[test]
fn stack_size_applies_to_the_workers() {
    let _g = serial();
    // glibc may hand a thread a cached stack up to 4× the size asked for;
    // the default would be 8 MiB.
    for set in [512 * 1024, 1536 * 1024] {
        let (lo, hi) = (set, 4 * set);
        let srv = server_new();
        assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
        route(srv, "GET", "/stack", h_stack, null_mut());
        assert_eq!(server_set_workers(srv, 2), MR_OK);
        assert_eq!(server_set_stack_size(srv, set), MR_OK);
        assert_eq!(server_start(srv), MR_OK);
        let port = server_port(srv, 0) as u16;
        let r = roundtrip(port, b"GET /stack HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 200);
        let got: usize = String::from_utf8_lossy(&r.body).parse().expect("a number");
        assert!((lo..=hi).contains(&got), "asked for {set}, got a {got}-byte stack");
        assert_eq!(server_stop(srv, 1000), MR_OK);
        server_free(srv);
    }
}

#[test]
fn server_port_states() {
    let _g = serial();
    let srv = new_server();
    assert_eq!(server_port(srv, 0), MR_ESTATE, "before start");
    assert_eq!(server_start(srv), MR_OK);
    let p = server_port(srv, 0);
    assert!((1..=65535).contains(&p), "{p}");
    assert_eq!(server_port(srv, 1), MR_EINVAL, "no second listener");
    assert_eq!(server_port(srv, usize::MAX), MR_EINVAL);
    assert_eq!(server_port(null(), 0), MR_EINVAL);
    server_free(srv);
}

// ---- addresses ------------------------------------------------------------------

fn remote_route(srv: *mut mr_server) {
    on(srv, "GET", "/remote", |req, resp| {
        reply(resp, &from_c(req_remote_addr(req)).unwrap_or_default())
    });
}

fn get_remote(addr: std::net::SocketAddr) -> String {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut c = Client { s, buf: Vec::new() };
    let r = c.roundtrip(b"GET /remote HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn ipv6_loopback() {
    let _g = serial();
    if !ipv6_available() {
        eprintln!("SKIPPED ipv6_loopback: ::1 is not available on this machine");
        return;
    }
    let srv = server_new();
    assert_eq!(server_listen(srv, c"[::1]:0".as_ptr()), MR_OK);
    remote_route(srv);
    assert_eq!(server_start(srv), MR_OK, "{}", last_error());
    let port = server_port(srv, 0) as u16;
    let remote = get_remote((std::net::Ipv6Addr::LOCALHOST, port).into());
    assert!(remote.starts_with("[::1]:"), "{remote}");
    // IPv6-only: nothing on 127.0.0.1 at that port from us.
    server_free(srv);
}

#[test]
fn two_listeners_both_serve() {
    let _g = serial();
    // Two IPv4 ports.
    let srv = server_new();
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    remote_route(srv);
    assert_eq!(server_start(srv), MR_OK);
    let (p0, p1) = (server_port(srv, 0) as u16, server_port(srv, 1) as u16);
    assert_ne!(p0, p1);
    assert_eq!(server_port(srv, 2), MR_EINVAL);
    for p in [p0, p1] {
        assert!(get_remote(([127, 0, 0, 1], p).into()).starts_with("127.0.0.1:"));
    }
    server_free(srv);

    // IPv4 + IPv6.
    if !ipv6_available() {
        eprintln!("SKIPPED the IPv6 half of two_listeners_both_serve: ::1 is not available");
        return;
    }
    let srv = server_new();
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    assert_eq!(server_listen(srv, c"[::1]:0".as_ptr()), MR_OK);
    remote_route(srv);
    assert_eq!(server_start(srv), MR_OK, "{}", last_error());
    let (p4, p6) = (server_port(srv, 0) as u16, server_port(srv, 1) as u16);
    assert!(get_remote(([127, 0, 0, 1], p4).into()).starts_with("127.0.0.1:"));
    assert!(get_remote((std::net::Ipv6Addr::LOCALHOST, p6).into()).starts_with("[::1]:"));
    server_free(srv);
}

#[test]
fn localhost_address() {
    let _g = serial();
    let srv = server_new();
    assert_eq!(server_listen(srv, c"localhost:0".as_ptr()), MR_OK);
    route(srv, "GET", "/", h_ok, null_mut());
    assert_eq!(server_start(srv), MR_OK, "{}", last_error());
    let port = server_port(srv, 0) as u16;
    // Whatever localhost resolved to, connecting by name reaches it.
    let s = TcpStream::connect(("localhost", port)).expect("connect localhost");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut c = Client { s, buf: Vec::new() };
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.body, b"ok");
    server_free(srv);
}

// ---- run and stop ------------------------------------------------------------------

#[test]
fn run_in_a_thread_and_stop_from_another() {
    let _g = serial();
    let srv = Srv(new_server());
    let (done_tx, done_rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let srv = srv;
        let rc = server_run(srv.0);
        done_tx.send(rc).ok();
    });
    let port = wait_port(srv.0);
    assert_eq!(get_ok(port).body, b"ok");
    assert!(done_rx.try_recv().is_err(), "run blocks while serving");
    assert_eq!(server_stop(srv.0, 1000), MR_OK);
    let rc = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server_run returned");
    assert_eq!(rc, MR_OK);
    runner.join().unwrap();
    assert!(refused_soon(port));
    server_free(srv.0);
}

#[test]
fn run_from_a_handler_is_a_state_error() {
    let _g = serial();
    let srv = new_server();
    let me = Srv(srv);
    on(srv, "GET", "/run", move |_, resp| {
        let me = me;
        reply(resp, &server_run(me.0).to_string())
    });
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let r = roundtrip(port, b"GET /run HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), MR_ESTATE.to_string());
    assert_eq!(get_ok(port).status, 200, "still serving");
    server_free(srv);
}

#[test]
fn stop_from_a_handler() {
    let _g = serial();
    let srv = new_server();
    let me = Srv(srv);
    on(srv, "GET", "/stop", move |_, resp| {
        let me = me;
        let t = Instant::now();
        let rc = server_stop(me.0, 2000);
        let ms = t.elapsed().as_millis();
        reply(resp, &format!("rc={rc} fast={}", ms < 1000))
    });
    let (done_tx, done_rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let me = me;
        done_tx.send(server_run(me.0)).ok();
    });
    let port = wait_port(srv);
    let mut c = Client::new(port);
    let r = c.roundtrip(b"GET /stop HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200, "the response is still delivered");
    assert_eq!(r.text(), "rc=0 fast=true");
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "the connection closes with the server"
    );
    let rc = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server_run returned after the stop");
    assert_eq!(rc, MR_OK);
    runner.join().unwrap();
    assert!(refused_soon(port));
    server_free(srv);
}

#[test]
fn stop_when_not_running_is_a_no_op() {
    let _g = serial();
    let srv = new_server();
    assert_eq!(server_stop(srv, 0), MR_OK, "never started");
    assert_eq!(server_stop(srv, 1000), MR_OK);
    assert_eq!(server_set_workers(srv, 1), MR_OK, "still configurable");
    assert_eq!(server_start(srv), MR_OK);
    assert_eq!(server_stop(srv, 1000), MR_OK);
    assert_eq!(server_stop(srv, 1000), MR_OK, "stopped twice");
    server_free(srv);
}

#[test]
fn restart_after_stop() {
    let _g = serial();
    let srv = new_server();
    for round in 0..3 {
        assert_eq!(server_start(srv), MR_OK, "round {round}: {}", last_error());
        let port = server_port(srv, 0) as u16;
        assert_eq!(get_ok(port).body, b"ok", "round {round}");
        assert_eq!(server_stop(srv, 1000), MR_OK);
        assert!(refused_soon(port), "round {round}: port closed after stop");
    }
    server_free(srv);
}

#[test]
fn graceful_stop_waits_for_the_response_in_flight() {
    let _g = serial();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let done_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let d2 = done_at.clone();
    let srv = new_server();
    on(srv, "GET", "/slow", move |_, resp| {
        started_tx.lock().unwrap().send(()).ok();
        std::thread::sleep(Duration::from_millis(300));
        let rc = reply(resp, "slow done");
        *d2.lock().unwrap() = Some(Instant::now());
        rc
    });
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let client = std::thread::spawn(move || {
        let mut c = Client::new(port);
        let r = c.roundtrip(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
        let closed = c.closed_within(Duration::from_secs(5));
        (r, closed)
    });
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("handler started");
    let t = Instant::now();
    assert_eq!(server_stop(srv, 10_000), MR_OK);
    let returned = Instant::now();
    let (r, closed) = client.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"slow done", "the in-flight response is complete");
    assert!(closed, "and the connection closes after it");
    let done = done_at.lock().unwrap().expect("handler finished");
    assert!(returned >= done, "stop returned after the handler finished");
    // The handler takes 300 ms: stop returns when its connection closes,
    // long before the grace ends.
    assert!(
        returned - t < Duration::from_secs(5),
        "stop waited for the grace, not for the last connection: {:?}",
        returned - t
    );
    assert!(refused_soon(port));
    server_free(srv);
}

#[test]
fn stop_with_a_short_grace_still_waits_for_a_running_handler() {
    let _g = serial();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let done_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let d2 = done_at.clone();
    let srv = new_server();
    on(srv, "GET", "/slow", move |_, resp| {
        started_tx.lock().unwrap().send(()).ok();
        std::thread::sleep(Duration::from_millis(300));
        *d2.lock().unwrap() = Some(Instant::now());
        reply(resp, "slow done")
    });
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let client = std::thread::spawn(move || {
        let mut s = connect(port);
        send(&mut s, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
        read_to_end(&mut s)
    });
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("handler started");
    assert_eq!(server_stop(srv, 10), MR_OK);
    let returned = Instant::now();
    let done = done_at.lock().unwrap().expect("the handler was not interrupted");
    assert!(returned >= done, "the stop completes when the handler returns");
    client.join().unwrap();
    server_free(srv);
}

#[test]
fn stop_closes_idle_keep_alive_connections() {
    let _g = serial();
    for grace in [0u32, 5000] {
        let srv = new_server();
        assert_eq!(server_start(srv), MR_OK);
        let port = server_port(srv, 0) as u16;
        let mut c = Client::new(port);
        let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 200);
        assert!(r.header("Connection").is_none(), "kept alive");
        let t = Instant::now();
        assert_eq!(server_stop(srv, grace), MR_OK);
        // Idle connections do not hold the stop for the grace period.
        assert!(
            t.elapsed() < Duration::from_millis(2500),
            "grace {grace}: {:?}",
            t.elapsed()
        );
        assert!(
            c.closed_within(Duration::from_secs(3)),
            "grace {grace}: idle connection closed"
        );
        match TcpStream::connect(("127.0.0.1", port)) {
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
            Ok(_) => panic!("grace {grace}: the port still accepts after stop"),
        }
        server_free(srv);
    }
}

// ---- workers ----------------------------------------------------------------------

#[test]
fn a_blocking_handler_holds_one_worker() {
    let _g = serial();
    // Two workers: another request is answered while one handler blocks.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let release_rx = Mutex::new(release_rx);
    let srv = new_server();
    assert_eq!(server_set_workers(srv, 2), MR_OK);
    on(srv, "GET", "/block", move |_, resp| {
        started_tx.lock().unwrap().send(()).ok();
        let released = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).is_ok();
        reply(resp, &format!("released={released}"))
    });
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let blocked = std::thread::spawn(move || roundtrip(port, b"GET /block HTTP/1.1\r\nHost: t\r\n\r\n").text());
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("blocking handler started");
    let r = get_ok(port);
    assert_eq!(r.body, b"ok", "answered while the other worker is blocked");
    release_tx.send(()).unwrap();
    assert_eq!(blocked.join().unwrap(), "released=true");
    server_free(srv);

    // One worker: the second request waits for the blocking handler.
    let slow_done: Arc<Mutex<Option<Instant>>> = Arc::default();
    let d2 = slow_done.clone();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let srv = new_server();
    assert_eq!(server_set_workers(srv, 1), MR_OK);
    on(srv, "GET", "/slow", move |_, resp| {
        started_tx.lock().unwrap().send(()).ok();
        std::thread::sleep(Duration::from_millis(500));
        *d2.lock().unwrap() = Some(Instant::now());
        reply(resp, "slow")
    });
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let slow = std::thread::spawn(move || roundtrip(port, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").text());
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("slow handler started");
    let r = get_ok(port);
    let answered = Instant::now();
    assert_eq!(r.body, b"ok");
    let done = slow_done.lock().unwrap().expect("slow handler finished");
    assert!(answered >= done, "with one worker the second answer waits");
    assert_eq!(slow.join().unwrap(), "slow");
    server_free(srv);
}

// ---- logging ------------------------------------------------------------------------

fn wait_lines(sink: &LogSink, pred: impl Fn(&[(c_int, String)]) -> bool) -> Vec<(c_int, String)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = sink.lines.lock().unwrap().clone();
        if pred(&lines) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks an access line: `ADDR "REQUEST LINE" STATUS BYTES N.NNNms`.
fn check_access(line: &str, addr: &str, request: &str, status: u16, bytes: usize) {
    let prefix = format!("{addr} \"{request}\" {status} {bytes} ");
    assert!(line.starts_with(&prefix), "{line:?} should start with {prefix:?}");
    let dur = &line[prefix.len()..];
    let ms = dur
        .strip_suffix("ms")
        .unwrap_or_else(|| panic!("duration in ms: {line:?}"));
    assert!(ms.parse::<f64>().is_ok_and(|v| v >= 0.0), "{line:?}");
}

#[test]
fn log_callback_gets_access_and_warning_lines() {
    let _g = serial();
    let srv = new_server();
    on(srv, "GET", "/stream", |_, resp| {
        resp_send_str(resp, c"abc".as_ptr());
        resp_send_str(resp, c"de".as_ptr())
    });
    let sink = collect_logs(srv);
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;

    let mut c = Client::new(port);
    let a1 = format!("127.0.0.1:{}", c.s.local_addr().unwrap().port());
    assert_eq!(c.roundtrip(b"GET /?q=1 HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    assert_eq!(c.roundtrip(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n").status, 404);
    drop(c);

    let mut bad = Client::new(port);
    let a2 = format!("127.0.0.1:{}", bad.s.local_addr().unwrap().port());
    let r = bad.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(r.status, 400);
    drop(bad);

    // Body bytes of a streamed answer; none for HEAD.
    let mut c = Client::new(port);
    let a3 = format!("127.0.0.1:{}", c.s.local_addr().unwrap().port());
    assert_eq!(c.roundtrip(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n").body, b"abcde");
    assert_eq!(c.roundtrip(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    drop(c);

    let lines = wait_lines(&sink, |l| l.iter().filter(|(lv, _)| *lv == MR_LOG_INFO).count() >= 5);
    let info: Vec<&String> = lines
        .iter()
        .filter(|(l, _)| *l == MR_LOG_INFO)
        .map(|(_, s)| s)
        .collect();
    let warn: Vec<&String> = lines
        .iter()
        .filter(|(l, _)| *l == MR_LOG_WARN)
        .map(|(_, s)| s)
        .collect();
    assert_eq!(info.len(), 5, "one access line per request: {lines:?}");
    check_access(info[3], &a3, "GET /stream HTTP/1.1", 200, 5);
    check_access(info[4], &a3, "HEAD / HTTP/1.1", 200, 0);
    check_access(info[0], &a1, "GET /?q=1 HTTP/1.1", 200, 2);
    check_access(info[1], &a1, "GET /missing HTTP/1.1", 404, 14);
    assert!(
        info[2].starts_with(&format!("{a2} ")) && info[2].contains(" 400 "),
        "{:?}",
        info[2]
    );
    assert_eq!(warn.len(), 1, "{lines:?}");
    assert!(warn[0].contains(&a2) && warn[0].contains("400"), "{:?}", warn[0]);
    assert!(lines
        .iter()
        .all(|(l, _)| [MR_LOG_ERROR, MR_LOG_WARN, MR_LOG_INFO].contains(l)));
    server_free(srv);
    drop(sink);

    // Logging off again: NULL callback.
    let srv = new_server();
    let sink = collect_logs(srv);
    assert_eq!(server_set_log(srv, None, null_mut()), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    assert_eq!(get_ok(server_port(srv, 0) as u16).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    assert!(sink.lines.lock().unwrap().is_empty());
    server_free(srv);
}

// ---- limits and timeouts -----------------------------------------------------------

#[test]
fn max_connections_answers_503() {
    let _g = serial();
    let srv = new_server();
    assert_eq!(server_set_max_connections(srv, 1), MR_OK);
    assert_eq!(server_set_lru_purge(srv, 0), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let mut first = Client::new(port);
    assert_eq!(first.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    // The first connection is still open (kept alive): the next is refused.
    let mut second = connect(port);
    send(&mut second, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&read_to_end(&mut second)),
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n"
    );
    drop(first);
    // Once the first goes away, connections are served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get_ok(port);
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never served again: {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server_free(srv);
}

#[test]
fn idle_and_header_timeouts() {
    let _g = serial();
    let srv = new_server();
    assert_eq!(server_set_timeouts(srv, 400, 300, 10_000), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    // A kept-alive connection that sends nothing more is closed.
    let mut c = Client::new(port);
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    let t = Instant::now();
    assert!(c.closed_within(Duration::from_secs(4)));
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "not before the idle timeout: {:?}",
        t.elapsed()
    );
    // A head that does not finish in time gets 408.
    let mut c = Client::new(port);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 408);
    assert_eq!(r.header("Connection"), Some("close"));
    server_free(srv);
}

#[test]
fn header_limit_is_enforced() {
    let _g = serial();
    let srv = new_server();
    assert_eq!(server_set_limits(srv, 256, 1024), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let big = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(300));
    assert_eq!(roundtrip(port, big.as_bytes()).status, 431);
    assert_eq!(get_ok(port).status, 200);
    server_free(srv);
}

// ---- descriptors -----------------------------------------------------------------

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn fd_cycle(srv: *mut mr_server) {
    assert_eq!(server_start(srv), MR_OK, "{}", last_error());
    let port = server_port(srv, 0) as u16;
    // One closed and one kept-alive connection in flight at stop time.
    assert_eq!(get_ok(port).status, 200);
    let mut c = Client::new(port);
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    assert_eq!(server_stop(srv, 1000), MR_OK);
    drop(c);
}

#[test]
fn start_stop_cycles_do_not_leak_descriptors() {
    let _g = serial();
    if count_fds() == 0 {
        eprintln!("SKIPPED start_stop_cycles_do_not_leak_descriptors: no /proc/self/fd");
        return;
    }
    // Warm up whatever the runtime creates once per process.
    let srv = new_server();
    fd_cycle(srv);
    server_free(srv);
    std::thread::sleep(Duration::from_millis(100));
    let before = count_fds();

    // 20 cycles on one server, 20 with a new server each time.
    let srv = new_server();
    for _ in 0..20 {
        fd_cycle(srv);
    }
    server_free(srv);
    for _ in 0..20 {
        let srv = new_server();
        fd_cycle(srv);
        server_free(srv);
    }
    // Closing is synchronous in stop; allow a moment for the client side.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut after = count_fds();
    while after > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        after = count_fds();
    }
    assert_eq!(after, before, "descriptors before {before}, after {after}");
}

#[test]
fn log_callback_gets_its_userdata() {
    // A plain C callback with its own userdata (not the common LogSink).
    let _g = serial();
    unsafe extern "C" fn check(ud: *mut c_void, _level: c_int, line: *const std::ffi::c_char) {
        // SAFETY: ud is the Mutex below; line is valid during the call.
        let m = unsafe { &*(ud as *const Mutex<Vec<String>>) };
        let s = unsafe { CStr::from_ptr(line) }.to_string_lossy().into_owned();
        m.lock().unwrap().push(s);
    }
    let lines: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
    let srv = new_server();
    assert_eq!(
        server_set_log(srv, Some(check), lines as *const _ as *mut c_void),
        MR_OK
    );
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    assert_eq!(get_ok(port).status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = lines.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("\"GET / HTTP/1.1\" 200 2 "), "{got:?}");
    server_free(srv);
}

#[test]
fn restart_on_a_fixed_port() {
    let _g = serial();
    // A port that was free a moment ago.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let srv = server_new();
    assert_eq!(server_listen(srv, cs(&format!("127.0.0.1:{port}")).as_ptr()), MR_OK);
    route(srv, "GET", "/", h_ok, null_mut());
    for round in 0..3 {
        assert_eq!(server_start(srv), MR_OK, "round {round}: {}", last_error());
        assert_eq!(server_port(srv, 0), c_int::from(port));
        // Leave the server side with closed connections (TIME_WAIT) before
        // the next bind.
        assert_eq!(get_ok(port).body, b"ok");
        let mut c = Client::new(port);
        assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
        assert_eq!(server_stop(srv, 1000), MR_OK);
        drop(c);
    }
    server_free(srv);
}

#[test]
fn run_after_start_blocks_until_stop() {
    let _g = serial();
    let srv = Srv(new_server());
    assert_eq!(server_start(srv.0), MR_OK);
    let port = server_port(srv.0, 0) as u16;
    let (done_tx, done_rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let srv = srv;
        done_tx.send(server_run(srv.0)).ok();
    });
    assert_eq!(get_ok(port).body, b"ok");
    assert!(
        done_rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "run on a started server blocks"
    );
    assert_eq!(server_stop(srv.0, 1000), MR_OK);
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)), Ok(MR_OK));
    runner.join().unwrap();
    server_free(srv.0);
}

#[test]
fn stop_from_two_threads_at_once() {
    let _g = serial();
    let srv = Srv(new_server());
    assert_eq!(server_start(srv.0), MR_OK);
    let port = server_port(srv.0, 0) as u16;
    assert_eq!(get_ok(port).status, 200);
    let stoppers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let srv = srv;
                server_stop(srv.0, 500)
            })
        })
        .collect();
    for s in stoppers {
        assert_eq!(s.join().unwrap(), MR_OK);
    }
    assert!(refused_soon(port));
    server_free(srv.0);
}

/// A response handle that may cross threads (a deferred handle may be used
/// from any thread, one at a time).
struct Deferred(*mut mr_resp);
// SAFETY: used from one thread at a time (the test's own).
unsafe impl Send for Deferred {}

/// `stop` stops accepting at once, also while it waits for a response in
/// flight: here a deferred one, which leaves the worker free, so the accept
/// loop itself must see the stop (not a worker that ends).
#[test]
fn stop_closes_the_port_while_a_deferred_response_is_in_flight() {
    let _g = serial();
    let (tx, rx) = mpsc::channel::<Deferred>();
    let tx = Mutex::new(tx);
    let srv = new_server();
    on(srv, "GET", "/later", move |_, resp| {
        let d = resp_defer(resp);
        assert!(!d.is_null());
        tx.lock().unwrap().send(Deferred(d)).unwrap();
        MR_OK
    });
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    let client = std::thread::spawn(move || {
        let mut c = Client::new(port);
        c.roundtrip(b"GET /later HTTP/1.1\r\nHost: t\r\n\r\n")
    });
    let d = rx.recv_timeout(Duration::from_secs(5)).expect("handler ran");
    let srv_addr = srv as usize;
    let stopper = std::thread::spawn(move || server_stop(srv_addr as *mut mr_server, 10_000));
    assert!(
        refused_soon(port),
        "the port still takes connections while the stop waits for the response"
    );
    assert!(!stopper.is_finished(), "the stop waits for the response in flight");
    assert_eq!(resp_set_text(d.0, c"late".as_ptr()), MR_OK);
    assert_eq!(resp_finish(d.0), MR_OK);
    let r = client.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "late"));
    assert_eq!(stopper.join().unwrap(), MR_OK);
    server_free(srv);
}

//! Heap allocations per request on the keep-alive hello path, counted by a
//! global allocator over the whole process (server threads and the
//! reactor included). The client side allocates nothing while counting:
//! fixed request bytes, a stack buffer for the response.

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

extern "C" fn hello(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_header(resp, c"Content-Type".as_ptr(), c"text/plain".as_ptr());
    resp_set_text(resp, c"hello".as_ptr())
}

/// Sends `req` and reads one response of a known length into `buf`.
fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut [u8], len: usize) {
    s.write_all(req).unwrap();
    let mut got = 0;
    while got < len {
        let n = s.read(&mut buf[got..len]).unwrap();
        assert!(n > 0, "closed");
        got += n;
    }
}

#[test]
fn keep_alive_hello_allocates_nothing_per_request() {
    let srv = start_basic(|s| {
        route(s, "GET", "/hello", hello, null_mut());
        assert_eq!(server_set_workers(s, 1), MR_OK);
    });
    let req: &[u8] = b"GET /hello HTTP/1.1\r\nHost: t\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n";
    let mut s = connect(srv.port);
    // Learn the response's length (the Date header is fixed-width).
    let mut c = Client {
        s: s.try_clone().unwrap(),
        buf: Vec::new(),
    };
    let r = c.roundtrip(req);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    let len = r.raw_head.len() + r.body.len();
    drop(c);
    let mut buf = [0u8; 1024];
    // Warm up: buffers grow to size, caches fill.
    for _ in 0..200 {
        exchange(&mut s, req, &mut buf, len);
    }
    const N: usize = 2000;
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..N {
        exchange(&mut s, req, &mut buf, len);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(buf.starts_with(b"HTTP/1.1 200 OK\r\n"));
    eprintln!("{allocs} allocations in {N} keep-alive requests");
    // A little slack for timers and the reactor's own bookkeeping, which
    // are not per request; anything per request would show as >= N.
    assert!(allocs < N / 20, "{allocs} allocations in {N} requests");
}
